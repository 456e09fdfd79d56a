/* executor.h — laptop mode's job controller and kubelet: it runs the
 * ambient-runner Jobs that agenticsession.so creates as local processes.
 *
 * It watches batch/v1 Jobs labelled ambient-code.io/session through core's
 * Kubernetes client (an informer), so it works against any API server: the
 * embedded one of `ambientd --local`, kubesim in tests. For each Job, while
 * fewer than max_sessions run, it does what the job controller and the
 * kubelet would: mints the ServiceAccount's token (TokenRequest) into the
 * projected volume, resolves the container's env (values, secretKeyRefs; a
 * missing required key leaves the Pod Pending with
 * CreateContainerConfigError), maps every volume to a directory under
 * <data_dir>/sessions/<ns>/<job>/, creates the Job's Pod and starts
 * ambient-runner there in its own process group (stdout and stderr to
 * runner.out and runner.log in that directory). When the process ends it
 * writes the container's terminated state and the Job's Complete/Failed
 * conditions and counts; it enforces activeDeadlineSeconds
 * (DeadlineExceeded) and stops the runner when its Job is deleted (SIGTERM,
 * SIGKILL after the pod's grace period). The rest wait in a queue, with no
 * Pod. At start it fails the Jobs a previous run left active, whose
 * process is not its own (ambientd was killed), with a reason.
 *
 * Children are watched through pidfds and reaped by pid: no SIGCHLD
 * handler, no waitpid(-1), so other users of the process keep theirs. */
#ifndef AMBIENT_LOCAL_EXECUTOR_H
#define AMBIENT_LOCAL_EXECUTOR_H

#include "ambient/plugin.h"

struct local_executor_config {
    const char *kube_server; /* "http://127.0.0.1:PORT" (https, or http on loopback) */
    const char *token_file;  /* a token allowed to read Jobs/Secrets, write Pods, Job
                              * status and TokenRequests (the admin token) */
    const char *ca_file;     /* the API server's CA for https; NULL = system store */
    const char *data_dir;    /* sessions go to <data_dir>/sessions/<ns>/<job>/ */
    const char *runner_path; /* the ambient-runner executable */
    /* PATH of the runner (where it finds git and, without AMBIENT_CLAUDE,
     * the claude CLI); NULL = this process's PATH. */
    const char *path;
    /* "NAME=value" strings, NULL-terminated (or NULL): set for every runner
     * after the Job's own env, as a pod's runtime adds what a process lacks
     * (AMBIENT_KUBE_SERVER is always kube_server; AMBIENT_CLAUDE, ...). */
    const char *const *extra_env;
    unsigned max_sessions; /* runners at once; 0 = the number of online cores */
};

struct local_executor;

/* Validates cfg (every string is copied), makes <data_dir>/sessions, then
 * starts the executor's thread: it fails the leftovers of a previous run
 * and runs Jobs from then on. */
int local_executor_start(const struct local_executor_config *cfg, struct local_executor **out,
                         struct amb_error *err);
/* Stops taking Jobs (queued ones stay pending for the next start), sends
 * SIGTERM to every runner and SIGKILL to those left after their grace
 * period (at most stop_grace_s seconds), and writes their ends as any exit
 * (the Pod terminated, the Job Failed). Returns once every runner is reaped
 * and the thread has ended. Idempotent. */
void local_executor_stop(struct local_executor *ex, unsigned stop_grace_s);
/* Stops it if still running, then frees it. NULL is a no-op. */
void local_executor_free(struct local_executor *ex);

/* The most runners that ran at once so far. Any thread. */
unsigned local_executor_peak(struct local_executor *ex);

#endif
