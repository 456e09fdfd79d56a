/* cache-internal.h — an informer's copy of one resource, keyed
 * "namespace/name" (or "name" for cluster-scoped objects). Objects are kept
 * as JSON text, not as jansson trees: the server's own text when the
 * informer has it (no serialising again), zstd-compressed when that is
 * smaller (objects of 256 bytes and more; a recent write may wait a while,
 * see ambd_cache_upsert_text), and without
 * metadata.managedFields, which nothing in Ambient reads and which is often
 * half of an object a real API server sends. Readers get a freshly parsed
 * copy, parsed on their own thread (a tree built by the loop thread and
 * freed by a worker cost more in malloc's cross-thread frees than the
 * parse it saved) from a reference to the entry's bytes, which are never
 * changed once made: the lock covers the lookup, not a copy.
 * Writes come from the loop thread, write-throughs and reads from any
 * thread. */
#ifndef AMBD_CACHE_INTERNAL_H
#define AMBD_CACHE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "strmap-internal.h"

struct ambd_cache {
    pthread_mutex_t lock; /* adaptive; held for lookups and inserts only */
    struct ambd_strmap map; /* key -> struct ambd_cache_entry * */
    size_t bytes;           /* bytes of (compressed) JSON held */
    pthread_mutex_t pack_lock; /* the packer: write-throughs come from workers */
    struct ZSTD_CCtx_s *packer; /* the writer's */
    /* Entries kept unpacked since their write, oldest first (cache.c). */
    struct ambd_cache_entry *hot_head, *hot_tail;
    size_t n_hot, hot_bytes;
    size_t hot_max_bytes; /* more are packed at once, oldest first; 0: none kept */
    /* Decompression contexts readers borrow (each is ~100 KiB to make). */
    pthread_mutex_t pool_lock;
    struct ZSTD_DCtx_s *pool[8];
    unsigned n_pool;
};

void ambd_cache_init(struct ambd_cache *c);
void ambd_cache_destroy(struct ambd_cache *c);

/* "ns/name" or "name" of obj (caller frees); NULL when it has no name. */
char *ambd_cache_key(const json_t *obj);
/* The same from parts: "ns/name", or "name" when ns is NULL or "". */
char *ambd_cache_key_of(const char *ns, const char *name);

/* Stores obj under its key, stamped with mark. Returns 1 if it is new, 0 if
 * it replaced another version, 2 if the stored one had the same
 * resourceVersion (nothing changed), or a negative AMB_E* code. A
 * metadata.managedFields is removed from obj first. */
int ambd_cache_upsert(struct ambd_cache *c, json_t *obj, unsigned mark);
/* The same, when text[0..len) is the object's own JSON text: that is
 * stored instead of serialising obj again, and obj only needs the members
 * the cache reads, metadata (a skim, object_skim-internal.h, will do).
 * With hot set the text is kept unpacked until ambd_cache_pack_cold finds
 * it old enough: a watch event's object is likely read soon by its
 * reconcile and changed again, and packing it on the event's path cost a
 * third of the loop thread's time in a backlog. */
int ambd_cache_upsert_text(struct ambd_cache *c, json_t *obj, const char *text, size_t len,
                           unsigned mark, int hot);
/* Packs the hot entries written more than age_ms ago; returns how many
 * hot entries are left. */
size_t ambd_cache_pack_cold(struct ambd_cache *c, uint64_t age_ms);
/* Read-your-writes: obj is what the API server answered a write of a
 * cached object with; it replaces the cached version at once (keeping its
 * mark), so reads see the write before the watch brings it. When the watch
 * then brings that version, its upsert still reports a change (0), so
 * event handlers see every version as before. An object not in the cache
 * is left to the watch. Returns 0, or a negative AMB_E* code. */
int ambd_cache_write_through(struct ambd_cache *c, json_t *obj);
/* Removes key; 1 if it was there, else 0. */
int ambd_cache_remove(struct ambd_cache *c, const char *key);
/* Removes every entry whose mark differs from mark, calling gone(ud, obj)
 * for each (obj borrowed for the call). */
void ambd_cache_sweep(struct ambd_cache *c, unsigned mark,
                      void (*gone)(void *ud, const json_t *obj), void *ud);

/* A parsed copy (new ref), or NULL. */
json_t *ambd_cache_get(struct ambd_cache *c, const char *key);
/* Objects in ns (NULL or "" for all) whose labels match selector ("a=b,c=d";
 * NULL for all), as a new array. */
json_t *ambd_cache_list(struct ambd_cache *c, const char *ns, const char *selector);
/* Calls fn with every key, under the lock: fn must not call into c. */
void ambd_cache_each_key(struct ambd_cache *c, void (*fn)(void *ud, const char *key), void *ud);
size_t ambd_cache_count(struct ambd_cache *c);
size_t ambd_cache_bytes(struct ambd_cache *c);

#endif
