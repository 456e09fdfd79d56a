/* reconcile.c — one pass over a session: honour stop and restart requests,
 * validate the effective spec, make sure its children exist, map the Job
 * and Pod to a phase, and write the status fields the reconciler owns
 * (phase, startTime, completionTime, error, conditions, observedGeneration)
 * onto the stored status, so what the runner wrote (results, repoStatuses,
 * progress) stays. A pass that finds nothing new writes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as.h"

/* Job and Pod changes wake the session (the controller maps a Pod to its
 * Job's owner); this re-check is only a safety net for a missed event. */
#define POLL_MS 30000
#define STALE_JOB_MS 500   /* the previous run's Job is still going away */

struct status_change {
    enum as_phase phase;
    const char *reason;
    const char *message;
    int reset;          /* a restart: forget the previous run's times and error */
    const char *job_start; /* the Job's startTime, if it has one */
    int old_phase;      /* out: the phase before this write (-1 if none) */
};

static void now_rfc3339(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_status(void *ud, json_t *obj)
{
    struct status_change *c = ud;
    json_t *st = as_status_object(obj);
    json_t *before = st ? json_deep_copy(st) : NULL;
    if (!before)
        return AMB_ENOMEM;
    c->old_phase = as_phase_parse(json_string_value(json_object_get(st, "phase")));
    /* Decided on a cache that may lag: the runner may have written the
     * outcome meanwhile, and a finished session keeps the phase it got
     * (only a restart resets it). */
    if (!c->reset && c->old_phase >= 0 && as_phase_finished(c->old_phase)) {
        json_decref(before);
        c->phase = (enum as_phase)c->old_phase;
        return 1;
    }
    char now[32];
    now_rfc3339(now, sizeof now);
    json_object_set_new(st, "phase", json_string(as_phase_name(c->phase)));
    if (c->reset) {
        json_object_del(st, "startTime");
        json_object_del(st, "completionTime");
    }
    if ((c->phase == AS_RUNNING || as_phase_finished(c->phase)) &&
        !json_object_get(st, "startTime"))
        json_object_set_new(st, "startTime",
                            json_string(c->phase != AS_RUNNING && c->job_start ? c->job_start
                                                                               : now));
    if (as_phase_finished(c->phase) && !json_object_get(st, "completionTime"))
        json_object_set_new(st, "completionTime", json_string(now));
    int rc = as_status_outcome(as_host, obj, c->phase, c->reason, c->message);
    int same = json_equal(before, json_object_get(obj, "status"));
    json_decref(before);
    if (rc < 0)
        return rc;
    return same ? 1 : 0;
}

/* Writes the phase; emits an Event when it changed. */
static int set_phase(struct amb_ctx *ctx, const json_t *obj, struct status_change *c,
                     struct amb_error *err)
{
    c->old_phase = -1;
    int rc = as_host->update_status(ctx, write_status, c, NULL, err);
    if (rc != AMB_OK)
        return rc;
    if (c->old_phase != (int)c->phase || c->reset) {
        char msg[320];
        snprintf(msg, sizeof msg, "%s: %s", as_phase_name(c->phase), c->message);
        as_host->emit_event(ctx, obj, c->phase == AS_FAILED ? "Warning" : "Normal", c->reason,
                            msg);
        as_host->log(as_self, AMB_LOG_INFO, "session phase", "namespace",
                     as_meta(obj, "namespace"), "name", as_meta(obj, "name"), "phase",
                     as_phase_name(c->phase), "reason", c->reason, NULL);
    }
    return AMB_OK;
}

/* The run counter: digits only, 1..AS_MAX_RUN; anything else (a user may
 * edit annotations) counts as run 1 rather than overflowing. */
static long long run_of(const json_t *obj)
{
    const char *r = as_annotation(obj, AS_ANN_RUN);
    long long n = 0;
    for (size_t i = 0; r && r[i] && n <= AS_MAX_RUN; i++)
        n = r[i] >= '0' && r[i] <= '9' ? n * 10 + (r[i] - '0') : AS_MAX_RUN + 1;
    return n >= 1 && n <= AS_MAX_RUN ? n : 1;
}

static int delete_job(struct amb_ctx *ctx, const json_t *obj, struct amb_error *err)
{
    char name[96];
    as_job_name(as_meta(obj, "name"), name, sizeof name);
    /* Jobs orphan their pods by default: Background takes the pod along. */
    return as_host->kube_delete(ctx, &as_jobs, as_meta(obj, "namespace"), name, "Background",
                                err);
}

static int patch_annotations(struct amb_ctx *ctx, const json_t *obj, long long next_run,
                             struct amb_error *err)
{
    json_t *ann = json_pack("{s:n}", AS_ANN_DESIRED_PHASE);
    if (ann && next_run > 0) {
        char run[32];
        snprintf(run, sizeof run, "%lld", next_run);
        json_object_set_new(ann, AS_ANN_RUN, json_string(run));
    }
    json_t *patch = ann ? json_pack("{s:{s:o}}", "metadata", "annotations", ann) : NULL;
    if (!patch)
        return AMB_ENOMEM;
    int rc = as_host->kube_patch(ctx, &as_sessions, as_meta(obj, "namespace"),
                                 as_meta(obj, "name"), patch, NULL, err);
    json_decref(patch);
    return rc;
}

/* desired-phase Running: a finished session runs again as run n+1; on an
 * unfinished one the request is simply consumed. */
static int restart(struct amb_ctx *ctx, const json_t *obj, int phase, struct amb_error *err)
{
    if (phase < 0 || !as_phase_finished((int)phase))
        return patch_annotations(ctx, obj, 0, err);
    int rc = delete_job(ctx, obj, err);
    struct status_change c = {AS_PENDING, "Restarting", "restart requested", 1, NULL, -1};
    if (rc == AMB_OK)
        rc = set_phase(ctx, obj, &c, err);
    if (rc == AMB_OK)
        rc = patch_annotations(ctx, obj, run_of(obj) < AS_MAX_RUN ? run_of(obj) + 1 : AS_MAX_RUN, err);
    return rc;
}

static int stop(struct amb_ctx *ctx, const json_t *obj, struct amb_error *err)
{
    int rc = delete_job(ctx, obj, err);
    struct status_change c = {AS_STOPPED, "Stopped", "stopped on request", 0, NULL, -1};
    return rc == AMB_OK ? set_phase(ctx, obj, &c, err) : rc;
}

static int invalid(struct amb_ctx *ctx, const json_t *obj, const struct as_problems *p,
                   struct amb_error *err)
{
    char msg[1024];
    as_problems_join(p, msg, sizeof msg);
    struct status_change c = {AS_FAILED, "Invalid", msg, 0, NULL, -1};
    return set_phase(ctx, obj, &c, err);
}

static int track(struct amb_ctx *ctx, const json_t *obj, const json_t *eff,
                 const struct as_config *cfg, const char *secret, struct amb_error *err)
{
    const char *ns = as_meta(obj, "namespace"), *name = as_meta(obj, "name");
    long long run = run_of(obj);
    json_t *job = NULL, *pods = NULL;
    int created = 0;
    int rc = as_ensure_children(ctx, eff, cfg, secret, run, &job, &created, err);
    if (rc != AMB_OK)
        goto out;
    char want[32];
    snprintf(want, sizeof want, "%lld", run);
    const char *job_run = json_string_value(
        json_object_get(json_object_get(json_object_get(job, "metadata"), "labels"), AS_LABEL_RUN));
    if (!job_run || strcmp(job_run, want) != 0) {
        /* The previous run's Job: let it go, then create this run's. */
        rc = delete_job(ctx, obj, err);
        if (rc == AMB_OK)
            rc = STALE_JOB_MS;
        goto out;
    }
    /* Our label in the selector lets the controller answer from its cache
     * (the pod template carries it). */
    char selector[256];
    snprintf(selector, sizeof selector, "%s=%s,%s=%s,%s=%lld", AMB_MANAGED_BY_LABEL,
             AMB_MANAGED_BY_VALUE, AS_LABEL_SESSION, name, AS_LABEL_RUN, run);
    rc = as_host->kube_list(ctx, &as_pods, ns, selector, &pods, err);
    if (rc != AMB_OK)
        goto out;
    struct as_observed o;
    as_observe(job, pods, &o);
    /* A terminal phase is final: decide it on the API's pods, not on a cache
     * that may not have seen the pod's last update yet (the Job's and the
     * Pod's events arrive on separate watches). */
    if (as_phase_finished(o.phase)) {
        json_decref(pods);
        pods = NULL;
        snprintf(selector, sizeof selector, "%s=%s,%s=%lld", AS_LABEL_SESSION, name, AS_LABEL_RUN,
                 run);
        if ((rc = as_host->kube_list(ctx, &as_pods, ns, selector, &pods, err)) != AMB_OK)
            goto out;
        as_observe(job, pods, &o);
    }
    /* The runner marks its session Running itself, often before the Pod's
     * status says so: never step back from Running to Pending. */
    if (o.phase == AS_PENDING &&
        as_phase_parse(json_string_value(json_object_get(json_object_get(obj, "status"),
                                                         "phase"))) == AS_RUNNING) {
        rc = POLL_MS;
        goto out;
    }
    const char *job_start = json_string_value(
        json_object_get(json_object_get(job, "status"), "startTime"));
    struct status_change c = {o.phase, o.reason, o.message, 0, job_start, -1};
    rc = set_phase(ctx, obj, &c, err);
    /* A pod stuck on its image or config never finishes by itself. */
    if (rc == AMB_OK && o.phase == AS_FAILED && !o.job_finished)
        rc = delete_job(ctx, obj, err);
    if (rc == AMB_OK && !as_phase_finished(o.phase))
        rc = POLL_MS;
out:
    json_decref(job);
    json_decref(pods);
    return rc;
}

int as_reconcile(void *ud, struct amb_ctx *ctx, const json_t *obj, struct amb_error *err)
{
    const struct as_config *cfg = ud;
    int phase = as_phase_parse(
        json_string_value(json_object_get(json_object_get(obj, "status"), "phase")));
    const char *desired = as_annotation(obj, AS_ANN_DESIRED_PHASE);
    if (desired && strcmp(desired, "Running") == 0)
        return restart(ctx, obj, phase, err);
    if (phase >= 0 && as_phase_finished((int)phase))
        return as_host->update_status(ctx, as_status_keep_generation, NULL, NULL, err);
    if (desired && strcmp(desired, "Stopped") == 0)
        return stop(ctx, obj, err);

    json_t *ps = NULL;
    int rc = as_read_project_settings(ctx, as_meta(obj, "namespace"), &ps, err);
    if (rc != AMB_OK)
        return rc;
    json_t *eff = json_deep_copy(obj);
    if (!eff) {
        json_decref(ps);
        return AMB_ENOMEM;
    }
    as_apply_defaults(eff, ps, cfg);
    struct as_bounds b;
    as_bounds_from(ps, &b);
    struct as_problems p = {0};
    if (as_validate_spec(eff, &b, &p) > 0)
        rc = invalid(ctx, obj, &p, err);
    else
        rc = track(ctx, obj, eff, cfg, as_runner_secret(ps), err);
    json_decref(eff);
    json_decref(ps);
    return rc;
}
