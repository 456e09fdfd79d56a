/* fuzz_ws.c — the WebSocket side of the live listener (live/ws.c): the
 * frame reader fed a client's byte stream, and the handshake's header
 * parsers (Sec-WebSocket-Protocol bearer entries, Sec-WebSocket-Key).
 *
 * The stream is read twice: all at once, and in chunks of sizes drawn from
 * a generator seeded by the input (1 byte at a time included), the way a
 * socket delivers it. Both readers must report the same messages, pings,
 * closes and errors in the same order: a frame split across reads must not
 * read differently. Message payloads are hashed, so each byte the reader
 * hands out is read (ASan checks it lies in the buffer). Every message is
 * echoed through ws_write_frame/ws_write_close like conn.c does.
 *
 * Input: byte 0 max_message, byte 1 flags (bit 0: frames need no mask)
 * and chunk seed, byte 2 length L of a header value, L bytes of it, then
 * the frame stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "live/ws.h"

#define MAX_EVENTS 256

struct event {
    enum ws_result r;
    int opcode, code;
    size_t len;
    uint64_t hash;
};

struct run {
    struct event ev[MAX_EVENTS];
    size_t n;
    int done; /* a close or an error ended the stream */
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Reads every frame in `in`, recording what completes, until more bytes
 * are needed or the stream ends (close, error). */
static void drain(struct ws_reader *r, struct evbuffer *in, struct run *run,
                  struct evbuffer *out)
{
    while (!run->done && run->n < MAX_EVENTS) {
        struct ws_msg m;
        size_t before = evbuffer_get_length(in);
        enum ws_result res = ws_reader_next(r, in, &m);
        if (res == WS_MORE)
            return;
        CHECK(res >= WS_MESSAGE && res <= WS_ERROR);
        CHECK(evbuffer_get_length(in) <= before);
        struct event *e = &run->ev[run->n++];
        e->r = res;
        e->opcode = m.opcode;
        e->code = m.code;
        e->len = m.len;
        e->hash = m.len ? fnv(m.data, m.len) : 0;
        switch (res) {
        case WS_MESSAGE:
            CHECK(m.opcode == WS_OP_TEXT || m.opcode == WS_OP_BINARY);
            CHECK(m.len <= r->max_message);
            CHECK(m.opcode != WS_OP_TEXT || ws_utf8_valid(m.data, m.len));
            ws_write_frame(out, m.opcode, m.data, m.len);
            break;
        case WS_PING:
        case WS_PONG:
            CHECK(m.len <= 125);
            ws_write_frame(out, WS_OP_PONG, m.data, m.len);
            break;
        case WS_CLOSE:
            CHECK(m.len <= 123);
            CHECK(m.code == WS_CLOSE_NO_STATUS || ws_close_code_valid(m.code));
            ws_write_close(out, m.code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : m.code, NULL);
            run->done = 1;
            break;
        case WS_ERROR:
            CHECK(m.code == WS_CLOSE_PROTOCOL || m.code == WS_CLOSE_TOO_BIG ||
                  m.code == WS_CLOSE_INVALID_DATA || m.code == WS_CLOSE_INTERNAL);
            ws_write_close(out, m.code, "protocol error");
            run->done = 1;
            break;
        default:
            break;
        }
        evbuffer_drain(out, evbuffer_get_length(out));
    }
}

static void header_value(const char *v)
{
    /* what conn.c does with each Sec-WebSocket-Protocol header */
    static const size_t sizes[] = {8192, 1, 2, 17};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *tok = malloc(sizes[i]);
        if (!tok)
            return;
        int v1 = 0;
        int rc = ws_protocol_bearer(v, &v1, tok, sizes[i]);
        CHECK(rc == -1 || rc == 0 || rc == 1);
        if (rc == 1) {
            size_t tl = strnlen(tok, sizes[i]);
            CHECK(tl > 0 && tl < sizes[i]);
            for (size_t k = 0; k < tl; k++)
                CHECK(tok[k] >= 0x21 && tok[k] <= 0x7e);
        }
        free(tok);
    }
    /* and as a Sec-WebSocket-Key */
    char accept[29];
    if (ws_accept_key(v, accept) == 0)
        CHECK(strlen(accept) == 28);
    /* a close reason cut to fit must stay UTF-8 when it was */
    struct evbuffer *out = evbuffer_new();
    if (out) {
        ws_write_close(out, WS_CLOSE_NORMAL, v);
        size_t n = evbuffer_get_length(out);
        uint8_t *f = evbuffer_pullup(out, -1);
        CHECK(n >= 4 && n <= 2 + 125 && f[1] == n - 2);
        if (ws_utf8_valid((const uint8_t *)v, strlen(v)))
            CHECK(ws_utf8_valid(f + 4, n - 4));
        evbuffer_free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max_message = data[0] < 16 ? data[0] : (size_t)data[0] * 64; /* 0..16320 */
    int require_mask = !(data[1] & 1);
    uint32_t seed = (uint32_t)data[1] * 2654435761u + 1;
    size_t hl = data[2];
    data += 3;
    size -= 3;
    if (hl > size)
        hl = size;
    char *hv = malloc(hl + 1);
    if (!hv)
        return 0;
    memcpy(hv, data, hl);
    hv[hl] = '\0';
    if (strlen(hv) == hl) /* a header value holds no NUL */
        header_value(hv);
    free(hv);
    data += hl;
    size -= hl;

    (void)ws_utf8_valid(data, size);

    static struct run whole, chunked;
    memset(&whole, 0, sizeof whole);
    memset(&chunked, 0, sizeof chunked);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    if (!in || !out) {
        evbuffer_free(in);
        evbuffer_free(out);
        return 0;
    }
    struct ws_reader r;

    /* all at once */
    ws_reader_init(&r, max_message, require_mask);
    evbuffer_add(in, data, size);
    drain(&r, in, &whole, out);
    ws_reader_clear(&r);
    evbuffer_drain(in, evbuffer_get_length(in));

    /* in chunks, as reads deliver them */
    ws_reader_init(&r, max_message, require_mask);
    size_t off = 0;
    while (off < size && !chunked.done && chunked.n < MAX_EVENTS) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        size_t n = (seed & 3) == 0 ? 1 : 1 + seed % 64;
        if (n > size - off)
            n = size - off;
        evbuffer_add(in, data + off, n);
        off += n;
        drain(&r, in, &chunked, out);
    }
    ws_reader_clear(&r);

    CHECK(whole.n == chunked.n);
    for (size_t i = 0; i < whole.n; i++) {
        const struct event *a = &whole.ev[i], *b = &chunked.ev[i];
        CHECK(a->r == b->r && a->opcode == b->opcode && a->code == b->code && a->len == b->len &&
              a->hash == b->hash);
    }
    evbuffer_free(in);
    evbuffer_free(out);
    return 0;
}
