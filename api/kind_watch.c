/* kind_watch.c — the list+watch loop of one kind (kind_watch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "api.h"
#include "kind_watch.h"

#define KIND_WATCH_BACKOFF_MAX_MS 30000

static int stopping(const struct kind_watch *w) { return w->ops->stop(w->ud); }

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
    w->ops->relisting(w->ud);
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
        int rc = api_host->kube_list_page(w->ctx, w->res, "", query, &page, err);
        if (rc != AMB_OK)
            return rc;
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(page, "items"), i, item)
            w->ops->item(w->ud, item);
        const json_t *md = json_object_get(page, "metadata");
        const char *next = json_string_value(json_object_get(md, "continue"));
        snprintf(cont, sizeof cont, "%s", next && strlen(next) < sizeof cont ? next : "");
        if (!cont[0])
            set_rv(w, rv_of(page));
        json_decref(page);
    } while (cont[0] && !stopping(w));
    if (!stopping(w))
        w->ops->listed(w->ud, w->rv, listed_at);
    return AMB_OK;
}

static int on_event(void *ud, const char *type, const json_t *obj)
{
    struct kind_watch *w = ud;
    if (!type) {
        if (w->ops->streaming)
            w->ops->streaming(w->ud);
        return stopping(w);
    }
    const char *rv = rv_of(obj);
    set_rv(w, rv);
    w->ops->event(w->ud, type, obj, rv);
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
    int listed = 0;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)w;
    while (!stopping(w)) {
        struct amb_error *err = api_host->error_new();
        int rc = listed ? AMB_OK : relist(w, err);
        if (rc == AMB_OK) {
            listed = 1;
            char query[160];
            snprintf(query, sizeof query,
                     "resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=300", w->rv);
            rc = api_host->kube_watch(w->ctx, w->res, "", query, on_event, w, err);
            if (rc == AMB_EGONE)
                listed = 0; /* too old: list again */
            else if (rc == AMB_OK)
                backoff = 0;
        }
        long wait = 0; /* Kubernetes' Retry-After: never sooner than that */
        if (rc != AMB_OK && !stopping(w) && w->ops->broken)
            w->ops->broken(w->ud);
        if (rc != AMB_OK && rc != AMB_EGONE && !stopping(w)) {
            json_t *why = api_host->error_to_json(err);
            api_host->log(api_self, AMB_LOG_WARN, "a watch failed", "by", w->who, "kind",
                          w->res->kind, "error",
                          json_string_value(json_object_get(why, "message")), NULL);
            wait = (long)json_integer_value(json_object_get(why, "retryAfterSeconds")) * 1000;
            json_decref(why);
            backoff = backoff ? backoff * 2 : 500;
            if (backoff > KIND_WATCH_BACKOFF_MAX_MS)
                backoff = KIND_WATCH_BACKOFF_MAX_MS;
            listed = rc == AMB_EIO && listed; /* a broken stream resumes; others relist */
        }
        api_host->error_free(err);
        long ms = backoff ? backoff / 2 + (long)(rand_r(&seed) % (unsigned)(backoff / 2 + 1)) : 0;
        if ((ms > wait ? ms : wait) > 0 && nap(w, ms > wait ? ms : wait))
            break;
    }
    return NULL;
}

int kind_watch_start(struct kind_watch *w, struct amb_ctx *ctx, const struct amb_resource *res,
                     const struct kind_watch_ops *ops, void *ud, const char *who)
{
    w->ctx = ctx;
    w->res = res;
    w->ops = ops;
    w->ud = ud;
    w->who = who;
    w->rv[0] = '\0';
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
        return AMB_EINTERNAL;
    w->started = 1;
    return AMB_OK;
}

void kind_watch_join(struct kind_watch *w)
{
    if (w->started)
        pthread_join(w->thread, NULL);
    w->started = 0;
}
