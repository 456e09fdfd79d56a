/* kubeapi.c — the local Kubernetes API server: start and stop
 * (local_kube.h), its thread and event loop, and each request's way from
 * path to handler: decode, authenticate, authorize (RBAC), dispatch. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "kubeapi.h"

#define MAX_SEGMENTS 10

static void reply_text(struct evhttp_request *ev, int code, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add(b, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(ev), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(ev, code, code == 200 ? "OK" : "Failure", b);
    if (b)
        evbuffer_free(b);
}

/* Splits path into at most MAX_SEGMENTS segments; their count, or -1. */
static int split(char *path, char **seg)
{
    int n = 0;
    for (char *save = NULL, *s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGMENTS || !strcmp(s, "..") || !strcmp(s, "."))
            return -1;
        seg[n++] = s;
    }
    return n;
}

static int copy(char *dst, size_t n, const char *src)
{
    return snprintf(dst, n, "%s", src) >= (int)n ? -1 : 0;
}

/* Finds the resource a path names; 1 if it names one (r filled), 0 for a
 * non-resource path, -1 for a resource path that does not exist. */
static int parse_resource(struct kreq *r)
{
    char path[2048], *seg[MAX_SEGMENTS];
    if (copy(path, sizeof path, r->path))
        return -1;
    int n = split(path, seg), i;
    const char *group;
    if (n >= 3 && !strcmp(seg[0], "api")) {
        group = "";
        if (copy(r->version, sizeof r->version, seg[1]))
            return -1;
        i = 2;
    } else if (n >= 4 && !strcmp(seg[0], "apis")) {
        group = seg[1];
        if (copy(r->version, sizeof r->version, seg[2]))
            return -1;
        i = 3;
    } else {
        return n < 0 ? -1 : 0;
    }
    if (n - i >= 3 && !strcmp(seg[i], "namespaces") && strcmp(seg[i + 2], "status") &&
        strcmp(seg[i + 2], "finalize")) {
        if (copy(r->ns, sizeof r->ns, seg[i + 1]))
            return -1;
        i += 2;
    }
    if (n - i > 3)
        return -1;
    const char *plural = seg[i];
    if ((n - i >= 2 && copy(r->name, sizeof r->name, seg[i + 1])) ||
        (n - i == 3 && copy(r->sub, sizeof r->sub, seg[i + 2])))
        return -1;
    r->t = kapi_type_lookup(r->api, group, r->version, plural);
    if (!r->t)
        return -1;
    if (r->ns[0] && !r->t->namespaced)
        return -1;
    if (r->name[0] && r->t->namespaced && !r->ns[0])
        return -1;
    if (r->sub[0] && strcmp(r->sub, "status") && strcmp(r->sub, "token"))
        return -1;
    if ((!strcmp(r->sub, "status") && !r->t->status) ||
        (!strcmp(r->sub, "token") && strcmp(r->t->res, "/serviceaccounts")))
        return -1;
    return 1;
}

static int truthy(const char *v)
{
    return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

/* The Kubernetes verb of the request, or NULL when the method does not fit. */
static const char *verb_of(struct kreq *r)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->ev);
    if (!strcmp(r->sub, "token") && cmd != EVHTTP_REQ_POST)
        return NULL; /* TokenRequest is create-only */
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return r->name[0] ? "get" : truthy(kapi_query(r, "watch")) ? "watch" : "list";
    case EVHTTP_REQ_POST:
        return !r->name[0] || !strcmp(r->sub, "token") ? "create" : NULL;
    case EVHTTP_REQ_PUT:
        return r->name[0] ? "update" : NULL;
    case EVHTTP_REQ_PATCH:
        return r->name[0] ? "patch" : NULL;
    case EVHTTP_REQ_DELETE:
        return r->name[0] ? "delete" : "deletecollection";
    default:
        return NULL;
    }
}

static void forbidden(struct kreq *r)
{
    char q[256], res[128];
    kapi_qualified(r->t, q, sizeof q);
    snprintf(res, sizeof res, "%s%s%s", r->t->plural, r->sub[0] ? "/" : "", r->sub);
    char where[160];
    if (r->ns[0])
        snprintf(where, sizeof where, "in the namespace \"%s\"", r->ns);
    else
        snprintf(where, sizeof where, "at the cluster scope");
    kapi_fail(r, 403, "Forbidden",
              "%s%s%s%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s",
              q, r->name[0] ? " \"" : "", r->name, r->name[0] ? "\"" : "", r->user.name, r->verb,
              res, r->t->group, where);
}

static const struct {
    const char *verb;
    void (*serve)(struct kreq *r);
} handlers[] = {
    {"get", kapi_get},       {"list", kapi_list},     {"watch", kapi_watch},
    {"create", kapi_create}, {"update", kapi_update}, {"patch", kapi_patch},
    {"delete", kapi_delete}, {"deletecollection", kapi_delete_collection},
};

static void dispatch(struct kreq *r)
{
    if (r->t->review) {
        if (strcmp(r->verb, "create") || r->name[0])
            kapi_fail(r, 405, "MethodNotAllowed", "only create is allowed on %s", r->t->plural);
        else
            kapi_review(r);
        return;
    }
    if (!strcmp(r->sub, "token")) {
        kapi_token_request(r);
        return;
    }
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (!strcmp(handlers[i].verb, r->verb)) {
            handlers[i].serve(r);
            return;
        }
}

static void handle(struct evhttp_request *ev, void *arg)
{
    struct kreq r = {.api = arg, .ev = ev};
    TAILQ_INIT(&r.query);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    size_t len = 0;
    char *path = raw ? evhttp_uridecode(raw, 0, &len) : NULL;
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!path || len != strlen(path) || (q && evhttp_parse_query_str(q, &r.query) != 0)) {
        kapi_fail(&r, 400, "BadRequest", "the request's path or query is not valid");
        goto out;
    }
    r.path = path;
    if (!strcmp(path, "/healthz") || !strcmp(path, "/livez") || !strcmp(path, "/readyz")) {
        reply_text(ev, 200, "ok");
        goto out;
    }
    if (!strcmp(path, "/version") || !strcmp(path, "/version/")) {
        kapi_discovery(&r); /* public, as system:public-info-viewer makes it */
        goto out;
    }
    if (kapi_authenticate(&r) != 0)
        goto out;
    int kind = parse_resource(&r);
    if (kind == 0) {
        if (!kapi_authorize(r.api, &r.user, "get", NULL, NULL, NULL, NULL, NULL, path))
            kapi_fail(&r, 403, "Forbidden", "forbidden: User \"%s\" cannot get path \"%s\"",
                      r.user.name, path);
        else if (evhttp_request_get_command(ev) != EVHTTP_REQ_GET || !kapi_discovery(&r))
            kapi_fail(&r, 404, "NotFound", "the server could not find the requested resource");
    } else if (kind < 0) {
        r.t = NULL;
        kapi_fail(&r, 404, "NotFound", "the server could not find the requested resource");
    } else if (!(r.verb = verb_of(&r))) {
        kapi_fail(&r, 405, "MethodNotAllowed", "the server does not allow this method on %s",
                  r.t->plural);
    } else if (!kapi_authorize(r.api, &r.user, r.verb, r.t->group, r.t->plural, r.sub, r.ns,
                               r.name, NULL)) {
        forbidden(&r);
    } else {
        dispatch(&r);
    }
out:
    kapi_user_free(&r.user);
    evhttp_clear_headers(&r.query);
    free(path);
}

/* ---- lifecycle ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    kapi_watch_tick(arg);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct kapi *api = arg;
    kapi_watch_end_all(api);
    struct timeval flush = {0, 100000}; /* lets the last chunks go out */
    event_base_loopexit(api->base, &flush);
}

static void *serve(void *arg)
{
    struct kapi *api = arg;
    /* A client gone before its answer is written costs an EPIPE, not the
     * process (SIGPIPE goes to the writing thread; the thread keeps the
     * rest of its starter's signal mask). */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    event_base_dispatch(api->base);
    return NULL;
}

static void defaults(struct local_kube_limits *l)
{
    if (!l->max_body)
        l->max_body = 3u << 20;
    if (!l->max_headers)
        l->max_headers = 16u << 10;
    if (!l->max_connections)
        l->max_connections = 512;
    if (!l->max_watches)
        l->max_watches = 256;
    if (!l->max_list)
        l->max_list = 50000;
    if (!l->max_output)
        l->max_output = 256u << 20;
    if (!l->history)
        l->history = 10000;
    if (!l->idle_timeout_s)
        l->idle_timeout_s = 60;
}

static int count_crd(const char *res, const char *ns, const char *name, const char *body,
                     void *arg)
{
    (void)res, (void)ns, (void)name;
    json_t *crd = json_loads(body, 0, NULL);
    if (crd)
        kapi_types_crd(arg, crd, 0);
    json_decref(crd);
    return 0;
}

static int open_store(struct kapi *api, const struct local_kube_options *o, char *err, size_t n)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/store.db", o->data_dir) >= (int)sizeof path ||
        snprintf(api->token_file, sizeof api->token_file, "%s/admin-token", o->data_dir) >=
            (int)sizeof api->token_file) {
        snprintf(err, n, "%s: the data directory's path is too long", o->data_dir);
        return -1;
    }
    int fresh = 0;
    api->store = kstore_open(path, api->lim.history, &fresh, err, n);
    if (!api->store)
        return -1;
    kapi_types_builtin(api);
    if (kstore_scan(api->store, "apiextensions.k8s.io/customresourcedefinitions", NULL, NULL, NULL,
                    count_crd, api) != KSTORE_OK) {
        snprintf(err, n, "%s: cannot read the CRDs: %s", path, kstore_errmsg(api->store));
        return -1;
    }
    if (kapi_admin_token(api, err, n) != 0)
        return -1;
    /* An empty store gets the first start's objects, also when a previous
     * first start stopped before writing any. */
    return kapi_bootstrap(api, kstore_rv(api->store) == 0, o->crd_dir, o->rbac_dir, err, n);
}

/* A new evhttp for api on host:port (TLS with ssl); its address into url. */
static struct evhttp *listen_on(struct kapi *api, const char *host, int port, SSL_CTX *ssl,
                                struct evhttp_bound_socket **bound, char *url, size_t url_len,
                                char *err, size_t n)
{
    struct evhttp *http = evhttp_new(api->base);
    if (!http) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    evhttp_set_max_body_size(http, (ev_ssize_t)api->lim.max_body);
    evhttp_set_max_headers_size(http, (ev_ssize_t)api->lim.max_headers);
    evhttp_set_timeout(http, (int)api->lim.idle_timeout_s);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(http, handle, api);
    if (kapi_conns_attach(api, http, ssl) != 0) {
        snprintf(err, n, "out of memory");
        return http;
    }
    *bound = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!*bound ||
        getsockname(evhttp_bound_socket_get_fd(*bound), (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(err, n, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        return http;
    }
    char addr[INET6_ADDRSTRLEN] = "";
    const char *scheme = ssl ? "https" : "http";
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
        snprintf(url, url_len, "%s://[%s]:%d", scheme, addr, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
        snprintf(url, url_len, "%s://%s:%d", scheme, addr, ntohs(s4->sin_port));
    }
    return http;
}

/* Both listeners and the kubeconfig for the TLS one; 0, or -1 with err. */
static int listen_all(struct kapi *api, const struct local_kube_options *o, char *err, size_t n)
{
    const char *host = o->host ? o->host : "127.0.0.1";
    api->http = listen_on(api, host, o->port, NULL, &api->bound, api->url, sizeof api->url, err,
                          n);
    if (!api->bound)
        return -1;
    api->https = listen_on(api, host, o->tls_port, api->ssl, &api->tls_bound, api->tls_url,
                           sizeof api->tls_url, err, n);
    if (!api->tls_bound)
        return -1;
    return kapi_write_kubeconfig(api, err, n);
}

struct local_kube *local_kube_start(const struct local_kube_options *o, char *err,
                                    size_t err_len)
{
    struct kapi *api = calloc(1, sizeof *api);
    if (!api) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    api->lim = o->limits;
    defaults(&api->lim);
    evthread_use_pthreads();
    struct timeval second = {1, 0};
    int ok = open_store(api, o, err, err_len) == 0 &&
             kapi_tls_init(api, o->data_dir, err, err_len) == 0 &&
             (api->base = event_base_new()) && listen_all(api, o, err, err_len) == 0 &&
             (api->tick = event_new(api->base, -1, EV_PERSIST, on_tick, api)) &&
             (api->stop_ev = event_new(api->base, -1, 0, on_stop, api)) &&
             event_add(api->tick, &second) == 0;
    if (ok && pthread_create(&api->thread, NULL, serve, api) == 0) {
        api->thread_started = 1;
        return (struct local_kube *)api;
    }
    if (!err[0])
        snprintf(err, err_len, "cannot start the local Kubernetes API: %s", strerror(errno));
    local_kube_stop((struct local_kube *)api);
    return NULL;
}

const char *local_kube_url(const struct local_kube *k)
{
    return ((const struct kapi *)k)->url;
}

const char *local_kube_tls_url(const struct local_kube *k)
{
    return ((const struct kapi *)k)->tls_url;
}

const char *local_kube_kubeconfig_file(const struct local_kube *k)
{
    return ((const struct kapi *)k)->kubeconfig_file;
}

const char *local_kube_admin_token_file(const struct local_kube *k)
{
    return ((const struct kapi *)k)->token_file;
}

void local_kube_stop(struct local_kube *k)
{
    struct kapi *api = (struct kapi *)k;
    if (!api)
        return;
    if (api->thread_started) {
        event_active(api->stop_ev, EV_READ, 0);
        pthread_join(api->thread, NULL);
    }
    kapi_watch_end_all(api);
    if (api->http)
        evhttp_free(api->http);
    if (api->https)
        evhttp_free(api->https);
    kapi_conns_detach(api);
    if (api->tick)
        event_free(api->tick);
    if (api->stop_ev)
        event_free(api->stop_ev);
    if (api->base)
        event_base_free(api->base);
    kstore_close(api->store);
    SSL_CTX_free(api->ssl);
    for (size_t i = 0; i < api->ntypes; i++) {
        json_decref(api->types[i].short_names);
        json_decref(api->types[i].categories);
    }
    free(api->types);
    free(api);
}
