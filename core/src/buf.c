/* buf.c — growable string buffer (see buf-internal.h). */
#include "buf-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(struct ambd_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > ((size_t)-1) / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void ambd_buf_reserve(struct ambd_buf *b, size_t n)
{
    buf_reserve(b, n);
}

void ambd_buf_append(struct ambd_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ambd_buf_puts(struct ambd_buf *b, const char *s)
{
    ambd_buf_append(b, s, strlen(s));
}

void ambd_buf_putc(struct ambd_buf *b, char c)
{
    ambd_buf_append(b, &c, 1);
}

size_t ambd_decimal(char out[AMBD_DECIMAL_MAX], size_t v)
{
    char digits[AMBD_DECIMAL_MAX];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, digits + i, sizeof digits - i);
    return sizeof digits - i;
}

void ambd_buf_put_size(struct ambd_buf *b, size_t v)
{
    char digits[AMBD_DECIMAL_MAX];
    ambd_buf_append(b, digits, ambd_decimal(digits, v));
}

void ambd_buf_vprintf(struct ambd_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (buf_reserve(b, (size_t)n) < 0)
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void ambd_buf_printf(struct ambd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ambd_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void ambd_buf_json_escape(struct ambd_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ambd_buf_append(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"': ambd_buf_puts(b, "\\\""); break;
        case '\\': ambd_buf_puts(b, "\\\\"); break;
        case '\n': ambd_buf_puts(b, "\\n"); break;
        case '\r': ambd_buf_puts(b, "\\r"); break;
        case '\t': ambd_buf_puts(b, "\\t"); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ambd_buf_append(b, u, sizeof u);
        }
        }
    }
    ambd_buf_puts(b, run);
}

char *ambd_buf_take(struct ambd_buf *b)
{
    char *s = NULL;
    if (!b->failed)
        s = b->data ? b->data : strdup("");
    else
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
    return s;
}

void ambd_buf_release(struct ambd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
