/* controller_http.c — the controller's own HTTP listener: /metrics
 * (Prometheus text), /healthz (the process is alive), /readyz (every cache
 * has synced; until then a 503 naming the caches that have not). Served on
 * every replica, leader or not. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "buf-internal.h"
#include "controller-state-internal.h"
#include "error-internal.h"
#include "host-http-internal.h"
#include "log-internal.h"

static double read_depth(void *ud)
{
    struct ambd_controller *c = ud;
    return (double)ambd_workqueue_len(c->queue);
}

static double read_leader(void *ud)
{
    struct ambd_controller *c = ud;
    return atomic_load(&c->leading) ? 1 : 0;
}

int ambd_ctl_metrics_init(struct ambd_controller *c)
{
    static const char *const kind_result[] = {"kind", "result", NULL};
    static const char *const kind[] = {"kind", NULL};
    static const char *const verb_code[] = {"verb", "code", NULL};
    static const char *const resource[] = {"resource", NULL};
    static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    if (!(c->metrics = ambd_metrics_new()))
        return AMB_ENOMEM;
    c->m_reconciles = ambd_metrics_counter(c->metrics, "ambient_reconcile_total",
                                           "Reconciles by kind and result (success, requeue, error).",
                                           kind_result);
    c->m_reconcile_errors = ambd_metrics_counter(c->metrics, "ambient_reconcile_errors_total",
                                                 "Reconciles that failed and will be retried.", kind);
    c->m_reconcile_seconds = ambd_metrics_histogram(
        c->metrics, "ambient_reconcile_duration_seconds", "Time spent in one reconcile.", kind,
        buckets, sizeof buckets / sizeof buckets[0]);
    c->m_api_requests = ambd_metrics_counter(c->metrics, "ambient_kube_requests_total",
                                             "Kubernetes API requests by verb and HTTP code (0: no answer).",
                                             verb_code);
    static const char *const verb[] = {"verb", NULL};
    c->m_api_throttled = ambd_metrics_counter(
        c->metrics, "ambient_kube_throttled_total",
        "Kubernetes API answers that asked for a wait (429 or 5xx with Retry-After), by verb.",
        verb);
    static const char *const plugin_code[] = {"plugin", "code", NULL};
    struct ambd_metric *plugin_http = ambd_metrics_counter(
        c->metrics, "ambient_plugin_http_requests_total",
        "HTTP requests plugins made through the host (forges), by plugin and HTTP code (0: no answer).",
        plugin_code);
    ambd_host_http_set_metric(plugin_http);
    c->m_watch_restarts = ambd_metrics_counter(c->metrics, "ambient_watch_restarts_total",
                                               "Watch streams re-opened after the first.", resource);
    c->m_cache_objects = ambd_metrics_gauge(c->metrics, "ambient_cache_objects",
                                            "Objects held in the informer caches.", resource);
    static const char *const kind_phase[] = {"kind", "phase", NULL};
    c->m_objects = ambd_metrics_gauge(c->metrics, "ambient_objects",
                                      "Objects of each kind by status.phase (\"\" before one is set).",
                                      kind_phase);
    c->m_leader = ambd_metrics_gauge_func(c->metrics, "ambient_leader",
                                          "1 while this replica is the leader.", read_leader, c);
    struct ambd_metric *depth = ambd_metrics_gauge_func(
        c->metrics, "ambient_workqueue_depth", "Keys waiting in the work queue.", read_depth, c);
    if (!c->m_reconciles || !c->m_reconcile_errors || !c->m_reconcile_seconds ||
        !c->m_api_requests || !c->m_api_throttled || !plugin_http || !c->m_watch_restarts ||
        !c->m_cache_objects || !c->m_leader ||
        !c->m_objects || !depth)
        return AMB_ENOMEM;
    return ambd_ctl_usage_metrics_init(c);
}

/* Brings the informer-derived series up to date before a scrape. */
static void refresh_informer_metrics(struct ambd_controller *c)
{
    size_t n = c->n_kinds + c->n_children;
    if (!c->last_watches && !(c->last_watches = calloc(n + 1, sizeof *c->last_watches)))
        return;
    for (size_t i = 0; i < n; i++) {
        struct ambd_informer *inf = i < c->n_kinds ? c->kinds[i].informer
                                                   : c->children[i - c->n_kinds].informer;
        const char *labels[] = {ambd_informer_resource(inf)->plural, NULL};
        struct ambd_informer_stats st = ambd_informer_stats(inf);
        unsigned long restarts = st.watches > 0 ? st.watches - 1 : 0;
        if (restarts > c->last_watches[i])
            ambd_metric_add(c->m_watch_restarts, labels, (double)(restarts - c->last_watches[i]));
        else
            ambd_metric_add(c->m_watch_restarts, labels, 0);
        c->last_watches[i] = restarts;
        ambd_metric_set(c->m_cache_objects, labels,
                        (double)ambd_cache_count(ambd_informer_cache(inf)));
    }
    /* Every kind's error series exists before its first error, so an alert
     * on their rate sees 0 rather than nothing. */
    for (size_t i = 0; i < c->n_kinds; i++)
        ambd_metric_add(c->m_reconcile_errors,
                        (const char *const[]){c->kinds[i].entry->kind.resource.kind, NULL}, 0);
}

/* Sets ambient_objects for every phase a kind ever had (0 when none now). */
static void refresh_phase_metrics(struct ambd_controller *c)
{
    for (size_t i = 0; i < c->n_kinds; i++) {
        struct ambd_ctl_kind *k = &c->kinds[i];
        size_t counts[AMBD_MAX_PHASES] = {0};
        size_t pos = 0;
        const char *key;
        void *value;
        while (ambd_strmap_next(&k->accounts, &pos, &key, &value)) {
            const char *phase = ambd_ctl_account_phase(value);
            for (size_t p = 0; p < k->n_seen_phases; p++) {
                if (k->seen_phases[p] == phase) { /* interned: counted_phase */
                    counts[p]++;
                    break;
                }
            }
        }
        for (size_t p = 0; p < k->n_seen_phases; p++) {
            const char *labels[] = {k->entry->kind.resource.kind, k->seen_phases[p], NULL};
            ambd_metric_set(c->m_objects, labels, (double)counts[p]);
        }
    }
}

static int all_synced(struct ambd_controller *c)
{
    for (size_t i = 0; i < c->n_kinds; i++) {
        if (!ambd_informer_synced(c->kinds[i].informer))
            return 0;
    }
    for (size_t i = 0; i < c->n_children; i++) {
        if (!ambd_informer_synced(c->children[i].informer))
            return 0;
    }
    return 1;
}

static void add_unsynced(struct ambd_buf *b, const struct ambd_informer *inf)
{
    if (ambd_informer_synced(inf))
        return;
    const struct amb_resource *r = ambd_informer_resource(inf);
    ambd_buf_puts(b, b->len ? ", " : "caches not synced: ");
    ambd_buf_puts(b, r->plural);
    if (*r->group)
        ambd_buf_printf(b, ".%s", r->group);
}

/* /readyz's 503 body: the caches not synced yet, as plural.group
 * ("caches not synced: widgets.example.com, secrets"). A cache that never
 * syncs is usually a missing CRD, which the informer's log names. NULL if
 * out of memory. */
static char *unsynced_body(struct ambd_controller *c)
{
    struct ambd_buf b = {0};
    for (size_t i = 0; i < c->n_kinds; i++)
        add_unsynced(&b, c->kinds[i].informer);
    for (size_t i = 0; i < c->n_children; i++)
        add_unsynced(&b, c->children[i].informer);
    ambd_buf_putc(&b, '\n');
    return ambd_buf_take(&b);
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                  const char *body)
{
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct ambd_controller *c = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        reply(req, 405, "Method Not Allowed", "text/plain", "method not allowed\n");
        return;
    }
    if (!path)
        path = "/";
    if (strcmp(path, "/metrics") == 0) {
        refresh_informer_metrics(c);
        refresh_phase_metrics(c);
        char *text = ambd_metrics_render(c->metrics);
        if (!text) {
            reply(req, 500, "Internal Server Error", "text/plain", "out of memory\n");
            return;
        }
        reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text);
        free(text);
    } else if (strcmp(path, "/healthz") == 0) {
        reply(req, 200, "OK", "text/plain", "ok\n");
    } else if (strcmp(path, "/readyz") == 0) {
        if (all_synced(c)) {
            reply(req, 200, "OK", "text/plain", "ok\n");
        } else {
            char *body = unsynced_body(c);
            reply(req, 503, "Service Unavailable", "text/plain",
                  body ? body : "caches not synced\n");
            free(body);
        }
    } else {
        reply(req, 404, "Not Found", "text/plain", "not found\n");
    }
}

int ambd_split_listen(const char *listen, char *host, size_t host_len, unsigned short *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return -1;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (hl == 0 || hl >= host_len || *end || p < 0 || p > 65535 || end == colon + 1)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned short)p;
    return 0;
}

int ambd_ctl_http_start(struct ambd_controller *c, struct amb_error *err)
{
    char host[256];
    unsigned short port;
    if (ambd_split_listen(c->cc->listen, host, sizeof host, &port) != 0)
        return ambd_error_set(err, AMB_EINVAL, "controller.listen",
                              "\"%s\" is not host:port (e.g. \"0.0.0.0:9090\")", c->cc->listen);
    if (!(c->http = evhttp_new(c->base)))
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_max_body_size(c->http, 1024);
    evhttp_set_max_headers_size(c->http, 16384);
    evhttp_set_timeout(c->http, 30);
    evhttp_set_gencb(c->http, on_request, c);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(c->http, host, port);
    if (!bound)
        return ambd_error_set(err, AMB_EIO, "controller.listen", "cannot listen on %s",
                              c->cc->listen);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[INET6_ADDRSTRLEN + 16] = "?";
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) == 0) {
        char ip[INET6_ADDRSTRLEN] = "";
        unsigned short p = 0;
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
            p = ntohs(s6->sin6_port);
            snprintf(addr, sizeof addr, "[%s]:%u", ip, p);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
            p = ntohs(s4->sin_port);
            snprintf(addr, sizeof addr, "%s:%u", ip, p);
        }
    }
    ambd_log("controller", AMB_LOG_INFO, "serving metrics and probes", "address", addr, NULL);
    return AMB_OK;
}
