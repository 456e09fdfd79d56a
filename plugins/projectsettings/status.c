/* status.c — the ProjectSettings status: observedGeneration and the
 * conditions Ready, GroupAccessReady and SecretsReady, written through
 * /status only when something differs (a write wakes the object again),
 * with an Event for each condition that changes. */
#include "ps.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ps_outcome_add(struct ps_outcome *o, const char *type, const char *status,
                    const char *reason, const char *fmt, ...)
{
    if (o->n_conds >= PS_MAX_CONDS)
        return;
    struct ps_cond *c = &o->conds[o->n_conds++];
    c->type = type;
    c->status = status;
    c->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
}

int ps_status_mutate(void *ud, json_t *obj)
{
    struct ps_outcome *o = ud;
    json_t *st = json_object_get(obj, "status");
    int changed = 0;
    if (!json_is_object(st)) {
        st = json_object();
        if (!st || json_object_set_new(obj, "status", st) != 0)
            return AMB_ENOMEM;
        changed = 1;
    }
    const json_t *og = json_object_get(st, "observedGeneration");
    if (!json_is_integer(og) || json_integer_value(og) != o->generation) {
        if (json_object_set_new(st, "observedGeneration", json_integer(o->generation)) != 0)
            return AMB_ENOMEM;
        changed = 1;
    }
    for (int i = 0; i < o->n_conds; i++) {
        int rc = ps_host->set_condition(obj, o->conds[i].type, o->conds[i].status,
                                        o->conds[i].reason, o->conds[i].message);
        if (rc < 0)
            return rc;
        changed |= rc;
    }
    return changed ? 0 : 1;
}

static const json_t *find_cond(const json_t *obj, const char *type)
{
    const json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

static int same(const json_t *c, const char *k, const char *v)
{
    const char *s = json_string_value(json_object_get(c, k));
    return s && strcmp(s, v) == 0;
}

int ps_status_write(struct amb_ctx *ctx, const json_t *obj, struct ps_outcome *o,
                    struct amb_error *err)
{
    int rc = ps_host->update_status(ctx, ps_status_mutate, o, NULL, err);
    if (rc != AMB_OK)
        return rc;
    for (int i = 0; i < o->n_conds; i++) {
        const struct ps_cond *c = &o->conds[i];
        const json_t *before = find_cond(obj, c->type);
        if (before && same(before, "status", c->status) && same(before, "reason", c->reason))
            continue;
        /* A condition appearing True for the first time is news only for
         * Ready; the others are reported when they change. */
        if (!before && strcmp(c->status, "True") == 0 && strcmp(c->type, "Ready") != 0)
            continue;
        ps_host->emit_event(ctx, obj, strcmp(c->status, "True") == 0 ? "Normal" : "Warning",
                            c->reason, c->message);
    }
    return AMB_OK;
}
