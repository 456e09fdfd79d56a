/* informer.c — list-then-watch state machine (see informer-internal.h).
 *
 *   list_page ... list_page -> sweep (deletions) -> watch -> watch ...
 *        ^                                            |
 *        +------------ 410 / expired continue -------+
 * Errors wait a jittered, doubling delay (0.8 s .. 30 s) and retry the step
 * that failed; a watch that ends normally is re-opened at once, and one that
 * breaks after a healthy run starts the delay afresh. */
#include "informer-internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "log-internal.h"

#define DEFAULT_PAGE 500
#define DEFAULT_MAX_EVENT (16u * 1024 * 1024)
#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000

enum step { STEP_IDLE, STEP_LIST, STEP_WATCH };

struct ambd_informer {
    struct ambd_kube_loop *loop;
    struct event_base *base;
    struct ambd_informer_options opts;
    char *group, *version, *kind, *plural, *selector, *api_version;
    struct ambd_informer_handlers h;
    void *ud;

    struct ambd_cache cache;
    atomic_int synced;
    unsigned mark;     /* stamps entries seen by the current list */
    char *rv;          /* where the next watch starts */
    char *cont;        /* continue token of the list in progress */
    enum step step;
    struct ambd_kube_call *call;
    struct ambd_buf body;  /* list page, or the partial watch line */
    int stream_failed;     /* the watch stream broke (bad line, ERROR event) */
    int need_relist;       /* 410 seen */
    unsigned long watch_events;      /* events of the current watch stream */
    struct timespec watch_started;   /* CLOCK_MONOTONIC */
    unsigned backoff_ms;
    struct event *retry;
    struct ambd_informer_stats stats;
};

static void list_begin(struct ambd_informer *inf);
static void list_page(struct ambd_informer *inf);
static void watch_begin(struct ambd_informer *inf);

static const char *res_label(const struct ambd_informer *inf) { return inf->plural; }

static void fail_log(struct ambd_informer *inf, const char *what, const char *why)
{
    inf->stats.errors++;
    ambd_log("informer", AMB_LOG_WARN, what, "resource", res_label(inf), "error", why, NULL);
}

/* Waits before retrying the current step: doubling, with jitter in
 * [50%, 100%] so replicas don't retry in lockstep. */
static void schedule_retry(struct ambd_informer *inf)
{
    unsigned next = inf->backoff_ms ? inf->backoff_ms * 2 : BACKOFF_MIN_MS;
    inf->backoff_ms = next > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : next;
    unsigned ms = inf->backoff_ms / 2 + (unsigned)(random() % (inf->backoff_ms / 2 + 1));
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(inf->retry, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ambd_informer *inf = arg;
    if (inf->step == STEP_WATCH && !inf->need_relist && inf->rv)
        watch_begin(inf);
    else
        list_begin(inf);
}

/* List items and watch objects of built-in kinds may lack apiVersion/kind:
 * fill them in so cached objects all look alike. */
static void complete_type(struct ambd_informer *inf, json_t *obj)
{
    if (!json_object_get(obj, "apiVersion"))
        json_object_set_new(obj, "apiVersion", json_string(inf->api_version));
    if (!json_object_get(obj, "kind"))
        json_object_set_new(obj, "kind", json_string(inf->kind));
}

static void emit(struct ambd_informer *inf, enum ambd_event_type type, const json_t *obj)
{
    if (inf->h.on_event)
        inf->h.on_event(inf->ud, type, obj);
}

static void set_rv(struct ambd_informer *inf, const char *rv)
{
    if (!rv || !*rv)
        return;
    char *copy = strdup(rv);
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

static int start_call(struct ambd_informer *inf, const char *verb, const char *query,
                      long timeout_ms, const struct ambd_kube_call_handlers *h)
{
    char *path = ambd_kube_path(&inf->opts.resource, NULL, NULL, NULL);
    struct ambd_kube_request req = {.method = "GET", .path = path, .query = query, .verb = verb};
    inf->call = path ? ambd_kube_call_start(inf->loop, &req, timeout_ms, h, inf) : NULL;
    free(path);
    return inf->call ? 0 : -1;
}

/* ---- list ---- */

static int on_list_data(void *ud, const char *data, size_t len)
{
    struct ambd_informer *inf = ud;
    if (inf->body.len + len > AMBD_KUBE_MAX_BODY)
        return -1;
    ambd_buf_append(&inf->body, data, len);
    return inf->body.failed ? -1 : 0;
}

static void on_gone_during_sweep(void *ud, const json_t *obj)
{
    emit(ud, AMBD_EVENT_DELETED, obj);
}

static void list_finish(struct ambd_informer *inf, json_t *page)
{
    set_rv(inf, json_string_value(json_object_get(json_object_get(page, "metadata"),
                                                  "resourceVersion")));
    ambd_cache_sweep(&inf->cache, inf->mark, on_gone_during_sweep, inf);
    inf->stats.lists++;
    inf->backoff_ms = 0;
    inf->need_relist = 0;
    if (!atomic_exchange(&inf->synced, 1)) {
        char n[32];
        snprintf(n, sizeof n, "%zu", ambd_cache_count(&inf->cache));
        ambd_log("informer", AMB_LOG_INFO, "cache synced", "resource", res_label(inf), "objects",
                 n, NULL);
        if (inf->h.on_synced)
            inf->h.on_synced(inf->ud);
    }
    watch_begin(inf);
}

static void on_list_done(void *ud, long status, int rc, const char *error)
{
    struct ambd_informer *inf = ud;
    inf->call = NULL;
    char *text = ambd_buf_take(&inf->body);
    size_t len = text ? strlen(text) : 0;
    if (rc != AMB_OK || status != 200) {
        struct amb_error err = AMBD_ERROR_INIT;
        if (rc == AMB_OK)
            ambd_kube_status_error(status, text, len, &err);
        else
            ambd_error_set(&err, rc, NULL, "%s", error ? error : "transfer failed");
        char *line = ambd_error_line(&err);
        fail_log(inf, "list failed", line ? line : "?");
        free(line);
        ambd_error_clear(&err);
        free(text);
        /* An expired continue token restarts the list from the top. */
        free(inf->cont);
        inf->cont = NULL;
        inf->step = STEP_LIST;
        schedule_retry(inf);
        return;
    }
    json_error_t jerr;
    json_t *page = json_loadb(text ? text : "", len, 0, &jerr);
    free(text);
    json_t *items = json_object_get(page, "items");
    if (!json_is_array(items)) {
        fail_log(inf, "list answer is not a list", jerr.text);
        json_decref(page);
        inf->step = STEP_LIST;
        schedule_retry(inf);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        complete_type(inf, item);
        int r = ambd_cache_upsert(&inf->cache, item, inf->mark);
        if (r == 1)
            emit(inf, AMBD_EVENT_ADDED, item);
        else if (r == 0)
            emit(inf, AMBD_EVENT_MODIFIED, item);
    }
    const char *cont = json_string_value(json_object_get(json_object_get(page, "metadata"),
                                                         "continue"));
    free(inf->cont);
    inf->cont = cont && *cont ? strdup(cont) : NULL;
    if (inf->cont)
        list_page(inf);
    else
        list_finish(inf, page);
    json_decref(page);
}

static void list_page(struct ambd_informer *inf)
{
    static const struct ambd_kube_call_handlers h = {on_list_data, on_list_done};
    struct ambd_buf q = {0};
    ambd_buf_printf(&q, "limit=%u", inf->opts.page_size ? inf->opts.page_size : DEFAULT_PAGE);
    if (inf->selector)
        ambd_buf_printf(&q, "&labelSelector=%s", inf->selector);
    if (inf->cont) {
        char *c = escaped(inf->cont);
        ambd_buf_printf(&q, "&continue=%s", c ? c : "");
        free(c);
    }
    char *query = ambd_buf_take(&q);
    inf->step = STEP_LIST;
    ambd_buf_release(&inf->body);
    if (!query || start_call(inf, "LIST", query, 120000, &h) != 0) {
        fail_log(inf, "cannot start a list request", "out of memory");
        schedule_retry(inf);
    }
    free(query);
}

static void list_begin(struct ambd_informer *inf)
{
    inf->mark++;
    free(inf->cont);
    inf->cont = NULL;
    list_page(inf);
}

/* ---- watch ---- */

static void handle_event(struct ambd_informer *inf, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        inf->stream_failed = 1;
        fail_log(inf, "malformed watch event", "no type or object");
        return;
    }
    const char *rv = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (strcmp(type, "ERROR") != 0)
        inf->watch_events++;
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        complete_type(inf, obj);
        int r = ambd_cache_upsert(&inf->cache, obj, inf->mark);
        set_rv(inf, rv);
        if (r == 1 || r == 0)
            emit(inf, r == 1 ? AMBD_EVENT_ADDED : AMBD_EVENT_MODIFIED, obj);
    } else if (strcmp(type, "DELETED") == 0) {
        complete_type(inf, obj);
        char *key = ambd_cache_key(obj);
        json_decref(key ? ambd_cache_remove(&inf->cache, key) : NULL);
        free(key);
        set_rv(inf, rv);
        emit(inf, AMBD_EVENT_DELETED, obj);
    } else if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(inf, rv);
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *msg = json_string_value(json_object_get(obj, "message"));
        inf->stream_failed = 1;
        if (code == 410) {
            inf->need_relist = 1;
            inf->stats.relists_gone++;
            ambd_log("informer", AMB_LOG_INFO, "resourceVersion expired; relisting", "resource",
                     res_label(inf), "reason", msg ? msg : "410", NULL);
        } else {
            fail_log(inf, "watch error event", msg ? msg : "unknown");
        }
    } else {
        inf->stream_failed = 1;
        fail_log(inf, "unknown watch event type", type);
    }
}

/* Splits the stream into lines (one JSON event each) without buffering more
 * than one event. */
static int on_watch_data(void *ud, const char *data, size_t len)
{
    struct ambd_informer *inf = ud;
    size_t max = inf->opts.max_event_bytes ? inf->opts.max_event_bytes : DEFAULT_MAX_EVENT;
    while (len > 0 && !inf->stream_failed) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (inf->body.len + take > max) {
            fail_log(inf, "watch event too large; reconnecting", "line longer than the limit");
            inf->stream_failed = 1;
            break;
        }
        ambd_buf_append(&inf->body, data, take);
        if (nl) {
            if (inf->body.len > 0) {
                json_error_t jerr;
                json_t *ev = json_loadb(inf->body.data, inf->body.len, 0, &jerr);
                if (ev)
                    handle_event(inf, ev);
                else {
                    inf->stream_failed = 1;
                    fail_log(inf, "watch event is not JSON", jerr.text);
                }
                json_decref(ev);
            }
            ambd_buf_release(&inf->body);
            take++;
        }
        data += take;
        len -= take;
    }
    return inf->stream_failed ? -1 : 0;
}

static void on_watch_done(void *ud, long status, int rc, const char *error)
{
    struct ambd_informer *inf = ud;
    inf->call = NULL;
    ambd_buf_release(&inf->body);
    int failed = inf->stream_failed;
    inf->stream_failed = 0;
    if (inf->need_relist || status == 410) {
        if (status == 410 && !inf->need_relist)
            inf->stats.relists_gone++;
        list_begin(inf);
        return;
    }
    if (!failed && rc == AMB_OK && status == 200) {
        inf->backoff_ms = 0;
        watch_begin(inf); /* the server's timeout ended the stream */
        return;
    }
    /* A stream the server accepted that lived (delivered events or lasted a
     * second: client-go's "very short watch" rule) was healthy; its loss
     * starts the backoff afresh rather than growing it toward 30 s. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long lived_ms = (long)(now.tv_sec - inf->watch_started.tv_sec) * 1000 +
                    (now.tv_nsec - inf->watch_started.tv_nsec) / 1000000;
    if (status == 200 && (inf->watch_events > 0 || lived_ms >= 1000))
        inf->backoff_ms = 0;
    if (!failed) {
        char why[256];
        if (rc != AMB_OK)
            snprintf(why, sizeof why, "%s", error ? error : "transfer failed");
        else
            snprintf(why, sizeof why, "HTTP %ld", status);
        fail_log(inf, "watch failed", why);
    }
    schedule_retry(inf);
}

static void watch_begin(struct ambd_informer *inf)
{
    static const struct ambd_kube_call_handlers h = {on_watch_data, on_watch_done};
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
    ambd_buf_release(&inf->body);
    inf->stats.watches++;
    inf->watch_events = 0;
    clock_gettime(CLOCK_MONOTONIC, &inf->watch_started);
    /* The transfer limit is a little past the server's own timeout, so a
     * silently dead connection is noticed. */
    if (!query || start_call(inf, "WATCH", query, (long)(t + 30) * 1000, &h) != 0) {
        fail_log(inf, "cannot start a watch request", "out of memory");
        schedule_retry(inf);
    }
    free(query);
}

/* ---- lifecycle ---- */

struct ambd_informer *ambd_informer_new(struct ambd_kube_loop *loop, struct event_base *base,
                                        const struct ambd_informer_options *opts,
                                        const struct ambd_informer_handlers *h, void *ud)
{
    struct ambd_informer *inf = calloc(1, sizeof *inf);
    if (!inf)
        return NULL;
    inf->loop = loop;
    inf->base = base;
    inf->opts = *opts;
    inf->h = *h;
    inf->ud = ud;
    ambd_cache_init(&inf->cache);
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
    if (!inf->group || !inf->version || !inf->kind || !inf->plural || !inf->api_version ||
        (opts->label_selector && !inf->selector) || !inf->retry) {
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
    ambd_kube_call_cancel(inf->call);
    if (inf->retry)
        event_free(inf->retry);
    ambd_cache_destroy(&inf->cache);
    ambd_buf_release(&inf->body);
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
