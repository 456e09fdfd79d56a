/* test_cache.c — informer caches: upsert results (new / changed / same
 * resourceVersion), parsed copies, namespace and label filtering, sweeping
 * what a relist no longer has, and memory accounting. */
#include <stdlib.h>
#include <string.h>

#include "cache-internal.h"
#include "testutil.h"

static json_t *obj(const char *ns, const char *name, const char *rv, const char *app)
{
    json_t *o = json_pack("{s:s, s:{s:s, s:s, s:{s:s}}}", "kind", "Widget", "metadata", "name",
                          name, "resourceVersion", rv, "labels", "app", app);
    if (ns)
        json_object_set_new(json_object_get(o, "metadata"), "namespace", json_string(ns));
    return o;
}

static int gone_count;
static void count_gone(void *ud, const json_t *o)
{
    (void)ud;
    assert_non_null(json_object_get(o, "metadata"));
    gone_count++;
}

static void upsert_reports_what_changed(void **state)
{
    (void)state;
    struct ambd_cache c;
    ambd_cache_init(&c);
    json_t *a1 = obj("ns1", "a", "1", "x"), *a2 = obj("ns1", "a", "2", "x");
    assert_int_equal(ambd_cache_upsert(&c, a1, 1), 1);
    assert_int_equal(ambd_cache_upsert(&c, a1, 1), 2);
    assert_int_equal(ambd_cache_upsert(&c, a2, 1), 0);
    json_t *got = ambd_cache_get(&c, "ns1/a");
    assert_string_equal(json_string_value(json_object_get(json_object_get(got, "metadata"),
                                                          "resourceVersion")), "2");
    /* A copy: changing it leaves the cache alone. */
    json_object_set_new(got, "kind", json_string("Changed"));
    json_decref(got);
    got = ambd_cache_get(&c, "ns1/a");
    assert_string_equal(json_string_value(json_object_get(got, "kind")), "Widget");
    json_decref(got);
    char *text = json_dumps(a2, JSON_COMPACT);
    assert_int_equal(ambd_cache_bytes(&c), strlen(text));
    free(text);
    json_t *removed = ambd_cache_remove(&c, "ns1/a");
    assert_non_null(removed);
    assert_int_equal(ambd_cache_bytes(&c), 0);
    assert_null(ambd_cache_remove(&c, "ns1/a"));
    json_decref(removed);
    json_t *nameless = json_pack("{s:{}}", "metadata");
    assert_true(ambd_cache_upsert(&c, nameless, 1) < 0);
    json_decref(nameless);
    json_decref(a1);
    json_decref(a2);
    ambd_cache_destroy(&c);
}

static void list_filters_by_namespace_and_labels(void **state)
{
    (void)state;
    struct ambd_cache c;
    ambd_cache_init(&c);
    json_t *objs[] = {obj("ns1", "a", "1", "x"), obj("ns1", "b", "1", "y"),
                      obj("ns10", "c", "1", "x"), obj(NULL, "cluster", "1", "x")};
    for (size_t i = 0; i < 4; i++) {
        ambd_cache_upsert(&c, objs[i], 1);
        json_decref(objs[i]);
    }
    json_t *l = ambd_cache_list(&c, "ns1", NULL);
    assert_int_equal(json_array_size(l), 2); /* not ns10 */
    json_decref(l);
    l = ambd_cache_list(&c, "ns1", "app=x");
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    l = ambd_cache_list(&c, NULL, "app==x");
    assert_int_equal(json_array_size(l), 3);
    json_decref(l);
    l = ambd_cache_list(&c, NULL, "app=x,missing=1");
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    json_t *cl = ambd_cache_get(&c, "cluster");
    assert_non_null(cl);
    json_decref(cl);
    ambd_cache_destroy(&c);
}

static void sweep_removes_what_the_relist_lacked(void **state)
{
    (void)state;
    struct ambd_cache c;
    ambd_cache_init(&c);
    for (int i = 0; i < 10; i++) {
        char name[8];
        snprintf(name, sizeof name, "o%d", i);
        json_t *o = obj("ns", name, "1", "x");
        ambd_cache_upsert(&c, o, i < 7 ? 2 : 1); /* o7..o9 were not seen by list 2 */
        json_decref(o);
    }
    gone_count = 0;
    ambd_cache_sweep(&c, 2, count_gone, NULL);
    assert_int_equal(gone_count, 3);
    assert_int_equal(ambd_cache_count(&c), 7);
    ambd_cache_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(upsert_reports_what_changed),
        cmocka_unit_test(list_filters_by_namespace_and_labels),
        cmocka_unit_test(sweep_removes_what_the_relist_lacked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
