/* leader.c — Lease-based leader election (see leader-internal.h). */
#include "leader-internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error-internal.h"
#include "log-internal.h"

static const struct amb_resource lease_resource = {"coordination.k8s.io", "v1", "Lease", "leases", 1};

struct ambd_leader {
    const struct ambd_store *store;
    struct ambd_leader_options o;
    char *name, *namespace, *identity;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    atomic_int leading;
    /* The other holder's record as last seen, and when we saw it change. */
    char *observed_record;
    double observed_at;
    double renewed_at;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* RFC 3339 with microseconds, as Kubernetes' MicroTime. */
static void micro_time(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%.20s.%06dZ", base, (int)(ts.tv_nsec / 1000));
}

int ambd_leader_check(const struct ambd_leader_options *o, struct amb_error *err)
{
    if (!(o->duration_s > o->renew_deadline_s))
        return ambd_error_set(err, AMB_EINVAL, NULL,
                              "duration (%u s) must be longer than renew_deadline (%u s)",
                              o->duration_s, o->renew_deadline_s);
    if (!((double)o->renew_deadline_s > 1.2 * o->retry_period_s) || o->retry_period_s == 0)
        return ambd_error_set(err, AMB_EINVAL, NULL,
                              "renew_deadline (%u s) must be longer than 1.2 x retry_period (%u s)",
                              o->renew_deadline_s, o->retry_period_s);
    return AMB_OK;
}

static json_t *lease_spec(struct ambd_leader *l, const char *now, const char *acquired,
                          json_int_t transitions)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", l->identity,
                     "leaseDurationSeconds", (json_int_t)l->o.duration_s, "acquireTime", acquired,
                     "renewTime", now, "leaseTransitions", transitions);
}

/* One round: 1 if we hold the lease afterwards, 0 if another does or the
 * API failed; *retry_after_s is the wait the server asked for (0: none). */
static int try_acquire_or_renew(struct ambd_leader *l, unsigned *retry_after_s)
{
    char now[48];
    micro_time(now, sizeof now);
    json_t *lease = NULL;
    struct amb_error err = AMBD_ERROR_INIT;
    int held = 0;
    int rc = l->store->ops->get(l->store->impl, &lease_resource, l->namespace, l->name, &lease, &err);
    if (rc == AMB_ENOTFOUND) {
        ambd_error_clear(&err);
        json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion",
                                "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                                l->name, "namespace", l->namespace, "spec",
                                lease_spec(l, now, now, 0));
        rc = obj ? l->store->ops->create(l->store->impl, &lease_resource, l->namespace, obj, NULL, &err)
                 : AMB_ENOMEM;
        json_decref(obj);
        held = rc == AMB_OK;
        goto out;
    }
    if (rc != AMB_OK)
        goto out;
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    const char *renew = json_string_value(json_object_get(spec, "renewTime"));
    json_int_t duration = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
    const char *acquired = json_string_value(json_object_get(spec, "acquireTime"));
    int ours = holder && strcmp(holder, l->identity) == 0;
    if (!ours && holder && *holder) {
        /* Another holder: live while its record changes within its lease
         * duration as seen by our clock (clocks of nodes are not compared). */
        char record[512];
        snprintf(record, sizeof record, "%s|%s", holder, renew ? renew : "");
        if (!l->observed_record || strcmp(l->observed_record, record) != 0) {
            free(l->observed_record);
            l->observed_record = strdup(record);
            l->observed_at = now_s();
        }
        if (now_s() < l->observed_at + (double)(duration > 0 ? duration : l->o.duration_s))
            goto out;
    }
    json_t *fresh = lease_spec(l, now, ours && acquired ? acquired : now,
                               ours ? transitions : transitions + 1);
    json_object_set_new(lease, "spec", fresh);
    rc = l->store->ops->update(l->store->impl, &lease_resource, l->namespace, lease, NULL, NULL,
                              &err);
    held = rc == AMB_OK;
out:
    if (!held && rc != AMB_OK && rc != AMB_ECONFLICT && rc != AMB_EEXIST) {
        char *line = ambd_error_line(&err);
        ambd_log("leader", AMB_LOG_WARN, "lease request failed", "lease", l->name, "error",
                 line ? line : "?", NULL);
        free(line);
    }
    *retry_after_s = err.retry_after_s;
    ambd_error_clear(&err);
    json_decref(lease);
    return held;
}

static void release(struct ambd_leader *l)
{
    json_t *lease = NULL;
    struct amb_error err = AMBD_ERROR_INIT;
    if (l->store->ops->get(l->store->impl, &lease_resource, l->namespace, l->name, &lease, &err) == AMB_OK) {
        json_t *spec = json_object_get(lease, "spec");
        const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
        if (holder && strcmp(holder, l->identity) == 0) {
            char now[48];
            micro_time(now, sizeof now);
            json_object_set_new(spec, "holderIdentity", json_string(""));
            json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
            json_object_set_new(spec, "renewTime", json_string(now));
            if (l->store->ops->update(l->store->impl, &lease_resource, l->namespace, lease, NULL, NULL,
                              &err) ==
                AMB_OK)
                ambd_log("leader", AMB_LOG_INFO, "released the lease", "lease", l->name, NULL);
        }
    }
    ambd_error_clear(&err);
    json_decref(lease);
}

/* Sleeps up to s seconds; returns 1 if asked to stop. */
static int pause_or_stop(struct ambd_leader *l, double s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)s;
    until.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->lock);
    while (!l->stopping && pthread_cond_timedwait(&l->wake, &l->lock, &until) == 0) {
    }
    int stop = l->stopping;
    pthread_mutex_unlock(&l->lock);
    return stop;
}

static void *run(void *arg)
{
    struct ambd_leader *l = arg;
    for (;;) {
        unsigned retry_after_s = 0;
        int held = try_acquire_or_renew(l, &retry_after_s);
        double t = now_s();
        if (held) {
            l->renewed_at = t;
            if (!atomic_exchange(&l->leading, 1)) {
                ambd_log("leader", AMB_LOG_INFO, "became the leader", "lease", l->name,
                         "identity", l->identity, NULL);
                if (l->o.on_started)
                    l->o.on_started(l->o.ud);
            }
        } else if (atomic_load(&l->leading) && t - l->renewed_at > l->o.renew_deadline_s) {
            atomic_store(&l->leading, 0);
            ambd_log("leader", AMB_LOG_ERROR, "could not renew the lease in time; leadership lost",
                     "lease", l->name, NULL);
            if (l->o.on_stopped)
                l->o.on_stopped(l->o.ud);
        }
        /* Candidates wait a jittered period (client-go's factor 1.2) so
         * they don't knock in step; the leader renews on the beat. */
        double wait = l->o.retry_period_s;
        if (!atomic_load(&l->leading))
            wait *= 1.0 + 0.2 * (double)random() / (double)RAND_MAX;
        /* A throttled lease request is not made again sooner than the
         * server asked, even if the renew deadline passes meanwhile. */
        if (retry_after_s > wait)
            wait = retry_after_s;
        if (pause_or_stop(l, wait))
            break;
    }
    if (atomic_load(&l->leading))
        release(l);
    atomic_store(&l->leading, 0);
    return NULL;
}

struct ambd_leader *ambd_leader_start(const struct ambd_store *store,
                                      const struct ambd_leader_options *o)
{
    struct ambd_leader *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->store = store;
    l->o = *o;
    l->name = strdup(o->name);
    l->namespace = strdup(o->namespace);
    l->identity = strdup(o->identity);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    if (!l->name || !l->namespace || !l->identity || pthread_create(&l->thread, NULL, run, l)) {
        free(l->name);
        free(l->namespace);
        free(l->identity);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->wake);
        free(l);
        return NULL;
    }
    return l;
}

void ambd_leader_stop(struct ambd_leader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stopping = 1;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l->observed_record);
    free(l->name);
    free(l->namespace);
    free(l->identity);
    free(l);
}

int ambd_leader_is_leader(const struct ambd_leader *l) { return l && atomic_load(&l->leading); }
