/* children.c — makes sure each child of a session exists: read it from the
 * controller's cache, create it owned by the session when it is missing. Existing
 * children are left as they are, so a second pass creates nothing. */
#include <string.h>

#include "as.h"

/* Gets res/name; if absent, creates built (stolen) as a controlled child of
 * session. *out (may be NULL) is the existing or created object (new ref);
 * *created is set to 1 when this call created it. */
static int ensure(struct amb_ctx *ctx, const struct amb_resource *res, const json_t *session,
                  const char *name, json_t *built, json_t **out, int *created,
                  struct amb_error *err)
{
    const char *ns = as_meta(session, "namespace");
    json_t *cur = NULL;
    /* Our children carry our label, so the cache alone knows them; it costs
     * no API call. */
    int rc = as_host->kube_get_cached(ctx, res, ns, name, &cur, err);
    if (rc == AMB_OK) {
        json_decref(built);
        if (out)
            *out = cur;
        else
            json_decref(cur);
        return AMB_OK;
    }
    if (rc != AMB_ENOTFOUND) {
        json_decref(built);
        return rc;
    }
    if (!built)
        return AMB_ENOMEM;
    rc = as_host->set_controller_ref(built, session);
    if (rc == AMB_OK)
        rc = as_host->kube_create(ctx, res, ns, built, out, err);
    json_decref(built);
    if (rc == AMB_EEXIST) /* there without our label: the API has it */
        rc = as_host->kube_get(ctx, res, ns, name, out, err);
    else if (rc == AMB_OK) {
        (*created)++;
        as_host->log(as_self, AMB_LOG_INFO, "created child", "namespace", ns, "session",
                     as_meta(session, "name"), "kind", res->kind, "name", name, NULL);
    }
    return rc;
}

int as_ensure_children(struct amb_ctx *ctx, const json_t *session, const struct as_config *cfg,
                       const char *runner_secret, long long run, json_t **job, int *created,
                       struct amb_error *err)
{
    char name[96];
    const char *s = as_meta(session, "name");
    *job = NULL;
    as_sa_name(s, name, sizeof name);
    int rc = ensure(ctx, &as_service_accounts, session, name, as_build_service_account(session),
                    NULL, created, err);
    if (rc == AMB_OK)
        rc = ensure(ctx, &as_roles, session, name, as_build_role(session), NULL, created, err);
    if (rc == AMB_OK)
        rc = ensure(ctx, &as_role_bindings, session, name, as_build_role_binding(session), NULL,
                    created, err);
    if (rc == AMB_OK && !cfg->empty_dir) {
        as_pvc_name(s, name, sizeof name);
        rc = ensure(ctx, &as_pvcs, session, name, as_build_pvc(session, cfg), NULL, created, err);
    }
    if (rc == AMB_OK) {
        as_job_name(s, name, sizeof name);
        rc = ensure(ctx, &as_jobs, session, name, as_build_job(session, cfg, runner_secret, run),
                    job, created, err);
    }
    return rc;
}
