/* routes_health.c — probes, version and the api's own metrics, all public:
 *   GET /health       {"status": "healthy"} (the original backend's probe)
 *   GET /healthz      200 "ok" while the process serves
 *   GET /readyz       200 "ok" while serving, 503 while stopping
 *   GET /api/version  {"version", "abi"}
 *   GET /metrics      Prometheus text: requests by method, route and code,
 *                     durations by route, requests in flight
 *                     (route_metrics.c); with the live service, its
 *                     subscribers and event store (live/stats.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "live/live.h"
#include "serving.h"

static void get_metrics(struct api_req *r)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        api_reply_error(r, 500, "out of memory", NULL);
        return;
    }
    api_metrics_render(b);
    if (r->api->live)
        live_metrics_render(r->api->live, b);
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
