/* request.c — the HTTP/1.1 side of a live connection: reading a bounded
 * head and a Content-Length body, the checks that need no network (Origin,
 * framing, query, media types, the WebSocket handshake's headers), what
 * missing and rejected tokens cost their address, hand-off of the blocking
 * checks to a worker, JSON replies, and applying a finished job. Loop
 * thread only. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>

#include "live/conn_int.h"

/* ---- HTTP replies ---- */

void conn_reply_raw(struct live_conn *c, int status, const char *ctype, const char *body,
                      size_t len, const char *extra)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int keep = c->keep_alive && !c->body_unread && !c->l->stopping;
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Cache-Control: no-store\r\nConnection: %s\r\n%s\r\n",
                        status, http1_reason(status), ctype, len, keep ? "keep-alive" : "close",
                        extra ? extra : "");
    evbuffer_add(out, body, len);
    http1_req_clear(&c->req);
    c->have_req = 0;
    conn_wipe_token(c);
    if (!keep) {
        conn_close_after_flush(c);
        return;
    }
    c->state = LC_HEAD;
    conn_set_timeouts(c, 1);
    bufferevent_setwatermark(c->bev, EV_READ, 0, c->l->max_headers + 1);
    bufferevent_enable(c->bev, EV_READ);
    /* a pipelined request may already be here (conn_process() itself loops) */
    if (!conn_over_pause(c) && !c->in_process && evbuffer_get_length(bufferevent_get_input(c->bev)))
        conn_process(c);
}

void conn_reply_json(struct live_conn *c, int status, json_t *body, const char *extra)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\",\"details\":null}";
        c->body_unread = 1;
        conn_reply_raw(c, 500, "application/json", oom, sizeof oom - 1, NULL);
        return;
    }
    conn_reply_raw(c, status, "application/json", s, strlen(s), extra);
    free(s);
}

void conn_reply_error(struct live_conn *c, int status, const char *message, const char *details,
                        const char *extra)
{
    json_t *b = json_pack("{s:s, s:s?}", "error", message, "details", details);
    if (b && !details)
        json_object_set_new(b, "details", json_null());
    conn_reply_json(c, status, b, extra);
}

/* ---- what missing and rejected tokens cost their address ---- */

static void budget_key(const struct live_conn *c, char key[40])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(key, "ip:", 3);
    for (size_t i = 0; i < sizeof c->slot.key; i++) {
        key[3 + 2 * i] = hex[c->slot.key[i] >> 4];
        key[4 + 2 * i] = hex[c->slot.key[i] & 15];
    }
    key[3 + 2 * sizeof c->slot.key] = '\0';
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spend_token_budget(struct live_conn *c)
{
    char key[40];
    budget_key(c, key);
    if (c->l->bad_tokens)
        ratelimit_take(c->l->bad_tokens, key, mono_s(), NULL);
}

/* A token not known yet costs a review; none at all costs the address
 * at once. An address whose budget is spent gets 429 instead, before any
 * review. Returns 0 when it replied. */
static int token_budget_left(struct live_conn *c, const char *token)
{
    char hash[API_TOKEN_HASH_LEN + 1], key[40], wait_h[48], wait_d[32];
    if (!c->l->bad_tokens)
        return 1;
    if (token) {
        api_token_hash(c->l->auth, token, hash);
        if (api_auth_known(c->l->auth, hash, NULL, 0))
            return 1;
    }
    budget_key(c, key);
    unsigned wait = 1;
    if (token ? ratelimit_peek(c->l->bad_tokens, key, mono_s(), &wait)
              : ratelimit_take(c->l->bad_tokens, key, mono_s(), &wait))
        return 1;
    snprintf(wait_h, sizeof wait_h, "Retry-After: %u\r\n", wait);
    snprintf(wait_d, sizeof wait_d, "retry after %u s", wait);
    conn_reply_error(c, 429, "too many requests", wait_d, wait_h);
    return 0;
}

static int origin_allowed(const struct live *l, const char *origin)
{
    for (size_t i = 0; i < l->cfg->n_allowed_origins; i++)
        if (l->cfg->allowed_origins[i] && (strcmp(l->cfg->allowed_origins[i], "*") == 0 ||
                                            strcmp(l->cfg->allowed_origins[i], origin) == 0))
            return 1;
    return 0;
}

/* media type without parameters, case-insensitive */
static int media_is(const char *ct, const char *type)
{
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n) != 0)
        return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

static void start_job(struct live_conn *c, char *body, size_t body_len)
{
    struct live_job *j = calloc(1, sizeof *j);
    if (!j) {
        free(body);
        conn_reply_error(c, 500, "out of memory", NULL, NULL);
        return;
    }
    j->c = c;
    j->route = c->route;
    j->kind = c->kind;
    memcpy(j->project, c->project, sizeof j->project);
    memcpy(j->name, c->name, sizeof j->name);
    /* a stream keeps its token to re-check its access while it is open; a
     * POST is authorized before its body is read, and the body's job needs
     * the token again (its answers come from the cache) */
    int keep = c->route == LR_WS || c->route == LR_SSE || c->body_next;
    j->token = keep && c->token ? strdup(c->token) : c->token;
    if (!keep) {
        c->token = NULL;
    } else if (c->token && !j->token) {
        free(j);
        free(body);
        conn_reply_error(c, 500, "out of memory", NULL, NULL);
        return;
    }
    j->body = body;
    j->body_len = body_len;
    j->ndjson = c->ndjson;
    j->after = c->after;
    j->limit = c->limit;
    c->refs++;
    c->state = LC_AUTH;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    live_jobs_submit(c->l, j);
}

/* Checks a complete request head and starts what it asks; tok is scratch
 * space for a token from the subprotocol header. */
static void dispatch_with(struct live_conn *c, char *tok, size_t tok_len)
{
    struct live *l = c->l;
    struct http1_req *r = &c->req;
    const char *allow;
    c->keep_alive = r->keep_alive;
    c->body_unread = r->content_length > 0 || r->has_transfer_encoding;
    int st = conn_route(c, &allow);
    if (st == 404) {
        conn_reply_error(c, 404, "not found", r->path, NULL);
        return;
    }
    if (st == 405) {
        char extra[64];
        snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
        conn_reply_error(c, 405, "method not allowed", allow, extra);
        return;
    }
    const char *origin = http1_header(r, "Origin", NULL);
    if (origin && !origin_allowed(l, origin)) {
        conn_reply_error(c, 403, "origin not allowed", NULL, NULL);
        return;
    }
    int is_post = c->route == LR_POST_EVENTS || c->route == LR_POST_MESSAGE;
    if (!is_post && c->body_unread) {
        conn_reply_error(c, 400, "a GET request takes no body", NULL, NULL);
        return;
    }

    /* the token: never from the URL */
    const char *token = NULL;
    if (c->route == LR_WS) {
        size_t it = 0;
        const char *v;
        while ((v = http1_header(r, "Sec-WebSocket-Protocol", &it)) != NULL) {
            int rc = ws_protocol_bearer(v, &c->ws_v1, tok, tok_len);
            if (rc < 0) {
                conn_reply_error(c, 400, "malformed bearer subprotocol", NULL, NULL);
                return;
            }
            if (rc == 1) {
                if (token) {
                    conn_reply_error(c, 400, "more than one bearer subprotocol", NULL, NULL);
                    return;
                }
                token = tok;
            }
        }
    }
    if (!token)
        token = api_auth_token(http1_header(r, "Authorization", NULL),
                               http1_header(r, "X-Forwarded-Access-Token", NULL));
    if (token && strlen(token) >= LIVE_TOKEN_MAX) {
        conn_reply_error(c, 400, "token too long", NULL, NULL);
        return;
    }

    /* query: ?after= (streams and transcript), ?limit= (transcript) */
    char q[32];
    c->after = 0;
    c->limit = 100;
    int qr = http1_query(r->query, "after", q, sizeof q);
    if (qr == -2 || (qr == 0 && http1_parse_u64(q, &c->after) != 0)) {
        conn_reply_error(c, 400, "after must be a sequence number", NULL, NULL);
        return;
    }
    if (c->route == LR_SSE) {
        /* an EventSource reconnects to the same URL with Last-Event-ID:
         * the header is newer than any ?after= in that URL */
        const char *last = http1_header(r, "Last-Event-ID", NULL);
        if (last && http1_parse_u64(last, &c->after) != 0) {
            conn_reply_error(c, 400, "Last-Event-ID must be a sequence number", NULL, NULL);
            return;
        }
    }
    if (c->route == LR_GET_MESSAGES) {
        uint64_t lim;
        qr = http1_query(r->query, "limit", q, sizeof q);
        if (qr == -2 || (qr == 0 && (http1_parse_u64(q, &lim) != 0 || lim < 1 || lim > 500))) {
            conn_reply_error(c, 400, "limit must be 1 to 500", NULL, NULL);
            return;
        }
        if (qr == 0)
            c->limit = (size_t)lim;
    }

    if (c->route == LR_WS) {
        const char *up = http1_header(r, "Upgrade", NULL);
        const char *conn = http1_header(r, "Connection", NULL);
        const char *ver = http1_header(r, "Sec-WebSocket-Version", NULL);
        if (!up || !http1_has_token(up, "websocket") || !conn ||
            !http1_has_token(conn, "upgrade") || r->minor < 1) {
            conn_reply_error(c, 400, "a WebSocket upgrade is required", NULL, NULL);
            return;
        }
        if (!ver || strcmp(ver, "13") != 0) {
            conn_reply_error(c, 426, "unsupported WebSocket version", "13",
                        "Sec-WebSocket-Version: 13\r\n");
            return;
        }
        if (ws_accept_key(http1_header(r, "Sec-WebSocket-Key", NULL), c->ws_accept) != 0) {
            conn_reply_error(c, 400, "bad Sec-WebSocket-Key", NULL, NULL);
            return;
        }
    }

    if (is_post) {
        if (r->has_transfer_encoding || r->content_length < 0) {
            conn_reply_error(c, 411, "Content-Length required", NULL, NULL);
            return;
        }
        if ((uint64_t)r->content_length > l->max_event) {
            char d[64];
            snprintf(d, sizeof d, "at most %zu bytes", l->max_event);
            conn_reply_error(c, 413, "request body too large", d, NULL);
            return;
        }
        const char *ct = http1_header(r, "Content-Type", NULL);
        c->ndjson = 0;
        if (ct && c->route == LR_POST_EVENTS &&
            (media_is(ct, "application/x-ndjson") || media_is(ct, "application/ndjson") ||
             media_is(ct, "application/jsonl")))
            c->ndjson = 1;
        else if (!ct || !media_is(ct, "application/json")) {
            conn_reply_error(c, 415, "unsupported media type",
                        c->route == LR_POST_EVENTS ? "application/json or application/x-ndjson"
                                                   : "application/json",
                        NULL);
            return;
        }
    }
    if (!token_budget_left(c, token))
        return;
    if (!token) {
        conn_reply_error(c, 401, "a bearer token is required", NULL,
                    "WWW-Authenticate: Bearer\r\n");
        return;
    }
    c->token = strdup(token);
    if (!c->token) {
        conn_reply_error(c, 500, "out of memory", NULL, NULL);
        return;
    }
    /* a POST's caller is known before its body is read (begin_body) */
    c->body_next = is_post;
    start_job(c, NULL, 0);
}

/* The POST's caller may post: its body is read now, within the budget of
 * bodies in flight and body_timeout. */
static void begin_body(struct live_conn *c)
{
    struct live *l = c->l;
    struct http1_req *r = &c->req;
    c->body_next = 0;
    if (l->body_reserved + (size_t)r->content_length > l->body_budget) {
        conn_reply_error(c, 503, "too many request bodies in flight", "try again shortly",
                    "Retry-After: 1\r\n");
        return;
    }
    c->body_reserved = (size_t)r->content_length;
    l->body_reserved += c->body_reserved;
    c->state = LC_BODY;
    conn_set_timeouts(c, 1);
    conn_arm_deadline(c, l->body_timeout_s);
    bufferevent_setwatermark(c->bev, EV_READ, 0, l->max_event + 1);
    /* curl waits a second for this before sending bodies over 1 KiB */
    const char *expect = http1_header(r, "Expect", NULL);
    if (expect && strcasecmp(expect, "100-continue") == 0 && r->content_length > 0 &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    bufferevent_enable(c->bev, EV_READ);
    conn_process(c);
}

static void dispatch(struct live_conn *c)
{
    char tok[LIVE_TOKEN_MAX];
    tok[0] = '\0';
    dispatch_with(c, tok, sizeof tok);
    explicit_bzero(tok, sizeof tok);
}

void conn_process(struct live_conn *c)
{
    struct live *l = c->l;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->in_process = 1;
    while (c->bev && (c->state == LC_HEAD || c->state == LC_BODY)) {
        size_t avail = evbuffer_get_length(in);
        if (c->state == LC_HEAD) {
            if (avail == 0 || conn_over_pause(c))
                break;
            if (!evtimer_pending(c->deadline, NULL))
                conn_arm_deadline(c, l->head_timeout_s); /* from the head's first byte */
            size_t n = avail < l->max_headers ? avail : l->max_headers;
            const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
            size_t hl = data ? http1_head_len(data, n) : 0;
            if (hl == 0) {
                if (avail >= l->max_headers) {
                    c->keep_alive = 0;
                    conn_reply_error(c, 431, "request head too large", NULL, NULL);
                }
                break;
            }
            int st = http1_parse(data, hl, &c->req);
            evbuffer_drain(in, hl);
            evtimer_del(c->deadline);
            c->have_req = 1;
            if (st != 0) {
                c->keep_alive = 0;
                conn_reply_error(c, st, st == 505 ? "HTTP version not supported" : "malformed request",
                            NULL, NULL);
                break;
            }
            if (l->stopping)
                c->req.keep_alive = 0;
            dispatch(c);
            continue;
        }
        /* LC_BODY */
        size_t want = (size_t)c->req.content_length;
        if (avail < want)
            break;
        char *body = malloc(want + 1);
        if (!body) {
            conn_reply_error(c, 500, "out of memory", NULL, NULL);
            break;
        }
        evbuffer_remove(in, body, want);
        body[want] = '\0';
        c->body_unread = 0;
        evtimer_del(c->deadline);
        start_job(c, body, want);
    }
    c->in_process = 0;
}

void live_conn_job_done(struct live *l, struct live_job *j)
{
    struct live_conn *c = j->c;
    c->refs--;
    conn_release_body(c);
    if (c->closed || (j->route == LR_RECHECK && c->state != LC_WS && c->state != LC_SSE)) {
        if (c->closed && c->refs == 0)
            conn_free(c);
        live_job_free(j);
        return;
    }
    if (j->route == LR_RECHECK) {
        conn_recheck_done(c, j);
        live_job_free(j);
        return;
    }
    if (j->status == 401)
        spend_token_budget(c); /* a rejected token: its address pays */
    if (j->status) {
        const char *extra = j->status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL;
        conn_reply_error(c, j->status, j->message, NULL, extra);
        live_job_free(j);
        return;
    }
    if (c->body_next) {
        live_job_free(j);
        begin_body(c);
        return;
    }
    switch (j->route) {
    case LR_WS:
    case LR_SSE:
        if (l->stopping) {
            conn_reply_error(c, 503, "shutting down", NULL, NULL);
            break;
        }
        conn_start_stream(c, j);
        break;
    case LR_GET_MESSAGES:
        conn_reply_raw(c, 200, "application/json", j->page, strlen(j->page), NULL);
        break;
    case LR_RECHECK:
        break; /* handled above */
    case LR_POST_EVENTS:
    case LR_POST_MESSAGE: {
        uint64_t first = 0, last = 0;
        char msg[256];
        /* c stays allocated: refs is 0 but the conn is only freed through
         * live_conn_close, which a fan-out never calls on a non-subscriber */
        int st = live_hub_append(l, j->kind, j->project, j->uid,
                                 j->route == LR_POST_EVENTS ? "runner" : "user", j->events,
                                 &first, &last, msg, sizeof msg);
        if (st) {
            conn_reply_error(c, st, msg, NULL, NULL);
        } else if (j->route == LR_POST_EVENTS) {
            conn_reply_json(c, 201,
                       json_pack("{s:I, s:I, s:I}", "stored", (json_int_t)(last - first + 1),
                                 "first", (json_int_t)first, "last", (json_int_t)last),
                       NULL);
        } else {
            json_t *ev = json_deep_copy(json_array_get(j->events, 0));
            if (ev) {
                json_object_set_new(ev, "seq", json_integer((json_int_t)first));
            }
            conn_reply_json(c, 201, ev, NULL);
        }
        break;
    }
    }
    live_job_free(j);
}
