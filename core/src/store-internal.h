/* store-internal.h — the object store the controller works against: get,
 * list, watch, create, update, status, patch and delete of JSON objects.
 * Today the Kubernetes API implements it (kube_store.c); the embedded store
 * of laptop mode will implement the same table, and neither the informers,
 * the leader election nor the plugins' host calls need to change.
 *
 * Blocking operations may be called from any thread. The *_async ones are
 * driven by the event loop and called (and call back) on its thread. */
#ifndef AMBD_STORE_INTERNAL_H
#define AMBD_STORE_INTERNAL_H

#include <event2/event.h>
#include <jansson.h>

#include "ambient/plugin.h"
#include "json_parse-internal.h"

struct ambd_store_call; /* an asynchronous list or watch in progress */

enum ambd_watch_type {
    AMBD_WATCH_ADDED,
    AMBD_WATCH_MODIFIED,
    AMBD_WATCH_DELETED,
    AMBD_WATCH_BOOKMARK,
};

struct ambd_store_list_handlers {
    /* Each item of a page, before that page's on_page. Its text starts at
     * text[0] and ends within text[0..avail): the handler reads it (the
     * store does not parse it first, so each byte is read once), sets
     * *used to its length and returns 0; or returns -1 with *err filled
     * when it is not a valid object, and the page fails. Items of a page
     * that then fails have been delivered already. */
    int (*on_item)(void *ud, const char *text, size_t avail, size_t *used,
                   struct ambd_json_error *err);
    /* The page (borrowed) without its items: an object with "metadata"
     * (with resourceVersion and continue); or rc < 0 with http_status (0 if
     * the server never answered; 410: the continue token expired) and why. */
    void (*on_page)(void *ud, int rc, long http_status, json_t *page, const char *why);
    /* Optional; just before on_page reports a failure whose answer asked for
     * a wait (Retry-After on a 429 or 5xx): the seconds to wait before the
     * next request. */
    void (*on_retry_after)(void *ud, unsigned seconds);
    /* Optional; at most once per call, as soon as the answer's
     * metadata.continue has arrived (before its items): the token (borrowed)
     * for the next page, so it can be asked for while this one is read. */
    void (*on_continue)(void *ud, struct ambd_store_call *call, const char *token);
};

struct ambd_store_watch_handlers {
    /* One event: its object's text, read by the handler as on_item's.
     * Returns 0 to go on, 1 to stop, or -1 with *err filled when the
     * object is not valid (the stream ends with that error). */
    int (*on_event)(void *ud, enum ambd_watch_type type, const char *text, size_t avail,
                    size_t *used, struct ambd_json_error *err);
    /* The stream ended: rc AMB_OK when the server closed it normally,
     * AMB_EGONE when the resourceVersion is too old (relist), other codes
     * for errors. lived_ms is how long it ran. */
    void (*on_end)(void *ud, int rc, const char *why, long lived_ms);
    /* Optional; as the list handlers', just before on_end. */
    void (*on_retry_after)(void *ud, unsigned seconds);
};

struct ambd_store_ops {
    int (*get)(void *impl, const struct amb_resource *res, const char *ns, const char *name,
               json_t **out, struct amb_error *err);
    /* One page; query in Kubernetes' list syntax (labelSelector, limit,
     * continue). */
    int (*list)(void *impl, const struct amb_resource *res, const char *ns, const char *query,
                json_t **out, struct amb_error *err);
    int (*create)(void *impl, const struct amb_resource *res, const char *ns, const json_t *obj,
                  json_t **out, struct amb_error *err);
    /* subresource: NULL or "status". */
    int (*update)(void *impl, const struct amb_resource *res, const char *ns, const json_t *obj,
                  const char *subresource, json_t **out, struct amb_error *err);
    int (*patch)(void *impl, const struct amb_resource *res, const char *ns, const char *name,
                 const json_t *merge_patch, json_t **out, struct amb_error *err);
    int (*remove)(void *impl, const struct amb_resource *res, const char *ns, const char *name,
                  const char *propagation, struct amb_error *err);

    /* Loop thread. NULL when the call cannot start. With after (a list
     * call in progress, or NULL), this page's handlers run only once
     * after's have: pages are delivered in order however their transfers
     * end. Cancelling after cancels this one too. */
    struct ambd_store_call *(*list_async)(void *impl, const struct amb_resource *res,
                                          const char *query,
                                          const struct ambd_store_list_handlers *h, void *ud,
                                          struct ambd_store_call *after);
    struct ambd_store_call *(*watch_async)(void *impl, const struct amb_resource *res,
                                           const char *query, unsigned timeout_s,
                                           const struct ambd_store_watch_handlers *h, void *ud);
    /* Stops a call; its handlers are not called again. */
    void (*cancel)(void *impl, struct ambd_store_call *call);
};

struct ambd_store {
    const struct ambd_store_ops *ops;
    void *impl;
};

#endif
