/* ws.c — RFC 6455 handshake key, framing and message reassembly (ws.h).
 * The server never masks, always requires the client's mask, refuses RSV
 * bits (no extensions are negotiated) and checks text for UTF-8 once the
 * message is whole. */
#include "live/ws.h"
#include "live/http1.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int ws_accept_key(const char *key, char out[29])
{
    size_t kl = key ? strlen(key) : 0;
    if (kl != 24 || key[22] != '=' || key[23] != '=')
        return -1;
    unsigned char raw[24];
    if (EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
        return -1;
    for (size_t i = 0; i < 22; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return -1;
    }
    unsigned char buf[24 + sizeof ws_guid];
    memcpy(buf, key, 24);
    memcpy(buf + 24, ws_guid, sizeof ws_guid - 1);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(buf, 24 + sizeof ws_guid - 1, md);
    if (EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH) != 28)
        return -1;
    out[28] = '\0';
    return 0;
}

int ws_write_frame(struct evbuffer *out, int opcode, const void *data, size_t len)
{
    uint8_t h[10];
    size_t hl;
    h[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (uint8_t)len;
        hl = 2;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    if (evbuffer_add(out, h, hl) != 0)
        return -1;
    if (len && evbuffer_add(out, data, len) != 0)
        return -1;
    return 0;
}

int ws_write_close(struct evbuffer *out, int code, const char *reason)
{
    uint8_t p[125];
    size_t n = 0;
    if (code > 0) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof p - 2)
            rl = sizeof p - 2;
        /* do not cut a UTF-8 sequence in half */
        while (rl > 0 && rl < strlen(reason) && ((unsigned char)reason[rl] & 0xc0) == 0x80)
            rl--;
        if (rl)
            memcpy(p + 2, reason, rl);
        n += rl;
    }
    return ws_write_frame(out, WS_OP_CLOSE, p, n);
}

int ws_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= need)
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

int ws_close_code_valid(int code)
{
    if (code >= 1000 && code <= 1003)
        return 1;
    if (code >= 1007 && code <= 1014)
        return 1;
    return code >= 3000 && code <= 4999;
}

void ws_reader_init(struct ws_reader *r, size_t max_message, int require_mask)
{
    memset(r, 0, sizeof *r);
    r->max_message = max_message;
    r->require_mask = require_mask;
}

void ws_reader_clear(struct ws_reader *r)
{
    free(r->msg);
    r->msg = NULL;
    r->msg_len = r->msg_cap = 0;
    r->msg_opcode = 0;
}

static enum ws_result fail(struct ws_msg *out, int code)
{
    out->code = code;
    return WS_ERROR;
}

enum ws_result ws_reader_next(struct ws_reader *r, struct evbuffer *in, struct ws_msg *out)
{
again:
    memset(out, 0, sizeof *out);
    uint8_t h[14];
    size_t avail = evbuffer_get_length(in);
    if (avail < 2)
        return WS_MORE;
    evbuffer_copyout(in, h, avail < sizeof h ? avail : sizeof h);
    int fin = h[0] >> 7, rsv = (h[0] >> 4) & 7, op = h[0] & 0x0f;
    int masked = h[1] >> 7;
    uint64_t len = h[1] & 0x7f;
    size_t hl = 2;
    if (rsv)
        return fail(out, WS_CLOSE_PROTOCOL);
    if (r->require_mask && !masked)
        return fail(out, WS_CLOSE_PROTOCOL);
    int control = op >= 0x8;
    if (control && (op > WS_OP_PONG || !fin || len > 125))
        return fail(out, WS_CLOSE_PROTOCOL);
    if (!control && op > WS_OP_BINARY)
        return fail(out, WS_CLOSE_PROTOCOL);
    if (op == WS_OP_CONT && !r->msg_opcode)
        return fail(out, WS_CLOSE_PROTOCOL);
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && r->msg_opcode)
        return fail(out, WS_CLOSE_PROTOCOL);
    if (len == 126) {
        if (avail < 4)
            return WS_MORE;
        len = ((uint64_t)h[2] << 8) | h[3];
        if (len < 126)
            return fail(out, WS_CLOSE_PROTOCOL);
        hl = 4;
    } else if (len == 127) {
        if (avail < 10)
            return WS_MORE;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | h[2 + i];
        if (len >> 63 || len <= 0xffff)
            return fail(out, WS_CLOSE_PROTOCOL);
        hl = 10;
    }
    /* refuse before buffering: the limit bounds what we ever hold */
    if (!control && (len > r->max_message || r->msg_len + len > r->max_message))
        return fail(out, WS_CLOSE_TOO_BIG);
    uint8_t mask[4] = {0, 0, 0, 0};
    if (masked) {
        if (avail < hl + 4)
            return WS_MORE;
        memcpy(mask, h + hl, 4);
        hl += 4;
    }
    if (avail < hl + len)
        return WS_MORE;
    evbuffer_drain(in, hl);

    uint8_t *dst;
    if (control) {
        dst = r->ctl;
    } else {
        if (r->msg_len + len > r->msg_cap || !r->msg) {
            size_t cap = r->msg_cap ? r->msg_cap : 256;
            while (cap < r->msg_len + len + 1)
                cap *= 2;
            if (cap > r->max_message + 1)
                cap = r->max_message + 1;
            uint8_t *m = realloc(r->msg, cap);
            if (!m)
                return fail(out, WS_CLOSE_INTERNAL);
            r->msg = m;
            r->msg_cap = cap;
        }
        dst = r->msg + r->msg_len;
    }
    if (len)
        evbuffer_remove(in, dst, (size_t)len);
    if (masked)
        for (uint64_t i = 0; i < len; i++)
            dst[i] ^= mask[i & 3];

    if (control) {
        out->data = r->ctl;
        out->len = (size_t)len;
        if (op == WS_OP_PING)
            return WS_PING;
        if (op == WS_OP_PONG)
            return WS_PONG;
        /* close */
        if (len == 1)
            return fail(out, WS_CLOSE_PROTOCOL);
        out->code = WS_CLOSE_NO_STATUS;
        if (len >= 2) {
            out->code = (r->ctl[0] << 8) | r->ctl[1];
            if (!ws_close_code_valid(out->code))
                return fail(out, WS_CLOSE_PROTOCOL);
            if (!ws_utf8_valid(r->ctl + 2, (size_t)len - 2))
                return fail(out, WS_CLOSE_INVALID_DATA);
            out->data = r->ctl + 2;
            out->len = (size_t)len - 2;
        }
        return WS_CLOSE;
    }
    if (op != WS_OP_CONT)
        r->msg_opcode = op;
    r->msg_len += (size_t)len;
    if (!fin)
        goto again; /* a fragment: read on while whole frames are here */
    out->opcode = r->msg_opcode;
    out->data = r->msg;
    out->len = r->msg_len;
    r->msg_opcode = 0;
    r->msg_len = 0;
    if (out->opcode == WS_OP_TEXT && !ws_utf8_valid(out->data, out->len))
        return fail(out, WS_CLOSE_INVALID_DATA);
    return WS_MESSAGE;
}

static int b64url_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

static int b64url_decode(const char *s, size_t n, char *out, size_t out_len)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned char c = (unsigned char)(acc >> bits);
            if (c < 0x21 || c > 0x7e || o + 1 >= out_len)
                return -1;
            out[o++] = (char)c;
        }
    }
    if (o == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

int ws_protocol_bearer(const char *value, int *has_v1, char *token, size_t token_len)
{
    int found = 0;
    const char *p = value, *s;
    size_t n;
    while (http1_next_item(&p, &s, &n)) {
        if (n == 10 && memcmp(s, "ambient.v1", 10) == 0) {
            *has_v1 = 1;
        } else if (n > 7 && memcmp(s, "bearer.", 7) == 0) {
            if (found || b64url_decode(s + 7, n - 7, token, token_len) != 0)
                return -1;
            found = 1;
        }
    }
    return found;
}
