/* langfuse_batch.h — what one finished session run becomes in LangFuse's
 * ingestion API (POST /api/public/ingestion): a trace for the run, a
 * generation with the model's usage and cost, and a span per tool call of
 * its event log; then the request bodies that carry them. Pure: no I/O, no
 * host calls, so every bound is tested with hostile input
 * (tests/api/unit_langfuse_batch.c). */
#ifndef AMBIENT_API_LIVE_LANGFUSE_BATCH_H
#define AMBIENT_API_LIVE_LANGFUSE_BATCH_H

#include <stddef.h>

#include <jansson.h>

/* The run being exported; every pointer borrowed. */
struct lf_session {
    const char *kind;     /* "AgenticSession" */
    const char *project;  /* namespace */
    const char *name;
    const char *uid;      /* with run, the trace's id: a second export upserts */
    long long run;        /* the ambient-code.io/run annotation (1 when absent) */
    const json_t *status; /* phase, startTime, completionTime, usage, results, error */
    const char *model;    /* spec.model, or NULL */
    const char *prompt;   /* spec.prompt, or NULL */
};

struct lf_limits {
    size_t max_field;      /* bytes of any text sent (prompt, tool input/output) */
    size_t max_tool_calls; /* spans per trace; more are counted, not sent */
};

struct lf_trace;

/* NULL when out of memory. */
struct lf_trace *lf_trace_new(const struct lf_session *s, const struct lf_limits *lim);
/* Takes one stored event of the session's log (borrowed; {"seq", "ts", ...}):
 * tool_use blocks open spans, tool_result blocks close them. Events stamped
 * before the run's status.startTime (to the second) belong to an earlier
 * run and are skipped. */
void lf_trace_add(struct lf_trace *t, const json_t *ev);
/* The ingestion events (new ref, an array; NULL when out of memory):
 * trace-create first, then generation-create (when status.usage is an
 * object) and span-create per tool call. Each envelope's id is its body's id
 * and a hash of the body, so the same export sent twice is deduplicated
 * and a changed one updates the same objects. now: RFC 3339. */
json_t *lf_trace_envelopes(struct lf_trace *t, const char *now);
void lf_trace_free(struct lf_trace *t);

/* Splits envelopes into request bodies {"batch": [...]} of at most
 * max_bytes and max_events each, in order; *out (malloc'd array of malloc'd
 * strings) has the returned count. An envelope larger than max_bytes alone
 * is left out and counted in *skipped. 0 with *out NULL when there is
 * nothing to send or no memory. */
size_t lf_batches(const json_t *envelopes, size_t max_bytes, size_t max_events, char ***out,
                  size_t *skipped);
void lf_batches_free(char **bodies, size_t n);

/* s[0..len) as a JSON string of at most max bytes of valid UTF-8 (invalid
 * bytes become U+FFFD) and, when cut, a note of how much was left out. */
json_t *lf_text(const char *s, size_t len, size_t max);

#endif
