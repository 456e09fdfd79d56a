/* kube_watch.c — a watch as one blocking call, for a plugin's own thread
 * (host->kube_watch). The stream is split into lines as it arrives, so at
 * most one event is in memory; while the stream is idle the caller is
 * called about twice a second with no event, so it can end the watch. An
 * ERROR event that says 410 becomes AMB_EGONE: the caller relists. A watch
 * request the server throttles (Retry-After) is made again after that wait,
 * inside the call, with the ticks going on meanwhile: this is the plugin's
 * own thread, and no other work waits on it. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "kube-internal.h"
#include "kube-record-internal.h"

#define MAX_EVENT (16u * 1024 * 1024)
#define MAX_ERROR_BODY (64u * 1024)
#define TICK_MS 500
/* Throttled answers waited out inside one call; the next is returned. */
#define MAX_THROTTLED 3

struct watch {
    CURL *h;
    ambd_kube_watch_fn on_event;
    void *ud;
    struct ambd_buf line;   /* the partial event line */
    struct ambd_buf error;  /* the body of a non-200 answer */
    long status;
    int stopped;            /* the caller said stop */
    int rc;                 /* set by the stream itself (ERROR event, bad line) */
    struct amb_error *err;
    struct timespec last_tick;
};

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* One complete line: {"type": ..., "object": ...}. Returns 0 to go on. */
static int deliver(struct watch *w, const char *text, size_t len)
{
    while (len && (text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    if (!len)
        return 0;
    json_error_t jerr;
    json_t *ev = json_loadb(text, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        w->rc = ambd_error_set(w->err, AMB_EIO, NULL, "watch: an event is not {type, object}");
        json_decref(ev);
        return 1;
    }
    if (!strcmp(type, "ERROR")) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *msg = json_string_value(json_object_get(obj, "message"));
        w->rc = ambd_error_set(w->err, code == 410 ? AMB_EGONE : AMB_EIO, NULL, "watch: %s",
                               msg ? msg : "an ERROR event");
        json_decref(ev);
        return 1;
    }
    int stop = w->on_event(w->ud, type, obj);
    json_decref(ev);
    clock_gettime(CLOCK_MONOTONIC, &w->last_tick);
    if (stop)
        w->stopped = 1;
    return stop;
}

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
    struct watch *w = ud;
    size_t len = size * n;
    if (!w->status)
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->status);
    if (w->status != 200) {
        if (w->error.len + len <= MAX_ERROR_BODY)
            ambd_buf_append(&w->error, data, len);
        return len;
    }
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t chunk = (size_t)((nl ? nl : end) - p);
        if (w->line.len + chunk > MAX_EVENT) {
            w->rc = ambd_error_set(w->err, AMB_ETOOLARGE, NULL,
                                   "watch: an event is larger than %u bytes", MAX_EVENT);
            return 0;
        }
        ambd_buf_append(&w->line, p, chunk);
        if (w->line.failed) {
            w->rc = ambd_error_set(w->err, AMB_ENOMEM, NULL, NULL);
            return 0;
        }
        if (!nl)
            break;
        int stop = deliver(w, w->line.data ? w->line.data : "", w->line.len);
        w->line.len = 0;
        if (stop)
            return 0;
        p = nl + 1;
    }
    return len;
}

/* libcurl calls this often while a transfer is idle: the caller's tick. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    struct watch *w = ud;
    if (ms_since(&w->last_tick) < TICK_MS)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &w->last_tick);
    if (w->on_event(w->ud, NULL, NULL)) {
        w->stopped = 1;
        return 1; /* aborts the transfer */
    }
    return 0;
}

/* One watch request and its stream. */
static int watch_once(struct ambd_kube *k, const char *path, const char *query,
                      const char *user_token, ambd_kube_watch_fn on_event, void *ud,
                      struct amb_error *err)
{
    struct watch w = {.on_event = on_event, .ud = ud, .err = err};
    struct ambd_buf url = {0};
    ambd_buf_printf(&url, "%s%s?watch=1%s%s", ambd_kube_server(k), path, query ? "&" : "",
                    query ? query : "");
    char *u = ambd_buf_take(&url);
    ambd_kube_record("GET", path, "watch=1", user_token);
    struct curl_slist *headers = ambd_kube_headers(k, user_token, NULL);
    w.h = curl_easy_init();
    int rc = AMB_OK;
    if (!u || !headers || !w.h) {
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &w.last_tick);
    ambd_kube_setup_handle(k, w.h);
    curl_easy_setopt(w.h, CURLOPT_URL, u);
    curl_easy_setopt(w.h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(w.h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(w.h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(w.h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(w.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(w.h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(w.h, CURLOPT_XFERINFODATA, &w);
    CURLcode cc = curl_easy_perform(w.h);
    ambd_kube_observe(k, "WATCH", w.status, ambd_kube_retry_after_of(w.h));
    if (w.rc != AMB_OK)
        rc = w.rc;
    else if (w.stopped)
        rc = AMB_OK;
    else if (cc != CURLE_OK)
        rc = ambd_error_set(err, AMB_EIO, NULL, "watch %s: %s", path, curl_easy_strerror(cc));
    else if (w.status != 200)
        rc = ambd_kube_status_error(w.status, w.error.data ? w.error.data : "", w.error.len,
                                    ambd_kube_retry_after_of(w.h), err);
out:
    ambd_buf_release(&w.line);
    ambd_buf_release(&w.error);
    curl_slist_free_all(headers);
    if (w.h)
        curl_easy_cleanup(w.h);
    free(u);
    return rc;
}

/* Waits seconds, ticking the caller every TICK_MS; 1 if it said stop. */
static int wait_ticking(ambd_kube_watch_fn on_event, void *ud, unsigned seconds)
{
    for (long left = (long)seconds * 1000; left > 0; left -= TICK_MS) {
        long ms = left < TICK_MS ? left : TICK_MS;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (on_event(ud, NULL, NULL))
            return 1;
    }
    return 0;
}

int ambd_kube_watch(struct ambd_kube *k, const char *path, const char *query,
                    const char *user_token, ambd_kube_watch_fn on_event, void *ud,
                    struct amb_error *err)
{
    for (unsigned throttled = 0;; throttled++) {
        struct amb_error once = AMBD_ERROR_INIT;
        int rc = watch_once(k, path, query, user_token, on_event, ud, &once);
        unsigned wait = rc == AMB_OK ? 0 : once.retry_after_s;
        if (wait && throttled < MAX_THROTTLED) {
            ambd_error_clear(&once);
            if (wait_ticking(on_event, ud, wait))
                return AMB_OK;
            continue;
        }
        if (rc != AMB_OK)
            ambd_error_wrap(err, rc, &once);
        ambd_error_clear(&once);
        return rc;
    }
}
