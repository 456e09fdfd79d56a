/* kube_client.c — blocking Kubernetes API calls on libcurl (see
 * kube-internal.h): a pool of easy handles for connection reuse, a token
 * bucket for client-side QPS, the token source, Retry-After read into the
 * error and the calling thread's throttle, and one re-read of the token
 * after a 401. */
#include "kube-internal.h"
#include "kube-record-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "log-internal.h"

#define MAX_POOLED_HANDLES 16
#define TOKEN_REREAD_S 60
#define MAX_TOKEN_BYTES 16384

struct ambd_kube {
    struct ambd_kube_config config;

    pthread_mutex_t pool_lock;
    CURL *pool[MAX_POOLED_HANDLES];
    size_t n_pool;

    pthread_mutex_t token_lock;
    char *token;          /* current token (from file or config) */
    struct timespec token_mtime;
    ino_t token_ino;
    time_t token_read_at; /* CLOCK_MONOTONIC seconds */
    int token_stale;

    pthread_mutex_t rate_lock;
    double tokens;
    struct timespec rate_at;

    ambd_kube_observer observer;
    void *observer_ud;
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void ambd_kube_config_clear(struct ambd_kube_config *c)
{
    free(c->server);
    free(c->token_file);
    free(c->token);
    free(c->ca_file);
    memset(c, 0, sizeof *c);
}

int ambd_kube_config_in_cluster(struct ambd_kube_config *c, const char *dir,
                                struct amb_error *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port)
        return ambd_error_set(err, AMB_ENOTFOUND, "kube",
                              "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) "
                              "and no kube.server configured");
    if (!dir)
        dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    struct ambd_buf b = {0};
    /* An IPv6 service address needs brackets in a URL. */
    ambd_buf_printf(&b, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    c->server = ambd_buf_take(&b);
    ambd_buf_printf(&b, "%s/token", dir);
    c->token_file = ambd_buf_take(&b);
    ambd_buf_printf(&b, "%s/ca.crt", dir);
    c->ca_file = ambd_buf_take(&b);
    if (!c->server || !c->token_file || !c->ca_file)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    return AMB_OK;
}

int ambd_kube_check_server(const char *server, struct amb_error *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = AMB_OK;
    if (!u)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    if (!server || curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = ambd_error_set(err, AMB_EINVAL, "kube.server", "\"%s\" is not a URL",
                            server ? server : "");
    } else if (strcmp(scheme, "https") != 0) {
        int loopback = strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0 ||
                       strcmp(host, "[::1]") == 0;
        if (strcmp(scheme, "http") != 0 || !loopback)
            rc = ambd_error_set(err, AMB_EINVAL, "kube.server",
                                "must be https (plain http is allowed only on loopback, for tests)");
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

int ambd_kube_new(const struct ambd_kube_config *config, struct ambd_kube **out,
                  struct amb_error *err)
{
    *out = NULL;
    int rc = ambd_kube_check_server(config->server, err);
    if (rc != AMB_OK)
        return rc;
    struct ambd_kube *k = calloc(1, sizeof *k);
    if (!k)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    k->config.server = dup_or_null(config->server);
    k->config.token_file = dup_or_null(config->token_file);
    k->config.token = dup_or_null(config->token);
    k->config.ca_file = dup_or_null(config->ca_file);
    k->config.qps = config->qps;
    k->config.burst = config->burst > 0 ? config->burst : 1;
    k->config.timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : 30000;
    k->tokens = k->config.burst;
    clock_gettime(CLOCK_MONOTONIC, &k->rate_at);
    pthread_mutex_init(&k->pool_lock, NULL);
    pthread_mutex_init(&k->token_lock, NULL);
    pthread_mutex_init(&k->rate_lock, NULL);
    if (!k->config.server || (config->token_file && !k->config.token_file) ||
        (config->token && !k->config.token) || (config->ca_file && !k->config.ca_file)) {
        ambd_kube_free(k);
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    ambd_log_add_secret(k->config.token);
    *out = k;
    return AMB_OK;
}

void ambd_kube_free(struct ambd_kube *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n_pool; i++)
        curl_easy_cleanup(k->pool[i]);
    free(k->token);
    ambd_kube_config_clear(&k->config);
    pthread_mutex_destroy(&k->pool_lock);
    pthread_mutex_destroy(&k->token_lock);
    pthread_mutex_destroy(&k->rate_lock);
    free(k);
}

const char *ambd_kube_server(const struct ambd_kube *k) { return k->config.server; }

void ambd_kube_set_observer(struct ambd_kube *k, ambd_kube_observer fn, void *ud)
{
    k->observer = fn;
    k->observer_ud = ud;
}

void ambd_kube_observe(struct ambd_kube *k, const char *verb, long http_status,
                       long retry_after)
{
    if (k->observer)
        k->observer(k->observer_ud, verb, http_status, retry_after);
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static time_t monotonic_seconds(void) { return (time_t)(monotonic_ns() / 1000000000u); }

/* Reads the token file; the caller holds token_lock. Keeps the old token
 * when the file is unreadable (a rotation in progress). */
static void token_reload(struct ambd_kube *k)
{
    struct stat st;
    FILE *f = NULL;
    char buf[MAX_TOKEN_BYTES + 1];
    size_t n = 0;
    k->token_read_at = monotonic_seconds();
    k->token_stale = 0;
    if (stat(k->config.token_file, &st) == 0 && st.st_size <= MAX_TOKEN_BYTES &&
        (f = fopen(k->config.token_file, "re"))) {
        n = fread(buf, 1, MAX_TOKEN_BYTES, f);
        fclose(f);
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    char *fresh = n > 0 ? strdup(buf) : NULL;
    explicit_bzero(buf, sizeof buf);
    if (!fresh) {
        ambd_log("kube", AMB_LOG_WARN, "cannot read the token file; keeping the previous token",
                 "file", k->config.token_file, NULL);
        return;
    }
    ambd_log_add_secret(fresh);
    if (k->token && strcmp(k->token, fresh) != 0)
        ambd_log("kube", AMB_LOG_INFO, "service-account token rotated", "file",
                 k->config.token_file, NULL);
    free(k->token);
    k->token = fresh;
    k->token_ino = st.st_ino;
    k->token_mtime = st.st_mtim;
}

char *ambd_kube_token(struct ambd_kube *k)
{
    if (!k->config.token_file)
        return dup_or_null(k->config.token);
    pthread_mutex_lock(&k->token_lock);
    /* A stat per request sees a rotation at once (the kubelet replaces the
     * file); the periodic re-read covers a rewrite in place, and after a 401
     * the token is marked stale. A missing file is retried once a minute. */
    struct stat st;
    int due = !k->token || k->token_stale ||
              monotonic_seconds() - k->token_read_at >= TOKEN_REREAD_S ||
              (stat(k->config.token_file, &st) == 0 &&
               (st.st_ino != k->token_ino || st.st_mtim.tv_sec != k->token_mtime.tv_sec ||
                st.st_mtim.tv_nsec != k->token_mtime.tv_nsec));
    if (due)
        token_reload(k);
    char *t = dup_or_null(k->token);
    pthread_mutex_unlock(&k->token_lock);
    return t;
}

void ambd_kube_token_stale(struct ambd_kube *k)
{
    pthread_mutex_lock(&k->token_lock);
    k->token_stale = 1;
    pthread_mutex_unlock(&k->token_lock);
}

/* Token bucket: waits until a request may go (qps <= 0: never waits). */
static void rate_acquire(struct ambd_kube *k)
{
    if (k->config.qps <= 0)
        return;
    for (;;) {
        pthread_mutex_lock(&k->rate_lock);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (double)(now.tv_sec - k->rate_at.tv_sec) +
                         (double)(now.tv_nsec - k->rate_at.tv_nsec) / 1e9;
        k->rate_at = now;
        k->tokens += elapsed * k->config.qps;
        if (k->tokens > k->config.burst)
            k->tokens = k->config.burst;
        double wait_s = 0;
        if (k->tokens >= 1)
            k->tokens -= 1;
        else
            wait_s = (1 - k->tokens) / k->config.qps;
        pthread_mutex_unlock(&k->rate_lock);
        if (wait_s <= 0)
            return;
        struct timespec ts = {(time_t)wait_s, (long)((wait_s - (double)(time_t)wait_s) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

void ambd_kube_setup_handle(struct ambd_kube *k, CURL *h)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (k->config.ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, k->config.ca_file);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
}

struct curl_slist *ambd_kube_headers(struct ambd_kube *k, const char *user_token,
                                     const char *content_type)
{
    struct curl_slist *list = NULL, *next;
    struct ambd_buf b = {0};
    char *own = user_token ? NULL : ambd_kube_token(k);
    const char *token = user_token ? user_token : own;
    if ((next = curl_slist_append(list, "Accept: application/json")))
        list = next;
    if (token && *token) {
        ambd_buf_printf(&b, "Authorization: Bearer %s", token);
        char *line = ambd_buf_take(&b);
        if (line && (next = curl_slist_append(list, line)))
            list = next;
        if (line)
            explicit_bzero(line, strlen(line));
        free(line);
    }
    if (own)
        explicit_bzero(own, strlen(own));
    free(own);
    if (content_type) {
        ambd_buf_printf(&b, "Content-Type: %s", content_type);
        char *line = ambd_buf_take(&b);
        if (line && (next = curl_slist_append(list, line)))
            list = next;
        free(line);
    }
    /* No "Expect: 100-continue" round trip before bodies. */
    if ((next = curl_slist_append(list, "Expect:")))
        list = next;
    return list;
}

static const char *code_reason(long status, const char *reason)
{
    (void)reason;
    switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not found";
    case 409: return "conflict";
    case 410: return "gone";
    case 413: return "request entity too large";
    case 415: return "unsupported media type";
    case 422: return "invalid";
    case 429: return "too many requests";
    default: return status >= 500 ? "server error" : "unexpected response";
    }
}

long ambd_kube_retry_after(const char *value, time_t now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    long s = 0;
    if (n > 0 && value[0] >= '0' && value[0] <= '9') {
        /* delta-seconds: digits only; growth stops past the bound, so no
         * length of digits overflows. */
        for (size_t i = 0; i < n; i++) {
            if (value[i] < '0' || value[i] > '9')
                return -1;
            if (s <= AMBD_KUBE_MAX_RETRY_AFTER_S)
                s = s * 10 + (value[i] - '0');
        }
    } else if (n > 0 && ((value[0] >= 'A' && value[0] <= 'Z') ||
                         (value[0] >= 'a' && value[0] <= 'z'))) {
        /* Every HTTP-date form starts with the day's name. */
        char date[64];
        if (n >= sizeof date)
            return -1;
        memcpy(date, value, n);
        date[n] = '\0';
        time_t at = curl_getdate(date, NULL);
        if (at == -1)
            return -1;
        s = at <= now ? 0 : at - now > AMBD_KUBE_MAX_RETRY_AFTER_S ? AMBD_KUBE_MAX_RETRY_AFTER_S
                                                                   : (long)(at - now);
    } else {
        return -1;
    }
    return s > AMBD_KUBE_MAX_RETRY_AFTER_S ? AMBD_KUBE_MAX_RETRY_AFTER_S : s;
}

long ambd_kube_retry_after_of(CURL *h)
{
    struct curl_header *hdr;
    if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK)
        return -1;
    return ambd_kube_retry_after(hdr->value, time(NULL));
}

/* The wait a throttled answer asks for: the header's, else the Status's
 * details.retryAfterSeconds (apimachinery's SuggestsClientDelay); 0 none. */
static unsigned throttle_wait(long http_status, const json_t *status, long retry_after)
{
    if (http_status != 429 && http_status < 500)
        return 0;
    if (retry_after < 0) {
        json_int_t d = json_integer_value(
            json_object_get(json_object_get(status, "details"), "retryAfterSeconds"));
        retry_after = d <= 0 ? 0 : d > AMBD_KUBE_MAX_RETRY_AFTER_S ? AMBD_KUBE_MAX_RETRY_AFTER_S
                                                                   : (long)d;
    }
    return (unsigned)retry_after;
}

int ambd_kube_status_error(long http_status, const char *body, size_t len, long retry_after,
                           struct amb_error *err)
{
    if (http_status >= 200 && http_status < 300)
        return AMB_OK;
    json_t *st = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *reason = json_string_value(json_object_get(st, "reason"));
    const char *message = json_string_value(json_object_get(st, "message"));
    int code;
    switch (http_status) {
    case 400: code = AMB_EINVAL; break;
    case 401: code = AMB_EUNAUTHORIZED; break;
    case 403: code = AMB_EFORBIDDEN; break;
    case 404: code = AMB_ENOTFOUND; break;
    case 409: code = reason && strcmp(reason, "AlreadyExists") == 0 ? AMB_EEXIST : AMB_ECONFLICT; break;
    case 410: code = AMB_EGONE; break;
    case 413: code = AMB_ETOOLARGE; break;
    case 415: code = AMB_EUNSUPPORTED; break;
    case 422: code = AMB_EINVAL; break;
    case 429: code = AMB_EUNAVAILABLE; break;
    case 504: code = AMB_ETIMEDOUT; break;
    default: code = http_status >= 500 ? AMB_EUNAVAILABLE : AMB_EIO;
    }
    if (message && *message)
        ambd_error_set(err, code, NULL, "%s (HTTP %ld%s%s)", message, http_status,
                       reason ? " " : "", reason ? reason : "");
    else
        ambd_error_set(err, code, NULL, "HTTP %ld %s", http_status, code_reason(http_status, reason));
    unsigned wait = throttle_wait(http_status, st, retry_after);
    if (err && wait > err->retry_after_s)
        err->retry_after_s = wait;
    json_decref(st);
    return code;
}

static CURL *handle_get(struct ambd_kube *k)
{
    CURL *h = NULL;
    pthread_mutex_lock(&k->pool_lock);
    if (k->n_pool > 0)
        h = k->pool[--k->n_pool];
    pthread_mutex_unlock(&k->pool_lock);
    if (!h)
        h = curl_easy_init();
    return h;
}

/* Returns a handle (and its open connections) to the pool. */
static void handle_put(struct ambd_kube *k, CURL *h)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&k->pool_lock);
    if (k->n_pool < MAX_POOLED_HANDLES) {
        k->pool[k->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&k->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

struct body_sink {
    struct ambd_buf buf;
    int too_large;
};

static size_t collect_body(char *data, size_t size, size_t n, void *ud)
{
    struct body_sink *s = ud;
    size_t len = size * n;
    if (s->buf.len + len > AMBD_KUBE_MAX_BODY) {
        s->too_large = 1;
        return 0; /* aborts the transfer */
    }
    ambd_buf_append(&s->buf, data, len);
    return s->buf.failed ? 0 : len;
}

static char *request_url(struct ambd_kube *k, const struct ambd_kube_request *req)
{
    struct ambd_buf b = {0};
    ambd_buf_printf(&b, "%s%s", k->config.server, req->path);
    if (req->query && *req->query)
        ambd_buf_printf(&b, "?%s", req->query);
    return ambd_buf_take(&b);
}

/* One attempt. Returns AMB_OK when the server answered (any status). */
static int perform_once(struct ambd_kube *k, const struct ambd_kube_request *req,
                        struct ambd_kube_response *resp, long *retry_after,
                        struct amb_error *err)
{
    CURL *h = handle_get(k);
    char *url = request_url(k, req);
    const char *ctype = req->body ? (req->content_type ? req->content_type : "application/json")
                                  : NULL;
    struct curl_slist *headers = ambd_kube_headers(k, req->user_token, ctype);
    struct body_sink sink = {0};
    int rc = AMB_OK;
    if (!h || !url || !headers) {
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        goto out;
    }
    ambd_kube_setup_handle(k, h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, k->config.timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        if (sink.too_large)
            rc = ambd_error_set(err, AMB_ETOOLARGE, NULL, "%s %s: response larger than %u bytes",
                                req->method, req->path, AMBD_KUBE_MAX_BODY);
        else
            rc = ambd_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? AMB_ETIMEDOUT : AMB_EIO, NULL,
                                "%s %s: %s", req->method, req->path, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    *retry_after = ambd_kube_retry_after_of(h);
    resp->body_len = sink.buf.len;
    resp->body = ambd_buf_take(&sink.buf);
    if (!resp->body)
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
out:
    ambd_buf_release(&sink.buf);
    curl_slist_free_all(headers);
    free(url);
    if (h)
        handle_put(k, h);
    return rc;
}

void ambd_kube_response_clear(struct ambd_kube_response *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

/* CLOCK_MONOTONIC time before which the server asked this thread's
 * requests to wait (0: none since the last reset). */
static _Thread_local uint64_t thread_throttle_ns;

void ambd_kube_thread_throttle_reset(void) { thread_throttle_ns = 0; }

uint64_t ambd_kube_thread_throttle_ms(void)
{
    uint64_t now = monotonic_ns();
    if (thread_throttle_ns <= now)
        return 0;
    return (thread_throttle_ns - now + 999999u) / 1000000u; /* never short */
}

static void thread_throttle_note(unsigned wait_s)
{
    uint64_t until = monotonic_ns() + (uint64_t)wait_s * 1000000000u;
    if (wait_s > 0 && until > thread_throttle_ns)
        thread_throttle_ns = until;
}

int ambd_kube_request(struct ambd_kube *k, const struct ambd_kube_request *req,
                      struct ambd_kube_response *resp, struct amb_error *err)
{
    const char *verb = req->verb ? req->verb : req->method;
    int reauthed = 0;
    memset(resp, 0, sizeof *resp);
    ambd_kube_record(req->method, req->path, req->query, req->user_token);
    for (;;) {
        long retry_after = -1;
        rate_acquire(k);
        struct amb_error answer = AMBD_ERROR_INIT;
        int rc = perform_once(k, req, resp, &retry_after, &answer);
        ambd_kube_observe(k, verb, rc == AMB_OK ? resp->status : 0, retry_after);
        /* A rotated token: re-read it once and try again. */
        if (rc == AMB_OK && resp->status == 401 && !req->user_token && k->config.token_file &&
            !reauthed) {
            reauthed = 1;
            ambd_kube_token_stale(k);
            ambd_kube_response_clear(resp);
            continue;
        }
        /* Nothing else is retried here, a Retry-After least of all: the
         * wait goes back to whoever retries (kube-internal.h). */
        if (rc == AMB_OK)
            rc = ambd_kube_status_error(resp->status, resp->body, resp->body_len, retry_after,
                                        &answer);
        if (rc != AMB_OK) {
            thread_throttle_note(answer.retry_after_s);
            ambd_error_wrap(err, rc, &answer);
        }
        ambd_error_clear(&answer);
        return rc;
    }
}

/* Names and namespaces end up in URL paths: allow only what Kubernetes
 * allows in them (DNS subdomains; ':' for names like system:masters). */
static int is_path_safe_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

char *ambd_kube_path(const struct amb_resource *res, const char *ns, const char *name,
                     const char *subresource)
{
    if ((ns && *ns && !is_path_safe_name(ns)) || (name && !is_path_safe_name(name)))
        return NULL;
    struct ambd_buf b = {0};
    if (res->group[0])
        ambd_buf_printf(&b, "/apis/%s/%s", res->group, res->version);
    else
        ambd_buf_printf(&b, "/api/%s", res->version);
    if (res->namespaced && ns && *ns)
        ambd_buf_printf(&b, "/namespaces/%s", ns);
    ambd_buf_printf(&b, "/%s", res->plural);
    if (name)
        ambd_buf_printf(&b, "/%s", name);
    if (name && subresource)
        ambd_buf_printf(&b, "/%s", subresource);
    return ambd_buf_take(&b);
}

/* The caller's token for this thread's JSON calls (the api role's
 * contexts set it around each call): one client, many identities. */
static _Thread_local const char *thread_user_token;

void ambd_kube_set_thread_token(const char *token) { thread_user_token = token; }

/* Sends a JSON request and decodes the JSON answer into *out. */
static int json_call(struct ambd_kube *k, const char *method, const char *verb, char *path,
                     const char *query, const json_t *body, const char *content_type,
                     json_t **out, struct amb_error *err)
{
    if (out)
        *out = NULL;
    if (!path)
        return ambd_error_set(err, AMB_EINVAL, "metadata.name",
                              "name or namespace is not a valid Kubernetes name");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) {
        free(path);
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    struct ambd_kube_request req = {
        .method = method, .path = path, .query = query, .content_type = content_type,
        .body = text, .body_len = text ? strlen(text) : 0, .verb = verb,
        .user_token = thread_user_token,
    };
    struct ambd_kube_response resp;
    int rc = ambd_kube_request(k, &req, &resp, err);
    if (rc == AMB_OK && out) {
        json_error_t jerr;
        *out = json_loadb(resp.body, resp.body_len, 0, &jerr);
        if (!*out)
            rc = ambd_error_set(err, AMB_EIO, NULL, "%s %s: response is not JSON: %s", method,
                                path, jerr.text);
    }
    ambd_kube_response_clear(&resp);
    free(text);
    free(path);
    return rc;
}

static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

int ambd_kube_get(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                  const char *name, json_t **out, struct amb_error *err)
{
    return json_call(k, "GET", "GET", ambd_kube_path(res, ns, name, NULL), NULL, NULL, NULL, out,
                     err);
}

int ambd_kube_create(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                     const json_t *obj, json_t **out, struct amb_error *err)
{
    return json_call(k, "POST", "CREATE", ambd_kube_path(res, ns, NULL, NULL), NULL, obj, NULL,
                     out, err);
}

int ambd_kube_update(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                     const json_t *obj, const char *subresource, json_t **out,
                     struct amb_error *err)
{
    const char *name = meta_string(obj, "name");
    if (!name)
        return ambd_error_set(err, AMB_EINVAL, "metadata.name", "required for an update");
    return json_call(k, "PUT", subresource ? "UPDATE_STATUS" : "UPDATE",
                     ambd_kube_path(res, ns, name, subresource), NULL, obj, NULL, out, err);
}

int ambd_kube_patch(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                    const char *name, const json_t *patch, const char *subresource,
                    json_t **out, struct amb_error *err)
{
    return json_call(k, "PATCH", "PATCH", ambd_kube_path(res, ns, name, subresource), NULL, patch,
                     "application/merge-patch+json", out, err);
}

int ambd_kube_delete(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                     const char *name, const char *propagation, struct amb_error *err)
{
    json_t *opts = NULL;
    if (propagation)
        opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                         "propagationPolicy", propagation);
    int rc = json_call(k, "DELETE", "DELETE", ambd_kube_path(res, ns, name, NULL), NULL, opts,
                       NULL, NULL, err);
    json_decref(opts);
    return rc;
}

int ambd_kube_list(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                   const char *query, json_t **out, struct amb_error *err)
{
    return json_call(k, "GET", "LIST", ambd_kube_path(res, ns, NULL, NULL), query, NULL, NULL, out,
                     err);
}
