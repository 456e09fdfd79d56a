/* widget.c — the test kind for the controller core's integration tests.
 * A Widget (test.ambient-code/v1alpha1, the CRD in tests/data/kubesim/crds)
 * gets a child Secret "<name>-child" owned by it, and a status with
 * observedGeneration, the number of status writes ("reconciles": one per
 * generation) and a Ready condition. It reports any reconcile of a key that overlaps another
 * of the same key (the work queue must make that impossible), and can be
 * slowed down to widen that window: slow_ms is slept both before its first
 * API call and after its last (when its own writes are waking it again).
 *
 * With job = true it also runs a Job "<name>-job" whose pods carry the
 * label widget=<name>, and records how many such pods exist in status.pods:
 * a Pod is owned by the Job, not by the Widget, so this proves the
 * controller maps a grandchild's events to the Widget.
 *
 * Config: widget = { finalizer = true; slow_ms = 0; job = false; }  */
#include <ambient/plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_INFLIGHT 256

static const struct amb_host *host;
static struct amb_module *self;
static long long slow_ms;
static int job_mode;

static const struct amb_resource widgets = {"test.ambient-code", "v1alpha1", "Widget", "widgets", 1};
static const struct amb_resource secrets = {"", "v1", "Secret", "secrets", 1};
static const struct amb_resource jobs = {"batch", "v1", "Job", "jobs", 1};
static const struct amb_resource pods = {"", "v1", "Pod", "pods", 1};

/* Keys being reconciled right now. */
static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static char inflight[MAX_INFLIGHT][300];

static int inflight_enter(const char *key)
{
    int free_slot = -1, clash = 0;
    pthread_mutex_lock(&inflight_lock);
    for (int i = 0; i < MAX_INFLIGHT; i++) {
        if (inflight[i][0] == '\0' && free_slot < 0)
            free_slot = i;
        else if (strcmp(inflight[i], key) == 0)
            clash = 1;
    }
    /* On a clash the key is not recorded again: the reconcile holding it
     * clears it when it ends. */
    if (free_slot >= 0 && !clash)
        snprintf(inflight[free_slot], sizeof inflight[free_slot], "%s", key);
    pthread_mutex_unlock(&inflight_lock);
    return clash ? -1 : free_slot >= 0 ? free_slot : -2;
}

static void inflight_leave(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&inflight_lock);
    inflight[slot][0] = '\0';
    pthread_mutex_unlock(&inflight_lock);
}

static const char *meta(const json_t *obj, const char *k)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), k));
}

static int ensure_child(struct amb_ctx *ctx, const json_t *obj, const char *child,
                        struct amb_error *err)
{
    const char *ns = meta(obj, "namespace");
    int rc = host->kube_get(ctx, &secrets, ns, child, NULL, err);
    if (rc != AMB_ENOTFOUND)
        return rc;
    json_t *secret = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
                               "Secret", "metadata", "name", child, "namespace", ns,
                               "stringData", "owner", meta(obj, "name"));
    rc = host->set_controller_ref(secret, obj);
    if (rc == AMB_OK)
        rc = host->kube_create(ctx, &secrets, ns, secret, NULL, err);
    json_decref(secret);
    return rc == AMB_EEXIST ? AMB_OK : rc;
}

static int ensure_job(struct amb_ctx *ctx, const json_t *obj, struct amb_error *err)
{
    const char *ns = meta(obj, "namespace"), *name = meta(obj, "name");
    char job_name[280];
    snprintf(job_name, sizeof job_name, "%.250s-job", name);
    int rc = host->kube_get(ctx, &jobs, ns, job_name, NULL, err);
    if (rc != AMB_ENOTFOUND)
        return rc;
    json_t *job = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:{s:{s:{s:s, s:s}}, s:{s:s, s:[{s:s, s:s}]}}}}",
        "apiVersion", "batch/v1", "kind", "Job", "metadata", "name", job_name, "namespace", ns,
        "spec", "backoffLimit", 0, "template", "metadata", "labels", AMB_MANAGED_BY_LABEL,
        AMB_MANAGED_BY_VALUE, "widget", name, "spec", "restartPolicy", "Never", "containers",
        "name", "main", "image", "registry.invalid/widget:1");
    rc = host->set_controller_ref(job, obj);
    if (rc == AMB_OK)
        rc = host->kube_create(ctx, &jobs, ns, job, NULL, err);
    json_decref(job);
    return rc == AMB_EEXIST ? AMB_OK : rc;
}

/* Pods of the widget's Job (by the label its pod template sets). */
static int count_pods(struct amb_ctx *ctx, const json_t *obj, json_int_t *n,
                      struct amb_error *err)
{
    char selector[300];
    snprintf(selector, sizeof selector, "widget=%.250s", meta(obj, "name"));
    json_t *list = NULL;
    int rc = host->kube_list(ctx, &pods, meta(obj, "namespace"), selector, &list, err);
    *n = rc == AMB_OK ? (json_int_t)json_array_size(list) : 0;
    json_decref(list);
    return rc;
}

struct status_change {
    const char *child;
    json_int_t pods; /* -1 without job mode */
};

static int write_status(void *ud, json_t *obj)
{
    struct status_change *sc = ud;
    json_t *st = json_object_get(obj, "status");
    if (!json_is_object(st)) {
        st = json_object();
        json_object_set_new(obj, "status", st);
    }
    json_int_t gen = json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
    json_int_t count = json_integer_value(json_object_get(st, "reconciles"));
    /* Idempotent: a generation already observed needs no write (a write
     * would wake us again through our own watch). */
    int pods_same = sc->pods < 0 || (json_is_integer(json_object_get(st, "pods")) &&
                                     json_integer_value(json_object_get(st, "pods")) == sc->pods);
    if (json_integer_value(json_object_get(st, "observedGeneration")) == gen &&
        json_is_string(json_object_get(st, "child")) && pods_same)
        return 1;
    if (sc->pods >= 0)
        json_object_set_new(st, "pods", json_integer(sc->pods));
    json_object_set_new(st, "observedGeneration", json_integer(gen));
    json_object_set_new(st, "reconciles", json_integer(count + 1));
    json_object_set_new(st, "child", json_string(sc->child));
    host->set_condition(obj, "Ready", "True", "ChildReady", "the child secret exists");
    return 0;
}

static int widget_reconcile(void *ud, struct amb_ctx *ctx, const json_t *obj,
                            struct amb_error *err)
{
    (void)ud;
    char key[300], child[280];
    snprintf(key, sizeof key, "%s/%s", meta(obj, "namespace"), meta(obj, "name"));
    snprintf(child, sizeof child, "%.250s-child", meta(obj, "name"));
    int slot = inflight_enter(key);
    if (slot == -1) {
        host->log(self, AMB_LOG_ERROR, "concurrent reconcile of one key", "key", key, NULL);
        return AMB_OK;
    }
    struct timespec slow = {slow_ms / 1000, (slow_ms % 1000) * 1000000L};
    if (slow_ms > 0)
        nanosleep(&slow, NULL);
    int first = !json_object_get(json_object_get(obj, "status"), "reconciles");
    int rc = ensure_child(ctx, obj, child, err);
    struct status_change sc = {child, -1};
    if (rc == AMB_OK && job_mode)
        rc = ensure_job(ctx, obj, err);
    if (rc == AMB_OK && job_mode)
        rc = count_pods(ctx, obj, &sc.pods, err);
    if (rc == AMB_OK)
        rc = host->update_status(ctx, write_status, &sc, NULL, err);
    if (rc == AMB_OK && first)
        host->emit_event(ctx, obj, "Normal", "Reconciled", "child secret created");
    if (rc == AMB_OK)
        host->log(self, AMB_LOG_INFO, "reconciled", "key", key, NULL);
    /* Our own writes wake this key again through the watch while we are
     * still here: the queue must hold that second reconcile back. */
    if (slow_ms > 0)
        nanosleep(&slow, NULL);
    inflight_leave(slot);
    return rc;
}

static int widget_finalize(void *ud, struct amb_ctx *ctx, const json_t *obj,
                           struct amb_error *err)
{
    (void)ud;
    (void)ctx;
    (void)err;
    host->log(self, AMB_LOG_INFO, "finalized", "name", meta(obj, "name"), NULL);
    return AMB_OK;
}

static int widget_init(const struct amb_host *h, struct amb_module *s, void **state,
                       struct amb_error *err)
{
    (void)state;
    host = h;
    self = s;
    if (!AMB_HAS(host, requeue))
        return host->error_set(err, AMB_EUNSUPPORTED, NULL, "needs plugin ABI 1.1");
    int finalizer = 0;
    host->config_bool(self, "finalizer", &finalizer);
    host->config_int(self, "slow_ms", &slow_ms);
    host->config_bool(self, "job", &job_mode);
    static const struct amb_resource owns[] = {
        {"", "v1", "Secret", "secrets", 1},
        {"batch", "v1", "Job", "jobs", 1},
        {"", "v1", "Pod", "pods", 1},
    };
    struct amb_kind kind = {
        .size = sizeof kind,
        .resource = widgets,
        .finalizer = finalizer ? "test.ambient-code/cleanup" : NULL,
        .owns = owns,
        .n_owns = sizeof owns / sizeof owns[0],
        .reconcile = widget_reconcile,
        .finalize = finalizer ? widget_finalize : NULL,
    };
    return host->register_kind(self, &kind, NULL, NULL);
}

static const struct amb_plugin descriptor = {
    AMB_PLUGIN_HEADER,
    .name = "widget",
    .version = "1.0.0",
    .description = "test kind for the controller core",
    .init = widget_init,
};

AMB_DEFINE_PLUGIN(descriptor)
