/* http1.h — the request-head parser of the live listener's small HTTP/1.1
 * server: request line, headers, Content-Length framing, query strings.
 * Pure functions over bytes, so they are unit-tested without sockets. */
#ifndef AMBIENT_API_LIVE_HTTP1_H
#define AMBIENT_API_LIVE_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#define HTTP1_MAX_HEADERS 64

struct http1_header {
    const char *name;  /* points into the request's storage */
    const char *value; /* trimmed of surrounding whitespace */
};

struct http1_req {
    char method[16];
    const char *target; /* as sent: "/a/b?x=1" */
    const char *path;   /* target without the query */
    const char *query;  /* after '?', or NULL */
    int minor;          /* HTTP/1.<minor> */
    struct http1_header headers[HTTP1_MAX_HEADERS];
    size_t n_headers;
    long long content_length; /* -1 when absent */
    int has_transfer_encoding;
    int keep_alive; /* what the client asked for */
    char *storage;  /* owns every string above (wiped when cleared: tokens) */
    size_t storage_len;
};

/* Bytes of the head in data (through the blank line), or 0 when the blank
 * line is not in data yet. */
size_t http1_head_len(const char *data, size_t len);

/* Parses the head data[0..len) (as measured by http1_head_len) into req,
 * which owns a copy (free with http1_req_clear). Returns 0, or the HTTP
 * status to answer with: 400 (malformed), 505 (not HTTP/1.x). */
int http1_parse(const char *data, size_t len, struct http1_req *req);
void http1_req_clear(struct http1_req *req);

/* First header of that name (case-insensitive), or NULL; iter (may be
 * NULL) walks repeated headers: start it at 0. */
const char *http1_header(const struct http1_req *req, const char *name, size_t *iter);
/* The next item of a comma-separated header list, trimmed: *p walks value
 * (start it there); fills *item and *len and returns 1, or 0 at the end.
 * Empty items are skipped. */
int http1_next_item(const char **p, const char **item, size_t *len);
/* 1 if the comma-separated list value contains token (case-insensitive). */
int http1_has_token(const char *value, const char *token);
/* Copies the percent-decoded value of key in query into out; 0 found, -1
 * absent, -2 too long or malformed (or a decoded NUL). */
int http1_query(const char *query, const char *key, char *out, size_t out_len);
/* Parses a decimal uint64 (digits only, no sign, no overflow): 0 or -1. */
int http1_parse_u64(const char *s, uint64_t *out);
const char *http1_reason(int status);

#endif
