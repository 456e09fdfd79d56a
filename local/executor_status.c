/* executor_status.c — the Pod and Job status a cluster's kubelet and job
 * controller write, built as JSON (the shape tests/kubesim/jobsim.py
 * mirrors): the Pod's phase, conditions and container state (running,
 * waiting with a reason, terminated with exitCode and reason), and the
 * Job's counts and conditions (SuccessCriteriaMet/FailureTarget, then
 * Complete/Failed; completionTime only on success). Pure: no I/O. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "executor-internal.h"

#define LOCAL_IP "127.0.0.1"

void lx_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *meta(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

json_t *lx_pod_for(const json_t *job)
{
    const json_t *tmpl = json_object_get(json_object_get(job, "spec"), "template");
    const json_t *tmeta = json_object_get(tmpl, "metadata");
    const char *name = meta(job, "name"), *uid = meta(job, "uid");
    json_t *labels = json_deep_copy(json_object_get(tmeta, "labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    /* The job controller's labels, so `kubectl get pods -l job-name=...` works. */
    json_object_set_new(labels, "job-name", json_string(name));
    json_object_set_new(labels, "batch.kubernetes.io/job-name", json_string(name));
    json_object_set_new(labels, "controller-uid", json_string(uid));
    json_object_set_new(labels, "batch.kubernetes.io/controller-uid", json_string(uid));
    char generate[300];
    snprintf(generate, sizeof generate, "%s-", name);
    json_t *pod = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:o, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}, s:O}", "apiVersion",
        "v1", "kind", "Pod", "metadata", "generateName", generate, "namespace",
        meta(job, "namespace"), "labels", labels, "ownerReferences", "apiVersion", "batch/v1",
        "kind", "Job", "name", name, "uid", uid, "controller", 1, "blockOwnerDeletion", 1, "spec",
        json_object_get(tmpl, "spec"));
    const json_t *annotations = json_object_get(tmeta, "annotations");
    if (pod && json_is_object(annotations))
        json_object_set_new(json_object_get(pod, "metadata"), "annotations",
                            json_deep_copy(annotations));
    return pod;
}

/* Phase, conditions and one status per container, each in state (a new
 * ref, copied per container). */
static json_t *pod_status(const json_t *pod_spec, const char *phase, int ready,
                          const char *started_at, const json_t *state)
{
    char now[32];
    lx_now(now, sizeof now);
    const char *is_ready = ready ? "True" : "False";
    int ended = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
    json_t *statuses = json_array();
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(pod_spec, "containers"), i, c)
    {
        const char *image = json_string_value(json_object_get(c, "image"));
        json_t *cs = json_pack("{s:s?, s:s, s:s, s:b, s:b, s:i, s:O, s:{}}", "name",
                               json_string_value(json_object_get(c, "name")), "image",
                               image ? image : "", "imageID", "", "ready", ready, "started",
                               json_object_get(state, "running") != NULL, "restartCount", 0,
                               "state", state, "lastState");
        json_array_append_new(statuses, cs);
    }
    json_t *st = json_pack(
        "{s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}],"
        " s:s, s:s, s:s, s:o, s:s}",
        "phase", phase, "conditions", "type", "PodScheduled", "status", "True",
        "lastTransitionTime", now, "type", "Initialized", "status", "True", "lastTransitionTime",
        now, "type", "ContainersReady", "status", is_ready, "lastTransitionTime", now, "type",
        "Ready", "status", is_ready, "lastTransitionTime", now, "hostIP", LOCAL_IP, "podIP",
        LOCAL_IP, "startTime", started_at ? started_at : now, "containerStatuses", statuses,
        "qosClass", "BestEffort");
    if (st && ended) {
        const char *why = strcmp(phase, "Succeeded") == 0 ? "PodCompleted" : "PodFailed";
        for (size_t k = 2; k < 4; k++)
            json_object_set_new(json_array_get(json_object_get(st, "conditions"), k), "reason",
                                json_string(why));
    }
    return st;
}

json_t *lx_pod_running(const json_t *pod_spec, const char *started_at)
{
    json_t *state = json_pack("{s:{s:s}}", "running", "startedAt", started_at);
    json_t *st = state ? pod_status(pod_spec, "Running", 1, started_at, state) : NULL;
    json_decref(state);
    return st;
}

json_t *lx_pod_waiting(const json_t *pod_spec, const char *reason, const char *message)
{
    json_t *state = json_pack("{s:{s:s, s:s}}", "waiting", "reason", reason, "message", message);
    json_t *st = state ? pod_status(pod_spec, "Pending", 0, NULL, state) : NULL;
    json_decref(state);
    return st;
}

json_t *lx_pod_terminated(const json_t *pod_spec, const char *started_at, int exit_code,
                          const char *reason, const char *message)
{
    char now[32];
    lx_now(now, sizeof now);
    json_t *state = json_pack("{s:{s:i, s:s, s:s, s:s, s:s*}}", "terminated", "exitCode",
                              exit_code, "reason", reason, "startedAt",
                              started_at[0] ? started_at : now, "finishedAt", now, "message",
                              message);
    json_t *st = state ? pod_status(pod_spec, exit_code == 0 ? "Succeeded" : "Failed", 0,
                                    started_at[0] ? started_at : NULL, state)
                       : NULL;
    json_decref(state);
    return st;
}

json_t *lx_job_started(const char *start_time, int ready)
{
    return json_pack("{s:s, s:i, s:i, s:i, s:{}}", "startTime", start_time, "active", 1, "ready",
                     ready, "terminating", 0, "uncountedTerminatedPods");
}

/* The job controller's messages for its reasons. */
static const char *job_message(const char *reason)
{
    if (strcmp(reason, "CompletionsReached") == 0)
        return "Reached expected number of succeeded pods";
    if (strcmp(reason, "BackoffLimitExceeded") == 0)
        return "Job has reached the specified backoff limit";
    if (strcmp(reason, "DeadlineExceeded") == 0)
        return "Job was active longer than specified deadline";
    return reason;
}

static json_t *condition(const char *type, const char *reason, const char *message,
                         const char *now)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", "True",
                     "lastProbeTime", now, "lastTransitionTime", now, "reason", reason, "message",
                     message);
}

json_t *lx_job_finished(int success, const char *reason, const char *message)
{
    char now[32];
    lx_now(now, sizeof now);
    const char *msg = message ? message : job_message(reason);
    json_t *st = json_pack("{s:i, s:i, s:i, s:i, s:{}, s:[o, o]}", "active", 0, "ready", 0,
                           success ? "succeeded" : "failed", 1, "terminating", 0,
                           "uncountedTerminatedPods", "conditions",
                           condition(success ? "SuccessCriteriaMet" : "FailureTarget", reason,
                                     msg, now),
                           condition(success ? "Complete" : "Failed", reason, msg, now));
    if (st && success)
        json_object_set_new(st, "completionTime", json_string(now));
    return st;
}

json_t *lx_job_failure_target(const char *reason)
{
    char now[32];
    lx_now(now, sizeof now);
    return json_pack("{s:i, s:i, s:i, s:[o]}", "active", 0, "ready", 0, "terminating", 1,
                     "conditions", condition("FailureTarget", reason, job_message(reason), now));
}
