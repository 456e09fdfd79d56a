/* secrets.c — moving the seed's credential fields (anthropicApiKey,
 * gitHubToken, gitLabToken) out of the ProjectSettings into its runner
 * Secret. The Secret is written first and the fields cleared only after,
 * so a failure in between leaves the key in both places, never in none.
 * Values are handed to log_secret before anything else and never appear in
 * a log line, an error or the status we write. */
#include "ps.h"

#include <stdio.h>
#include <string.h>

/* On the runner Secret when we create it; it carries no ownerReference:
 * deleting the ProjectSettings must not delete the project's credentials. */
#define PS_SECRET_LABEL AMB_RUNNER_SECRETS_LABEL

const struct ps_legacy_field ps_legacy_fields[3] = {
    {"anthropicApiKey", "ANTHROPIC_API_KEY"},
    {"gitHubToken", "GITHUB_TOKEN"},
    {"gitLabToken", "GITLAB_TOKEN"},
};

const char *ps_secret_name(const json_t *ps)
{
    const char *s =
        json_string_value(json_object_get(json_object_get(ps, "spec"), "runnerSecretsName"));
    return s && *s ? s : PS_DEFAULT_SECRET;
}

int ps_has_legacy(const json_t *ps)
{
    const json_t *spec = json_object_get(ps, "spec");
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = json_object_get(spec, ps_legacy_fields[i].field);
        if (v && !json_is_null(v))
            return 1;
    }
    return 0;
}

/* Puts data (stringData entries) into the Secret: a create if it does not
 * exist yet, else a merge patch that leaves its other keys alone. */
static int write_secret(struct amb_ctx *ctx, const char *ns, const char *name, json_t *data,
                        struct amb_error *err)
{
    int rc = ps_host->kube_get(ctx, &ps_secrets, ns, name, NULL, err);
    if (rc == AMB_ENOTFOUND) {
        json_t *secret = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:O}", "apiVersion",
                                   "v1", "kind", "Secret", "metadata", "name", name,
                                   "namespace", ns, "labels", PS_SECRET_LABEL, "true", "type",
                                   "Opaque", "stringData", data);
        if (!secret)
            return ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
        rc = ps_host->kube_create(ctx, &ps_secrets, ns, secret, NULL, err);
        json_decref(secret);
        if (rc != AMB_EEXIST)
            return rc;
        /* Created meanwhile by someone else: patch it like any other. */
    } else if (rc != AMB_OK) {
        return rc;
    }
    json_t *patch = json_pack("{s:O}", "stringData", data);
    if (!patch)
        return ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    rc = ps_host->kube_patch(ctx, &ps_secrets, ns, name, patch, NULL, err);
    json_decref(patch);
    return rc;
}

int ps_secrets_migrate(struct amb_ctx *ctx, const json_t *ps, json_t **patched, char *moved,
                       size_t moved_len, struct amb_error *err)
{
    int rc = AMB_OK;
    const json_t *spec = json_object_get(ps, "spec");
    const char *ns = ps_meta(ps, "namespace");
    json_t *data = json_object(), *clear = json_object(), *patch = NULL;
    *patched = NULL;
    if (moved_len)
        moved[0] = '\0';
    if (!data || !clear) {
        rc = ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = json_object_get(spec, ps_legacy_fields[i].field);
        if (!v || json_is_null(v))
            continue;
        if (json_object_set_new(clear, ps_legacy_fields[i].field, json_null()) != 0) {
            rc = ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
            goto out;
        }
        /* An empty value (or one of another type, which validation
         * reports) is only cleared: it would overwrite a real key. */
        if (!json_is_string(v) || json_string_length(v) == 0)
            continue;
        ps_host->log_secret(ps_self, json_string_value(v));
        if (json_object_set(data, ps_legacy_fields[i].key, (json_t *)v) != 0) {
            rc = ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
            goto out;
        }
        size_t used = strlen(moved);
        if (moved_len > used)
            snprintf(moved + used, moved_len - used, "%s%s", used ? ", " : "",
                     ps_legacy_fields[i].key);
    }
    if (json_object_size(clear) == 0)
        goto out;
    if (json_object_size(data) > 0) {
        rc = write_secret(ctx, ns, ps_secret_name(ps), data, err);
        if (rc != AMB_OK)
            goto out;
    }
    patch = json_pack("{s:O}", "spec", clear);
    if (!patch) {
        rc = ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
        goto out;
    }
    rc = ps_host->kube_patch(ctx, &ps_projectsettings, ns, ps_meta(ps, "name"), patch, patched,
                             err);
out:
    json_decref(patch);
    json_decref(data);
    json_decref(clear);
    return rc;
}
