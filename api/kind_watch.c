/* kind_watch.c — the list+watch loop of one kind (kind_watch.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "api.h"
#include "kind_watch.h"

#define KIND_WATCH_BACKOFF_MAX_MS 30000
#define KIND_WATCH_MAX_KINDS 64
#define KIND_WATCH_MAX_SUBS 4
#define KIND_WATCH_RV_MAX 64

struct kind_watches;

/* The loop of one kind and its subscribers. */
struct kind_watch {
    struct kind_watches *ws;
    const struct amb_resource *res; /* the host's copy */
    const struct kind_watch_ops *ops[KIND_WATCH_MAX_SUBS];
    void *ud[KIND_WATCH_MAX_SUBS];
    size_t n_subs;
    pthread_t thread;
    int started;
    char rv[KIND_WATCH_RV_MAX]; /* where to watch from */
};

struct kind_watches {
    struct amb_ctx *ctx; /* the daemon's credentials */
    atomic_int stop;
    struct kind_watch w[KIND_WATCH_MAX_KINDS];
    size_t n;
};

static int stopping(const struct kind_watch *w) { return atomic_load(&w->ws->stop); }

/* ---- to every subscriber ---- */

static void relisting(const struct kind_watch *w)
{
    for (size_t i = 0; i < w->n_subs; i++)
        w->ops[i]->relisting(w->ud[i]);
}

static void item(const struct kind_watch *w, const json_t *obj)
{
    for (size_t i = 0; i < w->n_subs; i++)
        w->ops[i]->item(w->ud[i], obj);
}

static void listed(const struct kind_watch *w, long long listed_at)
{
    for (size_t i = 0; i < w->n_subs; i++)
        w->ops[i]->listed(w->ud[i], w->rv, listed_at);
}

static void event(const struct kind_watch *w, const char *type, const json_t *obj,
                  const char *rv)
{
    for (size_t i = 0; i < w->n_subs; i++)
        w->ops[i]->event(w->ud[i], type, obj, rv);
}

static void streaming(const struct kind_watch *w)
{
    for (size_t i = 0; i < w->n_subs; i++)
        if (w->ops[i]->streaming)
            w->ops[i]->streaming(w->ud[i]);
}

static void broken(const struct kind_watch *w)
{
    for (size_t i = 0; i < w->n_subs; i++)
        if (w->ops[i]->broken)
            w->ops[i]->broken(w->ud[i]);
}

static const char *rv_of(const json_t *obj)
{
    const char *rv = json_string_value(
        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    return rv ? rv : "";
}

static void set_rv(struct kind_watch *w, const char *rv)
{
    if (*rv && strlen(rv) < sizeof w->rv)
        snprintf(w->rv, sizeof w->rv, "%s", rv);
}

/* Every page of the list; the list's resourceVersion is where to watch
 * from. */
static int relist(struct kind_watch *w, struct amb_error *err)
{
    char cont[1024] = "", query[3200]; /* an escaped token triples at most */
    long long listed_at = (long long)time(NULL);
    relisting(w);
    do {
        if (cont[0]) {
            char *esc = evhttp_uriencode(cont, -1, 0);
            if (!esc)
                return AMB_ENOMEM;
            snprintf(query, sizeof query, "limit=500&continue=%s", esc);
            free(esc);
        } else {
            snprintf(query, sizeof query, "limit=500");
        }
        json_t *page = NULL;
        int rc = api_host->kube_list_page(w->ws->ctx, w->res, "", query, &page, err);
        if (rc != AMB_OK)
            return rc;
        size_t i;
        json_t *obj;
        json_array_foreach(json_object_get(page, "items"), i, obj)
            item(w, obj);
        const json_t *md = json_object_get(page, "metadata");
        const char *next = json_string_value(json_object_get(md, "continue"));
        snprintf(cont, sizeof cont, "%s", next && strlen(next) < sizeof cont ? next : "");
        if (!cont[0])
            set_rv(w, rv_of(page));
        json_decref(page);
    } while (cont[0] && !stopping(w));
    if (!stopping(w))
        listed(w, listed_at);
    return AMB_OK;
}

static int on_event(void *ud, const char *type, const json_t *obj)
{
    struct kind_watch *w = ud;
    if (!type) {
        streaming(w);
        return stopping(w);
    }
    const char *rv = rv_of(obj);
    set_rv(w, rv);
    event(w, type, obj, rv);
    return stopping(w);
}

/* Sleeps ms in short steps; 1 when asked to stop meanwhile. */
static int nap(const struct kind_watch *w, long ms)
{
    for (long left = ms; left > 0; left -= 100) {
        if (stopping(w))
            return 1;
        struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return stopping(w);
}

static void *watch_main(void *arg)
{
    struct kind_watch *w = arg;
    long backoff = 0;
    int have_list = 0;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)w;
    while (!stopping(w)) {
        struct amb_error *err = api_host->error_new();
        int rc = have_list ? AMB_OK : relist(w, err);
        if (rc == AMB_OK) {
            have_list = 1;
            char query[160];
            snprintf(query, sizeof query,
                     "resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=300", w->rv);
            rc = api_host->kube_watch(w->ws->ctx, w->res, "", query, on_event, w, err);
            if (rc == AMB_EGONE)
                have_list = 0; /* too old: list again */
            else if (rc == AMB_OK)
                backoff = 0;
        }
        long wait = 0; /* Kubernetes' Retry-After: never sooner than that */
        if (rc != AMB_OK && !stopping(w))
            broken(w);
        if (rc != AMB_OK && rc != AMB_EGONE && !stopping(w)) {
            json_t *why = api_host->error_to_json(err);
            api_host->log(api_self, AMB_LOG_WARN, "a watch failed", "kind", w->res->kind, "error",
                          json_string_value(json_object_get(why, "message")), NULL);
            wait = (long)json_integer_value(json_object_get(why, "retryAfterSeconds")) * 1000;
            json_decref(why);
            backoff = backoff ? backoff * 2 : 500;
            if (backoff > KIND_WATCH_BACKOFF_MAX_MS)
                backoff = KIND_WATCH_BACKOFF_MAX_MS;
            have_list = rc == AMB_EIO && have_list; /* a broken stream resumes; others relist */
        }
        api_host->error_free(err);
        long ms = backoff ? backoff / 2 + (long)(rand_r(&seed) % (unsigned)(backoff / 2 + 1)) : 0;
        if ((ms > wait ? ms : wait) > 0 && nap(w, ms > wait ? ms : wait))
            break;
    }
    return NULL;
}

struct kind_watches *kind_watches_new(void) { return calloc(1, sizeof(struct kind_watches)); }

int kind_watches_subscribe(struct kind_watches *ws, const struct amb_kind *kind,
                           const struct kind_watch_ops *ops, void *ud)
{
    struct kind_watch *w = NULL;
    for (size_t i = 0; i < ws->n && !w; i++)
        if (ws->w[i].res == &kind->resource)
            w = &ws->w[i];
    if (!w && ws->n == KIND_WATCH_MAX_KINDS)
        return AMB_ETOOLARGE;
    if (!w) {
        w = &ws->w[ws->n++];
        w->ws = ws;
        w->res = &kind->resource;
    }
    if (w->n_subs == KIND_WATCH_MAX_SUBS)
        return AMB_ETOOLARGE;
    w->ops[w->n_subs] = ops;
    w->ud[w->n_subs++] = ud;
    return AMB_OK;
}

int kind_watches_start(struct kind_watches *ws, struct amb_error *err)
{
    if (ws->n == 0)
        return AMB_OK;
    struct amb_error *why = api_host->error_new();
    int rc = why ? api_host->ctx_new(api_self, NULL, &ws->ctx, why) : AMB_ENOMEM;
    api_host->error_free(why);
    if (rc != AMB_OK) {
        api_host->log(api_self, AMB_LOG_WARN,
                      "no Kubernetes API configured: kinds are not watched (live status, "
                      "read cache)", NULL);
        return AMB_OK;
    }
    for (size_t i = 0; i < ws->n; i++) {
        struct kind_watch *w = &ws->w[i];
        if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
            return api_host->error_set(err, AMB_EINTERNAL, NULL, "cannot start the watch of %s",
                                       w->res->kind);
        w->started = 1;
    }
    return AMB_OK;
}

void kind_watches_stop(struct kind_watches *ws)
{
    if (!ws)
        return;
    atomic_store(&ws->stop, 1);
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->w[i].started)
            pthread_join(ws->w[i].thread, NULL);
        ws->w[i].started = 0;
    }
}

void kind_watches_free(struct kind_watches *ws)
{
    if (!ws)
        return;
    kind_watches_stop(ws);
    api_host->ctx_free(ws->ctx);
    free(ws);
}
