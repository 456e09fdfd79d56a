/* phase.c — what the runner Job and its Pod say about a session: Pending,
 * Running, Completed or Failed with a reason (ImagePullBackOff and the other
 * kubelet waiting reasons that never resolve, OOMKilled, RunnerExit, Timeout,
 * JobFailed). Only the Job's Complete/Failed conditions end a run (not its
 * failed counts), as batch/v1 asks. Pure: no host calls. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "as.h"

/* Waiting reasons that a one-attempt runner never recovers from. */
static int fatal_waiting(const char *reason)
{
    static const char *const bad[] = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                                      "ErrImageNeverPull", "CreateContainerConfigError",
                                      "CreateContainerError", "CrashLoopBackOff"};
    for (size_t i = 0; reason && i < sizeof bad / sizeof bad[0]; i++)
        if (strcmp(reason, bad[i]) == 0)
            return 1;
    return 0;
}

static void set(struct as_observed *o, enum as_phase p, const char *reason, const char *fmt,
                ...) AMB_PRINTF(4, 5);

static void set(struct as_observed *o, enum as_phase p, const char *reason, const char *fmt, ...)
{
    o->phase = p;
    snprintf(o->reason, sizeof o->reason, "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}

static const json_t *job_condition(const json_t *job, const char *type)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(json_object_get(job, "status"), "conditions"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));
        if (t && s && strcmp(t, type) == 0 && strcmp(s, "True") == 0)
            return c;
    }
    return NULL;
}

/* The runner container's state in the newest pod: 'r' running, 'w' waiting
 * (reason/message), 't' terminated (reason, exit code), 0 unknown. */
struct pod_view {
    char state;
    const char *reason, *message;
    long long exit_code;
    const char *pod_phase;
};

static void view_pods(const json_t *pods, struct pod_view *v)
{
    memset(v, 0, sizeof *v);
    const json_t *newest = NULL;
    size_t i;
    const json_t *p;
    json_array_foreach(pods, i, p)
    {
        const char *ts = as_meta(p, "creationTimestamp");
        const char *best = newest ? as_meta(newest, "creationTimestamp") : NULL;
        if (!newest || (ts && best && strcmp(ts, best) >= 0))
            newest = p;
    }
    if (!newest)
        return;
    const json_t *st = json_object_get(newest, "status");
    v->pod_phase = json_string_value(json_object_get(st, "phase"));
    const json_t *cs;
    json_array_foreach(json_object_get(st, "containerStatuses"), i, cs)
    {
        const json_t *state = json_object_get(cs, "state");
        const json_t *w = json_object_get(state, "waiting");
        const json_t *t = json_object_get(state, "terminated");
        if (t) {
            v->state = 't';
            v->reason = json_string_value(json_object_get(t, "reason"));
            v->message = json_string_value(json_object_get(t, "message"));
            v->exit_code = (long long)json_integer_value(json_object_get(t, "exitCode"));
        } else if (w) {
            v->state = 'w';
            v->reason = json_string_value(json_object_get(w, "reason"));
            v->message = json_string_value(json_object_get(w, "message"));
        } else if (json_object_get(state, "running")) {
            v->state = 'r';
        }
        if (v->state == 't' || (v->state == 'w' && fatal_waiting(v->reason)))
            return; /* the runner is one container: its failure decides */
    }
}

/* A terminated runner container's failure, if it says why. */
static int terminated_failure(const struct pod_view *v, struct as_observed *o)
{
    if (v->state != 't')
        return 0;
    if (v->reason && strcmp(v->reason, "OOMKilled") == 0) {
        set(o, AS_FAILED, "OOMKilled", "the runner ran out of memory (OOMKilled, exit code %lld)",
            v->exit_code);
        return 1;
    }
    if (v->exit_code != 0) {
        set(o, AS_FAILED, "RunnerExit", "the runner exited with code %lld%s%.160s", v->exit_code,
            v->message ? ": " : "", v->message ? v->message : "");
        return 1;
    }
    return 0;
}

void as_observe(const json_t *job, const json_t *pods, struct as_observed *o)
{
    memset(o, 0, sizeof *o);
    if (!job) {
        set(o, AS_PENDING, "Creating", "creating the runner Job");
        return;
    }
    struct pod_view v;
    view_pods(pods, &v);
    const json_t *done = job_condition(job, "Complete");
    const json_t *failed = job_condition(job, "Failed");
    const json_t *target = failed ? failed : job_condition(job, "FailureTarget");
    o->job_finished = done || failed;
    if (done) {
        set(o, AS_COMPLETED, "Completed", "the runner finished successfully");
        return;
    }
    if (target) {
        const char *reason = json_string_value(json_object_get(target, "reason"));
        const char *msg = json_string_value(json_object_get(target, "message"));
        if (reason && strcmp(reason, "DeadlineExceeded") == 0) {
            set(o, AS_FAILED, "Timeout", "the session ran longer than its timeout of %lld seconds",
                (long long)json_integer_value(json_object_get(json_object_get(job, "spec"),
                                                              "activeDeadlineSeconds")));
            return;
        }
        if (terminated_failure(&v, o))
            return;
        if (v.state == 'w' && fatal_waiting(v.reason)) {
            set(o, AS_FAILED, v.reason, "%.200s", v.message ? v.message : v.reason);
            return;
        }
        set(o, AS_FAILED, "JobFailed", "the runner Job failed (%.60s)%s%.160s",
            reason ? reason : "no reason given", msg && *msg ? ": " : "", msg ? msg : "");
        return;
    }
    if (v.state == 'w' && fatal_waiting(v.reason)) {
        set(o, AS_FAILED, v.reason, "%.200s", v.message ? v.message : v.reason);
        return;
    }
    if (terminated_failure(&v, o))
        return;
    if (v.state == 'r' || v.state == 't' || (v.pod_phase && strcmp(v.pod_phase, "Running") == 0)) {
        set(o, AS_RUNNING, "Running", "the runner is running");
        return;
    }
    set(o, AS_PENDING, "Starting", "waiting for the runner pod to start");
}
