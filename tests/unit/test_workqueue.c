/* test_workqueue.c — the reconcile work queue: coalescing, dirty-while-
 * processing, FIFO order, exclusivity under concurrency, delays, per-key
 * backoff, holds (a key throttled by the API server), shutdown, and a
 * throughput loop. Timing checks assert only lower
 * bounds (delays are never early) or bounds far above the expected value. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ambient/plugin.h"
#include "testutil.h"
#include "workqueue-internal.h"

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Gets a key and checks it is the expected one; done is left to the caller. */
static void expect_get(struct ambd_workqueue *q, const char *want)
{
    char *key = NULL;
    assert_int_equal(ambd_workqueue_get(q, &key), AMB_OK);
    assert_non_null(key);
    assert_string_equal(key, want);
    free(key);
}

static void get_done(struct ambd_workqueue *q, const char *want)
{
    expect_get(q, want);
    ambd_workqueue_done(q, want);
}

static void readds_of_a_waiting_key_coalesce(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    ambd_workqueue_add(q, "ns/a");
    ambd_workqueue_add(q, "ns/b");
    ambd_workqueue_add(q, "ns/a");
    ambd_workqueue_add(q, "ns/a");
    assert_int_equal(ambd_workqueue_len(q), 2);
    get_done(q, "ns/a");
    get_done(q, "ns/b");
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_done(q, "ns/unknown"); /* harmless */
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

static void distinct_keys_come_out_in_fifo_order(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    const char *keys[] = {"ns/c", "ns/a", "other/b", "ns/z", "ns/d"};
    for (size_t i = 0; i < 5; i++)
        ambd_workqueue_add(q, keys[i]);
    ambd_workqueue_add(q, "ns/a"); /* coalesced: keeps its first place */
    for (size_t i = 0; i < 5; i++)
        get_done(q, keys[i]);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

struct getter {
    pthread_t thread;
    struct ambd_workqueue *q;
    atomic_int returned;
    int rc;
    char *key;
};

static void *getter_main(void *arg)
{
    struct getter *g = arg;
    g->rc = ambd_workqueue_get(g->q, &g->key);
    atomic_store(&g->returned, 1);
    return NULL;
}

static void getter_start(struct getter *g, struct ambd_workqueue *q)
{
    memset(g, 0, sizeof *g);
    g->q = q;
    atomic_init(&g->returned, 0);
    assert_int_equal(pthread_create(&g->thread, NULL, getter_main, g), 0);
}

static void dirty_while_processing_is_requeued_at_done(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    ambd_workqueue_add(q, "ns/a");
    expect_get(q, "ns/a");
    ambd_workqueue_add(q, "ns/a");
    ambd_workqueue_add(q, "ns/a");
    /* Not queued while a worker holds it. */
    assert_int_equal(ambd_workqueue_len(q), 0);

    struct getter g;
    getter_start(&g, q);
    sleep_ms(50);
    assert_int_equal(atomic_load(&g.returned), 0);
    ambd_workqueue_done(q, "ns/a");
    assert_int_equal(pthread_join(g.thread, NULL), 0);
    assert_int_equal(g.rc, AMB_OK);
    assert_string_equal(g.key, "ns/a");
    free(g.key);
    /* The two adds collapsed into one more run. */
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_done(q, "ns/a");
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

#define N_KEYS 500
#define N_ADDS 10000
#define N_WORKERS 4
#define N_PRODUCERS 2

struct stress {
    struct ambd_workqueue *q;
    atomic_int in_flight[N_KEYS];
    atomic_uint added[N_KEYS];     /* bumped before each add */
    atomic_uint seen[N_KEYS];      /* added[] as read when processing began */
    atomic_int overlaps;
    atomic_uint processed;
    unsigned producer_seed[N_PRODUCERS];
};

static void *stress_worker(void *arg)
{
    struct stress *s = arg;
    char *key;
    while (ambd_workqueue_get(s->q, &key) == AMB_OK) {
        int i = atoi(key + 2);
        if (atomic_fetch_add(&s->in_flight[i], 1) != 0)
            atomic_fetch_add(&s->overlaps, 1);
        atomic_store(&s->seen[i], atomic_load(&s->added[i]));
        for (volatile int spin = 0; spin < 200; spin++)
            ; /* a little work, so runs overlap */
        if ((atomic_fetch_add(&s->processed, 1) & 7) == 0)
            sched_yield();
        atomic_fetch_sub(&s->in_flight[i], 1);
        ambd_workqueue_done(s->q, key);
        free(key);
    }
    return NULL;
}

struct producer {
    struct stress *s;
    unsigned seed;
};

static void *stress_producer(void *arg)
{
    struct producer *p = arg;
    char key[32];
    for (int n = 0; n < N_ADDS / N_PRODUCERS; n++) {
        int i = (int)(rand_r(&p->seed) % N_KEYS);
        snprintf(key, sizeof key, "k/%d", i);
        atomic_fetch_add(&p->s->added[i], 1);
        ambd_workqueue_add(p->s->q, key);
        if ((n & 63) == 0)
            sched_yield();
    }
    return NULL;
}

static void no_key_is_processed_twice_at_once(void **state)
{
    (void)state;
    struct stress *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->q = ambd_workqueue_new(NULL);
    assert_non_null(s->q);
    pthread_t workers[N_WORKERS], producers[N_PRODUCERS];
    struct producer p[N_PRODUCERS];
    for (int i = 0; i < N_WORKERS; i++)
        assert_int_equal(pthread_create(&workers[i], NULL, stress_worker, s), 0);
    for (int i = 0; i < N_PRODUCERS; i++) {
        p[i].s = s;
        p[i].seed = 1234u + (unsigned)i;
        assert_int_equal(pthread_create(&producers[i], NULL, stress_producer, &p[i]), 0);
    }
    for (int i = 0; i < N_PRODUCERS; i++)
        assert_int_equal(pthread_join(producers[i], NULL), 0);

    /* Every key must see a run that began after its last add. */
    int pending = 1;
    for (int tries = 0; pending && tries < 30000; tries++) {
        pending = 0;
        for (int i = 0; i < N_KEYS; i++) {
            if (atomic_load(&s->seen[i]) != atomic_load(&s->added[i]))
                pending = 1;
        }
        if (pending)
            sleep_ms(1);
    }
    ambd_workqueue_shutdown(s->q);
    for (int i = 0; i < N_WORKERS; i++)
        assert_int_equal(pthread_join(workers[i], NULL), 0);

    assert_int_equal(pending, 0);
    assert_int_equal(atomic_load(&s->overlaps), 0);
    unsigned total_added = 0;
    for (int i = 0; i < N_KEYS; i++)
        total_added += atomic_load(&s->added[i]);
    assert_int_equal(total_added, N_ADDS);
    unsigned processed = atomic_load(&s->processed);
    print_message("stress: %u adds over %d keys -> %u runs\n", total_added, N_KEYS, processed);
    assert_true(processed <= N_ADDS);
    ambd_workqueue_free(s->q);
    free(s);
}

static void add_after_orders_by_ready_time(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    uint64_t start = mono_ms();
    ambd_workqueue_add_after(q, "ns/late", 90);
    ambd_workqueue_add_after(q, "ns/early", 30);
    ambd_workqueue_add_after(q, "ns/middle", 60);
    assert_int_equal(ambd_workqueue_len(q), 0);
    get_done(q, "ns/early");
    assert_true(mono_ms() - start >= 30);
    get_done(q, "ns/middle");
    assert_true(mono_ms() - start >= 60);
    get_done(q, "ns/late");
    assert_true(mono_ms() - start >= 90);

    /* Zero delay is a plain add. */
    ambd_workqueue_add_after(q, "ns/now", 0);
    assert_int_equal(ambd_workqueue_len(q), 1);
    get_done(q, "ns/now");
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

static void add_after_keeps_the_earliest_time(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    uint64_t start = mono_ms();
    /* Moved earlier by the second call... */
    ambd_workqueue_add_after(q, "ns/moved", 600000);
    ambd_workqueue_add_after(q, "ns/moved", 20);
    /* ...and not moved later by it. */
    ambd_workqueue_add_after(q, "ns/kept", 40);
    ambd_workqueue_add_after(q, "ns/kept", 600000);
    get_done(q, "ns/moved");
    assert_true(mono_ms() - start >= 20);
    get_done(q, "ns/kept");
    uint64_t took = mono_ms() - start;
    assert_true(took >= 40);
    assert_true(took < 60000); /* far below the 600 s it would take if wrong */
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

static void blocked_getters_wake_for_delayed_keys(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    /* Both block with no timeout; a delayed key must wake one of them, and
     * the ready key taken by the other must not strand the delayed one. */
    struct getter g[2];
    getter_start(&g[0], q);
    getter_start(&g[1], q);
    sleep_ms(20);
    ambd_workqueue_add_after(q, "ns/delayed", 40);
    ambd_workqueue_add(q, "ns/ready");
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(g[i].thread, NULL), 0);
    assert_int_equal(g[0].rc, AMB_OK);
    assert_int_equal(g[1].rc, AMB_OK);
    int ready_first = strcmp(g[0].key, "ns/ready") == 0;
    assert_string_equal(g[ready_first ? 0 : 1].key, "ns/ready");
    assert_string_equal(g[ready_first ? 1 : 0].key, "ns/delayed");
    for (int i = 0; i < 2; i++) {
        ambd_workqueue_done(q, g[i].key);
        free(g[i].key);
    }
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

static void rate_limit_doubles_and_caps(void **state)
{
    (void)state;
    struct ambd_workqueue_options opts = {.base_delay_ms = 25, .max_delay_ms = 150};
    struct ambd_workqueue *q = ambd_workqueue_new(&opts);
    assert_non_null(q);
    /* Give key fN N failures; the repeated calls leave one delayed add at
     * the first (shortest) delay, which we drain. */
    const char *keys[] = {"k/f0", "k/f1", "k/f2", "k/f3", "k/f4"};
    for (unsigned f = 1; f < 5; f++) {
        for (unsigned n = 0; n < f; n++)
            ambd_workqueue_add_rate_limited(q, keys[f]);
    }
    for (unsigned f = 0; f < 5; f++)
        assert_int_equal(ambd_workqueue_failures(q, keys[f]), f);
    for (int n = 0; n < 4; n++) {
        char *key;
        assert_int_equal(ambd_workqueue_get(q, &key), AMB_OK);
        ambd_workqueue_done(q, key);
        free(key);
    }

    /* Delays are 25, 50, 100, then 200 and 400 capped to 150. Added in
     * reverse so only the delays can produce the expected order; the two
     * capped keys share a delay and so keep their add order. */
    uint64_t start = mono_ms();
    for (int f = 4; f >= 0; f--)
        ambd_workqueue_add_rate_limited(q, keys[f]);
    const char *order[] = {"k/f0", "k/f1", "k/f2", "k/f4", "k/f3"};
    const uint64_t min_ms[] = {25, 50, 100, 150, 150};
    for (int i = 0; i < 5; i++) {
        get_done(q, order[i]);
        assert_true(mono_ms() - start >= min_ms[i]);
    }
    assert_true(mono_ms() - start < 60000);
    for (unsigned f = 0; f < 5; f++)
        assert_int_equal(ambd_workqueue_failures(q, keys[f]), f + 1);

    /* forget resets to the base delay: f4 (0 failures, 25 ms) beats f2 (3,
     * 150 ms). */
    ambd_workqueue_forget(q, "k/f4");
    assert_int_equal(ambd_workqueue_failures(q, "k/f4"), 0);
    start = mono_ms();
    ambd_workqueue_add_rate_limited(q, "k/f2");
    ambd_workqueue_add_rate_limited(q, "k/f4");
    assert_int_equal(ambd_workqueue_failures(q, "k/f4"), 1);
    get_done(q, "k/f4");
    assert_true(mono_ms() - start >= 25);
    get_done(q, "k/f2");
    assert_true(mono_ms() - start >= 150);
    assert_int_equal(ambd_workqueue_failures(q, "k/unknown"), 0);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

static void a_held_key_waits_whatever_is_added(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    uint64_t start = mono_ms();
    ambd_workqueue_add(q, "ns/held");
    expect_get(q, "ns/held");
    /* The worker learns the server wants 150 ms: the key is held, so an
     * event meanwhile, the (5 ms) failure backoff and a plugin's requeue
     * all wait for the hold, and done does not hand it out at once. */
    ambd_workqueue_hold(q, "ns/held", 150);
    ambd_workqueue_add(q, "ns/held");
    ambd_workqueue_add_rate_limited(q, "ns/held");
    ambd_workqueue_add_after(q, "ns/held", 1);
    ambd_workqueue_done(q, "ns/held");
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_add(q, "ns/held");
    ambd_workqueue_add_after(q, "ns/held", 0);
    assert_int_equal(ambd_workqueue_len(q), 0);
    /* Other keys are not held back. */
    ambd_workqueue_add(q, "ns/other");
    assert_int_equal(ambd_workqueue_len(q), 1);
    get_done(q, "ns/other");
    get_done(q, "ns/held");
    assert_true(mono_ms() - start >= 150);
    assert_int_equal(ambd_workqueue_len(q), 0);
    /* Once it is over, adds are immediate again. */
    ambd_workqueue_add(q, "ns/held");
    assert_int_equal(ambd_workqueue_len(q), 1);
    get_done(q, "ns/held");

    /* A hold moves a pending delayed add later, never earlier; a longer
     * backoff than the hold stands. */
    start = mono_ms();
    ambd_workqueue_add(q, "ns/delayed");
    expect_get(q, "ns/delayed");
    ambd_workqueue_add_after(q, "ns/delayed", 10);
    ambd_workqueue_hold(q, "ns/delayed", 120);
    ambd_workqueue_hold(q, "ns/delayed", 20); /* a shorter one changes nothing */
    ambd_workqueue_done(q, "ns/delayed");
    get_done(q, "ns/delayed");
    assert_true(mono_ms() - start >= 120);
    start = mono_ms();
    ambd_workqueue_add(q, "ns/slow");
    expect_get(q, "ns/slow");
    ambd_workqueue_hold(q, "ns/slow", 10);
    ambd_workqueue_add_after(q, "ns/slow", 100);
    ambd_workqueue_done(q, "ns/slow");
    get_done(q, "ns/slow");
    assert_true(mono_ms() - start >= 100);
    assert_true(mono_ms() - start < 60000);
    /* Holding a key the queue does not know is a no-op. */
    ambd_workqueue_hold(q, "ns/unknown", 600000);
    ambd_workqueue_add(q, "ns/unknown");
    get_done(q, "ns/unknown");
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

static void rate_limit_survives_huge_failure_counts(void **state)
{
    (void)state;
    struct ambd_workqueue_options opts = {.base_delay_ms = 1, .max_delay_ms = 30};
    struct ambd_workqueue *q = ambd_workqueue_new(&opts);
    assert_non_null(q);
    /* Shifts of 64 and more would be undefined (UBSan watches here). */
    for (int n = 0; n < 200; n++)
        ambd_workqueue_add_rate_limited(q, "ns/flaky");
    assert_int_equal(ambd_workqueue_failures(q, "ns/flaky"), 200);
    get_done(q, "ns/flaky"); /* the first call's 1 ms stands */
    uint64_t start = mono_ms();
    ambd_workqueue_add_rate_limited(q, "ns/flaky");
    get_done(q, "ns/flaky");
    uint64_t took = mono_ms() - start;
    assert_true(took >= 30);
    assert_true(took < 60000);
    ambd_workqueue_forget(q, "ns/flaky");
    assert_int_equal(ambd_workqueue_failures(q, "ns/flaky"), 0);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);

    /* Defaults: 5 ms base. */
    q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    start = mono_ms();
    ambd_workqueue_add_rate_limited(q, "ns/x");
    get_done(q, "ns/x");
    assert_true(mono_ms() - start >= 5);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

/* done_forget ends a processing key and resets its failures at once; a key
 * added while it was processed still comes back. */
static void done_forget_resets_failures_and_requeues_a_dirty_key(void **state)
{
    (void)state;
    struct ambd_workqueue_options opts = {.base_delay_ms = 1, .max_delay_ms = 30};
    struct ambd_workqueue *q = ambd_workqueue_new(&opts);
    assert_non_null(q);
    ambd_workqueue_add_rate_limited(q, "ns/a");
    ambd_workqueue_add_rate_limited(q, "ns/a");
    assert_int_equal(ambd_workqueue_failures(q, "ns/a"), 2);
    expect_get(q, "ns/a");
    ambd_workqueue_done_forget(q, "ns/a");
    assert_int_equal(ambd_workqueue_failures(q, "ns/a"), 0);
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_add(q, "ns/a");
    expect_get(q, "ns/a");
    ambd_workqueue_add(q, "ns/a"); /* while processing */
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_done_forget(q, "ns/a");
    assert_int_equal(ambd_workqueue_len(q), 1);
    get_done(q, "ns/a");
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

/* A new queue with three getters blocked in (or on their way to) get. */
static struct ambd_workqueue *queue_with_getters(struct getter g[3])
{
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    for (int i = 0; i < 3; i++)
        getter_start(&g[i], q);
    return q;
}

/* A burst of quiet adds wakes the sleeping getters once it is over, each
 * with a key. */
static void quiet_adds_reach_sleeping_getters_at_wake(void **state)
{
    (void)state;
    struct getter g[3];
    struct ambd_workqueue *q = queue_with_getters(g);
    sleep_ms(30); /* likely asleep in get by now; the test holds either way */
    ambd_workqueue_add_quiet(q, "ns/a");
    ambd_workqueue_add_quiet(q, "ns/b");
    ambd_workqueue_add_quiet(q, "ns/a"); /* coalesced */
    ambd_workqueue_wake(q);
    int returned = 0;
    for (int t = 0; t < 400 && returned < 2; t++) {
        returned = 0;
        for (int i = 0; i < 3; i++)
            returned += atomic_load(&g[i].returned);
        if (returned < 2)
            sleep_ms(5);
    }
    assert_int_equal(returned, 2);
    ambd_workqueue_shutdown(q);
    int got_a = 0, got_b = 0, stopped = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(g[i].thread, NULL), 0);
        if (g[i].rc == AMB_ESTATE) {
            stopped++;
            continue;
        }
        got_a += strcmp(g[i].key, "ns/a") == 0;
        got_b += strcmp(g[i].key, "ns/b") == 0;
        free(g[i].key);
    }
    assert_int_equal(stopped, 1);
    assert_int_equal(got_a, 1);
    assert_int_equal(got_b, 1);
    ambd_workqueue_free(q);
}

static void shutdown_wakes_blocked_getters(void **state)
{
    (void)state;
    struct getter g[3];
    struct ambd_workqueue *q = queue_with_getters(g);
    ambd_workqueue_add_after(q, "ns/delayed", 600000); /* one waits with a timeout */
    sleep_ms(30);
    ambd_workqueue_shutdown(q);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(g[i].thread, NULL), 0);
        assert_int_equal(g[i].rc, AMB_ESTATE);
        assert_null(g[i].key);
    }
    char *key = (char *)"untouched";
    assert_int_equal(ambd_workqueue_get(q, &key), AMB_ESTATE);
    assert_null(key);
    ambd_workqueue_free(q);
}

static void shutdown_drops_pending_and_ignores_later_adds(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    ambd_workqueue_add(q, "ns/busy");
    expect_get(q, "ns/busy");
    ambd_workqueue_add(q, "ns/busy"); /* dirty while processing */
    ambd_workqueue_add(q, "ns/ready");
    ambd_workqueue_add_after(q, "ns/delayed", 10);
    ambd_workqueue_add_after(q, "ns/ready", 10);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_shutdown(q); /* idempotent */
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_add(q, "ns/after");
    ambd_workqueue_add_after(q, "ns/after", 1);
    ambd_workqueue_add_rate_limited(q, "ns/after");
    assert_int_equal(ambd_workqueue_len(q), 0);
    assert_int_equal(ambd_workqueue_failures(q, "ns/after"), 0);
    sleep_ms(20);
    assert_int_equal(ambd_workqueue_len(q), 0);
    ambd_workqueue_done(q, "ns/busy"); /* the worker finishing late */
    assert_int_equal(ambd_workqueue_len(q), 0);
    char *key;
    assert_int_equal(ambd_workqueue_get(q, &key), AMB_ESTATE);
    ambd_workqueue_free(q);
    ambd_workqueue_free(NULL);
}

#define N_BIG 100000

static double secs_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void throughput_with_100k_keys(void **state)
{
    (void)state;
    struct ambd_workqueue *q = ambd_workqueue_new(NULL);
    assert_non_null(q);
    char key[32];
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N_BIG; i++) {
        snprintf(key, sizeof key, "ns/obj-%d", i);
        ambd_workqueue_add(q, key);
    }
    double add_s = secs_since(&t0);
    assert_int_equal(ambd_workqueue_len(q), N_BIG);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N_BIG; i++) {
        snprintf(key, sizeof key, "ns/obj-%d", i);
        ambd_workqueue_add(q, key);
    }
    double readd_s = secs_since(&t0);
    assert_int_equal(ambd_workqueue_len(q), N_BIG);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N_BIG; i++) {
        char *got;
        assert_int_equal(ambd_workqueue_get(q, &got), AMB_OK);
        snprintf(key, sizeof key, "ns/obj-%d", i);
        if (strcmp(got, key) != 0)
            fail_msg("got %s, want %s", got, key);
        ambd_workqueue_done(q, got);
        free(got);
    }
    double get_s = secs_since(&t0);
    assert_int_equal(ambd_workqueue_len(q), 0);

    print_message("100k keys: add %.0f ops/s, coalesced re-add %.0f ops/s, get+done %.0f pairs/s\n",
                  N_BIG / add_s, N_BIG / readd_s, N_BIG / get_s);
    ambd_workqueue_shutdown(q);
    ambd_workqueue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readds_of_a_waiting_key_coalesce),
        cmocka_unit_test(distinct_keys_come_out_in_fifo_order),
        cmocka_unit_test(dirty_while_processing_is_requeued_at_done),
        cmocka_unit_test(no_key_is_processed_twice_at_once),
        cmocka_unit_test(add_after_orders_by_ready_time),
        cmocka_unit_test(add_after_keeps_the_earliest_time),
        cmocka_unit_test(blocked_getters_wake_for_delayed_keys),
        cmocka_unit_test(rate_limit_doubles_and_caps),
        cmocka_unit_test(a_held_key_waits_whatever_is_added),
        cmocka_unit_test(rate_limit_survives_huge_failure_counts),
        cmocka_unit_test(done_forget_resets_failures_and_requeues_a_dirty_key),
        cmocka_unit_test(quiet_adds_reach_sleeping_getters_at_wake),
        cmocka_unit_test(shutdown_wakes_blocked_getters),
        cmocka_unit_test(shutdown_drops_pending_and_ignores_later_adds),
        cmocka_unit_test(throughput_with_100k_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
