/* What an informer builds of an object's text: the members asked for, the
 * whole text checked, and managedFields' place for the cache to cut. */
#include "testutil.h"

#include <string.h>

#include "json_parse-internal.h"
#include "object_skim-internal.h"

static const char *const KEEP[] = {"status", "spec.model", "metadata.uid", NULL};

/* Skims text, checks its length, and returns the tree. */
static json_t *skim(const char *text, const char *const *keep, struct ambd_skim *sk)
{
    struct ambd_json_error err = {0};
    assert_int_equal(ambd_skim_object(text, strlen(text), keep, sk, &err), 0);
    return sk->obj;
}

/* The text with the skim's cut taken out. */
static char *cut(const char *text, const struct ambd_skim *sk)
{
    char *out = strdup(text);
    memmove(out + sk->cut_at, text + sk->cut_at + sk->cut_len, strlen(text) - sk->cut_at - sk->cut_len + 1);
    return out;
}

static void builds_only_the_members_asked_for(void **state)
{
    (void)state;
    const char *text = "{\"apiVersion\":\"v1\",\"kind\":\"W\",\"metadata\":{\"name\":\"a\","
                       "\"annotations\":{\"k\":\"v\"},\"uid\":\"u\"},\"spec\":{\"model\":\"m\",\"big\":\"xxxx\","
                       "\"list\":[1,2]},\"status\":{\"phase\":\"Running\"},\"data\":{\"x\":1}} tail";
    struct ambd_skim sk;
    json_t *o = skim(text, KEEP, &sk);
    assert_int_equal(sk.len, strlen(text) - strlen(" tail"));
    assert_int_equal(sk.cut_len, 0);
    json_t *want = json_loads("{\"apiVersion\":\"v1\",\"kind\":\"W\",\"metadata\":{\"name\":\"a\",\"uid\":\"u\"},"
                              "\"spec\":{\"model\":\"m\"},\"status\":{\"phase\":\"Running\"}}",
                              0, NULL);
    assert_true(json_equal(o, want));
    json_decref(want);
    json_decref(o);

    /* NULL keeps everything. */
    o = skim(text, NULL, &sk);
    want = json_loadb(text, sk.len, 0, NULL);
    assert_true(json_equal(o, want));
    json_decref(want);
    json_decref(o);
}

/* managedFields first, in the middle, last and alone: the text without the
 * cut is the object without managedFields, in every case. */
static void managed_fields_are_cut_wherever_they_stand(void **state)
{
    (void)state;
    const char *mf = "\"managedFields\" : [{\"manager\":\"kubectl\",\"fieldsV1\":{\"f:x\":{}}}]";
    const char *forms[] = {"{\"metadata\":{%s,\"name\":\"a\",\"uid\":\"u\"},\"spec\":{}}",
                           "{\"metadata\":{\"name\":\"a\", %s ,\"uid\":\"u\"},\"spec\":{}}",
                           "{\"metadata\":{\"name\":\"a\",\"uid\":\"u\",%s},\"spec\":{}}",
                           "{\"metadata\":{ %s },\"spec\":{}}"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, forms[i], mf);
        struct ambd_skim sk;
        json_t *o = skim(text, KEEP, &sk);
        assert_true(sk.cut_len > 0);
        assert_null(json_object_get(json_object_get(o, "metadata"), "managedFields"));
        char *rest = cut(text, &sk);
        json_t *full = json_loads(text, 0, NULL), *after = json_loads(rest, 0, NULL);
        assert_non_null(after);
        json_object_del(json_object_get(full, "metadata"), "managedFields");
        assert_true(json_equal(full, after));
        assert_null(strstr(rest, "managedFields"));
        free(rest);
        json_decref(full);
        json_decref(after);
        json_decref(o);
    }
}

/* Members not built are still checked: an invalid one refuses the object. */
static void the_whole_text_is_checked(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":\"\xff\"}}",    /* invalid UTF-8 */
        "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":tru}}",         /* bad literal */
        "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":1}",            /* unterminated */
        "{\"metadata\":{\"name\":\"a\"},\"status\":{},\"status\":{}}", /* duplicate kept */
        "{\"metadata\":{\"name\":\"a\",\"managedFields\":[],\"managedFields\":[]}}",
        "[{\"metadata\":{}}]", /* not an object */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ambd_skim sk;
        struct ambd_json_error err = {0};
        assert_int_equal(ambd_skim_object(bad[i], strlen(bad[i]), KEEP, &sk, &err), -1);
        assert_null(sk.obj);
        assert_true(err.text[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builds_only_the_members_asked_for),
        cmocka_unit_test(managed_fields_are_cut_wherever_they_stand),
        cmocka_unit_test(the_whole_text_is_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
