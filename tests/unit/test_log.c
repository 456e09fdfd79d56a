/* test_log.c — the sink: one JSON object (or text line) per event, level
 * filtering at runtime, fields, and redaction of secrets logged by mistake. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log-internal.h"
#include "testutil.h"

static int reset(void **state)
{
    (void)state;
    ambd_log_set_level(AMB_LOG_INFO);
    ambd_log_set_format(AMBD_LOG_JSON);
    ambd_log_clear_secrets();
    return 0;
}

static void json_line_has_time_level_component_message_and_fields(void **state)
{
    (void)state;
    testutil_log_capture();
    ambd_log("core", AMB_LOG_WARN, "queue \"full\"", "kind", "AgenticSession", "name", "s-1",
             "msg", "shadow", NULL);
    char *out = testutil_log_take();
    assert_int_equal(testutil_count(out, "\n"), 1);
    json_error_t jerr;
    json_t *line = json_loads(out, 0, &jerr);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(line, "component")), "core");
    assert_string_equal(json_string_value(json_object_get(line, "msg")), "queue \"full\"");
    assert_string_equal(json_string_value(json_object_get(line, "kind")), "AgenticSession");
    assert_string_equal(json_string_value(json_object_get(line, "name")), "s-1");
    assert_string_equal(json_string_value(json_object_get(line, "msg_")), "shadow");
    const char *ts = json_string_value(json_object_get(line, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-01-02T03:04:05.678Z"));
    assert_int_equal(ts[strlen(ts) - 1], 'Z');
    json_decref(line);
    free(out);
}

static void level_filter_changes_at_runtime(void **state)
{
    (void)state;
    testutil_log_capture();
    ambd_log("core", AMB_LOG_DEBUG, "hidden", NULL);
    ambd_log_set_level(AMB_LOG_DEBUG);
    ambd_log("core", AMB_LOG_DEBUG, "shown", NULL);
    ambd_log_set_level(AMB_LOG_ERROR);
    ambd_logf("core", AMB_LOG_WARN, "hidden %d", 2);
    ambd_logf("core", AMB_LOG_ERROR, "shown %d", 2);
    char *out = testutil_log_take();
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "\"msg\":\"shown\""));
    assert_non_null(strstr(out, "\"msg\":\"shown 2\""));
    free(out);
}

static void text_format_quotes_values_with_spaces(void **state)
{
    (void)state;
    ambd_log_set_format(AMBD_LOG_TEXT);
    testutil_log_capture();
    ambd_log("api", AMB_LOG_INFO, "request", "path", "/api/x", "agent", "curl 8", NULL);
    char *out = testutil_log_take();
    assert_non_null(strstr(out, " info  api: request path=/api/x agent=\"curl 8\"\n"));
    free(out);
}

static void multi_line_message_stays_one_line(void **state)
{
    (void)state;
    testutil_log_capture();
    ambd_log("core", AMB_LOG_INFO, "first\nsecond", NULL);
    char *out = testutil_log_take();
    assert_int_equal(testutil_count(out, "\n"), 1);
    free(out);
}

static void token_logged_by_mistake_comes_out_redacted(void **state)
{
    (void)state;
    const char *token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl";
    testutil_log_capture();
    ambd_log("api", AMB_LOG_INFO, "calling the API", "header", "Authorization: Bearer sha256~abcdefgh",
             NULL);
    ambd_logf("api", AMB_LOG_ERROR, "request failed with token %s", token);
    ambd_log_add_secret("hunter2-passw0rd");
    ambd_log("core", AMB_LOG_INFO, "read secret hunter2-passw0rd from file", "value",
             "xhunter2-passw0rdx", NULL);
    char *out = testutil_log_take();
    assert_null(strstr(out, "sha256~abcdefgh"));
    assert_null(strstr(out, token));
    assert_null(strstr(out, "hunter2-passw0rd"));
    assert_int_equal(testutil_count(out, "[REDACTED]"), 4);
    free(out);
}

/* The api's access line: its own fields are never blanked out by a value a
 * user registered (a runner secret equal to a user name, say), though the
 * same value elsewhere is, and token shapes are everywhere. */
static void access_line_fields_are_not_redacted_by_registered_values(void **state)
{
    (void)state;
    ambd_log_set_format(AMBD_LOG_JSON);
    ambd_log_add_user_secret("dave-2024-Admin");
    testutil_log_capture();
    ambd_log("api", AMB_LOG_INFO, "request", "method", "DELETE", "path", "/api/projects/p/x",
             "status", "200", "duration_ms", "1.5", "user", "dave-2024-Admin", "note",
             "dave-2024-Admin", NULL);
    ambd_log("api", AMB_LOG_INFO, "other", "user", "dave-2024-Admin", NULL);
    ambd_log("api", AMB_LOG_INFO, "request", "user", "ghp_0123456789abcdefABCDEF", NULL);
    char *out = testutil_log_take();
    assert_non_null(strstr(out, "\"method\":\"DELETE\""));
    assert_non_null(strstr(out, "\"user\":\"dave-2024-Admin\",\"note\":\"[REDACTED]\""));
    assert_non_null(strstr(out, "\"msg\":\"other\",\"user\":\"[REDACTED]\""));
    assert_null(strstr(out, "ghp_0123456789abcdefABCDEF"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(json_line_has_time_level_component_message_and_fields, reset),
        cmocka_unit_test_setup(level_filter_changes_at_runtime, reset),
        cmocka_unit_test_setup(text_format_quotes_values_with_spaces, reset),
        cmocka_unit_test_setup(multi_line_message_stays_one_line, reset),
        cmocka_unit_test_setup(token_logged_by_mistake_comes_out_redacted, reset),
        cmocka_unit_test_setup(access_line_fields_are_not_redacted_by_registered_values, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ambd_log_clear_secrets();
    return rc;
}
