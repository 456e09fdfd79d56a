/* strmap-internal.h — a hash map from strings (copied) to pointers, with
 * open addressing. Not thread-safe: callers lock. */
#ifndef AMBD_STRMAP_INTERNAL_H
#define AMBD_STRMAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct ambd_strmap_slot {
    char *key; /* NULL: empty; AMBD_STRMAP_TOMB: deleted */
    void *value;
    uint64_t hash; /* the key's */
};

struct ambd_strmap {
    struct ambd_strmap_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t n;    /* live entries */
    size_t used; /* live + tombstones */
};

void ambd_strmap_init(struct ambd_strmap *m);
/* Frees every key, and every value with free_value when not NULL. */
void ambd_strmap_clear(struct ambd_strmap *m, void (*free_value)(void *));
void *ambd_strmap_get(const struct ambd_strmap *m, const char *key);
/* Inserts or replaces; *old (if old is not NULL) gets the replaced value or
 * NULL. Returns 0, or AMB_ENOMEM leaving the map unchanged. */
int ambd_strmap_put(struct ambd_strmap *m, const char *key, void *value, void **old);
/* Removes key; returns its value, or NULL if absent. */
void *ambd_strmap_remove(struct ambd_strmap *m, const char *key);
/* Iterates: start with *pos = 0; returns 1 and fills key/value while
 * entries remain. The map must not change during the iteration, except by
 * ambd_strmap_remove of the entry just returned. */
int ambd_strmap_next(const struct ambd_strmap *m, size_t *pos, const char **key, void **value);

#endif
