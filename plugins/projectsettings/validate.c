/* validate.c — the rules a ProjectSettings must follow, each violation
 * naming its field, and the defaults filled in before a write. The same
 * check runs in the REST layer (validate) and in reconcile (objects
 * written straight to Kubernetes), where violations become a condition. */
#include "ps.h"
#include "../agenticsession/as_names.h"

#include <stdio.h>
#include <string.h>

#define MAX_GROUPS 256

static int is_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum)
            continue;
        if (c != '-' && c != '.')
            return 0;
        /* '-' and '.' never start or end a label. */
        if (i == 0 || i == n - 1 || s[i - 1] == '.' || (c == '.' && s[i - 1] == '-') ||
            (c == '-' && s[i + 1] == '.'))
            return 0;
    }
    return 1;
}

struct checker {
    ps_report_fn report;
    void *ud;
    int n;
};

static void bad(struct checker *c, const char *field, const char *msg)
{
    c->report(c->ud, field, msg);
    c->n++;
}

/* A positive integer of seconds, or absent. Returns the value, 0 if absent
 * or bad. */
static long long check_seconds(struct checker *c, const json_t *spec, const char *name)
{
    const json_t *v = json_object_get(spec, name);
    char field[64];
    snprintf(field, sizeof field, "spec.%s", name);
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        bad(c, field, "must be an integer number of seconds");
        return 0;
    }
    if (json_integer_value(v) < 1 || json_integer_value(v) > PS_MAX_SECONDS) {
        bad(c, field, "must be from 1 to 2592000 seconds (30 days)");
        return 0;
    }
    return json_integer_value(v);
}

static void check_models(struct checker *c, const json_t *spec)
{
    const json_t *dm = json_object_get(spec, "defaultModel");
    const json_t *am = json_object_get(spec, "allowedModels");
    if (dm && (!json_is_string(dm) || json_string_length(dm) == 0))
        bad(c, "spec.defaultModel", "must be a non-empty string");
    if (!am)
        return;
    if (!json_is_array(am)) {
        bad(c, "spec.allowedModels", "must be a list of model names");
        return;
    }
    size_t i, j;
    const json_t *m;
    int found = 0;
    json_array_foreach(am, i, m) {
        char field[64];
        snprintf(field, sizeof field, "spec.allowedModels[%zu]", i);
        if (!json_is_string(m) || json_string_length(m) == 0) {
            bad(c, field, "must be a non-empty string");
            continue;
        }
        for (j = 0; j < i; j++)
            if (json_equal(json_array_get(am, j), m))
                break;
        if (j < i) {
            char msg[80];
            snprintf(msg, sizeof msg, "duplicate of spec.allowedModels[%zu]", j);
            bad(c, field, msg);
        }
        if (json_is_string(dm) && strcmp(json_string_value(dm), json_string_value(m)) == 0)
            found = 1;
    }
    if (json_is_string(dm) && json_string_length(dm) > 0 && json_array_size(am) > 0 && !found)
        bad(c, "spec.defaultModel", "must be one of spec.allowedModels");
}

/* spec.<name> when it is a list of at most max entries, else NULL: absent,
 * or reported as a list of what it must be. */
static const json_t *bounded_list(struct checker *c, const json_t *spec, const char *name,
                                  const char *what, size_t max)
{
    const json_t *v = json_object_get(spec, name);
    char field[64], msg[96];
    snprintf(field, sizeof field, "spec.%s", name);
    if (v && !json_is_array(v)) {
        snprintf(msg, sizeof msg, "must be a list of %s", what);
        bad(c, field, msg);
        return NULL;
    }
    if (v && json_array_size(v) > max) {
        snprintf(msg, sizeof msg, "must have at most %zu entries", max);
        bad(c, field, msg);
        return NULL;
    }
    return v;
}

static void check_groups(struct checker *c, const json_t *spec)
{
    const json_t *ga = bounded_list(c, spec, "groupAccess", "{groupName, role}", MAX_GROUPS);
    if (!ga)
        return;
    char names[MAX_GROUPS][PS_RB_NAME_MAX];
    size_t i;
    const json_t *e;
    json_array_foreach(ga, i, e) {
        char field[64], msg[96];
        names[i][0] = '\0';
        if (!json_is_object(e)) {
            snprintf(field, sizeof field, "spec.groupAccess[%zu]", i);
            bad(c, field, "must be an object {groupName, role}");
            continue;
        }
        const json_t *g = json_object_get(e, "groupName");
        const json_t *r = json_object_get(e, "role");
        snprintf(field, sizeof field, "spec.groupAccess[%zu].groupName", i);
        if (!g)
            bad(c, field, "required");
        else if (!json_is_string(g) || json_string_length(g) == 0)
            bad(c, field, "must be a non-empty string");
        else if (json_string_length(g) > 253)
            bad(c, field, "must be at most 253 characters");
        snprintf(field, sizeof field, "spec.groupAccess[%zu].role", i);
        if (!r)
            bad(c, field, "required");
        else if (!ps_role_valid(json_string_value(r)))
            bad(c, field, "must be admin, edit or view");
        if (!json_is_string(g) || !json_is_string(r) ||
            ps_rb_name(json_string_value(g), json_string_value(r), names[i], PS_RB_NAME_MAX) !=
                AMB_OK) {
            names[i][0] = '\0';
            continue;
        }
        /* One group once: a second role for it would be a second binding
         * nobody can tell apart from the first in the UI. */
        for (size_t j = 0; j < i; j++) {
            const json_t *gj = json_object_get(json_array_get(ga, j), "groupName");
            if (json_is_string(gj) && json_equal(gj, g)) {
                snprintf(field, sizeof field, "spec.groupAccess[%zu].groupName", i);
                snprintf(msg, sizeof msg, "duplicate of spec.groupAccess[%zu].groupName", j);
                bad(c, field, msg);
                break;
            }
            if (names[j][0] && strcmp(names[j], names[i]) == 0) {
                snprintf(field, sizeof field, "spec.groupAccess[%zu].groupName", i);
                snprintf(msg, sizeof msg,
                         "gives the same RoleBinding name as spec.groupAccess[%zu]", j);
                bad(c, field, msg);
                break;
            }
        }
    }
}

/* The repositories whose forge webhooks may start sessions here: git URLs
 * as a session's spec.repos[].input.url takes them. */
static void check_repositories(struct checker *c, const json_t *spec)
{
    const json_t *rs =
        bounded_list(c, spec, "repositories", "repository URLs", PS_MAX_REPOSITORIES);
    size_t i, j;
    const json_t *r;
    json_array_foreach(rs, i, r) {
        char field[64], msg[80];
        snprintf(field, sizeof field, "spec.repositories[%zu]", i);
        if (!json_is_string(r) || !as_valid_git_url(json_string_value(r))) {
            bad(c, field, "must be an http(s) or ssh git URL of at most 2048 characters "
                          "(https://host/owner/repo, ssh://git@host/owner/repo or "
                          "git@host:owner/repo)");
            continue;
        }
        for (j = 0; j < i && !json_equal(json_array_get(rs, j), r); j++)
            ;
        if (j < i) {
            snprintf(msg, sizeof msg, "duplicate of spec.repositories[%zu]", j);
            bad(c, field, msg);
        }
    }
}

int ps_check(const json_t *obj, ps_report_fn report, void *ud)
{
    struct checker c = {report, ud, 0};
    const char *name = ps_meta(obj, "name");
    if (!name || strcmp(name, PS_NAME) != 0)
        bad(&c, "metadata.name", "must be projectsettings (one ProjectSettings per project)");
    const json_t *spec = json_object_get(obj, "spec");
    if (!spec)
        return c.n;
    if (!json_is_object(spec)) {
        bad(&c, "spec", "must be an object");
        return c.n;
    }
    long long def = check_seconds(&c, spec, "defaultTimeout");
    long long max = check_seconds(&c, spec, "maxTimeout");
    if (def > 0 && max > 0 && def > max)
        bad(&c, "spec.defaultTimeout", "must not exceed spec.maxTimeout");
    check_models(&c, spec);
    const json_t *rs = json_object_get(spec, "runnerSecretsName");
    if (rs && (!json_is_string(rs) || !is_subdomain(json_string_value(rs))))
        bad(&c, "spec.runnerSecretsName",
            "must be a Secret name (lowercase RFC 1123 subdomain, at most 253 characters)");
    check_groups(&c, spec);
    check_repositories(&c, spec);
    for (size_t i = 0; i < sizeof ps_legacy_fields / sizeof ps_legacy_fields[0]; i++) {
        const json_t *v = json_object_get(spec, ps_legacy_fields[i].field);
        char field[64];
        snprintf(field, sizeof field, "spec.%s", ps_legacy_fields[i].field);
        /* Never the value: it is a credential. */
        if (v && !json_is_string(v) && !json_is_null(v))
            bad(&c, field, "must be a string");
    }
    return c.n;
}

struct to_error {
    struct amb_error *err;
};

static void report_error(void *ud, const char *field, const char *msg)
{
    struct to_error *te = ud;
    ps_host->error_set(te->err, AMB_EINVAL, field, "%s", msg);
}

int ps_validate(void *user_data, struct amb_ctx *ctx, const json_t *obj, const json_t *old,
                struct amb_error *err)
{
    (void)user_data;
    (void)ctx;
    (void)old;
    struct to_error te = {err};
    return ps_check(obj, report_error, &te) ? AMB_EINVAL : AMB_OK;
}

int ps_set_defaults(void *user_data, struct amb_ctx *ctx, json_t *obj, struct amb_error *err)
{
    (void)user_data;
    (void)ctx;
    json_t *spec = json_object_get(obj, "spec");
    if (!spec) {
        spec = json_object();
        if (!spec || json_object_set_new(obj, "spec", spec) != 0)
            return ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    }
    if (!json_is_object(spec))
        return AMB_OK; /* validate names it */
    if (!json_object_get(spec, "runnerSecretsName") &&
        json_object_set_new(spec, "runnerSecretsName", json_string(PS_DEFAULT_SECRET)) != 0)
        return ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    if (!json_object_get(spec, "groupAccess") &&
        json_object_set_new(spec, "groupAccess", json_array()) != 0)
        return ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    return AMB_OK;
}
