/* controller_usage.c — the business metrics: what the platform's objects
 * do and cost, per namespace (an Ambient project), followed from the
 * informer's events on the loop thread of every replica:
 *
 *   ambient_project_objects{kind,namespace,phase}          gauge
 *   ambient_phase_transitions_total{kind,namespace,phase}  counter
 *   ambient_run_duration_seconds{kind,namespace,phase}     histogram
 *   ambient_tokens_total{kind,namespace,model,type}        counter
 *   ambient_cost_usd_total{kind,namespace,model}           counter
 *
 * Generic over kinds, by the status conventions the CRDs follow
 * (docs/operations.md, "Metrics"): status.phase; status.startTime and
 * status.completionTime (RFC 3339); status.usage with inputTokens,
 * outputTokens, cacheReadInputTokens, cacheCreationInputTokens and
 * totalCostUSD, running totals its writer only raises; spec.model.
 *
 * Counters count only what a replica saw change: an object's first sight
 * (the initial list after a start, or its creation) sets its baseline, so a
 * restart or a second replica never counts a finished session twice
 * (docs/decisions.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller-state-internal.h"

enum { U_INPUT, U_OUTPUT, U_CACHE_READ, U_CACHE_CREATION, U_COST, N_USAGE };

static const char *const usage_fields[N_USAGE] = {"inputTokens", "outputTokens",
                                                  "cacheReadInputTokens",
                                                  "cacheCreationInputTokens", "totalCostUSD"};
static const char *const token_types[U_COST] = {"input", "output", "cache_read",
                                                "cache_creation"};

/* What was last seen of one object. */
struct account {
    const char *phase; /* one of the kind's seen phases (borrowed) */
    double usage[N_USAGE];
    int completed; /* status.completionTime was set */
};

const char *ambd_ctl_account_phase(const void *account)
{
    return ((const struct account *)account)->phase;
}

/* Longest model name kept as a label value; others are "other", so a
 * hostile spec cannot mint unbounded series. */
#define MAX_MODEL_LABEL 64

int ambd_ctl_usage_metrics_init(struct ambd_controller *c)
{
    static const char *const kind_ns_phase[] = {"kind", "namespace", "phase", NULL};
    static const char *const kind_ns_model_type[] = {"kind", "namespace", "model", "type", NULL};
    static const char *const kind_ns_model[] = {"kind", "namespace", "model", NULL};
    static const double minutes[] = {30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400};
    c->m_project_objects = ambd_metrics_gauge(
        c->metrics, "ambient_project_objects",
        "Objects of each kind by namespace (project) and status.phase.", kind_ns_phase);
    c->m_transitions = ambd_metrics_counter(
        c->metrics, "ambient_phase_transitions_total",
        "Objects that entered a status.phase while this replica watched.", kind_ns_phase);
    c->m_run_seconds = ambd_metrics_histogram(
        c->metrics, "ambient_run_duration_seconds",
        "status.startTime to status.completionTime of objects that finished, by final phase.",
        kind_ns_phase, minutes, sizeof minutes / sizeof minutes[0]);
    c->m_tokens = ambd_metrics_counter(
        c->metrics, "ambient_tokens_total",
        "Model tokens used (status.usage), by project, model and type.", kind_ns_model_type);
    c->m_cost = ambd_metrics_counter(c->metrics, "ambient_cost_usd_total",
                                     "Model cost in US dollars (status.usage.totalCostUSD).",
                                     kind_ns_model);
    return c->m_project_objects && c->m_transitions && c->m_run_seconds && c->m_tokens &&
                   c->m_cost
               ? AMB_OK
               : AMB_ENOMEM;
}

/* Seconds since the epoch of an RFC 3339 UTC or offset time, or NAN. */
static double rfc3339_seconds(const char *s)
{
    struct tm tm = {0};
    int used = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return NAN;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    double t = (double)timegm(&tm);
    const char *p = s + used;
    if (*p == '.') {
        double frac = 0, scale = 0.1;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
        t += frac;
    }
    int oh, om;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return t;
    if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && strlen(p) == 6)
        return t - (*p == '+' ? 1 : -1) * (oh * 3600.0 + om * 60.0);
    return NAN;
}

static int is_model_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("-._:@/", ch);
}

/* spec.model as a label: "default" when unset (the project's default
 * applies), "other" when it is not a plausible model name. */
static const char *model_label(const json_t *obj)
{
    const char *m = json_string_value(json_object_get(json_object_get(obj, "spec"), "model"));
    if (!m || !*m)
        return "default";
    size_t n = 0;
    for (; m[n] && n <= MAX_MODEL_LABEL; n++) {
        if (!is_model_char(m[n]))
            return "other";
    }
    return n > MAX_MODEL_LABEL ? "other" : m;
}

static void read_usage(const json_t *status, double out[N_USAGE])
{
    const json_t *u = json_object_get(status, "usage");
    for (size_t i = 0; i < N_USAGE; i++) {
        const json_t *v = json_object_get(u, usage_fields[i]);
        double d = json_is_number(v) ? json_number_value(v) : 0;
        out[i] = isfinite(d) && d > 0 ? d : 0;
    }
}

/* Counts what changed between prev (NULL: first sight) and now. */
static void count_changes(struct ambd_controller *c, const char *kind, const char *ns,
                          const json_t *obj, const struct account *prev, const struct account *now)
{
    const char *model = model_label(obj);
    for (size_t i = 0; prev && i < N_USAGE; i++) {
        double grew = now->usage[i] - prev->usage[i];
        if (!(grew > 0))
            continue; /* totals only rise; a rewrite lower is not negative usage */
        if (i == U_COST) {
            ambd_metric_add(c->m_cost, (const char *const[]){kind, ns, model, NULL}, grew);
        } else {
            const char *labels[] = {kind, ns, model, token_types[i], NULL};
            ambd_metric_add(c->m_tokens, labels, grew);
        }
    }
    if (prev && now->phase != prev->phase)
        ambd_metric_add(c->m_transitions, (const char *const[]){kind, ns, now->phase, NULL}, 1);
    if (prev && now->completed && !prev->completed) {
        const json_t *st = json_object_get(obj, "status");
        double start = rfc3339_seconds(json_string_value(json_object_get(st, "startTime")));
        double end = rfc3339_seconds(json_string_value(json_object_get(st, "completionTime")));
        if (isfinite(start) && isfinite(end) && end >= start)
            ambd_metric_observe(c->m_run_seconds,
                                (const char *const[]){kind, ns, now->phase, NULL}, end - start);
    }
}

void ambd_ctl_track_usage(struct ambd_ctl_kind *k, enum ambd_event_type type, const json_t *obj,
                          const char *key, const char *phase)
{
    struct ambd_controller *c = k->ctl;
    const char *kind = k->entry->kind.resource.kind;
    const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    if (!ns)
        ns = "";
    struct account *prev = ambd_strmap_get(&k->accounts, key);
    int gone = type == AMBD_EVENT_DELETED || !phase;
    /* Phases are interned (counted_phase): the same pointer, the same phase,
     * and the objects-by-phase gauge does not move. */
    int moved = !prev || gone || prev->phase != phase;
    if (prev && moved)
        ambd_metric_add(c->m_project_objects, (const char *const[]){kind, ns, prev->phase, NULL}, -1);
    if (gone) {
        free(ambd_strmap_remove(&k->accounts, key));
        return;
    }
    struct account now = {.phase = phase};
    const json_t *st = json_object_get(obj, "status");
    read_usage(st, now.usage);
    now.completed = json_is_string(json_object_get(st, "completionTime"));
    if (moved)
        ambd_metric_add(c->m_project_objects, (const char *const[]){kind, ns, phase, NULL}, 1);
    count_changes(c, kind, ns, obj, prev, &now);
    if (prev) {
        *prev = now;
        return;
    }
    struct account *a = malloc(sizeof *a);
    if (!a)
        return;
    *a = now;
    if (ambd_strmap_put(&k->accounts, key, a, NULL) != 0)
        free(a);
}
