/* workqueue-internal.h — the queue of object keys ("namespace/name") that
 * feeds reconcile workers, with client-go's workqueue semantics: a key is
 * never handed to two workers at once, re-adds while waiting coalesce, adds
 * while processing re-queue the key when it is done, delayed adds keep the
 * earliest ready time, and failures back off exponentially per key. A key
 * can also be held (ambd_workqueue_hold): not handed out before a time,
 * whatever adds it meanwhile.
 *
 * Every function except ambd_workqueue_new and ambd_workqueue_free may be
 * called from any thread at any time. Keys are borrowed for the duration of
 * a call and copied when kept; the queue never calls out while locked. */
#ifndef AMBD_WORKQUEUE_INTERNAL_H
#define AMBD_WORKQUEUE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Per-key exponential backoff of add_rate_limited: base * 2^failures, capped
 * at max. A zero field takes its default. */
struct ambd_workqueue_options {
    uint32_t base_delay_ms; /* 5 */
    uint32_t max_delay_ms;  /* 1000 s */
};

struct ambd_workqueue;

/* NULL opts = defaults; NULL on OOM. Called by the owner before any worker
 * starts. */
struct ambd_workqueue *ambd_workqueue_new(const struct ambd_workqueue_options *opts);
/* After shutdown and once every worker has returned from get and done;
 * releases everything the queue holds. NULL is a no-op. */
void ambd_workqueue_free(struct ambd_workqueue *q);

/* Queues key unless it is already waiting (coalesced); if a worker is
 * processing it, it is queued again when that worker calls done. Ignored
 * after shutdown. On OOM the add is dropped and logged. Any thread. */
void ambd_workqueue_add(struct ambd_workqueue *q, const char *key);
/* add that wakes no worker, for a burst of adds (a received chunk of watch
 * events): one ambd_workqueue_wake after the burst wakes as many sleeping
 * workers as there are ready keys, instead of a wake-up (and a context
 * switch) per key. The caller must call ambd_workqueue_wake after it, or
 * the keys wait for the next wake. Any thread. */
void ambd_workqueue_add_quiet(struct ambd_workqueue *q, const char *key);
void ambd_workqueue_wake(struct ambd_workqueue *q);
/* add once delay_ms has passed (CLOCK_MONOTONIC). A key already waiting for
 * a delay keeps the earlier of its two ready times. 0 == add; on OOM the
 * delay is skipped rather than the key dropped. Any thread. */
void ambd_workqueue_add_after(struct ambd_workqueue *q, const char *key, uint64_t delay_ms);
/* add_after with delay = base * 2^failures capped at max, then failures++
 * (client-go's ItemExponentialFailureRateLimiter). Any thread. */
void ambd_workqueue_add_rate_limited(struct ambd_workqueue *q, const char *key);
/* Holds key for delay_ms (CLOCK_MONOTONIC from now): until then no add of
 * any kind makes it ready; each waits for the end of the hold instead, as
 * does a delayed add due sooner and a re-add at done. A longer hold already
 * set stands. For the key a worker is processing (the API server asked it to
 * wait: Retry-After), called before it adds the key back; it holds only a
 * key the queue has state for, and not one already in the ready list. Any
 * thread. */
void ambd_workqueue_hold(struct ambd_workqueue *q, const char *key, uint64_t delay_ms);
/* Resets the key's failure count (call after a successful reconcile). Does
 * not cancel a pending delayed add. Any thread. */
void ambd_workqueue_forget(struct ambd_workqueue *q, const char *key);
/* Consecutive add_rate_limited calls since the last forget. Any thread. */
unsigned ambd_workqueue_failures(struct ambd_workqueue *q, const char *key);

/* Worker threads: blocks until a key is ready, then hands it out and marks
 * it processing. Returns 0 with *key set (owned by the caller: free() it
 * after calling done), AMB_ESTATE once shut down (also waking a blocked
 * call), or AMB_ENOMEM with the key left queued. */
int ambd_workqueue_get(struct ambd_workqueue *q, char **key);
/* Worker threads: the key handed out by get is finished; if it was added
 * meanwhile it is queued again. key is borrowed (the string from get). */
void ambd_workqueue_done(struct ambd_workqueue *q, const char *key);
/* Worker threads: forget, then done, under one lock: the end of a
 * successful reconcile, the common case. */
void ambd_workqueue_done_forget(struct ambd_workqueue *q, const char *key);
/* Any thread, once: wakes every getter; later gets return AMB_ESTATE, later
 * adds are ignored, ready and delayed items are dropped. Workers still
 * processing a key should call done as usual. */
void ambd_workqueue_shutdown(struct ambd_workqueue *q);
/* Ready items waiting, not counting delayed or processing ones (the queue
 * depth metric). Any thread. */
size_t ambd_workqueue_len(struct ambd_workqueue *q);

#endif
