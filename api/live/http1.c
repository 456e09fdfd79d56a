/* http1.c — request-head parser of the live listener (see http1.h). Strict
 * on purpose: one request line, CRLF (or bare LF) line ends, no obs-fold, no
 * control bytes, at most HTTP1_MAX_HEADERS headers, one Content-Length. */
#include "live/http1.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t http1_head_len(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n')
            continue;
        if (i + 1 < len && data[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static int is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Cuts the next line off *p (NUL-terminates it), stripping CR. NULL at the
 * end of the head. */
static char *next_line(char **p, char *end)
{
    char *s = *p;
    if (s >= end)
        return NULL;
    char *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl)
        return NULL;
    *nl = '\0';
    if (nl > s && nl[-1] == '\r')
        nl[-1] = '\0';
    *p = nl + 1;
    return s;
}

void http1_req_clear(struct http1_req *req)
{
    if (req->storage)
        explicit_bzero(req->storage, req->storage_len); /* headers carry tokens */
    free(req->storage);
    memset(req, 0, sizeof *req);
}

int http1_parse(const char *data, size_t len, struct http1_req *req)
{
    memset(req, 0, sizeof *req);
    req->content_length = -1;
    if (memchr(data, '\0', len))
        return 400; /* would cut strings short where we look */
    req->storage = malloc(len + 1);
    if (!req->storage)
        return 500;
    memcpy(req->storage, data, len);
    req->storage[len] = '\0';
    req->storage_len = len + 1;
    char *p = req->storage, *end = req->storage + len;

    /* tolerate one leading empty line (RFC 9112 §2.2) */
    if (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')))
        p += *p == '\n' ? 1 : 2;
    char *line = next_line(&p, end);
    if (!line)
        return 400;
    for (const char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            return 400;
    char *sp1 = strchr(line, ' ');
    if (!sp1 || sp1 == line || (size_t)(sp1 - line) >= sizeof req->method)
        return 400;
    for (char *c = line; c < sp1; c++)
        if (!is_tchar((unsigned char)*c))
            return 400;
    memcpy(req->method, line, (size_t)(sp1 - line));
    char *target = sp1 + 1;
    char *sp2 = strchr(target, ' ');
    if (!sp2 || sp2 == target || target[0] != '/')
        return 400;
    *sp2 = '\0';
    const char *version = sp2 + 1;
    if (strncmp(version, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)version[7]) ||
        version[8] != '\0')
        return strncmp(version, "HTTP/", 5) == 0 && isdigit((unsigned char)version[5]) &&
                       version[6] == '.' && isdigit((unsigned char)version[7]) &&
                       version[8] == '\0'
                   ? 505
                   : 400;
    req->minor = version[7] - '0';
    req->target = target;
    /* path and query share storage: the path is re-copied after the head */
    char *q = strchr(target, '?');

    for (;;) {
        line = next_line(&p, end);
        if (!line)
            return 400;
        if (*line == '\0')
            break;
        if (*line == ' ' || *line == '\t')
            return 400; /* obs-fold */
        char *colon = strchr(line, ':');
        if (!colon || colon == line)
            return 400;
        for (char *c = line; c < colon; c++)
            if (!is_tchar((unsigned char)*c))
                return 400;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            *--ve = '\0';
        for (char *c = v; *c; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || (unsigned char)*c == 0x7f)
                return 400;
        if (req->n_headers == HTTP1_MAX_HEADERS)
            return 431;
        req->headers[req->n_headers].name = line;
        req->headers[req->n_headers].value = v;
        req->n_headers++;
        if (strcasecmp(line, "Content-Length") == 0) {
            uint64_t n;
            if (http1_parse_u64(v, &n) != 0 || n > (1ull << 53))
                return 400;
            if (req->content_length >= 0 && (uint64_t)req->content_length != n)
                return 400;
            req->content_length = (long long)n;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            req->has_transfer_encoding = 1;
        }
    }
    if (req->has_transfer_encoding && req->content_length >= 0)
        return 400; /* request smuggling shape (RFC 9112 §6.1) */
    if (q) {
        *q = '\0';
        req->query = q + 1;
        req->path = target;
        /* target keeps only the path now; that is all callers use */
    } else {
        req->path = target;
    }
    const char *conn = http1_header(req, "Connection", NULL);
    if (req->minor >= 1)
        req->keep_alive = !(conn && http1_has_token(conn, "close"));
    else
        req->keep_alive = conn && http1_has_token(conn, "keep-alive");
    return 0;
}

const char *http1_header(const struct http1_req *req, const char *name, size_t *iter)
{
    size_t i = iter ? *iter : 0;
    for (; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            if (iter)
                *iter = i + 1;
            return req->headers[i].value;
        }
    }
    if (iter)
        *iter = i;
    return NULL;
}

int http1_next_item(const char **p, const char **item, size_t *len)
{
    const char *q = *p;
    while (*q == ' ' || *q == '\t' || *q == ',')
        q++;
    if (!*q) {
        *p = q;
        return 0;
    }
    const char *s = q;
    while (*q && *q != ',')
        q++;
    const char *e = q;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *p = q;
    *item = s;
    *len = (size_t)(e - s);
    return 1;
}

int http1_has_token(const char *value, const char *token)
{
    size_t tl = strlen(token), n;
    const char *p = value, *s;
    while (http1_next_item(&p, &s, &n)) {
        if (n == tl && strncasecmp(s, token, tl) == 0)
            return 1;
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int http1_query(const char *query, const char *key, char *out, size_t out_len)
{
    if (!query || out_len == 0)
        return -1;
    size_t kl = strlen(key);
    const char *p = query;
    while (*p) {
        const char *e = strchr(p, '&');
        if (!e)
            e = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ke = eq ? eq : e;
        if ((size_t)(ke - p) == kl && strncmp(p, key, kl) == 0) {
            size_t n = 0;
            for (const char *v = eq ? eq + 1 : e; v < e; v++) {
                int c = (unsigned char)*v;
                if (c == '%') {
                    if (e - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0)
                        return -2;
                    c = hexval(v[1]) * 16 + hexval(v[2]);
                    v += 2;
                    if (c == 0)
                        return -2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (n + 1 >= out_len)
                    return -2;
                out[n++] = (char)c;
            }
            out[n] = '\0';
            return 0;
        }
        p = *e ? e + 1 : e;
    }
    return -1;
}

int http1_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

const char *http1_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
