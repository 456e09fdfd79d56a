/* executor_run.c — one Job's run, as the kubelet and the job controller
 * would carry it: volumes, env, the projected ServiceAccount token (minted
 * with TokenRequest, re-minted at 80% of its life as the kubelet rotates
 * it), the Pod, the process, and the status writes when it ends. The API
 * calls block the executor's thread (bounded by the client's timeout);
 * final status writes that fail are retried until they land. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "error-internal.h"
#include "executor-internal.h"
#include "log-internal.h"

#define MAX_FILE_BYTES (1024 * 1024) /* a projected item, as a ConfigMap's limit */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
#define FINAL_RETRY_S 2
#define LEFTOVER_MESSAGE "ambientd stopped while the runner ran; this run cannot be resumed"

static const struct amb_resource jobs = {"batch", "v1", "Job", "jobs", 1};
static const struct amb_resource pods = {"", "v1", "Pod", "pods", 1};
static const struct amb_resource secrets = {"", "v1", "Secret", "secrets", 1};
static const struct amb_resource configmaps = {"", "v1", "ConfigMap", "configmaps", 1};
static const struct amb_resource serviceaccounts = {"", "v1", "ServiceAccount",
                                                    "serviceaccounts", 1};

static void warn(const struct lx_run *run, const char *what, const struct amb_error *err)
{
    char *line = err ? ambd_error_line(err) : NULL;
    ambd_log("executor", AMB_LOG_WARN, what, "namespace", run->ns, "job", run->name, "error",
             line ? line : "", NULL);
    free(line);
}

/* ---- API writes ---- */

static int patch_status(struct lx_run *run, const struct amb_resource *res, const char *name,
                        json_t *status, struct amb_error *err)
{
    json_t *patch = status ? json_pack("{s:o}", "status", status) : NULL;
    int rc = patch ? ambd_kube_patch(run->ex->kube, res, run->ns, name, patch, "status", NULL, err)
                   : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    json_decref(patch);
    return rc;
}

static int create_pod(struct lx_run *run, struct amb_error *err)
{
    if (run->pod)
        return AMB_OK;
    json_t *pod = lx_pod_for(run->job), *made = NULL;
    int rc = pod ? ambd_kube_create(run->ex->kube, &pods, run->ns, pod, &made, err)
                 : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    const char *name = json_string_value(json_object_get(json_object_get(made, "metadata"),
                                                         "name"));
    if (rc == AMB_OK && !(run->pod = name ? strdup(name) : NULL))
        rc = ambd_error_set(err, AMB_EINTERNAL, NULL, "the created Pod has no name");
    json_decref(pod);
    json_decref(made);
    return rc;
}

/* ---- the projected volume: token and ConfigMap items ---- */

static int write_file(const char *dir, const char *name, const char *data, size_t len,
                      struct amb_error *err)
{
    char path[4096], tmp[4096];
    if (strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, ".") ||
        snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp)
        return ambd_error_set(err, AMB_EINVAL, "path", "must be a plain file name");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ambd_error_set(err, AMB_EIO, NULL, "cannot write %s: %s", path, strerror(errno));
    ssize_t w = write(fd, data, len);
    int ok = w == (ssize_t)len;
    ok &= close(fd) == 0;
    /* Renamed into place, so the runner re-reading it never sees half. */
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return ambd_error_set(err, AMB_EIO, NULL, "cannot write %s", path);
    }
    return AMB_OK;
}

static int mint_token(struct lx_run *run, struct amb_error *err)
{
    const json_t *sat = run->token_source;
    const char *sa = json_string_value(json_object_get(run->pod_spec, "serviceAccountName"));
    const char *audience = json_string_value(json_object_get(sat, "audience"));
    json_int_t expiry = json_integer_value(json_object_get(sat, "expirationSeconds"));
    expiry = expiry >= 600 ? expiry : 3600; /* the API server's minimum and default */
    char *path = ambd_kube_path(&serviceaccounts, run->ns, sa ? sa : "default", "token");
    json_t *body = json_pack("{s:s, s:s, s:{s:I}}", "apiVersion", "authentication.k8s.io/v1",
                             "kind", "TokenRequest", "spec", "expirationSeconds", expiry);
    if (body && audience)
        json_object_set_new(json_object_get(body, "spec"), "audiences",
                            json_pack("[s]", audience));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!path || !text) {
        free(path);
        free(text);
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    struct ambd_kube_request req = {.method = "POST", .path = path, .body = text,
                                    .body_len = strlen(text)};
    struct ambd_kube_response resp = {0};
    int rc = ambd_kube_request(run->ex->kube, &req, &resp, err);
    free(path);
    free(text);
    json_t *answer = rc == AMB_OK ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    ambd_kube_response_clear(&resp);
    const char *token = json_string_value(json_object_get(json_object_get(answer, "status"),
                                                          "token"));
    if (rc == AMB_OK && !token)
        rc = ambd_error_set(err, AMB_EINTERNAL, NULL, "the TokenRequest answer has no token");
    if (rc == AMB_OK)
        rc = write_file(run->token_dir, run->token_file, token, strlen(token), err);
    json_decref(answer); /* jansson frees the string; the token was never logged */
    if (rc == AMB_OK) {
        /* The kubelet refreshes a projected token at 80% of its life. */
        struct timeval tv = {(time_t)(expiry * 8 / 10), 0};
        evtimer_add(run->token_ev, &tv);
    }
    return rc;
}

static int project_configmap(struct lx_run *run, const char *dir, const json_t *src,
                             struct amb_error *err)
{
    const char *name = json_string_value(json_object_get(src, "name"));
    json_t *cm = NULL;
    int rc = name ? ambd_kube_get(run->ex->kube, &configmaps, run->ns, name, &cm, err)
                  : ambd_error_set(err, AMB_EINVAL, "configMap.name", "is required");
    if (rc == AMB_ENOTFOUND) {
        /* kube-root-ca.crt exists only where the API server has a CA (not
         * on a plain-http loopback server): nothing to verify, nothing to
         * write. */
        ambd_error_clear(err);
        return AMB_OK;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(json_object_get(src, "items"), i, item)
    {
        const char *key = json_string_value(json_object_get(item, "key"));
        const char *file = json_string_value(json_object_get(item, "path"));
        const json_t *v = key ? json_object_get(json_object_get(cm, "data"), key) : NULL;
        if (rc != AMB_OK || !file || !json_is_string(v))
            continue;
        if (json_string_length(v) > MAX_FILE_BYTES)
            rc = ambd_error_set(err, AMB_ETOOLARGE, key, "larger than %d bytes", MAX_FILE_BYTES);
        else
            rc = write_file(dir, file, json_string_value(v), json_string_length(v), err);
    }
    json_decref(cm);
    return rc;
}

static int project(struct lx_run *run, const struct lx_mount *m, struct amb_error *err)
{
    size_t i;
    const json_t *src;
    int rc = AMB_OK;
    json_array_foreach(json_object_get(json_object_get(m->volume, "projected"), "sources"), i,
                       src)
    {
        const json_t *sat = json_object_get(src, "serviceAccountToken");
        if (sat && rc == AMB_OK) {
            const char *file = json_string_value(json_object_get(sat, "path"));
            free(run->token_dir);
            free(run->token_file);
            run->token_dir = strdup(m->host);
            run->token_file = strdup(file ? file : "token");
            run->token_source = sat;
            rc = run->token_dir && run->token_file ? mint_token(run, err)
                                                   : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        } else if (json_object_get(src, "configMap") && rc == AMB_OK) {
            rc = project_configmap(run, m->host, json_object_get(src, "configMap"), err);
        }
    }
    return rc;
}

/* Fresh emptyDir and projected volumes (a new pod gets new ones), claims
 * kept. */
static int make_volumes(struct lx_run *run, const struct lx_spec *s, struct amb_error *err)
{
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct lx_mount *m = &s->mounts[i];
        if (m->kind != LX_VOL_CLAIM && lx_remove_tree(m->host) != 0)
            return ambd_error_set(err, AMB_EIO, NULL, "cannot clear %s: %s", m->host,
                                  strerror(errno));
        int rc = lx_mkdirs(m->host, err);
        if (rc == AMB_OK && m->kind == LX_VOL_PROJECTED)
            rc = project(run, m, err);
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}

/* ---- secrets for env ---- */

static int secret_value(void *ud, const char *ns, const char *name, const char *key,
                        char **value, struct amb_error *err)
{
    struct lx_run *run = ud;
    json_t *secret = NULL;
    int rc = ambd_kube_get(run->ex->kube, &secrets, ns, name, &secret, err);
    const json_t *v = json_object_get(json_object_get(secret, "data"), key);
    if (rc == AMB_OK && !json_is_string(v))
        rc = AMB_ENOTFOUND;
    size_t n = json_string_length(v);
    if (rc == AMB_OK && n > MAX_FILE_BYTES)
        rc = ambd_error_set(err, AMB_EINVAL, key, "Secret %s/%s: the value is larger than %d bytes",
                            ns, name, MAX_FILE_BYTES);
    unsigned char *out = rc == AMB_OK ? malloc(n / 4 * 3 + 4) : NULL;
    if (rc == AMB_OK && !out)
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    if (rc == AMB_OK) {
        const char *b64 = json_string_value(v);
        int len = n % 4 == 0 ? EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n) : -1;
        /* EVP_DecodeBlock counts the padding's bytes too. */
        for (size_t k = n; len > 0 && k > 0 && b64[k - 1] == '='; k--)
            len--;
        if (len < 0) {
            explicit_bzero(out, n / 4 * 3 + 4);
            free(out);
            rc = ambd_error_set(err, AMB_EINVAL, key, "Secret %s/%s: not valid base64", ns, name);
        } else {
            out[len] = '\0';
            *value = (char *)out;
        }
    }
    json_decref(secret); /* its values are jansson's to free */
    return rc;
}

/* ---- start ---- */

/* The Pod stays Pending with reason (the kubelet's CreateContainerConfigError)
 * and the run holds no slot. */
static int stuck(struct lx_run *run, const char *reason, const char *message)
{
    struct amb_error err = AMBD_ERROR_INIT;
    char now[32];
    lx_now(now, sizeof now);
    int rc = create_pod(run, &err);
    if (rc == AMB_OK)
        rc = patch_status(run, &pods, run->pod,
                          lx_pod_waiting(run->pod_spec, reason, message), &err);
    if (rc == AMB_OK)
        rc = patch_status(run, &jobs, run->name, lx_job_started(now, 0), &err);
    if (rc != AMB_OK) {
        warn(run, "cannot write the stuck Pod's status; retrying", &err);
        ambd_error_clear(&err);
        return AMB_EUNAVAILABLE;
    }
    ambd_log("executor", AMB_LOG_INFO, "the runner cannot start", "namespace", run->ns, "job",
             run->name, "reason", reason, NULL);
    run->state = LX_DONE;
    return AMB_OK;
}

static void on_exit_ready(evutil_socket_t fd, short what, void *arg);
static void on_deadline(evutil_socket_t fd, short what, void *arg);
static void on_kill(evutil_socket_t fd, short what, void *arg);
static void on_token(evutil_socket_t fd, short what, void *arg);
static void on_final(evutil_socket_t fd, short what, void *arg);
static void write_final(struct lx_run *run);

static void failed_to_spawn(struct lx_run *run, const struct amb_error *why)
{
    char *line = ambd_error_line(why);
    run->pod_final = lx_pod_terminated(run->pod_spec, "", 128, "StartError", line);
    run->job_final = lx_job_finished(0, "BackoffLimitExceeded", NULL);
    free(line);
    run->state = LX_DONE;
    write_final(run);
}

static int spawn(struct lx_run *run, struct lx_spec *s)
{
    struct local_executor *ex = run->ex;
    struct amb_error err = AMBD_ERROR_INIT;
    int rc = lx_proc_spawn(ex->runner, s->env, run->dir, &run->pid, &run->pidfd, &err);
    if (rc != AMB_OK) {
        warn(run, "cannot start the runner", &err);
        failed_to_spawn(run, &err);
        ambd_error_clear(&err);
        return AMB_OK;
    }
    run->state = LX_RUNNING;
    run->grace_s = s->grace_s;
    lx_now(run->started_at, sizeof run->started_at);
    ex->running++;
    if (ex->running > atomic_load(&ex->peak))
        atomic_store(&ex->peak, ex->running);
    run->exit_ev = event_new(ex->base, run->pidfd, EV_READ, on_exit_ready, run);
    run->kill_ev = evtimer_new(ex->base, on_kill, run);
    if (run->exit_ev)
        event_add(run->exit_ev, NULL);
    if (s->deadline_s && (run->deadline_ev = evtimer_new(ex->base, on_deadline, run))) {
        struct timeval tv = {(time_t)s->deadline_s, 0};
        evtimer_add(run->deadline_ev, &tv);
    }
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)run->pid);
    ambd_log("executor", AMB_LOG_INFO, "runner started", "namespace", run->ns, "job", run->name,
             "pod", run->pod, "pid", pid, NULL);
    /* The kubelet's and the job controller's view of it; if these fail the
     * process still runs and its end is written. */
    if (patch_status(run, &pods, run->pod, lx_pod_running(run->pod_spec, run->started_at),
                     &err) != AMB_OK ||
        patch_status(run, &jobs, run->name, lx_job_started(run->started_at, 1), &err) != AMB_OK)
        warn(run, "cannot mark the runner running", &err);
    ambd_error_clear(&err);
    return AMB_OK;
}

int lx_run_start(struct lx_run *run)
{
    struct local_executor *ex = run->ex;
    struct amb_error err = AMBD_ERROR_INIT;
    struct lx_spec s;
    int rc = lx_mkdirs(run->dir, &err);
    if (rc == AMB_OK)
        rc = lx_spec_resolve(run->job, run->dir, secret_value, run, &s, &err);
    run->pod_spec = json_object_get(json_object_get(json_object_get(run->job, "spec"),
                                                       "template"), "spec");
    if (rc == AMB_EINVAL) {
        char *line = ambd_error_line(&err);
        rc = stuck(run, "CreateContainerConfigError", line ? line : "invalid container");
        free(line);
        ambd_error_clear(&err);
        return rc;
    }
    if (rc != AMB_OK) {
        warn(run, "cannot prepare the runner; retrying", &err);
        ambd_error_clear(&err);
        return AMB_EUNAVAILABLE;
    }
    /* What a pod has and a process lacks: the API server's address, a PATH. */
    char *server = NULL, *path = NULL;
    const char *base_env[3] = {NULL, NULL, NULL};
    if (asprintf(&server, "AMBIENT_KUBE_SERVER=%s", ex->server) >= 0)
        base_env[0] = server;
    if (asprintf(&path, "PATH=%s", ex->path) >= 0)
        base_env[1] = path;
    rc = base_env[0] && base_env[1] ? lx_spec_add_env(&s, base_env, &err)
                                    : ambd_error_set(&err, AMB_ENOMEM, NULL, NULL);
    free(server);
    free(path);
    if (rc == AMB_OK)
        rc = lx_spec_add_env(&s, (const char *const *)ex->extra_env, &err);
    if (rc == AMB_OK && !run->token_ev &&
        !(run->token_ev = evtimer_new(ex->base, on_token, run)))
        rc = ambd_error_set(&err, AMB_ENOMEM, NULL, NULL);
    if (rc == AMB_OK)
        rc = make_volumes(run, &s, &err);
    if (rc == AMB_OK)
        rc = create_pod(run, &err);
    if (rc != AMB_OK) {
        warn(run, "cannot prepare the runner; retrying", &err);
        ambd_error_clear(&err);
        lx_spec_clear(&s);
        return AMB_EUNAVAILABLE;
    }
    rc = spawn(run, &s);
    lx_spec_clear(&s);
    return rc;
}

static void on_token(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lx_run *run = arg;
    struct amb_error err = AMBD_ERROR_INIT;
    if (run->state != LX_RUNNING)
        return;
    if (mint_token(run, &err) != AMB_OK) {
        warn(run, "cannot refresh the runner's token; retrying", &err);
        struct timeval tv = {FINAL_RETRY_S * 5, 0};
        evtimer_add(run->token_ev, &tv);
    }
    ambd_error_clear(&err);
}

/* ---- stop and end ---- */

static void on_kill(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lx_run *run = arg;
    if (run->state == LX_RUNNING)
        lx_proc_signal(run->pid, SIGKILL);
}

void lx_run_terminate(struct lx_run *run)
{
    if (run->state != LX_RUNNING || run->terminating)
        return;
    run->terminating = 1;
    lx_proc_signal(run->pid, SIGTERM);
    struct timeval tv = {(time_t)run->grace_s, 0};
    if (run->kill_ev)
        evtimer_add(run->kill_ev, &tv);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lx_run *run = arg;
    struct amb_error err = AMBD_ERROR_INIT;
    run->deadline_hit = 1;
    ambd_log("executor", AMB_LOG_INFO, "the Job's activeDeadlineSeconds passed; stopping it",
             "namespace", run->ns, "job", run->name, NULL);
    if (patch_status(run, &jobs, run->name, lx_job_failure_target("DeadlineExceeded"), &err) !=
        AMB_OK)
        warn(run, "cannot mark the Job failing", &err);
    ambd_error_clear(&err);
    lx_run_terminate(run);
}

static int gone_is_done(int rc, struct amb_error *err)
{
    if (rc == AMB_ENOTFOUND) {
        ambd_error_clear(err);
        return AMB_OK;
    }
    return rc;
}

static void write_final(struct lx_run *run)
{
    struct amb_error err = AMBD_ERROR_INIT;
    int rc = AMB_OK;
    if (run->pod_delete && run->pod) {
        rc = gone_is_done(ambd_kube_delete(run->ex->kube, &pods, run->ns, run->pod, "Background",
                                           &err), &err);
        if (rc == AMB_OK)
            run->pod_delete = 0;
    } else if (run->pod_final && run->pod) {
        json_incref(run->pod_final);
        rc = gone_is_done(patch_status(run, &pods, run->pod, run->pod_final, &err), &err);
    }
    if (rc == AMB_OK) {
        json_decref(run->pod_final);
        run->pod_final = NULL;
    }
    /* The Job's conditions after the Pod's state, so whoever sees the Job
     * finished finds the Pod's exit code already written. */
    if (rc == AMB_OK && run->job_final) {
        json_incref(run->job_final);
        rc = gone_is_done(patch_status(run, &jobs, run->name, run->job_final, &err), &err);
        if (rc == AMB_OK) {
            json_decref(run->job_final);
            run->job_final = NULL;
        }
    }
    if (rc != AMB_OK) {
        warn(run, "cannot write the runner's end; retrying", &err);
        struct timeval tv = {FINAL_RETRY_S, 0};
        if (run->final_ev || (run->final_ev = evtimer_new(run->ex->base, on_final, run)))
            evtimer_add(run->final_ev, &tv);
    }
    ambd_error_clear(&err);
}

static void on_final(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    write_final(arg);
}

static void stop_process_events(struct lx_run *run)
{
    struct event **evs[] = {&run->exit_ev, &run->deadline_ev, &run->kill_ev, &run->token_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    if (run->pidfd >= 0)
        close(run->pidfd);
    run->pidfd = -1;
}

static void ended(struct lx_run *run, int code, int sig)
{
    struct local_executor *ex = run->ex;
    stop_process_events(run);
    lx_proc_forget(run->dir);
    ex->running--;
    char msg[96] = "", rcs[16];
    if (sig)
        snprintf(msg, sizeof msg, "killed by signal %d (SIG%s)", sig,
                 sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    snprintf(rcs, sizeof rcs, "%d", code);
    ambd_log("executor", AMB_LOG_INFO, "runner exited", "namespace", run->ns, "job", run->name,
             "exitCode", rcs, "signal", msg, NULL);
    if (run->deadline_hit) {
        /* The job controller deletes the pods of a Job past its deadline. */
        run->pod_delete = 1;
        if (!run->deleted)
            run->job_final = lx_job_finished(0, "DeadlineExceeded", NULL);
    } else {
        run->pod_final = lx_pod_terminated(run->pod_spec, run->started_at, code,
                                           code == 0 ? "Completed" : "Error", sig ? msg : NULL);
        if (!run->deleted)
            run->job_final = code == 0 ? lx_job_finished(1, "CompletionsReached", NULL)
                                       : lx_job_finished(0, "BackoffLimitExceeded", NULL);
    }
    run->state = LX_DONE;
    write_final(run);
}

static void on_exit_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lx_run *run = arg;
    int code, sig;
    /* Before it is reaped the pid is still ours: sweep what the runner left
     * in its session, as the kubelet tears down the container's cgroup. */
    lx_proc_signal(run->pid, SIGKILL);
    if (!lx_proc_reap(run->pid, &code, &sig))
        return;
    ended(run, code, sig);
    lx_run_ended(run);
}

/* ---- leftovers ---- */

void lx_run_fail_leftover(struct lx_run *run)
{
    struct amb_error err = AMBD_ERROR_INIT;
    int killed = lx_proc_kill_recorded(run->dir);
    ambd_log("executor", AMB_LOG_WARN,
             killed ? "a runner of a previous run still ran: killed it and failed its Job"
                    : "a Job a previous run started has no runner: failing it",
             "namespace", run->ns, "job", run->name, NULL);
    run->pod_spec = json_object_get(json_object_get(json_object_get(run->job, "spec"),
                                                       "template"), "spec");
    char selector[160];
    snprintf(selector, sizeof selector, "labelSelector=controller-uid%%3D%s", run->uid);
    json_t *list = NULL;
    if (ambd_kube_list(run->ex->kube, &pods, run->ns, selector, &list, &err) == AMB_OK) {
        /* Newest pod last is what phase.c reads; one pod per Job here. */
        const json_t *pod = json_array_get(json_object_get(list, "items"), 0);
        const char *name = json_string_value(json_object_get(json_object_get(pod, "metadata"),
                                                             "name"));
        run->pod = name ? strdup(name) : NULL;
    } else {
        warn(run, "cannot list the leftover Job's pods", &err);
    }
    json_decref(list);
    ambd_error_clear(&err);
    /* The kubelet's words for a container that is gone (137: as killed). */
    run->pod_final = lx_pod_terminated(run->pod_spec, "", 137, "ContainerStatusUnknown",
                                       LEFTOVER_MESSAGE);
    run->job_final = lx_job_finished(0, "BackoffLimitExceeded", LEFTOVER_MESSAGE);
    run->state = LX_DONE;
    write_final(run);
}

void lx_run_free(struct lx_run *run)
{
    if (!run)
        return;
    stop_process_events(run);
    if (run->final_ev)
        event_free(run->final_ev);
    json_decref(run->job);
    json_decref(run->pod_final);
    json_decref(run->job_final);
    free(run->ns);
    free(run->name);
    free(run->uid);
    free(run->dir);
    free(run->pod);
    free(run->token_dir);
    free(run->token_file);
    free(run);
}
