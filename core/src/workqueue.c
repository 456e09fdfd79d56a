/* workqueue.c — the reconcile work queue (see workqueue-internal.h).
 *
 * One entry per key that has any state (waiting, processing, delayed or
 * failed), found through the string map and freed as soon as it has none,
 * so memory follows the number of live keys. Ready entries form an
 * intrusive FIFO; delayed ones a binary min-heap on (ready time, sequence).
 * There is no timer thread: a getter with nothing ready sleeps on the
 * condvar until the heap's earliest time and moves due entries itself.
 * A held entry (hold_ns in the future) goes to the heap at that time
 * whenever it would otherwise become ready. */
#include "workqueue-internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ambient/plugin.h"
#include "log-internal.h"
#include "strmap-internal.h"

#define DEFAULT_BASE_DELAY_MS 5u
#define DEFAULT_MAX_DELAY_MS (1000u * 1000u)
#define NOT_IN_HEAP SIZE_MAX
#define NS_PER_MS 1000000u
#define NS_PER_S 1000000000u
/* A getter waiting for a far-off delayed key wakes this often anyway, which
 * keeps the absolute deadline well inside any time_t. */
#define MAX_SLEEP_NS (3600ull * NS_PER_S)

struct wq_entry {
    struct wq_entry *next;  /* next on the ready FIFO */
    uint64_t ready_ns; /* CLOCK_MONOTONIC; meaningful while in the heap */
    uint64_t seq;      /* keeps equal ready times in insertion order */
    uint64_t hold_ns;  /* CLOCK_MONOTONIC; not ready before it (0: no hold) */
    size_t heap_pos;   /* NOT_IN_HEAP unless delayed */
    unsigned failures;
    /* client-go's two sets. On the FIFO exactly when dirty && !processing. */
    unsigned dirty : 1;
    unsigned processing : 1;
    char key[];
};

struct ambd_workqueue {
    pthread_mutex_t lock;
    /* Signalled when a key becomes ready, when the heap's earliest time
     * moves earlier, and broadcast at shutdown. */
    pthread_cond_t cond;
    uint64_t base_ms;
    uint64_t max_ms;

    struct ambd_strmap entries; /* key -> struct wq_entry * */

    struct wq_entry *head;
    struct wq_entry *tail;
    size_t n_ready;

    struct wq_entry **heap;
    size_t n_heap;
    size_t cap_heap;
    uint64_t next_seq;

    unsigned waiters;       /* getters blocked on cond */
    /* Signals sent that no waiter has woken from yet: a burst of adds wakes
     * as many getters as are asleep, not one signal (and context switch)
     * per key. It can only undercount (a timed-out waiter takes one), which
     * costs a spare signal, never a missed wake-up. */
    unsigned wakeups;
    unsigned timed_waiters; /* of those, sleeping until the heap's top */
    /* Set while ambd_workqueue_add_quiet holds the lock: a key made ready
     * wakes nobody; ambd_workqueue_wake does, once for the burst. */
    unsigned quiet : 1;
    int shutting_down;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The key's entry; created (with no state) when create is set. NULL when
 * absent or on OOM. */
static struct wq_entry *entry_find(struct ambd_workqueue *q, const char *key, int create)
{
    struct wq_entry *e = ambd_strmap_get(&q->entries, key);
    if (e || !create)
        return e;
    size_t len = strlen(key);
    if (!(e = malloc(sizeof *e + len + 1)))
        return NULL;
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, len + 1);
    e->heap_pos = NOT_IN_HEAP;
    if (ambd_strmap_put(&q->entries, key, e, NULL) != AMB_OK) {
        free(e);
        return NULL;
    }
    return e;
}

/* Frees e once nothing refers to it, so a key that was processed and
 * forgotten costs nothing. */
static void entry_release_if_idle(struct ambd_workqueue *q, struct wq_entry *e)
{
    if (e->dirty || e->processing || e->heap_pos != NOT_IN_HEAP || e->failures)
        return;
    ambd_strmap_remove(&q->entries, e->key);
    free(e);
}

static void wake_one(struct ambd_workqueue *q)
{
    if (q->waiters > q->wakeups) {
        q->wakeups++;
        pthread_cond_signal(&q->cond);
    }
}

static void fifo_push(struct ambd_workqueue *q, struct wq_entry *e)
{
    e->next = NULL;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->n_ready++;
    if (!q->quiet)
        wake_one(q);
}

static struct wq_entry *fifo_pop(struct ambd_workqueue *q)
{
    struct wq_entry *e = q->head;
    q->head = e->next;
    if (!q->head)
        q->tail = NULL;
    e->next = NULL;
    q->n_ready--;
    return e;
}

/* client-go's Add on the entry. */
static void mark_dirty(struct ambd_workqueue *q, struct wq_entry *e)
{
    if (e->dirty)
        return; /* already waiting: coalesce */
    e->dirty = 1;
    if (e->processing)
        return; /* done() queues it, so no two workers hold it at once */
    fifo_push(q, e);
}

static int heap_less(const struct wq_entry *a, const struct wq_entry *b)
{
    return a->ready_ns < b->ready_ns || (a->ready_ns == b->ready_ns && a->seq < b->seq);
}

static void heap_place(struct ambd_workqueue *q, size_t i, struct wq_entry *e)
{
    q->heap[i] = e;
    e->heap_pos = i;
}

static void heap_sift_up(struct ambd_workqueue *q, size_t i)
{
    struct wq_entry *e = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(e, q->heap[parent]))
            break;
        heap_place(q, i, q->heap[parent]);
        i = parent;
    }
    heap_place(q, i, e);
}

static void heap_sift_down(struct ambd_workqueue *q, size_t i)
{
    struct wq_entry *e = q->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->n_heap)
            break;
        if (child + 1 < q->n_heap && heap_less(q->heap[child + 1], q->heap[child]))
            child++;
        if (!heap_less(q->heap[child], e))
            break;
        heap_place(q, i, q->heap[child]);
        i = child;
    }
    heap_place(q, i, e);
}

static int heap_push(struct ambd_workqueue *q, struct wq_entry *e)
{
    if (q->n_heap == q->cap_heap) {
        size_t cap = q->cap_heap ? q->cap_heap * 2 : 16;
        if (cap > SIZE_MAX / sizeof *q->heap)
            return -1;
        struct wq_entry **h = realloc(q->heap, cap * sizeof *h);
        if (!h)
            return -1;
        q->heap = h;
        q->cap_heap = cap;
    }
    heap_place(q, q->n_heap++, e);
    heap_sift_up(q, e->heap_pos);
    return 0;
}

static struct wq_entry *heap_pop(struct ambd_workqueue *q)
{
    struct wq_entry *top = q->heap[0];
    struct wq_entry *last = q->heap[--q->n_heap];
    if (q->n_heap > 0) {
        heap_place(q, 0, last);
        heap_sift_down(q, 0);
    }
    top->heap_pos = NOT_IN_HEAP;
    return top;
}

/* Moves every delayed entry whose time has come onto the FIFO. */
static void promote_due(struct ambd_workqueue *q, uint64_t now)
{
    while (q->n_heap > 0 && q->heap[0]->ready_ns <= now)
        mark_dirty(q, heap_pop(q));
}

static uint64_t after_ms(uint64_t now, uint64_t delay_ms)
{
    return delay_ms <= (UINT64_MAX - now) / NS_PER_MS ? now + delay_ms * NS_PER_MS : UINT64_MAX;
}

/* Makes e ready at `ready` (or at the end of its hold, if later): at once
 * when that is not after now, else in the heap. Returns -1 when the heap
 * could not grow; the key is then added at once, because reconciling early
 * is harmless and never reconciling is not. */
static int add_at_locked(struct ambd_workqueue *q, struct wq_entry *e, uint64_t ready,
                         uint64_t now)
{
    if (e->hold_ns <= now)
        e->hold_ns = 0; /* over */
    else if (ready < e->hold_ns)
        ready = e->hold_ns;
    if (ready <= now) {
        mark_dirty(q, e);
        return 0;
    }
    if (e->heap_pos != NOT_IN_HEAP) {
        if (ready >= e->ready_ns)
            return 0; /* the earlier time stands, as in client-go */
        e->ready_ns = ready;
        heap_sift_up(q, e->heap_pos);
    } else {
        e->ready_ns = ready;
        e->seq = q->next_seq++;
        if (heap_push(q, e) < 0) {
            mark_dirty(q, e);
            return -1;
        }
    }
    /* A getter may be sleeping until a later time, or with no timeout. */
    if (e->heap_pos == 0 && q->waiters)
        pthread_cond_signal(&q->cond);
    return 0;
}

static int add_after_locked(struct ambd_workqueue *q, struct wq_entry *e, uint64_t delay_ms)
{
    if (delay_ms == 0 && !e->hold_ns) {
        mark_dirty(q, e);
        return 0;
    }
    uint64_t now = now_ns();
    return add_at_locked(q, e, after_ms(now, delay_ms), now);
}

static void log_oom(const char *what, const char *key)
{
    ambd_log("workqueue", AMB_LOG_ERROR, what, "key", key, NULL);
}

struct ambd_workqueue *ambd_workqueue_new(const struct ambd_workqueue_options *opts)
{
    struct ambd_workqueue *q = calloc(1, sizeof *q);
    pthread_condattr_t attr;
    int have_attr = 0, have_lock = 0;
    if (!q)
        return NULL;
    q->base_ms = opts && opts->base_delay_ms ? opts->base_delay_ms : DEFAULT_BASE_DELAY_MS;
    q->max_ms = opts && opts->max_delay_ms ? opts->max_delay_ms : DEFAULT_MAX_DELAY_MS;
    ambd_strmap_init(&q->entries);
    /* Adaptive: a thread finding the lock held spins a little before it
     * sleeps. Every hold is short, and the loop thread adding a burst's
     * keys slept (a futex round trip, and its CPU idle) whenever a worker
     * held it. */
    pthread_mutexattr_t mattr;
    if (pthread_mutexattr_init(&mattr) != 0)
        goto fail;
    pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_ADAPTIVE_NP);
    int locked = pthread_mutex_init(&q->lock, &mattr);
    pthread_mutexattr_destroy(&mattr);
    if (locked != 0)
        goto fail;
    have_lock = 1;
    if (pthread_condattr_init(&attr) != 0)
        goto fail;
    have_attr = 1;
    /* Delays must not jump with the wall clock. */
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&q->cond, &attr) != 0)
        goto fail;
    pthread_condattr_destroy(&attr);
    return q;
fail:
    if (have_attr)
        pthread_condattr_destroy(&attr);
    if (have_lock)
        pthread_mutex_destroy(&q->lock);
    free(q);
    return NULL;
}

void ambd_workqueue_free(struct ambd_workqueue *q)
{
    if (!q)
        return;
    ambd_strmap_clear(&q->entries, free);
    free(q->heap);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static void add_now(struct ambd_workqueue *q, const char *key, int quiet)
{
    const char *oom = NULL;
    pthread_mutex_lock(&q->lock);
    if (!q->shutting_down) {
        struct wq_entry *e = entry_find(q, key, 1);
        q->quiet = quiet ? 1 : 0;
        if (!e)
            oom = "out of memory; key dropped";
        else if (add_after_locked(q, e, 0) < 0)
            oom = "out of memory; key added without its hold";
        q->quiet = 0;
    }
    pthread_mutex_unlock(&q->lock);
    if (oom)
        log_oom(oom, key);
}

void ambd_workqueue_add(struct ambd_workqueue *q, const char *key) { add_now(q, key, 0); }

void ambd_workqueue_add_quiet(struct ambd_workqueue *q, const char *key) { add_now(q, key, 1); }

void ambd_workqueue_wake(struct ambd_workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->wakeups < q->n_ready && q->waiters > q->wakeups)
        wake_one(q);
    pthread_mutex_unlock(&q->lock);
}

void ambd_workqueue_add_after(struct ambd_workqueue *q, const char *key, uint64_t delay_ms)
{
    const char *oom = NULL;
    pthread_mutex_lock(&q->lock);
    if (!q->shutting_down) {
        struct wq_entry *e = entry_find(q, key, 1);
        if (!e)
            oom = "out of memory; key dropped";
        else if (add_after_locked(q, e, delay_ms) < 0)
            oom = "out of memory; key added without its delay";
    }
    pthread_mutex_unlock(&q->lock);
    if (oom)
        log_oom(oom, key);
}

/* base << failures overflows long before failures gets large; anything past
 * the cap is the cap. */
static uint64_t backoff_ms(const struct ambd_workqueue *q, unsigned failures)
{
    if (failures >= 64 || q->base_ms > (q->max_ms >> failures))
        return q->max_ms;
    return q->base_ms << failures;
}

void ambd_workqueue_add_rate_limited(struct ambd_workqueue *q, const char *key)
{
    const char *oom = NULL;
    pthread_mutex_lock(&q->lock);
    if (!q->shutting_down) {
        struct wq_entry *e = entry_find(q, key, 1);
        if (!e) {
            oom = "out of memory; key dropped";
        } else {
            uint64_t delay = backoff_ms(q, e->failures);
            if (e->failures < (unsigned)-1)
                e->failures++;
            if (add_after_locked(q, e, delay) < 0)
                oom = "out of memory; key added without its delay";
        }
    }
    pthread_mutex_unlock(&q->lock);
    if (oom)
        log_oom(oom, key);
}

void ambd_workqueue_hold(struct ambd_workqueue *q, const char *key, uint64_t delay_ms)
{
    pthread_mutex_lock(&q->lock);
    struct wq_entry *e = entry_find(q, key, 0);
    if (e && delay_ms > 0) {
        uint64_t until = after_ms(now_ns(), delay_ms);
        if (until > e->hold_ns)
            e->hold_ns = until;
        /* A delayed add due sooner moves to the end of the hold. */
        if (e->heap_pos != NOT_IN_HEAP && e->ready_ns < e->hold_ns) {
            e->ready_ns = e->hold_ns;
            heap_sift_down(q, e->heap_pos);
        }
    }
    pthread_mutex_unlock(&q->lock);
}

void ambd_workqueue_forget(struct ambd_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    struct wq_entry *e = entry_find(q, key, 0);
    if (e) {
        e->failures = 0;
        entry_release_if_idle(q, e);
    }
    pthread_mutex_unlock(&q->lock);
}

unsigned ambd_workqueue_failures(struct ambd_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    struct wq_entry *e = entry_find(q, key, 0);
    unsigned n = e ? e->failures : 0;
    pthread_mutex_unlock(&q->lock);
    return n;
}

int ambd_workqueue_get(struct ambd_workqueue *q, char **key)
{
    int rc = AMB_OK;
    *key = NULL;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->shutting_down) {
            rc = AMB_ESTATE;
            goto out;
        }
        uint64_t now = q->n_heap ? now_ns() : 0;
        promote_due(q, now);
        if (q->head)
            break;
        q->waiters++;
        if (q->n_heap) {
            uint64_t until = q->heap[0]->ready_ns;
            if (until - now > MAX_SLEEP_NS)
                until = now + MAX_SLEEP_NS;
            struct timespec ts = {.tv_sec = (time_t)(until / NS_PER_S),
                                  .tv_nsec = (long)(until % NS_PER_S)};
            q->timed_waiters++;
            pthread_cond_timedwait(&q->cond, &q->lock, &ts);
            q->timed_waiters--;
        } else {
            pthread_cond_wait(&q->cond, &q->lock);
        }
        q->waiters--;
        if (q->wakeups)
            q->wakeups--;
    }
    /* Copy before unlinking so OOM leaves the queue as it was. */
    char *copy = strdup(q->head->key);
    if (!copy) {
        rc = AMB_ENOMEM;
        goto out;
    }
    struct wq_entry *e = fifo_pop(q);
    e->dirty = 0;
    e->processing = 1;
    *key = copy;
    /* Pass the baton: a waiter must take the next ready key or, when none is
     * ready, sleep until the earliest delayed one unless someone already
     * does; this getter may have been the one doing so. */
    if (q->head || (q->n_heap && !q->timed_waiters))
        wake_one(q);
out:
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static void finish(struct ambd_workqueue *q, const char *key, int forget)
{
    int oom = 0;
    pthread_mutex_lock(&q->lock);
    struct wq_entry *e = entry_find(q, key, 0);
    if (e && forget)
        e->failures = 0;
    if (e && e->processing) {
        e->processing = 0;
        if (q->shutting_down) {
            e->dirty = 0;
        } else if (e->dirty && e->hold_ns) {
            /* Added while processing, but held: it waits in the heap. */
            e->dirty = 0;
            if (add_after_locked(q, e, 0) < 0)
                oom = 1;
        } else if (e->dirty) {
            fifo_push(q, e);
        }
    }
    if (e)
        entry_release_if_idle(q, e);
    pthread_mutex_unlock(&q->lock);
    if (oom)
        log_oom("out of memory; key added without its hold", key);
}

void ambd_workqueue_done(struct ambd_workqueue *q, const char *key) { finish(q, key, 0); }

void ambd_workqueue_done_forget(struct ambd_workqueue *q, const char *key) { finish(q, key, 1); }

void ambd_workqueue_shutdown(struct ambd_workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    if (q->shutting_down)
        goto out;
    q->shutting_down = 1;
    while (q->head) {
        struct wq_entry *e = fifo_pop(q);
        e->dirty = 0;
        entry_release_if_idle(q, e);
    }
    /* Mark every delayed entry out of the heap before releasing any, since
     * release looks at heap_pos. */
    size_t n = q->n_heap;
    for (size_t i = 0; i < n; i++)
        q->heap[i]->heap_pos = NOT_IN_HEAP;
    q->n_heap = 0;
    for (size_t i = 0; i < n; i++)
        entry_release_if_idle(q, q->heap[i]);
    free(q->heap);
    q->heap = NULL;
    q->cap_heap = 0;
    pthread_cond_broadcast(&q->cond);
out:
    pthread_mutex_unlock(&q->lock);
}

size_t ambd_workqueue_len(struct ambd_workqueue *q)
{
    pthread_mutex_lock(&q->lock);
    /* Due delayed keys count as ready even if no getter has woken yet. */
    if (q->n_heap)
        promote_due(q, now_ns());
    size_t n = q->n_ready;
    pthread_mutex_unlock(&q->lock);
    return n;
}
