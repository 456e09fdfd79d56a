/* cache.c — see cache-internal.h. */
#include "cache-internal.h"

#include <stdlib.h>
#include <string.h>

#include "ambient/plugin.h"
#include "buf-internal.h"

struct ambd_cache_entry {
    char *json;
    size_t len;
    char *rv;
    unsigned mark;
};

static void entry_free(void *p)
{
    struct ambd_cache_entry *e = p;
    if (!e)
        return;
    free(e->json);
    free(e->rv);
    free(e);
}

void ambd_cache_init(struct ambd_cache *c)
{
    pthread_rwlock_init(&c->lock, NULL);
    ambd_strmap_init(&c->map);
    c->bytes = 0;
}

void ambd_cache_destroy(struct ambd_cache *c)
{
    ambd_strmap_clear(&c->map, entry_free);
    pthread_rwlock_destroy(&c->lock);
}

char *ambd_cache_key_of(const char *ns, const char *name)
{
    if (!name || !*name)
        return NULL;
    struct ambd_buf b = {0};
    if (ns && *ns)
        ambd_buf_printf(&b, "%s/%s", ns, name);
    else
        ambd_buf_puts(&b, name);
    return ambd_buf_take(&b);
}

char *ambd_cache_key(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    return ambd_cache_key_of(json_string_value(json_object_get(meta, "namespace")),
                             json_string_value(json_object_get(meta, "name")));
}

int ambd_cache_upsert(struct ambd_cache *c, const json_t *obj, unsigned mark)
{
    char *key = ambd_cache_key(obj);
    const char *rv = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    struct ambd_cache_entry *e = calloc(1, sizeof *e);
    if (!key || !e) {
        free(key);
        free(e);
        return AMB_EINVAL;
    }
    e->mark = mark;
    e->json = json_dumps(obj, JSON_COMPACT);
    e->rv = rv ? strdup(rv) : NULL;
    if (!e->json || (rv && !e->rv)) {
        entry_free(e);
        free(key);
        return AMB_ENOMEM;
    }
    e->len = strlen(e->json);
    void *old = NULL;
    pthread_rwlock_wrlock(&c->lock);
    int rc = ambd_strmap_put(&c->map, key, e, &old);
    if (rc == AMB_OK) {
        struct ambd_cache_entry *prev = old;
        c->bytes += e->len;
        if (prev) {
            c->bytes -= prev->len;
            rc = prev->rv && e->rv && strcmp(prev->rv, e->rv) == 0 ? 2 : 0;
        } else {
            rc = 1;
        }
        entry_free(prev);
    }
    pthread_rwlock_unlock(&c->lock);
    if (rc < 0)
        entry_free(e);
    free(key);
    return rc;
}

json_t *ambd_cache_remove(struct ambd_cache *c, const char *key)
{
    pthread_rwlock_wrlock(&c->lock);
    struct ambd_cache_entry *e = ambd_strmap_remove(&c->map, key);
    if (e)
        c->bytes -= e->len;
    pthread_rwlock_unlock(&c->lock);
    json_t *obj = e ? json_loadb(e->json, e->len, 0, NULL) : NULL;
    entry_free(e);
    return obj;
}

void ambd_cache_sweep(struct ambd_cache *c, unsigned mark,
                      void (*gone)(void *ud, const json_t *obj), void *ud)
{
    size_t pos = 0;
    const char *key;
    void *value;
    /* Collected first, reported after the lock is dropped. */
    json_t *removed = json_array();
    pthread_rwlock_wrlock(&c->lock);
    while (ambd_strmap_next(&c->map, &pos, &key, &value)) {
        struct ambd_cache_entry *e = value;
        if (e->mark == mark)
            continue;
        json_t *obj = json_loadb(e->json, e->len, 0, NULL);
        if (obj)
            json_array_append_new(removed, obj);
        c->bytes -= e->len;
        entry_free(ambd_strmap_remove(&c->map, key));
    }
    pthread_rwlock_unlock(&c->lock);
    size_t i;
    json_t *obj;
    json_array_foreach(removed, i, obj) gone(ud, obj);
    json_decref(removed);
}

json_t *ambd_cache_get(struct ambd_cache *c, const char *key)
{
    json_t *obj = NULL;
    pthread_rwlock_rdlock(&c->lock);
    struct ambd_cache_entry *e = ambd_strmap_get(&c->map, key);
    if (e)
        obj = json_loadb(e->json, e->len, 0, NULL);
    pthread_rwlock_unlock(&c->lock);
    return obj;
}

/* Equality-only selector "k=v,k2=v2" against metadata.labels. */
static int labels_match(const json_t *obj, const char *selector)
{
    if (!selector || !*selector)
        return 1;
    const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    const char *p = selector;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return 0;
        char key[320];
        size_t klen = (size_t)(eq - p);
        if (klen >= sizeof key)
            return 0;
        memcpy(key, p, klen);
        key[klen] = '\0';
        const char *want = eq + 1;
        if (*want == '=')
            want++; /* "==" */
        size_t wlen = (size_t)(p + len - want);
        const char *have = json_string_value(json_object_get(labels, key));
        if (!have || strlen(have) != wlen || strncmp(have, want, wlen) != 0)
            return 0;
        p += len;
        if (*p == ',')
            p++;
    }
    return 1;
}

json_t *ambd_cache_list(struct ambd_cache *c, const char *ns, const char *selector)
{
    json_t *out = json_array();
    size_t prefix_len = ns && *ns ? strlen(ns) : 0;
    size_t pos = 0;
    const char *key;
    void *value;
    pthread_rwlock_rdlock(&c->lock);
    while (out && ambd_strmap_next(&c->map, &pos, &key, &value)) {
        if (prefix_len && (strncmp(key, ns, prefix_len) != 0 || key[prefix_len] != '/'))
            continue;
        struct ambd_cache_entry *e = value;
        json_t *obj = json_loadb(e->json, e->len, 0, NULL);
        if (obj && labels_match(obj, selector))
            json_array_append(out, obj);
        json_decref(obj);
    }
    pthread_rwlock_unlock(&c->lock);
    return out;
}

size_t ambd_cache_count(struct ambd_cache *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->map.n;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

size_t ambd_cache_bytes(struct ambd_cache *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->bytes;
    pthread_rwlock_unlock(&c->lock);
    return n;
}
