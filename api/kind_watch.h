/* kind_watch.h — one list+watch loop of one kind, on a thread of its own,
 * shared by what keeps a picture of a kind's objects: the live service's
 * feed (live/feed.c: uids, deletions, status events) and the REST read
 * cache (read_cache.c).
 *
 * The loop lists every page (limit 500), then watches from the list's
 * resourceVersion with bookmarks, resuming from the last resourceVersion
 * seen; a 410 or an error other than a broken stream lists again. Errors
 * are logged and back off (0.5 s doubling to 30 s, jittered, never sooner
 * than Kubernetes' Retry-After). Every callback runs on the loop's thread. */
#ifndef AMBIENT_API_KIND_WATCH_H
#define AMBIENT_API_KIND_WATCH_H

#include <pthread.h>

#include <jansson.h>

#include "ambient/plugin.h"

#define KIND_WATCH_RV_MAX 64

struct kind_watch_ops {
    /* A list begins (the first, or after a 410 or an error): from here to
     * listed(), item() sees the whole kind. */
    void (*relisting)(void *ud);
    void (*item)(void *ud, const json_t *obj);
    /* The list is complete, at resourceVersion rv; it began at listed_at
     * (seconds since the epoch). */
    void (*listed)(void *ud, const char *rv, long long listed_at);
    /* A watch event: "ADDED", "MODIFIED", "DELETED" or "BOOKMARK"; rv is
     * obj's resourceVersion ("" when it has none). */
    void (*event)(void *ud, const char *type, const json_t *obj, const char *rv);
    /* Optional: the watch is up and idle (about twice a second). */
    void (*streaming)(void *ud);
    /* Optional: the list or the watch failed; what the subscriber holds may
     * be stale until the next listed() or streaming(). */
    void (*broken)(void *ud);
    /* Non-zero ends the loop (asked between calls and while idle). */
    int (*stop)(void *ud);
};

struct kind_watch {
    struct amb_ctx *ctx;              /* borrowed: the daemon's credentials */
    const struct amb_resource *res;   /* borrowed: the host's copy */
    const struct kind_watch_ops *ops;
    void *ud;
    const char *who;                  /* for log lines: "live", "read cache" */
    pthread_t thread;
    int started;
    char rv[KIND_WATCH_RV_MAX];       /* where to watch from */
};

/* Starts the loop over every namespace of res with ctx. AMB_EINTERNAL when
 * no thread can be made. */
int kind_watch_start(struct kind_watch *w, struct amb_ctx *ctx, const struct amb_resource *res,
                     const struct kind_watch_ops *ops, void *ud, const char *who);
/* Waits for the loop to end (ops->stop must say so by now; it is asked at
 * least twice a second). Idempotent. */
void kind_watch_join(struct kind_watch *w);

#endif
