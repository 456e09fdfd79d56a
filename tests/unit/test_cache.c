/* test_cache.c — informer caches: upsert results (new / changed / same
 * resourceVersion), parsed copies, namespace and label filtering, sweeping
 * what a relist no longer has, memory accounting, the server's own text
 * kept and compressed, managedFields dropped, read-your-writes, and reads
 * on other threads while the entry they read is replaced and packed. */
#include <pthread.h>
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
    assert_int_equal(ambd_cache_remove(&c, "ns1/a"), 1);
    assert_int_equal(ambd_cache_bytes(&c), 0);
    assert_int_equal(ambd_cache_remove(&c, "ns1/a"), 0);
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

/* A Widget of about size bytes of JSON, its spec a long repeated string. */
static json_t *big(const char *name, const char *rv, size_t size)
{
    char *pad = malloc(size + 1);
    memset(pad, 'x', size);
    pad[size] = '\0';
    json_t *o = obj("ns", name, rv, "x");
    json_object_set_new(o, "spec", json_pack("{s:s}", "payload", pad));
    free(pad);
    return o;
}

static void keeps_the_given_text_compressed_without_managed_fields(void **state)
{
    (void)state;
    struct ambd_cache c;
    ambd_cache_init(&c);
    /* The text wins over the tree: it is what the server sent. */
    json_t *o = big("a", "1", 4000);
    json_object_set_new(o, "fromText", json_false());
    char *text = json_dumps(o, JSON_COMPACT);
    json_object_set_new(o, "fromText", json_true());
    assert_int_equal(ambd_cache_upsert_text(&c, o, text, strlen(text), 1, 0), 1);
    assert_true(ambd_cache_bytes(&c) < strlen(text) / 4); /* packed */
    json_t *got = ambd_cache_get(&c, "ns/a");
    assert_true(json_is_false(json_object_get(got, "fromText")));
    assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(got, "spec"),
                                                              "payload"))), 4000);
    json_decref(got);
    free(text);
    /* managedFields is dropped, from obj too. */
    json_object_set_new(json_object_get(o, "metadata"), "managedFields",
                        json_pack("[{s:s}]", "manager", "kubectl"));
    assert_int_equal(ambd_cache_upsert(&c, o, 1), 2);
    assert_null(json_object_get(json_object_get(o, "metadata"), "managedFields"));
    got = ambd_cache_get(&c, "ns/a");
    assert_null(json_object_get(json_object_get(got, "metadata"), "managedFields"));
    json_decref(got);
    json_decref(o);
    ambd_cache_destroy(&c);
}

/* A hot write is kept as it came until it is old enough, then packed; a
 * replaced or removed hot entry leaves the hot list (LeakSanitizer and
 * ASan watch the list's links). */
static void hot_entries_are_packed_once_cold(void **state)
{
    (void)state;
    struct ambd_cache c;
    ambd_cache_init(&c);
    c.hot_max_bytes = 1 << 20;
    json_t *a = big("a", "1", 4000), *b = big("b", "1", 4000), *a2 = big("a", "2", 4000);
    char *ta = json_dumps(a, JSON_COMPACT), *tb = json_dumps(b, JSON_COMPACT),
         *ta2 = json_dumps(a2, JSON_COMPACT);
    assert_int_equal(ambd_cache_upsert_text(&c, a, ta, strlen(ta), 1, 1), 1);
    assert_int_equal(ambd_cache_upsert_text(&c, b, tb, strlen(tb), 1, 1), 1);
    assert_int_equal(ambd_cache_bytes(&c), strlen(ta) + strlen(tb)); /* as they came */
    /* Young: an age of a minute packs nothing. */
    assert_int_equal(ambd_cache_pack_cold(&c, 60000), 2);
    /* a replaced by a hot a2, b removed: one hot entry left. */
    assert_int_equal(ambd_cache_upsert_text(&c, a2, ta2, strlen(ta2), 1, 1), 0);
    assert_int_equal(ambd_cache_remove(&c, "ns/b"), 1);
    assert_int_equal(ambd_cache_bytes(&c), strlen(ta2));
    /* Old enough (age 0): packed, and read back the same. */
    assert_int_equal(ambd_cache_pack_cold(&c, 0), 0);
    assert_true(ambd_cache_bytes(&c) < strlen(ta2) / 4);
    json_t *got = ambd_cache_get(&c, "ns/a");
    assert_true(json_equal(got, a2));
    json_decref(got);
    /* Past hot_max_bytes the oldest hot entry is packed at once. */
    c.hot_max_bytes = strlen(tb) + 100;
    assert_int_equal(ambd_cache_upsert_text(&c, b, tb, strlen(tb), 1, 1), 1);
    assert_int_equal(ambd_cache_upsert_text(&c, a, ta, strlen(ta), 1, 1), 0);
    assert_int_equal(ambd_cache_pack_cold(&c, 60000), 1); /* a, still as it came */
    size_t packed_b = ambd_cache_bytes(&c) - strlen(ta);
    assert_true(packed_b < strlen(tb) / 4);
    free(ta);
    free(tb);
    free(ta2);
    json_decref(a);
    json_decref(b);
    json_decref(a2);
    ambd_cache_destroy(&c);
}

static void a_write_is_read_back_before_the_watch_brings_it(void **state)
{
    (void)state;
    struct ambd_cache c;
    ambd_cache_init(&c);
    json_t *v1 = obj("ns", "a", "1", "x"), *v2 = obj("ns", "a", "2", "y");
    json_t *other = obj("ns", "other", "5", "x");
    ambd_cache_upsert(&c, v1, 7);
    assert_int_equal(ambd_cache_write_through(&c, v2), 0);
    assert_int_equal(ambd_cache_write_through(&c, other), 0); /* not cached: left alone */
    assert_null(ambd_cache_get(&c, "ns/other"));
    json_t *got = ambd_cache_get(&c, "ns/a");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
                            got, "metadata"), "labels"), "app")),
                        "y");
    json_decref(got);
    /* The mark stays: a sweep of list 7 keeps it. */
    ambd_cache_sweep(&c, 7, count_gone, NULL);
    assert_int_equal(ambd_cache_count(&c), 1);
    /* The watch's event of that version still counts as a change, once. */
    assert_int_equal(ambd_cache_upsert(&c, v2, 7), 0);
    assert_int_equal(ambd_cache_upsert(&c, v2, 7), 2);
    json_decref(v1);
    json_decref(v2);
    json_decref(other);
    ambd_cache_destroy(&c);
}

struct reader {
    struct ambd_cache *c;
    int reads, misses, wrong;
};

/* Reads "ns/a" until a read shows the last version, "999". */
static void *read_until_last(void *arg)
{
    struct reader *r = arg;
    for (int i = 0; i < 2000000; i++) {
        json_t *got = ambd_cache_get(r->c, "ns/a");
        const char *rv = json_string_value(
            json_object_get(json_object_get(got, "metadata"), "resourceVersion"));
        r->reads++;
        if (!got)
            r->misses++;
        else if (!rv || json_string_length(json_object_get(json_object_get(got, "spec"), "payload")) != 4000)
            r->wrong++;
        int last = rv && !strcmp(rv, "999");
        json_decref(got);
        if (last)
            break;
    }
    return NULL;
}

/* A reader holds the entry's bytes, not the lock, while it parses: the
 * bytes outlive a replacement or a packing under it (the sanitizer build
 * sees any read of freed bytes). */
static void reads_survive_replacement_and_packing(void **state)
{
    (void)state;
    struct ambd_cache c;
    ambd_cache_init(&c);
    c.hot_max_bytes = 1 << 20;
    json_t *first = big("a", "0", 4000);
    char *text = json_dumps(first, JSON_COMPACT);
    assert_int_equal(ambd_cache_upsert_text(&c, first, text, strlen(text), 1, 1), 1);
    free(text);
    json_decref(first);
    struct reader r[2] = {{.c = &c}, {.c = &c}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, read_until_last, &r[i]), 0);
    for (int v = 1; v <= 999; v++) {
        char rv[8];
        snprintf(rv, sizeof rv, "%d", v);
        json_t *o = big("a", rv, 4000);
        text = json_dumps(o, JSON_COMPACT);
        assert_true(ambd_cache_upsert_text(&c, o, text, strlen(text), 1, v % 2) >= 0);
        if (v % 3 == 0)
            ambd_cache_pack_cold(&c, 0);
        free(text);
        json_decref(o);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_true(r[i].reads > 0);
        assert_int_equal(r[i].misses, 0);
        assert_int_equal(r[i].wrong, 0);
    }
    ambd_cache_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(upsert_reports_what_changed),
        cmocka_unit_test(list_filters_by_namespace_and_labels),
        cmocka_unit_test(sweep_removes_what_the_relist_lacked),
        cmocka_unit_test(keeps_the_given_text_compressed_without_managed_fields),
        cmocka_unit_test(hot_entries_are_packed_once_cold),
        cmocka_unit_test(a_write_is_read_back_before_the_watch_brings_it),
        cmocka_unit_test(reads_survive_replacement_and_packing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
