/* spec.c — the rules an RFEWorkflow's spec must follow, each violation
 * recorded with the field it concerns (spec.steps[2].dependsOn[0]: unknown
 * step "x"), and the plan a valid spec is read into. The repos[] rules are
 * the session's own (plugins/agenticsession/repos.c). Pure: no host calls,
 * so the REST path's validate and the reconciler share it. */
#include <stdio.h>
#include <string.h>

#include "rfe.h"

/* A DNS label: what a step or agent name must be, since it ends up in a
 * session's name and labels. */
static int dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RFE_MAX_NAME || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

/* A string of 1..max bytes at field, or NULL (reported). */
static const char *text(const json_t *v, const char *field, size_t max, int required,
                        struct as_problems *p)
{
    if (!v) {
        if (required)
            as_problem_add(p, field, "is required");
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
        as_problem_add(p, field, "must be a non-empty string of at most %zu bytes", max);
        return NULL;
    }
    return json_string_value(v);
}

static const char *name_at(const json_t *v, const char *field, struct as_problems *p)
{
    const char *s = text(v, field, RFE_MAX_NAME, 1, p);
    if (s && !dns_label(s)) {
        as_problem_add(p, field, "must be a DNS label (a-z, 0-9 and '-', at most %d)",
                       RFE_MAX_NAME);
        return NULL;
    }
    return s;
}

/* A list at field of at most max entries; NULL (reported) when not one. */
static const json_t *list(const json_t *v, const char *field, size_t max, struct as_problems *p)
{
    if (!json_is_array(v)) {
        as_problem_add(p, field, "must be a list");
        return NULL;
    }
    if (json_array_size(v) > max) {
        as_problem_add(p, field, "has %zu entries; at most %zu are allowed", json_array_size(v),
                       max);
        return NULL;
    }
    return v;
}

long rfe_step_index(const struct rfe_plan *plan, const char *name)
{
    for (size_t i = 0; name && i < plan->n_steps; i++)
        if (plan->steps[i].name && strcmp(plan->steps[i].name, name) == 0)
            return (long)i;
    return -1;
}

static long agent_index(const struct rfe_plan *plan, const char *name)
{
    for (size_t i = 0; name && i < plan->n_agents; i++)
        if (plan->agents[i].name && strcmp(plan->agents[i].name, name) == 0)
            return (long)i;
    return -1;
}

static void check_agents(const json_t *agents, struct rfe_plan *plan, struct as_problems *p)
{
    if (!list(agents, "spec.agents", RFE_MAX_AGENTS, p))
        return;
    size_t i;
    const json_t *a;
    json_array_foreach(agents, i, a)
    {
        char at[48], f[96];
        snprintf(at, sizeof at, "spec.agents[%zu]", i);
        struct rfe_agent *ag = &plan->agents[plan->n_agents++];
        if (!json_is_object(a)) {
            as_problem_add(p, at, "must be an object");
            continue;
        }
        snprintf(f, sizeof f, "%s.name", at);
        ag->name = name_at(json_object_get(a, "name"), f, p);
        if (ag->name && agent_index(plan, ag->name) != (long)i) {
            as_problem_add(p, f, "\"%s\" is defined twice", ag->name);
            ag->name = NULL;
        }
        snprintf(f, sizeof f, "%s.role", at);
        ag->role = text(json_object_get(a, "role"), f, RFE_MAX_ROLE, 1, p);
        snprintf(f, sizeof f, "%s.promptTemplate", at);
        ag->prompt_template = text(json_object_get(a, "promptTemplate"), f, RFE_MAX_TEMPLATE, 1, p);
        snprintf(f, sizeof f, "%s.model", at);
        ag->model = text(json_object_get(a, "model"), f, 256, 0, p);
    }
}

static void check_depends(const json_t *deps, const char *at, struct rfe_step *st,
                          const json_t *steps, struct as_problems *p)
{
    char f[96];
    snprintf(f, sizeof f, "%s.dependsOn", at);
    if (!deps || !list(deps, f, RFE_MAX_STEPS, p))
        return;
    size_t j;
    const json_t *d;
    json_array_foreach(deps, j, d)
    {
        snprintf(f, sizeof f, "%s.dependsOn[%zu]", at, j);
        const char *name = json_string_value(d);
        long k = -1;
        /* Step names are resolved against the spec (not the plan, which
         * holds only the steps read so far). */
        for (size_t s = 0; name && s < json_array_size(steps); s++) {
            const char *n = json_string_value(json_object_get(json_array_get(steps, s), "name"));
            if (n && strcmp(n, name) == 0 && k < 0)
                k = (long)s;
        }
        if (!name)
            as_problem_add(p, f, "must be a step name");
        else if (k < 0)
            as_problem_add(p, f, "unknown step \"%.63s\"", name);
        else if (rfe_depends_on(st, (size_t)k))
            as_problem_add(p, f, "\"%s\" is listed twice", name);
        else
            st->deps[st->n_deps++] = (size_t)k;
    }
}

static void check_steps(const json_t *steps, struct rfe_plan *plan, struct as_problems *p)
{
    if (!list(steps, "spec.steps", RFE_MAX_STEPS, p))
        return;
    if (json_array_size(steps) == 0)
        as_problem_add(p, "spec.steps", "must not be empty (omit it for the default council)");
    size_t i;
    const json_t *s;
    json_array_foreach(steps, i, s)
    {
        char at[48], f[96];
        snprintf(at, sizeof at, "spec.steps[%zu]", i);
        struct rfe_step *st = &plan->steps[plan->n_steps++];
        if (!json_is_object(s)) {
            as_problem_add(p, at, "must be an object");
            continue;
        }
        snprintf(f, sizeof f, "%s.name", at);
        st->name = name_at(json_object_get(s, "name"), f, p);
        if (st->name && rfe_step_index(plan, st->name) != (long)i) {
            as_problem_add(p, f, "duplicate step name \"%s\"", st->name);
            st->name = NULL;
        }
        snprintf(f, sizeof f, "%s.agent", at);
        const char *agent = name_at(json_object_get(s, "agent"), f, p);
        long a = agent_index(plan, agent);
        if (agent && a < 0)
            as_problem_add(p, f, "unknown agent \"%s\" (not in spec.agents)", agent);
        st->agent = a < 0 ? 0 : (size_t)a;
        snprintf(f, sizeof f, "%s.prompt", at);
        st->prompt = text(json_object_get(s, "prompt"), f, RFE_MAX_TEMPLATE, 1, p);
        check_depends(json_object_get(s, "dependsOn"), at, st, steps, p);
        const json_t *t = json_object_get(s, "timeout");
        snprintf(f, sizeof f, "%s.timeout", at);
        if (t && (!json_is_integer(t) || json_integer_value(t) < 1 ||
                  json_integer_value(t) > AS_MAX_TIMEOUT_S))
            as_problem_add(p, f, "must be a whole number of seconds from 1 to %lld (30 days)",
                           AS_MAX_TIMEOUT_S);
        else if (t)
            st->timeout = (long long)json_integer_value(t);
    }
}

static void check_templates(struct rfe_plan *plan, struct as_problems *p)
{
    char f[96];
    for (size_t i = 0; i < plan->n_agents; i++) {
        snprintf(f, sizeof f, "spec.agents[%zu].promptTemplate", i);
        if (plan->agents[i].prompt_template)
            rfe_template_check(plan->agents[i].prompt_template, f, plan, NULL, p);
    }
    for (size_t i = 0; i < plan->n_steps; i++) {
        snprintf(f, sizeof f, "spec.steps[%zu].prompt", i);
        if (plan->steps[i].prompt)
            rfe_template_check(plan->steps[i].prompt, f, plan, &plan->steps[i], p);
    }
}

static const char *const object_fields[] = {"apiVersion", "kind", "metadata", "spec", "status",
                                            NULL};
static const char *const spec_fields[] = {"title", "description", "repos", "agents", "steps",
                                          NULL};
static const char *const agent_fields[] = {"name", "role", "promptTemplate", "model", NULL};
static const char *const step_fields[] = {"name", "agent", "prompt", "dependsOn", "timeout",
                                          NULL};

static void unknown_fields(const json_t *obj, struct as_problems *p)
{
    as_unknown_in(obj, object_fields, "", p);
    const json_t *spec = json_object_get(obj, "spec");
    as_unknown_in(spec, spec_fields, "spec", p);
    as_unknown_repo_fields(json_object_get(spec, "repos"), "spec.repos", p);
    char at[48];
    for (size_t i = 0; i < json_array_size(json_object_get(spec, "agents")); i++) {
        snprintf(at, sizeof at, "spec.agents[%zu]", i);
        as_unknown_in(json_array_get(json_object_get(spec, "agents"), i), agent_fields, at, p);
    }
    for (size_t i = 0; i < json_array_size(json_object_get(spec, "steps")); i++) {
        snprintf(at, sizeof at, "spec.steps[%zu]", i);
        as_unknown_in(json_array_get(json_object_get(spec, "steps"), i), step_fields, at, p);
    }
}

size_t rfe_check(const json_t *obj, int unknown, struct rfe_plan *plan, struct as_problems *p)
{
    memset(plan, 0, sizeof *plan);
    if (unknown)
        unknown_fields(obj, p);
    size_t before = p->n + p->dropped;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    if (name && !dns_label(name))
        as_problem_add(p, "metadata.name", "must be a DNS label of at most %d characters (its "
                       "steps' sessions and labels are named after it)", RFE_MAX_NAME);
    const json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        as_problem_add(p, "spec", "is required and must be an object");
        return p->n + p->dropped;
    }
    plan->title = text(json_object_get(spec, "title"), "spec.title", RFE_MAX_TITLE, 1, p);
    plan->description = text(json_object_get(spec, "description"), "spec.description",
                             RFE_MAX_DESCRIPTION, 1, p);
    as_check_repos(json_object_get(spec, "repos"), "spec.repos", p);
    plan->repos = json_object_get(spec, "repos");
    const json_t *agents = json_object_get(spec, "agents");
    if (agents)
        check_agents(agents, plan, p);
    const json_t *steps = json_object_get(spec, "steps");
    if (!steps)
        as_problem_add(p, "spec.steps", "is required");
    else
        check_steps(steps, plan, p);
    if (p->n + p->dropped > before)
        return p->n + p->dropped; /* templates and cycles need resolved names */
    check_templates(plan, p);
    char cycle[160];
    if (rfe_find_cycle(plan, cycle, sizeof cycle))
        as_problem_add(p, "spec.steps", "cycle %s", cycle);
    return p->n + p->dropped;
}
