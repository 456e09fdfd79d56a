/* langfuse.c — the export of each finished session run to LangFuse
 * (api.live.langfuse; off by default). The status feed (feed.c) hands over
 * every status change it sees; a run that reached Completed, Failed or
 * Stopped is queued once (per uid, run and phase, in this process) and,
 * api.live.langfuse.delay seconds later (the runner posts its last events
 * after it wrote the outcome), one thread of its own reads the run's tool
 * calls from the event log, builds the ingestion events
 * (langfuse_batch.c) and POSTs them with host->http.
 *
 * Nothing here runs on the live loop, and nothing the loop does waits for
 * it: a LangFuse that is down or slow costs this thread's time only. The
 * queue is bounded (max_queue; a full queue drops, counted and logged at
 * most every 10 s); a POST is retried on 429, 5xx and network errors up to
 * LF_ATTEMPTS times with doubling backoff, each attempt bounded by
 * api.live.langfuse.timeout. An export that still fails goes back in the
 * queue for another round api.live.langfuse.retry seconds later (doubling,
 * at most LF_ROUND_MAX_S), up to LF_ROUNDS rounds: a LangFuse that is down
 * for a while, or a secret file being rotated, loses no run. The secret key is read from its file for each
 * export (so rotating it needs no restart), registered with log_secret
 * together with the Basic credential made of it, and wiped after use. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "live/langfuse_batch.h"
#include "live/live_int.h"

#define LF_ATTEMPTS 5             /* per request body */
#define LF_BACKOFF_MS 500         /* doubled after each failed attempt */
#define LF_BACKOFF_MAX_MS 8000
#define LF_RETRY_AFTER_MAX_S 30   /* a longer Retry-After is not waited for */
#define LF_BATCH_BYTES 3000000    /* LangFuse takes 3.5 MB a request */
#define LF_BATCH_EVENTS 500
#define LF_SECRET_MAX 1024
#define LF_SEEN 1024              /* runs remembered as queued */
#define LF_PAGE_EVENTS 500        /* log events read at a time */
#define LF_PAGE_BYTES (1u << 20)
#define LF_LOG_EVERY_S 10
#define LF_ROUNDS 8               /* rounds of attempts per export */
#define LF_ROUND_MAX_S 1800

struct lf_job {
    struct lf_job *next;
    long long due_ms; /* CLOCK_MONOTONIC */
    unsigned round;   /* failed rounds so far */
    json_t *facts;    /* {kind, project, name, uid, run, status, model?, prompt?} */
};

struct lf_exporter {
    struct live *l;
    const struct api_langfuse_config *cfg;
    pthread_t thread;
    int started;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lf_job *head; /* under mu, in due order */
    size_t queued;
    char seen[LF_SEEN][STORE_UID_MAX + 40]; /* "uid/run/phase", a ring, under mu */
    size_t seen_next;
    long long dropped_logged_at; /* under mu */
    long long failed_logged_at;  /* the exporter thread's */
    atomic_uint_least64_t ok, failed, dropped, rejected;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int terminal(const char *phase)
{
    return phase && (!strcmp(phase, "Completed") || !strcmp(phase, "Failed") ||
                     !strcmp(phase, "Stopped"));
}

/* The ambient-code.io/run annotation as the controller reads it: digits,
 * 1..999999999, else run 1. */
static long long run_of(const json_t *obj)
{
    const char *r = json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "annotations"), "ambient-code.io/run"));
    long long n = 0;
    for (size_t i = 0; r && r[i]; i++) {
        if (r[i] < '0' || r[i] > '9' || i >= 9)
            return 1;
        n = n * 10 + (r[i] - '0');
    }
    return n >= 1 ? n : 1;
}

/* 1 when key was seen already; else remembers it. Under mu. */
static int seen_before(struct lf_exporter *x, const char *key)
{
    for (size_t i = 0; i < LF_SEEN; i++)
        if (!strcmp(x->seen[i], key))
            return 1;
    snprintf(x->seen[x->seen_next], sizeof x->seen[0], "%s", key);
    x->seen_next = (x->seen_next + 1) % LF_SEEN;
    return 0;
}

/* Puts j in the queue after every job due no later than it. Under mu. */
static void insert_due(struct lf_exporter *x, struct lf_job *j)
{
    struct lf_job **at = &x->head;
    while (*at && (*at)->due_ms <= j->due_ms)
        at = &(*at)->next;
    j->next = *at;
    *at = j;
}

void live_langfuse_status(struct live *l, const struct live_kind *kind, const json_t *obj)
{
    struct lf_exporter *x = l->langfuse;
    const json_t *status = json_object_get(obj, "status");
    const char *phase = json_string_value(json_object_get(status, "phase"));
    if (!x || !terminal(phase))
        return;
    const json_t *md = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *uid = json_string_value(json_object_get(md, "uid"));
    if (!ns || !name || !store_is_uid(uid))
        return; /* the feed checked these already */
    long long run = run_of(obj);
    char key[sizeof x->seen[0]];
    snprintf(key, sizeof key, "%s/%lld/%s", uid, run, phase);
    pthread_mutex_lock(&x->mu);
    int skip = seen_before(x, key);
    int full = !skip && x->queued >= x->cfg->max_queue;
    long long now = now_ms();
    int log_drop = full && now - x->dropped_logged_at >= LF_LOG_EVERY_S * 1000;
    if (log_drop)
        x->dropped_logged_at = now;
    pthread_mutex_unlock(&x->mu);
    if (skip)
        return;
    if (full) {
        atomic_fetch_add(&x->dropped, 1);
        if (log_drop)
            api_host->log(api_self, AMB_LOG_WARN,
                          "langfuse: export queue full; runs dropped (see "
                          "ambient_langfuse_exports_total{outcome=\"dropped\"})",
                          "namespace", ns, "name", name, NULL);
        return;
    }
    struct lf_job *j = calloc(1, sizeof *j);
    json_t *copy = j ? json_deep_copy(status) : NULL;
    if (copy)
        j->facts = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "kind",
                             kind->kind->resource.kind ? kind->kind->resource.kind : "", "project",
                             ns, "name", name, "uid", uid, "run", (json_int_t)run, "status", copy);
    if (!j || !j->facts) { /* json_pack took copy either way */
        free(j);
        atomic_fetch_add(&x->dropped, 1);
        return;
    }
    static const char *const from_spec[] = {"model", "prompt"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(spec, from_spec[i]);
        if (json_is_string(v)) /* bounded when the batch is built */
            json_object_set_new(j->facts, from_spec[i], json_deep_copy(v));
    }
    j->due_ms = now_ms() + (long long)x->cfg->delay_s * 1000;
    pthread_mutex_lock(&x->mu);
    insert_due(x, j);
    x->queued++;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

/* The secret key: the file's first line, at most LF_SECRET_MAX bytes.
 * 0, or -1 (nothing is said of the file's content). */
static int read_secret(const char *path, char out[LF_SECRET_MAX + 2])
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(out, 1, LF_SECRET_MAX + 1, f);
    fclose(f);
    out[n] = '\0';
    n = strcspn(out, "\r\n");
    out[n] = '\0';
    return n > 0 && n <= LF_SECRET_MAX ? 0 : -1;
}

/* Sleeps ms in short steps; 1 when asked to stop meanwhile. */
static int nap(struct lf_exporter *x, long long ms)
{
    for (long long left = ms; left > 0; left -= 100) {
        if (atomic_load(&x->stop))
            return 1;
        struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&x->stop);
}

/* What LangFuse's answer (2xx) says it refused: counted, the first logged. */
static void count_rejected(struct lf_exporter *x, const struct amb_http_response *resp,
                           const char *ns, const char *name)
{
    json_t *body = json_loadb(resp->body, resp->body_len, 0, NULL);
    const json_t *errors = json_object_get(body, "errors");
    size_t n = json_array_size(errors);
    if (n) {
        atomic_fetch_add(&x->rejected, n);
        const json_t *first = json_array_get(errors, 0);
        const char *msg = json_string_value(json_object_get(first, "message"));
        char text[256], count[32];
        snprintf(text, sizeof text, "%s", msg ? msg : "");
        snprintf(count, sizeof count, "%zu", n);
        api_host->log(api_self, AMB_LOG_WARN, "langfuse: events refused", "namespace", ns,
                      "name", name, "count", count, "first", text, NULL);
    }
    json_decref(body);
}

/* POSTs one request body, retrying what may pass later. 0 when LangFuse
 * took it; else -1 with why (no secret in it). */
static int post(struct lf_exporter *x, const char *auth_header, const char *body, const char *ns,
                const char *name, char *why, size_t why_len)
{
    const char *headers[] = {"Content-Type: application/json", auth_header, NULL};
    struct amb_http_request req = {
        .size = sizeof req, .method = "POST", .url = x->cfg->url, .headers = headers,
        .body = body, .body_len = strlen(body), .timeout_ms = x->cfg->timeout_s * 1000,
        .max_response = 1u << 20, .max_retries = 0, /* ours below: 500 is retried too */
    };
    long long backoff = LF_BACKOFF_MS;
    for (int attempt = 1;; attempt++) {
        struct amb_http_response *resp = NULL;
        struct amb_error *err = api_host->error_new();
        int rc = err ? api_host->http(api_self, &req, &resp, err) : AMB_ENOMEM;
        long status = rc == AMB_OK ? resp->status : 0;
        long long wait = backoff;
        if (rc != AMB_OK) {
            json_t *e = err ? api_host->error_to_json(err) : NULL;
            snprintf(why, why_len, "%s", e && json_string_value(json_object_get(e, "message"))
                                             ? json_string_value(json_object_get(e, "message"))
                                             : api_host->strerror(rc));
            json_decref(e);
        } else if (status >= 200 && status < 300) {
            count_rejected(x, resp, ns, name);
        } else {
            snprintf(why, why_len, "LangFuse answered %ld", status);
            const char *ra = json_string_value(json_object_get(resp->headers, "retry-after"));
            long long ra_s = ra && strspn(ra, "0123456789") == strlen(ra) && strlen(ra) < 6
                                 ? atoll(ra) : 0;
            if (ra_s > 0 && ra_s <= LF_RETRY_AFTER_MAX_S && ra_s * 1000 > wait)
                wait = ra_s * 1000;
        }
        api_host->http_response_free(resp);
        api_host->error_free(err);
        if (status >= 200 && status < 300)
            return 0;
        int retry = rc != AMB_OK ? rc != AMB_EINVAL && rc != AMB_ENOMEM
                                 : status == 429 || status >= 500;
        if (!retry || attempt == LF_ATTEMPTS || nap(x, wait))
            return -1;
        backoff = backoff * 2 > LF_BACKOFF_MAX_MS ? LF_BACKOFF_MAX_MS : backoff * 2;
    }
}

/* "Authorization: Basic base64(public:secret)" into out, and both
 * registered as secrets. 0, or -1 when the secret cannot be read. */
static int auth_header(struct lf_exporter *x, char *out, size_t out_len)
{
    char secret[LF_SECRET_MAX + 2], pair[LF_SECRET_MAX + 260];
    if (read_secret(x->cfg->secret_key_file, secret) != 0) {
        OPENSSL_cleanse(secret, sizeof secret);
        return -1;
    }
    api_host->log_secret(api_self, secret);
    int n = snprintf(pair, sizeof pair, "%s:%s", x->cfg->public_key, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    static const char prefix[] = "Authorization: Basic ";
    if (n < 0 || (size_t)n >= sizeof pair ||
        out_len < sizeof prefix + 4 * (((size_t)n + 2) / 3)) {
        OPENSSL_cleanse(pair, sizeof pair);
        return -1;
    }
    memcpy(out, prefix, sizeof prefix - 1);
    EVP_EncodeBlock((unsigned char *)out + sizeof prefix - 1, (const unsigned char *)pair, n);
    OPENSSL_cleanse(pair, sizeof pair);
    api_host->log_secret(api_self, out + sizeof prefix - 1);
    return 0;
}

/* The run's trace from its facts and event log; NULL when out of memory. */
static json_t *envelopes_of(struct lf_exporter *x, const json_t *facts)
{
    struct lf_session s = {
        .kind = json_string_value(json_object_get(facts, "kind")),
        .project = json_string_value(json_object_get(facts, "project")),
        .name = json_string_value(json_object_get(facts, "name")),
        .uid = json_string_value(json_object_get(facts, "uid")),
        .run = json_integer_value(json_object_get(facts, "run")),
        .status = json_object_get(facts, "status"),
        .model = json_string_value(json_object_get(facts, "model")),
        .prompt = json_string_value(json_object_get(facts, "prompt")),
    };
    struct lf_limits lim = {x->cfg->max_field, x->cfg->max_tool_calls};
    struct lf_trace *t = lf_trace_new(&s, &lim);
    if (!t)
        return NULL;
    char path[4096];
    uint64_t after = 0, next = 0;
    if (store_path(x->l->cfg->live_dir, s.project, s.uid, path, sizeof path) == 0) {
        do { /* the log is append-only: reading it here races nothing */
            json_t *items = NULL;
            if (store_page(path, after, LF_PAGE_EVENTS, LF_PAGE_BYTES, &items, &next) != AMB_OK)
                break;
            size_t i;
            json_t *ev;
            json_array_foreach(items, i, ev)
                lf_trace_add(t, ev);
            json_decref(items);
            after = next;
        } while (next && !atomic_load(&x->stop));
    }
    char now[32];
    store_timestamp(now);
    json_t *out = lf_trace_envelopes(t, now);
    lf_trace_free(t);
    return out;
}

/* 0 when LangFuse took the whole run; else -1 with the reason logged
 * (at most every 10 s) and counted when this was the last round. */
static int export_run(struct lf_exporter *x, const json_t *facts, int last_round)
{
    const char *ns = json_string_value(json_object_get(facts, "project"));
    const char *name = json_string_value(json_object_get(facts, "name"));
    char auth[2 * LF_SECRET_MAX + 400], why[256] = "out of memory";
    json_t *envelopes = NULL;
    char **bodies = NULL;
    size_t n = 0, skipped = 0, sent = 0;
    if (auth_header(x, auth, sizeof auth) != 0) {
        snprintf(why, sizeof why, "the secret key file cannot be read (%s)",
                 x->cfg->secret_key_file);
        goto done;
    }
    envelopes = envelopes_of(x, facts);
    n = envelopes ? lf_batches(envelopes, LF_BATCH_BYTES, LF_BATCH_EVENTS, &bodies, &skipped) : 0;
    while (sent < n && post(x, auth, bodies[sent], ns, name, why, sizeof why) == 0)
        sent++;
    atomic_fetch_add(&x->rejected, skipped);
done:
    OPENSSL_cleanse(auth, sizeof auth);
    lf_batches_free(bodies, n);
    json_decref(envelopes);
    if (n && sent == n) {
        atomic_fetch_add(&x->ok, 1);
        api_host->log(api_self, AMB_LOG_DEBUG, "langfuse: run exported", "namespace", ns, "name",
                      name, NULL);
        return 0;
    }
    if (last_round)
        atomic_fetch_add(&x->failed, 1);
    long long now = now_ms();
    if (now - x->failed_logged_at >= LF_LOG_EVERY_S * 1000 || !x->failed_logged_at) {
        x->failed_logged_at = now;
        api_host->log(api_self, AMB_LOG_WARN,
                      last_round ? "langfuse: export failed; given up (logged at most every "
                                   "10 s; see ambient_langfuse_exports_total{outcome=\"failed\"})"
                                 : "langfuse: export failed; tried again later (logged at most "
                                   "every 10 s)",
                      "namespace", ns, "name", name, "error", why, NULL);
    }
    return -1;
}

/* The wait before round (1-based) of a failed export: retry, doubling. */
static long long round_wait_ms(const struct lf_exporter *x, unsigned round)
{
    long long s = x->cfg->retry_s;
    for (unsigned i = 1; i < round && s < LF_ROUND_MAX_S; i++)
        s *= 2;
    return (s < LF_ROUND_MAX_S ? s : LF_ROUND_MAX_S) * 1000;
}

static void *exporter_main(void *arg)
{
    struct lf_exporter *x = arg;
    pthread_mutex_lock(&x->mu);
    while (!atomic_load(&x->stop)) {
        struct lf_job *j = x->head;
        long long now = now_ms();
        if (j && j->due_ms <= now) {
            x->head = j->next;
            pthread_mutex_unlock(&x->mu);
            int last = !x->cfg->retry_s || j->round + 1 >= LF_ROUNDS;
            int failed = export_run(x, j->facts, last) != 0;
            pthread_mutex_lock(&x->mu);
            if (failed && !last && !atomic_load(&x->stop)) {
                j->round++; /* keeps its place in max_queue meanwhile */
                j->due_ms = now_ms() + round_wait_ms(x, j->round);
                insert_due(x, j);
                continue;
            }
            json_decref(j->facts);
            free(j);
            x->queued--; /* only now: a run being sent still takes its place */
            continue;
        }
        long long until = j ? j->due_ms : now + 1000;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long ns = ts.tv_nsec + (until - now) * 1000000LL;
        ts.tv_sec += ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        pthread_cond_timedwait(&x->cv, &x->mu, &ts);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

int live_langfuse_start(struct live *l)
{
    const struct api_langfuse_config *cfg = &l->cfg->langfuse;
    if (!cfg->enabled)
        return AMB_OK;
    if (!AMB_HAS(api_host, http) || !AMB_HAS(api_host, log_secret))
        return AMB_EUNSUPPORTED;
    struct lf_exporter *x = calloc(1, sizeof *x);
    if (!x)
        return AMB_ENOMEM;
    x->l = l;
    x->cfg = cfg;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&x->mu, NULL);
    l->langfuse = x;
    if (pthread_create(&x->thread, NULL, exporter_main, x) != 0)
        return AMB_EINTERNAL;
    x->started = 1;
    api_host->log(api_self, AMB_LOG_INFO, "langfuse export on", "url", cfg->url, "public_key",
                  cfg->public_key, NULL);
    return AMB_OK;
}

void live_langfuse_stop(struct live *l)
{
    struct lf_exporter *x = l->langfuse;
    if (!x || !x->started)
        return;
    pthread_mutex_lock(&x->mu);
    atomic_store(&x->stop, 1);
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    pthread_join(x->thread, NULL);
    x->started = 0;
}

void live_langfuse_free(struct live *l)
{
    struct lf_exporter *x = l->langfuse;
    if (!x)
        return;
    live_langfuse_stop(l);
    while (x->head) { /* not sent: this process stops; the next sends what changes */
        struct lf_job *j = x->head;
        x->head = j->next;
        json_decref(j->facts);
        free(j);
    }
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
    l->langfuse = NULL;
}

void live_langfuse_metrics(const struct live *l, struct evbuffer *b)
{
    const struct lf_exporter *x = l->langfuse;
    unsigned long long ok = x ? atomic_load(&x->ok) : 0, failed = x ? atomic_load(&x->failed) : 0,
                       dropped = x ? atomic_load(&x->dropped) : 0,
                       rejected = x ? atomic_load(&x->rejected) : 0;
    evbuffer_add_printf(
        b,
        "# HELP ambient_langfuse_exports_total Finished runs exported to LangFuse "
        "(api.live.langfuse), by outcome: ok, failed (after its last round of retries), dropped (queue full).\n"
        "# TYPE ambient_langfuse_exports_total counter\n"
        "ambient_langfuse_exports_total{outcome=\"ok\"} %llu\n"
        "ambient_langfuse_exports_total{outcome=\"failed\"} %llu\n"
        "ambient_langfuse_exports_total{outcome=\"dropped\"} %llu\n"
        "# HELP ambient_langfuse_events_rejected_total Ingestion events LangFuse refused "
        "(its 207 errors) or too large to send.\n"
        "# TYPE ambient_langfuse_events_rejected_total counter\n"
        "ambient_langfuse_events_rejected_total %llu\n",
        ok, failed, dropped, rejected);
}
