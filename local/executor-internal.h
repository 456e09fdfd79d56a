/* executor-internal.h — what the local executor's files share: one run per
 * Job (by uid), the executor's state, and the steps of a run's life.
 * Everything here runs on the executor's own thread (its event loop). */
#ifndef AMBIENT_LOCAL_EXECUTOR_INTERNAL_H
#define AMBIENT_LOCAL_EXECUTOR_INTERNAL_H

#include <stdatomic.h>
#include <sys/types.h>

#include <event2/event.h>
#include <jansson.h>

#include "executor.h"
#include "informer-internal.h"
#include "kube-store-internal.h"
#include "strmap-internal.h"

/* The Jobs the agenticsession plugin writes carry this label; no other Job
 * is run here (a foreign Job's image is not ambient-runner). */
#define LX_JOB_SELECTOR "ambient-code.io/session"
#define LX_DEFAULT_GRACE_S 30 /* a pod's default terminationGracePeriodSeconds */

enum lx_state {
    LX_QUEUED,   /* waiting for a slot; no Pod yet */
    LX_LEFTOVER, /* active in the API but not run by this process: to be failed */
    LX_RUNNING,  /* its process runs */
    LX_DONE,     /* finished, or its Pod stuck waiting; kept until the Job is deleted */
};

struct lx_run {
    struct local_executor *ex;
    char *ns, *name, *uid;
    char *dir;   /* <data>/sessions/<ns>/<job> */
    json_t *job;            /* as first seen (its spec does not change) */
    const json_t *pod_spec; /* the template's, borrowed from job */
    char *pod;              /* the Pod's name once created */
    enum lx_state state;
    pid_t pid;
    int pidfd;
    char started_at[32]; /* RFC 3339, the container's startedAt */
    unsigned grace_s;
    struct event *exit_ev, *deadline_ev, *kill_ev, *token_ev, *final_ev;
    /* The projected ServiceAccount token: where it goes, and its source
     * (borrowed from job), to mint it again before it expires. */
    char *token_dir, *token_file;
    const json_t *token_source;
    /* Status writes still to make when the process has ended (retried
     * until they land): the Pod's terminated state, or its deletion, then
     * the Job's conditions. */
    json_t *pod_final, *job_final;
    int pod_delete;
    int terminating;  /* SIGTERM sent */
    int deleted;      /* the Job went away */
    int deadline_hit; /* activeDeadlineSeconds passed */
    unsigned retry_ms;             /* the next wait after a failed start; 0 at first */
    unsigned long long retry_at;   /* CLOCK_MONOTONIC ms before which it is not retried */
    struct lx_run *next;           /* the queue, in arrival order */
};

struct local_executor {
    char *server, *token_file, *ca_file, *sessions_dir, *runner, *path;
    char **extra_env;
    unsigned max_sessions;

    struct ambd_kube *kube;
    struct event_base *base;
    struct ambd_kube_loop *loop;
    struct ambd_store store;
    int store_made;
    struct ambd_informer *informer;
    struct event *dispatch_ev, *retry_ev, *wake_ev, *stop_kill_ev;
    int wake_fd; /* an eventfd: stop() wakes the loop with it */

    struct ambd_strmap runs; /* uid -> struct lx_run */
    struct lx_run *queue;    /* QUEUED and LEFTOVER runs, oldest first */
    unsigned running;
    atomic_uint peak;
    atomic_uint stop_grace_s;
    int stopping;
    int stop_killed; /* the stop's SIGKILL was sent */

    pthread_t thread;
    int thread_started;
    int stopped;
};

/* ---- executor_run.c: a run's steps ---- */

/* Starts run (QUEUED) now: returns AMB_OK when it runs or is done (its Pod
 * stuck waiting, or its start failed for good), AMB_EUNAVAILABLE when the API
 * failed in a way worth retrying later. */
int lx_run_start(struct lx_run *run);
/* Marks a LEFTOVER run's Pod and Job failed, killing its process if it
 * still runs; the run becomes DONE. */
void lx_run_fail_leftover(struct lx_run *run);
/* SIGTERM to the run's process group, SIGKILL after its grace period. */
void lx_run_terminate(struct lx_run *run);
void lx_run_free(struct lx_run *run);

/* ---- executor.c ---- */

/* The executor's queue changed or a slot freed: start what can start. */
void lx_dispatch(struct local_executor *ex);
/* run's process has ended and its end is written (or being retried). */
void lx_run_ended(struct lx_run *run);

/* ---- executor_spec.c: the container as a process, from the Job ---- */

struct lx_mount {
    char *path; /* in the container: "/workspace" */
    char *host; /* its directory here */
    enum { LX_VOL_EMPTY, LX_VOL_CLAIM, LX_VOL_PROJECTED } kind;
    const json_t *volume; /* the Job's volume (borrowed from the Job) */
};

struct lx_spec {
    char **env; /* "NAME=value", NULL-terminated */
    size_t n_env;
    struct lx_mount *mounts;
    size_t n_mounts;
    const json_t *pod_spec;  /* borrowed from the Job */
    const json_t *container; /* the first container, borrowed */
    unsigned grace_s;
    long long deadline_s; /* activeDeadlineSeconds; 0 = none */
};

/* Reads a Secret's data key (base64 decoded, caller frees) for env:
 * AMB_ENOTFOUND when the Secret or key is missing, other codes when the API
 * failed. */
typedef int (*lx_secret_fn)(void *ud, const char *ns, const char *secret, const char *key,
                            char **value, struct amb_error *err);

/* Where the container's volumes live under dir (emptyDir and projected
 * volumes there, claims in <dir>/../claims/<claim>), and its env: values,
 * secretKeyRefs through get_secret, paths into a mount rewritten to the
 * host directory. AMB_EINVAL: the container cannot run here (err names the
 * field; for env, the kubelet's CreateContainerConfigError message), other
 * codes: get_secret's. */
int lx_spec_resolve(const json_t *job, const char *dir, lx_secret_fn get_secret, void *ud,
                    struct lx_spec *out, struct amb_error *err);
/* Appends "NAME=value" strings after the Job's, replacing the Job's own
 * value of NAME. */
int lx_spec_add_env(struct lx_spec *s, const char *const *pairs, struct amb_error *err);
void lx_spec_clear(struct lx_spec *s);

/* ---- executor_status.c: Pod and Job status as the kubelet and the job
 * controller write them (pure JSON) ---- */

/* The current time as RFC 3339 UTC into buf (at least 21 bytes). */
void lx_now(char *buf, size_t n);
/* The Pod for the Job (generateName <job>-, the template's labels, the job
 * controller's labels, an ownerReference to the Job). */
json_t *lx_pod_for(const json_t *job);
/* A Pod status: running since started_at; waiting (reason, message); or
 * terminated (exit_code, reason, message may be NULL). */
json_t *lx_pod_running(const json_t *pod_spec, const char *started_at);
json_t *lx_pod_waiting(const json_t *pod_spec, const char *reason, const char *message);
json_t *lx_pod_terminated(const json_t *pod_spec, const char *started_at, int exit_code,
                          const char *reason, const char *message);
/* Job status: started (active, ready), and finished (Complete with
 * CompletionsReached, or Failed with reason); failure_target writes only
 * FailureTarget while the pod terminates (the deadline). */
json_t *lx_job_started(const char *start_time, int ready);
json_t *lx_job_finished(int success, const char *reason, const char *message);
json_t *lx_job_failure_target(const char *reason);

/* ---- executor_proc.c: the runner process ---- */

/* Starts path in dir with env as a session leader (its own session and
 * process group), stdin /dev/null, stdout and stderr appended to
 * runner.out and runner.log in dir; records "pid starttime" in runner.pid
 * there. pidfd: a descriptor readable once it exits. */
int lx_proc_spawn(const char *path, char *const env[], const char *dir, pid_t *pid, int *pidfd,
                  struct amb_error *err);
/* The exit of pid, if it has exited (1) or not yet (0): exit_code as the
 * kubelet reports it (128 + signal when killed), sig the signal or 0. */
int lx_proc_reap(pid_t pid, int *exit_code, int *sig);
/* Signals pid's process group; with SIGKILL, every process left in its
 * session too (what the agent started), as a kubelet kills the cgroup. */
void lx_proc_signal(pid_t pid, int sig);
/* The process runner.pid in dir names, if it still runs as recorded: kill
 * its session. 1 if it ran, 0 if not. Removes runner.pid. */
int lx_proc_kill_recorded(const char *dir);
void lx_proc_forget(const char *dir);
/* mkdir -p with mode 0700. */
int lx_mkdirs(const char *path, struct amb_error *err);
/* Removes path and everything under it, never following symlinks. */
int lx_remove_tree(const char *path);
/* Removes every directory in dir (a pod's volumes), keeping its files (the
 * logs). */
void lx_remove_volumes(const char *dir);

#endif
