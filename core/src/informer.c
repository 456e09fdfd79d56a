/* informer.c — list-then-watch state machine (see informer-internal.h).
 *
 *   list_page ... list_page -> sweep (deletions) -> watch -> watch ...
 *        ^                                            |
 *        +------------ 410 / expired continue -------+
 * Errors wait a jittered, doubling delay (0.8 s .. 30 s), or the server's
 * Retry-After when that is longer, and retry the step that failed; a watch
 * that ends normally is re-opened at once, and one that breaks after a
 * healthy run (events delivered, or a second lived: client-go's "very short
 * watch" rule) starts the delay afresh. */
#include "informer-internal.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "log-internal.h"
#include "object_skim-internal.h"

#define DEFAULT_PAGE 500
#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define HEALTHY_WATCH_MS 1000

enum step { STEP_LIST, STEP_WATCH };

struct ambd_informer {
    const struct ambd_store *store;
    struct event_base *base;
    struct ambd_informer_options opts;
    char *group, *version, *kind, *plural, *selector, *api_version;
    struct ambd_informer_handlers h;
    void *ud;

    struct ambd_cache cache;
    atomic_int synced;
    unsigned mark;  /* stamps entries seen by the current list */
    char *rv;       /* where the next watch starts */
    char *cont;     /* continue token of the list in progress */
    enum step step; /* what a retry repeats */
    struct ambd_store_call *call;
    /* The next page, asked for with this page's continue token before this
     * page's items are read: the server prepares it meanwhile. next_cont is
     * the token it was asked with. */
    struct ambd_store_call *next;
    char *next_cont;
    unsigned long watch_events; /* events of the current watch stream */
    unsigned backoff_ms;
    unsigned retry_after_s; /* the failed request's Retry-After, for the next wait */
    struct event *retry;
    struct event *pack_timer; /* packs the cache's cold entries (below) */
    struct ambd_informer_stats stats;
};

static void list_begin(struct ambd_informer *inf);
static void list_page(struct ambd_informer *inf);
static void watch_begin(struct ambd_informer *inf);

static void fail_log(struct ambd_informer *inf, const char *what, const char *why)
{
    inf->stats.errors++;
    ambd_log("informer", AMB_LOG_WARN, what, "resource", inf->plural, "error", why, NULL);
}

/* A list that answers 404 names a resource the API server does not serve:
 * for a group's resource, its CustomResourceDefinition is not installed. */
static void list_fail_log(struct ambd_informer *inf, long http_status, const char *why)
{
    if (http_status != 404 || !*inf->group) {
        fail_log(inf, "list failed", why);
        return;
    }
    char crd[512];
    snprintf(crd, sizeof crd, "%s.%s", inf->plural, inf->group);
    inf->stats.errors++;
    ambd_log("informer", AMB_LOG_WARN, "list failed: the CustomResourceDefinition is not installed",
             "resource", inf->plural, "crd", crd, "error", why, NULL);
}

/* Waits before retrying the current step: doubling, with jitter in
 * [50%, 100%] so replicas don't retry in lockstep; never less than the
 * Retry-After the failed request was answered with. */
static void schedule_retry(struct ambd_informer *inf)
{
    unsigned next = inf->backoff_ms ? inf->backoff_ms * 2 : BACKOFF_MIN_MS;
    inf->backoff_ms = next > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : next;
    unsigned ms = inf->backoff_ms / 2 + (unsigned)(random() % (inf->backoff_ms / 2 + 1));
    if (inf->retry_after_s > ms / 1000)
        ms = inf->retry_after_s * 1000;
    inf->retry_after_s = 0;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    /* libevent times timers from the time cached when this loop pass began,
     * which can be milliseconds old: the wait would end that much before
     * the Retry-After the server asked for. */
    event_base_update_cache_time(event_get_base(inf->retry));
    evtimer_add(inf->retry, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ambd_informer *inf = arg;
    if (inf->step == STEP_WATCH && inf->rv)
        watch_begin(inf);
    else
        list_begin(inf);
}

static void on_retry_after(void *ud, unsigned seconds)
{
    struct ambd_informer *inf = ud;
    inf->retry_after_s = seconds;
}

/* List items of built-in kinds lack apiVersion and kind (watch objects may
 * too): they are filled in so cached objects all look alike. Returns how
 * many members were added, with their text in *text when it is not NULL. */
static size_t complete_type(struct ambd_informer *inf, json_t *obj, struct ambd_buf *text)
{
    size_t added = 0;
    if (!json_object_get(obj, "apiVersion")) {
        json_object_set_new(obj, "apiVersion", json_string(inf->api_version));
        if (text)
            ambd_buf_printf(text, "\"apiVersion\":\"%s\",", inf->api_version);
        added++;
    }
    if (!json_object_get(obj, "kind")) {
        json_object_set_new(obj, "kind", json_string(inf->kind));
        if (text)
            ambd_buf_printf(text, "\"kind\":\"%s\",", inf->kind);
        added++;
    }
    return added;
}

/* Stores the skimmed object whose text is text[0..sk->len) in the cache:
 * the text without managedFields, its type completed in the tree and in the
 * text (the added members go in front of the others: the text is an object,
 * so it starts with '{'). Returns what ambd_cache_upsert_text returns. */
static int store(struct ambd_informer *inf, const struct ambd_skim *sk, const char *text, int hot)
{
    struct ambd_buf b = {0};
    ambd_buf_putc(&b, '{');
    size_t added = complete_type(inf, sk->obj, &b);
    if (!added && !sk->cut_len) {
        ambd_buf_release(&b);
        return ambd_cache_upsert_text(&inf->cache, sk->obj, text, sk->len, inf->mark, hot);
    }
    const char *rest = text + 1, *end = text + sk->len;
    /* "{}" takes only the '}' after the added members, without their last comma. */
    const char *first = rest;
    while (first < end && (*first == ' ' || *first == '\t' || *first == '\r' || *first == '\n'))
        first++;
    if (added && first < end && *first == '}')
        b.len--;
    if (sk->cut_len) {
        ambd_buf_append(&b, rest, (size_t)(text + sk->cut_at - rest));
        rest = text + sk->cut_at + sk->cut_len;
    }
    ambd_buf_append(&b, rest, (size_t)(end - rest));
    int rc = b.failed ? AMB_ENOMEM
                      : ambd_cache_upsert_text(&inf->cache, sk->obj, b.data, b.len, inf->mark,
                                               hot);
    ambd_buf_release(&b);
    return rc;
}

static void emit(struct ambd_informer *inf, enum ambd_event_type type, const json_t *obj)
{
    if (inf->h.on_event)
        inf->h.on_event(inf->ud, type, obj);
}

static void set_rv(struct ambd_informer *inf, const json_t *obj)
{
    const char *rv = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    char *copy = rv && *rv ? strdup(rv) : NULL;
    if (!copy)
        return;
    free(inf->rv);
    inf->rv = copy;
}

static char *escaped(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *copy = e ? strdup(e) : NULL;
    curl_free(e);
    return copy;
}

/* ---- list ---- */

static int on_item(void *ud, const char *text, size_t avail, size_t *used,
                   struct ambd_json_error *err)
{
    struct ambd_informer *inf = ud;
    struct ambd_skim sk;
    if (ambd_skim_object(text, avail, inf->opts.keep, &sk, err) != 0)
        return -1;
    *used = sk.len;
    int r = store(inf, &sk, text, 0);
    if (r == 1)
        emit(inf, AMBD_EVENT_ADDED, sk.obj);
    else if (r == 0)
        emit(inf, AMBD_EVENT_MODIFIED, sk.obj);
    json_decref(sk.obj);
    return 0;
}

static void on_page(void *ud, int rc, long http_status, json_t *page, const char *why);
static void on_continue(void *ud, struct ambd_store_call *call, const char *token);
static const struct ambd_store_list_handlers list_handlers = {on_item, on_page, on_retry_after,
                                                              on_continue};

/* The query of the page after cont (NULL: the first). */
static char *page_query(const struct ambd_informer *inf, const char *cont)
{
    struct ambd_buf q = {0};
    ambd_buf_printf(&q, "limit=%u", inf->opts.page_size ? inf->opts.page_size : DEFAULT_PAGE);
    if (inf->selector)
        ambd_buf_printf(&q, "&labelSelector=%s", inf->selector);
    if (cont) {
        char *c = escaped(cont);
        ambd_buf_printf(&q, "&continue=%s", c ? c : "");
        free(c);
    }
    return ambd_buf_take(&q);
}

static void cancel_next(struct ambd_informer *inf)
{
    if (inf->next)
        inf->store->ops->cancel(inf->store->impl, inf->next);
    inf->next = NULL;
    free(inf->next_cont);
    inf->next_cont = NULL;
}

/* Asks for the page after the current one; on_page promotes it, so the
 * handlers still see the pages in order. */
static void on_continue(void *ud, struct ambd_store_call *call, const char *token)
{
    struct ambd_informer *inf = ud;
    if (call != inf->call || inf->next)
        return;
    char *query = page_query(inf, token);
    inf->next_cont = query ? strdup(token) : NULL;
    inf->next = inf->next_cont ? inf->store->ops->list_async(inf->store->impl,
                                                             &inf->opts.resource, query,
                                                             &list_handlers, inf, call)
                               : NULL;
    free(query);
    if (!inf->next)
        cancel_next(inf); /* then it is asked for after this page */
}

/* After a page: makes the prefetched page the current one when it was asked
 * with this page's token. */
static int take_next(struct ambd_informer *inf)
{
    if (!inf->next || !inf->next_cont || strcmp(inf->next_cont, inf->cont) != 0)
        return 0;
    inf->call = inf->next;
    inf->next = NULL;
    free(inf->next_cont);
    inf->next_cont = NULL;
    return 1;
}

static void on_gone_during_sweep(void *ud, const json_t *obj)
{
    emit(ud, AMBD_EVENT_DELETED, obj);
}

static void list_finish(struct ambd_informer *inf, json_t *page)
{
    set_rv(inf, page);
    ambd_cache_sweep(&inf->cache, inf->mark, on_gone_during_sweep, inf);
    inf->stats.lists++;
    inf->backoff_ms = 0;
    if (!atomic_exchange(&inf->synced, 1)) {
        char n[32];
        snprintf(n, sizeof n, "%zu", ambd_cache_count(&inf->cache));
        ambd_log("informer", AMB_LOG_INFO, "cache synced", "resource", inf->plural, "objects", n,
                 NULL);
        if (inf->h.on_synced)
            inf->h.on_synced(inf->ud);
    }
    watch_begin(inf);
}

static void on_page(void *ud, int rc, long http_status, json_t *page, const char *why)
{
    struct ambd_informer *inf = ud;
    inf->call = NULL;
    if (rc != AMB_OK) {
        cancel_next(inf);
        list_fail_log(inf, http_status, why);
        /* Any failure (an expired continue token too) lists from the top. */
        free(inf->cont);
        inf->cont = NULL;
        inf->step = STEP_LIST;
        schedule_retry(inf);
        return;
    }
    const char *cont = json_string_value(json_object_get(json_object_get(page, "metadata"),
                                                         "continue"));
    free(inf->cont);
    inf->cont = cont && *cont ? strdup(cont) : NULL;
    if (inf->cont && take_next(inf))
        return;
    cancel_next(inf);
    if (inf->cont)
        list_page(inf);
    else
        list_finish(inf, json_object_get(page, "metadata") ? page : NULL);
}

static void list_page(struct ambd_informer *inf)
{
    char *query = page_query(inf, inf->cont);
    inf->step = STEP_LIST;
    inf->call = query ? inf->store->ops->list_async(inf->store->impl, &inf->opts.resource, query,
                                                    &list_handlers, inf, NULL)
                      : NULL;
    free(query);
    if (!inf->call) {
        fail_log(inf, "cannot start a list request", "out of memory");
        schedule_retry(inf);
    }
}

static void list_begin(struct ambd_informer *inf)
{
    cancel_next(inf);
    inf->mark++;
    free(inf->cont);
    inf->cont = NULL;
    list_page(inf);
}

/* ---- watch ---- */

/* A watch event's object stays unpacked in the cache (hot) for between
 * HOT_MS and twice that: its reconcile reads it without unpacking, and a
 * burst of events costs no packing on the way in. At most HOT_MAX_BYTES of
 * text is kept so (past that the oldest are packed at once), so a burst
 * over every object does not hold the whole cache unpacked. */
#define HOT_MS 1000
#define HOT_MAX_BYTES (16u * 1024 * 1024)

static void schedule_packing(struct ambd_informer *inf)
{
    struct timeval tv = {HOT_MS / 1000, (HOT_MS % 1000) * 1000};
    evtimer_add(inf->pack_timer, &tv);
}

static void on_pack_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ambd_informer *inf = arg;
    if (ambd_cache_pack_cold(&inf->cache, HOT_MS) > 0)
        schedule_packing(inf);
}

static int on_watch_event(void *ud, enum ambd_watch_type type, const char *text, size_t avail,
                          size_t *used, struct ambd_json_error *err)
{
    struct ambd_informer *inf = ud;
    struct ambd_skim sk;
    if (ambd_skim_object(text, avail, inf->opts.keep, &sk, err) != 0)
        return -1;
    *used = sk.len;
    json_t *obj = sk.obj;
    inf->watch_events++;
    if (type == AMBD_WATCH_BOOKMARK) {
        set_rv(inf, obj);
    } else if (type == AMBD_WATCH_DELETED) {
        complete_type(inf, obj, NULL);
        char *key = ambd_cache_key(obj);
        if (key)
            ambd_cache_remove(&inf->cache, key);
        free(key);
        set_rv(inf, obj);
        emit(inf, AMBD_EVENT_DELETED, obj);
    } else {
        int r = store(inf, &sk, text, 1);
        if (!evtimer_pending(inf->pack_timer, NULL))
            schedule_packing(inf);
        set_rv(inf, obj);
        if (r == 1 || r == 0)
            emit(inf, r == 1 ? AMBD_EVENT_ADDED : AMBD_EVENT_MODIFIED, obj);
    }
    json_decref(obj);
    return 0;
}

static void on_watch_end(void *ud, int rc, const char *why, long lived_ms)
{
    struct ambd_informer *inf = ud;
    inf->call = NULL;
    if (rc == AMB_EGONE) {
        inf->stats.relists_gone++;
        ambd_log("informer", AMB_LOG_INFO, "resourceVersion expired; relisting", "resource",
                 inf->plural, "reason", why, NULL);
        list_begin(inf);
        return;
    }
    if (rc == AMB_OK) {
        inf->backoff_ms = 0;
        watch_begin(inf); /* the server's timeout ended the stream */
        return;
    }
    if (inf->watch_events > 0 || lived_ms >= HEALTHY_WATCH_MS)
        inf->backoff_ms = 0;
    fail_log(inf, "watch failed", why);
    inf->step = STEP_WATCH;
    schedule_retry(inf);
}

static void watch_begin(struct ambd_informer *inf)
{
    static const struct ambd_store_watch_handlers h = {on_watch_event, on_watch_end,
                                                       on_retry_after};
    unsigned t = inf->opts.watch_timeout_s ? inf->opts.watch_timeout_s
                                           : 300 + (unsigned)(random() % 301);
    struct ambd_buf q = {0};
    char *rv = escaped(inf->rv ? inf->rv : "");
    ambd_buf_printf(&q, "watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
                    rv ? rv : "", t);
    free(rv);
    if (inf->selector)
        ambd_buf_printf(&q, "&labelSelector=%s", inf->selector);
    char *query = ambd_buf_take(&q);
    inf->step = STEP_WATCH;
    inf->stats.watches++;
    inf->watch_events = 0;
    inf->call = query ? inf->store->ops->watch_async(inf->store->impl, &inf->opts.resource,
                                                     query, t, &h, inf)
                      : NULL;
    free(query);
    if (!inf->call) {
        fail_log(inf, "cannot start a watch request", "out of memory");
        schedule_retry(inf);
    }
}

/* ---- lifecycle ---- */

struct ambd_informer *ambd_informer_new(const struct ambd_store *store, struct event_base *base,
                                        const struct ambd_informer_options *opts,
                                        const struct ambd_informer_handlers *h, void *ud)
{
    struct ambd_informer *inf = calloc(1, sizeof *inf);
    if (!inf)
        return NULL;
    inf->store = store;
    inf->base = base;
    inf->opts = *opts;
    inf->h = *h;
    inf->ud = ud;
    ambd_cache_init(&inf->cache);
    inf->cache.hot_max_bytes = HOT_MAX_BYTES;
    const struct amb_resource *r = &opts->resource;
    inf->group = strdup(r->group);
    inf->version = strdup(r->version);
    inf->kind = strdup(r->kind);
    inf->plural = strdup(r->plural);
    struct ambd_buf b = {0};
    if (r->group[0])
        ambd_buf_printf(&b, "%s/%s", r->group, r->version);
    else
        ambd_buf_puts(&b, r->version);
    inf->api_version = ambd_buf_take(&b);
    inf->selector = opts->label_selector ? escaped(opts->label_selector) : NULL;
    inf->retry = evtimer_new(base, on_retry, inf);
    inf->pack_timer = evtimer_new(base, on_pack_timer, inf);
    if (!inf->group || !inf->version || !inf->kind || !inf->plural || !inf->api_version ||
        (opts->label_selector && !inf->selector) || !inf->retry || !inf->pack_timer) {
        ambd_informer_free(inf);
        return NULL;
    }
    inf->opts.resource = (struct amb_resource){inf->group, inf->version, inf->kind, inf->plural,
                                               r->namespaced};
    inf->opts.label_selector = NULL;
    return inf;
}

void ambd_informer_start(struct ambd_informer *inf) { list_begin(inf); }

void ambd_informer_free(struct ambd_informer *inf)
{
    if (!inf)
        return;
    cancel_next(inf);
    if (inf->call)
        inf->store->ops->cancel(inf->store->impl, inf->call);
    if (inf->retry)
        event_free(inf->retry);
    if (inf->pack_timer)
        event_free(inf->pack_timer);
    ambd_cache_destroy(&inf->cache);
    free(inf->group);
    free(inf->version);
    free(inf->kind);
    free(inf->plural);
    free(inf->api_version);
    free(inf->selector);
    free(inf->rv);
    free(inf->cont);
    free(inf);
}

int ambd_informer_synced(const struct ambd_informer *inf) { return atomic_load(&inf->synced); }
struct ambd_cache *ambd_informer_cache(struct ambd_informer *inf) { return &inf->cache; }
const struct amb_resource *ambd_informer_resource(const struct ambd_informer *inf)
{
    return &inf->opts.resource;
}
struct ambd_informer_stats ambd_informer_stats(const struct ambd_informer *inf)
{
    return inf->stats;
}
