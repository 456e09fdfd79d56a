/* ws.h — RFC 6455 for the live listener: the opening handshake's accept
 * key, the server's frame writer, and a reader that turns a client's byte
 * stream into messages (unmasking, fragmentation, control frames, UTF-8
 * checks, close codes, 1009 for messages over the limit). */
#ifndef AMBIENT_API_LIVE_WS_H
#define AMBIENT_API_LIVE_WS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: 0, or -1 when the key is
 * not the base64 of 16 bytes. out gets 28 characters and a NUL. */
int ws_accept_key(const char *key, char out[29]);

/* Appends one unmasked server frame (FIN set). 0 or -1. */
int ws_write_frame(struct evbuffer *out, int opcode, const void *data, size_t len);
/* A close frame with code and a short reason (truncated to fit 125). */
int ws_write_close(struct evbuffer *out, int code, const char *reason);

/* 1 if p[0..n) is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
int ws_utf8_valid(const uint8_t *p, size_t n);
/* 1 if code may appear in a close frame on the wire (RFC 6455 §7.4). */
int ws_close_code_valid(int code);

enum ws_result {
    WS_MORE = 0,    /* need more bytes */
    WS_MESSAGE = 1, /* a complete text or binary message */
    WS_PING = 2,
    WS_PONG = 3,
    WS_CLOSE = 4,   /* peer's close: code (1005 when none), reason */
    WS_ERROR = 5,   /* fail the connection with close code */
};

struct ws_msg {
    int opcode;          /* WS_OP_TEXT / WS_OP_BINARY for WS_MESSAGE */
    const uint8_t *data; /* valid until the next ws_reader_next */
    size_t len;
    int code;            /* close code for WS_CLOSE and WS_ERROR */
};

struct ws_reader {
    size_t max_message; /* bytes of a whole (reassembled) message */
    int require_mask;   /* 1 on a server */
    int msg_opcode;     /* opcode of the fragmented message in progress, or 0 */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    uint8_t ctl[125];
};

void ws_reader_init(struct ws_reader *r, size_t max_message, int require_mask);
void ws_reader_clear(struct ws_reader *r);
/* Consumes at most one frame from in and says what it completed. */
enum ws_result ws_reader_next(struct ws_reader *r, struct evbuffer *in, struct ws_msg *out);

/* Reads one Sec-WebSocket-Protocol header value (a comma list): sets
 * *has_v1 when "ambient.v1" is offered and copies the token of a
 * "bearer.<base64url>" entry (padding optional) into token. Returns 1 when
 * a bearer entry was found, 0 when not, -1 when it is malformed, decodes to
 * bytes outside printable ASCII, or does not fit token_len. */
int ws_protocol_bearer(const char *value, int *has_v1, char *token, size_t token_len);

#endif
