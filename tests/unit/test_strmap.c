/* test_strmap.c — the string map: put/get/replace/remove, growth past many
 * keys, tombstone reuse, and iteration that may remove as it goes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap-internal.h"
#include "testutil.h"

static void put_get_replace_remove(void **state)
{
    (void)state;
    struct ambd_strmap m;
    ambd_strmap_init(&m);
    int a = 1, b = 2;
    void *old = &a;
    assert_int_equal(ambd_strmap_put(&m, "ns/a", &a, &old), 0);
    assert_null(old);
    assert_ptr_equal(ambd_strmap_get(&m, "ns/a"), &a);
    assert_int_equal(ambd_strmap_put(&m, "ns/a", &b, &old), 0);
    assert_ptr_equal(old, &a);
    assert_ptr_equal(ambd_strmap_get(&m, "ns/a"), &b);
    assert_int_equal(m.n, 1);
    assert_ptr_equal(ambd_strmap_remove(&m, "ns/a"), &b);
    assert_null(ambd_strmap_get(&m, "ns/a"));
    assert_null(ambd_strmap_remove(&m, "ns/a"));
    assert_int_equal(m.n, 0);
    ambd_strmap_clear(&m, NULL);
}

static void many_keys_with_churn(void **state)
{
    (void)state;
    struct ambd_strmap m;
    ambd_strmap_init(&m);
    char key[32];
    for (int round = 0; round < 3; round++) {
        for (long i = 0; i < 20000; i++) {
            snprintf(key, sizeof key, "k%ld", i);
            assert_int_equal(ambd_strmap_put(&m, key, (void *)(i + 1), NULL), 0);
        }
        assert_int_equal(m.n, 20000);
        for (long i = 0; i < 20000; i += 2) {
            snprintf(key, sizeof key, "k%ld", i);
            assert_ptr_equal(ambd_strmap_remove(&m, key), (void *)(i + 1));
        }
        for (long i = 1; i < 20000; i += 2) {
            snprintf(key, sizeof key, "k%ld", i);
            assert_ptr_equal(ambd_strmap_get(&m, key), (void *)(i + 1));
        }
        assert_int_equal(m.n, 10000);
    }
    /* Tombstones never leave the table without an empty slot. */
    assert_true(m.used < m.cap);
    ambd_strmap_clear(&m, NULL);
}

static void iterate_and_remove(void **state)
{
    (void)state;
    struct ambd_strmap m;
    ambd_strmap_init(&m);
    char key[16];
    for (long i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "%ld", i);
        ambd_strmap_put(&m, key, (void *)i, NULL);
    }
    size_t pos = 0, seen = 0;
    const char *k;
    void *v;
    while (ambd_strmap_next(&m, &pos, &k, &v)) {
        seen++;
        if ((long)v % 2 == 0)
            ambd_strmap_remove(&m, k);
    }
    assert_int_equal(seen, 100);
    assert_int_equal(m.n, 50);
    ambd_strmap_clear(&m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_replace_remove),
        cmocka_unit_test(many_keys_with_churn),
        cmocka_unit_test(iterate_and_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
