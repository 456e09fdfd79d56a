/* controller_phases.c — which status.phase every object of a kind is in,
 * kept from the informer's events, so /metrics can say how many sessions
 * are Running, Failed, ... without walking the cache on each scrape. */
#include <stdlib.h>
#include <string.h>

#include "controller-state-internal.h"

/* The phase name as counted: one of the kind's seen phases (added on first
 * sight), "other" past AMBD_MAX_PHASES, or NULL without memory. */
static const char *counted_phase(struct ambd_ctl_kind *k, const char *phase)
{
    for (size_t i = 0; i < k->n_seen_phases; i++) {
        if (!strcmp(k->seen_phases[i], phase))
            return k->seen_phases[i];
    }
    if (k->n_seen_phases >= AMBD_MAX_PHASES - 1 && strcmp(phase, "other"))
        return counted_phase(k, "other");
    char **grown = realloc(k->seen_phases, (k->n_seen_phases + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    k->seen_phases = grown;
    if (!(grown[k->n_seen_phases] = strdup(phase)))
        return NULL;
    return grown[k->n_seen_phases++];
}

void ambd_ctl_track_phase(struct ambd_ctl_kind *k, enum ambd_event_type type, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    if (!name)
        return;
    char *key = ambd_cache_key_of(json_string_value(json_object_get(md, "namespace")), name);
    if (!key)
        return;
    const char *counted = NULL;
    if (type != AMBD_EVENT_DELETED) {
        const char *phase =
            json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
        counted = counted_phase(k, phase ? phase : "");
    }
    ambd_ctl_track_usage(k, type, obj, key, counted); /* keeps it in k->accounts */
    free(key);
}

void ambd_ctl_phases_clear(struct ambd_ctl_kind *k)
{
    ambd_strmap_clear(&k->accounts, free);
    for (size_t i = 0; i < k->n_seen_phases; i++)
        free(k->seen_phases[i]);
    free(k->seen_phases);
    k->seen_phases = NULL;
    k->n_seen_phases = 0;
}
