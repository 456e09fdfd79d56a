/* read_cache_int.h — what read_cache.c (the cached objects, their watches,
 * bounds and freshness) and read_cache_reply.c (GET and LIST answers,
 * continue tokens) share. */
#ifndef AMBIENT_API_READ_CACHE_INT_H
#define AMBIENT_API_READ_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "kind_watch.h"
#include "read_cache.h"

/* An object's JSON as a GET answers it, serialized once per version and
 * shared by every reply that sends it (refs). */
struct rc_blob {
    atomic_int refs;
    size_t len;
    char data[];
};

void rc_blob_unref(struct rc_blob *b);

/* One cached object. key is "ns\0name\0". */
struct rc_entry {
    struct rc_blob *json;
    unsigned long long rv;
    const char *name; /* into key */
    char key[];
};

/* A write (or read) this replica made that the cache must show before it
 * answers for that object: rv reached (gone 0), or the object at version
 * rv gone or changed (gone 1). */
#define RC_MAX_NEEDS 256
struct rc_need {
    unsigned long long rv;
    int gone;
    char ns[64];
    char name[254];
};

struct rc_kind {
    struct read_cache *c;
    const struct amb_kind *kind;
    char api_version[256];
    pthread_mutex_t mu;
    pthread_cond_t moved;      /* the cache advanced, or stopped being usable */
    struct rc_entry **e;       /* sorted by (ns, name) */
    size_t n, cap, bytes;
    struct rc_entry **staged;  /* a list in progress */
    size_t n_staged, cap_staged, bytes_staged;
    unsigned long long rv;     /* how far the watch has come */
    int listed;                /* a list completed once */
    int synced;                /* listed and the watch up: the cache may answer */
    atomic_int over;           /* past the bounds: from the API for good */
    struct rc_need needs[RC_MAX_NEEDS];
    size_t n_needs;
    unsigned long long needs_overflow_rv; /* past RC_MAX_NEEDS: for every object */
};

#define RC_MAX_KINDS 64
#define RC_MAX_BARRIERS 64

struct rc_barrier {
    char ns[64];
    struct timespec until;
};

struct read_cache {
    size_t max_objects, max_bytes;
    pthread_mutex_t budget_mu; /* objects and bytes of every kind */
    size_t objects, bytes;
    pthread_mutex_t barrier_mu;
    atomic_int n_barriers;     /* 0: no read needs to look */
    struct rc_barrier barriers[RC_MAX_BARRIERS];
    struct rc_kind kinds[RC_MAX_KINDS];
    size_t n_kinds;
};

/* The kind's cache, or NULL when it is not cached. */
struct rc_kind *rc_kind_of(struct read_cache *c, const struct amb_kind *k);
/* Under k->mu: waits (up to READ_CACHE_WAIT_MS) until the cache may answer
 * for ns/name (name NULL: every object of ns) with what this replica wrote
 * or read there, and has come at least to resourceVersion at. 1 when it
 * may, 0 when the API server must. */
int rc_fresh_locked(struct rc_kind *k, const char *ns, const char *name, unsigned long long at);
/* 1 while a plugin's write in ns holds reads there to the API server. */
int rc_barred(struct read_cache *c, const char *ns);
/* Index of the first entry not below (ns, name) in k->e. */
size_t rc_lower_bound(const struct rc_kind *k, const char *ns, const char *name);
/* "123" as a number; 0 with *ok 0 when it is none. */
unsigned long long rc_parse_rv(const char *rv, int *ok);

#endif
