/* plugin.c — the rfeworkflow plugin's entry: reads the
 * `rfeworkflow = { ... }` config group, registers the RFEWorkflow kind
 * (validate, set_defaults, reconcile; it owns AgenticSessions) and its
 * routes, and exports the descriptor. README.md has the config keys, the
 * REST shapes and the default council. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rfe.h"

const struct amb_host *rfe_host;
struct amb_module *rfe_self;

const struct amb_resource rfe_workflows = {AS_GROUP, AS_VERSION, RFE_KIND, RFE_PLURAL, 1};
const struct amb_resource rfe_sessions = {AS_GROUP, AS_VERSION, "AgenticSession", AS_PLURAL, 1};

const char *rfe_meta(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

const char *rfe_annotation(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key));
}

void rfe_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* validate (the REST path, after set_defaults): no field the CRD does not
 * declare, and the spec's rules. */
static int kind_validate(void *ud, struct amb_ctx *ctx, const json_t *obj, const json_t *old,
                         struct amb_error *err)
{
    (void)ud;
    (void)ctx;
    (void)old;
    struct as_problems p = {0};
    struct rfe_plan *plan = malloc(sizeof *plan);
    if (!plan)
        return rfe_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    rfe_check(obj, 1, plan, &p);
    free(plan);
    for (size_t i = 0; i < p.n; i++)
        rfe_host->error_set(err, AMB_EINVAL, p.field[i], "%s", p.message[i]);
    if (p.dropped)
        rfe_host->error_set(err, AMB_EINVAL, "spec", "%zu more violations not listed", p.dropped);
    return p.n ? AMB_EINVAL : AMB_OK;
}

static int kind_defaults(void *ud, struct amb_ctx *ctx, json_t *obj, struct amb_error *err)
{
    (void)ud;
    (void)ctx;
    (void)err;
    rfe_apply_defaults(obj);
    return AMB_OK;
}

static int rfe_init(const struct amb_host *host, struct amb_module *self, void **state,
                    struct amb_error *err)
{
    (void)state;
    rfe_host = host;
    rfe_self = self;
    if (!AMB_HAS(host, request_ops))
        return host->error_set(err, AMB_EUNSUPPORTED, NULL,
                               "needs plugin ABI 1.3 (cache reads and routes)");
    struct rfe_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    cfg->max_parallel_steps = 3;
    int rc = host->config_int(self, "max_parallel_steps", &cfg->max_parallel_steps);
    if (rc != AMB_OK && rc != AMB_ENOTFOUND) {
        free(cfg);
        return rc; /* the host reports the key, file and line */
    }
    if (cfg->max_parallel_steps < 1 || cfg->max_parallel_steps > RFE_MAX_STEPS) {
        free(cfg);
        return host->error_set(err, AMB_EINVAL, "max_parallel_steps", "must be from 1 to %d",
                               RFE_MAX_STEPS);
    }
    static const struct amb_resource owns[] = {
        {AS_GROUP, AS_VERSION, "AgenticSession", AS_PLURAL, 1},
    };
    struct amb_kind kind = {
        .size = sizeof kind,
        .resource = rfe_workflows,
        .rest_plural = RFE_REST_PLURAL,
        .owns = owns,
        .n_owns = 1,
        .validate = kind_validate,
        .set_defaults = kind_defaults,
        .reconcile = rfe_reconcile,
    };
    /* cfg belongs to the host from here on, freed once with free(). */
    rc = host->register_kind(self, &kind, cfg, free);
    return rc == AMB_OK ? rfe_register_routes() : rc;
}

static const struct amb_plugin descriptor = {
    AMB_PLUGIN_HEADER,
    .name = "rfeworkflow",
    .version = "0.1.0",
    .description = "RFEWorkflow: a feature request worked through by a council of agent sessions",
    .init = rfe_init,
};

AMB_DEFINE_PLUGIN(descriptor)
