/* fuzz_http1.c — the live listener's HTTP/1.1 request parser (live/http1.c)
 * fed the way conn.c feeds it: the head is measured with http1_head_len
 * within a max_headers window, parsed, its Content-Length body skipped, and
 * the next pipelined request parsed from what follows. Every parsed request
 * has its headers looked up (repeated ones walked), comma lists split and
 * searched, numbers parsed, and its query decoded for the keys conn.c asks
 * for and for every key the query itself names, into buffers sized exactly
 * (ASan sees a byte written past them). What http1.h promises of a parsed
 * request is asserted, so a broken promise is a crash too.
 *
 * Input: byte 0 picks max_headers and a small query buffer size; the rest
 * is the byte stream of the connection. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "live/http1.h"

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* http1_query into a heap buffer of exactly out_len bytes. */
static void query_one(const char *query, const char *key, size_t out_len)
{
    char *out = malloc(out_len ? out_len : 1);
    if (!out)
        return;
    int rc = http1_query(query, key, out, out_len);
    CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc == 0) {
        CHECK(query != NULL && out_len > 0);
        CHECK(strnlen(out, out_len) < out_len);
        uint64_t v;
        if (http1_parse_u64(out, &v) == 0)
            CHECK(out[0] >= '0' && out[0] <= '9');
    }
    free(out);
}

static void walk_list(const char *value)
{
    const char *p = value, *item;
    size_t n, guard = 0;
    while (http1_next_item(&p, &item, &n)) {
        CHECK(n > 0 && item >= value && item + n <= value + strlen(value));
        CHECK(item[0] != ' ' && item[0] != '\t' && item[0] != ',');
        CHECK(item[n - 1] != ' ' && item[n - 1] != '\t');
        CHECK(memchr(item, ',', n) == NULL);
        CHECK(++guard <= strlen(value));
    }
    CHECK(*p == '\0');
}

static void exercise(const struct http1_req *req, size_t small)
{
    /* what http1.h and the README promise of a parsed request */
    size_t ml = strnlen(req->method, sizeof req->method);
    CHECK(ml > 0 && ml < sizeof req->method);
    for (size_t i = 0; i < ml; i++)
        CHECK(is_tchar((unsigned char)req->method[i]));
    CHECK(req->path && req->path[0] == '/');
    CHECK(req->target == req->path);
    CHECK(strchr(req->path, '?') == NULL && strchr(req->path, ' ') == NULL);
    CHECK(req->minor >= 0 && req->minor <= 9);
    CHECK(req->n_headers <= HTTP1_MAX_HEADERS);
    CHECK(req->content_length == -1 ||
          (req->content_length >= 0 && req->content_length <= (1ll << 53)));
    CHECK(!(req->has_transfer_encoding && req->content_length >= 0));
    CHECK(req->keep_alive == 0 || req->keep_alive == 1);

    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        CHECK(name && *name && value);
        for (const char *c = name; *c; c++)
            CHECK(is_tchar((unsigned char)*c));
        size_t vl = strlen(value);
        CHECK(vl == 0 || (value[0] != ' ' && value[0] != '\t' && value[vl - 1] != ' ' &&
                          value[vl - 1] != '\t'));
        for (const char *c = value; *c; c++)
            CHECK(((unsigned char)*c >= 0x20 || *c == '\t') && (unsigned char)*c != 0x7f);

        /* the first header of this name, then every repeat */
        size_t it = 0, seen = 0;
        const char *v;
        CHECK(http1_header(req, name, NULL) != NULL);
        while ((v = http1_header(req, name, &it)) != NULL) {
            CHECK(it <= req->n_headers);
            CHECK(++seen <= req->n_headers);
        }
        CHECK(seen >= 1);
        walk_list(value);
        (void)http1_has_token(value, "close");
        (void)http1_has_token(value, "keep-alive");
        (void)http1_has_token(value, "upgrade");
        (void)http1_has_token(value, "websocket");
        (void)http1_has_token(value, "");
        (void)http1_has_token(value, value); /* a token made of the whole list */
        uint64_t n;
        if (http1_parse_u64(value, &n) == 0 && strcasecmp(name, "Content-Length") == 0)
            CHECK((long long)n == req->content_length);
    }
    static const char *const names[] = {
        "Connection", "Upgrade", "Origin", "Authorization", "X-Forwarded-Access-Token",
        "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
        "Last-Event-ID", "Content-Type", "Expect", "",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t it = 0;
        while (http1_header(req, names[i], &it) != NULL)
            ;
    }

    /* the query: the keys conn.c reads with its own buffer size, and every
     * key named in the query, also into a tiny buffer */
    query_one(req->query, "after", 32);
    query_one(req->query, "limit", 32);
    query_one(req->query, "after", small);
    query_one(req->query, "", 32);
    if (req->query) {
        const char *p = req->query;
        size_t guard = 0;
        while (*p && guard++ < 64) {
            size_t kl = strcspn(p, "=&");
            char key[256];
            if (kl < sizeof key) {
                memcpy(key, p, kl);
                key[kl] = '\0';
                query_one(req->query, key, 32);
                query_one(req->query, key, small);
                query_one(req->query, key, 4096);
            }
            p += strcspn(p, "&");
            if (*p)
                p++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t max_headers_choice[] = {16384, 1024, 64, 4096};
    size_t max_headers = max_headers_choice[data[0] & 3];
    size_t small = (size_t)((data[0] >> 2) & 7) + 1; /* 1..8 bytes */
    data++;
    size--;

    /* the connection's bytes in a buffer of their exact size */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    size_t off = 0;
    for (int n = 0; n < 16 && off < size; n++) {
        size_t avail = size - off;
        size_t window = avail < max_headers ? avail : max_headers;
        size_t hl = http1_head_len(buf + off, window);
        if (hl == 0)
            break; /* 431 when the window is full, else wait for more */
        CHECK(hl <= window && hl >= 2 && buf[off + hl - 1] == '\n');
        struct http1_req req;
        int st = http1_parse(buf + off, hl, &req);
        CHECK(st == 0 || st == 400 || st == 431 || st == 500 || st == 505);
        CHECK(http1_reason(st ? st : 200) != NULL);
        off += hl;
        if (st == 0) {
            exercise(&req, small);
            long long cl = req.content_length;
            http1_req_clear(&req);
            CHECK(req.storage == NULL && req.n_headers == 0);
            if (cl > 0) {
                if ((unsigned long long)cl > size - off)
                    break; /* the body has not arrived */
                off += (size_t)cl;
            }
        } else {
            http1_req_clear(&req);
            break; /* conn.c answers and closes */
        }
    }
    free(buf);
    return 0;
}
