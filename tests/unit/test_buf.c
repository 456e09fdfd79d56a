/* test_buf.c — the string buffer: growth, printf, JSON escaping. */
#include <stdlib.h>
#include <string.h>

#include "buf-internal.h"
#include "testutil.h"

static void grows_past_initial_capacity(void **state)
{
    (void)state;
    struct ambd_buf b = {0};
    for (int i = 0; i < 1000; i++)
        ambd_buf_printf(&b, "%03d,", i);
    char *s = ambd_buf_take(&b);
    assert_non_null(s);
    assert_int_equal(strlen(s), 4000);
    assert_memory_equal(s + 3996, "999,", 4);
    free(s);
}

static void take_of_empty_is_empty_string(void **state)
{
    (void)state;
    struct ambd_buf b = {0};
    char *s = ambd_buf_take(&b);
    assert_string_equal(s, "");
    free(s);
}

static void sizes_in_decimal(void **state)
{
    (void)state;
    struct ambd_buf b = {0};
    ambd_buf_put_size(&b, 0);
    ambd_buf_putc(&b, ' ');
    ambd_buf_put_size(&b, 1024);
    ambd_buf_putc(&b, ' ');
    ambd_buf_put_size(&b, (size_t)18446744073709551615u);
    char *s = ambd_buf_take(&b);
    assert_string_equal(s, "0 1024 18446744073709551615");
    free(s);
}

static void json_escape_quotes_controls_and_backslashes(void **state)
{
    (void)state;
    struct ambd_buf b = {0};
    ambd_buf_json_escape(&b, "a\"b\\c\nd\x01" "e\t");
    char *s = ambd_buf_take(&b);
    assert_string_equal(s, "a\\\"b\\\\c\\nd\\u0001e\\t");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grows_past_initial_capacity),
        cmocka_unit_test(take_of_empty_is_empty_string),
        cmocka_unit_test(sizes_in_decimal),
        cmocka_unit_test(json_escape_quotes_controls_and_backslashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
