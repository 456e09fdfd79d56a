/* test_error.c — errors with one cause per field, joined into one line; an
 * error reported as another's keeps its Retry-After wait. */
#include <stdlib.h>

#include "error-internal.h"
#include "testutil.h"

static void causes_are_joined_in_order(void **state)
{
    (void)state;
    struct amb_error err = AMBD_ERROR_INIT;
    assert_int_equal(ambd_error_set(&err, AMB_EINVAL, "spec.repos[1].input.url", "must be %s", "https"),
                     AMB_EINVAL);
    ambd_error_set(&err, AMB_ENOTFOUND, NULL, "second");
    assert_int_equal(err.code, AMB_EINVAL); /* the first code stays */
    char *line = ambd_error_line(&err);
    assert_string_equal(line, "spec.repos[1].input.url: must be https; second");
    free(line);
    ambd_error_clear(&err);
    assert_int_equal(err.code, AMB_OK);
    assert_int_equal(err.n_causes, 0);
}

static void without_causes_the_line_is_the_code_text(void **state)
{
    (void)state;
    struct amb_error err = AMBD_ERROR_INIT;
    err.code = AMB_ECONFLICT;
    char *line = ambd_error_line(&err);
    assert_string_equal(line, "conflict");
    free(line);
}

static void every_code_has_a_text(void **state)
{
    (void)state;
    for (int code = AMB_OK; code >= AMB_EINTERNAL; code--)
        assert_string_not_equal(ambd_strerror(code), "unknown error");
    assert_string_equal(ambd_strerror(-999), "unknown error");
    assert_string_equal(ambd_strerror(5), "unknown error");
}

static void null_error_is_ignored(void **state)
{
    (void)state;
    assert_int_equal(ambd_error_set(NULL, AMB_EIO, NULL, "x"), AMB_EIO);
}

static void a_wrapped_error_keeps_its_wait(void **state)
{
    (void)state;
    struct amb_error inner = AMBD_ERROR_INIT, outer = AMBD_ERROR_INIT;
    ambd_error_set(&inner, AMB_EUNAVAILABLE, NULL, "busy");
    ambd_error_set(&inner, AMB_EUNAVAILABLE, "x", "later");
    inner.retry_after_s = 3;
    assert_int_equal(ambd_error_wrap(&outer, AMB_EUNAVAILABLE, &inner), AMB_EUNAVAILABLE);
    assert_int_equal(outer.code, AMB_EUNAVAILABLE);
    assert_int_equal(outer.n_causes, 1);
    assert_string_equal(outer.causes[0].message, "busy; x: later");
    assert_int_equal(outer.retry_after_s, 3);
    /* The longer wait of the two stands. */
    inner.retry_after_s = 1;
    ambd_error_wrap(&outer, AMB_EUNAVAILABLE, &inner);
    assert_int_equal(outer.retry_after_s, 3);
    ambd_error_clear(&outer);
    assert_int_equal(outer.retry_after_s, 0);
    assert_int_equal(ambd_error_wrap(NULL, AMB_EIO, &inner), AMB_EIO);
    ambd_error_clear(&inner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(causes_are_joined_in_order),
        cmocka_unit_test(without_causes_the_line_is_the_code_text),
        cmocka_unit_test(every_code_has_a_text),
        cmocka_unit_test(null_error_is_ignored),
        cmocka_unit_test(a_wrapped_error_keeps_its_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
