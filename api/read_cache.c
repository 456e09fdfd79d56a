/* read_cache.c — the objects of every served kind, kept by a watch of the
 * api role's own (kind_watch.c, the daemon's credentials, every namespace),
 * for the generic routes' GET and LIST (read_cache_reply.c).
 *
 * Each kind is one array of entries sorted by (namespace, name): a GET is
 * a binary search, a LIST page a binary search and a walk. Each entry keeps
 * the JSON a GET answers, serialized once when its version arrives. A
 * change is a memmove of pointers, cheap at the sizes the bounds allow.
 *
 * When the cache may answer (synced): after a complete list, until the
 * list or watch fails, and again once a resumed watch is idle (it has
 * replayed what it missed). A relist (410, errors) builds the new set
 * aside and swaps it in whole; meanwhile the API server answers.
 *
 * Freshness for this replica's own writes: each write through the generic
 * routes (and each object a fallback read returned) is a "need" of its
 * kind; a read of that object (a LIST: of its namespace) waits on `moved`
 * until the watch has come that far, then falls back. resourceVersions are
 * compared as numbers, as Kubernetes' own watch cache does; a version that
 * is not a number is not remembered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_cache_int.h"

/* ---- helpers ---- */

unsigned long long rc_parse_rv(const char *rv, int *ok)
{
    *ok = 0;
    if (!rv || !*rv || strlen(rv) > 19 || strspn(rv, "0123456789") != strlen(rv))
        return 0;
    *ok = 1;
    return strtoull(rv, NULL, 10);
}

static const char *rv_of(const json_t *obj)
{
    return json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

void rc_blob_unref(struct rc_blob *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

static void entry_free(struct rc_entry *e)
{
    if (e) {
        rc_blob_unref(e->json);
        free(e);
    }
}

static size_t entry_size(const struct rc_entry *e)
{
    return sizeof *e + e->json->len + strlen(e->key) + strlen(e->name) + 2;
}

static int cmp_key(const char *ns, const char *name, const struct rc_entry *e)
{
    int c = strcmp(ns, e->key);
    return c ? c : strcmp(name, e->name);
}

size_t rc_lower_bound(const struct rc_kind *k, const char *ns, const char *name)
{
    size_t lo = 0, hi = k->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_key(ns, name, k->e[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct rc_entry *find(const struct rc_kind *k, const char *ns, const char *name)
{
    size_t i = rc_lower_bound(k, ns, name);
    return i < k->n && cmp_key(ns, name, k->e[i]) == 0 ? k->e[i] : NULL;
}

/* The entry for obj, its JSON as a GET answers it: apiVersion and kind
 * first when the object lacks them (a list's items), else as it came. NULL
 * for an object without a usable namespace, name and resourceVersion. */
static struct rc_entry *entry_new(const struct rc_kind *k, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    int ok = 0;
    unsigned long long rv = rc_parse_rv(rv_of(obj), &ok);
    if (!ok || !ns || !name || !amb_is_dns_label(ns) || !amb_is_dns_subdomain(name))
        return NULL;
    json_t *whole = NULL;
    if (!json_object_get(obj, "apiVersion") || !json_object_get(obj, "kind")) {
        whole = json_pack("{s:s, s:s}", "apiVersion", k->api_version, "kind",
                          k->kind->resource.kind);
        if (!whole || json_object_update_missing(whole, (json_t *)obj)) {
            json_decref(whole);
            return NULL;
        }
    }
    char *text = json_dumps(whole ? whole : obj, JSON_COMPACT);
    json_decref(whole);
    size_t ns_len = strlen(ns), name_len = strlen(name), len = text ? strlen(text) : 0;
    struct rc_entry *e = text ? malloc(sizeof *e + ns_len + name_len + 2) : NULL;
    struct rc_blob *b = e ? malloc(sizeof *b + len) : NULL;
    if (!b) {
        free(e);
        free(text);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    b->len = len;
    memcpy(b->data, text, len);
    free(text);
    e->json = b;
    e->rv = rv;
    memcpy(e->key, ns, ns_len + 1);
    memcpy(e->key + ns_len + 1, name, name_len + 1);
    e->name = e->key + ns_len + 1;
    return e;
}

/* ---- bounds ---- */

/* Whether the cache may hold objects/bytes more (less when negative) of k
 * beside what it holds now; takes them when it may. */
static int budget_take(struct read_cache *c, long long objects, long long bytes)
{
    pthread_mutex_lock(&c->budget_mu);
    long long o = (long long)c->objects + objects, b = (long long)c->bytes + bytes;
    int fits = objects <= 0 && bytes <= 0 ? 1
               : o <= (long long)c->max_objects && b <= (long long)c->max_bytes;
    if (fits) {
        c->objects = (size_t)(o < 0 ? 0 : o);
        c->bytes = (size_t)(b < 0 ? 0 : b);
    }
    pthread_mutex_unlock(&c->budget_mu);
    return fits;
}

static void drop_all(struct rc_entry ***arr, size_t *n, size_t *bytes)
{
    for (size_t i = 0; i < *n; i++)
        entry_free((*arr)[i]);
    *n = 0;
    *bytes = 0;
}

/* Past api.read_cache.max_objects or max_bytes: the kind is dropped and
 * served from the API server from now on; its watch ends. Under k->mu. */
static void go_over(struct rc_kind *k)
{
    budget_take(k->c, -(long long)k->n, -(long long)k->bytes);
    drop_all(&k->e, &k->n, &k->bytes);
    drop_all(&k->staged, &k->n_staged, &k->bytes_staged);
    k->synced = 0;
    atomic_store(&k->over, 1);
    pthread_cond_broadcast(&k->moved);
    api_host->log(api_self, AMB_LOG_WARN,
                  "read cache: a kind is past api.read_cache.max_objects or max_bytes; "
                  "its reads go to the Kubernetes API",
                  "kind", k->kind->resource.kind, NULL);
}

/* ---- freshness ---- */

static int need_met(const struct rc_kind *k, const struct rc_need *n)
{
    if (!n->gone)
        return k->rv >= n->rv;
    const struct rc_entry *e = find(k, n->ns, n->name);
    return !e || e->rv > n->rv;
}

/* Drops the needs the cache now meets; wakes the readers waiting. */
static void advanced(struct rc_kind *k)
{
    size_t kept = 0;
    for (size_t i = 0; i < k->n_needs; i++)
        if (!need_met(k, &k->needs[i]))
            k->needs[kept++] = k->needs[i];
    k->n_needs = kept;
    if (k->needs_overflow_rv && k->rv >= k->needs_overflow_rv)
        k->needs_overflow_rv = 0;
    pthread_cond_broadcast(&k->moved);
}

static int stale(const struct rc_kind *k, const char *ns, const char *name)
{
    if (k->needs_overflow_rv)
        return 1;
    for (size_t i = 0; i < k->n_needs; i++) {
        const struct rc_need *n = &k->needs[i];
        if (strcmp(n->ns, ns) == 0 && (!name || strcmp(n->name, name) == 0) && !need_met(k, n))
            return 1;
    }
    return 0;
}

int rc_fresh_locked(struct rc_kind *k, const char *ns, const char *name, unsigned long long at)
{
    if (!k->synced)
        return 0;
    if (!stale(k, ns, name) && k->rv >= at)
        return 1;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (READ_CACHE_WAIT_MS % 1000) * 1000000L;
    until.tv_sec += READ_CACHE_WAIT_MS / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (k->synced && (stale(k, ns, name) || k->rv < at))
        if (pthread_cond_timedwait(&k->moved, &k->mu, &until) != 0)
            break;
    return k->synced && !stale(k, ns, name) && k->rv >= at;
}

static void add_need(struct read_cache *c, const struct amb_kind *kind, const json_t *obj,
                     int gone)
{
    struct rc_kind *k = rc_kind_of(c, kind);
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    int ok = 0;
    unsigned long long rv = rc_parse_rv(rv_of(obj), &ok);
    if (!k || !ok || !ns || !name || strlen(ns) >= sizeof k->needs[0].ns ||
        strlen(name) >= sizeof k->needs[0].name)
        return;
    pthread_mutex_lock(&k->mu);
    struct rc_need n = {.rv = rv, .gone = gone};
    snprintf(n.ns, sizeof n.ns, "%s", ns);
    snprintf(n.name, sizeof n.name, "%s", name);
    if (need_met(k, &n))
        ; /* the cache is there already */
    else if (k->n_needs < RC_MAX_NEEDS)
        k->needs[k->n_needs++] = n;
    else if (rv + (unsigned)gone > k->needs_overflow_rv)
        k->needs_overflow_rv = rv + (unsigned)gone; /* a delete's event comes after rv */
    pthread_mutex_unlock(&k->mu);
}

void read_cache_saw(struct read_cache *c, const struct amb_kind *k, const json_t *obj)
{
    if (c && obj)
        add_need(c, k, obj, 0);
}

void read_cache_deleted(struct read_cache *c, const struct amb_kind *k, const json_t *obj)
{
    if (c && obj)
        add_need(c, k, obj, 1);
}

/* ---- barriers (plugins' writes) ---- */

static int later(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec != b->tv_sec ? a->tv_sec > b->tv_sec : a->tv_nsec > b->tv_nsec;
}

void read_cache_barrier(struct read_cache *c, const char *ns)
{
    if (!c || !ns || strlen(ns) >= sizeof c->barriers[0].ns)
        return;
    struct timespec now, until;
    clock_gettime(CLOCK_MONOTONIC, &now);
    until = now;
    until.tv_sec += READ_CACHE_BARRIER_MS / 1000;
    until.tv_nsec += (READ_CACHE_BARRIER_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->barrier_mu);
    struct rc_barrier *slot = NULL;
    for (size_t i = 0; i < RC_MAX_BARRIERS; i++) {
        struct rc_barrier *b = &c->barriers[i];
        if (strcmp(b->ns, ns) == 0 || (!slot && (!b->ns[0] || !later(&b->until, &now))))
            slot = b;
        if (strcmp(b->ns, ns) == 0)
            break;
    }
    if (!slot) /* every slot busy: the one ending first gives way */
        for (size_t i = 0; i < RC_MAX_BARRIERS; i++)
            if (!slot || later(&slot->until, &c->barriers[i].until))
                slot = &c->barriers[i];
    if (!slot->ns[0])
        atomic_fetch_add(&c->n_barriers, 1);
    snprintf(slot->ns, sizeof slot->ns, "%s", ns);
    slot->until = until;
    pthread_mutex_unlock(&c->barrier_mu);
}

int rc_barred(struct read_cache *c, const char *ns)
{
    if (atomic_load(&c->n_barriers) == 0)
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int barred = 0;
    pthread_mutex_lock(&c->barrier_mu);
    for (size_t i = 0; i < RC_MAX_BARRIERS; i++) {
        struct rc_barrier *b = &c->barriers[i];
        if (!b->ns[0])
            continue;
        if (!later(&b->until, &now)) {
            b->ns[0] = '\0';
            atomic_fetch_sub(&c->n_barriers, 1);
        } else if (strcmp(b->ns, ns) == 0) {
            barred = 1;
        }
    }
    pthread_mutex_unlock(&c->barrier_mu);
    return barred;
}

/* ---- the watch's callbacks (kind_watch.h) ---- */

static int grow(struct rc_entry ***arr, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * sizeof **arr);
    if (!p)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

static void on_relisting(void *ud)
{
    struct rc_kind *k = ud;
    pthread_mutex_lock(&k->mu);
    drop_all(&k->staged, &k->n_staged, &k->bytes_staged);
    k->synced = 0; /* the old set is stale: the API answers until the swap */
    pthread_cond_broadcast(&k->moved);
    pthread_mutex_unlock(&k->mu);
}

static void on_item(void *ud, const json_t *obj)
{
    struct rc_kind *k = ud;
    if (atomic_load(&k->over))
        return;
    struct rc_entry *e = entry_new(k, obj);
    if (!e)
        return;
    size_t size = entry_size(e);
    pthread_mutex_lock(&k->mu);
    /* The list being built, with every other kind's: within the bounds. */
    pthread_mutex_lock(&k->c->budget_mu);
    int fits = k->c->objects - k->n + k->n_staged + 1 <= k->c->max_objects &&
               k->c->bytes - k->bytes + k->bytes_staged + size <= k->c->max_bytes;
    pthread_mutex_unlock(&k->c->budget_mu);
    if (!fits || grow(&k->staged, &k->cap_staged, k->n_staged + 1)) {
        entry_free(e);
        go_over(k);
    } else {
        k->staged[k->n_staged++] = e;
        k->bytes_staged += size;
    }
    pthread_mutex_unlock(&k->mu);
}

static int by_key(const void *a, const void *b)
{
    const struct rc_entry *x = *(struct rc_entry *const *)a, *y = *(struct rc_entry *const *)b;
    return cmp_key(x->key, x->name, y);
}

static void on_listed(void *ud, const char *rv, long long listed_at)
{
    struct rc_kind *k = ud;
    (void)listed_at;
    if (atomic_load(&k->over))
        return;
    if (k->n_staged)
        qsort(k->staged, k->n_staged, sizeof *k->staged, by_key);
    int ok = 0;
    unsigned long long at = rc_parse_rv(rv, &ok);
    pthread_mutex_lock(&k->mu);
    /* on_item checked the bounds with this list in place of the old set. */
    pthread_mutex_lock(&k->c->budget_mu);
    k->c->objects = k->c->objects - k->n + k->n_staged;
    k->c->bytes = k->c->bytes - k->bytes + k->bytes_staged;
    pthread_mutex_unlock(&k->c->budget_mu);
    drop_all(&k->e, &k->n, &k->bytes);
    struct rc_entry **old = k->e;
    size_t old_cap = k->cap;
    k->e = k->staged;
    k->cap = k->cap_staged;
    k->n = k->n_staged;
    k->bytes = k->bytes_staged;
    k->staged = old;
    k->cap_staged = old_cap;
    k->n_staged = k->bytes_staged = 0;
    if (ok)
        k->rv = at;
    k->listed = 1;
    k->synced = ok;
    advanced(k);
    pthread_mutex_unlock(&k->mu);
}

/* ADDED and MODIFIED: e in place of what the cache had. Under k->mu. */
static void put(struct rc_kind *k, struct rc_entry *e)
{
    size_t i = rc_lower_bound(k, e->key, e->name);
    size_t size = entry_size(e);
    int replace = i < k->n && cmp_key(e->key, e->name, k->e[i]) == 0;
    size_t old_size = replace ? entry_size(k->e[i]) : 0;
    if (!budget_take(k->c, replace ? 0 : 1, (long long)size - (long long)old_size) ||
        (!replace && grow(&k->e, &k->cap, k->n + 1))) {
        entry_free(e);
        go_over(k);
        return;
    }
    if (replace) {
        entry_free(k->e[i]);
    } else {
        memmove(&k->e[i + 1], &k->e[i], (k->n - i) * sizeof *k->e);
        k->n++;
    }
    k->e[i] = e;
    k->bytes += size - old_size;
}

static void remove_key(struct rc_kind *k, const char *ns, const char *name)
{
    size_t i = rc_lower_bound(k, ns, name);
    if (i >= k->n || cmp_key(ns, name, k->e[i]) != 0)
        return;
    size_t size = entry_size(k->e[i]);
    entry_free(k->e[i]);
    memmove(&k->e[i], &k->e[i + 1], (k->n - i - 1) * sizeof *k->e);
    k->n--;
    k->bytes -= size;
    budget_take(k->c, -1, -(long long)size);
}

static void on_event(void *ud, const char *type, const json_t *obj, const char *rv)
{
    struct rc_kind *k = ud;
    if (atomic_load(&k->over))
        return;
    int deleted = strcmp(type, "DELETED") == 0;
    int bookmark = strcmp(type, "BOOKMARK") == 0;
    /* Serialized before the lock: readers never wait on json_dumps. */
    struct rc_entry *e = deleted || bookmark ? NULL : entry_new(k, obj);
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    int ok = 0;
    unsigned long long at = rc_parse_rv(rv, &ok);
    pthread_mutex_lock(&k->mu);
    if (e)
        put(k, e);
    else if (deleted && ns && name)
        remove_key(k, ns, name);
    if (ok && at > k->rv)
        k->rv = at;
    advanced(k);
    pthread_mutex_unlock(&k->mu);
}

static void on_streaming(void *ud)
{
    struct rc_kind *k = ud;
    pthread_mutex_lock(&k->mu);
    if (k->listed && !k->synced && !atomic_load(&k->over)) {
        k->synced = 1; /* a resumed watch has replayed what it missed */
        advanced(k);
    }
    pthread_mutex_unlock(&k->mu);
}

static void on_broken(void *ud)
{
    struct rc_kind *k = ud;
    pthread_mutex_lock(&k->mu);
    k->synced = 0;
    pthread_cond_broadcast(&k->moved);
    pthread_mutex_unlock(&k->mu);
}

static const struct kind_watch_ops cache_ops = {
    .relisting = on_relisting,
    .item = on_item,
    .listed = on_listed,
    .event = on_event,
    .streaming = on_streaming,
    .broken = on_broken,
};

/* ---- life ---- */

struct rc_kind *rc_kind_of(struct read_cache *c, const struct amb_kind *k)
{
    for (size_t i = 0; c && i < c->n_kinds; i++)
        if (c->kinds[i].kind == k)
            return atomic_load(&c->kinds[i].over) ? NULL : &c->kinds[i];
    return NULL;
}

int read_cache_start(const struct api_config *cfg, struct kind_watches *watches,
                     struct read_cache **out, struct amb_error *err)
{
    *out = NULL;
    if (!cfg->read_cache_enabled || !AMB_HAS(api_host, kube_watch) ||
        !AMB_HAS(api_host, kind_at))
        return AMB_OK;
    struct read_cache *c = calloc(1, sizeof *c);
    if (!c)
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    c->max_objects = cfg->read_cache_max_objects;
    c->max_bytes = cfg->read_cache_max_bytes;
    pthread_mutex_init(&c->budget_mu, NULL);
    pthread_mutex_init(&c->barrier_mu, NULL);
    *out = c;
    const struct amb_kind *kind = NULL;
    void *ud = NULL;
    for (size_t i = 0; api_host->kind_at(api_self, i, &kind, &ud) == AMB_OK; i++) {
        if (!kind->resource.namespaced || c->n_kinds == RC_MAX_KINDS)
            continue; /* the generic routes serve namespaced kinds only */
        struct rc_kind *k = &c->kinds[c->n_kinds++];
        k->c = c;
        k->kind = kind;
        const struct amb_resource *res = &kind->resource;
        if (*res->group)
            snprintf(k->api_version, sizeof k->api_version, "%s/%s", res->group, res->version);
        else
            snprintf(k->api_version, sizeof k->api_version, "%s", res->version);
        pthread_mutex_init(&k->mu, NULL);
        pthread_cond_init(&k->moved, NULL);
        if (kind_watches_subscribe(watches, kind, &cache_ops, k) != AMB_OK)
            return api_host->error_set(err, AMB_ETOOLARGE, NULL,
                                       "read cache: cannot watch %s", res->kind);
    }
    return AMB_OK;
}

void read_cache_free(struct read_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_kinds; i++) {
        struct rc_kind *k = &c->kinds[i];
        drop_all(&k->e, &k->n, &k->bytes);
        drop_all(&k->staged, &k->n_staged, &k->bytes_staged);
        free(k->e);
        free(k->staged);
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->moved);
    }
    pthread_mutex_destroy(&c->budget_mu);
    pthread_mutex_destroy(&c->barrier_mu);
    free(c);
}
