/* auth_cache.h — a bounded, thread-safe map from a key (built from the
 * SHA-256 of a token, never the token) to an access answer that expires. */
#ifndef AMBIENT_API_AUTH_CACHE_H
#define AMBIENT_API_AUTH_CACHE_H

#include <stddef.h>

struct auth_cache;

struct auth_answer {
    int allowed;      /* reviews: allowed; identities: 1 when known */
    char text[256];   /* reviews: the reason; identities: the user name */
};

struct auth_cache *auth_cache_new(unsigned ttl_s, size_t max_entries);
void auth_cache_free(struct auth_cache *c);
/* 1 and *out filled when key has a fresh answer, else 0. */
int auth_cache_get(struct auth_cache *c, const char *key, struct auth_answer *out);
/* Stores (or replaces) key's answer. When full, expired entries go first,
 * then the oldest. */
void auth_cache_put(struct auth_cache *c, const char *key, const struct auth_answer *a);
/* The same, kept ttl_s (at most the cache's TTL) instead. */
void auth_cache_put_for(struct auth_cache *c, const char *key, const struct auth_answer *a,
                        unsigned ttl_s);
/* Forgets key's answer, if any. */
void auth_cache_drop(struct auth_cache *c, const char *key);

#endif
