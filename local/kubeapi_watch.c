/* kubeapi_watch.c — WATCH streams: chunked JSON lines
 * {"type","object"}, from the current state (resourceVersion unset or
 * "0": ADDED for what exists) or from the history after a resourceVersion
 * (410 Expired as an ERROR event when it is older than the history), then
 * live events as writes commit (with a selector, an object that starts or
 * stops matching comes as ADDED or DELETED); bookmarks on request;
 * timeoutSeconds.
 * Bounded: at most limits.max_watches streams; a stream whose client
 * stops reading is cut once WATCH_BACKLOG bytes wait for it, and every
 * second the slowest are cut while all answers waiting pass
 * limits.max_output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "kubeapi.h"

#define WATCH_BACKLOG (16u << 20)
#define BOOKMARK_INTERVAL_S 10
#define DEFAULT_TIMEOUT_S 1800

struct kwatch {
    struct kwatch *next;
    struct kapi *api;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    char res[200], ns[64], kind[64], api_version[200];
    struct kselector *sel;
    int bookmarks;
    time_t deadline, next_bookmark;
};

static void unlink_watch(struct kwatch *w)
{
    for (struct kwatch **p = &w->api->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            w->api->nwatches--;
            break;
        }
    kapi_selector_free(w->sel);
    free(w);
}

/* The client went away: evhttp has let go of the request, which is ours
 * to end (evhttp_send_reply_end frees a request without a connection). */
static void on_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct kwatch *w = arg;
    evhttp_send_reply_end(w->req);
    unlink_watch(w);
}

/* Ends the stream normally; the connection stays usable. */
static void end_watch(struct kwatch *w)
{
    evhttp_connection_set_closecb(w->conn, NULL, NULL);
    evhttp_connection_set_timeout(w->conn, (int)w->api->lim.idle_timeout_s);
    evhttp_send_reply_end(w->req);
    unlink_watch(w);
}

/* Cuts a stream its client does not read. */
static void cut_watch(struct kwatch *w)
{
    struct evhttp_connection *conn = w->conn;
    evhttp_connection_set_closecb(conn, NULL, NULL);
    unlink_watch(w);
    evhttp_connection_free(conn);
}

static size_t backlog(const struct kwatch *w)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(w->conn);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* While the answers waiting for clients pass limits.max_output, the watch
 * with the most waiting is cut: many slow watches cost what one may. */
static void shed_slow_watches(struct kapi *api)
{
    size_t waiting = kapi_conns_waiting(api);
    while (waiting > api->lim.max_output && api->watches) {
        struct kwatch *worst = api->watches;
        for (struct kwatch *w = worst->next; w; w = w->next)
            if (backlog(w) > backlog(worst))
                worst = w;
        size_t freed = backlog(worst);
        if (freed == 0)
            return; /* the rest waits on answers, not watches */
        cut_watch(worst);
        waiting = waiting > freed ? waiting - freed : 0;
    }
}

/* Sends one line; 0, or -1 when the watch was cut. */
static int send_line(struct kwatch *w, const char *type, const char *object_text)
{
    if (backlog(w) > WATCH_BACKLOG) {
        cut_watch(w);
        return -1;
    }
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        return 0;
    evbuffer_add_printf(buf, "{\"type\":\"%s\",\"object\":%s}\n", type, object_text);
    evhttp_send_reply_chunk(w->req, buf);
    evbuffer_free(buf);
    return 0;
}

/* The type a watch with a selector sees: a change that makes an object
 * match is ADDED, one that makes it stop matching is DELETED; NULL: the
 * watch does not see it. Without the previous state (history replay), a
 * change is seen when the object matches now. */
static const char *seen_as(const struct kwatch *w, const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    int now = kapi_selector_match(w->sel, json_object_get(ev, "object"));
    const json_t *prev = json_object_get(ev, "prev");
    if (strcmp(type, "MODIFIED") || !prev || kapi_selector_empty(w->sel))
        return now ? type : NULL;
    int before = kapi_selector_match(w->sel, prev);
    return now && before ? "MODIFIED" : now ? "ADDED" : before ? "DELETED" : NULL;
}

static int send_event(struct kwatch *w, const json_t *ev, const char **text_cache, char **owned)
{
    const char *res = json_string_value(json_object_get(ev, "res"));
    const char *ns = json_string_value(json_object_get(ev, "ns"));
    const char *type = NULL;
    if (strcmp(res, w->res) || (w->ns[0] && strcmp(ns, w->ns)) || !(type = seen_as(w, ev)))
        return 0;
    if (!*text_cache) {
        *owned = json_dumps(json_object_get(ev, "object"), JSON_COMPACT);
        *text_cache = *owned;
        if (!*owned)
            return 0;
    }
    return send_line(w, type, *text_cache);
}

void kapi_watch_notify(struct kapi *api, const json_t *event)
{
    const char *text = NULL;
    char *owned = NULL;
    for (struct kwatch *w = api->watches, *next; w; w = next) {
        next = w->next;
        send_event(w, event, &text, &owned);
    }
    free(owned);
}

static void send_bookmark(struct kwatch *w)
{
    char obj[512];
    snprintf(obj, sizeof obj,
             "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":\"%lld\"}}",
             w->kind, w->api_version, (long long)kstore_rv(w->api->store));
    send_line(w, "BOOKMARK", obj);
}

void kapi_watch_tick(struct kapi *api)
{
    shed_slow_watches(api);
    time_t now = time(NULL);
    for (struct kwatch *w = api->watches, *next; w; w = next) {
        next = w->next;
        if (now >= w->deadline) {
            if (w->bookmarks)
                send_bookmark(w);
            end_watch(w);
        } else if (w->bookmarks && now >= w->next_bookmark) {
            w->next_bookmark = now + BOOKMARK_INTERVAL_S;
            send_bookmark(w);
        }
    }
}

void kapi_watch_end_all(struct kapi *api)
{
    while (api->watches)
        end_watch(api->watches);
}

static int initial(const char *res, const char *ns, const char *name, const char *body, void *arg)
{
    (void)res, (void)ns, (void)name;
    struct kwatch *w = arg;
    if (kapi_selector_empty(w->sel))
        return send_line(w, "ADDED", body);
    json_t *obj = json_loads(body, 0, NULL);
    int match = obj && kapi_selector_match(w->sel, obj);
    json_decref(obj);
    return match ? send_line(w, "ADDED", body) : 0;
}

static int replay(const char *res, const char *ns, const char *name, const char *body, void *arg)
{
    (void)res, (void)ns, (void)name;
    json_t *ev = json_loads(body, 0, NULL);
    const char *text = NULL;
    char *owned = NULL;
    int rc = ev ? send_event(arg, ev, &text, &owned) : 0;
    free(owned);
    json_decref(ev);
    return rc;
}

static void start_stream(struct kreq *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-cache, private");
    evhttp_send_reply_start(r->ev, 200, "OK");
}

static void expired(struct kreq *r, long long rv)
{
    char obj[512];
    snprintf(obj, sizeof obj,
             "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
             "\"message\":\"too old resource version: %lld (%lld)\",\"reason\":\"Expired\","
             "\"code\":410}",
             rv, (long long)kstore_floor(r->api->store) + 1);
    start_stream(r);
    struct evbuffer *buf = evbuffer_new();
    if (buf) {
        evbuffer_add_printf(buf, "{\"type\":\"ERROR\",\"object\":%s}\n", obj);
        evhttp_send_reply_chunk(r->ev, buf);
        evbuffer_free(buf);
    }
    evhttp_send_reply_end(r->ev);
}

void kapi_watch(struct kreq *r)
{
    struct kapi *api = r->api;
    if (kapi_query(r, "sendInitialEvents")) {
        kapi_fail(r, 422, "Invalid",
                  "sendInitialEvents is forbidden for watch unless the WatchList feature gate "
                  "is enabled");
        return;
    }
    if (kapi_conns_backlogged(r))
        return;
    if (api->nwatches >= api->lim.max_watches) {
        kapi_fail(r, 429, "TooManyRequests", "too many open watches (%zu); try again later",
                  api->lim.max_watches);
        return;
    }
    const char *rv_q = kapi_query(r, "resourceVersion"), *to_q = kapi_query(r, "timeoutSeconds");
    long long rv = 0;
    if (rv_q && *rv_q) {
        char *end = NULL;
        rv = strtoll(rv_q, &end, 10);
        if (!end || *end || rv < 0) {
            kapi_fail(r, 400, "BadRequest", "resourceVersion: Invalid value: \"%s\"", rv_q);
            return;
        }
    }
    long timeout = DEFAULT_TIMEOUT_S;
    if (to_q) {
        char *end = NULL;
        timeout = strtol(to_q, &end, 10);
        if (!end || *end || timeout < 0 || timeout > 24 * 3600) {
            kapi_fail(r, 400, "BadRequest", "timeoutSeconds: Invalid value: \"%s\"", to_q);
            return;
        }
    }
    const char *problem = NULL;
    struct kselector *sel = kapi_selector_parse(kapi_query(r, "labelSelector"),
                                                kapi_query(r, "fieldSelector"), &problem);
    if (!sel) {
        kapi_fail(r, 400, "BadRequest", "%s", problem);
        return;
    }
    if (rv > kstore_rv(api->store)) {
        /* A resourceVersion this store has not reached (another store's,
         * or one restored from an older copy): resuming from it would skip
         * events, so the client must list again. */
        kapi_selector_free(sel);
        kapi_fail(r, 504, "Timeout", "Too large resource version: %lld, current: %lld", rv,
                  (long long)kstore_rv(api->store));
        return;
    }
    if (rv > 0 && rv < kstore_floor(api->store)) {
        kapi_selector_free(sel);
        expired(r, rv);
        return;
    }
    struct kwatch *w = calloc(1, sizeof *w);
    if (!w) {
        kapi_selector_free(sel);
        evhttp_send_error(r->ev, 500, "out of memory");
        return;
    }
    w->api = api;
    w->req = r->ev;
    w->conn = evhttp_request_get_connection(r->ev);
    w->sel = sel;
    snprintf(w->res, sizeof w->res, "%s", r->t->res);
    snprintf(w->ns, sizeof w->ns, "%s", r->t->namespaced ? r->ns : "");
    snprintf(w->kind, sizeof w->kind, "%s", r->t->kind);
    snprintf(w->api_version, sizeof w->api_version, "%s%s%s", r->t->group,
             r->t->group[0] ? "/" : "", r->t->version);
    const char *bm = kapi_query(r, "allowWatchBookmarks");
    w->bookmarks = bm && (!strcmp(bm, "true") || !strcmp(bm, "1"));
    w->deadline = time(NULL) + timeout;
    w->next_bookmark = time(NULL) + BOOKMARK_INTERVAL_S;
    w->next = api->watches;
    api->watches = w;
    api->nwatches++;
    /* The stream outlives the idle timeout; the watch's own deadline ends it. */
    evhttp_connection_set_timeout(w->conn, (int)timeout + 60);
    evhttp_connection_set_closecb(w->conn, on_close, w);
    start_stream(r);
    int rc = rv == 0 ? kstore_scan(api->store, w->res, w->ns[0] ? w->ns : NULL, NULL, NULL,
                                   initial, w)
                     : kstore_events_after(api->store, rv, replay, w);
    (void)rc; /* a failed read leaves the stream live; the client resumes */
}
