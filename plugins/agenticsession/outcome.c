/* outcome.c — the phases of a session-like lifecycle and the status fields
 * its reconciler owns (see as_outcome.h). */
#include <string.h>

#include "as_outcome.h"

static const char *const phase_names[] = {"Pending", "Running", "Completed", "Failed", "Stopped"};

const char *as_phase_name(enum as_phase p)
{
    return phase_names[p];
}

int as_phase_parse(const char *s)
{
    for (int i = 0; s && i < (int)(sizeof phase_names / sizeof phase_names[0]); i++)
        if (strcmp(s, phase_names[i]) == 0)
            return i;
    return -1;
}

int as_phase_finished(int p)
{
    return p == AS_COMPLETED || p == AS_FAILED || p == AS_STOPPED;
}

json_t *as_status_object(json_t *obj)
{
    json_t *st = json_object_get(obj, "status");
    if (json_is_object(st))
        return st;
    st = json_object();
    return st && json_object_set_new(obj, "status", st) == 0 ? st : NULL;
}

static json_int_t generation(const json_t *obj)
{
    return json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
}

int as_status_outcome(const struct amb_host *host, json_t *obj, enum as_phase phase,
                      const char *reason, const char *message)
{
    json_t *st = as_status_object(obj);
    if (!st)
        return AMB_ENOMEM;
    if (phase == AS_FAILED)
        json_object_set_new(st, "error", json_string(message));
    else
        json_object_del(st, "error");
    json_object_set_new(st, "observedGeneration", json_integer(generation(obj)));
    int rc = host->set_condition(obj, "Ready", phase == AS_RUNNING ? "True" : "False", reason,
                                 message);
    if (rc >= 0)
        rc = host->set_condition(obj, "Succeeded",
                                 phase == AS_COMPLETED        ? "True"
                                 : as_phase_finished((int)phase) ? "False"
                                                                 : "Unknown",
                                 reason, message);
    return rc;
}

int as_status_keep_generation(void *ud, json_t *obj)
{
    (void)ud;
    json_t *st = json_object_get(obj, "status");
    json_int_t gen = generation(obj);
    if (!json_is_object(st) || json_integer_value(json_object_get(st, "observedGeneration")) == gen)
        return 1;
    json_object_set_new(st, "observedGeneration", json_integer(gen));
    return 0;
}
