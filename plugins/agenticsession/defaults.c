/* defaults.c — a session's model and timeout from its project's
 * ProjectSettings, then from ambient.conf; the project's bounds and runner
 * Secret; the resources this plugin touches; small object accessors. */
#include <string.h>

#include "as.h"

const struct amb_resource as_sessions = {AS_GROUP, AS_VERSION, AMB_SESSION_KIND, AS_PLURAL, 1};
const struct amb_resource as_projectsettings = {AMB_GROUP, AMB_GROUP_VERSION, AMB_SETTINGS_KIND,
                                                AMB_SETTINGS_PLURAL, 1};
const struct amb_resource as_jobs = {"batch", "v1", "Job", "jobs", 1};
const struct amb_resource as_pods = {"", "v1", "Pod", "pods", 1};
const struct amb_resource as_service_accounts = {"", "v1", "ServiceAccount", "serviceaccounts", 1};
const struct amb_resource as_roles = {"rbac.authorization.k8s.io", "v1", "Role", "roles", 1};
const struct amb_resource as_role_bindings = {"rbac.authorization.k8s.io", "v1", "RoleBinding",
                                              "rolebindings", 1};
const struct amb_resource as_pvcs = {"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims",
                                     1};

const char *as_meta(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

const char *as_annotation(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key));
}

void as_config_defaults(struct as_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->runner_image = "quay.io/ambient_code/ambient-runner:latest";
    cfg->api_url = "https://ambient-live.ambient-code.svc:8081";
    cfg->workspace_size = "10Gi";
    cfg->storage_class = NULL;
    cfg->empty_dir = 0;
    cfg->ttl_seconds_after_finished = 86400;
    cfg->default_model = "claude-sonnet-4-5";
    cfg->default_timeout = 3600;
    cfg->cpu_request = "500m";
    cfg->cpu_limit = "2";
    cfg->memory_request = "512Mi";
    cfg->memory_limit = "4Gi";
    cfg->token_audience = NULL;
    cfg->api_ca_key = "ca.crt";
}

int as_read_project_settings(struct amb_ctx *ctx, const char *ns, json_t **out,
                             struct amb_error *err)
{
    *out = NULL;
    if (!ctx || !ns || !*ns)
        return AMB_OK;
    json_t *ps = NULL;
    /* A scratch error where the host has them, so that a missing
     * ProjectSettings (which is fine) leaves no cause on the caller's. */
    struct amb_error *scratch = AMB_HAS(as_host, error_new) ? as_host->error_new() : NULL;
    int rc = as_host->kube_get(ctx, &as_projectsettings, ns, AMB_SETTINGS_NAME, &ps,
                               scratch ? scratch : err);
    if (rc != AMB_OK && scratch) {
        json_t *why = as_host->error_to_json(scratch);
        /* No ProjectSettings (or a CRD not installed), or a context the host
         * cannot read the cluster from: ambient.conf's defaults apply. */
        if (rc != AMB_ENOTFOUND && rc != AMB_ESTATE)
            as_host->error_set(err, rc, NULL, "reading the ProjectSettings of %s: %s", ns,
                               json_string_value(json_object_get(why, "message")));
        json_decref(why);
    }
    if (scratch)
        as_host->error_free(scratch);
    if (rc == AMB_ENOTFOUND || rc == AMB_ESTATE)
        return AMB_OK;
    if (rc != AMB_OK)
        return rc;
    *out = ps;
    return AMB_OK;
}

static const json_t *ps_spec(const json_t *ps, const char *key)
{
    return json_object_get(json_object_get(ps, "spec"), key);
}

void as_apply_defaults(json_t *obj, const json_t *ps, const struct as_config *cfg)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec))
        return; /* validation names it */
    const json_t *model = json_object_get(spec, "model");
    if (!model || (json_is_string(model) && json_string_length(model) == 0)) {
        const json_t *m = ps_spec(ps, "defaultModel");
        const char *v = json_is_string(m) && json_string_length(m) ? json_string_value(m)
                                                                  : cfg->default_model;
        if (v && *v)
            json_object_set_new(spec, "model", json_string(v));
    }
    if (!json_object_get(spec, "timeout")) {
        const json_t *t = ps_spec(ps, "defaultTimeout");
        json_int_t v = json_is_integer(t) && json_integer_value(t) > 0 ? json_integer_value(t)
                                                                      : cfg->default_timeout;
        if (v > 0)
            json_object_set_new(spec, "timeout", json_integer(v));
    }
}

void as_bounds_from(const json_t *ps, struct as_bounds *b)
{
    const json_t *max = ps_spec(ps, "maxTimeout");
    b->max_timeout = json_is_integer(max) ? (long long)json_integer_value(max) : 0;
    const json_t *allowed = ps_spec(ps, "allowedModels");
    b->allowed_models = json_is_array(allowed) ? allowed : NULL;
}

const char *as_runner_secret(const json_t *ps)
{
    const json_t *s = ps_spec(ps, "runnerSecretsName");
    return json_is_string(s) && json_string_length(s) ? json_string_value(s)
                                                      : AS_DEFAULT_RUNNER_SECRET;
}
