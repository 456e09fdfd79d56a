/* plugin.c — github.so: the `github` config group, the forge registered
 * for its instances' repositories, and POST /api/webhooks/github when a
 * webhook secret is configured. See README.md next to this file. */
#include <string.h>

#include "github.h"

#define DEFAULT_URL "https://github.com"
#define DEFAULT_API_URL "https://api.github.com"
#define DEFAULT_RATE_LIMIT_WAIT_S 60
#define MAX_RATE_LIMIT_WAIT_S 3600
#define DEFAULT_FORK_WAIT_S 300
#define MAX_FORK_WAIT_S 3600

static const struct amb_host *host;

static void gh_free(void *ud)
{
    struct gh *g = ud;
    if (!g)
        return;
    gh_app_clear(g);
    host->free(g->app_ids);
    host->free(g->app_keys);
    fk_secret_free(&g->env, g->webhook_secret);
    fk_instances_free(&g->env, &g->in);
    pthread_mutex_destroy(&g->lock);
    host->free(g);
}

/* An optional number of seconds in [0, max]; def when absent. */
static int seconds(struct gh *g, const char *key, unsigned def, unsigned max, unsigned *out,
                   struct amb_error *err)
{
    long long v = def;
    int rc = host->config_int(g->env.self, key, &v);
    if (rc != AMB_OK && rc != AMB_ENOTFOUND)
        return host->error_set(err, rc, key, "must be an integer number of seconds");
    if (v < 0 || v > max)
        return host->error_set(err, AMB_EINVAL, key, "must be between 0 and %u seconds", max);
    *out = (unsigned)v;
    return AMB_OK;
}

static int configure(struct gh *g, struct amb_error *err)
{
    int rc = fk_instances_read(&g->env, DEFAULT_URL, DEFAULT_API_URL, &g->in, err);
    if (rc != AMB_OK)
        return rc;
    g->app_ids = host->alloc(g->in.n * sizeof *g->app_ids);
    g->app_keys = host->alloc(g->in.n * sizeof *g->app_keys);
    if (!g->app_ids || !g->app_keys)
        return host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < g->in.n; i++)
        if ((rc = gh_app_config(g, i, err)) != AMB_OK)
            return rc;
    if ((rc = seconds(g, "rate_limit_wait", DEFAULT_RATE_LIMIT_WAIT_S, MAX_RATE_LIMIT_WAIT_S,
                      &g->rate_limit_wait_s, err)) != AMB_OK ||
        (rc = seconds(g, "fork_wait", DEFAULT_FORK_WAIT_S, MAX_FORK_WAIT_S, &g->fork_wait_s,
                      err)) != AMB_OK ||
        (rc = fk_webhook_config_read(host, g->env.self, &g->webhook, err)) != AMB_OK)
        return rc;
    const char *secret_file = NULL;
    rc = host->config_string(g->env.self, "webhook_secret_file", &secret_file);
    if (rc == AMB_ENOTFOUND)
        return AMB_OK;
    if (rc != AMB_OK)
        return host->error_set(err, rc, "webhook_secret_file", "must be a file name");
    return fk_secret_read(&g->env, secret_file, "webhook_secret_file", &g->webhook_secret, err);
}

static int init(const struct amb_host *h, struct amb_module *self, void **state,
                struct amb_error *err)
{
    (void)state;
    host = h;
    struct gh *g = h->alloc(sizeof *g);
    if (!g)
        return h->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    g->env = (struct fk_env){h, self};
    pthread_mutex_init(&g->lock, NULL);
    int rc = configure(g, err);
    if (rc != AMB_OK) {
        gh_free(g);
        return rc;
    }
    struct amb_forge forge;
    gh_forge_fill(&forge);
    /* the route and the forge share g; the forge's registration frees it */
    if (g->webhook_secret) {
        struct amb_route route = {.size = sizeof route, .method = "POST",
                                  .pattern = "/api/webhooks/github",
                                  .handler = gh_webhook_route, .flags = AMB_ROUTE_PUBLIC};
        if ((rc = h->register_route(self, &route, g, NULL)) != AMB_OK) {
            gh_free(g);
            return rc;
        }
    }
    return h->register_forge(self, &forge, g, gh_free);
}

static const struct amb_plugin plugin = {
    AMB_PLUGIN_HEADER,
    .name = "github",
    .version = "0.1.0",
    .description = "GitHub and GitHub Enterprise: repositories, forks, pull requests, webhooks",
    .init = init,
};
AMB_DEFINE_PLUGIN(plugin)
