/* routes_health.c — probes, version and the api's own metrics, all public:
 *   GET /health       {"status": "healthy"} (the original backend's probe)
 *   GET /healthz      200 "ok" while the process serves
 *   GET /readyz       200 "ok" while serving, 503 while stopping
 *   GET /api/version  {"version", "abi"}
 *   GET /metrics      Prometheus text: requests by method and code, request
 *                     durations, requests in flight.
 * The counters are lock-free atomics updated by every loop thread. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "serving.h"

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD",
                                      "OTHER"};
#define N_METHODS (sizeof methods / sizeof methods[0])
#define MAX_STATUS 600
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static struct {
    atomic_ullong requests[N_METHODS][MAX_STATUS];
    atomic_ullong bucket[N_BUCKETS + 1]; /* last: +Inf */
    atomic_ullong sum_us;
    atomic_ullong count;
    atomic_llong in_flight;
} m;

static size_t method_index(const char *method)
{
    for (size_t i = 0; i + 1 < N_METHODS; i++)
        if (method && strcmp(methods[i], method) == 0)
            return i;
    return N_METHODS - 1;
}

void api_metrics_in_flight(int delta)
{
    atomic_fetch_add(&m.in_flight, delta);
}

void api_metrics_record(const char *method, int status, double seconds)
{
    if (status < 0 || status >= MAX_STATUS)
        status = 0;
    atomic_fetch_add(&m.requests[method_index(method)][status], 1);
    size_t b = 0;
    while (b < N_BUCKETS && seconds > buckets[b])
        b++;
    atomic_fetch_add(&m.bucket[b], 1); /* cumulated when rendered */
    atomic_fetch_add(&m.sum_us, (unsigned long long)(seconds > 0 ? seconds * 1e6 : 0));
    atomic_fetch_add(&m.count, 1);
}

static void render(struct evbuffer *b)
{
    evbuffer_add_printf(b, "# HELP ambient_api_requests_total REST requests served, by method and "
                           "status code.\n# TYPE ambient_api_requests_total counter\n");
    for (size_t i = 0; i < N_METHODS; i++)
        for (int c = 0; c < MAX_STATUS; c++) {
            unsigned long long n = atomic_load(&m.requests[i][c]);
            if (n)
                evbuffer_add_printf(b, "ambient_api_requests_total{method=\"%s\",code=\"%d\"} %llu\n",
                                    methods[i], c, n);
        }
    evbuffer_add_printf(b, "# HELP ambient_api_request_duration_seconds Time from a request's "
                           "arrival to its reply.\n"
                           "# TYPE ambient_api_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += atomic_load(&m.bucket[i]);
        evbuffer_add_printf(b, "ambient_api_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                            buckets[i], cum);
    }
    cum += atomic_load(&m.bucket[N_BUCKETS]);
    /* +Inf and _count from the same buckets, so they agree in one scrape. */
    evbuffer_add_printf(b, "ambient_api_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    evbuffer_add_printf(b, "ambient_api_request_duration_seconds_sum %.6f\n",
                        (double)atomic_load(&m.sum_us) / 1e6);
    evbuffer_add_printf(b, "ambient_api_request_duration_seconds_count %llu\n", cum);
    evbuffer_add_printf(b, "# HELP ambient_api_requests_in_flight REST requests being served.\n"
                           "# TYPE ambient_api_requests_in_flight gauge\n"
                           "ambient_api_requests_in_flight %lld\n",
                        (long long)atomic_load(&m.in_flight));
}

static void get_metrics(struct api_req *r)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        api_reply_error(r, 500, "out of memory", NULL);
        return;
    }
    render(b);
    size_t len = evbuffer_get_length(b);
    const char *text = (const char *)evbuffer_pullup(b, -1);
    api_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, text ? len : 0);
    evbuffer_free(b);
}

static void get_health(struct api_req *r)
{
    api_reply_json(r, 200, json_pack("{s:s}", "status", "healthy"));
}

static void get_healthz(struct api_req *r)
{
    api_reply_raw(r, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void get_readyz(struct api_req *r)
{
    if (atomic_load(&r->api->ready))
        api_reply_raw(r, 200, "text/plain; charset=utf-8", "ok\n", 3);
    else
        api_reply_raw(r, 503, "text/plain; charset=utf-8", "stopping\n", 9);
}

static void get_version(struct api_req *r)
{
#ifdef AMBIENT_VERSION
    const char *version = AMBIENT_VERSION;
#else
    const char *version = API_PLUGIN_VERSION;
#endif
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", AMB_ABI_MAJOR, AMB_ABI_MINOR);
    api_reply_json(r, 200, json_pack("{s:s,s:s}", "version", version, "abi", abi));
}

void api_routes_health(struct api_router *rt)
{
    static const struct {
        const char *pattern;
        api_handler fn;
    } routes[] = {
        {"/health", get_health},       {"/healthz", get_healthz}, {"/readyz", get_readyz},
        {"/api/version", get_version}, {"/metrics", get_metrics},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (api_router_add(rt, "GET", routes[i].pattern, routes[i].fn, API_PUBLIC) != AMB_OK)
            api_host->log(api_self, AMB_LOG_ERROR, "cannot add route", "pattern",
                          routes[i].pattern, NULL);
}
