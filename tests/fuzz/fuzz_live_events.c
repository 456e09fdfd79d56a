/* fuzz_live_events.c — a runner's POST .../events body as the live store
 * takes it: live_parse_events (live/jobs.c) on a JSON or NDJSON body, then
 * each accepted event through what live_hub_append and the streams do with
 * it: store_line (the stored line, "seq", "ts" and "source" first), store_line_seq
 * (how replay and recovery read a line back), SSE and WebSocket framing.
 *
 * Asserted: a parse either gives a non-empty array of objects, or a status
 * (400/500) and a NUL-terminated message that fits its buffer; a stored
 * line is one line (a single '\n', at its end), reads back as an object
 * with our seq, ts and source and the event's other members, and store_line_seq
 * gives back the seq. The raw body is also read as a stored line would be
 * (store_line_seq), as a log file on disk is only as good as its disk. The body sits in a heap block of its exact size
 * with no NUL after it, as a parser must not need one.
 *
 * Input: byte 0: bit 0 NDJSON, bits 1-3 pick the message buffer size;
 * bytes 1-4 the first seq; the rest is the body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "live/live_int.h"

static void store_one(const json_t *ev, uint64_t seq, struct evbuffer *out)
{
    static const char ts[] = "2026-11-26T11:00:00.123Z";
    size_t len = 0;
    char *line = store_line(ev, seq, ts, "runner", &len);
    if (!line)
        return; /* 500 "cannot encode event" */
    CHECK(len >= 2 && line[len - 1] == '\n' && line[len] == '\0');
    CHECK(memchr(line, '\n', len) == line + len - 1); /* one line, no injected ones */

    uint64_t back = 0;
    CHECK(store_line_seq(line, len, &back) == 0 && back == seq);
    /* recovery reads at most 40 bytes of a line's head */
    CHECK(store_line_seq(line, len < 40 ? len : 40, &back) == 0 && back == seq);

    json_error_t jerr;
    json_t *again = json_loadb(line, len - 1, 0, &jerr);
    CHECK(json_is_object(again));
    CHECK((uint64_t)json_integer_value(json_object_get(again, "seq")) == seq);
    CHECK(json_is_string(json_object_get(again, "ts")) &&
          strcmp(json_string_value(json_object_get(again, "ts")), ts) == 0);
    CHECK(json_is_string(json_object_get(again, "source")) &&
          strcmp(json_string_value(json_object_get(again, "source")), "runner") == 0);
    size_t own = json_object_size(ev) - (json_object_get(ev, "seq") ? 1 : 0) -
                 (json_object_get(ev, "ts") ? 1 : 0) - (json_object_get(ev, "source") ? 1 : 0);
    CHECK(json_object_size(again) == own + 3);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)ev, key, value) {
        if (strcmp(key, "seq") == 0 || strcmp(key, "ts") == 0 || strcmp(key, "source") == 0)
            continue;
        CHECK(json_equal(value, json_object_get(again, key)));
    }
    json_decref(again);

    CHECK(live_sse_event(out, seq, line, len) == 0);
    CHECK(ws_write_frame(out, WS_OP_TEXT, line, len - 1) == 0);
    evbuffer_drain(out, evbuffer_get_length(out));
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    int ndjson = data[0] & 1;
    static const size_t msg_sizes[] = {512, 512, 256, 64, 32, 16, 2, 1};
    size_t msg_len = msg_sizes[(data[0] >> 1) & 7];
    uint64_t first = 1 + (((uint64_t)data[1] << 24 | (uint64_t)data[2] << 16 |
                           (uint64_t)data[3] << 8 | data[4]) << (data[0] >> 4));
    data += 5;
    size -= 5;

    char *body = malloc(size ? size : 1);
    char *msg = malloc(msg_len);
    struct evbuffer *out = evbuffer_new();
    if (!body || !msg || !out)
        goto done;
    memcpy(body, data, size);
    memset(msg, 'x', msg_len);

    /* the body as a line of a log file (recovery and replay read those) */
    uint64_t seq_back;
    if (store_line_seq(body, size, &seq_back) == 0)
        CHECK(size >= 9 && memcmp(body, "{\"seq\":", 7) == 0);

    json_t *events = NULL;
    int st = live_parse_events(body, size, ndjson, &events, msg, msg_len);
    if (st != 0) {
        CHECK(st == 400 || st == 500);
        CHECK(events == NULL);
        CHECK(strnlen(msg, msg_len) < msg_len);
        goto done;
    }
    CHECK(json_is_array(events) && json_array_size(events) > 0);
    CHECK(ndjson || json_array_size(events) == 1);
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        CHECK(json_is_object(ev));
        store_one(ev, first + i, out);
    }
    json_decref(events);
done:
    evbuffer_free(out);
    free(msg);
    free(body);
    return 0;
}
