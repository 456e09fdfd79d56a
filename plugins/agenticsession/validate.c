/* validate.c — the rules an AgenticSession's spec must follow, each
 * violation recorded with the field it concerns. Pure: no host calls, so the
 * REST layer's validate callback and the reconciler share it. Also the
 * fields the CRD declares, so the REST path can name any other one. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "as.h"
#include "as_options.h"

static void add(struct as_problems *p, const char *field, const char *fmt, ...)
    AMB_PRINTF(3, 4);

static void add(struct as_problems *p, const char *field, const char *fmt, ...)
{
    if (p->n >= sizeof p->field / sizeof p->field[0]) {
        p->dropped++;
        return;
    }
    snprintf(p->field[p->n], sizeof p->field[p->n], "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message[p->n], sizeof p->message[p->n], fmt, ap);
    va_end(ap);
    p->n++;
}

void as_problems_join(const struct as_problems *p, char *buf, size_t n)
{
    size_t used = 0;
    if (n)
        buf[0] = '\0';
    for (size_t i = 0; i < p->n && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s: %s", i ? "; " : "", p->field[i],
                         p->message[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (p->dropped && used < n)
        snprintf(buf + used, n - used, "; and %zu more", p->dropped);
}

static void check_output(const json_t *out, const char *base, struct as_problems *p)
{
    char f[128]; /* base is at most 95 bytes */
    if (!json_is_object(out)) {
        add(p, base, "must be an object");
        return;
    }
    const json_t *push = json_object_get(out, "pushTo");
    snprintf(f, sizeof f, "%s.pushTo", base);
    if (push && !(json_is_string(push) && (strcmp(json_string_value(push), "fork") == 0 ||
                                          strcmp(json_string_value(push), "same") == 0 ||
                                          strcmp(json_string_value(push), "none") == 0)))
        add(p, f, "must be one of fork, same, none");
    const json_t *tb = json_object_get(out, "targetBranch");
    snprintf(f, sizeof f, "%s.targetBranch", base);
    if (tb && !(json_is_string(tb) && as_valid_branch(json_string_value(tb))))
        add(p, f, "must be a valid git branch name");
    const json_t *tr = json_object_get(out, "targetRepo");
    snprintf(f, sizeof f, "%s.targetRepo", base);
    if (tr && !(json_is_string(tr) && as_valid_git_url(json_string_value(tr))))
        add(p, f, "must be an http(s) or ssh git URL");
}

static void check_repo(const json_t *repo, size_t i, struct as_problems *p)
{
    char base[64], f[96];
    snprintf(base, sizeof base, "spec.repos[%zu]", i);
    if (!json_is_object(repo)) {
        add(p, base, "must be an object");
        return;
    }
    const json_t *in = json_object_get(repo, "input");
    snprintf(f, sizeof f, "%s.input", base);
    if (!json_is_object(in)) {
        add(p, f, "is required and must be an object");
    } else {
        const json_t *url = json_object_get(in, "url");
        snprintf(f, sizeof f, "%s.input.url", base);
        if (!url)
            add(p, f, "is required");
        else if (!json_is_string(url) || !as_valid_git_url(json_string_value(url)))
            add(p, f, "must be an http(s) or ssh git URL (https://host/owner/repo, "
                      "ssh://git@host/owner/repo or git@host:owner/repo)");
        const json_t *br = json_object_get(in, "branch");
        snprintf(f, sizeof f, "%s.input.branch", base);
        if (br && !(json_is_string(br) &&
                    (json_string_length(br) == 0 || as_valid_branch(json_string_value(br)))))
            add(p, f, "must be a valid git branch name (omit it for the default branch)");
        const json_t *tok = json_object_get(in, "token");
        snprintf(f, sizeof f, "%s.input.token", base);
        if (tok && !(json_is_string(tok) && as_valid_secret_key(json_string_value(tok))))
            add(p, f, "must name a key of the project's runner Secret ([-._a-zA-Z0-9]+), "
                      "not hold a token");
    }
    const json_t *out = json_object_get(repo, "output");
    snprintf(f, sizeof f, "%s.output", base);
    if (out)
        check_output(out, f, p);
}

size_t as_validate_spec(const json_t *obj, const struct as_bounds *b, struct as_problems *p)
{
    const char *name = as_meta(obj, "name");
    if (name && strlen(name) > AS_MAX_NAME)
        add(p, "metadata.name", "must be at most %d characters (the runner Job's name is "
                                "derived from it)", AS_MAX_NAME);
    const json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        add(p, "spec", "is required and must be an object");
        return p->n;
    }
    const json_t *inter = json_object_get(spec, "interactive");
    if (inter && !json_is_boolean(inter))
        add(p, "spec.interactive", "must be a boolean");
    const json_t *prompt = json_object_get(spec, "prompt");
    if (prompt && !json_is_string(prompt))
        add(p, "spec.prompt", "must be a string");
    else if (!json_is_true(inter) && (!prompt || json_string_length(prompt) == 0))
        add(p, "spec.prompt", "is required unless spec.interactive is true");

    const json_t *repos = json_object_get(spec, "repos");
    size_t n_repos = 0;
    if (repos && !json_is_array(repos)) {
        add(p, "spec.repos", "must be a list");
    } else {
        n_repos = json_array_size(repos);
        for (size_t i = 0; i < n_repos; i++)
            check_repo(json_array_get(repos, i), i, p);
    }
    const json_t *mri = json_object_get(spec, "mainRepoIndex");
    if (mri) {
        if (!json_is_integer(mri))
            add(p, "spec.mainRepoIndex", "must be an integer");
        else if (n_repos == 0)
            add(p, "spec.mainRepoIndex", "is set but spec.repos is empty");
        else if (json_integer_value(mri) < 0 || json_integer_value(mri) >= (json_int_t)n_repos)
            add(p, "spec.mainRepoIndex", "%lld is out of range: spec.repos has %zu entries "
                                         "(0 to %zu)",
                (long long)json_integer_value(mri), n_repos, n_repos - 1);
    }

    const json_t *timeout = json_object_get(spec, "timeout");
    if (timeout) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 1 ||
            json_integer_value(timeout) > AS_MAX_TIMEOUT_S)
            add(p, "spec.timeout", "must be a whole number of seconds from 1 to %lld (30 days)",
                AS_MAX_TIMEOUT_S);
        else if (b && b->max_timeout > 0 && json_integer_value(timeout) > b->max_timeout)
            add(p, "spec.timeout", "%lld seconds is beyond the project's maxTimeout of %lld",
                (long long)json_integer_value(timeout), b->max_timeout);
    }
    const json_t *model = json_object_get(spec, "model");
    if (model) {
        if (!json_is_string(model) || json_string_length(model) == 0)
            add(p, "spec.model", "must be a non-empty string");
        else if (b && json_array_size(b->allowed_models) > 0) {
            int found = 0;
            size_t i;
            const json_t *m;
            json_array_foreach(b->allowed_models, i, m)
            {
                if (json_is_string(m) && strcmp(json_string_value(m), json_string_value(model)) == 0)
                    found = 1;
            }
            if (!found)
                add(p, "spec.model", "\"%.64s\" is not in the project's allowedModels",
                    json_string_value(model));
        }
    }
    struct as_option_problem op;
    if (as_options_check(json_object_get(spec, "options"), &op) != 0)
        add(p, op.field, "%s", op.message);
    const json_t *dn = json_object_get(spec, "displayName");
    if (dn && !(json_is_string(dn) && json_string_length(dn) <= 256))
        add(p, "spec.displayName", "must be a string of at most 256 characters");
    return p->n;
}

/* ---- fields the CRD (deploy/crds/agenticsessions.vteam.ambient-code.yaml)
 * declares; spec.options has its own check (options.c) ---- */

static const char *const object_fields[] = {"apiVersion", "kind", "metadata", "spec", "status",
                                            NULL};
static const char *const spec_fields[] = {"prompt",  "displayName", "repos", "mainRepoIndex",
                                          "interactive", "timeout", "model", "options", NULL};
static const char *const repo_fields[] = {"input", "output", NULL};
static const char *const input_fields[] = {"url", "branch", "token", NULL};
static const char *const output_fields[] = {"pushTo", "targetBranch", "targetRepo", NULL};

static int listed(const char *const *names, const char *key)
{
    for (; *names; names++)
        if (strcmp(*names, key) == 0)
            return 1;
    return 0;
}

/* Each key of obj (when it is an object: types are as_validate_spec's
 * concern) that names lacks, as "<base>.<key>" ("<key>" at the top); a
 * long key is cut to 48 bytes and "...". */
static void unknown_in(const json_t *obj, const char *const *names, const char *base,
                       struct as_problems *p)
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return;
    json_object_foreach((json_t *)obj, key, v) {
        if (listed(names, key))
            continue;
        char f[96];
        snprintf(f, sizeof f, "%s%s%.48s%s", base, *base ? "." : "", key,
                 strlen(key) > 48 ? "..." : "");
        add(p, f, "unknown field");
    }
}

size_t as_unknown_fields(const json_t *obj, struct as_problems *p)
{
    size_t before = p->n + p->dropped;
    unknown_in(obj, object_fields, "", p);
    const json_t *spec = json_object_get(obj, "spec");
    unknown_in(spec, spec_fields, "spec", p);
    const json_t *repos = json_object_get(spec, "repos");
    for (size_t i = 0; json_is_array(repos) && i < json_array_size(repos); i++) {
        const json_t *repo = json_array_get(repos, i);
        char base[48], sub[64];
        snprintf(base, sizeof base, "spec.repos[%zu]", i);
        unknown_in(repo, repo_fields, base, p);
        snprintf(sub, sizeof sub, "%s.input", base);
        unknown_in(json_object_get(repo, "input"), input_fields, sub, p);
        snprintf(sub, sizeof sub, "%s.output", base);
        unknown_in(json_object_get(repo, "output"), output_fields, sub, p);
    }
    return p->n + p->dropped - before;
}
