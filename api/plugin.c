/* plugin.c — the api plugin's entry: reads the `api` group (config.c) in
 * init, and in start builds the router (the generic kind routes and the
 * other plugins' routes only then, when every plugin has registered), starts
 * the REST server when
 * api.listen is set and the live service when api.live.listen is set. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "live/live.h"
#include "serving.h"
#include "web_static.h"

#define API_PLUGIN_VERSION "0.1.0"

const struct amb_host *api_host;
struct amb_module *api_self;

/* One instance per process (the host loads a plugin once). */
static struct api_state {
    struct api_config cfg;
    int have_cfg;
    struct api_auth *auth;
    struct api_router *router;
    struct api_server *server;
    struct live *live;
    atomic_int ready;
} st;

struct api_auth *api_auth(void) { return st.auth; }
const struct api_config *api_config(void) { return st.have_cfg ? &st.cfg : NULL; }
struct live *api_live(void) { return st.live; }
int api_ready(void) { return atomic_load(&st.ready); }
const char *api_plugin_version(void) { return API_PLUGIN_VERSION; }

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
    int rc = api_config_read(&st.cfg, err);
    if (rc == AMB_OK)
        rc = api_web_config(err);
    if (rc != AMB_OK)
        return rc;
    st.have_cfg = 1;
    *state = &st;
    return AMB_OK;
}

static int build_router(struct api_state *s, struct amb_error *err)
{
    if (!(s->router = api_router_new()))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    api_routes_health(s->router);
    api_routes_web(s->router);
    api_routes_projects(s->router);
    api_routes_permissions(s->router);
    api_routes_settings(s->router);
    api_routes_sessions(s->router);
    int rc = api_routes_kinds(s->router, err);
    /* Only a replica that serves REST takes the other plugins' routes. */
    if (rc == AMB_OK && s->cfg.listen)
        rc = api_routes_plugins(s->router, err);
    return rc;
}

static int api_start(void *state, struct amb_error *err)
{
    struct api_state *s = state;
    if (!(s->auth = api_auth_new(s->cfg.auth_ttl_s, s->cfg.auth_cache_size)))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "cannot create the auth cache");
    int rc = build_router(s, err);
    if (rc == AMB_OK && s->cfg.listen)
        rc = api_web_load(err);
    if (rc == AMB_OK && s->cfg.listen)
        rc = api_server_start(&s->cfg, s->router, &s->server, err);
    if (rc == AMB_OK && s->cfg.live_listen)
        rc = live_start(&s->cfg, s->auth, &s->live, err);
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
    struct api_state *s = state;
    atomic_store(&s->ready, 0);
    api_server_stop(s->server);
    if (s->live)
        live_stop(s->live);
}

static void api_fini(void *state)
{
    struct api_state *s = state;
    if (!s)
        return;
    api_server_free(s->server);
    s->server = NULL;
    if (s->live)
        live_free(s->live);
    s->live = NULL;
    api_router_free(s->router);
    s->router = NULL;
    api_routes_plugins_free();
    api_auth_free(s->auth);
    s->auth = NULL;
    api_config_clear(&s->cfg);
    api_web_free();
    s->have_cfg = 0;
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
