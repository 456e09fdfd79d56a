/* events.c — every event of the session, to the live service. The agent
 * never waits for the network: events are scrubbed of secrets, shrunk to
 * fit, and queued; one sender thread posts them in NDJSON batches (POST
 * .../agentic-sessions/NAME/events), retrying with backoff while the
 * service is down. The queue is bounded in bytes and count; what does not
 * fit is counted, and the count is posted as its own event once there is
 * room again. Without an api URL, events are written to stdout instead. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "kube-internal.h"
#include "log-internal.h"
#include "runner.h"

#define MAX_QUEUED_BYTES (64u * 1024 * 1024)
#define MAX_QUEUED_EVENTS 100000u
#define MAX_BATCH_BYTES (1024u * 1024 - 1024) /* the service's default POST bound */
#define MAX_BATCH_EVENTS 500u
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define POST_TIMEOUT_MS 15000L

struct queued {
    struct queued *next;
    size_t len;
    char line[]; /* compact JSON, then '\n' */
};

struct runner_events {
    struct ambd_kube *kube; /* our token (re-read when it rotates) */
    char *url;              /* NULL: stdout */
    char *ca_file;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the sender: work, or stop */
    struct queued *head, *tail;
    size_t n, bytes;
    size_t dropped;         /* not queued (backlog full, or refused) since the last note */
    size_t dropped_total;
    long long give_up_at;   /* finish: the sender stops trying after this (ms) */
    int refused;            /* the service answered 403/404: nothing is sent any more */
    int stop;
    int have_thread;
    pthread_t thread;
};

/* ---- scrubbing and fitting ---- */

/* x scrubbed of secrets as a new string value, or NULL when it has none
 * (or is not a string). */
static json_t *scrubbed(const json_t *x)
{
    if (!json_is_string(x))
        return NULL;
    char *clean = runner_scrub(json_string_value(x));
    json_t *out = clean && strcmp(clean, json_string_value(x)) != 0 ? json_string(clean) : NULL;
    free(clean);
    return out;
}

static void scrub(json_t *v)
{
    size_t i;
    const char *k;
    json_t *x, *clean;
    json_object_foreach(v, k, x)
    {
        if ((clean = scrubbed(x)))
            json_object_set_new(v, k, clean);
        else
            scrub(x);
    }
    json_array_foreach(v, i, x)
    {
        if ((clean = scrubbed(x)))
            json_array_set_new(v, i, clean);
        else
            scrub(x);
    }
}

/* Cuts every string longer than limit to limit bytes (on a UTF-8 boundary)
 * plus a marker; returns how many were cut. */
static size_t cut_strings(json_t *v, size_t limit)
{
    size_t cut = 0, i;
    const char *k;
    json_t *x;
    void *tmp;
    if (json_is_object(v)) {
        json_object_foreach_safe(v, tmp, k, x)
        {
            if (json_is_string(x) && json_string_length(x) > limit) {
                size_t n = limit;
                const char *s = json_string_value(x);
                while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
                    n--;
                char marker[64];
                snprintf(marker, sizeof marker, "…[%zu bytes cut]", json_string_length(x) - n);
                struct ambd_buf b = {0};
                ambd_buf_append(&b, s, n);
                ambd_buf_puts(&b, marker);
                char *t = ambd_buf_take(&b);
                if (t)
                    json_object_set_new(v, k, json_string(t));
                free(t);
                cut++;
            } else {
                cut += cut_strings(x, limit);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (json_is_string(x) && json_string_length(x) > limit) {
                json_t *o = json_pack("{s:O}", "v", x);
                if (o && cut_strings(o, limit))
                    json_array_set(v, i, json_object_get(o, "v"));
                json_decref(o);
                cut++;
            } else {
                cut += cut_strings(x, limit);
            }
        }
    }
    return cut;
}

char *runner_event_fit(json_t *ev, size_t max)
{
    char *s = json_dumps(ev, JSON_COMPACT);
    size_t original = s ? strlen(s) : 0;
    for (size_t limit = max / 2; s && strlen(s) > max && limit >= 256; limit /= 4) {
        free(s);
        s = NULL;
        if (cut_strings(ev, limit) == 0)
            break;
        s = json_dumps(ev, JSON_COMPACT);
    }
    if (s && strlen(s) <= max)
        return s;
    free(s);
    /* Structure, not text, is what is big: keep only what the event was. */
    json_t *stub = json_pack("{s:s, s:b, s:I}", "type",
                             json_is_string(json_object_get(ev, "type"))
                                 ? json_string_value(json_object_get(ev, "type"))
                                 : "unknown",
                             "truncated", 1, "bytes", (json_int_t)original);
    s = stub ? json_dumps(stub, JSON_COMPACT) : NULL;
    json_decref(stub);
    return s;
}

/* ---- the queue ---- */

static int enqueue_locked(struct runner_events *ev, const char *line, size_t len)
{
    if (ev->n >= MAX_QUEUED_EVENTS || ev->bytes + len + 1 > MAX_QUEUED_BYTES)
        return -1;
    struct queued *q = malloc(sizeof *q + len + 1);
    if (!q)
        return -1;
    q->next = NULL;
    q->len = len + 1;
    memcpy(q->line, line, len);
    q->line[len] = '\n';
    if (ev->tail)
        ev->tail->next = q;
    else
        ev->head = q;
    ev->tail = q;
    ev->n++;
    ev->bytes += q->len;
    return 0;
}

static void count_dropped_locked(struct runner_events *ev)
{
    ev->dropped++;
    ev->dropped_total++;
}

/* After a drop, the first event that fits is preceded by a note of how many
 * were lost, so a reader of the log knows there is a gap. */
static void note_drops_locked(struct runner_events *ev)
{
    if (!ev->dropped || ev->refused)
        return;
    char line[160];
    int n = snprintf(line, sizeof line,
                     "{\"type\":\"runner\",\"subtype\":\"events_dropped\",\"message\":"
                     "\"%zu events were not kept: the backlog was full\",\"count\":%zu}",
                     ev->dropped, ev->dropped);
    if (enqueue_locked(ev, line, (size_t)n) == 0)
        ev->dropped = 0;
}

void runner_events_post(struct runner_events *ev, json_t *event)
{
    if (!ev || !event) {
        json_decref(event);
        return;
    }
    scrub(event);
    char *line = runner_event_fit(event, RUNNER_MAX_EVENT);
    json_decref(event);
    if (!ev->url) {
        if (line) {
            printf("%s\n", line);
            fflush(stdout);
        }
        free(line);
        return;
    }
    pthread_mutex_lock(&ev->lock);
    note_drops_locked(ev);
    if (!line || ev->refused || ev->dropped || enqueue_locked(ev, line, strlen(line)) != 0)
        count_dropped_locked(ev);
    pthread_cond_signal(&ev->wake);
    pthread_mutex_unlock(&ev->lock);
    free(line);
}

void runner_events_note(struct runner_events *ev, const char *subtype, const char *message,
                        const json_t *extra)
{
    json_t *e = json_pack("{s:s, s:s}", "type", "runner", "subtype", subtype);
    if (e && message)
        json_object_set_new(e, "message", json_string(message));
    if (e && extra)
        json_object_update(e, (json_t *)extra);
    runner_events_post(ev, e);
}

/* ---- the sender ---- */

struct sink {
    struct ambd_buf buf;
};

static size_t discard_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    if (s->buf.len < 4096)
        ambd_buf_append(&s->buf, data, size * nmemb > 4096 ? 4096 : size * nmemb);
    return size * nmemb;
}

/* One POST of body; the HTTP status, 0 on a transport error. *retry_after
 * is the server's Retry-After in seconds, or -1. */
static long post(struct runner_events *ev, CURL *h, const char *body, size_t len,
                 long *retry_after)
{
    struct curl_slist *hdrs = runner_live_headers(ev->kube, "Content-Type: application/x-ndjson");
    struct sink sink = {0};
    runner_live_setup(h, ev->url, hdrs, ev->ca_file);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, POST_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    long status = 0;
    *retry_after = -1;
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        struct curl_header *hd;
        curl_off_t ra;
        if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK &&
            curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK)
            *retry_after = (long)ra;
    }
    curl_slist_free_all(hdrs);
    if (status >= 300 && status != 503) {
        char code[24];
        snprintf(code, sizeof code, "%ld", status);
        ambd_log("runner", AMB_LOG_WARN, "event post refused", "status", code, "answer",
                 sink.buf.data ? sink.buf.data : "", NULL);
    }
    ambd_buf_release(&sink.buf);
    return status;
}

/* Waits ms or until told to stop early; 1 if the sender should give up. */
static int pause_locked(struct runner_events *ev, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long give_up = ev->give_up_at;
    if (give_up && runner_now_ms() + ms > give_up)
        ms = (long)(give_up - runner_now_ms());
    if (ms > 0) {
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ev->wake, &ev->lock, &ts);
    }
    return ev->give_up_at && runner_now_ms() >= ev->give_up_at;
}

static void pop_locked(struct runner_events *ev, size_t count)
{
    for (size_t i = 0; i < count && ev->head; i++) {
        struct queued *q = ev->head;
        ev->head = q->next;
        if (!ev->head)
            ev->tail = NULL;
        ev->n--;
        ev->bytes -= q->len;
        free(q);
    }
}

static void *sender(void *arg)
{
    struct runner_events *ev = arg;
    CURL *h = curl_easy_init();
    long backoff = 0;
    size_t max_events = MAX_BATCH_EVENTS; /* one at a time after a 413 */
    struct ambd_buf body = {0};
    pthread_mutex_lock(&ev->lock);
    while (h) {
        while (!ev->head && !ev->stop)
            pthread_cond_wait(&ev->wake, &ev->lock);
        if (!ev->head)
            break;
        /* The batch stays queued (and counted) until the service has it. */
        size_t count = 0;
        body.len = 0;
        for (struct queued *q = ev->head; q && count < max_events; q = q->next) {
            if (count && body.len + q->len > MAX_BATCH_BYTES)
                break;
            ambd_buf_append(&body, q->line, q->len);
            count++;
        }
        pthread_mutex_unlock(&ev->lock);
        long retry_after = -1;
        long status = body.failed ? 0 : post(ev, h, body.data, body.len, &retry_after);
        pthread_mutex_lock(&ev->lock);
        if (status >= 200 && status < 300) {
            pop_locked(ev, count);
            backoff = 0;
            max_events = MAX_BATCH_EVENTS;
            continue;
        }
        /* 422: a type the service reserves for users or the platform */
        int never = status == 413 || status == 400 || status == 415 || status == 422;
        if (never && count > 1) {
            max_events = 1; /* find the one the service refuses */
            continue;
        }
        if (never) {
            pop_locked(ev, 1); /* it will never be taken: do not block the rest */
            count_dropped_locked(ev);
            continue;
        }
        if (status == 403 || status == 404) {
            /* The service will not take this session's events at all (not
             * its service account, no such project): say so once and stop
             * queueing, rather than retry until the end of the run. */
            ev->refused = 1;
            for (size_t n = ev->n; n > 0; n--)
                count_dropped_locked(ev);
            pop_locked(ev, ev->n);
            ambd_log("runner", AMB_LOG_ERROR,
                     "the live service refuses this session's events; they are not kept", NULL);
            continue;
        }
        if (status == 401)
            ambd_kube_token_stale(ev->kube);
        backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
        if (backoff > BACKOFF_MAX_MS)
            backoff = BACKOFF_MAX_MS;
        long wait = retry_after > 0 && retry_after * 1000 > backoff ? retry_after * 1000 : backoff;
        if (wait > 30000)
            wait = 30000;
        if (pause_locked(ev, wait))
            break;
    }
    pthread_mutex_unlock(&ev->lock);
    ambd_buf_release(&body);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

int runner_events_start(const struct runner_opts *o, struct ambd_kube *kube,
                        struct runner_events **out, struct amb_error *err)
{
    struct runner_events *ev = calloc(1, sizeof *ev);
    if (!ev)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    ev->kube = kube;
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->wake, NULL);
    *out = ev;
    if (!o->api_url)
        return AMB_OK;
    ev->url = runner_live_url(o, "events");
    ev->ca_file = o->api_ca_file ? strdup(o->api_ca_file) : NULL;
    if (!ev->url || (o->api_ca_file && !ev->ca_file) ||
        pthread_create(&ev->thread, NULL, sender, ev) != 0)
        return ambd_error_set(err, AMB_ENOMEM, NULL, "cannot start the event sender");
    ev->have_thread = 1;
    return AMB_OK;
}

size_t runner_events_finish(struct runner_events *ev, long timeout_ms)
{
    if (!ev)
        return 0;
    pthread_mutex_lock(&ev->lock);
    note_drops_locked(ev);
    ev->give_up_at = runner_now_ms() + timeout_ms;
    ev->stop = 1;
    pthread_cond_signal(&ev->wake);
    pthread_mutex_unlock(&ev->lock);
    if (ev->have_thread) {
        pthread_join(ev->thread, NULL);
        ev->have_thread = 0;
    }
    pthread_mutex_lock(&ev->lock);
    size_t lost = ev->n + ev->dropped_total;
    pthread_mutex_unlock(&ev->lock);
    return lost;
}

void runner_events_free(struct runner_events *ev)
{
    if (!ev)
        return;
    runner_events_finish(ev, 0);
    pop_locked(ev, ev->n);
    pthread_mutex_destroy(&ev->lock);
    pthread_cond_destroy(&ev->wake);
    free(ev->url);
    free(ev->ca_file);
    free(ev);
}
