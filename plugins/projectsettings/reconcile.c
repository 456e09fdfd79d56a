/* reconcile.c — one pass over a ProjectSettings: check it (an invalid one
 * only gets Ready=False naming every violation), move legacy credential
 * fields into the runner Secret, sync the group RoleBindings, look for the
 * runner Secret, and write the status. Defaults (model, timeouts) need no
 * action here: the session plugin reads them when a session is created,
 * so a changed default applies to new sessions only. */
#include "ps.h"

#include <stdio.h>
#include <string.h>

struct joined {
    char text[900];
};

static void join(void *ud, const char *field, const char *msg)
{
    struct joined *j = ud;
    size_t used = strlen(j->text);
    if (used < sizeof j->text - 1)
        snprintf(j->text + used, sizeof j->text - used, "%s%s: %s", used ? "; " : "", field,
                 msg);
}

static long long generation(const json_t *obj)
{
    return json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
}

/* Redacts every legacy credential value from all later log lines before
 * anything could log the object. */
static void redact(const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(spec, ps_legacy_fields[i].field));
        if (v && *v)
            ps_host->log_secret(ps_self, v);
    }
}

static int invalid(struct amb_ctx *ctx, const json_t *obj, const char *problems,
                   struct amb_error *err)
{
    const char *name = ps_meta(obj, "name");
    const char *reason = name && strcmp(name, PS_NAME) == 0 ? "InvalidSpec" : "InvalidName";
    struct ps_outcome o = {.generation = generation(obj)};
    ps_outcome_add(&o, "Ready", "False", reason, "%s", problems);
    ps_host->log(ps_self, AMB_LOG_WARN, "invalid ProjectSettings", "namespace",
                 ps_meta(obj, "namespace"), "name", name ? name : "", "reason", reason, NULL);
    /* Nothing to retry: a change of the object queues it again. */
    return ps_status_write(ctx, obj, &o, err);
}

/* Records a failed step as Ready=False (and its own condition) and returns
 * rc so the controller retries with backoff. The message carries the
 * error code's text only: the API server's message could quote input. */
static int failed(struct amb_ctx *ctx, const json_t *obj, long long gen, const char *type,
                  const char *reason, const char *what, int rc, struct amb_error *err)
{
    struct ps_outcome o = {.generation = gen};
    ps_outcome_add(&o, "Ready", "False", reason, "%s: %s", what, ps_host->strerror(rc));
    ps_outcome_add(&o, type, "False", reason, "%s: %s", what, ps_host->strerror(rc));
    ps_status_write(ctx, obj, &o, err);
    return rc;
}

int ps_reconcile(void *user_data, struct amb_ctx *ctx, const json_t *obj, struct amb_error *err)
{
    (void)user_data;
    struct joined problems = {{0}};
    json_t *cur = NULL;
    int rc, secret_missing = 0;
    char what[400];

    redact(obj);
    if (json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp"))
        return AMB_OK; /* RoleBindings go by garbage collection */
    if (ps_check(obj, join, &problems) > 0)
        return invalid(ctx, obj, problems.text, err);

    cur = json_incref((json_t *)obj);
    const char *secret = ps_secret_name(obj);
    if (ps_has_legacy(obj)) {
        json_t *patched = NULL;
        char moved[96];
        rc = ps_secrets_migrate(ctx, obj, &patched, moved, sizeof moved, err);
        if (rc != AMB_OK) {
            snprintf(what, sizeof what, "moving the legacy credential fields into Secret %s",
                     secret);
            rc = failed(ctx, obj, generation(obj), "SecretsReady", "SecretMigrationFailed", what,
                        rc, err);
            goto out;
        }
        if (patched) {
            json_decref(cur);
            cur = patched; /* the same spec, minus the fields: a new generation */
        }
        snprintf(what, sizeof what, "moved %s into Secret %s and cleared them from the spec",
                 moved[0] ? moved : "no value", secret);
        ps_host->emit_event(ctx, cur, "Normal", "SecretsMigrated", what);
        ps_host->log(ps_self, AMB_LOG_INFO, "legacy credential fields moved", "namespace",
                     ps_meta(obj, "namespace"), "secret", secret, "keys", moved, NULL);
    }

    struct ps_rb_counts counts;
    rc = ps_rb_sync(ctx, cur, &counts, err);
    if (rc != AMB_OK) {
        rc = failed(ctx, cur, generation(cur), "GroupAccessReady", "RoleBindingSyncFailed",
                    "syncing the group RoleBindings", rc, err);
        goto out;
    }

    struct ps_outcome o = {.generation = generation(cur)};
    ps_outcome_add(&o, "Ready", "True", "Reconciled",
                   "settings applied; changed defaults apply to new sessions");
    ps_outcome_add(&o, "GroupAccessReady", "True", "RoleBindingsInSync",
                   "%d RoleBinding(s) match spec.groupAccess", counts.total);
    rc = ps_host->kube_get(ctx, &ps_secrets, ps_meta(cur, "namespace"), secret, NULL, err);
    if (rc == AMB_OK) {
        ps_outcome_add(&o, "SecretsReady", "True", "SecretFound", "Secret %s exists", secret);
    } else if (rc == AMB_ENOTFOUND) {
        secret_missing = 1;
        ps_outcome_add(&o, "SecretsReady", "False", "SecretNotFound",
                       "Secret %s does not exist; sessions need it to hold ANTHROPIC_API_KEY",
                       secret);
    } else {
        ps_outcome_add(&o, "SecretsReady", "Unknown", "SecretCheckFailed",
                       "reading Secret %s: %s", secret, ps_host->strerror(rc));
    }
    rc = ps_status_write(ctx, cur, &o, err);
    if (rc == AMB_OK && secret_missing)
        rc = PS_SECRET_RECHECK_MS; /* we do not watch Secrets we do not own */
    if (rc == AMB_OK && (counts.created || counts.updated || counts.deleted))
        ps_host->log(ps_self, AMB_LOG_INFO, "group RoleBindings synced", "namespace",
                     ps_meta(cur, "namespace"), NULL);
out:
    json_decref(cur);
    return rc;
}
