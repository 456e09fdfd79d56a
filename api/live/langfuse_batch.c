/* langfuse_batch.c — a finished session run as LangFuse ingestion events
 * (langfuse_batch.h). Everything taken from the session (its status, what
 * its runner posted) is untrusted: texts are cut to max_field bytes of
 * valid UTF-8, spans to max_tool_calls, numbers taken only when they are
 * numbers of the right sign, and request bodies split under a byte bound. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/langfuse_batch.h"

#define LF_ID_MAX 160   /* a trace's or span's id */
#define LF_NAME_MAX 256 /* a tool's or model's name */
#define LF_TS_SECOND 19 /* "YYYY-MM-DDTHH:MM:SS" */

struct lf_span {
    json_t *body;   /* span-create body */
    char *tool_id;  /* the tool_use id its tool_result names; NULL once closed */
};

struct lf_trace {
    struct lf_session s;
    struct lf_limits lim;
    char id[LF_ID_MAX];
    char run_start[LF_TS_SECOND + 1]; /* "" when the status has no startTime */
    char first_ts[32];                /* of the first event of the run */
    struct lf_span *spans;
    size_t n_spans, cap_spans;
    size_t omitted; /* tool calls past max_tool_calls */
};

/* Bytes of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
               : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    uint32_t c = len == 1 ? s[0] : len == 2 ? s[0] & 0x1Fu : len == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
    for (size_t i = 1; i < len; i++)
        c = (c << 6) | (s[i] & 0x3Fu);
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0; /* overlong, out of range, or a surrogate */
    return len;
}

json_t *lf_text(const char *s, size_t len, size_t max)
{
    static const char bad[] = "\xEF\xBF\xBD"; /* U+FFFD */
    char *out = malloc(max + 64);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t n = utf8_seq((const unsigned char *)s + i, len - i);
        size_t put = n ? n : 3;
        if (o + put > max)
            break;
        memcpy(out + o, n ? s + i : bad, put);
        o += put;
        i += n ? n : 1;
    }
    if (i < len)
        o += (size_t)snprintf(out + o, 64, "\xE2\x80\xA6 (%zu bytes cut)", len - i);
    json_t *v = json_stringn(out, o);
    free(out);
    return v;
}

/* A string member of obj as bounded text, or NULL when it is not one. */
static json_t *text_of(const json_t *obj, const char *key, size_t max)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? lf_text(json_string_value(v), json_string_length(v), max) : NULL;
}

/* Sets key to v (stolen) when v is not NULL. */
static void put(json_t *obj, const char *key, json_t *v)
{
    if (v)
        json_object_set_new(obj, key, v);
}

static void put_str(json_t *obj, const char *key, const char *s, size_t max)
{
    if (s)
        put(obj, key, lf_text(s, strlen(s), max));
}

/* A status time if it looks like RFC 3339 (LangFuse rejects others). */
static const char *status_time(const json_t *status, const char *key)
{
    const char *t = json_string_value(json_object_get(status, key));
    return t && strlen(t) >= 20 && strlen(t) < 40 && t[4] == '-' && t[10] == 'T' ? t : NULL;
}

struct lf_trace *lf_trace_new(const struct lf_session *s, const struct lf_limits *lim)
{
    struct lf_trace *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->s = *s;
    t->lim = *lim;
    snprintf(t->id, sizeof t->id, "%.64s-%lld", s->uid, s->run);
    const char *start = status_time(s->status, "startTime");
    if (start)
        snprintf(t->run_start, sizeof t->run_start, "%.*s", LF_TS_SECOND, start);
    return t;
}

/* The text a tool_result carries: a string, else its blocks as JSON. */
static json_t *result_text(const json_t *content, size_t max)
{
    if (json_is_string(content))
        return lf_text(json_string_value(content), json_string_length(content), max);
    char *dump = content ? json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_t *v = dump ? lf_text(dump, strlen(dump), max) : NULL;
    free(dump);
    return v;
}

static void open_span(struct lf_trace *t, const json_t *block, unsigned long long seq,
                      size_t index, const char *ts)
{
    if (t->n_spans >= t->lim.max_tool_calls) {
        t->omitted++;
        return;
    }
    if (t->n_spans == t->cap_spans) {
        size_t cap = t->cap_spans ? t->cap_spans * 2 : 16;
        struct lf_span *grown = realloc(t->spans, cap * sizeof *grown);
        if (!grown)
            return;
        t->spans = grown;
        t->cap_spans = cap;
    }
    char id[LF_ID_MAX + 48];
    snprintf(id, sizeof id, "%s-tool-%llu-%zu", t->id, seq, index);
    char *input = json_dumps(json_object_get(block, "input"), JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *body = json_pack("{s:s, s:s, s:s}", "id", id, "traceId", t->id, "startTime", ts);
    const char *tool_id = json_string_value(json_object_get(block, "id"));
    char *tool_copy = tool_id ? strndup(tool_id, LF_NAME_MAX) : NULL;
    if (!body || (tool_id && !tool_copy)) {
        free(input);
        free(tool_copy);
        json_decref(body);
        return;
    }
    put(body, "name", text_of(block, "name", LF_NAME_MAX));
    if (!json_object_get(body, "name"))
        json_object_set_new(body, "name", json_string("tool"));
    if (input)
        put(body, "input", lf_text(input, strlen(input), t->lim.max_field));
    free(input);
    if (tool_copy)
        put(body, "metadata", json_pack("{s:s}", "toolUseId", tool_copy));
    t->spans[t->n_spans++] = (struct lf_span){body, tool_copy};
}

static void close_span(struct lf_trace *t, const json_t *block, const char *ts)
{
    const char *tool_id = json_string_value(json_object_get(block, "tool_use_id"));
    if (!tool_id)
        return;
    for (size_t i = t->n_spans; i-- > 0;) {
        struct lf_span *sp = &t->spans[i];
        if (!sp->tool_id || strcmp(sp->tool_id, tool_id) != 0)
            continue;
        json_object_set_new(sp->body, "endTime", json_string(ts));
        put(sp->body, "output", result_text(json_object_get(block, "content"), t->lim.max_field));
        if (json_is_true(json_object_get(block, "is_error")))
            json_object_set_new(sp->body, "level", json_string("ERROR"));
        free(sp->tool_id);
        sp->tool_id = NULL;
        return;
    }
}

void lf_trace_add(struct lf_trace *t, const json_t *ev)
{
    const char *ts = json_string_value(json_object_get(ev, "ts"));
    const json_t *seq = json_object_get(ev, "seq");
    if (!ts || strlen(ts) < LF_TS_SECOND || strlen(ts) >= sizeof t->first_ts ||
        !json_is_integer(seq) || json_integer_value(seq) < 0)
        return;
    if (t->run_start[0] && strncmp(ts, t->run_start, LF_TS_SECOND) < 0)
        return; /* an earlier run's */
    if (!t->first_ts[0])
        snprintf(t->first_ts, sizeof t->first_ts, "%s", ts);
    const json_t *content = json_object_get(json_object_get(ev, "message"), "content");
    size_t i;
    const json_t *block;
    json_array_foreach(content, i, block) {
        const char *type = json_string_value(json_object_get(block, "type"));
        if (type && !strcmp(type, "tool_use"))
            open_span(t, block, (unsigned long long)json_integer_value(seq), i, ts);
        else if (type && !strcmp(type, "tool_result"))
            close_span(t, block, ts);
    }
}

/* Non-negative integers of usage under LangFuse's usageDetails names. */
static json_t *usage_details(const json_t *usage)
{
    static const char *const from[] = {"inputTokens", "outputTokens", "cacheReadInputTokens",
                                       "cacheCreationInputTokens"};
    static const char *const to[] = {"input", "output", "cache_read_input_tokens",
                                     "cache_creation_input_tokens"};
    json_t *d = json_object();
    for (size_t i = 0; d && i < sizeof from / sizeof from[0]; i++) {
        const json_t *v = json_object_get(usage, from[i]);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            json_object_set_new(d, to[i], json_integer(json_integer_value(v)));
    }
    return d;
}

static json_t *generation(const struct lf_trace *t, const char *start)
{
    const json_t *usage = json_object_get(t->s.status, "usage");
    if (!json_is_object(usage))
        return NULL;
    char id[LF_ID_MAX + 8];
    snprintf(id, sizeof id, "%s-usage", t->id);
    json_t *g = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "traceId", t->id, "name",
                          "session usage", "startTime", start, "usageDetails",
                          usage_details(usage));
    if (!g)
        return NULL;
    const char *end = status_time(t->s.status, "completionTime");
    if (end)
        json_object_set_new(g, "endTime", json_string(end));
    put_str(g, "model", t->s.model, LF_NAME_MAX);
    const json_t *cost = json_object_get(usage, "totalCostUSD");
    if (json_is_number(cost) && json_number_value(cost) >= 0)
        put(g, "costDetails", json_pack("{s:f}", "total", json_number_value(cost)));
    json_t *md = json_object();
    static const char *const counts[] = {"numTurns", "durationMs"};
    for (size_t i = 0; md && i < 2; i++) {
        const json_t *v = json_object_get(usage, counts[i]);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            json_object_set_new(md, counts[i], json_integer(json_integer_value(v)));
    }
    put(g, "metadata", md);
    return g;
}

static json_t *trace_body(const struct lf_trace *t, const char *start)
{
    const json_t *st = t->s.status;
    size_t max = t->lim.max_field;
    char session_id[LF_ID_MAX * 2];
    snprintf(session_id, sizeof session_id, "%.63s/%.253s", t->s.project, t->s.name);
    json_t *b = json_pack("{s:s, s:s, s:s}", "id", t->id, "timestamp", start, "sessionId",
                          session_id);
    json_t *md = json_object();
    if (!b || !md) {
        json_decref(b);
        json_decref(md);
        return NULL;
    }
    put_str(b, "name", t->s.name, LF_NAME_MAX);
    put_str(b, "input", t->s.prompt, max);
    const json_t *results = json_object_get(st, "results");
    json_t *output = text_of(results, "summary", max);
    put(b, "output", output ? output : text_of(st, "error", max));
    const char *phase = json_string_value(json_object_get(st, "phase"));
    put_str(md, "kind", t->s.kind, LF_NAME_MAX);
    put_str(md, "project", t->s.project, LF_NAME_MAX);
    put_str(md, "session", t->s.name, LF_NAME_MAX);
    put_str(md, "uid", t->s.uid, LF_NAME_MAX);
    json_object_set_new(md, "run", json_integer(t->s.run));
    put_str(md, "phase", phase, LF_NAME_MAX);
    put_str(md, "model", t->s.model, LF_NAME_MAX);
    put(md, "error", text_of(st, "error", max));
    put_str(md, "startTime", status_time(st, "startTime"), LF_NAME_MAX);
    put_str(md, "completionTime", status_time(st, "completionTime"), LF_NAME_MAX);
    json_object_set_new(md, "toolCalls", json_integer((json_int_t)t->n_spans));
    json_object_set_new(md, "toolCallsOmitted", json_integer((json_int_t)t->omitted));
    json_object_set_new(b, "metadata", md);
    json_t *tags = json_pack("[s]", "ambient");
    if (tags && phase)
        json_array_append_new(tags, lf_text(phase, strlen(phase), LF_NAME_MAX));
    put(b, "tags", tags);
    return b;
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Appends {"id", "type", "timestamp", "body"} (body stolen) to out. */
static void envelope(json_t *out, const char *type, json_t *body, const char *now)
{
    char *dump = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!dump) {
        json_decref(body);
        return;
    }
    char id[LF_ID_MAX + 80];
    snprintf(id, sizeof id, "%.*s-%016llx", LF_ID_MAX + 48,
             json_string_value(json_object_get(body, "id")), (unsigned long long)fnv(dump));
    free(dump);
    json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:o}", "id", id, "type", type,
                                         "timestamp", now, "body", body));
}

json_t *lf_trace_envelopes(struct lf_trace *t, const char *now)
{
    json_t *out = json_array();
    if (!out)
        return NULL;
    const char *start = status_time(t->s.status, "startTime");
    if (!start)
        start = t->first_ts[0] ? t->first_ts : now;
    envelope(out, "trace-create", trace_body(t, start), now);
    json_t *g = generation(t, start);
    if (g)
        envelope(out, "generation-create", g, now);
    for (size_t i = 0; i < t->n_spans; i++)
        envelope(out, "span-create", json_incref(t->spans[i].body), now);
    return out;
}

void lf_trace_free(struct lf_trace *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_spans; i++) {
        json_decref(t->spans[i].body);
        free(t->spans[i].tool_id);
    }
    free(t->spans);
    free(t);
}

static const char batch_head[] = "{\"batch\":[";
static const char batch_tail[] = "]}";

size_t lf_batches(const json_t *envelopes, size_t max_bytes, size_t max_events, char ***out,
                  size_t *skipped)
{
    size_t n_env = json_array_size(envelopes), n = 0, cap = 0;
    char **bodies = NULL, *cur = NULL;
    size_t cur_len = 0, cur_events = 0;
    *out = NULL;
    *skipped = 0;
    size_t overhead = sizeof batch_head - 1 + sizeof batch_tail - 1;
    for (size_t i = 0; i <= n_env; i++) {
        char *e = i < n_env ? json_dumps(json_array_get(envelopes, i), JSON_COMPACT) : NULL;
        size_t e_len = e ? strlen(e) : 0;
        if (i < n_env && (!e || e_len + overhead > max_bytes)) {
            (*skipped)++;
            free(e);
            continue;
        }
        int full = cur && (!e || cur_events == max_events || cur_len + 1 + e_len + 2 > max_bytes);
        if (full) { /* close the body being filled */
            memcpy(cur + cur_len, batch_tail, sizeof batch_tail);
            if (n == cap) {
                size_t c = cap ? cap * 2 : 4;
                char **grown = realloc(bodies, c * sizeof *grown);
                if (!grown)
                    goto oom;
                bodies = grown;
                cap = c;
            }
            bodies[n++] = cur;
            cur = NULL;
        }
        if (!e)
            break;
        if (!cur) {
            if (!(cur = malloc(max_bytes + 1))) {
                free(e);
                goto oom;
            }
            memcpy(cur, batch_head, sizeof batch_head - 1);
            cur_len = sizeof batch_head - 1;
            cur_events = 0;
        } else {
            cur[cur_len++] = ',';
        }
        memcpy(cur + cur_len, e, e_len);
        cur_len += e_len;
        cur_events++;
        free(e);
    }
    *out = bodies;
    return n;
oom:
    free(cur);
    lf_batches_free(bodies, n);
    return 0;
}

void lf_batches_free(char **bodies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(bodies[i]);
    free(bodies);
}
