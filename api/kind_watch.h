/* kind_watch.h — one list+watch loop per kind, on a thread of its own,
 * whose events go to every subscriber that keeps a picture of the kind's
 * objects: the live service's feed (live/feed.c: uids, deletions, status
 * events) and the REST read cache (read_cache.c). One stream per kind, so
 * a replica running both costs the API server no more than one.
 *
 * The loop lists every page (limit 500), then watches from the list's
 * resourceVersion with bookmarks, resuming from the last resourceVersion
 * seen; a 410 or an error other than a broken stream lists again. Errors
 * are logged and back off (0.5 s doubling to 30 s, jittered, never sooner
 * than Kubernetes' Retry-After). Every callback runs on the loop's thread. */
#ifndef AMBIENT_API_KIND_WATCH_H
#define AMBIENT_API_KIND_WATCH_H

#include <jansson.h>

#include "ambient/plugin.h"

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
};

struct kind_watches;

struct kind_watches *kind_watches_new(void);
/* Adds a subscriber to kind's loop (made on its first subscriber). Before
 * kind_watches_start only; main thread. AMB_ETOOLARGE past 64 kinds or 4
 * subscribers of one kind. */
int kind_watches_subscribe(struct kind_watches *ws, const struct amb_kind *kind,
                           const struct kind_watch_ops *ops, void *ud);
/* Starts one loop per subscribed kind over every namespace, with the
 * daemon's credentials. Without a Kubernetes API configured nothing runs
 * (logged): subscribers never see a list. */
int kind_watches_start(struct kind_watches *ws, struct amb_error *err);
/* Ends the loops (within about half a second) and waits for them: no
 * callback runs after it. Idempotent; NULL is fine. */
void kind_watches_stop(struct kind_watches *ws);
void kind_watches_free(struct kind_watches *ws);

#endif
