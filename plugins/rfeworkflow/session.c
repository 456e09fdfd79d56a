/* session.c — a step's AgenticSession: its deterministic name (the same
 * workflow, step and attempt always give the same name, so a create that
 * races another, or runs again after a restart, meets 409 instead of making
 * a second session) and its object. */
#include <stdio.h>
#include <string.h>

#include "rfe.h"

/* FNV-1a over the parts, NUL-separated so "a-b"+"c" differs from "a"+"b-c". */
static unsigned fnv1a(const char *a, const char *b, long long attempt)
{
    unsigned h = 2166136261u;
    char n[24];
    snprintf(n, sizeof n, "%lld", attempt);
    const char *parts[] = {a, b, n};
    for (size_t i = 0; i < 3; i++) {
        for (const char *c = parts[i]; *c; c++)
            h = (h ^ (unsigned char)*c) * 16777619u;
        h = (h ^ 0u) * 16777619u;
    }
    return h;
}

void rfe_session_name(const char *workflow, const char *step, long long attempt, char *buf,
                      size_t n)
{
    char full[2 * RFE_MAX_NAME + 32];
    if (attempt > 1)
        snprintf(full, sizeof full, "%s-%s-%lld", workflow, step, attempt);
    else
        snprintf(full, sizeof full, "%s-%s", workflow, step);
    if (strlen(full) <= AS_MAX_NAME) {
        snprintf(buf, n, "%s", full);
        return;
    }
    /* Too long for a session: a prefix and a hash of the whole. */
    size_t keep = AS_MAX_NAME - 9;
    while (keep > 0 && full[keep - 1] == '-')
        keep--;
    snprintf(buf, n, "%.*s-%08x", (int)keep, full, fnv1a(workflow, step, attempt));
}

int rfe_owned_by(const json_t *session, const json_t *wf)
{
    const char *uid = rfe_meta(wf, "uid");
    size_t i;
    const json_t *ref;
    json_array_foreach(json_object_get(json_object_get(session, "metadata"), "ownerReferences"),
                       i, ref)
    {
        const char *u = json_string_value(json_object_get(ref, "uid"));
        if (json_is_true(json_object_get(ref, "controller")) && uid && u && strcmp(u, uid) == 0)
            return 1;
    }
    return 0;
}

json_t *rfe_build_session(const json_t *wf, const struct rfe_plan *plan, size_t step,
                          const char *name, const char *prompt)
{
    const struct rfe_step *st = &plan->steps[step];
    const struct rfe_agent *ag = &plan->agents[st->agent];
    char display[300];
    snprintf(display, sizeof display, "%.180s: %s", plan->title, st->name);
    json_t *spec = json_pack("{s:s, s:s, s:b}", "prompt", prompt, "displayName", display,
                             "interactive", 0);
    if (!spec)
        return NULL;
    if (plan->repos)
        json_object_set_new(spec, "repos", json_deep_copy(plan->repos));
    if (ag->model)
        json_object_set_new(spec, "model", json_string(ag->model));
    if (st->timeout > 0)
        json_object_set_new(spec, "timeout", json_integer(st->timeout));
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:o}", "apiVersion",
                     AS_GROUP "/" AS_VERSION, "kind", "AgenticSession", "metadata", "name", name,
                     "labels", RFE_LABEL_WORKFLOW, rfe_meta(wf, "name"), RFE_LABEL_STEP,
                     st->name, "spec", spec);
}
