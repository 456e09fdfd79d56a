/* unit_ratelimit.c — the per-caller token buckets: a burst, then one
 * request per 1/rate seconds with an honest Retry-After; callers do not
 * share buckets; a full table forgets the least recently seen caller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "ratelimit.h"

static void a_burst_then_the_rate(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 3, 64);
    assert_non_null(rl);
    unsigned wait = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_take(rl, "alice", 100.0, &wait), 1);
    assert_int_equal(ratelimit_take(rl, "alice", 100.0, &wait), 0);
    assert_int_equal(wait, 1); /* half a second, rounded up */
    /* Someone else is not held up by alice. */
    assert_int_equal(ratelimit_take(rl, "bob", 100.0, &wait), 1);
    /* Half a second refills one request at 2/s. */
    assert_int_equal(ratelimit_take(rl, "alice", 100.5, &wait), 1);
    assert_int_equal(ratelimit_take(rl, "alice", 100.5, &wait), 0);
    /* A long pause refills no more than the burst. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_take(rl, "alice", 1000.0, &wait), 1);
    assert_int_equal(ratelimit_take(rl, "alice", 1000.0, &wait), 0);
    ratelimit_free(rl);
}

static void slow_rates_say_how_long(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(0.1, 1, 64); /* one per 10 s */
    unsigned wait = 0;
    assert_int_equal(ratelimit_take(rl, "k", 5.0, &wait), 1);
    assert_int_equal(ratelimit_take(rl, "k", 5.0, &wait), 0);
    assert_int_equal(wait, 10);
    assert_int_equal(ratelimit_take(rl, "k", 11.0, &wait), 0);
    assert_int_equal(wait, 4);
    ratelimit_free(rl);
}

static void zero_rate_means_no_limiter(void **state)
{
    (void)state;
    assert_null(ratelimit_new(0, 10, 64));
}

static void a_full_table_forgets_the_least_recent(void **state)
{
    (void)state;
    /* One set of four slots: the fifth caller takes the oldest's slot. */
    struct ratelimit *rl = ratelimit_new(1, 1, 4);
    unsigned wait;
    char key[8];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ratelimit_take(rl, key, 10.0 + i * 0.1, &wait), 1);
    }
    assert_int_equal(ratelimit_take(rl, "k1", 10.45, &wait), 0); /* still limited */
    assert_int_equal(ratelimit_take(rl, "new", 10.5, &wait), 1); /* evicts k0 */
    /* k0 comes back with a full bucket (taking k2's slot, now the least
     * recent); k1, seen recently, kept its empty one. */
    assert_int_equal(ratelimit_take(rl, "k0", 10.55, &wait), 1);
    assert_int_equal(ratelimit_take(rl, "k1", 10.56, &wait), 0);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_burst_then_the_rate),
        cmocka_unit_test(slow_rates_say_how_long),
        cmocka_unit_test(zero_rate_means_no_limiter),
        cmocka_unit_test(a_full_table_forgets_the_least_recent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
