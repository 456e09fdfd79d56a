/* plugin.c — the api plugin's entry: reads the `api` group (config.c) in
 * init, and in start builds the router (the generic kind routes and the
 * other plugins' routes only then, when every plugin has registered), starts
 * the REST server when
 * api.listen is set and the live service when api.live.listen is set. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kind_watch.h"
#include "live/live.h"
#include "read_cache.h"
#include "serving.h"
#include "web_static.h"

const struct amb_host *api_host;
struct amb_module *api_self;

static int api_init(const struct amb_host *host, struct amb_module *self, void **state,
                    struct amb_error *err)
{
    api_host = host;
    api_self = self;
    /* Health and metrics work without the 1.3 members; requests that need
     * them answer 503 (reply.c). */
    if (!AMB_HAS(host, ctx_new) || !AMB_HAS(host, error_new) || !AMB_HAS(host, error_to_json))
        host->log(self, AMB_LOG_WARN, "the host lacks ABI 1.3 members: only public routes work",
                  NULL);
    /* The plugin's state, handed to the rest of the plugin explicitly. */
    struct api *s = calloc(1, sizeof *s);
    if (!s)
        return host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    int rc = api_config_read(&s->cfg, err);
    if (rc != AMB_OK) { /* api_config_read cleared what it read */
        free(s);
        return rc;
    }
    if ((rc = api_web_config(s, err)) != AMB_OK) {
        api_config_clear(&s->cfg);
        free(s);
        return rc;
    }
    *state = s;
    return AMB_OK;
}

static int build_router(struct api *s, struct amb_error *err)
{
    if (!(s->router = api_router_new()))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    api_routes_health(s->router);
    api_routes_web(s->router);
    api_routes_projects(s->router);
    api_routes_permissions(s->router);
    int rc = api_routes_kinds(s->router, s, err);
    /* Only a replica that serves REST takes the other plugins' routes. */
    if (rc == AMB_OK && s->cfg.listen)
        rc = api_routes_plugins(s->router, s, err);
    return rc;
}

static int api_start(void *state, struct amb_error *err)
{
    struct api *s = state;
    if (!(s->auth = api_auth_new(s->cfg.auth_ttl_s, s->cfg.auth_cache_size)))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "cannot create the auth cache");
    if (!(s->watches = kind_watches_new()))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    int rc = build_router(s, err);
    /* Only a replica that serves REST reads keeps the cache. */
    if (rc == AMB_OK && s->cfg.listen)
        rc = read_cache_start(&s->cfg, s->watches, &s->read_cache, err);
    if (rc == AMB_OK && s->cfg.listen)
        rc = api_web_load(s, err);
    if (rc == AMB_OK && s->cfg.listen)
        rc = api_server_start(s, &s->server, err);
    if (rc == AMB_OK && s->cfg.live_listen)
        rc = live_start(&s->cfg, s->auth, s->watches, &s->live, err);
    /* One list+watch per kind, for the cache and the live feed alike. */
    if (rc == AMB_OK)
        rc = kind_watches_start(s->watches, err);
    if (rc != AMB_OK)
        return rc; /* the host calls stop and fini */
    if (!s->cfg.listen && !s->cfg.live_listen)
        api_host->log(api_self, AMB_LOG_WARN,
                      "api loaded but neither api.listen nor api.live.listen is set", NULL);
    atomic_store(&s->ready, 1);
    return AMB_OK;
}

static void api_stop(void *state)
{
    struct api *s = state;
    atomic_store(&s->ready, 0);
    api_server_stop(s->server);
    kind_watches_stop(s->watches); /* no callback into the cache or the feed after */
    if (s->live)
        live_stop(s->live);
}

static void api_fini(void *state)
{
    struct api *s = state;
    if (!s)
        return;
    api_server_free(s->server);
    kind_watches_free(s->watches);
    read_cache_free(s->read_cache);
    if (s->live)
        live_free(s->live);
    api_router_free(s->router);
    api_routes_plugins_free(s);
    api_routes_kinds_free(s);
    api_auth_free(s->auth);
    api_config_clear(&s->cfg);
    api_web_free(s);
    free(s);
}

static const struct amb_plugin descriptor = {
    AMB_PLUGIN_HEADER,
    .name = "api",
    .version = API_PLUGIN_VERSION,
    .description = "REST API and live session updates (WebSocket, SSE)",
    .init = api_init,
    .start = api_start,
    .stop = api_stop,
    .fini = api_fini,
};

AMB_DEFINE_PLUGIN(descriptor)
