/* json_parse.c — see json_parse-internal.h. A recursive descent over the
 * buffer; a NULL out pointer validates a value without building it. */
#include "json_parse-internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *start, *end;
    struct ambd_json_error *err;
};

static const char *fail(struct parser *p, const char *at, const char *what)
{
    if (p->err) {
        p->err->offset = (size_t)(at - p->start);
        snprintf(p->err->text, sizeof p->err->text, "%s at byte %zu", what,
                 (size_t)(at - p->start));
    }
    return NULL;
}

static const char *skip_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    return s;
}

/* Length of the valid UTF-8 sequence at u (u[0] >= 0x80), or 0: no
 * overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_len(const unsigned char *u, const unsigned char *end)
{
    unsigned c = u[0], min;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, min = 0x10000;
    else
        return 0;
    if ((size_t)(end - u) < n)
        return 0;
    unsigned long cp = c & (0x3Fu >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (u[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static long hex4(const unsigned char *u)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = u[i];
        int h = c >= '0' && c <= '9'   ? (int)(c - '0')
                : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
                : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10)
                                       : -1;
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The escape at u (u[0] is the backslash): its length in the text, with its
 * UTF-8 bytes in out[0..*n); 0 when it is not a valid escape. \u0000 and
 * unpaired surrogates are refused, as jansson refuses them. */
static size_t escape(const unsigned char *u, const unsigned char *end, char out[4], size_t *n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (end - u < 2)
        return 0;
    const char *simple = u[1] ? strchr(from, u[1]) : NULL;
    if (simple) {
        out[0] = to[simple - from];
        *n = 1;
        return 2;
    }
    if (u[1] != 'u' || end - u < 6)
        return 0;
    long cp = hex4(u + 2);
    size_t used = 6;
    if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - u < 12 || u[6] != '\\' || u[7] != 'u')
            return 0;
        long lo = hex4(u + 8);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return 0;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        used = 12;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        *n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        *n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        *n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        *n = 4;
    }
    return used;
}

/* 16 bytes in a GCC/Clang vector: SSE2 on x86-64, NEON on arm64, plain
 * words elsewhere, from the same source. */
typedef signed char bytes16 __attribute__((vector_size(16)));

static bytes16 special16(bytes16 v) { return (v < 0x20) | (v == '"') | (v == '\\'); }

/* Whether all of the 64 bytes at u need no look (as below): long strings,
 * a spec's text, go 64 bytes per test and branch. */
static int plain64(const unsigned char *u)
{
    bytes16 a, b, c, d; /* four loads, no array: one would go through the stack */
    memcpy(&a, u, 16);
    memcpy(&b, u + 16, 16);
    memcpy(&c, u + 32, 16);
    memcpy(&d, u + 48, 16);
    bytes16 special = special16(a) | special16(b) | special16(c) | special16(d);
    uint64_t half[2];
    memcpy(half, &special, sizeof half);
    return (half[0] | half[1]) == 0;
}

/* How many of the 16 bytes at u, from the first, need no look in a
 * string: printable ASCII (0x20..0x7F) other than '"' and '\\'. As signed
 * chars, the bytes from 0x80 up are negative, so one "< 0x20" finds them
 * with the control characters; the first special byte's lane is found
 * with a count of zero bits in whichever 8-byte half holds it. */
static unsigned plain_run16(const unsigned char *u)
{
    bytes16 v;
    memcpy(&v, u, sizeof v);
    bytes16 special = special16(v);
    uint64_t half[2];
    memcpy(half, &special, sizeof half);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (half[0])
        return (unsigned)__builtin_ctzll(half[0]) / 8;
    if (half[1])
        return 8 + (unsigned)__builtin_ctzll(half[1]) / 8;
#else
    if (half[0])
        return (unsigned)__builtin_clzll(half[0]) / 8;
    if (half[1])
        return 8 + (unsigned)__builtin_clzll(half[1]) / 8;
#endif
    return 16;
}

/* The string whose opening quote is at s: returns the position of its
 * closing quote, with *escaped set when it holds escapes; NULL if invalid. */
static const char *scan_string(struct parser *p, const char *s, int *escaped)
{
    const unsigned char *u = (const unsigned char *)s + 1;
    const unsigned char *end = (const unsigned char *)p->end;
    *escaped = 0;
    while (u < end) {
        /* The common case first: a run of plain ASCII, 16 bytes at a time
         * (strings are most of an object's bytes, and most are plain), up
         * to the first byte that needs a look; near the buffer's end, one
         * at a time. */
        unsigned run = 16;
        while (end - u >= 64 && plain64(u))
            u += 64;
        while (run == 16 && end - u >= 16)
            u += run = plain_run16(u);
        while (run == 16 && u < end && *u >= 0x20 && *u < 0x80 && *u != '"' && *u != '\\')
            u++;
        if (u >= end)
            break;
        if (*u == '"')
            return (const char *)u;
        if (*u < 0x20)
            return fail(p, (const char *)u, "control character in a string");
        size_t n;
        if (*u == '\\') {
            char tmp[4];
            size_t used = escape(u, end, tmp, &n);
            if (!used)
                return fail(p, (const char *)u, "invalid escape in a string");
            *escaped = 1;
            u += used;
        } else {
            if (!(n = utf8_len(u, end)))
                return fail(p, (const char *)u, "invalid UTF-8 in a string");
            u += n;
        }
    }
    return fail(p, s, "unterminated string");
}

/* Decodes a scanned string's body [body, close) into out (room for
 * close - body bytes: decoding never grows it); returns the length. */
static size_t decode(const char *body, const char *close, char *out)
{
    const unsigned char *u = (const unsigned char *)body, *end = (const unsigned char *)close;
    size_t len = 0;
    while (u < end) {
        if (*u != '\\') {
            out[len++] = (char)*u++;
            continue;
        }
        size_t n = 0;
        u += escape(u, end, out + len, &n);
        len += n;
    }
    return len;
}

static json_t *make_string(const char *body, const char *close, int escaped)
{
    size_t raw = (size_t)(close - body);
    if (!escaped)
        return json_stringn_nocheck(body, raw);
    char *buf = malloc(raw ? raw : 1);
    json_t *s = buf ? json_stringn_nocheck(buf, decode(body, close, buf)) : NULL;
    free(buf);
    return s;
}

static int is_digit(const char *s, const char *end) { return s < end && *s >= '0' && *s <= '9'; }

static const char *number(struct parser *p, const char *s, json_t **out)
{
    const char *q = s, *end = p->end;
    int real = 0;
    if (*q == '-')
        q++;
    if (is_digit(q, end) && *q == '0')
        q++;
    else if (is_digit(q, end))
        while (is_digit(q, end))
            q++;
    else
        return fail(p, s, "invalid number");
    if (q < end && *q == '.') {
        real = 1;
        if (!is_digit(++q, end))
            return fail(p, s, "invalid number");
        while (is_digit(q, end))
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        real = 1;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (!is_digit(q, end))
            return fail(p, s, "invalid number");
        while (is_digit(q, end))
            q++;
    }
    if (!out)
        return q;
    if (!real) {
        int neg = *s == '-';
        long long v = 0;
        for (const char *d = s + neg; d < q; d++) {
            int dig = *d - '0';
            if (neg ? v < (LLONG_MIN + dig) / 10 : v > (LLONG_MAX - dig) / 10)
                return fail(p, s, "too big an integer");
            v = neg ? v * 10 - dig : v * 10 + dig;
        }
        *out = json_integer(v);
    } else {
        /* strtod needs a terminated copy: the buffer is not one. */
        size_t n = (size_t)(q - s);
        char small[64];
        char *copy = n < sizeof small ? small : malloc(n + 1);
        if (!copy)
            return fail(p, s, "out of memory");
        memcpy(copy, s, n);
        copy[n] = '\0';
        errno = 0;
        double d = strtod(copy, NULL);
        if (copy != small)
            free(copy);
        if (errno == ERANGE && isinf(d))
            return fail(p, s, "real number overflow");
        *out = json_real(d);
    }
    return *out ? q : fail(p, s, "out of memory");
}

static const char *value(struct parser *p, const char *s, json_t **out, unsigned depth);

static const char *literal(struct parser *p, const char *s, const char *word, json_t *v,
                           json_t **out)
{
    size_t n = strlen(word);
    if ((size_t)(p->end - s) < n || memcmp(s, word, n) != 0)
        return fail(p, s, "invalid token");
    if (out)
        *out = v;
    return s + n;
}

/* Adds key (the scanned string at [open, close)) to obj, refusing a
 * duplicate (1); v is stolen. A duplicate is told by the object's size not
 * growing, one hash lookup instead of a check and then an insert: it has
 * replaced the first value, but obj is being discarded then anyway. */
static int put_member(json_t *obj, const char *open, const char *close, int escaped, json_t *v)
{
    const char *key = open + 1;
    size_t len = (size_t)(close - key);
    char *buf = NULL;
    if (escaped) {
        if (!(buf = malloc(len ? len : 1))) {
            json_decref(v);
            return -1;
        }
        len = decode(key, close, buf);
        key = buf;
    }
    size_t before = json_object_size(obj);
    int rc = json_object_setn_new_nocheck(obj, key, len, v) != 0 ? -1
             : json_object_size(obj) == before                    ? 1
                                                                  : 0;
    free(buf);
    return rc;
}

/* Into an object or array (s at its opening character): the first item's
 * start, or, when it is empty, *closed set and the position past it. */
static const char *first_item(struct parser *p, const char *s, char close, int *closed)
{
    s = skip_ws(s + 1, p->end);
    *closed = s < p->end && *s == close;
    return *closed ? s + 1 : s;
}

/* After an item: the next item's start past the ',', or, at the end, *closed
 * set and the position past the closing character; NULL if neither. */
static const char *next_item(struct parser *p, const char *s, char close, int *closed)
{
    s = skip_ws(s, p->end);
    *closed = s < p->end && *s == close;
    if (*closed)
        return s + 1;
    if (s < p->end && *s == ',')
        return skip_ws(s + 1, p->end);
    return fail(p, s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static const char *object(struct parser *p, const char *s, json_t **out, unsigned depth)
{
    json_t *obj = NULL;
    if (out && !(obj = json_object()))
        return fail(p, s, "out of memory");
    int closed;
    for (s = first_item(p, s, '}', &closed); s && !closed; s = next_item(p, s, '}', &closed)) {
        int escaped;
        const char *open = s, *close = s < p->end && *s == '"' ? scan_string(p, s, &escaped)
                                                               : fail(p, s, "expected a key");
        if (close && ((s = skip_ws(close + 1, p->end)) >= p->end || *s != ':'))
            close = fail(p, s, "expected ':'");
        json_t *v = NULL;
        if (!close || !(s = value(p, s + 1, obj ? &v : NULL, depth + 1)))
            break;
        int rc = obj ? put_member(obj, open, close, escaped, v) : 0;
        if (rc != 0) {
            s = fail(p, open, rc > 0 ? "duplicate key" : "out of memory");
            break;
        }
    }
    if (s && closed) {
        if (out)
            *out = obj;
        return s;
    }
    json_decref(obj);
    return NULL;
}

static const char *array(struct parser *p, const char *s, json_t **out, unsigned depth)
{
    json_t *arr = NULL;
    if (out && !(arr = json_array()))
        return fail(p, s, "out of memory");
    int closed;
    for (s = first_item(p, s, ']', &closed); s && !closed; s = next_item(p, s, ']', &closed)) {
        json_t *v = NULL;
        if (!(s = value(p, s, arr ? &v : NULL, depth + 1)))
            break;
        if (arr && json_array_append_new(arr, v) != 0) {
            s = fail(p, s, "out of memory");
            break;
        }
    }
    if (s && closed) {
        if (out)
            *out = arr;
        return s;
    }
    json_decref(arr);
    return NULL;
}

static const char *value(struct parser *p, const char *s, json_t **out, unsigned depth)
{
    s = skip_ws(s, p->end);
    if (s >= p->end)
        return fail(p, s, "unexpected end of text");
    if (depth >= AMBD_JSON_MAX_DEPTH && (*s == '{' || *s == '['))
        return fail(p, s, "nested too deep");
    switch (*s) {
    case '{':
        return object(p, s, out, depth);
    case '[':
        return array(p, s, out, depth);
    case '"': {
        int escaped;
        const char *close = scan_string(p, s, &escaped);
        if (!close)
            return NULL;
        if (out && !(*out = make_string(s + 1, close, escaped)))
            return fail(p, s, "out of memory");
        return close + 1;
    }
    case 't':
        return literal(p, s, "true", json_true(), out);
    case 'f':
        return literal(p, s, "false", json_false(), out);
    case 'n':
        return literal(p, s, "null", json_null(), out);
    default:
        if (*s == '-' || (*s >= '0' && *s <= '9'))
            return number(p, s, out);
        return fail(p, s, "invalid token");
    }
}

json_t *ambd_json_parse_prefix(const char *text, size_t len, size_t *used,
                               struct ambd_json_error *err)
{
    if (!text)
        text = "";
    struct parser p = {text, text + len, err};
    json_t *v = NULL;
    const char *e = value(&p, text, &v, 0);
    *used = e ? (size_t)(e - text) : 0;
    return e ? v : NULL;
}

int ambd_json_skip(const char *text, size_t len, size_t *used, struct ambd_json_error *err)
{
    if (!text)
        text = "";
    struct parser p = {text, text + len, err};
    const char *e = value(&p, text, NULL, 0);
    *used = e ? (size_t)(e - text) : 0;
    return e ? 0 : -1;
}

json_t *ambd_json_parse(const char *text, size_t len, struct ambd_json_error *err)
{
    size_t used;
    json_t *v = ambd_json_parse_prefix(text, len, &used, err);
    if (!v)
        return NULL;
    const char *end = text + len, *rest = skip_ws(text + used, end);
    if (rest != end) {
        struct parser p = {text, end, err};
        fail(&p, rest, "text after the value");
        json_decref(v);
        return NULL;
    }
    return v;
}

/* One walk over an object's members or an array's elements. */
static int walk(const char *text, size_t len, size_t *used, int members,
                ambd_json_member_fn on_member, ambd_json_element_fn on_element, void *ud,
                struct ambd_json_error *err)
{
    if (!text)
        text = "";
    struct parser p = {text, text + len, err};
    const char *s = skip_ws(text, p.end);
    char open = members ? '{' : '[', close = members ? '}' : ']';
    if (s >= p.end || *s != open) {
        fail(&p, s, members ? "not an object" : "not an array");
        return -1;
    }
    int closed;
    for (s = first_item(&p, s, close, &closed); s && !closed; s = next_item(&p, s, close, &closed)) {
        char small[128], *key = NULL;
        if (members) {
            int escaped;
            const char *kc = s < p.end && *s == '"' ? scan_string(&p, s, &escaped)
                                                    : fail(&p, s, "expected a key");
            size_t raw = kc ? (size_t)(kc - s - 1) : 0;
            if (kc && !(key = raw < sizeof small ? small : malloc(raw + 1)))
                kc = fail(&p, s, "out of memory");
            if (kc) {
                key[decode(s + 1, kc, key)] = '\0';
                if ((s = skip_ws(kc + 1, p.end)) >= p.end || *s != ':')
                    kc = fail(&p, s, "expected ':'");
            }
            if (!kc) {
                if (key != small)
                    free(key);
                return -1;
            }
            s++;
        }
        const char *vs = skip_ws(s, p.end);
        size_t took = 0, avail = (size_t)(p.end - vs);
        int rc = members ? on_member(ud, key, vs, avail, &took, err)
                         : on_element(ud, vs, avail, &took, err);
        if (key != small)
            free(key);
        if (rc)
            return rc;
        if (!(s = took ? vs + took : value(&p, vs, NULL, 1)))
            return -1;
    }
    if (!s)
        return -1;
    if (used) {
        *used = (size_t)(s - text);
        return 0;
    }
    if ((s = skip_ws(s, p.end)) != p.end) {
        fail(&p, s, "text after the value");
        return -1;
    }
    return 0;
}

int ambd_json_each_member(const char *text, size_t len, size_t *used, ambd_json_member_fn fn,
                          void *ud, struct ambd_json_error *err)
{
    return walk(text, len, used, 1, fn, NULL, ud, err);
}

int ambd_json_each_element(const char *text, size_t len, size_t *used, ambd_json_element_fn fn,
                           void *ud, struct ambd_json_error *err)
{
    return walk(text, len, used, 0, NULL, fn, ud, err);
}
