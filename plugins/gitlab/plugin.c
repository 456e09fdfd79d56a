/* plugin.c — gitlab.so's entry: reads the `gitlab = { ... }` group
 * (instances with their token_file, webhook_secret_file, webhook,
 * fork_wait), registers the "gitlab" forge and, with a webhook secret,
 * the route POST /api/webhooks/gitlab; exports the descriptor. README.md
 * has the keys. */
#include <stdio.h>
#include <string.h>

#include "gitlab.h"

static int match_url(void *ud, const char *url)
{
    const struct gitlab *g = ud;
    struct fk_url u;
    const char *why, *rest;
    return fk_url_parse(url, &u, &why) == 0 &&
           fk_instance_match(&g->instances, &u, GL_MIN_SEGMENTS, FK_MAX_SEGMENTS, &rest) != NULL;
}

static int parse_repo(void *ud, struct amb_ctx *ctx, const char *url, json_t **out,
                      struct amb_error *err)
{
    (void)ctx;
    const struct gitlab *g = ud;
    struct fk_repo r;
    int rc = fk_repo_from_url(&g->env, &g->instances, url, GL_MIN_SEGMENTS, FK_MAX_SEGMENTS, &r,
                              err);
    if (rc == AMB_OK && !(*out = fk_repo_json(&r)))
        rc = AMB_ENOMEM;
    return rc;
}

/* git over https takes the token as the password of the user "oauth2". */
static int clone_credentials(void *ud, struct amb_ctx *ctx, const json_t *repo,
                             const char *token, json_t **out, struct amb_error *err)
{
    (void)ctx;
    const struct gitlab *g = ud;
    struct fk_repo r;
    int rc = fk_repo_from_json(&g->env, &g->instances, repo, GL_MIN_SEGMENTS, FK_MAX_SEGMENTS,
                               &r, err);
    if (rc != AMB_OK)
        return rc;
    if (!token || !*token)
        return g->env.host->error_set(err, AMB_EUNAUTHORIZED, "token", "no GitLab token");
    g->env.host->log_secret(g->env.self, token);
    *out = json_pack("{s:s, s:s}", "username", "oauth2", "password", token);
    return *out ? AMB_OK : AMB_ENOMEM;
}

static void gitlab_free(void *ud)
{
    struct gitlab *g = ud;
    if (!g)
        return;
    for (size_t i = 0; g->tokens && i < g->instances.n; i++)
        fk_secret_free(&g->env, g->tokens[i]);
    g->env.host->free(g->tokens);
    fk_instances_free(&g->env, &g->instances);
    fk_secret_free(&g->env, g->webhook_secret);
    g->env.host->free(g);
}

/* instances.[i].token_file: the token the api role asks GitLab about a
 * webhook author's access with; every instance needs one when webhooks
 * are on. */
static int read_tokens(struct gitlab *g, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    g->tokens = h->alloc(sizeof *g->tokens * (g->instances.n ? g->instances.n : 1));
    if (!g->tokens)
        return h->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < g->instances.n; i++) {
        char key[64], field[96];
        const char *file = NULL;
        fk_instance_key(key, sizeof key, i, "token_file");
        snprintf(field, sizeof field, "gitlab.%s", key);
        int rc = h->config_string(g->env.self, key, &file);
        if (rc == AMB_OK)
            rc = fk_secret_read(&g->env, file, field, &g->tokens[i], err);
        else if (rc == AMB_ENOTFOUND && g->webhook_secret)
            rc = h->error_set(err, AMB_EINVAL, field,
                              "is required with webhook_secret_file: the webhook checks an "
                              "author's access level with it");
        else if (rc == AMB_ENOTFOUND)
            rc = AMB_OK;
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}

static int read_config(struct gitlab *g, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    int rc = fk_instances_read(&g->env, "https://gitlab.com", "https://gitlab.com/api/v4",
                               &g->instances, err);
    if (rc != AMB_OK)
        return rc;
    const char *file = NULL;
    rc = h->config_string(g->env.self, "webhook_secret_file", &file);
    if (rc == AMB_OK)
        rc = fk_secret_read(&g->env, file, "gitlab.webhook_secret_file", &g->webhook_secret,
                            err);
    else if (rc == AMB_ENOTFOUND)
        rc = AMB_OK;
    if (rc != AMB_OK)
        return rc;
    if ((rc = read_tokens(g, err)) != AMB_OK ||
        (rc = fk_webhook_config_read(h, g->env.self, &g->webhook, err)) != AMB_OK)
        return rc;
    long long t = GL_FORK_WAIT_S;
    rc = h->config_int(g->env.self, "fork_wait", &t);
    if (rc == AMB_ENOTFOUND)
        rc = AMB_OK;
    if (rc == AMB_OK && (t < 0 || t > 3600))
        rc = h->error_set(err, AMB_EINVAL, "gitlab.fork_wait",
                          "must be 0 to 3600 seconds, not %lld", t);
    g->fork_wait_s = (long)t;
    return rc;
}

static int gitlab_init(const struct amb_host *host, struct amb_module *self, void **state,
                       struct amb_error *err)
{
    (void)state;
    if (!AMB_HAS(host, http))
        return host->error_set(err, AMB_EUNSUPPORTED, NULL,
                               "gitlab needs a host of ABI 1.4 or later (host->http)");
    struct gitlab *g = host->alloc(sizeof *g);
    if (!g)
        return host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    g->env.host = host;
    g->env.self = self;
    int rc = read_config(g, err);
    if (rc != AMB_OK) {
        gitlab_free(g);
        return rc;
    }
    const struct amb_forge forge = {
        .size = sizeof forge,
        .name = "gitlab",
        .match_url = match_url,
        .parse_repo = parse_repo,
        .clone_credentials = clone_credentials,
        .fork = gl_fork,
        .open_pull_request = gl_open_merge_request,
        .verify_webhook = gl_verify_webhook,
    };
    /* The route borrows g; the forge owns it (freed even if this fails). */
    const struct amb_route route = {.size = sizeof route, .method = "POST",
                                    .pattern = "/api/webhooks/gitlab",
                                    .handler = gl_webhook_route, .flags = AMB_ROUTE_PUBLIC};
    if (g->webhook_secret && (rc = host->register_route(self, &route, g, NULL)) != AMB_OK) {
        gitlab_free(g);
        return rc;
    }
    return host->register_forge(self, &forge, g, gitlab_free);
}

static const struct amb_plugin gitlab_plugin = {
    AMB_PLUGIN_HEADER,
    .name = "gitlab",
    .version = "0.1.0",
    .description = "GitLab forge: clone credentials, forks, merge requests, webhooks",
    .init = gitlab_init,
};

AMB_DEFINE_PLUGIN(gitlab_plugin)
