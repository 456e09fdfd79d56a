/* kube-async-internal.h — Kubernetes requests driven by the libevent loop
 * (curl multi with libevent sockets and timers), for informers' lists and
 * long-lived watch streams. Every function here runs on the loop thread. */
#ifndef AMBD_KUBE_ASYNC_INTERNAL_H
#define AMBD_KUBE_ASYNC_INTERNAL_H

#include <event2/event.h>

#include "kube-internal.h"

struct ambd_kube_loop;
struct ambd_kube_call;

struct ambd_kube_call_handlers {
    /* Body bytes as they arrive, with the response's HTTP status. Return 0
     * to go on, non-zero to abort the transfer (on_done then reports
     * AMB_EINTERNAL). */
    int (*on_data)(void *ud, long http_status, const char *data, size_t len);
    /* Once, when the transfer ends: the HTTP status (0 if none arrived),
     * the answer's Retry-After (as ambd_kube_retry_after_of; -1 none) and
     * AMB_OK, or the transport error with its text. Not called after
     * ambd_kube_call_cancel. The call is freed after it returns. */
    void (*on_done)(void *ud, long http_status, long retry_after, int rc, const char *error);
};

struct ambd_kube_loop *ambd_kube_loop_new(struct ambd_kube *k, struct event_base *base);
/* Cancels every call still running. */
void ambd_kube_loop_free(struct ambd_kube_loop *l);

/* Starts req; timeout_ms bounds the whole transfer (0 = none). NULL on
 * failure. req's strings are copied. */
struct ambd_kube_call *ambd_kube_call_start(struct ambd_kube_loop *l,
                                            const struct ambd_kube_request *req, long timeout_ms,
                                            const struct ambd_kube_call_handlers *h, void *ud);
/* Stops a call; its handlers are not called again. Safe from inside its own
 * on_data (the transfer is then aborted on return). */
void ambd_kube_call_cancel(struct ambd_kube_call *c);

#endif
