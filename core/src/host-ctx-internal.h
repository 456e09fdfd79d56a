/* host-ctx-internal.h — the api-role members of the host table (ABI 1.3):
 * contexts for calls on a caller's behalf, kind enumeration, errors. */
#ifndef AMBD_HOST_CTX_INTERNAL_H
#define AMBD_HOST_CTX_INTERNAL_H

#include "ambient/plugin.h"
#include "kube-internal.h"

/* The client ctx_new's contexts use (NULL: ctx_new answers
 * AMB_EUNAVAILABLE). Main thread, before plugins start / after they stop. */
void ambd_host_ctx_set_kube(struct ambd_kube *k);
void ambd_host_ctx_fill(struct amb_host *h);
/* Forgets the route server (its plugin is being unloaded). */
void ambd_host_ctx_reset_routes(void);

#endif
