/* plugin.c — the agenticsession plugin's entry: reads the
 * `agenticsession = { ... }` config group, registers the AgenticSession kind
 * (validate, set_defaults, reconcile; the children it owns) and exports the
 * descriptor. See README.md for the config keys and their defaults. */
#include <stdlib.h>
#include <string.h>

#include "as.h"

const struct amb_host *as_host;
struct amb_module *as_self;

/* validate (the REST path): no field the CRD does not declare, and the
 * spec's rules within the bounds of the namespace's ProjectSettings when the
 * host can read it from this context. */
static int kind_validate(void *ud, struct amb_ctx *ctx, const json_t *obj, const json_t *old,
                         struct amb_error *err)
{
    (void)ud;
    (void)old;
    json_t *ps = NULL;
    int rc = as_read_project_settings(ctx, as_meta(obj, "namespace"), &ps, err);
    if (rc != AMB_OK)
        return rc;
    struct as_bounds b;
    as_bounds_from(ps, &b);
    struct as_problems p = {0};
    as_unknown_fields(obj, &p);
    as_validate_spec(obj, &b, &p);
    for (size_t i = 0; i < p.n; i++)
        as_host->error_set(err, AMB_EINVAL, p.field[i], "%s", p.message[i]);
    if (p.dropped)
        as_host->error_set(err, AMB_EINVAL, "spec", "%zu more violations not listed", p.dropped);
    json_decref(ps);
    return p.n ? AMB_EINVAL : AMB_OK;
}

static int kind_defaults(void *ud, struct amb_ctx *ctx, json_t *obj, struct amb_error *err)
{
    json_t *ps = NULL;
    int rc = as_read_project_settings(ctx, as_meta(obj, "namespace"), &ps, err);
    if (rc != AMB_OK)
        return rc;
    as_apply_defaults(obj, ps, ud);
    json_decref(ps);
    return AMB_OK;
}

static int read_string(const char *path, const char **out)
{
    int rc = as_host->config_string(as_self, path, out);
    return rc == AMB_ENOTFOUND ? AMB_OK : rc;
}

static int read_int(const char *path, long long *out)
{
    int rc = as_host->config_int(as_self, path, out);
    return rc == AMB_ENOTFOUND ? AMB_OK : rc;
}

static int secure_url(const char *u)
{
    static const char *const ok[] = {"https://", "http://127.0.0.1:", "http://127.0.0.1/",
                                     "http://localhost:", "http://localhost/", "http://[::1]:",
                                     "http://[::1]/"};
    for (size_t i = 0; u && i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(u, ok[i], strlen(ok[i])) == 0)
            return 1;
    return 0;
}

static int read_config(struct as_config *cfg, struct amb_error *err)
{
    as_config_defaults(cfg);
    int rc = AMB_OK, r;
    const char *const keys[] = {"runner_image", "api_url", "workspace.size",
                                "workspace.storage_class", "default_model",
                                "resources.cpu_request", "resources.cpu_limit",
                                "resources.memory_request", "resources.memory_limit",
                                "token_audience", "model_api_url", "git_author.name",
                                "git_author.email", "api_ca.configmap", "api_ca.key"};
    const char **slots[] = {&cfg->runner_image, &cfg->api_url, &cfg->workspace_size,
                            &cfg->storage_class, &cfg->default_model, &cfg->cpu_request,
                            &cfg->cpu_limit, &cfg->memory_request, &cfg->memory_limit,
                            &cfg->token_audience, &cfg->model_api_url,
                            &cfg->git_author_name, &cfg->git_author_email,
                            &cfg->api_ca_configmap, &cfg->api_ca_key};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if ((r = read_string(keys[i], slots[i])) != AMB_OK)
            rc = r;
    r = as_host->config_bool(as_self, "workspace.empty_dir", &cfg->empty_dir);
    if (r != AMB_OK && r != AMB_ENOTFOUND)
        rc = r;
    if ((r = read_int("ttl_seconds_after_finished", &cfg->ttl_seconds_after_finished)) != AMB_OK)
        rc = r;
    if ((r = read_int("default_timeout", &cfg->default_timeout)) != AMB_OK)
        rc = r;
    if (rc != AMB_OK)
        return rc; /* the host reports the key, file and line */
    const char *required[] = {cfg->runner_image, cfg->api_url, cfg->workspace_size,
                              cfg->default_model};
    const char *names[] = {"runner_image", "api_url", "workspace.size", "default_model"};
    for (size_t i = 0; i < 4; i++)
        if (!required[i] || !*required[i])
            return as_host->error_set(err, AMB_EINVAL, names[i], "must not be empty");
    /* The runner sends its token to api_url and the model key to
     * model_api_url: https, or plain http only to its own loopback (the
     * runner refuses anything else, so refuse it here first). */
    if (!secure_url(cfg->api_url))
        return as_host->error_set(err, AMB_EINVAL, "api_url",
                                  "must be an https URL (plain http only on loopback)");
    if (cfg->model_api_url && !secure_url(cfg->model_api_url))
        return as_host->error_set(err, AMB_EINVAL, "model_api_url",
                                  "must be an https URL (plain http only on loopback)");
    if (cfg->default_timeout < 1)
        return as_host->error_set(err, AMB_EINVAL, "default_timeout",
                                  "must be a positive number of seconds");
    return AMB_OK;
}

static int as_init(const struct amb_host *host, struct amb_module *self, void **state,
                   struct amb_error *err)
{
    (void)state;
    as_host = host;
    as_self = self;
    if (!AMB_HAS(host, kube_get_cached))
        return host->error_set(err, AMB_EUNSUPPORTED, NULL,
                               "needs plugin ABI 1.2 (Kubernetes access with cache reads)");
    struct as_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    int rc = read_config(cfg, err);
    if (rc != AMB_OK) {
        free(cfg);
        return rc;
    }
    static const struct amb_resource owns[] = {
        {"batch", "v1", "Job", "jobs", 1},
        {"", "v1", "Pod", "pods", 1},
        {"", "v1", "ServiceAccount", "serviceaccounts", 1},
        {"rbac.authorization.k8s.io", "v1", "Role", "roles", 1},
        {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", 1},
        {"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", 1},
    };
    struct amb_kind kind = {
        .size = sizeof kind,
        .resource = as_sessions,
        .rest_plural = AMB_SESSION_REST,
        .owns = owns,
        .n_owns = sizeof owns / sizeof owns[0],
        .validate = kind_validate,
        .set_defaults = kind_defaults,
        .reconcile = as_reconcile,
        .flags = AMB_KIND_EVENT_LOG,
        .create_shape = as_create_shape,
        .event_poster_prefix = AS_SA_PREFIX,
    };
    /* cfg belongs to the host from here on, freed once with free(). */
    rc = host->register_kind(self, &kind, cfg, free);
    return rc == AMB_OK ? as_register_routes() : rc;
}

static const struct amb_plugin descriptor = {
    AMB_PLUGIN_HEADER,
    .name = "agenticsession",
    .version = "0.1.0",
    .description = "AgenticSession: validate, default and run coding-agent sessions as Jobs",
    .init = as_init,
};

AMB_DEFINE_PLUGIN(descriptor)
