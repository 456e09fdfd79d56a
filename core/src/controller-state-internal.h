/* controller-state-internal.h — the controller's state, shared by its
 * files (controller.c: lifecycle, events, workers; controller_http.c:
 * metrics and probes; controller_host.c: the plugins' Kubernetes calls). */
#ifndef AMBD_CONTROLLER_STATE_INTERNAL_H
#define AMBD_CONTROLLER_STATE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <event2/http.h>

#include "controller-internal.h"
#include "informer-internal.h"
#include "kube-store-internal.h"
#include "leader-internal.h"
#include "metrics-internal.h"
#include "strmap-internal.h"
#include "workqueue-internal.h"

/* Distinct phases counted per kind; more are counted as "other" (a
 * misbehaving writer must not grow the metrics without bound). */
#define AMBD_MAX_PHASES 16

/* A registered kind and the informer of its objects. */
struct ambd_ctl_kind {
    struct ambd_controller *ctl;
    size_t index;
    const struct ambd_kind_entry *entry; /* borrowed from the registry */
    struct ambd_informer *informer;
    char **seen_phases; /* every phase ever reported, so a gauge can drop to 0 */
    size_t n_seen_phases;
    /* "ns/name" -> what controller_usage.c last saw of the object, its
     * phase among it (ambient_objects), kept by the informer's events on
     * the loop thread. */
    struct ambd_strmap accounts;
};

/* A child resource (owned by one or more kinds), watched by our label. */
struct ambd_ctl_child {
    struct ambd_informer *informer;
};

struct ambd_controller {
    struct event_base *base;
    const struct ambd_controller_config *cc;
    struct ambd_kube *kube;
    struct ambd_kube_loop *loop;
    struct ambd_store store; /* what informers, leases and plugins go through */

    struct ambd_ctl_kind *kinds;
    size_t n_kinds;
    struct ambd_ctl_child *children;
    size_t n_children;

    struct ambd_workqueue *queue;
    pthread_t *workers;
    size_t n_workers;
    pthread_mutex_t workers_lock; /* guards starting/stopping workers */
    atomic_int leading;
    atomic_int failed;
    struct event *lost_leadership; /* wakes the loop to exit (from the leader thread) */
    /* Wakes the workers once the loop is done with a burst of informer
     * events (controller.c, enqueue); quiet_adds counts the burst's keys. */
    struct event *wake_workers;
    unsigned quiet_adds;
    struct ambd_leader *leader;
    char *identity;

    struct evhttp *http;
    struct ambd_metrics *metrics;
    struct ambd_metric *m_reconciles, *m_reconcile_errors, *m_reconcile_seconds;
    struct ambd_metric *m_api_requests, *m_api_throttled;
    struct ambd_metric *m_watch_restarts, *m_leader, *m_cache_objects;
    struct ambd_metric *m_objects; /* by kind and status.phase */
    /* controller_usage.c */
    struct ambd_metric *m_project_objects, *m_transitions, *m_run_seconds, *m_tokens, *m_cost;
    unsigned long *last_watches; /* per informer, for watch restart counting */
};

/* The context a kind callback receives (struct amb_ctx of the ABI): either
 * a reconcile's (ctl set: caches, status writes, requeue), or one made by
 * host->ctx_new for calls on a caller's behalf (ctl NULL: every call goes to
 * the API with the caller's token through `direct`). */
struct amb_ctx {
    struct ambd_controller *ctl;
    size_t kind;        /* index into ctl->kinds */
    const char *ns;     /* of the object being reconciled ("" if cluster-scoped) */
    const char *name;
    struct ambd_store direct; /* ctx_new's: the API as the caller */
    char *token;              /* ctx_new's: the caller's token; NULL = ours */
};

/* The store a context's Kubernetes calls go through; NULL for a context
 * that cannot make them. */
const struct ambd_store *ambd_ctx_store(struct amb_ctx *ctx);

/* Work queue keys are "<kind index>|<namespace>/<name>". */
char *ambd_ctl_key(size_t kind, const char *ns, const char *name);

/* The informer whose cache holds res, and whether that cache holds every
 * object of it (a primary kind) or only ours (a child). NULL if none. */
struct ambd_informer *ambd_ctl_informer_for(struct ambd_controller *c,
                                            const struct amb_resource *res, int *complete);
/* Index of the registered kind for res, or -1. */
long ambd_ctl_kind_index(const struct ambd_controller *c, const struct amb_resource *res);

/* Follows obj's phase for ambient_objects (loop thread). */
void ambd_ctl_track_phase(struct ambd_ctl_kind *k, enum ambd_event_type type, const json_t *obj);
void ambd_ctl_phases_clear(struct ambd_ctl_kind *k);

/* controller_usage.c: the business metrics (loop thread). phase is obj's
 * counted phase, NULL when it is gone (or out of memory). */
int ambd_ctl_usage_metrics_init(struct ambd_controller *c);
void ambd_ctl_track_usage(struct ambd_ctl_kind *k, enum ambd_event_type type, const json_t *obj,
                          const char *key, const char *phase);
/* The counted phase of an account (a value of k->accounts). */
const char *ambd_ctl_account_phase(const void *account);

/* controller_http.c */
int ambd_ctl_http_start(struct ambd_controller *c, struct amb_error *err);
int ambd_ctl_metrics_init(struct ambd_controller *c);

#endif
