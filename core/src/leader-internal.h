/* leader-internal.h — leader election on a coordination.k8s.io/v1 Lease,
 * as client-go does it: every retry period, create or renew the Lease with
 * our identity (resourceVersion as the optimistic lock); another holder's
 * lease counts as live while its record keeps changing within the lease
 * duration, measured by our own clock. A round the server throttled
 * (Retry-After) waits that long instead of the retry period if it is
 * longer. Runs on its own thread with blocking calls; the callbacks are
 * called on that thread. */
#ifndef AMBD_LEADER_INTERNAL_H
#define AMBD_LEADER_INTERNAL_H

#include "store-internal.h"

struct ambd_leader_options {
    const char *name;      /* Lease name */
    const char *namespace; /* Lease namespace */
    const char *identity;  /* this replica */
    unsigned duration_s;       /* 15 */
    unsigned renew_deadline_s; /* 10 */
    unsigned retry_period_s;   /* 2 */
    void (*on_started)(void *ud); /* became leader */
    void (*on_stopped)(void *ud); /* could not renew within the deadline */
    void *ud;
};

struct ambd_leader;

/* Checks duration > renew_deadline > 1.2 x retry_period. */
int ambd_leader_check(const struct ambd_leader_options *o, struct amb_error *err);
/* store is borrowed and must outlive the leader. */
struct ambd_leader *ambd_leader_start(const struct ambd_store *store,
                                      const struct ambd_leader_options *o);
/* Stops the thread; a leader releases the Lease so a standby takes over at
 * once. */
void ambd_leader_stop(struct ambd_leader *l);
int ambd_leader_is_leader(const struct ambd_leader *l);

#endif
