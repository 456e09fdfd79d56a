/* buf-internal.h — a growable byte buffer for building strings.
 * Allocation failure is sticky: later appends are ignored and
 * ambd_buf_take returns NULL, so callers check once at the end. */
#ifndef AMBD_BUF_INTERNAL_H
#define AMBD_BUF_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

struct ambd_buf {
    char *data; /* NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    int failed;
};

/* Room for n more bytes now, so a string of a known size is not grown
 * (copied) several times on the way. */
void ambd_buf_reserve(struct ambd_buf *b, size_t n);
void ambd_buf_append(struct ambd_buf *b, const char *s, size_t n);
void ambd_buf_puts(struct ambd_buf *b, const char *s);
void ambd_buf_putc(struct ambd_buf *b, char c);
/* v in decimal, without a printf: for keys built on every event. */
void ambd_buf_put_size(struct ambd_buf *b, size_t v);
/* v in decimal into out (no NUL); returns its length. */
#define AMBD_DECIMAL_MAX 20 /* digits of the largest size_t */
size_t ambd_decimal(char out[AMBD_DECIMAL_MAX], size_t v);
void ambd_buf_printf(struct ambd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ambd_buf_vprintf(struct ambd_buf *b, const char *fmt, va_list ap);
/* Appends s as the inside of a JSON string (quotes not included). */
void ambd_buf_json_escape(struct ambd_buf *b, const char *s);
/* Returns the string (caller frees) and resets b; NULL if any append failed. */
char *ambd_buf_take(struct ambd_buf *b);
void ambd_buf_release(struct ambd_buf *b);

#endif
