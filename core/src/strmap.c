/* strmap.c — open-addressing string map with linear probing and
 * tombstones; grows at 70% load (see strmap-internal.h). */
#include "strmap-internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ambient/plugin.h"

static char tomb_marker;
#define TOMB (&tomb_marker)

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void ambd_strmap_init(struct ambd_strmap *m) { memset(m, 0, sizeof *m); }

void ambd_strmap_clear(struct ambd_strmap *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        struct ambd_strmap_slot *s = &m->slots[i];
        if (!s->key || s->key == TOMB)
            continue;
        if (free_value)
            free_value(s->value);
        free(s->key);
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* Slot holding key (whose hash is h), or NULL. Each slot keeps its key's
 * hash: a probe past another key compares two integers, not the strings
 * (a cache miss each). */
static struct ambd_strmap_slot *find(const struct ambd_strmap *m, const char *key, uint64_t h)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct ambd_strmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->hash == h && s->key != TOMB && strcmp(s->key, key) == 0)
            return s;
    }
}

void *ambd_strmap_get(const struct ambd_strmap *m, const char *key)
{
    struct ambd_strmap_slot *s = find(m, key, hash(key));
    return s ? s->value : NULL;
}

static int grow(struct ambd_strmap *m)
{
    size_t cap = m->cap ? m->cap : 16;
    /* Double when live entries fill over 35%; otherwise the table is full of
     * tombstones, and rehashing at the same size clears them. */
    if (m->cap == 0 || (m->n + 1) * 20 >= cap * 7)
        cap = m->cap ? cap * 2 : 16;
    struct ambd_strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return AMB_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        struct ambd_strmap_slot *s = &m->slots[i];
        if (!s->key || s->key == TOMB)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = m->n;
    return AMB_OK;
}

int ambd_strmap_put(struct ambd_strmap *m, const char *key, void *value, void **old)
{
    uint64_t h = hash(key);
    struct ambd_strmap_slot *s = find(m, key, h);
    if (s) {
        if (old)
            *old = s->value;
        s->value = value;
        return AMB_OK;
    }
    if ((m->used + 1) * 10 > m->cap * 7 && grow(m) != AMB_OK)
        return AMB_ENOMEM;
    char *copy = strdup(key);
    if (!copy)
        return AMB_ENOMEM;
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key)
        m->used++;
    m->slots[i].key = copy;
    m->slots[i].value = value;
    m->slots[i].hash = h;
    m->n++;
    if (old)
        *old = NULL;
    return AMB_OK;
}

void *ambd_strmap_remove(struct ambd_strmap *m, const char *key)
{
    struct ambd_strmap_slot *s = find(m, key, hash(key));
    if (!s)
        return NULL;
    void *value = s->value;
    free(s->key);
    s->key = TOMB;
    s->value = NULL;
    m->n--;
    return value;
}

int ambd_strmap_next(const struct ambd_strmap *m, size_t *pos, const char **key, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        struct ambd_strmap_slot *s = &m->slots[*pos];
        if (s->key && s->key != TOMB) {
            *key = s->key;
            *value = s->value;
            (*pos)++;
            return 1;
        }
    }
    return 0;
}
