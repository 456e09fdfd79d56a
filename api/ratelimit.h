/* ratelimit.h — a token bucket per caller, so one client's flood is its own
 * 429 and not everyone's slow API server. Callers are keys (a hash of the
 * token, or the peer address); the table is fixed-size and forgets the
 * least recently seen caller of a set when a new one arrives. Thread-safe. */
#ifndef AMBIENT_API_RATELIMIT_H
#define AMBIENT_API_RATELIMIT_H

#include <stddef.h>

struct ratelimit;

/* rate: requests per second refilled; burst: the bucket's size. NULL when
 * rate is 0 (no limit) or on allocation failure. */
struct ratelimit *ratelimit_new(double rate, double burst, size_t max_callers);
void ratelimit_free(struct ratelimit *rl);
/* Takes one request from key's bucket at time now (seconds, monotonic).
 * 1 if allowed; 0 if not, with *retry_after_s the whole seconds until a
 * request would be (at least 1). */
int ratelimit_take(struct ratelimit *rl, const char *key, double now, unsigned *retry_after_s);
/* The same answer, without taking the request. */
int ratelimit_peek(struct ratelimit *rl, const char *key, double now, unsigned *retry_after_s);

#endif
