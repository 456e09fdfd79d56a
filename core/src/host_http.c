/* host_http.c — the host table's HTTP for plugins (ABI 1.4, host->http):
 * what forge plugins call GitHub and GitLab with, so no plugin links an HTTP
 * client of its own. libcurl with TLS verified and no redirects followed;
 * plain http only to a loopback host; a deadline per attempt; bounded
 * retries of transport errors, 429 and 502/503/504 (Retry-After honoured up
 * to the caller's max_wait_s); answers counted in
 * ambient_plugin_http_requests_total{plugin,code}. Header values and query
 * strings never reach the log. */
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "host-http-internal.h"
#include "kube-internal.h"
#include "log-internal.h"
#include "runtime-internal.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_MAX_RESPONSE (8u << 20)
#define DEFAULT_MAX_WAIT_S 60u
#define MAX_RETRIES 5u
#define MAX_HEADER_BYTES (64u << 10)
#define MAX_URL_BYTES 8192u
#define BACKOFF_FIRST_MS 250u
#define BACKOFF_MAX_MS 8000u

/* Members a 1.4 plugin fills in (all of them: the struct is new in 1.4). */
#define REQUEST_SIZE_1_4 \
    (offsetof(struct amb_http_request, max_wait_s) + sizeof(unsigned))

static _Atomic(struct ambd_metric *) requests_metric;

void ambd_host_http_set_metric(struct ambd_metric *requests) { atomic_store(&requests_metric, requests); }

static int is_loopback_host(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "::1") == 0 || strcasecmp(host, "localhost") == 0;
}

/* https anywhere, http only to loopback; no userinfo (credentials go in
 * headers, where they are never logged). Fills host_path with
 * "host/path" for the log. */
static int check_url(const char *url, char *host_path, size_t host_path_len,
                     struct amb_error *err)
{
    if (!url || !*url)
        return ambd_error_set(err, AMB_EINVAL, "url", "is empty");
    if (strlen(url) > MAX_URL_BYTES)
        return ambd_error_set(err, AMB_EINVAL, "url", "is longer than %u bytes", MAX_URL_BYTES);
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *path = NULL;
    int rc = AMB_OK;
    if (!u)
        return ambd_error_set(err, AMB_ENOMEM, NULL, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = ambd_error_set(err, AMB_EINVAL, "url", "is not an absolute URL");
    } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        rc = ambd_error_set(err, AMB_EINVAL, "url", "must not carry a user name or password");
    } else if (strcmp(scheme, "https") != 0 &&
               !(strcmp(scheme, "http") == 0 && is_loopback_host(host))) {
        rc = ambd_error_set(err, AMB_EINVAL, "url",
                            "must be https (plain http only to a loopback host)");
    } else {
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        snprintf(host_path, host_path_len, "%s%s", host, path ? path : "/");
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

static int check_request(const struct amb_http_request *req, char *host_path,
                         size_t host_path_len, struct amb_error *err)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
    if (!req || req->size < REQUEST_SIZE_1_4)
        return ambd_error_set(err, AMB_EINVAL, "request", "is not a struct amb_http_request");
    int known = 0;
    for (size_t i = 0; req->method && methods[i]; i++)
        known |= strcmp(req->method, methods[i]) == 0;
    if (!known)
        return ambd_error_set(err, AMB_EINVAL, "method", "must be one of GET, POST, PUT, "
                                                       "PATCH, DELETE, HEAD");
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        const char *h = req->headers[i];
        if (!strchr(h, ':') || strpbrk(h, "\r\n") || h[0] == ':')
            return ambd_error_set(err, AMB_EINVAL, "headers",
                                  "header %zu is not one \"Name: value\" line", i);
    }
    if (req->body_len && !req->body)
        return ambd_error_set(err, AMB_EINVAL, "body", "is NULL with a length");
    return check_url(req->url, host_path, host_path_len, err);
}

/* ---- one attempt ---- */

struct exchange {
    struct ambd_buf body;
    size_t max_body;
    int too_large;
    json_t *headers;
    size_t header_bytes;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct exchange *x = ud;
    size_t len = size * n;
    if (x->body.len + len > x->max_body) {
        x->too_large = 1;
        return 0; /* aborts the transfer */
    }
    ambd_buf_append(&x->body, data, len);
    return x->body.failed ? 0 : len;
}

/* Keeps "name: value" lines as lower-case name -> value; a status line
 * (a new response after a 100 Continue) starts over. */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct exchange *x = ud;
    size_t len = size * n;
    if ((x->header_bytes += len) > MAX_HEADER_BYTES) {
        x->too_large = 1;
        return 0;
    }
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        json_object_clear(x->headers);
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon || colon == data)
        return len;
    char name[128];
    size_t nlen = (size_t)(colon - data);
    if (nlen >= sizeof name)
        return len;
    for (size_t i = 0; i < nlen; i++)
        name[i] = (char)(data[i] >= 'A' && data[i] <= 'Z' ? data[i] + 32 : data[i]);
    name[nlen] = '\0';
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    json_object_set_new(x->headers, name, json_stringn_nocheck(v, (size_t)(end - v)));
    return len;
}

static int attempt(CURL *h, const struct amb_http_request *req, struct curl_slist *headers,
                   size_t max_body, struct amb_http_response *out, struct amb_error *err)
{
    struct exchange x = {.max_body = max_body, .headers = json_object()};
    if (!x.headers)
        return ambd_error_set(err, AMB_ENOMEM, NULL, "out of memory");
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    if (strcmp(req->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (req->body || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
        strcmp(req->method, "PATCH") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    unsigned timeout = req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout < 10000 ? timeout : 10000));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    CURLcode cc = curl_easy_perform(h);
    int rc = AMB_OK;
    if (x.too_large)
        rc = ambd_error_set(err, AMB_ETOOLARGE, NULL, "the answer is larger than %zu bytes",
                            max_body);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = ambd_error_set(err, AMB_ETIMEDOUT, NULL, "no complete answer within %u ms", timeout);
    else if (cc != CURLE_OK || x.body.failed)
        rc = ambd_error_set(err, x.body.failed ? AMB_ENOMEM : AMB_EUNAVAILABLE, NULL, "%s",
                            x.body.failed ? "out of memory" : curl_easy_strerror(cc));
    if (rc != AMB_OK) {
        ambd_buf_release(&x.body);
        json_decref(x.headers);
        return rc;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    out->headers = x.headers;
    out->body_len = x.body.len;
    out->body = ambd_buf_take(&x.body);
    if (!out->body && !(out->body = calloc(1, 1)))
        return ambd_error_set(err, AMB_ENOMEM, NULL, "out of memory");
    return AMB_OK;
}

/* ---- retries ---- */

static int retryable_status(long status) { return status == 429 || (status >= 502 && status <= 504); }

/* The wait before the next attempt in ms, or -1 when the answer asks for
 * longer than max_wait_s (then it is the caller's to handle). */
static long next_wait_ms(const struct amb_http_response *resp, unsigned attempt_no,
                         unsigned max_wait_s)
{
    json_t *ra = resp ? json_object_get(resp->headers, "retry-after") : NULL;
    if (ra) {
        long s = ambd_kube_retry_after(json_string_value(ra), time(NULL));
        if (s >= 0)
            return s > (long)max_wait_s ? -1 : s * 1000;
    }
    unsigned ms = BACKOFF_FIRST_MS << (attempt_no < 6 ? attempt_no : 6);
    return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void count(const char *plugin, long status)
{
    char code[16];
    snprintf(code, sizeof code, "%ld", status);
    const char *labels[] = {plugin, code, NULL};
    ambd_metric_add(atomic_load(&requests_metric), labels, 1);
}

void ambd_http_response_free(struct amb_http_response *resp)
{
    if (!resp)
        return;
    json_decref(resp->headers);
    free(resp->body);
    free(resp);
}

int ambd_http_exchange(const char *plugin, const struct amb_http_request *req,
                       struct amb_http_response **out, struct amb_error *err)
{
    char host_path[512];
    *out = NULL;
    int rc = check_request(req, host_path, sizeof host_path, err);
    if (rc != AMB_OK)
        return rc;
    struct curl_slist *headers = NULL;
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *next = curl_slist_append(headers, req->headers[i]);
        if (!next) {
            curl_slist_free_all(headers);
            return ambd_error_set(err, AMB_ENOMEM, NULL, "out of memory");
        }
        headers = next;
    }
    CURL *h = curl_easy_init();
    struct amb_http_response *resp = NULL;
    unsigned retries = req->max_retries < MAX_RETRIES ? req->max_retries : MAX_RETRIES;
    unsigned max_wait = req->max_wait_s ? req->max_wait_s : DEFAULT_MAX_WAIT_S;
    size_t max_body = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE;
    rc = h ? AMB_OK : ambd_error_set(err, AMB_ENOMEM, NULL, "out of memory");
    for (unsigned n = 0; rc == AMB_OK; n++) {
        ambd_http_response_free(resp);
        if (!(resp = calloc(1, sizeof *resp))) {
            rc = ambd_error_set(err, AMB_ENOMEM, NULL, "out of memory");
            break;
        }
        struct amb_error try_err = AMBD_ERROR_INIT;
        int arc = attempt(h, req, headers, max_body, resp, &try_err);
        count(plugin, arc == AMB_OK ? resp->status : 0);
        ambd_log("http", AMB_LOG_DEBUG, "plugin HTTP request", "plugin", plugin, "method",
                 req->method, "url", host_path, "result",
                 arc == AMB_OK ? "answered" : ambd_strerror(arc), NULL);
        int again = n < retries && (arc == AMB_OK ? retryable_status(resp->status)
                                                  : arc == AMB_EUNAVAILABLE || arc == AMB_ETIMEDOUT);
        long wait = again ? next_wait_ms(arc == AMB_OK ? resp : NULL, n, max_wait) : -1;
        if (wait < 0 && arc != AMB_OK)
            rc = ambd_error_wrap(err, arc, &try_err);
        ambd_error_clear(&try_err);
        if (wait < 0)
            break;
        sleep_ms(wait);
    }
    curl_slist_free_all(headers);
    if (h)
        curl_easy_cleanup(h);
    if (rc != AMB_OK) {
        ambd_http_response_free(resp);
        return rc;
    }
    *out = resp;
    return AMB_OK;
}
