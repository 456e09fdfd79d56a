/* inbox.c — what users say to an interactive session. Their messages are
 * events in the session's log on the live service ({"type":"user_message"}
 * and {"type":"end_session"}, posted with update rights on the session).
 * One thread reads the log with the runner's token: first the transcript
 * pages up to now (GET messages), keeping only what came after the last
 * run's "finished" event, so a restart does not replay the previous run's
 * conversation while messages sent before this run started are kept; then
 * the live stream from there (GET events, SSE), reconnecting from the last
 * seq it saw. Messages reach the agent's loop through a queue and a byte
 * on a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "log-internal.h"
#include "runner.h"

#define MAX_WAITING 1000
#define MAX_SSE_LINE (2u * 1024 * 1024)
#define MAX_PAGE_BYTES (64u * 1024 * 1024)
#define MAX_PAGES 100000

struct msg {
    struct msg *next;
    int end; /* end_session */
    char content[];
};

struct runner_inbox {
    struct ambd_kube *kube;
    char *base;    /* .../agentic-sessions/NAME/ */
    char *ca_file;
    int pipe[2];
    pthread_mutex_t lock;
    struct msg *head, *tail;
    size_t n;
    long long last_seq;
    atomic_int stop;
    pthread_t thread;
    int have_thread;
    /* SSE parsing */
    struct linebuf lines;
    struct ambd_buf data;
};

static void push(struct runner_inbox *in, const char *content, int end)
{
    size_t len = content ? strlen(content) : 0;
    struct msg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return;
    m->next = NULL;
    m->end = end;
    memcpy(m->content, content ? content : "", len + 1);
    pthread_mutex_lock(&in->lock);
    if (in->n >= MAX_WAITING) {
        pthread_mutex_unlock(&in->lock);
        free(m);
        ambd_log("runner", AMB_LOG_WARN, "too many user messages waiting; one was dropped",
                 NULL);
        return;
    }
    if (in->tail)
        in->tail->next = m;
    else
        in->head = m;
    in->tail = m;
    in->n++;
    pthread_mutex_unlock(&in->lock);
    char b = 1;
    if (write(in->pipe[1], &b, 1) < 0 && errno != EAGAIN)
        ambd_log("runner", AMB_LOG_WARN, "cannot wake the agent loop", NULL);
}

static void clear_waiting(struct runner_inbox *in)
{
    pthread_mutex_lock(&in->lock);
    while (in->head) {
        struct msg *m = in->head;
        in->head = m->next;
        free(m);
    }
    in->tail = NULL;
    in->n = 0;
    pthread_mutex_unlock(&in->lock);
}

/* One stored event of the log: a message for the agent, or the mark that
 * an earlier run finished (what came before it was that run's). */
static void consider(struct runner_inbox *in, const json_t *ev, int history)
{
    long long seq = json_integer_value(json_object_get(ev, "seq"));
    if (seq <= in->last_seq)
        return;
    in->last_seq = seq;
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        return;
    if (strcmp(type, "user_message") == 0) {
        const char *content = json_string_value(json_object_get(ev, "content"));
        if (content)
            push(in, content, 0);
    } else if (strcmp(type, "end_session") == 0) {
        push(in, NULL, 1);
    } else if (history && strcmp(type, "runner") == 0) {
        const char *sub = json_string_value(json_object_get(ev, "subtype"));
        if (sub && strcmp(sub, "finished") == 0)
            clear_waiting(in);
    }
}

/* ---- HTTP ---- */

struct body {
    struct ambd_buf buf;
    int too_big;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    if (b->buf.len + n > MAX_PAGE_BYTES) {
        b->too_big = 1;
        return 0;
    }
    ambd_buf_append(&b->buf, data, n);
    return b->buf.failed ? 0 : n;
}

static int abort_if_stopped(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return ((struct runner_inbox *)ud)->stop ? 1 : 0;
}

static void setup(struct runner_inbox *in, CURL *h, const char *url, struct curl_slist *hdrs)
{
    runner_live_setup(h, url, hdrs, in->ca_file);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_if_stopped);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, in);
}

/* Reads the transcript so far; 0 when it reached the end. */
static int read_history(struct runner_inbox *in, CURL *h)
{
    for (int page = 0; page < MAX_PAGES && !in->stop; page++) {
        struct ambd_buf url = {0};
        ambd_buf_printf(&url, "%smessages?after=%lld&limit=500", in->base, in->last_seq);
        char *u = ambd_buf_take(&url);
        struct curl_slist *hdrs = runner_live_headers(in->kube, "Accept: application/json");
        struct body b = {0};
        long status = 0;
        if (u && hdrs) {
            setup(in, h, u, hdrs);
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
            if (curl_easy_perform(h) == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        }
        free(u);
        curl_slist_free_all(hdrs);
        json_t *doc = status == 200 && b.buf.data ? json_loadb(b.buf.data, b.buf.len, 0, NULL)
                                                  : NULL;
        ambd_buf_release(&b.buf);
        if (!json_is_object(doc)) {
            json_decref(doc);
            return -1;
        }
        size_t i;
        const json_t *ev;
        json_array_foreach(json_object_get(doc, "items"), i, ev)
            consider(in, ev, 1);
        int more = json_is_integer(json_object_get(doc, "next")) &&
                   json_array_size(json_object_get(doc, "items")) > 0;
        json_decref(doc);
        if (!more)
            return 0;
    }
    return -1;
}

static void sse_line(void *ud, char *line, size_t len)
{
    struct runner_inbox *in = ud;
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (len == 0) { /* end of one event */
        if (in->data.len > 0) {
            json_t *ev = json_loadb(in->data.data, in->data.len, 0, NULL);
            if (json_is_object(ev))
                consider(in, ev, 0);
            json_decref(ev);
        }
        in->data.len = 0;
        return;
    }
    if (strncmp(line, "data:", 5) == 0) {
        const char *v = line + 5;
        if (*v == ' ')
            v++;
        ambd_buf_puts(&in->data, v);
    }
}

static void sse_long(void *ud, size_t bytes)
{
    (void)ud;
    (void)bytes;
}

static size_t sse_chunk(char *data, size_t size, size_t nmemb, void *ud)
{
    struct runner_inbox *in = ud;
    size_t n = size * nmemb;
    return linebuf_feed(&in->lines, data, n, sse_line, sse_long, in) == 0 ? n : 0;
}

static void follow(struct runner_inbox *in, CURL *h)
{
    struct ambd_buf url = {0};
    ambd_buf_printf(&url, "%sevents?after=%lld", in->base, in->last_seq);
    char *u = ambd_buf_take(&url);
    struct curl_slist *hdrs = runner_live_headers(in->kube, "Accept: text/event-stream");
    if (u && hdrs) {
        linebuf_free(&in->lines);
        linebuf_init(&in->lines, MAX_SSE_LINE);
        in->data.len = 0;
        setup(in, h, u, hdrs);
        /* the service pings idle streams every 20 s */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sse_chunk);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, in);
        curl_easy_perform(h);
    }
    free(u);
    curl_slist_free_all(hdrs);
}

static void nap(struct runner_inbox *in, long ms)
{
    for (long slept = 0; slept < ms && !in->stop; slept += 100) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
}

static void *reader(void *arg)
{
    struct runner_inbox *in = arg;
    CURL *h = curl_easy_init();
    long backoff = 250;
    while (h && !in->stop && read_history(in, h) != 0) {
        ambd_log("runner", AMB_LOG_WARN, "cannot read the session's messages yet; retrying",
                 NULL);
        nap(in, backoff);
        backoff = backoff < 8000 ? backoff * 2 : 8000;
    }
    backoff = 250;
    while (h && !in->stop) {
        long long before = in->last_seq;
        follow(in, h);
        if (in->stop)
            break;
        backoff = in->last_seq > before ? 250 : (backoff < 8000 ? backoff * 2 : 8000);
        nap(in, backoff);
    }
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

int runner_inbox_start(const struct runner_opts *o, struct ambd_kube *kube,
                       struct runner_inbox **out, struct amb_error *err)
{
    *out = NULL;
    if (!o->api_url)
        return ambd_error_set(err, AMB_EINVAL, NULL,
                              "an interactive session needs the live service (--api or "
                              "AMBIENT_API_URL) to receive its messages");
    struct runner_inbox *in = calloc(1, sizeof *in);
    if (!in)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    in->kube = kube;
    in->pipe[0] = in->pipe[1] = -1;
    pthread_mutex_init(&in->lock, NULL);
    linebuf_init(&in->lines, MAX_SSE_LINE);
    in->base = runner_live_url(o, "");
    in->ca_file = o->api_ca_file ? strdup(o->api_ca_file) : NULL;
    *out = in;
    if (!in->base || (o->api_ca_file && !in->ca_file) ||
        pipe2(in->pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
        pthread_create(&in->thread, NULL, reader, in) != 0)
        return ambd_error_set(err, AMB_ENOMEM, NULL, "cannot start the message reader");
    in->have_thread = 1;
    return AMB_OK;
}

int runner_inbox_fd(const struct runner_inbox *in)
{
    return in->pipe[0];
}

int runner_inbox_take(struct runner_inbox *in, char **content)
{
    char drain[64];
    while (read(in->pipe[0], drain, sizeof drain) > 0)
        ;
    pthread_mutex_lock(&in->lock);
    struct msg *m = in->head;
    if (m) {
        in->head = m->next;
        if (!in->head)
            in->tail = NULL;
        in->n--;
    }
    pthread_mutex_unlock(&in->lock);
    if (!m)
        return 0;
    int end = m->end;
    *content = end ? NULL : strdup(m->content);
    free(m);
    return end ? 2 : (*content ? 1 : 0);
}

void runner_inbox_free(struct runner_inbox *in)
{
    if (!in)
        return;
    in->stop = 1;
    if (in->have_thread)
        pthread_join(in->thread, NULL);
    clear_waiting(in);
    for (int i = 0; i < 2; i++)
        if (in->pipe[i] >= 0)
            close(in->pipe[i]);
    linebuf_free(&in->lines);
    ambd_buf_release(&in->data);
    pthread_mutex_destroy(&in->lock);
    free(in->base);
    free(in->ca_file);
    free(in);
}
