/* kube-store-internal.h — the Kubernetes API as an ambd_store. */
#ifndef AMBD_KUBE_STORE_INTERNAL_H
#define AMBD_KUBE_STORE_INTERNAL_H

#include "kube-async-internal.h"
#include "store-internal.h"

/* kube and loop are borrowed and must outlive the store. max_event_bytes
 * bounds one watch event (0: 16 MiB). */
int ambd_kube_store_new(struct ambd_kube *kube, struct ambd_kube_loop *loop,
                        size_t max_event_bytes, struct ambd_store *out);
void ambd_kube_store_free(struct ambd_store *store);

#endif
