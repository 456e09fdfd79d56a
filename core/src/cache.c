/* cache.c — see cache-internal.h. */
#include "cache-internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "ambient/plugin.h"
#include "json_parse-internal.h"

/* Smaller texts are kept as they are: a zstd frame's own overhead and the
 * call would cost more than they save. */
#define PACK_MIN 256
/* zstd's fastest levels: 2 KiB in ~1.4 us here, against ~3.3 us for level
 * 1, which saves more (entropy coding) but cost the informer a third of
 * its time in a backlog. */
#define PACK_LEVEL (-1)
/* Packed texts up to this size are unpacked on the reader's stack. */
#define STACK_TEXT 8192

/* An entry's bytes: its JSON text, or the text's zstd frame. Never changed
 * once made: a reader takes a reference under the lock and parses after
 * dropping it, so the lock is held for a lookup, not a copy, and the
 * loop thread's writes in a burst do not queue behind the workers' reads. */
struct cache_bytes {
    atomic_uint refs;
    uint32_t len;
    char at[];
};

struct ambd_cache_entry {
    struct cache_bytes *data;
    /* In c->hot (oldest first) while unpacked and young, since written_ms. */
    struct ambd_cache_entry *hot_prev, *hot_next;
    uint64_t written_ms;
    uint32_t text_len; /* the JSON text's length */
    unsigned mark;
    unsigned packed : 1;
    unsigned hot : 1;
    unsigned written_through : 1; /* not from the watch: its version is still due */
    char rv[]; /* metadata.resourceVersion, "" when it has none */
};

static struct cache_bytes *bytes_new(size_t len)
{
    struct cache_bytes *b = len <= UINT32_MAX ? malloc(sizeof *b + (len ? len : 1)) : NULL;
    if (b) {
        atomic_init(&b->refs, 1);
        b->len = (uint32_t)len;
    }
    return b;
}

static struct cache_bytes *bytes_ref(struct cache_bytes *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

static void bytes_release(struct cache_bytes *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Lock held. */
static void hot_link(struct ambd_cache *c, struct ambd_cache_entry *e)
{
    e->hot = 1;
    e->written_ms = now_ms();
    e->hot_next = NULL;
    e->hot_prev = c->hot_tail;
    if (c->hot_tail)
        c->hot_tail->hot_next = e;
    else
        c->hot_head = e;
    c->hot_tail = e;
    c->n_hot++;
    c->hot_bytes += e->data->len;
}

static void hot_unlink(struct ambd_cache *c, struct ambd_cache_entry *e)
{
    if (!e->hot)
        return;
    if (e->hot_prev)
        e->hot_prev->hot_next = e->hot_next;
    else
        c->hot_head = e->hot_next;
    if (e->hot_next)
        e->hot_next->hot_prev = e->hot_prev;
    else
        c->hot_tail = e->hot_prev;
    e->hot = 0;
    c->n_hot--;
    c->hot_bytes -= e->data->len;
}

static void entry_free(void *p)
{
    struct ambd_cache_entry *e = p;
    if (!e)
        return;
    bytes_release(e->data);
    free(e);
}

/* e leaves the map (lock held). */
static void entry_leaves(struct ambd_cache *c, struct ambd_cache_entry *e)
{
    hot_unlink(c, e);
    c->bytes -= e->data->len;
}

void ambd_cache_init(struct ambd_cache *c)
{
    memset(c, 0, sizeof *c);
    /* Adaptive: a thread finding it held spins a little before it sleeps.
     * Every hold is a lookup or an insert (parsing happens outside it), and
     * the loop thread writing a burst's events slept, a futex round trip
     * with its CPU idle, whenever a worker's read held a read-write lock. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&c->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&c->pool_lock, NULL);
    pthread_mutex_init(&c->pack_lock, NULL);
    ambd_strmap_init(&c->map);
}

void ambd_cache_destroy(struct ambd_cache *c)
{
    ambd_strmap_clear(&c->map, entry_free);
    pthread_mutex_destroy(&c->lock);
    ZSTD_freeCCtx(c->packer);
    for (unsigned i = 0; i < c->n_pool; i++)
        ZSTD_freeDCtx(c->pool[i]);
    pthread_mutex_destroy(&c->pool_lock);
    pthread_mutex_destroy(&c->pack_lock);
}

/* Built by hand, not with a printf: it runs for every event. */
char *ambd_cache_key_of(const char *ns, const char *name)
{
    if (!name || !*name)
        return NULL;
    size_t ns_len = ns ? strlen(ns) : 0, name_len = strlen(name);
    char *key = malloc(ns_len + 1 + name_len + 1);
    if (!key)
        return NULL;
    char *p = key;
    if (ns_len) {
        memcpy(p, ns, ns_len);
        p += ns_len;
        *p++ = '/';
    }
    memcpy(p, name, name_len + 1);
    return key;
}

char *ambd_cache_key(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    return ambd_cache_key_of(json_string_value(json_object_get(meta, "namespace")),
                             json_string_value(json_object_get(meta, "name")));
}

/* text[0..len) packed into a new frame when that is smaller, else NULL. */
static struct cache_bytes *pack(struct ambd_cache *c, const char *text, size_t len)
{
    struct cache_bytes *frame = len >= PACK_MIN ? bytes_new(len) : NULL;
    if (!frame)
        return NULL;
    size_t n = 0;
    pthread_mutex_lock(&c->pack_lock);
    if (c->packer || (c->packer = ZSTD_createCCtx()))
        n = ZSTD_compressCCtx(c->packer, frame->at, len, text, len, PACK_LEVEL);
    pthread_mutex_unlock(&c->pack_lock);
    if (!n || ZSTD_isError(n) || n >= len) {
        free(frame);
        return NULL;
    }
    frame->len = (uint32_t)n;
    /* Shrunk to fit: what stays allocated is what is used. */
    struct cache_bytes *fit = realloc(frame, sizeof *frame + n);
    return fit ? fit : frame;
}

/* Packs the oldest hot entry (lock held). */
static void pack_oldest(struct ambd_cache *c)
{
    struct ambd_cache_entry *e = c->hot_head;
    hot_unlink(c, e);
    struct cache_bytes *frame = pack(c, e->data->at, e->data->len);
    if (frame) {
        c->bytes = c->bytes - e->data->len + frame->len;
        bytes_release(e->data); /* a reader may still hold it */
        e->data = frame;
        e->packed = 1;
    }
}

/* An entry holding text[0..len): as it is when hot, else packed when that
 * is smaller. */
static struct ambd_cache_entry *entry_new(struct ambd_cache *c, const char *text, size_t len,
                                          const char *rv, unsigned mark, int hot)
{
    size_t rv_len = strlen(rv);
    struct ambd_cache_entry *e = malloc(sizeof *e + rv_len + 1);
    if (!e || len > UINT32_MAX) {
        free(e);
        return NULL;
    }
    memcpy(e->rv, rv, rv_len + 1);
    e->mark = mark;
    e->text_len = (uint32_t)len;
    e->packed = 0;
    e->hot = 0;
    e->written_through = 0;
    if (!hot && (e->data = pack(c, text, len))) {
        e->packed = 1;
        return e;
    }
    if (!(e->data = bytes_new(len))) {
        free(e);
        return NULL;
    }
    memcpy(e->data->at, text, len);
    return e;
}

int ambd_cache_upsert_text(struct ambd_cache *c, json_t *obj, const char *text, size_t len,
                           unsigned mark, int hot)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (json_object_get(meta, "managedFields")) {
        json_object_del(meta, "managedFields");
        text = NULL; /* no longer obj's text */
    }
    char *key = ambd_cache_key(obj);
    if (!key)
        return AMB_EINVAL;
    char *dumped = text ? NULL : json_dumps(obj, JSON_COMPACT);
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    struct ambd_cache_entry *e = NULL;
    if (text || dumped)
        e = entry_new(c, text ? text : dumped, text ? len : strlen(dumped), rv ? rv : "", mark,
                      hot);
    free(dumped);
    if (!e) {
        free(key);
        return AMB_ENOMEM;
    }
    void *old = NULL;
    pthread_mutex_lock(&c->lock);
    int rc = ambd_strmap_put(&c->map, key, e, &old);
    struct ambd_cache_entry *prev = old;
    if (rc == AMB_OK) {
        c->bytes += e->data->len;
        if (prev) {
            entry_leaves(c, prev);
            rc = !prev->written_through && *prev->rv && strcmp(prev->rv, e->rv) == 0 ? 2 : 0;
        } else {
            rc = 1;
        }
        if (hot)
            hot_link(c, e);
        /* Bounded: past hot_max_bytes the oldest are packed at once. */
        while (c->hot_head && c->hot_bytes > c->hot_max_bytes)
            pack_oldest(c);
    }
    pthread_mutex_unlock(&c->lock);
    entry_free(prev);
    if (rc < 0)
        entry_free(e);
    free(key);
    return rc;
}

int ambd_cache_upsert(struct ambd_cache *c, json_t *obj, unsigned mark)
{
    return ambd_cache_upsert_text(c, obj, NULL, 0, mark, 0);
}

int ambd_cache_write_through(struct ambd_cache *c, json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    json_object_del(meta, "managedFields");
    char *key = ambd_cache_key(obj);
    char *text = key ? json_dumps(obj, JSON_COMPACT) : NULL;
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    struct ambd_cache_entry *e = text ? entry_new(c, text, strlen(text), rv ? rv : "", 0, 0) : NULL;
    free(text);
    if (!e) {
        free(key);
        return key ? AMB_ENOMEM : AMB_EINVAL;
    }
    e->written_through = 1;
    void *old = NULL;
    pthread_mutex_lock(&c->lock);
    struct ambd_cache_entry *cur = ambd_strmap_get(&c->map, key), *prev = NULL;
    if (cur) {
        e->mark = cur->mark;
        ambd_strmap_put(&c->map, key, e, &old); /* a replacement: cannot fail */
        prev = old;
        entry_leaves(c, prev);
        c->bytes += e->data->len;
        e = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    entry_free(prev);
    entry_free(e);
    free(key);
    return AMB_OK;
}

size_t ambd_cache_pack_cold(struct ambd_cache *c, uint64_t age_ms)
{
    uint64_t before = now_ms() - age_ms;
    size_t left;
    for (;;) {
        /* One entry per lock hold, so readers wait at most one packing. */
        pthread_mutex_lock(&c->lock);
        struct ambd_cache_entry *e = c->hot_head;
        if (!e || e->written_ms > before) {
            left = c->n_hot;
            pthread_mutex_unlock(&c->lock);
            return left;
        }
        pack_oldest(c);
        pthread_mutex_unlock(&c->lock);
    }
}

static ZSTD_DCtx *unpacker_take(struct ambd_cache *c)
{
    pthread_mutex_lock(&c->pool_lock);
    ZSTD_DCtx *d = c->n_pool ? c->pool[--c->n_pool] : NULL;
    pthread_mutex_unlock(&c->pool_lock);
    return d ? d : ZSTD_createDCtx();
}

static void unpacker_give(struct ambd_cache *c, ZSTD_DCtx *d)
{
    pthread_mutex_lock(&c->pool_lock);
    if (d && c->n_pool < sizeof c->pool / sizeof c->pool[0]) {
        c->pool[c->n_pool++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    ZSTD_freeDCtx(d);
}

/* The object in data[0..len), the text or (packed) its frame, parsed. */
static json_t *parse_entry(struct ambd_cache *c, const char *data, size_t len, int packed,
                           size_t text_len)
{
    if (!packed)
        return ambd_json_parse(data, len, NULL);
    char small[STACK_TEXT];
    char *text = text_len <= sizeof small ? small : malloc(text_len);
    ZSTD_DCtx *d = text ? unpacker_take(c) : NULL;
    size_t n = d ? ZSTD_decompressDCtx(d, text, text_len, data, len) : 0;
    unpacker_give(c, d);
    json_t *obj = d && !ZSTD_isError(n) && n == text_len ? ambd_json_parse(text, n, NULL) : NULL;
    if (text != small)
        free(text);
    return obj;
}

/* Parses an entry the caller holds, out of the map. */
static json_t *parse_held(struct ambd_cache *c, const struct ambd_cache_entry *e)
{
    return parse_entry(c, e->data->at, e->data->len, e->packed, e->text_len);
}

int ambd_cache_remove(struct ambd_cache *c, const char *key)
{
    pthread_mutex_lock(&c->lock);
    struct ambd_cache_entry *e = ambd_strmap_remove(&c->map, key);
    if (e)
        entry_leaves(c, e);
    pthread_mutex_unlock(&c->lock);
    entry_free(e);
    return e != NULL;
}

void ambd_cache_sweep(struct ambd_cache *c, unsigned mark,
                      void (*gone)(void *ud, const json_t *obj), void *ud)
{
    size_t pos = 0;
    const char *key;
    void *value;
    /* Collected first, parsed and reported after the lock is dropped. */
    struct ambd_cache_entry **removed = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    while (ambd_strmap_next(&c->map, &pos, &key, &value)) {
        struct ambd_cache_entry *e = value;
        if (e->mark == mark)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct ambd_cache_entry **grown = realloc(removed, ncap * sizeof *grown);
            if (!grown)
                break; /* the rest goes at the next list */
            removed = grown;
            cap = ncap;
        }
        removed[n++] = e;
        entry_leaves(c, e);
        ambd_strmap_remove(&c->map, key);
    }
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        json_t *obj = parse_held(c, removed[i]);
        if (obj)
            gone(ud, obj);
        json_decref(obj);
        entry_free(removed[i]);
    }
    free(removed);
}

json_t *ambd_cache_get(struct ambd_cache *c, const char *key)
{
    struct cache_bytes *data = NULL;
    size_t text_len = 0;
    int packed = 0;
    pthread_mutex_lock(&c->lock);
    struct ambd_cache_entry *e = ambd_strmap_get(&c->map, key);
    if (e) {
        data = bytes_ref(e->data);
        text_len = e->text_len;
        packed = e->packed;
    }
    pthread_mutex_unlock(&c->lock);
    json_t *obj = data ? parse_entry(c, data->at, data->len, packed, text_len) : NULL;
    bytes_release(data);
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
    size_t prefix_len = ns && *ns ? strlen(ns) : 0;
    size_t pos = 0, n = 0;
    const char *key;
    void *value;
    /* References taken under the lock; the parsing happens after it. */
    struct held {
        struct cache_bytes *data;
        size_t text_len;
        int packed;
    } *held = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->map.n && !(held = malloc(c->map.n * sizeof *held))) {
        pthread_mutex_unlock(&c->lock);
        return NULL;
    }
    while (ambd_strmap_next(&c->map, &pos, &key, &value)) {
        if (prefix_len && (strncmp(key, ns, prefix_len) != 0 || key[prefix_len] != '/'))
            continue;
        struct ambd_cache_entry *e = value;
        held[n++] = (struct held){bytes_ref(e->data), e->text_len, e->packed};
    }
    pthread_mutex_unlock(&c->lock);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *obj = out ? parse_entry(c, held[i].data->at, held[i].data->len, held[i].packed,
                                        held[i].text_len)
                          : NULL;
        if (obj && labels_match(obj, selector))
            json_array_append(out, obj);
        json_decref(obj);
        bytes_release(held[i].data);
    }
    free(held);
    return out;
}

void ambd_cache_each_key(struct ambd_cache *c, void (*fn)(void *ud, const char *key), void *ud)
{
    size_t pos = 0;
    const char *key;
    void *value;
    pthread_mutex_lock(&c->lock);
    while (ambd_strmap_next(&c->map, &pos, &key, &value))
        fn(ud, key);
    pthread_mutex_unlock(&c->lock);
}

size_t ambd_cache_count(struct ambd_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->map.n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t ambd_cache_bytes(struct ambd_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->lock);
    return n;
}
