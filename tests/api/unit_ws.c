/* unit_ws.c — unit tests of the live listener's wire formats: RFC 6455
 * (accept key, frame writer, the reader's unmasking, fragmentation, control
 * frames, UTF-8 and close codes, 1009 before buffering), the bearer
 * subprotocol, and the HTTP/1.1 request-head parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "live/http1.h"
#include "live/ws.h"

/* ---- frames from the client side ---- */

static size_t client_frame(uint8_t *out, int fin, int op, const void *payload, size_t len,
                           int mask_it)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | op);
    uint8_t m = mask_it ? 0x80 : 0;
    if (len < 126) {
        out[h++] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        out[h++] = m | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask_it) {
        memcpy(out + h, mask, 4);
        h += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ (mask_it ? mask[i & 3] : 0);
    return h + len;
}

static void feed(struct evbuffer *in, int fin, int op, const void *p, size_t n)
{
    uint8_t *buf = malloc(n + 14);
    size_t len = client_frame(buf, fin, op, p, n, 1);
    evbuffer_add(in, buf, len);
    free(buf);
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[29];
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key(NULL, out), -1);
    assert_int_equal(ws_accept_key("", out), -1);
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", out), -1);
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25j!Q==", out), -1);
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==x", out), -1);
}

static void test_write_frame_lengths(void **state)
{
    (void)state;
    static uint8_t data[70000];
    size_t lens[] = {0, 1, 125, 126, 65535, 65536, 70000};
    size_t hdr[] = {2, 2, 2, 4, 4, 10, 10};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        struct evbuffer *b = evbuffer_new();
        assert_int_equal(ws_write_frame(b, WS_OP_TEXT, data, lens[i]), 0);
        assert_int_equal(evbuffer_get_length(b), hdr[i] + lens[i]);
        uint8_t *p = evbuffer_pullup(b, -1);
        assert_int_equal(p[0], 0x81);
        assert_int_equal(p[1] & 0x80, 0); /* a server never masks */
        evbuffer_free(b);
    }
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(ws_write_close(b, 1009, "message too big"), 0);
    uint8_t *p = evbuffer_pullup(b, -1);
    assert_int_equal(p[0], 0x88);
    assert_int_equal(p[1], 2 + 15);
    assert_int_equal((p[2] << 8) | p[3], 1009);
    evbuffer_free(b);
    /* a long reason is cut to fit a control frame */
    char reason[300];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    b = evbuffer_new();
    ws_write_close(b, 1000, reason);
    assert_int_equal(evbuffer_get_length(b), 2 + 125);
    evbuffer_free(b);
}

static void test_reader_text_and_partial(void **state)
{
    (void)state;
    struct ws_reader r;
    struct ws_msg m;
    ws_reader_init(&r, 1024, 1);
    uint8_t buf[64];
    size_t n = client_frame(buf, 1, WS_OP_TEXT, "hello", 5, 1);
    struct evbuffer *in = evbuffer_new();
    /* byte by byte: nothing until the frame is whole */
    for (size_t i = 0; i + 1 < n; i++) {
        evbuffer_add(in, buf + i, 1);
        assert_int_equal(ws_reader_next(&r, in, &m), WS_MORE);
    }
    evbuffer_add(in, buf + n - 1, 1);
    assert_int_equal(ws_reader_next(&r, in, &m), WS_MESSAGE);
    assert_int_equal(m.opcode, WS_OP_TEXT);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "hello", 5);
    assert_int_equal(evbuffer_get_length(in), 0);
    /* 16-bit length */
    char big[300];
    memset(big, 'x', sizeof big);
    feed(in, 1, WS_OP_BINARY, big, sizeof big);
    assert_int_equal(ws_reader_next(&r, in, &m), WS_MESSAGE);
    assert_int_equal(m.opcode, WS_OP_BINARY);
    assert_int_equal(m.len, 300);
    ws_reader_clear(&r);
    evbuffer_free(in);
}

static void test_reader_fragments_and_control(void **state)
{
    (void)state;
    struct ws_reader r;
    struct ws_msg m;
    ws_reader_init(&r, 1024, 1);
    struct evbuffer *in = evbuffer_new();
    feed(in, 0, WS_OP_TEXT, "hel", 3);
    feed(in, 1, WS_OP_PING, "p1", 2);
    feed(in, 0, WS_OP_CONT, "lo ", 3);
    feed(in, 1, WS_OP_CONT, "world", 5);
    assert_int_equal(ws_reader_next(&r, in, &m), WS_PING);
    assert_int_equal(m.len, 2);
    assert_memory_equal(m.data, "p1", 2);
    assert_int_equal(ws_reader_next(&r, in, &m), WS_MESSAGE);
    assert_int_equal(m.len, 11);
    assert_memory_equal(m.data, "hello world", 11);
    feed(in, 1, WS_OP_PONG, "", 0);
    assert_int_equal(ws_reader_next(&r, in, &m), WS_PONG);
    uint8_t cl[] = {0x03, 0xe8, 'b', 'y', 'e'};
    feed(in, 1, WS_OP_CLOSE, cl, sizeof cl);
    assert_int_equal(ws_reader_next(&r, in, &m), WS_CLOSE);
    assert_int_equal(m.code, 1000);
    assert_int_equal(m.len, 3);
    feed(in, 1, WS_OP_CLOSE, "", 0);
    assert_int_equal(ws_reader_next(&r, in, &m), WS_CLOSE);
    assert_int_equal(m.code, WS_CLOSE_NO_STATUS);
    ws_reader_clear(&r);
    evbuffer_free(in);
}

/* Each case: frames that must fail the connection with code. */
static void expect_error(const uint8_t *bytes, size_t n, size_t max, int code)
{
    struct ws_reader r;
    struct ws_msg m;
    ws_reader_init(&r, max, 1);
    struct evbuffer *in = evbuffer_new();
    evbuffer_add(in, bytes, n);
    enum ws_result res;
    while ((res = ws_reader_next(&r, in, &m)) == WS_MESSAGE || res == WS_PING)
        ;
    assert_int_equal(res, WS_ERROR);
    assert_int_equal(m.code, code);
    ws_reader_clear(&r);
    evbuffer_free(in);
}

static void test_reader_errors(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t n;
    n = client_frame(b, 1, WS_OP_TEXT, "hi", 2, 0); /* unmasked */
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 1, WS_OP_TEXT, "hi", 2, 1);
    b[0] |= 0x40; /* RSV1 without an extension */
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 1, WS_OP_CONT, "hi", 2, 1); /* nothing to continue */
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 0, WS_OP_TEXT, "a", 1, 1);
    n += client_frame(b + n, 1, WS_OP_TEXT, "b", 1, 1); /* a new message mid-way */
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 0, WS_OP_PING, "a", 1, 1); /* fragmented control */
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    uint8_t big[130] = {0};
    n = client_frame(b, 1, WS_OP_PING, big, 126, 1); /* control over 125 */
    expect_error(b, n, 1000, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 1, 0x3, "a", 1, 1); /* reserved opcode */
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 1, 0xB, "a", 1, 1);
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 1, WS_OP_TEXT, "\xc3\x28", 2, 1); /* bad UTF-8 */
    expect_error(b, n, 100, WS_CLOSE_INVALID_DATA);
    n = client_frame(b, 1, WS_OP_CLOSE, "\x03", 1, 1); /* close, 1 byte */
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 1, WS_OP_CLOSE, "\x03\xed", 2, 1); /* 1005 on the wire */
    expect_error(b, n, 100, WS_CLOSE_PROTOCOL);
    n = client_frame(b, 1, WS_OP_CLOSE, "\x03\xe8\xff", 3, 1); /* reason not UTF-8 */
    expect_error(b, n, 100, WS_CLOSE_INVALID_DATA);
    /* 16-bit length used for a short payload: not minimal */
    uint8_t nm[] = {0x81, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
    expect_error(nm, sizeof nm, 100, WS_CLOSE_PROTOCOL);
    /* 64-bit length with the top bit set */
    uint8_t top[] = {0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0};
    expect_error(top, sizeof top, 100, WS_CLOSE_PROTOCOL);
}

static void test_reader_too_big(void **state)
{
    (void)state;
    /* refused from the header alone: 2^40 bytes are never buffered */
    uint8_t huge[] = {0x81, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0};
    expect_error(huge, sizeof huge, 1 << 20, WS_CLOSE_TOO_BIG);
    uint8_t b[512];
    char p[200];
    memset(p, 'a', sizeof p);
    size_t n = client_frame(b, 1, WS_OP_TEXT, p, 101, 1);
    expect_error(b, n, 100, WS_CLOSE_TOO_BIG);
    n = client_frame(b, 1, WS_OP_TEXT, p, 100, 1); /* exactly the limit is fine */
    struct ws_reader r;
    struct ws_msg m;
    ws_reader_init(&r, 100, 1);
    struct evbuffer *in = evbuffer_new();
    evbuffer_add(in, b, n);
    assert_int_equal(ws_reader_next(&r, in, &m), WS_MESSAGE);
    ws_reader_clear(&r);
    evbuffer_free(in);
    /* over the limit only when the fragments add up */
    n = client_frame(b, 0, WS_OP_TEXT, p, 60, 1);
    n += client_frame(b + n, 1, WS_OP_CONT, p, 60, 1);
    expect_error(b, n, 100, WS_CLOSE_TOO_BIG);
}

static void test_utf8(void **state)
{
    (void)state;
    struct {
        const char *s;
        int ok;
    } cases[] = {
        {"plain", 1},          {"\xc3\xa9", 1},          {"\xe2\x82\xac", 1},
        {"\xf0\x9f\x98\x80", 1}, {"\xc0\xaf", 0},        {"\xe0\x80\xaf", 0},
        {"\xed\xa0\x80", 0},   {"\xf4\x90\x80\x80", 0}, {"\xf5\x80\x80\x80", 0},
        {"\xe2\x82", 0},       {"\x80", 0},             {"\xff", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(ws_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s)),
                         cases[i].ok);
    assert_true(ws_close_code_valid(1000));
    assert_true(ws_close_code_valid(4999));
    assert_false(ws_close_code_valid(1004));
    assert_false(ws_close_code_valid(1006));
    assert_false(ws_close_code_valid(1015));
    assert_false(ws_close_code_valid(999));
    assert_false(ws_close_code_valid(5000));
}

static void test_protocol_bearer(void **state)
{
    (void)state;
    char tok[64];
    int v1 = 0;
    /* "alice-token" in base64url, unpadded */
    assert_int_equal(ws_protocol_bearer("ambient.v1, bearer.YWxpY2UtdG9rZW4", &v1, tok, sizeof tok), 1);
    assert_true(v1);
    assert_string_equal(tok, "alice-token");
    v1 = 0;
    assert_int_equal(ws_protocol_bearer("bearer.YWxpY2UtdG9rZW4=", &v1, tok, sizeof tok), 1);
    assert_false(v1);
    assert_int_equal(ws_protocol_bearer("ambient.v1", &v1, tok, sizeof tok), 0);
    assert_true(v1);
    assert_int_equal(ws_protocol_bearer("chat, superchat", &v1, tok, sizeof tok), 0);
    assert_int_equal(ws_protocol_bearer("bearer.!!!", &v1, tok, sizeof tok), -1);
    assert_int_equal(ws_protocol_bearer("bearer.", &v1, tok, sizeof tok), 0); /* not ours */
    /* a control byte inside the token */
    assert_int_equal(ws_protocol_bearer("bearer.YQph", &v1, tok, sizeof tok), -1);
    /* two bearers */
    assert_int_equal(ws_protocol_bearer("bearer.YQ, bearer.Yg", &v1, tok, sizeof tok), -1);
    /* too long for the buffer */
    assert_int_equal(ws_protocol_bearer("bearer.YWxpY2UtdG9rZW4", &v1, tok, 5), -1);
}

/* ---- HTTP/1.1 ---- */

static int parse(const char *s, struct http1_req *r)
{
    size_t hl = http1_head_len(s, strlen(s));
    if (hl == 0)
        return -1;
    return http1_parse(s, hl, r);
}

static void test_http_parse(void **state)
{
    (void)state;
    struct http1_req r;
    const char *s = "GET /api/projects/p/agentic-sessions/n/ws?after=12&x=a%20b HTTP/1.1\r\n"
                    "Host: h\r\nUpgrade:  websocket \r\nConnection: keep-alive, Upgrade\r\n"
                    "sec-websocket-protocol: a\r\nSec-WebSocket-Protocol: b\r\n\r\nEXTRA";
    assert_int_equal(http1_head_len(s, strlen(s)), strlen(s) - 5);
    assert_int_equal(parse(s, &r), 0);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.path, "/api/projects/p/agentic-sessions/n/ws");
    assert_string_equal(r.query, "after=12&x=a%20b");
    assert_int_equal(r.minor, 1);
    assert_true(r.keep_alive);
    assert_int_equal(r.content_length, -1);
    assert_string_equal(http1_header(&r, "upgrade", NULL), "websocket");
    assert_true(http1_has_token(http1_header(&r, "CONNECTION", NULL), "upgrade"));
    assert_false(http1_has_token("keep-alive, Upgraded", "upgrade"));
    size_t it = 0;
    assert_string_equal(http1_header(&r, "Sec-WebSocket-Protocol", &it), "a");
    assert_string_equal(http1_header(&r, "Sec-WebSocket-Protocol", &it), "b");
    assert_null(http1_header(&r, "Sec-WebSocket-Protocol", &it));
    char v[16];
    assert_int_equal(http1_query(r.query, "after", v, sizeof v), 0);
    assert_string_equal(v, "12");
    assert_int_equal(http1_query(r.query, "x", v, sizeof v), 0);
    assert_string_equal(v, "a b");
    assert_int_equal(http1_query(r.query, "y", v, sizeof v), -1);
    assert_int_equal(http1_query(r.query, "x", v, 3), -2);
    assert_int_equal(http1_query("a=%0", "a", v, sizeof v), -2);
    assert_int_equal(http1_query("a=%00", "a", v, sizeof v), -2);
    assert_int_equal(http1_query(NULL, "a", v, sizeof v), -1);
    http1_req_clear(&r);

    assert_int_equal(parse("POST /x HTTP/1.0\nContent-Length: 12\n\n", &r), 0);
    assert_int_equal(r.content_length, 12);
    assert_false(r.keep_alive);
    http1_req_clear(&r);
    assert_int_equal(parse("POST /x HTTP/1.1\r\nConnection: close\r\nContent-Length: 3\r\n"
                           "Content-Length: 3\r\n\r\n", &r), 0);
    assert_false(r.keep_alive);
    http1_req_clear(&r);
}

static void test_http_bad(void **state)
{
    (void)state;
    struct http1_req r;
    const char *bad400[] = {
        "GET\r\n\r\n",
        "GET  /x HTTP/1.1\r\n\r\n",
        "GET x HTTP/1.1\r\n\r\n",
        "G(T /x HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET /x HTTP/1.1\r\n: v\r\n\r\n",
        "GET /x HTTP/1.1\r\nA b: v\r\n\r\n",
        "GET /x HTTP/1.1\r\nA: v\r\n folded\r\n\r\n",
        "GET /x HTTP/1.1\r\nA: v\x01\r\n\r\n",
        "GET /x\x7f HTTP/1.1\r\n\r\n",
        "POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "POST /x HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        "POST /x HTTP/1.1\r\nContent-Length: 3x\r\n\r\n",
        "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /x HTTP/1.1x\r\n\r\n",
        "GET /x FTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad400 / sizeof bad400[0]; i++) {
        int st = parse(bad400[i], &r);
        if (st != 400)
            fail_msg("case %zu: %d", i, st);
        http1_req_clear(&r);
    }
    const char nul[] = "GET /x HTTP/1.1\r\nA: b\0c\r\n\r\n";
    assert_int_equal(http1_parse(nul, sizeof nul - 1, &r), 400);
    http1_req_clear(&r);
    assert_int_equal(parse("GET /x HTTP/2.0\r\n\r\n", &r), 505);
    http1_req_clear(&r);
    /* more headers than HTTP1_MAX_HEADERS */
    char many[4096] = "GET /x HTTP/1.1\r\n";
    for (int i = 0; i <= HTTP1_MAX_HEADERS; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    assert_int_equal(parse(many, &r), 431);
    http1_req_clear(&r);
    assert_int_equal(http1_head_len("GET / HTTP/1.1\r\nA: b\r\n", 22), 0);
    uint64_t u;
    assert_int_equal(http1_parse_u64("18446744073709551615", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(http1_parse_u64("18446744073709551616", &u), -1);
    assert_int_equal(http1_parse_u64("", &u), -1);
    assert_int_equal(http1_parse_u64("+1", &u), -1);
    assert_string_equal(http1_reason(413), "Content Too Large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_write_frame_lengths),
        cmocka_unit_test(test_reader_text_and_partial),
        cmocka_unit_test(test_reader_fragments_and_control),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_reader_too_big),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_protocol_bearer),
        cmocka_unit_test(test_http_parse),
        cmocka_unit_test(test_http_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
