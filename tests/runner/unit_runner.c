/* unit_runner.c — ambient-runner's pure parts: the bounded line splitter
 * the agent's output goes through, fitting an event under the live
 * service's bound, the CLI's argv from a session's options, and the
 * repositories read from a spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error-internal.h"
#include "runner.h"

struct seen {
    char lines[8][64];
    size_t n_lines;
    size_t longs[4];
    size_t n_longs;
};

static void on_line(void *ud, char *line, size_t len)
{
    struct seen *s = ud;
    assert_int_equal(strlen(line), len);
    if (s->n_lines < 8)
        snprintf(s->lines[s->n_lines++], 64, "%s", line);
}

static void on_long(void *ud, size_t bytes)
{
    struct seen *s = ud;
    if (s->n_longs < 4)
        s->longs[s->n_longs++] = bytes;
}

static void lines_split_across_chunks(void **state)
{
    (void)state;
    struct linebuf lb;
    struct seen s = {0};
    linebuf_init(&lb, 16);
    const char *chunks[] = {"ab", "c\nde", "f\n\ng", "h"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(linebuf_feed(&lb, chunks[i], strlen(chunks[i]), on_line, on_long, &s), 0);
    linebuf_finish(&lb, on_line, on_long, &s);
    assert_int_equal(s.n_lines, 4);
    assert_string_equal(s.lines[0], "abc");
    assert_string_equal(s.lines[1], "def");
    assert_string_equal(s.lines[2], "");
    assert_string_equal(s.lines[3], "gh"); /* the unterminated rest */
    assert_int_equal(s.n_longs, 0);
    linebuf_free(&lb);
}

/* A line over the bound is dropped as it streams by: counted once with its
 * full length, never held whole, and the next line is intact. */
static void long_line_dropped_and_counted(void **state)
{
    (void)state;
    struct linebuf lb;
    struct seen s = {0};
    linebuf_init(&lb, 8);
    char big[1000];
    memset(big, 'x', sizeof big);
    assert_int_equal(linebuf_feed(&lb, "xxxxx", 5, on_line, on_long, &s), 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(linebuf_feed(&lb, big, sizeof big, on_line, on_long, &s), 0);
    assert_true(lb.cap <= 9); /* memory stayed at the bound */
    assert_int_equal(linebuf_feed(&lb, "\nok\n", 4, on_line, on_long, &s), 0);
    assert_int_equal(s.n_longs, 1);
    assert_int_equal(s.longs[0], 5 + 50 * sizeof big);
    assert_int_equal(s.n_lines, 1);
    assert_string_equal(s.lines[0], "ok");
    /* exactly the bound is kept; one more byte is not */
    assert_int_equal(linebuf_feed(&lb, "12345678\n123456789\n", 19, on_line, on_long, &s), 0);
    assert_string_equal(s.lines[1], "12345678");
    assert_int_equal(s.n_longs, 2);
    assert_int_equal(s.longs[1], 9);
    linebuf_free(&lb);
}

static void small_event_kept_whole(void **state)
{
    (void)state;
    json_t *ev = json_pack("{s:s, s:s}", "type", "assistant", "text", "hello");
    char *s = runner_event_fit(ev, 1000);
    assert_string_equal(s, "{\"type\":\"assistant\",\"text\":\"hello\"}");
    free(s);
    json_decref(ev);
}

/* A tool result of 3 MB is cut to fit, keeping its shape and saying how
 * much was cut; the cut never splits a UTF-8 character. */
static void big_strings_cut_to_fit(void **state)
{
    (void)state;
    size_t n = 3u * 1024 * 1024;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i += 2) {
        big[i] = (char)0xC3; /* é, two bytes */
        big[i + 1] = (char)0xA9;
    }
    big[n] = '\0';
    json_t *ev = json_pack("{s:s, s:{s:[{s:s, s:s}]}}", "type", "user", "message", "content",
                           "type", "tool_result", "content", big);
    char *s = runner_event_fit(ev, RUNNER_MAX_EVENT);
    assert_non_null(s);
    assert_true(strlen(s) <= RUNNER_MAX_EVENT);
    json_t *back = json_loads(s, 0, NULL);
    assert_non_null(back); /* still valid JSON, so valid UTF-8 */
    assert_string_equal(json_string_value(json_object_get(back, "type")), "user");
    const char *content = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(back, "message"), "content"), 0),
        "content"));
    assert_non_null(strstr(content, "bytes cut]"));
    json_decref(back);
    free(s);
    json_decref(ev);
    free(big);
}

/* Many small strings cannot be cut below the bound: the event becomes a
 * stub naming its type and size. */
static void structure_too_big_becomes_stub(void **state)
{
    (void)state;
    json_t *arr = json_array();
    for (int i = 0; i < 200000; i++)
        json_array_append_new(arr, json_integer(i));
    json_t *ev = json_pack("{s:s, s:o}", "type", "assistant", "numbers", arr);
    char *s = runner_event_fit(ev, 64 * 1024);
    json_t *back = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(back, "type")), "assistant");
    assert_true(json_is_true(json_object_get(back, "truncated")));
    assert_true(json_integer_value(json_object_get(back, "bytes")) > 64 * 1024);
    json_decref(back);
    free(s);
    json_decref(ev);
}

static int has_pair(char **argv, const char *flag, const char *value)
{
    for (size_t i = 0; argv[i] && argv[i + 1]; i++)
        if (strcmp(argv[i], flag) == 0 && strcmp(argv[i + 1], value) == 0)
            return 1;
    return 0;
}

static int has(char **argv, const char *flag)
{
    for (size_t i = 0; argv[i]; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

static void agent_argv_from_options(void **state)
{
    (void)state;
    struct runner_opts o = {.claude = "/opt/claude"};
    char *dirs[] = {"/w/b", "/w/c"};
    json_t *opts = json_pack("{s:s, s:[s, s], s:i, s:s}", "permissionMode", "bypassPermissions",
                             "allowedTools", "Bash(git diff:*)", "Read", "maxTurns", 7,
                             "appendSystemPrompt", "be brief");
    struct runner_agent a = {.opts = &o, .add_dirs = dirs, .n_add_dirs = 2,
                             .model = "claude-x", .options = opts};
    char **argv = runner_agent_argv(&a);
    assert_string_equal(argv[0], "/opt/claude");
    assert_true(has(argv, "-p") && has_pair(argv, "--output-format", "stream-json") &&
                has(argv, "--verbose"));
    assert_false(has(argv, "--input-format")); /* batch: the prompt is stdin text */
    assert_true(has_pair(argv, "--model", "claude-x"));
    assert_true(has_pair(argv, "--permission-mode", "bypassPermissions"));
    assert_true(has_pair(argv, "--add-dir", "/w/b") && has_pair(argv, "--add-dir", "/w/c"));
    assert_true(has_pair(argv, "--allowedTools", "Bash(git diff:*)"));
    assert_true(has_pair(argv, "--allowedTools", "Read"));
    assert_true(has_pair(argv, "--max-turns", "7"));
    assert_true(has_pair(argv, "--append-system-prompt", "be brief"));
    runner_argv_free(argv);
    json_decref(opts);
    /* defaults: edits allowed, commands not; interactive reads stream-json */
    struct runner_agent b = {.opts = &o, .interactive = 1};
    argv = runner_agent_argv(&b);
    assert_true(has_pair(argv, "--permission-mode", "acceptEdits"));
    assert_true(has_pair(argv, "--input-format", "stream-json"));
    assert_false(has(argv, "--model"));
    runner_argv_free(argv);
}

static void repos_from_spec(void **state)
{
    (void)state;
    json_t *spec = json_loads(
        "{\"repos\":["
        "{\"input\":{\"url\":\"https://h/o/app.git\",\"branch\":\"dev\"},"
        " \"output\":{\"pushTo\":\"same\",\"targetBranch\":\"fix\"}},"
        "{\"input\":{\"url\":\"https://h/other/app\"}},"
        "{\"input\":{\"url\":\"https://h/o/lib\"},\"output\":{}}]}",
        0, NULL);
    struct runner_repo *r;
    size_t n;
    struct amb_error err = AMBD_ERROR_INIT;
    assert_int_equal(runner_repos_from_spec(spec, "s1", &r, &n, &err), AMB_OK);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].dir, "app");
    assert_string_equal(r[1].dir, "app-1"); /* same last segment: made unique */
    assert_string_equal(r[0].branch, "dev");
    assert_true(r[0].branch_given);
    assert_null(r[1].branch); /* the remote's default, asked at clone time */
    assert_int_equal(r[0].push_to, PUSH_SAME);
    assert_string_equal(r[0].target_branch, "fix");
    assert_int_equal(r[1].push_to, PUSH_NONE);      /* no output: nothing pushed */
    assert_int_equal(r[2].push_to, PUSH_FORK);      /* output without pushTo: the default */
    assert_string_equal(r[2].target_branch, "ambient/s1");
    runner_repos_free(r, n);
    json_decref(spec);

    spec = json_loads("{\"repos\":[{\"input\":{\"url\":\"https://h/o/r\","
                      "\"branch\":\"-x\"}}]}", 0, NULL);
    assert_int_equal(runner_repos_from_spec(spec, "s1", &r, &n, &err), AMB_EINVAL);
    char *line = ambd_error_line(&err);
    assert_non_null(strstr(line, "spec.repos[0].input.branch"));
    free(line);
    ambd_error_clear(&err);
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lines_split_across_chunks),
        cmocka_unit_test(long_line_dropped_and_counted),
        cmocka_unit_test(small_event_kept_whole),
        cmocka_unit_test(big_strings_cut_to_fit),
        cmocka_unit_test(structure_too_big_becomes_stub),
        cmocka_unit_test(agent_argv_from_options),
        cmocka_unit_test(repos_from_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
