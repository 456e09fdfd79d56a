/* controller.c — the controller role's lifecycle, event routing and
 * reconcile workers (see controller-internal.h).
 *
 * Threads: the event loop runs the informers and the HTTP listener and
 * routes events into the work queue; N workers (only while leading) take
 * keys, read the object from the cache and call the kind's callbacks with
 * blocking API calls; the leader-election thread starts the workers, or
 * asks the loop to exit when leadership is lost (the process restarts
 * clean, as controller-runtime does). */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf-internal.h"
#include "controller-state-internal.h"
#include "error-internal.h"
#include "host-http-internal.h"
#include "log-internal.h"

#define CHILD_SELECTOR AMB_MANAGED_BY_LABEL "=" AMB_MANAGED_BY_VALUE

char *ambd_ctl_key(size_t kind, const char *ns, const char *name)
{
    /* No printf: every event makes one. */
    struct ambd_buf b = {0};
    ambd_buf_put_size(&b, kind);
    ambd_buf_putc(&b, '|');
    ambd_buf_puts(&b, ns ? ns : "");
    ambd_buf_putc(&b, '/');
    ambd_buf_puts(&b, name);
    return ambd_buf_take(&b);
}

static int same_resource(const struct amb_resource *a, const struct amb_resource *b)
{
    return strcmp(a->group, b->group) == 0 && strcmp(a->version, b->version) == 0 &&
           strcmp(a->plural, b->plural) == 0;
}

long ambd_ctl_kind_index(const struct ambd_controller *c, const struct amb_resource *res)
{
    for (size_t i = 0; i < c->n_kinds; i++) {
        if (same_resource(&c->kinds[i].entry->kind.resource, res))
            return (long)i;
    }
    return -1;
}

struct ambd_informer *ambd_ctl_informer_for(struct ambd_controller *c,
                                            const struct amb_resource *res, int *complete)
{
    long k = ambd_ctl_kind_index(c, res);
    if (k >= 0) {
        *complete = 1;
        return c->kinds[k].informer;
    }
    for (size_t i = 0; i < c->n_children; i++) {
        if (same_resource(ambd_informer_resource(c->children[i].informer), res)) {
            *complete = 0;
            return c->children[i].informer;
        }
    }
    return NULL;
}

/* ---- events -> queue ---- */

/* Informer events come in bursts (a received chunk of a watch, a list
 * page), on the loop thread. Their keys are queued quietly and the workers
 * woken once, when the loop is done with the burst (wake_workers runs
 * after the current callback), or every WAKE_BATCH keys so that they work
 * while a long page is still being read. A wake-up per key cost a futex
 * call and a context switch each: a fifth of a backlog's time. */
#define WAKE_BATCH 64

static void on_wake_workers(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ambd_controller *c = arg;
    c->quiet_adds = 0;
    ambd_workqueue_wake(c->queue);
}

static void enqueue(struct ambd_controller *c, size_t kind, const char *ns, const char *name)
{
    char *key = ambd_ctl_key(kind, ns, name);
    if (!key)
        return;
    ambd_workqueue_add_quiet(c->queue, key);
    free(key);
    if (++c->quiet_adds >= WAKE_BATCH) {
        c->quiet_adds = 0;
        ambd_workqueue_wake(c->queue);
    } else if (c->quiet_adds == 1) {
        event_active(c->wake_workers, EV_TIMEOUT, 0);
    }
}

static const char *meta(const json_t *obj, const char *k)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), k));
}

static int is_resource(const struct amb_resource *r, const char *api, const char *kind)
{
    size_t glen = strlen(r->group);
    if (strcmp(r->kind, kind) != 0)
        return 0;
    if (glen == 0)
        return strcmp(api, r->version) == 0;
    return strncmp(api, r->group, glen) == 0 && api[glen] == '/' &&
           strcmp(api + glen + 1, r->version) == 0;
}

/* Wakes the kind object that controls obj: its controller owner if that is
 * one of our kinds, or one level further up when the owner is itself a
 * watched child (a Pod owned by a Job owned by a session). */
static void enqueue_controller(struct ambd_controller *c, const json_t *obj, int hops_left)
{
    const json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    const char *ns = meta(obj, "namespace");
    size_t i;
    const json_t *ref;
    json_array_foreach(refs, i, ref)
    {
        if (!json_is_true(json_object_get(ref, "controller")))
            continue;
        const char *api = json_string_value(json_object_get(ref, "apiVersion"));
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        if (!api || !kind || !name)
            return;
        for (size_t k = 0; k < c->n_kinds; k++) {
            if (is_resource(&c->kinds[k].entry->kind.resource, api, kind)) {
                enqueue(c, k, ns, name);
                return;
            }
        }
        for (size_t j = 0; hops_left > 0 && j < c->n_children; j++) {
            struct ambd_informer *inf = c->children[j].informer;
            const struct amb_resource *r = ambd_informer_resource(inf);
            if (!is_resource(r, api, kind))
                continue;
            char *key = ambd_cache_key_of(r->namespaced ? ns : NULL, name);
            json_t *owner = key ? ambd_cache_get(ambd_informer_cache(inf), key) : NULL;
            free(key);
            if (owner)
                enqueue_controller(c, owner, hops_left - 1);
            json_decref(owner);
        }
        return; /* at most one controller reference */
    }
}

static void on_child_event(void *ud, enum ambd_event_type type, const json_t *obj)
{
    (void)type;
    enqueue_controller(ud, obj, 1);
}

/* An object of a kind wakes itself, and the object of another kind that
 * controls it (an AgenticSession owned by an RFEWorkflow): a kind named in
 * another's owns is watched in full as a kind, not as a child. */
static void on_primary_event(void *ud, enum ambd_event_type type, const json_t *obj)
{
    struct ambd_ctl_kind *k = ud;
    ambd_ctl_track_phase(k, type, obj);
    const char *name = meta(obj, "name");
    if (name && ambd_informer_synced(k->informer))
        enqueue(k->ctl, k->index, meta(obj, "namespace"), name);
    enqueue_controller(k->ctl, obj, 0);
}

static void enqueue_cached(void *ud, const char *key)
{
    struct ambd_ctl_kind *k = ud;
    const char *slash = strchr(key, '/');
    char ns[256];
    size_t ns_len = slash ? (size_t)(slash - key) : 0;
    if (ns_len >= sizeof ns)
        return;
    memcpy(ns, key, ns_len);
    ns[ns_len] = '\0';
    enqueue(k->ctl, k->index, slash ? ns : NULL, slash ? slash + 1 : key);
}

/* A kind's objects are reconciled once its first list is complete, as
 * client-go's controllers wait for their caches: the list then has the
 * loop thread and a core to itself (reconciles parsing objects during it
 * made the sync a third slower), and no reconcile acts on a partial view
 * of its own kind. Every cached key is queued at once. */
static void on_kind_synced(void *ud)
{
    struct ambd_ctl_kind *k = ud;
    ambd_cache_each_key(ambd_informer_cache(k->informer), enqueue_cached, k);
}

/* ---- reconcile ---- */

static int has_finalizer(const json_t *obj, const char *fin)
{
    const json_t *list = json_object_get(json_object_get(obj, "metadata"), "finalizers");
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), fin) == 0)
            return 1;
    }
    return 0;
}

/* Adds or removes fin with a merge patch guarded by the resourceVersion, so
 * another writer's finalizer change is never lost (it conflicts instead). */
static int patch_finalizer(struct ambd_controller *c, const struct ambd_ctl_kind *k,
                           const json_t *obj, const char *fin, int add, struct amb_error *err)
{
    json_t *list = json_array();
    const json_t *old = json_object_get(json_object_get(obj, "metadata"), "finalizers");
    size_t i;
    const json_t *v;
    json_array_foreach(old, i, v)
    {
        if (!(json_is_string(v) && strcmp(json_string_value(v), fin) == 0))
            json_array_append(list, (json_t *)v);
    }
    if (add)
        json_array_append_new(list, json_string(fin));
    json_t *patch = json_pack("{s:{s:o, s:s}}", "metadata", "finalizers", list, "resourceVersion",
                              meta(obj, "resourceVersion") ? meta(obj, "resourceVersion") : "");
    if (!patch)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    int rc = c->store.ops->patch(c->store.impl, &k->entry->kind.resource, meta(obj, "namespace"),
                                 meta(obj, "name"), patch, NULL, err);
    json_decref(patch);
    return rc;
}

/* Returns what reconcile returns: 0 done, > 0 again after ms, < 0 error. */
static int reconcile_object(struct ambd_controller *c, struct ambd_ctl_kind *k, json_t *obj,
                            struct amb_ctx *ctx, struct amb_error *err)
{
    const struct amb_kind *kind = &k->entry->kind;
    void *ud = k->entry->data.user_data;
    int deleting = json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL;
    if (kind->finalizer) {
        int has = has_finalizer(obj, kind->finalizer);
        if (deleting) {
            if (!has)
                return AMB_OK;
            int rc = kind->finalize(ud, ctx, obj, err);
            if (rc != AMB_OK)
                return rc;
            rc = patch_finalizer(c, k, obj, kind->finalizer, 0, err);
            return rc == AMB_ENOTFOUND ? AMB_OK : rc;
        }
        if (!has) {
            int rc = patch_finalizer(c, k, obj, kind->finalizer, 1, err);
            if (rc != AMB_OK)
                return rc;
        }
    } else if (deleting) {
        return AMB_OK; /* going away; its children follow by garbage collection */
    }
    return kind->reconcile ? kind->reconcile(ud, ctx, obj, err) : AMB_OK;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Reconciles the object of a queued key; returns 1 when the key's failures
 * are to be forgotten as it is done (ambd_workqueue_done_forget). */
static int process(struct ambd_controller *c, const char *key)
{
    char *end;
    unsigned long idx = strtoul(key, &end, 10);
    if (*end != '|' || idx >= c->n_kinds)
        return 0;
    const char *nsname = end + 1;
    const char *slash = strchr(nsname, '/');
    if (!slash)
        return 0;
    char ns[256];
    size_t ns_len = (size_t)(slash - nsname);
    if (ns_len >= sizeof ns)
        return 0;
    memcpy(ns, nsname, ns_len);
    ns[ns_len] = '\0';
    const char *name = slash + 1;
    struct ambd_ctl_kind *k = &c->kinds[idx];
    const char *kind_name = k->entry->kind.resource.kind;
    if (!ambd_informer_synced(k->informer)) /* woken by a child: the sync queues it */
        return 1;

    /* Cache keys are "ns/name", or "name" for cluster-scoped objects. */
    json_t *obj = ambd_cache_get(ambd_informer_cache(k->informer), ns_len ? nsname : name);
    if (!obj) /* deleted: nothing left to do */
        return 1;
    struct amb_ctx ctx = {.ctl = c, .kind = idx, .ns = ns, .name = name};
    struct amb_error err = AMBD_ERROR_INIT;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ambd_kube_thread_throttle_reset();
    int rc = reconcile_object(c, k, obj, &ctx, &err);
    /* The API server asked this reconcile's requests to wait: the key is
     * held that long, and the worker moves on to other keys meanwhile. */
    uint64_t throttled_ms = ambd_kube_thread_throttle_ms();
    const char *labels_ok[] = {kind_name, "success", NULL};
    const char *labels_requeue[] = {kind_name, "requeue", NULL};
    const char *labels_error[] = {kind_name, "error", NULL};
    const char *labels_kind[] = {kind_name, NULL};
    ambd_metric_observe(c->m_reconcile_seconds, labels_kind, seconds_since(&t0));
    if (rc == AMB_OK) {
        ambd_metric_add(c->m_reconciles, labels_ok, 1);
    } else if (rc > 0) {
        ambd_metric_add(c->m_reconciles, labels_requeue, 1);
        ambd_workqueue_forget(c->queue, key);
        if (throttled_ms)
            ambd_workqueue_hold(c->queue, key, throttled_ms);
        ambd_workqueue_add_after(c->queue, key, (uint64_t)rc);
    } else {
        ambd_metric_add(c->m_reconciles, labels_error, 1);
        ambd_metric_add(c->m_reconcile_errors, labels_kind, 1);
        char attempt[16], wait[32];
        snprintf(attempt, sizeof attempt, "%u", ambd_workqueue_failures(c->queue, key) + 1);
        snprintf(wait, sizeof wait, "%.3f", (double)throttled_ms / 1000.0);
        char *line = ambd_error_line(&err);
        ambd_log("controller", AMB_LOG_WARN, "reconcile failed; will retry", "kind", kind_name,
                 "namespace", ns, "name", name, "attempt", attempt, "error",
                 line ? line : ambd_strerror(rc), throttled_ms ? "retry_after_s" : NULL, wait,
                 NULL);
        free(line);
        if (throttled_ms)
            ambd_workqueue_hold(c->queue, key, throttled_ms);
        ambd_workqueue_add_rate_limited(c->queue, key);
    }
    ambd_error_clear(&err);
    json_decref(obj);
    return rc == AMB_OK;
}

static void *worker_main(void *arg)
{
    struct ambd_controller *c = arg;
    char *key;
    pthread_setname_np(pthread_self(), "reconcile"); /* as top -H and perf show it */
    /* Batch scheduling: a worker the loop thread wakes does not preempt it
     * on its CPU. Without it, a burst's wake-ups switched the loop thread
     * out dozens of times while the other CPU sat idle (perf sched: a
     * third of a backlog's CPU time idle). Workers still get their full
     * share of CPU; only wake-up preemption is given up. */
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &(struct sched_param){0});
    while (ambd_workqueue_get(c->queue, &key) == AMB_OK) {
        if (process(c, key))
            ambd_workqueue_done_forget(c->queue, key);
        else
            ambd_workqueue_done(c->queue, key);
        free(key);
    }
    return NULL;
}

static void start_workers(struct ambd_controller *c)
{
    pthread_mutex_lock(&c->workers_lock);
    if (!c->workers && (c->workers = calloc(c->cc->workers, sizeof *c->workers))) {
        for (unsigned i = 0; i < c->cc->workers; i++) {
            if (pthread_create(&c->workers[c->n_workers], NULL, worker_main, c) == 0)
                c->n_workers++;
        }
        char n[16];
        snprintf(n, sizeof n, "%zu", c->n_workers);
        ambd_log("controller", AMB_LOG_INFO, "reconciling", "workers", n, NULL);
    }
    pthread_mutex_unlock(&c->workers_lock);
}

static void stop_workers(struct ambd_controller *c)
{
    ambd_workqueue_shutdown(c->queue);
    pthread_mutex_lock(&c->workers_lock);
    for (size_t i = 0; i < c->n_workers; i++)
        pthread_join(c->workers[i], NULL);
    free(c->workers);
    c->workers = NULL;
    c->n_workers = 0;
    pthread_mutex_unlock(&c->workers_lock);
}

/* ---- leadership ---- */

static void on_leading(void *ud)
{
    struct ambd_controller *c = ud;
    atomic_store(&c->leading, 1);
    start_workers(c);
}

static void on_lost(void *ud)
{
    struct ambd_controller *c = ud;
    atomic_store(&c->leading, 0);
    atomic_store(&c->failed, 1);
    event_active(c->lost_leadership, EV_TIMEOUT, 0);
}

static void on_lost_in_loop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ambd_controller *c = arg;
    ambd_log("controller", AMB_LOG_ERROR, "leadership lost; exiting so a fresh process can compete",
             NULL);
    event_base_loopbreak(c->base);
}

static char *make_identity(void)
{
    char host[256] = "ambientd";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    unsigned char r[6] = {0};
    FILE *f = fopen("/dev/urandom", "re");
    if (f) {
        if (fread(r, 1, sizeof r, f) != sizeof r)
            memset(r, 0, sizeof r);
        fclose(f);
    }
    struct ambd_buf b = {0};
    ambd_buf_printf(&b, "%s_%02x%02x%02x%02x%02x%02x", host, r[0], r[1], r[2], r[3], r[4], r[5]);
    return ambd_buf_take(&b);
}

/* ---- lifecycle ---- */

/* What the event handlers read of an object besides its name: the owner
 * references (enqueue_controller), and of a kind its phase and usage
 * (controller_phases.c, controller_usage.c). Reconciles read whole
 * objects. */
static const char *const KIND_KEEP[] = {"metadata.ownerReferences", "status", "spec.model", NULL};
static const char *const CHILD_KEEP[] = {"metadata.ownerReferences", NULL};

static struct ambd_informer *new_informer(struct ambd_controller *c, const struct amb_resource *res,
                                          const char *selector, const char *const *keep,
                                          void (*on_event)(void *, enum ambd_event_type,
                                                           const json_t *),
                                          void (*on_synced)(void *), void *ud)
{
    struct ambd_informer_options o = {.resource = *res, .label_selector = selector,
                                      .page_size = c->cc->list_page_size,
                                      .keep = keep};
    struct ambd_informer_handlers h = {on_event, on_synced};
    return ambd_informer_new(&c->store, c->base, &o, &h, ud);
}

static int add_child(struct ambd_controller *c, const struct amb_resource *res)
{
    for (size_t i = 0; i < c->n_children; i++) {
        if (same_resource(ambd_informer_resource(c->children[i].informer), res))
            return AMB_OK;
    }
    if (ambd_ctl_kind_index(c, res) >= 0)
        return AMB_OK; /* already watched in full as a kind */
    struct ambd_ctl_child *grown = realloc(c->children, (c->n_children + 1) * sizeof *grown);
    if (!grown)
        return AMB_ENOMEM;
    c->children = grown;
    /* The array may move as it grows: handlers get the controller instead. */
    struct ambd_ctl_child *child = &c->children[c->n_children];
    if (!(child->informer = new_informer(c, res, CHILD_SELECTOR, CHILD_KEEP, on_child_event, NULL, c)))
        return AMB_ENOMEM;
    c->n_children++;
    return AMB_OK;
}

static int build_informers(struct ambd_controller *c, const struct ambd_registry *r)
{
    if (r->n_kinds && !(c->kinds = calloc(r->n_kinds, sizeof *c->kinds)))
        return AMB_ENOMEM;
    for (size_t i = 0; i < r->n_kinds; i++) {
        struct ambd_ctl_kind *k = &c->kinds[i];
        const struct amb_resource *res = &r->kinds[i]->kind.resource;
        k->ctl = c;
        k->index = i;
        k->entry = r->kinds[i];
        k->informer = new_informer(c, res, NULL, KIND_KEEP, on_primary_event, on_kind_synced, k);
        c->n_kinds++;
        if (!k->informer)
            return AMB_ENOMEM;
    }
    for (size_t i = 0; i < r->n_kinds; i++) {
        const struct amb_kind *kind = &r->kinds[i]->kind;
        for (size_t j = 0; j < kind->n_owns; j++) {
            if (add_child(c, &kind->owns[j]) != AMB_OK)
                return AMB_ENOMEM;
        }
    }
    return AMB_OK;
}

static void observe_request(void *ud, const char *verb, long status, long retry_after)
{
    struct ambd_controller *c = ud;
    char code[16];
    snprintf(code, sizeof code, "%ld", status);
    const char *labels[] = {verb, code, NULL};
    ambd_metric_add(c->m_api_requests, labels, 1);
    /* The server throttled the request: it will be made again, later. */
    if ((status == 429 || status >= 500) && retry_after >= 0) {
        const char *by_verb[] = {verb, NULL};
        ambd_metric_add(c->m_api_throttled, by_verb, 1);
    }
}

int ambd_controller_start(struct event_base *base, const struct ambd_controller_config *cc,
                          const struct ambd_registry *registry, struct ambd_controller **out,
                          struct amb_error *err)
{
    *out = NULL;
    struct ambd_controller *c = calloc(1, sizeof *c);
    if (!c)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    c->base = base;
    c->cc = cc;
    pthread_mutex_init(&c->workers_lock, NULL);
    int rc = ambd_kube_new(&cc->kube, &c->kube, err);
    if (rc != AMB_OK)
        goto fail;
    rc = AMB_ENOMEM;
    if (!(c->loop = ambd_kube_loop_new(c->kube, base)) ||
        ambd_kube_store_new(c->kube, c->loop, 0, &c->store) != AMB_OK ||
        !(c->queue = ambd_workqueue_new(NULL)) ||
        !(c->lost_leadership = event_new(base, -1, 0, on_lost_in_loop, c)) ||
        !(c->wake_workers = event_new(base, -1, 0, on_wake_workers, c)) ||
        !(c->identity = make_identity()) || ambd_ctl_metrics_init(c) != AMB_OK ||
        build_informers(c, registry) != AMB_OK) {
        ambd_error_set(err, AMB_ENOMEM, NULL, "cannot set up the controller");
        goto fail;
    }
    ambd_kube_set_observer(c->kube, observe_request, c);
    if ((rc = ambd_ctl_http_start(c, err)) != AMB_OK)
        goto fail;
    for (size_t i = 0; i < c->n_kinds; i++)
        ambd_informer_start(c->kinds[i].informer);
    for (size_t i = 0; i < c->n_children; i++)
        ambd_informer_start(c->children[i].informer);
    if (cc->leader_election) {
        struct ambd_leader_options lo = {
            cc->lease_name, cc->lease_namespace, c->identity, cc->lease_duration_s,
            cc->renew_deadline_s, cc->retry_period_s, on_leading, on_lost, c,
        };
        if (!(c->leader = ambd_leader_start(&c->store, &lo))) {
            rc = ambd_error_set(err, AMB_ENOMEM, NULL, "cannot start leader election");
            goto fail;
        }
    } else {
        on_leading(c);
    }
    char kinds[16], children[16];
    snprintf(kinds, sizeof kinds, "%zu", c->n_kinds);
    snprintf(children, sizeof children, "%zu", c->n_children);
    ambd_log("controller", AMB_LOG_INFO, "controller started", "server", cc->kube.server, "kinds",
             kinds, "child_resources", children, "identity", c->identity, NULL);
    *out = c;
    return AMB_OK;
fail:
    ambd_controller_stop(c);
    return rc;
}

void ambd_controller_stop(struct ambd_controller *c)
{
    if (!c)
        return;
    /* In-flight reconciles finish before the lease is released, so a
     * standby never works alongside us. */
    if (c->queue)
        stop_workers(c);
    ambd_leader_stop(c->leader);
    for (size_t i = 0; i < c->n_kinds; i++) {
        ambd_informer_free(c->kinds[i].informer);
        ambd_ctl_phases_clear(&c->kinds[i]);
    }
    free(c->kinds);
    for (size_t i = 0; i < c->n_children; i++)
        ambd_informer_free(c->children[i].informer);
    free(c->children);
    if (c->http)
        evhttp_free(c->http);
    ambd_kube_store_free(&c->store);
    ambd_kube_loop_free(c->loop);
    ambd_workqueue_free(c->queue);
    ambd_kube_free(c->kube);
    ambd_host_http_set_metric(NULL);
    ambd_metrics_free(c->metrics);
    free(c->last_watches);
    if (c->lost_leadership)
        event_free(c->lost_leadership);
    if (c->wake_workers)
        event_free(c->wake_workers);
    free(c->identity);
    pthread_mutex_destroy(&c->workers_lock);
    free(c);
}

int ambd_controller_failed(const struct ambd_controller *c) { return c && atomic_load(&c->failed); }
