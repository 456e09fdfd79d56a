/* test_log.c — the sink: one JSON object (or text line) per event, level
 * filtering at runtime, fields, redaction of secrets logged by mistake, and
 * the access lines gathered per thread yet never lost. */
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* Reads fd (non-blocking reads, polled) until text holds want copies of
 * needle or deadline_ms passes; returns what it read (caller frees). */
static char *read_until(int fd, const char *needle, size_t want, int deadline_ms)
{
    size_t cap = 1 << 16, len = 0;
    char *text = calloc(1, cap);
    assert_non_null(text);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (testutil_count(text, needle) >= want)
            return text;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        struct pollfd p = {fd, POLLIN, 0};
        if (spent >= deadline_ms || poll(&p, 1, (int)(deadline_ms - spent)) <= 0)
            return text;
        ssize_t n = read(fd, text + len, cap - len - 1);
        if (n <= 0)
            return text;
        len += (size_t)n;
    }
}

static void access_line(int i)
{
    char n[16];
    snprintf(n, sizeof n, "%d", i);
    ambd_log("api", AMB_LOG_INFO, "request", "method", "GET", "path", "/health", "status", "200",
             "duration_ms", n, "user", "-", NULL);
}

/* A lone access line is written within the window (100 ms), without any
 * other line or a thread's end to push it out; the second one after the
 * first was written, when nothing else is waiting. */
static void access_line_is_written_within_its_window(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    ambd_log_set_fd(p[1]);
    for (int i = 0; i < 2; i++) {
        access_line(i);
        char *out = read_until(p[0], "\"msg\":\"request\"", 1, 2000);
        assert_int_equal(testutil_count(out, "\"msg\":\"request\""), 1);
        assert_int_equal(testutil_count(out, "\n"), 1);
        free(out);
    }
    ambd_log_set_fd(STDERR_FILENO);
    close(p[0]);
    close(p[1]);
}

/* A thread's lines keep their order: a line written at once comes after
 * the access lines the thread logged before it. */
static void a_threads_lines_keep_their_order(void **state)
{
    (void)state;
    testutil_log_capture();
    access_line(1);
    ambd_log("api", AMB_LOG_WARN, "after", NULL);
    char *out = testutil_log_take();
    char *req = strstr(out, "\"msg\":\"request\""), *after = strstr(out, "\"msg\":\"after\"");
    assert_non_null(req);
    assert_non_null(after);
    assert_true(req < after);
    free(out);
}

static void *log_lines(void *arg)
{
    for (int i = 0; i < *(int *)arg; i++)
        access_line(i);
    return NULL;
}

/* A thread that ends has written its lines: the api's loop threads end
 * before the daemon's last lines. */
static void a_thread_that_ends_has_written_its_lines(void **state)
{
    (void)state;
    int p[2], n = 100;
    assert_int_equal(pipe(p), 0);
    ambd_log_set_fd(p[1]);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, log_lines, &n), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    struct pollfd pf = {p[0], POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 0), 1); /* there at once, not in a window */
    char *out = read_until(p[0], "\"msg\":\"request\"", (size_t)n, 2000);
    ambd_log_set_fd(STDERR_FILENO);
    assert_int_equal(testutil_count(out, "\"msg\":\"request\""), (size_t)n);
    free(out);
    close(p[0]);
    close(p[1]);
}

/* exit() writes what is gathered: this program run again with
 * --gather-and-exit logs access lines to stderr and exits at once. */
static void exit_writes_the_gathered_lines(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    char *argv[] = {"test_log", "--gather-and-exit", NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, NULL), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    char *out = read_until(p[0], "\"msg\":\"request\"", 30, 10000);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(testutil_count(out, "\"msg\":\"request\""), 30);
    free(out);
    close(p[0]);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--gather-and-exit") == 0) {
        for (int i = 0; i < 30; i++)
            access_line(i);
        exit(0);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(json_line_has_time_level_component_message_and_fields, reset),
        cmocka_unit_test_setup(level_filter_changes_at_runtime, reset),
        cmocka_unit_test_setup(text_format_quotes_values_with_spaces, reset),
        cmocka_unit_test_setup(multi_line_message_stays_one_line, reset),
        cmocka_unit_test_setup(token_logged_by_mistake_comes_out_redacted, reset),
        cmocka_unit_test_setup(access_line_fields_are_not_redacted_by_registered_values, reset),
        cmocka_unit_test_setup(access_line_is_written_within_its_window, reset),
        cmocka_unit_test_setup(a_threads_lines_keep_their_order, reset),
        cmocka_unit_test_setup(a_thread_that_ends_has_written_its_lines, reset),
        cmocka_unit_test_setup(exit_writes_the_gathered_lines, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ambd_log_clear_secrets();
    return rc;
}
