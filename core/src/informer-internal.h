/* informer-internal.h — keeps a cache of one resource in step with the API
 * server: list (paginated, one consistent snapshot) then watch from the
 * list's resourceVersion; bookmarks move the resourceVersion on; a dropped
 * stream resumes where it left off; a 410 relists and reports what changed
 * meanwhile (deletions too); errors back off with jitter. Runs on the loop
 * thread; handlers are called there. It talks to the API only through the
 * store interface. */
#ifndef AMBD_INFORMER_INTERNAL_H
#define AMBD_INFORMER_INTERNAL_H

#include <event2/event.h>

#include "cache-internal.h"
#include "store-internal.h"

enum ambd_event_type {
    AMBD_EVENT_ADDED,
    AMBD_EVENT_MODIFIED,
    AMBD_EVENT_DELETED,
};

struct ambd_informer_handlers {
    /* obj is borrowed for the call: the members options.keep names. */
    void (*on_event)(void *ud, enum ambd_event_type type, const json_t *obj);
    /* After the first complete list. */
    void (*on_synced)(void *ud);
};

struct ambd_informer_options {
    struct amb_resource resource;
    const char *label_selector; /* NULL for all objects */
    unsigned page_size;         /* 0 = 500 */
    unsigned watch_timeout_s;   /* 0 = random in [300, 600] as client-go */
    /* The members built for on_event besides apiVersion, kind and metadata
     * (object_skim-internal.h: "status", "spec.model"; NULL: all of them).
     * Handlers see only those; readers of the cache get whole objects. It
     * must outlive the informer. */
    const char *const *keep;
};

struct ambd_informer_stats {
    unsigned long lists;          /* complete lists (first sync and relists) */
    unsigned long watches;        /* watch requests started */
    unsigned long relists_gone;   /* relists caused by 410 */
    unsigned long errors;         /* failed requests and broken streams */
};

struct ambd_informer;

/* store is borrowed and must outlive the informer. */
struct ambd_informer *ambd_informer_new(const struct ambd_store *store, struct event_base *base,
                                        const struct ambd_informer_options *opts,
                                        const struct ambd_informer_handlers *h, void *ud);
void ambd_informer_start(struct ambd_informer *inf);
void ambd_informer_free(struct ambd_informer *inf);
int ambd_informer_synced(const struct ambd_informer *inf);
struct ambd_cache *ambd_informer_cache(struct ambd_informer *inf);
const struct amb_resource *ambd_informer_resource(const struct ambd_informer *inf);
struct ambd_informer_stats ambd_informer_stats(const struct ambd_informer *inf);

#endif
