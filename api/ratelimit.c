/* ratelimit.c — per-caller token buckets in a set-associative table: a key
 * hashes to a set of WAYS slots; a new key takes a free slot or the one seen
 * longest ago (its caller starts again with a full bucket, which only ever
 * errs towards letting requests through). */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 4
#define KEY_MAX 72

struct slot {
    char key[KEY_MAX]; /* "" when free */
    double tokens;
    double last; /* when tokens was computed */
};

struct ratelimit {
    pthread_mutex_t lock;
    double rate, burst;
    size_t n_sets;
    struct slot *slots; /* n_sets * WAYS */
};

struct ratelimit *ratelimit_new(double rate, double burst, size_t max_callers)
{
    if (rate <= 0)
        return NULL;
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    rl->n_sets = max_callers / WAYS ? max_callers / WAYS : 1;
    if (!(rl->slots = calloc(rl->n_sets * WAYS, sizeof *rl->slots))) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->slots);
    free(rl);
}

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* The key's slot in its set: its own, a free one, or the least recent. */
static struct slot *find(struct ratelimit *rl, const char *key, double now)
{
    struct slot *set = &rl->slots[(hash(key) % rl->n_sets) * WAYS];
    struct slot *victim = &set[0];
    for (int i = 0; i < WAYS; i++) {
        if (!strcmp(set[i].key, key))
            return &set[i];
        if (!set[i].key[0] || (victim->key[0] && set[i].last < victim->last))
            victim = &set[i];
    }
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->tokens = rl->burst;
    victim->last = now;
    return victim;
}

/* Refills key's bucket to now; takes a request from it when spend. */
static int draw(struct ratelimit *rl, const char *key, double now, int spend,
                unsigned *retry_after_s)
{
    pthread_mutex_lock(&rl->lock);
    struct slot *s = find(rl, key, now);
    if (now > s->last)
        s->tokens = fmin(rl->burst, s->tokens + (now - s->last) * rl->rate);
    s->last = now;
    int ok = s->tokens >= 1;
    if (ok && spend)
        s->tokens -= 1;
    else if (!ok && retry_after_s)
        *retry_after_s = (unsigned)ceil((1 - s->tokens) / rl->rate);
    pthread_mutex_unlock(&rl->lock);
    if (!ok && retry_after_s && *retry_after_s < 1)
        *retry_after_s = 1;
    return ok;
}

int ratelimit_take(struct ratelimit *rl, const char *key, double now, unsigned *retry_after_s)
{
    return draw(rl, key, now, 1, retry_after_s);
}

int ratelimit_peek(struct ratelimit *rl, const char *key, double now, unsigned *retry_after_s)
{
    return draw(rl, key, now, 0, retry_after_s);
}
