/* unit_langfuse_batch.c — what a finished run becomes for LangFuse
 * (api/live/langfuse_batch.c), with hostile input: texts cut to bounds as
 * valid UTF-8 whatever bytes came in, a huge tool output, thousands of tool
 * calls, wrong types in the status, earlier runs' events, request bodies
 * under their byte bound, and ids that stay the same across exports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "live/langfuse_batch.h"

#define UID "0b5c2f3e-1111-4a2b-9c3d-abcdefabcdef"

static const struct lf_limits limits = {.max_field = 512, .max_tool_calls = 50};

/* A stored event: {"seq", "ts", "source", "type", "message": {"content": [block]}}. */
static json_t *event(long long seq, const char *ts, const char *type, json_t *block)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:{s:[o]}}", "seq", (json_int_t)seq, "ts", ts,
                     "source", "runner", "type", type, "message", "content", block);
}

/* Hands ev (taken) to the trace. */
static void add(struct lf_trace *t, json_t *ev)
{
    lf_trace_add(t, ev);
    json_decref(ev);
}

static json_t *tool_use(const char *id, const char *name, json_t *input)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", id, "name", name, "input",
                     input);
}

static json_t *tool_result(const char *id, json_t *content, int is_error)
{
    return json_pack("{s:s, s:s, s:o, s:b}", "type", "tool_result", "tool_use_id", id, "content",
                     content, "is_error", is_error);
}

static json_t *completed_status(void)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:i, s:i, s:i, s:i, s:f, s:i}}", "phase",
                     "Completed", "startTime", "2026-12-01T10:00:00Z", "completionTime",
                     "2026-12-01T10:05:00Z", "results", "summary", "done", "usage",
                     "inputTokens", 1200, "outputTokens", 340, "cacheReadInputTokens", 50,
                     "cacheCreationInputTokens", 7, "totalCostUSD", 0.0421, "numTurns", 3);
}

static struct lf_session session(const json_t *status)
{
    return (struct lf_session){.kind = "AgenticSession", .project = "proj", .name = "s1",
                               .uid = UID, .run = 2, .status = status, .model = "claude-x",
                               .prompt = "fix the bug"};
}

/* 1 when s is valid UTF-8 (jansson checks on json_string). */
static int valid_utf8(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    json_decref(v);
    return v != NULL;
}

static const json_t *find(const json_t *envs, const char *type, size_t nth)
{
    size_t i;
    const json_t *e;
    json_array_foreach(envs, i, e)
        if (!strcmp(json_string_value(json_object_get(e, "type")), type) && nth-- == 0)
            return e;
    return NULL;
}

static void test_text_bounds_and_utf8(void **state)
{
    (void)state;
    /* multi-byte characters are never split */
    char e_acute[301];
    for (int i = 0; i < 150; i++)
        memcpy(e_acute + 2 * i, "\xC3\xA9", 2);
    json_t *v = lf_text(e_acute, 300, 257);
    assert_non_null(v);
    assert_memory_equal(json_string_value(v), e_acute, 256);
    assert_non_null(strstr(json_string_value(v), "(44 bytes cut)"));
    json_decref(v);
    /* invalid bytes, overlong forms, surrogates and a lone continuation
     * byte become U+FFFD; a NUL survives */
    static const char bad[] = "a\xFF" "b\xC0\xAF" "c\xED\xA0\x80" "d\x80" "e\0f";
    v = lf_text(bad, sizeof bad - 1, 1000);
    assert_non_null(v);
    assert_true(valid_utf8(json_string_value(v), json_string_length(v)));
    assert_int_equal(json_string_length(v), 7 + 7 * 3); /* a..f and NUL, 7 x U+FFFD */
    assert_memory_equal(json_string_value(v), "a\xEF\xBF\xBD" "b", 5);
    json_decref(v);
    /* a truncated sequence at the very end */
    v = lf_text("ok\xE2\x82", 4, 100);
    assert_string_equal(json_string_value(v), "ok\xEF\xBF\xBD\xEF\xBF\xBD");
    json_decref(v);
}

static void test_trace_usage_and_tools(void **state)
{
    (void)state;
    json_t *status = completed_status();
    struct lf_session s = session(status);
    struct lf_trace *t = lf_trace_new(&s, &limits);
    assert_non_null(t);
    /* an earlier run's tool call: before startTime, skipped */
    add(t, event(1, "2026-12-01T09:00:00.000Z", "assistant",
                 tool_use("toolu_old", "Bash", json_pack("{s:s}", "command", "ls"))));
    add(t, event(5, "2026-12-01T10:00:00.500Z", "assistant",
                 tool_use("toolu_1", "Bash", json_pack("{s:s}", "command", "make"))));
    add(t, event(6, "2026-12-01T10:00:02.000Z", "user",
                 tool_result("toolu_1", json_string("build failed"), 1)));
    add(t, event(7, "2026-12-01T10:00:03.000Z", "assistant",
                 tool_use("toolu_2", "Read", json_pack("{s:s}", "file_path", "/src/a.c"))));
    json_t *envs = lf_trace_envelopes(t, "2026-12-01T10:06:00.000Z");
    lf_trace_free(t);
    assert_int_equal(json_array_size(envs), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(envs, 0), "type")),
                        "trace-create");

    const json_t *trace = json_object_get(find(envs, "trace-create", 0), "body");
    assert_string_equal(json_string_value(json_object_get(trace, "id")), UID "-2");
    assert_string_equal(json_string_value(json_object_get(trace, "sessionId")), "proj/s1");
    assert_string_equal(json_string_value(json_object_get(trace, "input")), "fix the bug");
    assert_string_equal(json_string_value(json_object_get(trace, "output")), "done");
    assert_string_equal(json_string_value(json_object_get(trace, "timestamp")),
                        "2026-12-01T10:00:00Z");
    const json_t *md = json_object_get(trace, "metadata");
    assert_string_equal(json_string_value(json_object_get(md, "phase")), "Completed");
    assert_int_equal(json_integer_value(json_object_get(md, "run")), 2);
    assert_int_equal(json_integer_value(json_object_get(md, "toolCalls")), 2);

    const json_t *gen = json_object_get(find(envs, "generation-create", 0), "body");
    assert_string_equal(json_string_value(json_object_get(gen, "model")), "claude-x");
    assert_string_equal(json_string_value(json_object_get(gen, "traceId")), UID "-2");
    const json_t *usage = json_object_get(gen, "usageDetails");
    assert_int_equal(json_integer_value(json_object_get(usage, "input")), 1200);
    assert_int_equal(json_integer_value(json_object_get(usage, "output")), 340);
    assert_int_equal(json_integer_value(json_object_get(usage, "cache_read_input_tokens")), 50);
    assert_true(json_real_value(json_object_get(json_object_get(gen, "costDetails"), "total")) ==
                0.0421);

    const json_t *bash = json_object_get(find(envs, "span-create", 0), "body");
    assert_string_equal(json_string_value(json_object_get(bash, "id")), UID "-2-tool-5-0");
    assert_string_equal(json_string_value(json_object_get(bash, "name")), "Bash");
    assert_string_equal(json_string_value(json_object_get(bash, "input")),
                        "{\"command\":\"make\"}");
    assert_string_equal(json_string_value(json_object_get(bash, "output")), "build failed");
    assert_string_equal(json_string_value(json_object_get(bash, "level")), "ERROR");
    assert_string_equal(json_string_value(json_object_get(bash, "endTime")),
                        "2026-12-01T10:00:02.000Z");
    const json_t *read = json_object_get(find(envs, "span-create", 1), "body");
    assert_null(json_object_get(read, "endTime")); /* never answered */
    json_decref(envs);
    json_decref(status);
}

static void test_hostile_session(void **state)
{
    (void)state;
    /* wrong types and signs in the status: left out, never sent as given */
    json_t *status = json_pack("{s:s, s:i, s:{s:i, s:s, s:f}}", "phase", "Failed", "startTime",
                               5, "usage", "inputTokens", -4, "outputTokens", "12",
                               "totalCostUSD", -1.0);
    json_object_set_new(status, "error", json_stringn_nocheck("x\xC3(", 3));
    struct lf_session s = session(status);
    s.prompt = NULL;
    struct lf_trace *t = lf_trace_new(&s, &limits);
    /* a 10 MB tool output and non-UTF-8 input; then thousands of calls */
    size_t huge = 10u << 20;
    char *big = malloc(huge);
    memset(big, 'y', huge);
    add(t, event(1, "2026-12-01T10:00:00.000Z", "assistant",
                 tool_use("t0", "Bash", json_stringn_nocheck("\xFF\xFE", 2))));
    add(t, event(2, "2026-12-01T10:00:01.000Z", "user",
                 tool_result("t0", json_stringn_nocheck(big, huge), 0)));
    free(big);
    for (int i = 0; i < 5000; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%d", i + 1);
        add(t, event(3 + i, "2026-12-01T10:00:02.000Z", "assistant",
                     tool_use(id, "Grep", json_object())));
    }
    /* events without a usable seq or ts are ignored */
    json_t *odd = json_pack("{s:s, s:s}", "ts", "bad", "type", "assistant");
    add(t, odd);
    json_t *envs = lf_trace_envelopes(t, "2026-12-01T10:06:00.000Z");
    lf_trace_free(t);
    /* trace, generation, then max_tool_calls spans */
    assert_int_equal(json_array_size(envs), 2 + limits.max_tool_calls);
    const json_t *trace = json_object_get(find(envs, "trace-create", 0), "body");
    const json_t *md = json_object_get(trace, "metadata");
    assert_int_equal(json_integer_value(json_object_get(md, "toolCalls")), limits.max_tool_calls);
    assert_int_equal(json_integer_value(json_object_get(md, "toolCallsOmitted")),
                     5001 - limits.max_tool_calls);
    assert_null(json_object_get(trace, "input"));
    /* startTime was not a time: the first event's ts */
    assert_string_equal(json_string_value(json_object_get(trace, "timestamp")),
                        "2026-12-01T10:00:00.000Z");
    const json_t *gen = json_object_get(find(envs, "generation-create", 0), "body");
    assert_int_equal(json_object_size(json_object_get(gen, "usageDetails")), 0);
    assert_null(json_object_get(gen, "costDetails"));
    const json_t *first = json_object_get(find(envs, "span-create", 0), "body");
    const json_t *out = json_object_get(first, "output");
    assert_true(json_string_length(out) <= limits.max_field + 64);
    assert_non_null(strstr(json_string_value(out), "bytes cut"));
    /* everything dumps as valid JSON text (the UTF-8 was repaired) */
    char *dump = json_dumps(envs, JSON_COMPACT);
    assert_non_null(dump);
    json_t *back = json_loads(dump, 0, NULL);
    assert_non_null(back);
    assert_true(strlen(dump) < 200 * 1024);
    json_decref(back);
    free(dump);
    json_decref(envs);
    json_decref(status);
}

/* The envelope ids of one build. */
static char *ids_of(const json_t *status)
{
    struct lf_session s = session(status);
    struct lf_trace *t = lf_trace_new(&s, &limits);
    add(t, event(4, "2026-12-01T10:00:01.000Z", "assistant",
                 tool_use("toolu_9", "Edit", json_object())));
    json_t *envs = lf_trace_envelopes(t, "2026-12-01T11:00:00.000Z");
    lf_trace_free(t);
    json_t *ids = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(envs, i, e)
        json_array_append(ids, json_object_get(e, "id"));
    char *out = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    json_decref(envs);
    return out;
}

static void test_ids_stable(void **state)
{
    (void)state;
    json_t *status = completed_status();
    char *a = ids_of(status), *b = ids_of(status);
    assert_string_equal(a, b); /* a second export is deduplicated */
    json_object_set_new(status, "phase", json_string("Failed"));
    char *c = ids_of(status);
    assert_string_not_equal(a, c); /* a changed trace is sent again ... */
    assert_memory_equal(a, c, strlen("[\"" UID "-2-")); /* ... as the same trace */
    free(a);
    free(b);
    free(c);
    json_decref(status);
}

static void test_batches_bounded(void **state)
{
    (void)state;
    json_t *envs = json_array();
    for (int i = 0; i < 300; i++)
        json_array_append_new(envs, json_pack("{s:i, s:s}", "n", i, "pad",
                                              "0123456789012345678901234567890123456789"));
    json_t *large = json_object();
    char pad[3000];
    memset(pad, 'z', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    json_object_set_new(large, "pad", json_string(pad));
    json_array_insert_new(envs, 7, large); /* too large for any body alone */
    char **bodies = NULL;
    size_t skipped = 0;
    size_t n = lf_batches(envs, 2048, 40, &bodies, &skipped);
    assert_int_equal(skipped, 1);
    assert_true(n >= 300 / 40);
    int next = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(bodies[i]) <= 2048);
        json_t *b = json_loads(bodies[i], 0, NULL);
        assert_non_null(b);
        const json_t *batch = json_object_get(b, "batch");
        assert_true(json_array_size(batch) >= 1 && json_array_size(batch) <= 40);
        size_t k;
        json_t *e;
        json_array_foreach(batch, k, e)
            assert_int_equal(json_integer_value(json_object_get(e, "n")), next++);
        json_decref(b);
    }
    assert_int_equal(next, 300); /* all, in order */
    lf_batches_free(bodies, n);
    n = lf_batches(json_array_get(envs, 10000), 2048, 40, &bodies, &skipped);
    assert_int_equal(n, 0);
    assert_null(bodies);
    json_decref(envs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_bounds_and_utf8),
        cmocka_unit_test(test_trace_usage_and_tools),
        cmocka_unit_test(test_hostile_session),
        cmocka_unit_test(test_ids_stable),
        cmocka_unit_test(test_batches_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
