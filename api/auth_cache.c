/* auth_cache.c — the review cache: a chained hash table under one mutex,
 * with insertion order kept on a list so the oldest entry is evicted first
 * when the table is full (expired entries are the oldest ones, as all share
 * one TTL, or a shorter one for negative answers, which only makes them go
 * sooner). Entries expire after ttl_s. */
#include "auth_cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
    struct entry *next;              /* bucket chain */
    struct entry *older, *newer;     /* age list */
    time_t expires;
    struct auth_answer answer;
    char key[];
};

struct auth_cache {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t n_buckets, count, max;
    struct entry *oldest, *newest;
    unsigned ttl_s;
};

/* Seconds are all a TTL needs: the coarse clock is read without the
 * timer, and every cached request reads it. */
static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

/* FNV-1a taken 8 bytes at a time, each step folding the high bits down
 * (the table indexes by the low ones): keys are 100 to 200 bytes, hashed
 * on every cached request. */
static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    size_t n = strlen(s);
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 1099511628211ull;
        h ^= h >> 29;
    }
    for (; n; s++, n--)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h ^ (h >> 32));
}

struct auth_cache *auth_cache_new(unsigned ttl_s, size_t max_entries)
{
    struct auth_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max = max_entries ? max_entries : 1;
    c->n_buckets = 64;
    while (c->n_buckets < c->max && c->n_buckets < (1u << 20))
        c->n_buckets <<= 1;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->ttl_s = ttl_s;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void unlink_entry(struct auth_cache *c, struct entry *e)
{
    struct entry **p = &c->buckets[hash(e->key) & (c->n_buckets - 1)];
    while (*p && *p != e)
        p = &(*p)->next;
    if (*p)
        *p = e->next;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->count--;
    free(e);
}

void auth_cache_free(struct auth_cache *c)
{
    if (!c)
        return;
    while (c->oldest)
        unlink_entry(c, c->oldest);
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
}

static struct entry *find(struct auth_cache *c, const char *key)
{
    for (struct entry *e = c->buckets[hash(key) & (c->n_buckets - 1)]; e; e = e->next) {
        if (!strcmp(e->key, key))
            return e;
    }
    return NULL;
}

int auth_cache_get(struct auth_cache *c, const char *key, struct auth_answer *out)
{
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key);
    if (e && e->expires > now_s()) {
        *out = e->answer;
        hit = 1;
    } else if (e) {
        unlink_entry(c, e);
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void auth_cache_put(struct auth_cache *c, const char *key, const struct auth_answer *a)
{
    auth_cache_put_for(c, key, a, c->ttl_s);
}

void auth_cache_put_for(struct auth_cache *c, const char *key, const struct auth_answer *a,
                        unsigned ttl_s)
{
    size_t len = strlen(key);
    struct entry *e = malloc(sizeof *e + len + 1);
    if (!e)
        return; /* a cache miss later is the only cost */
    memcpy(e->key, key, len + 1);
    e->answer = *a;
    e->expires = now_s() + (time_t)(ttl_s < c->ttl_s ? ttl_s : c->ttl_s);
    pthread_mutex_lock(&c->lock);
    struct entry *old = find(c, key);
    if (old)
        unlink_entry(c, old);
    /* Entries share one TTL, so the oldest is also the first to expire. */
    while (c->count >= c->max && c->oldest)
        unlink_entry(c, c->oldest);
    size_t b = hash(key) & (c->n_buckets - 1);
    e->next = c->buckets[b];
    c->buckets[b] = e;
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
    pthread_mutex_unlock(&c->lock);
}

void auth_cache_drop(struct auth_cache *c, const char *key)
{
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key);
    if (e)
        unlink_entry(c, e);
    pthread_mutex_unlock(&c->lock);
}
