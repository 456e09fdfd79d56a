/* executor.c — the local executor's life (see executor.h): its thread and
 * event loop, the informer on runner Jobs, the queue with its concurrency
 * limit, and the stop. A run's own steps are in executor_run.c. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ambient/names.h"
#include "error-internal.h"
#include "executor-internal.h"
#include "log-internal.h"

#define MAX_SESSIONS_LIMIT 1024
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
#define KUBE_TIMEOUT_MS 30000
#define STOP_KILL_EXTRA_S 5 /* after the grace: SIGKILL, then as long again to reap */

static const struct amb_resource jobs = {"batch", "v1", "Job", "jobs", 1};

static unsigned long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static const char *meta(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static int finished(const json_t *job)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(json_object_get(job, "status"), "conditions"), i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *status = json_string_value(json_object_get(c, "status"));
        if (type && status && strcmp(status, "True") == 0 &&
            (strcmp(type, "Complete") == 0 || strcmp(type, "Failed") == 0))
            return 1;
    }
    return 0;
}

/* Another run of the same Job name (an earlier run of the session) in
 * state; NULL if none. */
static struct lx_run *namesake(struct local_executor *ex, const struct lx_run *run,
                               int running_only)
{
    size_t pos = 0;
    const char *key;
    void *v;
    while (ambd_strmap_next(&ex->runs, &pos, &key, &v)) {
        struct lx_run *o = v;
        if (o != run && strcmp(o->ns, run->ns) == 0 && strcmp(o->name, run->name) == 0 &&
            (!running_only || o->state == LX_RUNNING))
            return o;
    }
    return NULL;
}

static void unqueue(struct local_executor *ex, struct lx_run *run)
{
    for (struct lx_run **p = &ex->queue; *p; p = &(*p)->next)
        if (*p == run) {
            *p = run->next;
            run->next = NULL;
            return;
        }
}

/* The Job is gone and so is its process: drop the run and, as the
 * kubelet does with a deleted pod's, its volumes (the logs stay). */
static void forget(struct local_executor *ex, struct lx_run *run)
{
    unqueue(ex, run);
    ambd_strmap_remove(&ex->runs, run->uid);
    if (run->state == LX_DONE && !namesake(ex, run, 0))
        lx_remove_volumes(run->dir);
    lx_run_free(run);
}

void lx_dispatch(struct local_executor *ex)
{
    if (ex->stopping) {
        if (ex->running == 0)
            event_base_loopbreak(ex->base);
        return;
    }
    for (struct lx_run **p = &ex->queue; *p;) {
        struct lx_run *run = *p;
        if (run->state != LX_LEFTOVER) {
            p = &run->next;
            continue;
        }
        *p = run->next;
        run->next = NULL;
        lx_run_fail_leftover(run);
    }
    unsigned long long now = now_ms(), next_retry = 0;
    for (struct lx_run **p = &ex->queue; *p && ex->running < ex->max_sessions;) {
        struct lx_run *run = *p;
        /* An earlier run of the same name still stops: it shares the
         * directory; this one starts when it has ended. */
        if (run->retry_at > now || namesake(ex, run, 1)) {
            if (run->retry_at > now && (!next_retry || run->retry_at < next_retry))
                next_retry = run->retry_at;
            p = &run->next;
            continue;
        }
        if (lx_run_start(run) == AMB_OK) {
            *p = run->next;
            run->next = NULL;
            continue;
        }
        run->retry_ms = run->retry_ms ? run->retry_ms * 2 : RETRY_MIN_MS;
        if (run->retry_ms > RETRY_MAX_MS)
            run->retry_ms = RETRY_MAX_MS;
        run->retry_at = now_ms() + run->retry_ms;
        if (!next_retry || run->retry_at < next_retry)
            next_retry = run->retry_at;
        p = &run->next;
    }
    if (next_retry) {
        unsigned long long wait = next_retry > now ? next_retry - now : 0;
        struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
        evtimer_add(ex->retry_ev, &tv);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lx_dispatch(arg);
}

static struct lx_run *new_run(struct local_executor *ex, const json_t *job, enum lx_state state)
{
    const char *ns = meta(job, "namespace"), *name = meta(job, "name"), *uid = meta(job, "uid");
    /* Names become directories: they must be what the API server allows. */
    if (!amb_is_dns_label(ns) || !amb_is_dns_subdomain(name) || !uid || !*uid || strlen(uid) > 64 ||
        uid[strspn(uid, "0123456789abcdefABCDEF-")]) {
        ambd_log("executor", AMB_LOG_WARN, "skipping a Job without a valid namespace, name or uid (a UUID)",
                 NULL);
        return NULL;
    }
    struct lx_run *run = calloc(1, sizeof *run);
    if (!run)
        return NULL;
    run->ex = ex;
    run->state = state;
    run->pidfd = -1;
    run->job = json_deep_copy(job);
    run->ns = strdup(ns);
    run->name = strdup(name);
    run->uid = strdup(uid);
    if (asprintf(&run->dir, "%s/%s/%s", ex->sessions_dir, ns, name) < 0)
        run->dir = NULL;
    if (!run->job || !run->ns || !run->name || !run->uid || !run->dir ||
        ambd_strmap_put(&ex->runs, uid, run, NULL) != AMB_OK) {
        lx_run_free(run);
        return NULL;
    }
    struct lx_run **tail = &ex->queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = run;
    return run;
}

static void on_job(void *ud, enum ambd_event_type type, const json_t *job)
{
    struct local_executor *ex = ud;
    const char *uid = meta(job, "uid");
    struct lx_run *run = uid ? ambd_strmap_get(&ex->runs, uid) : NULL;
    if (type == AMBD_EVENT_DELETED) {
        if (run && run->state == LX_RUNNING) {
            /* The kubelet stops a deleted Job's pod with its grace period. */
            run->deleted = 1;
            lx_run_terminate(run);
        } else if (run) {
            forget(ex, run);
        }
        return;
    }
    if (run || finished(job))
        return; /* a run's own writes, or a Job that is over */
    /* Started (by its status) but not by this process: what a previous
     * ambientd left when it was killed. */
    const json_t *st = json_object_get(job, "status");
    int started = json_object_get(st, "startTime") ||
                  json_integer_value(json_object_get(st, "active")) > 0;
    if (new_run(ex, job, started ? LX_LEFTOVER : LX_QUEUED))
        event_active(ex->dispatch_ev, 0, 0);
}

static void on_dispatch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lx_dispatch(arg);
}

void lx_run_ended(struct lx_run *run)
{
    struct local_executor *ex = run->ex;
    if (run->deleted)
        forget(ex, run);
    lx_dispatch(ex);
}

/* ---- stop ---- */

static void each_running(struct local_executor *ex, void (*fn)(struct lx_run *))
{
    size_t pos = 0;
    const char *key;
    void *v;
    while (ambd_strmap_next(&ex->runs, &pos, &key, &v))
        if (((struct lx_run *)v)->state == LX_RUNNING)
            fn(v);
}

static void kill_now(struct lx_run *run) { lx_proc_signal(run->pid, SIGKILL); }

static void on_stop_kill(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct local_executor *ex = arg;
    if (ex->stop_killed++) {
        ambd_log("executor", AMB_LOG_WARN, "runners survived SIGKILL; leaving them", NULL);
        event_base_loopbreak(ex->base);
        return;
    }
    each_running(ex, kill_now);
    struct timeval tv = {STOP_KILL_EXTRA_S, 0};
    evtimer_add(ex->stop_kill_ev, &tv);
}

static void shorten_grace(struct lx_run *run)
{
    unsigned cap = atomic_load(&run->ex->stop_grace_s);
    if (run->grace_s > cap)
        run->grace_s = cap;
    lx_run_terminate(run);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct local_executor *ex = arg;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
        return;
    if (ex->stopping)
        return;
    ex->stopping = 1;
    ambd_informer_free(ex->informer); /* no new Jobs; queued ones wait for the next start */
    ex->informer = NULL;
    evtimer_del(ex->retry_ev);
    each_running(ex, shorten_grace);
    struct timeval tv = {(time_t)atomic_load(&ex->stop_grace_s) + STOP_KILL_EXTRA_S, 0};
    evtimer_add(ex->stop_kill_ev, &tv);
    lx_dispatch(ex);
}

static void *thread_main(void *arg)
{
    struct local_executor *ex = arg;
    /* Signals go to the process's other threads (ambientd's main loop). */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    event_base_dispatch(ex->base);
    return NULL;
}

/* ---- start ---- */

static int copy_config(struct local_executor *ex, const struct local_executor_config *cfg,
                       struct amb_error *err)
{
    if (!cfg->kube_server || ambd_kube_check_server(cfg->kube_server, err) != AMB_OK)
        return cfg->kube_server ? err->code
                                : ambd_error_set(err, AMB_EINVAL, "kube_server", "is required");
    if (!cfg->token_file || !*cfg->token_file)
        return ambd_error_set(err, AMB_EINVAL, "token_file", "is required");
    if (!cfg->data_dir || cfg->data_dir[0] != '/')
        return ambd_error_set(err, AMB_EINVAL, "data_dir", "must be an absolute path");
    if (!cfg->runner_path || access(cfg->runner_path, X_OK) != 0)
        return ambd_error_set(err, AMB_EINVAL, "runner_path", "%s is not an executable: %s",
                              cfg->runner_path ? cfg->runner_path : "(none)", strerror(errno));
    if (cfg->max_sessions > MAX_SESSIONS_LIMIT)
        return ambd_error_set(err, AMB_EINVAL, "max_sessions", "must be at most %d",
                              MAX_SESSIONS_LIMIT);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ex->max_sessions = cfg->max_sessions ? cfg->max_sessions : cores > 0 ? (unsigned)cores : 1;
    const char *path = cfg->path ? cfg->path : getenv("PATH");
    size_t n_env = 0;
    while (cfg->extra_env && cfg->extra_env[n_env]) {
        const char *e = cfg->extra_env[n_env];
        if (e[0] == '=' || !strchr(e, '='))
            return ambd_error_set(err, AMB_EINVAL, "extra_env", "entry %zu is not NAME=value",
                                  n_env);
        n_env++;
    }
    ex->extra_env = calloc(n_env + 1, sizeof *ex->extra_env);
    for (size_t i = 0; ex->extra_env && i < n_env; i++)
        if (!(ex->extra_env[i] = strdup(cfg->extra_env[i])))
            return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    ex->server = strdup(cfg->kube_server);
    ex->token_file = strdup(cfg->token_file);
    ex->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
    ex->runner = strdup(cfg->runner_path);
    ex->path = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
    if (!ex->extra_env || !ex->server || !ex->token_file || (cfg->ca_file && !ex->ca_file) ||
        !ex->runner || !ex->path || asprintf(&ex->sessions_dir, "%s/sessions", cfg->data_dir) < 0)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    return lx_mkdirs(ex->sessions_dir, err);
}

static int make_loop(struct local_executor *ex, struct amb_error *err)
{
    struct ambd_kube_config kc = {.server = ex->server, .token_file = ex->token_file,
                                  .ca_file = ex->ca_file, .timeout_ms = KUBE_TIMEOUT_MS};
    int rc = ambd_kube_new(&kc, &ex->kube, err);
    if (rc != AMB_OK)
        return rc;
    struct ambd_informer_options io = {.resource = jobs, .label_selector = LX_JOB_SELECTOR};
    struct ambd_informer_handlers h = {.on_event = on_job};
    if (!(ex->base = event_base_new()) || !(ex->loop = ambd_kube_loop_new(ex->kube, ex->base)) ||
        ambd_kube_store_new(ex->kube, ex->loop, 0, &ex->store) != AMB_OK ||
        !(ex->store_made = 1) ||
        !(ex->informer = ambd_informer_new(&ex->store, ex->base, &io, &h, ex)) ||
        !(ex->dispatch_ev = event_new(ex->base, -1, 0, on_dispatch, ex)) ||
        !(ex->retry_ev = evtimer_new(ex->base, on_retry, ex)) ||
        !(ex->stop_kill_ev = evtimer_new(ex->base, on_stop_kill, ex)) ||
        (ex->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
        !(ex->wake_ev = event_new(ex->base, ex->wake_fd, EV_READ | EV_PERSIST, on_wake, ex)) ||
        event_add(ex->wake_ev, NULL) != 0)
        return ambd_error_set(err, AMB_ENOMEM, NULL, "cannot set up the executor's loop");
    return AMB_OK;
}

int local_executor_start(const struct local_executor_config *cfg, struct local_executor **out,
                         struct amb_error *err)
{
    *out = NULL;
    struct local_executor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    ex->wake_fd = -1;
    ambd_strmap_init(&ex->runs);
    int rc = copy_config(ex, cfg, err);
    if (rc == AMB_OK)
        rc = make_loop(ex, err);
    if (rc == AMB_OK) {
        ambd_informer_start(ex->informer);
        if ((rc = pthread_create(&ex->thread, NULL, thread_main, ex)) != 0)
            rc = ambd_error_set(err, AMB_EINTERNAL, NULL, "cannot start the executor's thread");
        else
            ex->thread_started = 1;
    }
    if (rc != AMB_OK) {
        ex->stopped = 1;
        local_executor_free(ex);
        return rc;
    }
    char max[16];
    snprintf(max, sizeof max, "%u", ex->max_sessions);
    ambd_log("executor", AMB_LOG_INFO, "local executor started", "sessions", ex->sessions_dir,
             "max_sessions", max, NULL);
    *out = ex;
    return AMB_OK;
}

void local_executor_stop(struct local_executor *ex, unsigned stop_grace_s)
{
    if (!ex || ex->stopped)
        return;
    ex->stopped = 1;
    atomic_store(&ex->stop_grace_s, stop_grace_s);
    uint64_t one = 1;
    if (write(ex->wake_fd, &one, sizeof one) != sizeof one)
        ambd_log("executor", AMB_LOG_ERROR, "cannot wake the executor to stop it", NULL);
    pthread_join(ex->thread, NULL);
    ex->thread_started = 0;
}

static void free_run(void *v) { lx_run_free(v); }

void local_executor_free(struct local_executor *ex)
{
    if (!ex)
        return;
    local_executor_stop(ex, LX_DEFAULT_GRACE_S);
    ambd_strmap_clear(&ex->runs, free_run);
    ambd_informer_free(ex->informer);
    struct event *evs[] = {ex->dispatch_ev, ex->retry_ev, ex->stop_kill_ev, ex->wake_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (ex->store_made)
        ambd_kube_store_free(&ex->store);
    ambd_kube_loop_free(ex->loop);
    ambd_kube_free(ex->kube);
    if (ex->base)
        event_base_free(ex->base);
    if (ex->wake_fd >= 0)
        close(ex->wake_fd);
    for (size_t i = 0; ex->extra_env && ex->extra_env[i]; i++)
        free(ex->extra_env[i]);
    free(ex->extra_env);
    free(ex->server);
    free(ex->token_file);
    free(ex->ca_file);
    free(ex->sessions_dir);
    free(ex->runner);
    free(ex->path);
    free(ex);
}

unsigned local_executor_peak(struct local_executor *ex) { return atomic_load(&ex->peak); }
