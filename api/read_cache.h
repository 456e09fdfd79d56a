/* read_cache.h — GET and LIST of the generic kind routes served from the
 * api role's own watch of each kind (api.read_cache; README.md, "Reads
 * from the cache", says what a caller can count on).
 *
 * The routes ask the caller's access review first, exactly as before; only
 * then does the object come from here. Whenever the cache cannot answer
 * for sure (not listed yet, the watch broken, past its bounds, a write of
 * this replica it has not seen yet after a short wait, a label selector, a
 * continue token of the API server's), the route reads from the API server
 * as it always did. */
#ifndef AMBIENT_API_READ_CACHE_H
#define AMBIENT_API_READ_CACHE_H

#include "api.h"

struct read_cache;

/* Subscribes to the watch of every served kind (namespaced, from kind_at;
 * kind_watch.h, started after) when api.read_cache.enabled; *out NULL
 * otherwise. Main thread, from start. Free after the watches stopped. */
struct kind_watches;
int read_cache_start(const struct api_config *cfg, struct kind_watches *watches,
                     struct read_cache **out, struct amb_error *err);
void read_cache_free(struct read_cache *c);

/* ---- the generic routes' side (after the caller's access review) ---- */
/* 1 when r was answered from the cache (200 with the object's JSON);
 * 0 when the route must read the API server itself. */
int read_cache_reply_get(struct api_req *r, const struct amb_kind *k, const char *ns,
                         const char *name);
/* 1 when r was answered (a page {"items", "limit", "hasMore", "continue"?},
 * or 400/410 for a continue token of the cache's that is bad or can no
 * longer be served); 0 when the route must list from the API server (a
 * label selector, the API server's own continue token, a cache that cannot
 * answer). */
int read_cache_reply_list(struct api_req *r, const struct amb_kind *k, const char *ns,
                          long limit);
/* What this replica wrote or read of an object (the stored object or what
 * the API server answered): later reads from the cache wait until the cache
 * has caught up with it (up to READ_CACHE_WAIT_MS), else go to the API. */
void read_cache_saw(struct read_cache *c, const struct amb_kind *k, const json_t *obj);
/* The object ns/name, read at obj's resourceVersion, was deleted through
 * this replica: the cache must show it gone or changed before it serves it. */
void read_cache_deleted(struct read_cache *c, const struct amb_kind *k, const json_t *obj);
/* A plugin's route wrote something in project ns (what, we cannot see): for
 * READ_CACHE_BARRIER_MS every read there goes to the API server. */
void read_cache_barrier(struct read_cache *c, const char *ns);

#define READ_CACHE_WAIT_MS 1000
#define READ_CACHE_BARRIER_MS 2000

#endif
