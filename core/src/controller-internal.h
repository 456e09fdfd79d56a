/* controller-internal.h — the controller role: informers for every
 * registered kind and its children, one work queue, a pool of reconcile
 * workers that run only while this replica leads, and the /metrics,
 * /healthz and /readyz endpoints. Configured by the `kube` and `controller`
 * groups of ambient.conf. */
#ifndef AMBD_CONTROLLER_INTERNAL_H
#define AMBD_CONTROLLER_INTERNAL_H

#include <event2/event.h>

#include "config-internal.h"
#include "kube-internal.h"
#include "registry-internal.h"

struct ambd_controller_config {
    int enabled;
    unsigned workers;
    unsigned list_page_size; /* objects per page of an informer's list */
    int leader_election;
    char *listen; /* "host:port" */
    char *lease_name;
    char *lease_namespace;
    unsigned lease_duration_s, renew_deadline_s, retry_period_s;
    struct ambd_kube_config kube;
    int kube_ready; /* kube holds a usable API server (a kube group, or in a cluster) */
};

/* Reads the kube and controller groups (absent: controller disabled). The
 * kube settings are resolved (in-cluster defaults filled) whenever the
 * controller is on, the kube group is present, or ambientd runs in a
 * cluster, because the api role calls the API too.
 * Unknown keys and bad values are reported with file and line. */
int ambd_controller_config_load(const struct ambd_config *c, struct ambd_controller_config *out,
                                struct amb_error *err);
void ambd_controller_config_clear(struct ambd_controller_config *cc);

struct ambd_controller;

/* Starts the role on base (main thread): binds the listener, starts the
 * informers, leader election and (once leading) the workers. */
int ambd_controller_start(struct event_base *base, const struct ambd_controller_config *cc,
                          const struct ambd_registry *registry, struct ambd_controller **out,
                          struct amb_error *err);
/* Stops workers (in-flight reconciles finish), leader election (releasing
 * the lease), informers and the listener. */
void ambd_controller_stop(struct ambd_controller *c);
/* Non-zero once the controller asked the daemon to exit (lost leadership). */
int ambd_controller_failed(const struct ambd_controller *c);

/* "host:port" or "[v6]:port" -> host and port; -1 if malformed. */
int ambd_split_listen(const char *listen, char *host, size_t host_len, unsigned short *port);

/* The host table's 1.1 members (controller_host.c). */
void ambd_controller_fill_host(struct amb_host *h);

#endif
