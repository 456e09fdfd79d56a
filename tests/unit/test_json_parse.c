/* test_json_parse.c — the in-place JSON parser: it agrees with jansson on
 * what it accepts and builds, refuses what jansson refuses (NUL, lone
 * surrogates, huge integers, overlong UTF-8) and duplicate keys (where
 * jansson keeps the last), and its walks hand out each member's and
 * element's own text. */
#include <stdlib.h>
#include <string.h>

#include "json_parse-internal.h"
#include "testutil.h"

static const char *const valid[] = {
    "{}",
    "[]",
    " {\"a\" : [1, -2, 3.5e2, 0, -0.25, true, false, null] } ",
    "{\"s\":\"plain\",\"e\":\"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\u20ac\\ud83d\\ude00\"}",
    "{\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
    "{\"n\":9223372036854775807,\"m\":-9223372036854775808,\"r\":1E-400}",
    "{\"deep\":[[[[{\"x\":[{}]}]]]]}",
    "\"a string\"",
    "42",
};

static const char *const invalid[] = {
    "",
    "{",
    "{\"a\":1,}",
    "[1,]",
    "{\"a\" 1}",
    "{\"a\":1}}",
    "{'a':1}",
    "[01]",
    "[1.]",
    "[-]",
    "[.5]",
    "[1e]",
    "[tru]",
    "[\"\\u0000\"]",
    "[\"\\ud800\"]",
    "[\"\\udc00\\ud800\"]",
    "[\"\\x\"]",
    "[\"\x01\"]",
    "[\"\xc0\xaf\"]",
    "[\"\xed\xa0\x80\"]",
    "[\"\xf5\x80\x80\x80\"]",
    "[\"open",
    "{\"a\":1,\"a\":2}",
    "[9223372036854775808]",
    "[-9223372036854775809]",
    "[1e999]",
};

static void agrees_with_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        json_t *mine = ambd_json_parse(valid[i], strlen(valid[i]), NULL);
        json_t *theirs = json_loadb(valid[i], strlen(valid[i]), JSON_DECODE_ANY, NULL);
        assert_non_null(theirs);
        if (!mine || !json_equal(mine, theirs))
            fail_msg("differs from jansson: %s", valid[i]);
        json_decref(mine);
        json_decref(theirs);
    }
}

static void refuses_what_jansson_refuses(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        struct ambd_json_error err = {0};
        json_t *mine = ambd_json_parse(invalid[i], strlen(invalid[i]), &err);
        if (mine)
            fail_msg("accepted: %s", invalid[i]);
        assert_true(err.text[0] != '\0');
        assert_true(err.offset <= strlen(invalid[i]));
    }
}

static void too_deep_is_refused(void **state)
{
    (void)state;
    size_t n = AMBD_JSON_MAX_DEPTH + 1;
    char *text = malloc(2 * n + 1);
    memset(text, '[', n);
    memset(text + n, ']', n);
    text[2 * n] = '\0';
    assert_null(ambd_json_parse(text, 2 * n, NULL));
    json_t *ok = ambd_json_parse(text + 1, 2 * n - 2, NULL); /* exactly the limit */
    assert_non_null(ok);
    json_decref(ok);
    free(text);
}

struct seen {
    char keys[8][16];
    const char *values[8];
    size_t lens[8];
    int n;
    int parse_second; /* read the second member itself */
};

static int on_member(void *ud, const char *key, const char *value, size_t avail, size_t *used,
                     struct ambd_json_error *err)
{
    struct seen *s = ud;
    snprintf(s->keys[s->n], sizeof s->keys[s->n], "%s", key);
    if (s->parse_second && s->n == 1) {
        json_t *v = ambd_json_parse_prefix(value, avail, used, err);
        if (!v)
            return -1;
        json_decref(v);
        s->values[s->n] = value;
        s->lens[s->n] = *used;
    } else {
        s->values[s->n] = value;
        s->lens[s->n] = 0;
    }
    s->n++;
    return strcmp(key, "stop") == 0 ? 7 : 0;
}

static void walks_hand_out_each_value_text(void **state)
{
    (void)state;
    const char *text = "{ \"k\\u0031\" : [1, {\"x\": \"]\"}] , \"b\":{\"c\":\"}\"}, \"d\":3 }";
    struct seen s = {.parse_second = 1};
    struct ambd_json_error err;
    assert_int_equal(ambd_json_each_member(text, strlen(text), NULL, on_member, &s, &err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.keys[0], "k1"); /* decoded */
    assert_string_equal(s.keys[1], "b");
    assert_int_equal(s.lens[1], strlen("{\"c\":\"}\"}"));
    assert_memory_equal(s.values[1], "{\"c\":\"}\"}", s.lens[1]);
    /* A callback's positive value stops the walk and is returned. */
    const char *stop = "{\"a\":1,\"stop\":2,\"never\":3}";
    struct seen t = {0};
    assert_int_equal(ambd_json_each_member(stop, strlen(stop), NULL, on_member, &t, &err), 7);
    assert_int_equal(t.n, 2);
    /* Invalid text after the walked members is still an error. */
    const char *bad = "{\"a\":1,\"b\":[1,}";
    struct seen u = {0};
    assert_int_equal(ambd_json_each_member(bad, strlen(bad), NULL, on_member, &u, &err), -1);
    /* With used, the walk may stop short of the text's end. */
    size_t used = 0;
    const char *prefix = "{\"a\":1} trailing";
    struct seen v = {0};
    assert_int_equal(ambd_json_each_member(prefix, strlen(prefix), &used, on_member, &v, &err), 0);
    assert_int_equal(used, 7);
    assert_int_equal(ambd_json_each_member(prefix, strlen(prefix), NULL, on_member, &v, &err), -1);
}

static int count_element(void *ud, const char *value, size_t avail, size_t *used,
                         struct ambd_json_error *err)
{
    (void)value;
    (void)avail;
    (void)used;
    (void)err;
    (*(int *)ud)++;
    return 0;
}

static void elements_are_walked(void **state)
{
    (void)state;
    int n = 0;
    struct ambd_json_error err;
    const char *text = "[1, \"two\", {\"three\": [3]}, [], null]";
    assert_int_equal(ambd_json_each_element(text, strlen(text), NULL, count_element, &n, &err), 0);
    assert_int_equal(n, 5);
    n = 0;
    assert_int_equal(ambd_json_each_element("{}", 2, NULL, count_element, &n, &err), -1);
    assert_int_equal(ambd_json_each_element("[]", 2, NULL, count_element, &n, &err), 0);
    assert_int_equal(n, 0);
}

/* Strings are scanned 64 and 16 bytes at a time: a byte that needs a look
 * (quote, escape, control, non-ASCII, valid or not) is found at every
 * offset of a block of 64, of the blocks of 16 after it and of the tail,
 * and the result agrees with jansson's. */
static void specials_are_found_at_every_offset(void **state)
{
    (void)state;
    static const char *const specials[] = {"\\n", "\\\"", "\x01", "\x7f", "\xc3\xa9",
                                           "\xe2\x82\xac", "\xff", "\xc3", "\x1f"};
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
        for (size_t at = 0; at < 100; at++) {
            char as[101], bs[101], text[256];
            memset(as, 'a', 100);
            memset(bs, 'b', 100);
            as[100] = bs[100] = '\0';
            int n = snprintf(text, sizeof text, "[\"%.*s%s%.*s\"]", (int)at, as, specials[k],
                             (int)(100 - at), bs);
            json_t *ours = ambd_json_parse(text, (size_t)n, NULL);
            json_t *theirs = json_loadb(text, (size_t)n, 0, NULL);
            assert_int_equal(ours != NULL, theirs != NULL);
            if (ours)
                assert_true(json_equal(ours, theirs));
            json_decref(ours);
            json_decref(theirs);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agrees_with_jansson),
        cmocka_unit_test(refuses_what_jansson_refuses),
        cmocka_unit_test(too_deep_is_refused),
        cmocka_unit_test(walks_hand_out_each_value_text),
        cmocka_unit_test(elements_are_walked),
        cmocka_unit_test(specials_are_found_at_every_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
