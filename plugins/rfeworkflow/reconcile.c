/* reconcile.c — one pass over a workflow: honour stop and start requests,
 * validate the effective spec (defaults applied to a copy), follow each
 * running step's session, start every step whose dependencies completed
 * (at most max_parallel_steps at once), cancel what can no longer run, and
 * write the status. A step's session has a deterministic name, so a pass
 * that runs twice, or after a restart of the controller, meets the session
 * it made (409) rather than making another. Every status write is checked
 * against the resourceVersion the pass decided on: a pass that decided on
 * a stale copy writes nothing and looks again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfe.h"

/* Session changes wake the workflow (the controller maps an owned object
 * to its owner); this re-check is only a safety net for a missed event. */
#define POLL_MS 30000
#define STALE_MS 100  /* decided on a stale copy: look again soon */
#define MAX_ATTEMPT 1000
#define MAX_MESSAGE 512

/* A workflow's phases are a session's (as_outcome.h); a step adds one. */
enum phase { PENDING = AS_PENDING, RUNNING = AS_RUNNING, COMPLETED = AS_COMPLETED,
             FAILED = AS_FAILED, STOPPED = AS_STOPPED, CANCELLED };
static const char *const phase_names[] = {"Pending", "Running",  "Completed",
                                          "Failed",  "Stopped", "Cancelled"};

static int phase_parse(const char *s)
{
    for (int i = 0; s && i < (int)(sizeof phase_names / sizeof phase_names[0]); i++)
        if (strcmp(s, phase_names[i]) == 0)
            return i;
    return -1;
}

static int phase_of(const json_t *obj)
{
    return phase_parse(json_string_value(json_object_get(json_object_get(obj, "status"), "phase")));
}

/* ---- one pass's view ---- */

struct pass {
    struct amb_ctx *ctx;
    const json_t *obj;
    const struct rfe_config *cfg;
    struct amb_error *err;
    struct rfe_plan plan;
    json_t *steps[RFE_MAX_STEPS]; /* the status entries, edited in place */
    char event[256];              /* a step started: for the Event */
};

static int step_phase(const struct pass *ps, size_t i)
{
    int p = phase_parse(json_string_value(json_object_get(ps->steps[i], "phase")));
    return p < 0 ? PENDING : p;
}

static long long attempt_of(const json_t *entry)
{
    json_int_t a = json_integer_value(json_object_get(entry, "attempt"));
    return a >= 1 && a <= MAX_ATTEMPT ? (long long)a : 1;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
    else
        json_object_del(o, key);
}

static void set_phase(json_t *entry, int p, const char *message)
{
    char now[32];
    rfe_now(now, sizeof now);
    json_object_set_new(entry, "phase", json_string(phase_names[p]));
    if (p == RUNNING && !json_object_get(entry, "startTime"))
        json_object_set_new(entry, "startTime", json_string(now));
    if ((as_phase_finished(p) || p == CANCELLED) && !json_object_get(entry, "completionTime") &&
        json_object_get(entry, "startTime"))
        json_object_set_new(entry, "completionTime", json_string(now));
    if (message)
        set_str(entry, "message", message);
}

/* The status entries in spec order: the stored ones by name, new ones
 * Pending in their first attempt. */
static int load_steps(struct pass *ps)
{
    const json_t *stored = json_object_get(json_object_get(ps->obj, "status"), "steps");
    for (size_t i = 0; i < ps->plan.n_steps; i++) {
        const char *name = ps->plan.steps[i].name;
        json_t *e = NULL;
        size_t k;
        const json_t *s;
        json_array_foreach(stored, k, s)
        {
            const char *n = json_string_value(json_object_get(s, "name"));
            if (!e && n && strcmp(n, name) == 0 && json_is_object(s))
                e = json_deep_copy(s);
        }
        if (!e)
            e = json_pack("{s:s, s:s, s:i}", "name", name, "phase", "Pending", "attempt", 1);
        if (!e)
            return AMB_ENOMEM;
        ps->steps[i] = e;
    }
    return AMB_OK;
}

static void free_steps(struct pass *ps)
{
    for (size_t i = 0; i < RFE_MAX_STEPS; i++) {
        json_decref(ps->steps[i]);
        ps->steps[i] = NULL;
    }
}

/* ---- sessions ---- */

static void session_name_of(const struct pass *ps, size_t i, char *buf, size_t n)
{
    rfe_session_name(rfe_meta(ps->obj, "name"), ps->plan.steps[i].name,
                     attempt_of(ps->steps[i]), buf, n);
}

/* Creates step i's session (its prompt rendered from the results of its
 * dependencies); one that exists already is the same step's. */
static int create_session(struct pass *ps, size_t i, const char *name)
{
    const struct rfe_step *st = &ps->plan.steps[i];
    const char *results[RFE_MAX_STEPS];
    for (size_t d = 0; d < st->n_deps; d++)
        results[d] = json_string_value(json_object_get(ps->steps[st->deps[d]], "results"));
    struct rfe_render r = {&ps->plan, i, results};
    char *prompt = rfe_render_prompt(&r);
    json_t *s = prompt ? rfe_build_session(ps->obj, &ps->plan, i, name, prompt) : NULL;
    free(prompt);
    if (!s)
        return AMB_ENOMEM;
    int rc = rfe_host->set_controller_ref(s, ps->obj);
    if (rc == AMB_OK)
        rc = rfe_host->kube_create(ps->ctx, &rfe_sessions, rfe_meta(ps->obj, "namespace"), s, NULL,
                                   ps->err);
    json_decref(s);
    if (rc == AMB_EEXIST)
        return AMB_OK; /* made by an earlier pass; the cache will show it */
    if (rc == AMB_OK)
        rfe_host->log(rfe_self, AMB_LOG_INFO, "created step session", "namespace",
                      rfe_meta(ps->obj, "namespace"), "workflow", rfe_meta(ps->obj, "name"),
                      "step", st->name, "session", name, NULL);
    return rc;
}

/* The step's session as the runner and its reconciler left it. */
static void follow_session(struct pass *ps, size_t i, const json_t *s)
{
    json_t *e = ps->steps[i];
    const json_t *st = json_object_get(s, "status");
    int p = phase_parse(json_string_value(json_object_get(st, "phase")));
    if (p == COMPLETED) {
        const char *summary =
            json_string_value(json_object_get(json_object_get(st, "results"), "summary"));
        char *kept = rfe_bounded_copy(summary ? summary : "", RFE_MAX_RESULT);
        set_str(e, "results", kept);
        free(kept);
        set_phase(e, COMPLETED, NULL);
    } else if (p == FAILED || p == STOPPED) {
        const char *why = json_string_value(json_object_get(st, "error"));
        char *kept = rfe_bounded_copy(why ? why : "the step's session was stopped", MAX_MESSAGE);
        set_phase(e, p, kept);
        free(kept);
    }
}

static int observe_running(struct pass *ps, size_t i)
{
    char name[AS_MAX_NAME + 1];
    session_name_of(ps, i, name, sizeof name);
    set_str(ps->steps[i], "sessionName", name);
    json_t *s = NULL;
    int rc = rfe_host->kube_get_cached(ps->ctx, &rfe_sessions, rfe_meta(ps->obj, "namespace"), name,
                                       &s, ps->err);
    if (rc == AMB_ENOTFOUND) /* not cached yet, or deleted by hand: make it (again) */
        return create_session(ps, i, name);
    if (rc != AMB_OK)
        return rc;
    if (!rfe_owned_by(s, ps->obj)) {
        char msg[160];
        snprintf(msg, sizeof msg, "session %s exists and is not this workflow's", name);
        set_phase(ps->steps[i], FAILED, msg);
    } else {
        follow_session(ps, i, s);
    }
    json_decref(s);
    return AMB_OK;
}

static int deps_completed(const struct pass *ps, size_t i)
{
    const struct rfe_step *st = &ps->plan.steps[i];
    for (size_t d = 0; d < st->n_deps; d++)
        if (step_phase(ps, st->deps[d]) != COMPLETED)
            return 0;
    return 1;
}

static int start_ready(struct pass *ps, size_t *running)
{
    for (size_t i = 0; i < ps->plan.n_steps; i++) {
        if (*running >= (size_t)ps->cfg->max_parallel_steps)
            break;
        if (step_phase(ps, i) != PENDING || !deps_completed(ps, i))
            continue;
        char name[AS_MAX_NAME + 1];
        session_name_of(ps, i, name, sizeof name);
        int rc = create_session(ps, i, name);
        if (rc != AMB_OK)
            return rc;
        set_str(ps->steps[i], "sessionName", name);
        set_phase(ps->steps[i], RUNNING, "");
        json_object_del(ps->steps[i], "message");
        snprintf(ps->event, sizeof ps->event, "step %s started: session %s", ps->plan.steps[i].name,
                 name);
        (*running)++;
    }
    return AMB_OK;
}

/* After a failure or a stop nothing new starts: each step still Pending is
 * Cancelled, saying which dependency did not complete. */
static void cancel_pending(struct pass *ps, const char *why)
{
    for (size_t i = 0; i < ps->plan.n_steps; i++) {
        if (step_phase(ps, i) != PENDING)
            continue;
        const struct rfe_step *st = &ps->plan.steps[i];
        char msg[192];
        snprintf(msg, sizeof msg, "not started: %s", why);
        for (size_t d = 0; d < st->n_deps; d++) {
            int dp = step_phase(ps, st->deps[d]);
            if (dp == FAILED || dp == STOPPED || dp == CANCELLED) {
                snprintf(msg, sizeof msg, "not started: step %s did not complete",
                         ps->plan.steps[st->deps[d]].name);
                break;
            }
        }
        set_phase(ps->steps[i], CANCELLED, msg);
    }
}

/* ---- the status write ---- */

struct outcome {
    int phase;
    const char *reason;
    char message[640];
    json_t *steps;        /* NULL: leave status.steps as stored */
    json_t *current;      /* names of the running steps */
    const char *base_rv;  /* the resourceVersion the pass decided on */
    int stale;            /* out: the stored object moved on meanwhile */
    int old_phase;        /* out */
};

static int write_status(void *ud, json_t *obj)
{
    struct outcome *o = ud;
    const char *rv = rfe_meta(obj, "resourceVersion");
    if (o->base_rv && rv && strcmp(rv, o->base_rv) != 0) {
        o->stale = 1;
        return 1;
    }
    json_t *st = as_status_object(obj);
    json_t *before = st ? json_deep_copy(st) : NULL;
    if (!before)
        return AMB_ENOMEM;
    o->old_phase = phase_parse(json_string_value(json_object_get(st, "phase")));
    char now[32];
    rfe_now(now, sizeof now);
    json_object_set_new(st, "phase", json_string(phase_names[o->phase]));
    if (o->steps)
        json_object_set(st, "steps", o->steps);
    if (o->current)
        json_object_set(st, "currentSteps", o->current);
    if (o->phase == PENDING) {
        json_object_del(st, "startTime");
        json_object_del(st, "completionTime");
    } else if (!json_object_get(st, "startTime")) {
        json_object_set_new(st, "startTime", json_string(now));
    }
    if (as_phase_finished(o->phase) && !json_object_get(st, "completionTime"))
        json_object_set_new(st, "completionTime", json_string(now));
    json_object_set_new(st, "message", json_string(o->message));
    int rc = as_status_outcome(rfe_host, obj, (enum as_phase)o->phase, o->reason, o->message);
    int same = json_equal(before, st);
    json_decref(before);
    if (rc < 0)
        return rc;
    return same ? 1 : 0;
}

/* Writes o; an Event when the phase changed. STALE_MS when the pass
 * decided on a copy older than the stored object. */
static int finish(struct pass *ps, struct outcome *o)
{
    o->base_rv = rfe_meta(ps->obj, "resourceVersion");
    o->old_phase = -1;
    int rc = rfe_host->update_status(ps->ctx, write_status, o, NULL, ps->err);
    if (rc != AMB_OK)
        return rc;
    if (o->stale)
        return STALE_MS;
    if (ps->event[0])
        rfe_host->emit_event(ps->ctx, ps->obj, "Normal", "StepStarted", ps->event);
    if (o->old_phase != o->phase) {
        rfe_host->emit_event(ps->ctx, ps->obj, o->phase == FAILED ? "Warning" : "Normal",
                             o->reason, o->message);
        rfe_host->log(rfe_self, AMB_LOG_INFO, "workflow phase", "namespace",
                      rfe_meta(ps->obj, "namespace"), "name", rfe_meta(ps->obj, "name"), "phase",
                      phase_names[o->phase], "reason", o->reason, NULL);
    }
    return as_phase_finished(o->phase) ? AMB_OK : POLL_MS;
}

static int steps_json(struct pass *ps, struct outcome *o)
{
    o->steps = json_array();
    o->current = json_array();
    if (!o->steps || !o->current)
        return AMB_ENOMEM;
    for (size_t i = 0; i < ps->plan.n_steps; i++) {
        json_array_append(o->steps, ps->steps[i]);
        if (step_phase(ps, i) == RUNNING)
            json_array_append_new(o->current, json_string(ps->plan.steps[i].name));
    }
    return AMB_OK;
}

static void outcome_free(struct outcome *o)
{
    json_decref(o->steps);
    json_decref(o->current);
}

/* The workflow's phase from its steps'. */
static void summarize(struct pass *ps, struct outcome *o)
{
    size_t running = 0, completed = 0;
    long failed = -1, stopped = -1;
    for (size_t i = 0; i < ps->plan.n_steps; i++) {
        int p = step_phase(ps, i);
        running += p == RUNNING;
        completed += p == COMPLETED;
        if (p == FAILED && failed < 0)
            failed = (long)i;
        if (p == STOPPED && stopped < 0)
            stopped = (long)i;
    }
    if (running) {
        o->phase = RUNNING;
        o->reason = failed >= 0 || stopped >= 0 ? "Finishing" : "StepsRunning";
        snprintf(o->message, sizeof o->message, "%zu of %zu steps completed, %zu running%s",
                 completed, ps->plan.n_steps, running,
                 failed >= 0 || stopped >= 0 ? "; nothing new starts" : "");
    } else if (failed >= 0) {
        o->phase = FAILED;
        o->reason = "StepFailed";
        snprintf(o->message, sizeof o->message, "step %s failed: %.512s",
                 ps->plan.steps[failed].name,
                 json_string_value(json_object_get(ps->steps[failed], "message"))
                     ? json_string_value(json_object_get(ps->steps[failed], "message"))
                     : "");
    } else if (stopped >= 0) {
        o->phase = STOPPED;
        o->reason = "StepStopped";
        snprintf(o->message, sizeof o->message, "step %s was stopped",
                 ps->plan.steps[stopped].name);
    } else if (completed == ps->plan.n_steps) {
        o->phase = COMPLETED;
        o->reason = "Completed";
        snprintf(o->message, sizeof o->message, "all %zu steps completed", completed);
    } else {
        o->phase = PENDING;
        o->reason = "Waiting";
        snprintf(o->message, sizeof o->message, "no step started yet");
    }
}

static int progress(struct pass *ps)
{
    int rc = load_steps(ps);
    for (size_t i = 0; rc == AMB_OK && i < ps->plan.n_steps; i++)
        if (step_phase(ps, i) == RUNNING)
            rc = observe_running(ps, i);
    size_t running = 0, broken = 0;
    for (size_t i = 0; i < ps->plan.n_steps; i++) {
        running += step_phase(ps, i) == RUNNING;
        broken += step_phase(ps, i) == FAILED || step_phase(ps, i) == STOPPED;
    }
    if (rc == AMB_OK && !broken)
        rc = start_ready(ps, &running);
    if (rc != AMB_OK)
        return rc;
    if (broken)
        cancel_pending(ps, "an earlier step did not complete");
    struct outcome o = {0};
    rc = steps_json(ps, &o);
    if (rc == AMB_OK) {
        summarize(ps, &o);
        rc = finish(ps, &o);
    }
    outcome_free(&o);
    return rc;
}

/* ---- stop and start requests ---- */

static int patch_desired(struct amb_ctx *ctx, const struct amb_resource *res, const json_t *obj,
                         const char *value, struct amb_error *err)
{
    json_t *patch = json_pack("{s:{s:{s:s?}}}", "metadata", "annotations", AS_ANN_DESIRED_PHASE,
                              value);
    if (!patch) /* a NULL value packs as null: the merge patch removes the annotation */
        return AMB_ENOMEM;
    int rc = rfe_host->kube_patch(ctx, res, rfe_meta(obj, "namespace"), rfe_meta(obj, "name"),
                                  patch, NULL, err);
    json_decref(patch);
    return rc;
}

/* Stops each running step's session (the session's own stop request),
 * cancels what has not started. */
static int stop(struct pass *ps)
{
    int rc = load_steps(ps);
    for (size_t i = 0; rc == AMB_OK && i < ps->plan.n_steps; i++) {
        if (step_phase(ps, i) != RUNNING)
            continue;
        char name[AS_MAX_NAME + 1];
        session_name_of(ps, i, name, sizeof name);
        json_t *s = NULL;
        rc = rfe_host->kube_get_cached(ps->ctx, &rfe_sessions, rfe_meta(ps->obj, "namespace"),
                                       name, &s, ps->err);
        if (rc == AMB_OK && rfe_owned_by(s, ps->obj))
            rc = patch_desired(ps->ctx, &rfe_sessions, s, "Stopped", ps->err);
        json_decref(s);
        if (rc == AMB_ENOTFOUND)
            rc = AMB_OK; /* never made, or gone: nothing runs */
        set_phase(ps->steps[i], STOPPED, "stopped with the workflow");
    }
    if (rc != AMB_OK)
        return rc;
    cancel_pending(ps, "the workflow was stopped");
    struct outcome o = {.phase = STOPPED, .reason = "Stopped"};
    snprintf(o.message, sizeof o.message, "stopped on request");
    rc = steps_json(ps, &o);
    if (rc == AMB_OK)
        rc = finish(ps, &o);
    outcome_free(&o);
    return rc;
}

/* A Failed or Stopped workflow runs again: every step that did not
 * complete goes back to Pending in its next attempt (a new session name),
 * completed steps and their results stay. */
static int restart(struct pass *ps)
{
    int rc = load_steps(ps);
    for (size_t i = 0; rc == AMB_OK && i < ps->plan.n_steps; i++) {
        json_t *e = ps->steps[i];
        if (step_phase(ps, i) == COMPLETED)
            continue;
        long long next = attempt_of(e) + (json_object_get(e, "sessionName") ? 1 : 0);
        json_object_set_new(e, "attempt", json_integer(next < MAX_ATTEMPT ? next : MAX_ATTEMPT));
        json_object_set_new(e, "phase", json_string("Pending"));
        const char *drop[] = {"sessionName", "startTime", "completionTime", "results", "message"};
        for (size_t k = 0; k < sizeof drop / sizeof drop[0]; k++)
            json_object_del(e, drop[k]);
    }
    struct outcome o = {.phase = PENDING, .reason = "Restarting"};
    snprintf(o.message, sizeof o.message, "start requested: the steps that did not complete run "
             "again");
    if (rc == AMB_OK)
        rc = steps_json(ps, &o);
    if (rc == AMB_OK)
        rc = finish(ps, &o);
    outcome_free(&o);
    if (rc == STALE_MS || rc < 0)
        return rc;
    return patch_desired(ps->ctx, &rfe_workflows, ps->obj, NULL, ps->err);
}

static int invalid(struct pass *ps, const struct as_problems *p)
{
    struct outcome o = {.phase = FAILED, .reason = "Invalid"};
    as_problems_join(p, o.message, sizeof o.message);
    return finish(ps, &o);
}

int rfe_reconcile(void *ud, struct amb_ctx *ctx, const json_t *obj, struct amb_error *err)
{
    int phase = phase_of(obj);
    const char *desired = rfe_annotation(obj, AS_ANN_DESIRED_PHASE);
    int want_run = desired && strcmp(desired, "Running") == 0;
    if (want_run && phase != FAILED && phase != STOPPED) /* nothing to start again */
        return patch_desired(ctx, &rfe_workflows, obj, NULL, err);
    if (!want_run && phase >= 0 && as_phase_finished(phase))
        return rfe_host->update_status(ctx, as_status_keep_generation, NULL, NULL, err);

    struct pass *ps = calloc(1, sizeof *ps);
    json_t *eff = json_deep_copy(obj);
    if (!ps || !eff) {
        free(ps);
        json_decref(eff);
        return AMB_ENOMEM;
    }
    *ps = (struct pass){.ctx = ctx, .obj = obj, .cfg = ud, .err = err};
    rfe_apply_defaults(eff);
    struct as_problems p = {0};
    int rc;
    if (rfe_check(eff, 0, &ps->plan, &p) > 0)
        rc = invalid(ps, &p);
    else if (want_run)
        rc = restart(ps);
    else if (desired && strcmp(desired, "Stopped") == 0)
        rc = stop(ps);
    else
        rc = progress(ps);
    free_steps(ps);
    free(ps);
    json_decref(eff); /* the plan borrowed its strings */
    return rc;
}
