/* validate.c — the rules an AgenticSession's spec must follow, each
 * violation recorded with the field it concerns. Pure: no host calls, so the
 * REST layer's validate callback and the reconciler share it. Also the
 * fields the CRD declares, so the REST path can name any other one. The
 * repos[] rules are repos.c's, shared with the RFEWorkflow kind. */
#include <stdio.h>
#include <string.h>

#include "as.h"
#include "as_options.h"

size_t as_validate_spec(const json_t *obj, const struct as_bounds *b, struct as_problems *p)
{
    const char *name = as_meta(obj, "name");
    if (name && strlen(name) > AS_MAX_NAME)
        as_problem_add(p, "metadata.name",
                       "must be at most %d characters (the runner Job's name is derived from it)",
                       AS_MAX_NAME);
    const json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        as_problem_add(p, "spec", "is required and must be an object");
        return p->n;
    }
    const json_t *inter = json_object_get(spec, "interactive");
    if (inter && !json_is_boolean(inter))
        as_problem_add(p, "spec.interactive", "must be a boolean");
    const json_t *prompt = json_object_get(spec, "prompt");
    if (prompt && !json_is_string(prompt))
        as_problem_add(p, "spec.prompt", "must be a string");
    else if (!json_is_true(inter) && (!prompt || json_string_length(prompt) == 0))
        as_problem_add(p, "spec.prompt", "is required unless spec.interactive is true");

    size_t n_repos = as_check_repos(json_object_get(spec, "repos"), "spec.repos", p);
    const json_t *mri = json_object_get(spec, "mainRepoIndex");
    if (mri) {
        if (!json_is_integer(mri))
            as_problem_add(p, "spec.mainRepoIndex", "must be an integer");
        else if (n_repos == 0)
            as_problem_add(p, "spec.mainRepoIndex", "is set but spec.repos is empty");
        else if (json_integer_value(mri) < 0 || json_integer_value(mri) >= (json_int_t)n_repos)
            as_problem_add(p, "spec.mainRepoIndex",
                           "%lld is out of range: spec.repos has %zu entries (0 to %zu)",
                           (long long)json_integer_value(mri), n_repos, n_repos - 1);
    }

    const json_t *timeout = json_object_get(spec, "timeout");
    if (timeout) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 1 ||
            json_integer_value(timeout) > AS_MAX_TIMEOUT_S)
            as_problem_add(p, "spec.timeout",
                           "must be a whole number of seconds from 1 to %lld (30 days)",
                           AS_MAX_TIMEOUT_S);
        else if (b && b->max_timeout > 0 && json_integer_value(timeout) > b->max_timeout)
            as_problem_add(p, "spec.timeout",
                           "%lld seconds is beyond the project's maxTimeout of %lld",
                           (long long)json_integer_value(timeout), b->max_timeout);
    }
    const json_t *model = json_object_get(spec, "model");
    if (model) {
        if (!json_is_string(model) || json_string_length(model) == 0)
            as_problem_add(p, "spec.model", "must be a non-empty string");
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
                as_problem_add(p, "spec.model", "\"%.64s\" is not in the project's allowedModels",
                               json_string_value(model));
        }
    }
    struct as_option_problem op;
    if (as_options_check(json_object_get(spec, "options"), &op) != 0)
        as_problem_add(p, op.field, "%s", op.message);
    const json_t *dn = json_object_get(spec, "displayName");
    if (dn && !(json_is_string(dn) && json_string_length(dn) <= 256))
        as_problem_add(p, "spec.displayName", "must be a string of at most 256 characters");
    return p->n;
}

/* ---- fields the CRD (deploy/crds/agenticsessions.vteam.ambient-code.yaml)
 * declares; spec.options has its own check (options.c) ---- */

static const char *const object_fields[] = {"apiVersion", "kind", "metadata", "spec", "status",
                                            NULL};
static const char *const spec_fields[] = {"prompt",  "displayName", "repos", "mainRepoIndex",
                                          "interactive", "timeout", "model", "options", NULL};
size_t as_unknown_fields(const json_t *obj, struct as_problems *p)
{
    size_t before = p->n + p->dropped;
    as_unknown_in(obj, object_fields, "", p);
    const json_t *spec = json_object_get(obj, "spec");
    as_unknown_in(spec, spec_fields, "spec", p);
    as_unknown_repo_fields(json_object_get(spec, "repos"), "spec.repos", p);
    return p->n + p->dropped - before;
}
