/* server.c — the REST server: `threads` loop threads, each with its own
 * event_base and evhttp, all accepting on one listening socket (each loop
 * has its own listener on it, which leaves it open when freed; the server
 * closes it once every loop is gone). One
 * generic callback decodes the path, routes, checks for a token, runs the
 * handler, and writes the access log line and the metrics.
 *
 * Handlers block (Kubernetes calls with the caller's token), so a slow call
 * holds only its own loop's connections. Stop is graceful: every loop stops
 * accepting, requests in flight finish and their replies are flushed, for
 * at most STOP_GRACE_MS, then the loops end. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "conn_guard.h"
#include "ratelimit.h"
#include "rest_conn.h"
#include "serving.h"
#include "web_static.h"

#define STOP_GRACE_MS 5000
#define JOIN_EXTRA_MS 2000

struct loop {
    struct api_server *s;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct rest_conns *conns; /* this loop's connections (rest_conn.c) */
    pthread_t tid;
    int started; /* thread created */
    int joined;
};

struct api_server {
    struct api *api;
    const struct api_config *cfg;
    const struct api_router *rt;
    SSL_CTX *ssl;
    struct loop *loops;
    unsigned n_loops;
    atomic_int stopping;
    atomic_int in_flight;  /* requests inside the callback */
    atomic_int unflushed;  /* replies sent but not yet written out */
    int stopped;
    int stuck;             /* a loop did not end: its memory is left alone */
    evutil_socket_t listen_fd; /* shared by the loops' listeners; -1: none */
    atomic_int listening;      /* loops still accepting on it */
    struct ratelimit *limits; /* per caller; NULL: no limit */
    struct conn_guard *guard; /* connections in total and per client */
    struct rest_conn_policy policy; /* what each connection is held to (rest_conn.c) */
    char address[128];
};

/* What the server keeps per request besides the api_req handlers see. */
struct srv_req {
    struct api_req r;       /* first: reply.c casts back */
    const char *cors_origin; /* allowed Origin of the request, or NULL */
};

const char *api_server_address(const struct api_server *s)
{
    return s ? s->address : "";
}

/* ---- paths ---- */

static int origin_allowed(const struct api_config *cfg, const char *origin)
{
    for (size_t i = 0; origin && i < cfg->n_allowed_origins; i++)
        if (strcmp(cfg->allowed_origins[i], "*") == 0 ||
            strcasecmp(cfg->allowed_origins[i], origin) == 0)
            return 1;
    return 0;
}

void api_server_decorate(struct api_req *r)
{
    if (!r->server || !r->ev)
        return;
    struct srv_req *q = (struct srv_req *)r;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    if (q->cors_origin) {
        evhttp_add_header(h, "Access-Control-Allow-Origin", q->cors_origin);
        evhttp_add_header(h, "Vary", "Origin");
    }
    if (atomic_load(&r->server->stopping))
        evhttp_add_header(h, "Connection", "close");
    /* Counted until written out, so a graceful stop flushes it. */
    atomic_fetch_add(&r->server->unflushed, 1);
}

void api_server_send(struct api_req *r, int status, struct evbuffer *body)
{
    /* Taken first: evhttp_send_reply frees a request whose client left. */
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    evhttp_send_reply(r->ev, status, NULL, body);
    if (evcon && r->server)
        rest_conn_write_now(&r->server->policy, evhttp_connection_get_bufferevent(evcon));
}

static void on_complete(struct evhttp_request *ev, void *arg)
{
    (void)ev;
    struct api_server *s = arg;
    atomic_fetch_sub(&s->unflushed, 1);
}

static void reply_options(struct srv_req *q, const char *allow)
{
    struct api_req *r = &q->r;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "Allow", allow);
    if (q->cors_origin && api_header(r, "Access-Control-Request-Method")) {
        evhttp_add_header(h, "Access-Control-Allow-Methods", allow);
        evhttp_add_header(h, "Access-Control-Allow-Headers",
                          "Authorization, Content-Type, X-Forwarded-Access-Token");
        evhttp_add_header(h, "Access-Control-Max-Age", "600");
    }
    api_reply_raw(r, 204, NULL, NULL, 0);
}

/* ---- the request callback ---- */

static const char *method_name(enum evhttp_cmd_type c)
{
    switch (c) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

/* Decodes path and query into r; replies 400/414 and returns -1 on bad ones. */
static int parse_target(struct api_req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->ev);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!raw || !*raw)
        raw = "/";
    if (strlen(raw) > 3 * API_MAX_PATH) {
        api_reply_error(r, 414, "the path is too long", NULL);
        return -1;
    }
    char buf[API_MAX_PATH + 1];
    const char *why = NULL;
    if (api_path_decode(raw, buf, sizeof buf, &why) != 0) {
        int too_long = strcmp(why, "the path is too long") == 0;
        api_reply_error(r, too_long ? 414 : 400, why, NULL);
        return -1;
    }
    if (!(r->path = strdup(buf))) {
        api_reply_error(r, 500, "out of memory", NULL);
        return -1;
    }
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (query && *query && evhttp_parse_query_str(query, &r->query) != 0) {
        api_reply_error(r, 400, "malformed query string", NULL);
        return -1;
    }
    return 0;
}


/* The caller's bucket: its user once authenticated (a token is free to
 * mint, a user is not), else its address. */
static void bucket_key(struct api_req *r, const char *user, char key[80])
{
    if (user) {
        char hex[API_TOKEN_HASH_LEN + 1];
        api_token_hash(r->api->auth, user, hex); /* fixed length, whatever the name */
        snprintf(key, 80, "u:%.48s", hex);
    } else {
        char *host = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(evhttp_request_get_connection(r->ev), &host, &port);
        snprintf(key, 80, "ip:%.70s", host ? host : "?");
    }
}

static double mono_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Takes a request from the caller's bucket when spend, else only asks
 * whether one is left. Returns 0 when it replied 429. */
static int within_rate(struct api_req *r, const char *user, int spend)
{
    if (!r->server->limits)
        return 1;
    char key[80];
    bucket_key(r, user, key);
    double t = mono_now();
    unsigned wait = 1;
    if (spend ? ratelimit_take(r->server->limits, key, t, &wait)
              : ratelimit_peek(r->server->limits, key, t, &wait))
        return 1;
    api_add_retry_after(r, wait);
    api_reply_error(r, 429, "too many requests", json_pack("{s:i}", "retryAfterSeconds", (int)wait));
    return 0;
}

/* Who the caller is (SelfSubjectReview, cached under the token's hash), for
 * the access log; a token the API rejects is a 401 before any handler runs.
 * Returns 0 when it replied. An unreachable API leaves the user unknown: the
 * handler's own calls will report that. */
static int identify(struct api_req *r)
{
    struct amb_error *err = api_host->error_new();
    char user[sizeof r->user];
    int rc = err ? api_auth_whoami(r->api->auth, r->token, r->token_hash, user, sizeof user, err) : AMB_ENOMEM;
    api_host->error_free(err);
    if (rc == AMB_OK) {
        snprintf(r->user, sizeof r->user, "%s", user);
        r->identified = 1;
        return 1;
    }
    if (rc == AMB_EUNAUTHORIZED) {
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "WWW-Authenticate",
                          "Bearer error=\"invalid_token\"");
        api_reply_error(r, 401, "the bearer token was rejected", NULL);
        return 0;
    }
    return 1;
}

/* A head rest_conn.c refused, handed over as a request: the connection
 * closes after this reply, as the refusal asked. */
static void reply_refusal(struct api_server *s, struct api_req *r, int status,
                          const char *message)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    json_t *details = NULL;
    if (status == 401)
        evhttp_add_header(h, "WWW-Authenticate", "Bearer");
    if (status == 413)
        details = json_pack("{s:I}", "maxBody", (json_int_t)s->cfg->max_body);
    if (status == 503)
        evhttp_add_header(h, "Retry-After", "1");
    api_reply_error(r, status, message, details);
}

/* The headers every request is asked for, in one walk of its list (each
 * evhttp_find_header walks it all), the first of each name as
 * evhttp_find_header would find it. */
static void request_headers(const struct api_req *r, const char **origin,
                            const char **authorization, const char **forwarded)
{
    *origin = *authorization = *forwarded = NULL;
    const struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(r->ev), next) {
        const char **slot = !strcasecmp(h->key, "Origin")          ? origin
                            : !strcasecmp(h->key, "Authorization") ? authorization
                            : !strcasecmp(h->key, "X-Forwarded-Access-Token") ? forwarded
                                                                              : NULL;
        if (slot && !*slot)
            *slot = h->value;
    }
}

static void route_and_run(struct api_server *s, struct srv_req *q)
{
    struct api_req *r = &q->r;
    if (parse_target(r) != 0)
        return;
    const char *origin, *authorization, *forwarded;
    request_headers(r, &origin, &authorization, &forwarded);
    if (origin_allowed(s->cfg, origin))
        q->cors_origin = origin;
    unsigned flags = 0;
    int status = 0;
    char allow[128];
    api_handler fn = api_router_match(s->rt, r, &flags, &status, allow, sizeof allow);
    if (!fn && strcmp(r->method, "OPTIONS") == 0 && status == 405) {
        reply_options(q, allow);
        return;
    }
    if (!fn && status == 404 && api_web_serve(r))
        return; /* the web UI's file, or its index.html for the app's routes */
    if (!fn) {
        if (status == 405) {
            evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Allow", allow);
            api_reply_error(r, 405, "method not allowed", json_pack("{s:s}", "allow", allow));
        } else if (status == 404) {
            api_reply_error(r, 404, "not found", NULL);
        } else {
            api_reply_error(r, 500, "out of memory", NULL);
        }
        return;
    }
    r->token = api_auth_token(authorization, forwarded);
    if (r->token)
        api_token_hash(r->api->auth, r->token, r->token_hash);
    /* A token not known yet costs a review. Its address pays when the token
     * is rejected (or there is none), so once an address has sent `burst`
     * bad tokens, its unknown ones get 429 before any review; good tokens
     * never drain it. A known one names its user at once: the one look at
     * the token's identity this request makes. */
    if (!(flags & API_PUBLIC) && r->token &&
        api_auth_known(r->api->auth, r->token_hash, r->user, sizeof r->user))
        r->identified = 1;
    if (!(flags & API_PUBLIC) && !r->identified && !within_rate(r, NULL, !r->token))
        return;
    if (!r->token && !(flags & API_PUBLIC)) {
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "WWW-Authenticate",
                          "Bearer");
        api_reply_error(r, 401, "a bearer token is required", NULL);
        return;
    }
    if (r->token && !(flags & API_PUBLIC)) {
        if (!r->identified && !identify(r)) { /* rejected: its address pays */
            char key[80];
            bucket_key(r, NULL, key);
            if (r->server->limits)
                ratelimit_take(r->server->limits, key, mono_now(), NULL);
            return;
        }
        if (!within_rate(r, strcmp(r->user, "-") ? r->user : NULL, 1))
            return;
    }
    api_gate_arm(r);
    fn(r);
    if (!r->replied)
        api_reply_error(r, 500, "internal error: the handler did not reply", NULL);
}

static double elapsed_s(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* src into dst (size bytes), cut to fit: without printf, as the access
 * line is made for every request. */
static void copy_cut(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Milliseconds with one decimal ("12.3"), as "%.1f" would print them. */
static void format_ms(char out[24], double secs)
{
    unsigned long long tenths = (unsigned long long)(secs * 10000.0 + 0.5);
    char digits[24];
    size_t n = 0;
    for (unsigned long long v = tenths / 10; n == 0 || v; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    size_t used = 0;
    while (n)
        out[used++] = digits[--n];
    out[used++] = '.';
    out[used++] = (char)('0' + tenths % 10);
    out[used] = '\0';
}

/* The access line: never the query string (it may carry secrets), never a
 * token. */
static void access_log(const struct api_req *r, const char *raw_path, double secs)
{
    char status[8], ms[24], path[512];
    int code = r->status >= 100 && r->status <= 999 ? r->status : 0;
    status[0] = (char)('0' + code / 100);
    status[1] = (char)('0' + code / 10 % 10);
    status[2] = (char)('0' + code % 10);
    status[3] = '\0';
    format_ms(ms, secs);
    copy_cut(path, sizeof path, r->path ? r->path : raw_path);
    api_host->log(api_self, AMB_LOG_INFO, "request", "method", r->method, "path", path, "status",
                  status, "duration_ms", ms, "user", r->user[0] ? r->user : "-", NULL);
}

static void req_free(struct api_req *r)
{
    if (r->ctx && AMB_HAS(api_host, ctx_free))
        api_host->ctx_free(r->ctx);
    for (size_t i = 0; i < r->n_params; i++)
        free(r->param_values[i]);
    evhttp_clear_headers(&r->query);
    free(r->project);
    free(r->path);
    free(r);
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct api_server *s = arg;
    struct srv_req *q = calloc(1, sizeof *q);
    if (!q) {
        evhttp_send_error(ev, 500, NULL);
        return;
    }
    struct api_req *r = &q->r;
    atomic_fetch_add(&s->in_flight, 1);
    api_metrics_in_flight(1);
    clock_gettime(CLOCK_MONOTONIC, &r->started);
    TAILQ_INIT(&r->query);
    r->ev = ev;
    r->server = s;
    r->api = s->api;
    r->method = method_name(evhttp_request_get_command(ev));
    snprintf(r->user, sizeof r->user, "-");
    evhttp_request_set_on_complete_cb(ev, on_complete, s);

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    char raw[256];
    copy_cut(raw, sizeof raw, uri && evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri) : "-");

    const char *refusal = NULL;
    int refused = rest_conn_refusal(&s->policy, raw, &refusal);
    if (refused) {
        reply_refusal(s, r, refused, refusal);
        copy_cut(raw, sizeof raw, "-"); /* the refusal's path is not the client's */
    } else {
        route_and_run(s, q);
    }

    double secs = elapsed_s(&r->started);
    api_metrics_record(r->method, r->route_label, r->status, secs);
    access_log(r, raw, secs);
    req_free(r); /* r is q's first member */
    api_metrics_in_flight(-1);
    atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- loops ---- */

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    /* A client gone before its reply is written must cost an EPIPE, not the
     * process (SIGPIPE is delivered to the writing thread). Signals for the
     * daemon go to other threads. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* A loop's event_base, with epoll's changelist: evhttp turns a connection's
 * reading off when a request arrives and on again, with writing, when its
 * reply is sent, all within one callback; the changelist makes that one
 * epoll_ctl instead of three (without it, four per request). libevent
 * warns against it with descriptors cloned by dup(), which a loop's epoll
 * would go on seeing after closing one clone; so no loop holds a dup: they
 * share the listening socket and none closes it (loop_listen). */
static struct event_base *loop_base(void)
{
    struct event_config *c = event_config_new();
    if (!c)
        return NULL;
    event_config_set_flag(c, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(c);
    event_config_free(c);
    return base;
}

/* Accepts on the shared listening socket without owning it. */
static struct evhttp_bound_socket *loop_listen(struct loop *l, evutil_socket_t listen_fd)
{
    struct evconnlistener *lev = evconnlistener_new(l->base, NULL, NULL, LEV_OPT_CLOSE_ON_EXEC,
                                                    0, listen_fd);
    if (!lev)
        return NULL;
    struct evhttp_bound_socket *bound = evhttp_bind_listener(l->http, lev);
    if (!bound)
        evconnlistener_free(lev);
    return bound;
}

static int loop_init(struct api_server *s, struct loop *l, evutil_socket_t listen_fd,
                     struct amb_error *err)
{
    const struct api_config *cfg = s->cfg;
    l->s = s;
    if (!(l->base = loop_base()) || !(l->http = evhttp_new(l->base)) ||
        !(l->conns = rest_conns_new(l->base, &s->policy)))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "cannot create an event loop");
    evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_HEAD);
    evhttp_set_max_body_size(l->http, (ev_ssize_t)cfg->max_body);
    evhttp_set_max_headers_size(l->http, (ev_ssize_t)cfg->max_headers);
    evhttp_set_timeout(l->http, (int)cfg->timeout_s);
    evhttp_set_gencb(l->http, on_request, s);
    evhttp_set_bevcb(l->http, rest_conn_bufferevent, l->conns);
    if (!(l->bound = loop_listen(l, listen_fd)))
        return api_host->error_set(err, AMB_EIO, NULL, "cannot accept on the listener");
    atomic_fetch_add(&s->listening, 1);
    conn_guard_watch(evhttp_bound_socket_get_listener(l->bound), s->guard);
    return AMB_OK;
}

int api_server_start(struct api *api, struct api_server **out, struct amb_error *err)
{
    const struct api_config *cfg = &api->cfg;
    const struct api_router *rt = api->router;
    *out = NULL;
    evthread_use_pthreads(); /* before any base: loops are woken from other threads */
    struct api_server *s = calloc(1, sizeof *s);
    if (!s)
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    s->api = api;
    s->cfg = cfg;
    s->limits = ratelimit_new(cfg->rate_per_s, cfg->rate_burst, 4096);
    s->rt = rt;
    s->n_loops = cfg->threads ? cfg->threads : 1;
    s->loops = calloc(s->n_loops, sizeof *s->loops);
    s->guard = conn_guard_new("api", cfg->max_connections, cfg->max_connections_per_client);
    if (s->guard)
        conn_guard_set_body_budget(s->guard, cfg->max_bodies, cfg->max_bodies_per_client);
    s->listen_fd = -1;
    int rc = s->loops && s->guard && rest_conn_policy_init(&s->policy) == 0
                 ? AMB_OK
                 : api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    if (rc == AMB_OK && cfg->tls_cert_file)
        rc = api_tls_context(cfg, &s->ssl, err);
    s->policy.guard = s->guard;
    s->policy.rt = rt;
    s->policy.ssl = s->ssl;
    s->policy.max_body = cfg->max_body;
    s->policy.max_headers = cfg->max_headers;
    s->policy.head_timeout_s = cfg->head_timeout_s;
    s->policy.body_timeout_s = cfg->body_timeout_s;
    if (rc == AMB_OK)
        rc = api_listen_socket(cfg->listen, "api.listen", &s->listen_fd, s->address,
                               sizeof s->address, err);
    for (unsigned i = 0; rc == AMB_OK && i < s->n_loops; i++)
        rc = loop_init(s, &s->loops[i], s->listen_fd, err);
    for (unsigned i = 0; rc == AMB_OK && i < s->n_loops; i++) {
        if (pthread_create(&s->loops[i].tid, NULL, loop_main, &s->loops[i]) != 0)
            rc = api_host->error_set(err, AMB_EIO, NULL, "cannot start a server thread");
        else
            s->loops[i].started = 1;
    }
    if (rc != AMB_OK) {
        api_server_stop(s);
        api_server_free(s);
        return rc;
    }
    api_host->log(api_self, AMB_LOG_INFO, "api listening", "address", s->address, "tls",
                  s->ssl ? "on" : "off", NULL);
    *out = s;
    return AMB_OK;
}

/* Runs on a loop's own thread: closes its listener. */
static void stop_accepting(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *l = arg;
    if (l->bound) {
        conn_guard_unwatch(evhttp_bound_socket_get_listener(l->bound));
        evhttp_del_accept_socket(l->http, l->bound);
        l->bound = NULL;
        /* The last loop to stop closes the socket, so that new clients are
         * refused at once rather than left in the backlog until free. */
        if (atomic_fetch_sub(&l->s->listening, 1) == 1) {
            close(l->s->listen_fd);
            l->s->listen_fd = -1;
        }
    }
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits until *counter is 0 or the deadline passes. */
static void drain(atomic_int *counter, long long deadline)
{
    const struct timespec tick = {0, 10 * 1000000};
    while (atomic_load(counter) > 0 && now_ms() < deadline)
        nanosleep(&tick, NULL);
}

void api_server_stop(struct api_server *s)
{
    if (!s || s->stopped)
        return;
    s->stopped = 1;
    atomic_store(&s->stopping, 1);
    const struct timeval now = {0, 0};
    for (unsigned i = 0; i < s->n_loops; i++)
        if (s->loops[i].started)
            event_base_once(s->loops[i].base, -1, EV_TIMEOUT, stop_accepting, &s->loops[i], &now);
    long long deadline = now_ms() + STOP_GRACE_MS;
    drain(&s->in_flight, deadline);
    drain(&s->unflushed, deadline);
    if (atomic_load(&s->in_flight) > 0 || atomic_load(&s->unflushed) > 0)
        api_host->log(api_self, AMB_LOG_WARN, "api stopping with requests in flight", NULL);
    for (unsigned i = 0; i < s->n_loops; i++)
        if (s->loops[i].started)
            event_base_loopexit(s->loops[i].base, NULL);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += JOIN_EXTRA_MS / 1000;
    for (unsigned i = 0; i < s->n_loops; i++) {
        struct loop *l = &s->loops[i];
        if (!l->started)
            continue;
        if (pthread_timedjoin_np(l->tid, NULL, &until) == 0) {
            l->joined = 1;
        } else {
            /* A handler is stuck in a call: leave its memory alone. */
            pthread_detach(l->tid);
            s->stuck = 1;
        }
    }
    if (s->stuck)
        api_host->log(api_self, AMB_LOG_WARN, "api: a server thread did not stop in time", NULL);
}

void api_server_free(struct api_server *s)
{
    if (!s)
        return;
    api_server_stop(s);
    if (s->stuck)
        return; /* a thread may still use it; the process is ending */
    for (unsigned i = 0; s->loops && i < s->n_loops; i++) {
        struct loop *l = &s->loops[i];
        if (l->bound)
            conn_guard_unwatch(evhttp_bound_socket_get_listener(l->bound));
        if (l->http)
            evhttp_free(l->http);
        rest_conns_free(l->conns); /* what evhttp_free let go of */
        if (l->base)
            event_base_free(l->base);
    }
    free(s->loops);
    if (s->listen_fd >= 0)
        close(s->listen_fd); /* after the loops: their listeners leave it open */
    conn_guard_free(s->guard); /* after the loops: their connections leave it */
    SSL_CTX_free(s->ssl);
    ratelimit_free(s->limits);
    free(s);
}
