/* conn.c — one connection of the live listener: a small HTTP/1.1 server
 * (bounded head, Content-Length bodies, keep-alive, JSON errors), routing,
 * the checks that need no network (Origin, names, framing, media types),
 * hand-off of the blocking checks to a worker, and then the WebSocket or
 * SSE stream it becomes. Loop thread only. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>

#include "live/live_int.h"

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void deadline_cb(evutil_socket_t fd, short what, void *arg);
static void process(struct live_conn *c);

static long long now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

static void set_timeouts(struct live_conn *c, int reading)
{
    if (!c->l->timeout_s) {
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        return;
    }
    struct timeval tv = {.tv_sec = (time_t)c->l->timeout_s, .tv_usec = 0};
    bufferevent_set_timeouts(c->bev, reading ? &tv : NULL, &tv);
}

void live_conn_accept(struct live *l, evutil_socket_t fd, struct conn_guard_slot *slot)
{
    struct live_conn *c = calloc(1, sizeof *c);
    if (c && !(c->deadline = evtimer_new(l->base, deadline_cb, c))) {
        free(c);
        c = NULL;
    }
    if (!c) {
        conn_guard_leave(l->guard, slot);
        evutil_closesocket(fd);
        return;
    }
    c->l = l;
    c->slot = *slot;
    c->bev = api_bufferevent(l->base, fd, l->ssl);
    if (!c->bev) {
        conn_guard_leave(l->guard, &c->slot);
        event_free(c->deadline);
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->n_conns++;
    c->state = LC_HEAD;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    /* bounds what we ever hold of a client's input */
    bufferevent_setwatermark(c->bev, EV_READ, 0, l->max_headers + 1);
    set_timeouts(c, 1);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void wipe_token(struct live_conn *c)
{
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        c->token = NULL;
    }
}

/* Gives this connection's body reservation back to the budget. */
static void release_body(struct live_conn *c)
{
    c->l->body_reserved -= c->body_reserved;
    c->body_reserved = 0;
}

static void conn_free(struct live_conn *c)
{
    struct live *l = c->l;
    release_body(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->n_conns--;
    conn_guard_leave(l->guard, &c->slot);
    event_free(c->deadline);
    wipe_token(c);
    http1_req_clear(&c->req);
    ws_reader_clear(&c->wsr);
    free(c);
    if (l->stopping && l->n_conns == 0)
        event_base_loopbreak(l->base);
}

void live_conn_close(struct live_conn *c)
{
    if (!c->closed) {
        c->closed = 1;
        live_hub_unsubscribe(c);
        if (c->bev) {
            bufferevent_free(c->bev);
            c->bev = NULL;
        }
    }
    if (c->refs == 0)
        conn_free(c);
}

/* Close once what is queued has gone out. */
static void close_after_flush(struct live_conn *c)
{
    c->state = LC_CLOSING;
    live_hub_unsubscribe(c);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        live_conn_close(c);
}

/* ---- output bound ---- */

/* Whether c (maybe freed by what just ran) is still an open connection. */
static int still_open(const struct live *l, const struct live_conn *c)
{
    for (const struct live_conn *x = l->conns; x; x = x->next)
        if (x == c)
            return c->bev != NULL;
    return 0;
}

/* Stops reading while the output is at pause_at or more (1), so what a
 * client makes us answer — replies to pipelined requests, pongs, error
 * frames — waits in its socket until it reads; write_cb resumes. */
static int over_pause(struct live_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) > c->l->max_client_buffer && !c->cut) {
        /* past the bound: drop what is queued now, close from the timer
         * (callers up the stack still hold c) */
        api_host->log(api_self, AMB_LOG_WARN, "live client too slow; disconnected", "project",
                      c->project, "session", c->name, NULL);
        evbuffer_drain(out, evbuffer_get_length(out));
        c->cut = 1;
        const struct timeval now = {0, 0};
        evtimer_add(c->deadline, &now);
    }
    if (!c->cut && evbuffer_get_length(out) < c->l->pause_at) {
        if (c->paused) {
            c->paused = 0;
            bufferevent_enable(c->bev, EV_READ);
        }
        return 0;
    }
    c->paused = 1;
    bufferevent_disable(c->bev, EV_READ);
    return 1;
}

/* ---- deadlines ---- */

static void arm_deadline(struct live_conn *c, unsigned seconds)
{
    if (c->cut)
        return; /* the timer closes it at once */
    struct timeval tv = {.tv_sec = (time_t)seconds, .tv_usec = 0};
    evtimer_add(c->deadline, &tv);
}

/* ---- HTTP replies ---- */

static void reply_raw(struct live_conn *c, int status, const char *ctype, const char *body,
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
    wipe_token(c);
    if (!keep) {
        close_after_flush(c);
        return;
    }
    c->state = LC_HEAD;
    set_timeouts(c, 1);
    bufferevent_setwatermark(c->bev, EV_READ, 0, c->l->max_headers + 1);
    bufferevent_enable(c->bev, EV_READ);
    /* a pipelined request may already be here (process() itself loops) */
    if (!over_pause(c) && !c->in_process && evbuffer_get_length(bufferevent_get_input(c->bev)))
        process(c);
}

static void reply_json(struct live_conn *c, int status, json_t *body, const char *extra)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\",\"details\":null}";
        c->body_unread = 1;
        reply_raw(c, 500, "application/json", oom, sizeof oom - 1, NULL);
        return;
    }
    reply_raw(c, status, "application/json", s, strlen(s), extra);
    free(s);
}

static void reply_error(struct live_conn *c, int status, const char *message, const char *details,
                        const char *extra)
{
    json_t *b = json_pack("{s:s, s:s?}", "error", message, "details", details);
    if (b && !details)
        json_object_set_new(b, "details", json_null());
    reply_json(c, status, b, extra);
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
        api_token_hash(token, hash);
        if (api_auth_known(c->l->auth, hash))
            return 1;
    }
    budget_key(c, key);
    unsigned wait = 1;
    if (token ? ratelimit_peek(c->l->bad_tokens, key, mono_s(), &wait)
              : ratelimit_take(c->l->bad_tokens, key, mono_s(), &wait))
        return 1;
    snprintf(wait_h, sizeof wait_h, "Retry-After: %u\r\n", wait);
    snprintf(wait_d, sizeof wait_d, "retry after %u s", wait);
    reply_error(c, 429, "too many requests", wait_d, wait_h);
    return 0;
}

/* ---- routing ---- */

/* "/api/projects/P/<segment>/N/TAIL" into project, the kind whose event
 * log <segment> addresses, name and the route for method; 0, or 404/405
 * (allow set). Invalid names are 404: no such object can exist. */
static int route(struct live_conn *c, const char **allow)
{
    const char *p = c->req.path;
    *allow = NULL;
    if (strncmp(p, LIVE_PREFIX, sizeof LIVE_PREFIX - 1) != 0)
        return 404;
    p += sizeof LIVE_PREFIX - 1;
    const char *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= sizeof c->project)
        return 404;
    memcpy(c->project, p, (size_t)(slash - p));
    c->project[slash - p] = '\0';
    p = slash;
    c->kind = NULL;
    for (size_t i = 0; i < c->l->n_kinds && !c->kind; i++) {
        size_t n = strlen(c->l->kinds[i].segment);
        if (strncmp(p + 1, c->l->kinds[i].segment, n) == 0 && p[1 + n] == '/')
            c->kind = &c->l->kinds[i];
    }
    if (!c->kind)
        return 404;
    p += 1 + strlen(c->kind->segment) + 1;
    slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= sizeof c->name)
        return 404;
    memcpy(c->name, p, (size_t)(slash - p));
    c->name[slash - p] = '\0';
    const char *tail = slash + 1;
    if (!amb_is_dns_label(c->project) || !amb_is_dns_subdomain(c->name))
        return 404;
    const char *m = c->req.method;
    if (strcmp(tail, "ws") == 0) {
        *allow = "GET";
        if (strcmp(m, "GET") != 0)
            return 405;
        c->route = LR_WS;
    } else if (strcmp(tail, "events") == 0) {
        *allow = "GET, POST";
        if (strcmp(m, "GET") == 0)
            c->route = LR_SSE;
        else if (strcmp(m, "POST") == 0)
            c->route = LR_POST_EVENTS;
        else
            return 405;
    } else if (strcmp(tail, "messages") == 0) {
        *allow = "GET, POST";
        if (strcmp(m, "GET") == 0)
            c->route = LR_GET_MESSAGES;
        else if (strcmp(m, "POST") == 0)
            c->route = LR_POST_MESSAGE;
        else
            return 405;
    } else {
        return 404;
    }
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
        reply_error(c, 500, "out of memory", NULL, NULL);
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
        reply_error(c, 500, "out of memory", NULL, NULL);
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
    int st = route(c, &allow);
    if (st == 404) {
        reply_error(c, 404, "not found", r->path, NULL);
        return;
    }
    if (st == 405) {
        char extra[64];
        snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
        reply_error(c, 405, "method not allowed", allow, extra);
        return;
    }
    const char *origin = http1_header(r, "Origin", NULL);
    if (origin && !origin_allowed(l, origin)) {
        reply_error(c, 403, "origin not allowed", NULL, NULL);
        return;
    }
    int is_post = c->route == LR_POST_EVENTS || c->route == LR_POST_MESSAGE;
    if (!is_post && c->body_unread) {
        reply_error(c, 400, "a GET request takes no body", NULL, NULL);
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
                reply_error(c, 400, "malformed bearer subprotocol", NULL, NULL);
                return;
            }
            if (rc == 1) {
                if (token) {
                    reply_error(c, 400, "more than one bearer subprotocol", NULL, NULL);
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
        reply_error(c, 400, "token too long", NULL, NULL);
        return;
    }

    /* query: ?after= (streams and transcript), ?limit= (transcript) */
    char q[32];
    c->after = 0;
    c->limit = 100;
    int qr = http1_query(r->query, "after", q, sizeof q);
    if (qr == -2 || (qr == 0 && http1_parse_u64(q, &c->after) != 0)) {
        reply_error(c, 400, "after must be a sequence number", NULL, NULL);
        return;
    }
    if (c->route == LR_SSE) {
        /* an EventSource reconnects to the same URL with Last-Event-ID:
         * the header is newer than any ?after= in that URL */
        const char *last = http1_header(r, "Last-Event-ID", NULL);
        if (last && http1_parse_u64(last, &c->after) != 0) {
            reply_error(c, 400, "Last-Event-ID must be a sequence number", NULL, NULL);
            return;
        }
    }
    if (c->route == LR_GET_MESSAGES) {
        uint64_t lim;
        qr = http1_query(r->query, "limit", q, sizeof q);
        if (qr == -2 || (qr == 0 && (http1_parse_u64(q, &lim) != 0 || lim < 1 || lim > 500))) {
            reply_error(c, 400, "limit must be 1 to 500", NULL, NULL);
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
            reply_error(c, 400, "a WebSocket upgrade is required", NULL, NULL);
            return;
        }
        if (!ver || strcmp(ver, "13") != 0) {
            reply_error(c, 426, "unsupported WebSocket version", "13",
                        "Sec-WebSocket-Version: 13\r\n");
            return;
        }
        if (ws_accept_key(http1_header(r, "Sec-WebSocket-Key", NULL), c->ws_accept) != 0) {
            reply_error(c, 400, "bad Sec-WebSocket-Key", NULL, NULL);
            return;
        }
    }

    if (is_post) {
        if (r->has_transfer_encoding || r->content_length < 0) {
            reply_error(c, 411, "Content-Length required", NULL, NULL);
            return;
        }
        if ((uint64_t)r->content_length > l->max_event) {
            char d[64];
            snprintf(d, sizeof d, "at most %zu bytes", l->max_event);
            reply_error(c, 413, "request body too large", d, NULL);
            return;
        }
        const char *ct = http1_header(r, "Content-Type", NULL);
        c->ndjson = 0;
        if (ct && c->route == LR_POST_EVENTS &&
            (media_is(ct, "application/x-ndjson") || media_is(ct, "application/ndjson") ||
             media_is(ct, "application/jsonl")))
            c->ndjson = 1;
        else if (!ct || !media_is(ct, "application/json")) {
            reply_error(c, 415, "unsupported media type",
                        c->route == LR_POST_EVENTS ? "application/json or application/x-ndjson"
                                                   : "application/json",
                        NULL);
            return;
        }
    }
    if (!token_budget_left(c, token))
        return;
    if (!token) {
        reply_error(c, 401, "a bearer token is required", NULL,
                    "WWW-Authenticate: Bearer\r\n");
        return;
    }
    c->token = strdup(token);
    if (!c->token) {
        reply_error(c, 500, "out of memory", NULL, NULL);
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
        reply_error(c, 503, "too many request bodies in flight", "try again shortly",
                    "Retry-After: 1\r\n");
        return;
    }
    c->body_reserved = (size_t)r->content_length;
    l->body_reserved += c->body_reserved;
    c->state = LC_BODY;
    set_timeouts(c, 1);
    arm_deadline(c, l->body_timeout_s);
    bufferevent_setwatermark(c->bev, EV_READ, 0, l->max_event + 1);
    /* curl waits a second for this before sending bodies over 1 KiB */
    const char *expect = http1_header(r, "Expect", NULL);
    if (expect && strcasecmp(expect, "100-continue") == 0 && r->content_length > 0 &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    bufferevent_enable(c->bev, EV_READ);
    process(c);
}

static void dispatch(struct live_conn *c)
{
    char tok[LIVE_TOKEN_MAX];
    tok[0] = '\0';
    dispatch_with(c, tok, sizeof tok);
    explicit_bzero(tok, sizeof tok);
}

static void process(struct live_conn *c)
{
    struct live *l = c->l;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->in_process = 1;
    while (c->bev && (c->state == LC_HEAD || c->state == LC_BODY)) {
        size_t avail = evbuffer_get_length(in);
        if (c->state == LC_HEAD) {
            if (avail == 0 || over_pause(c))
                break;
            if (!evtimer_pending(c->deadline, NULL))
                arm_deadline(c, l->head_timeout_s); /* from the head's first byte */
            size_t n = avail < l->max_headers ? avail : l->max_headers;
            const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
            size_t hl = data ? http1_head_len(data, n) : 0;
            if (hl == 0) {
                if (avail >= l->max_headers) {
                    c->keep_alive = 0;
                    reply_error(c, 431, "request head too large", NULL, NULL);
                }
                break;
            }
            int st = http1_parse(data, hl, &c->req);
            evbuffer_drain(in, hl);
            evtimer_del(c->deadline);
            c->have_req = 1;
            if (st != 0) {
                c->keep_alive = 0;
                reply_error(c, st, st == 505 ? "HTTP version not supported" : "malformed request",
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
            reply_error(c, 500, "out of memory", NULL, NULL);
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

/* ---- WebSocket ---- */

static void ws_send_error(struct live_conn *c, const char *message)
{
    json_t *e = json_pack("{s:s, s:s}", "type", "error", "error", message);
    char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    if (s)
        ws_write_frame(bufferevent_get_output(c->bev), WS_OP_TEXT, s, strlen(s));
    free(s);
}

static void ws_fail(struct live_conn *c, int code, const char *reason)
{
    ws_write_close(bufferevent_get_output(c->bev), code, reason);
    close_after_flush(c);
}

/* A text message from a client: {"content": "..."} is a user message. */
static void ws_message(struct live_conn *c, const uint8_t *data, size_t len)
{
    json_error_t jerr;
    json_t *m = json_loadb((const char *)data, len, 0, &jerr);
    json_t *ev = NULL;
    char why[160];
    int bad = live_user_event(m, c->user, &ev, why, sizeof why);
    json_decref(m);
    if (bad) {
        ws_send_error(c, why);
        return;
    }
    if (!c->can_post) {
        json_decref(ev);
        char msg[160];
        snprintf(msg, sizeof msg, "forbidden: posting messages needs update on %s",
                 c->kind->kind->resource.plural);
        ws_send_error(c, msg);
        return;
    }
    json_t *arr = json_array();
    if (!arr || json_array_append_new(arr, ev) != 0) {
        json_decref(arr);
        ws_send_error(c, "out of memory");
        return;
    }
    uint64_t first, last;
    char msg[256];
    struct live *l = c->l;
    char project[64], uid[STORE_UID_MAX];
    memcpy(project, c->project, sizeof project);
    memcpy(uid, c->uid, sizeof uid);
    /* c may be cut as a slow subscriber by this very append */
    int st = live_hub_append(l, project, uid, "user", arr, &first, &last, msg, sizeof msg);
    json_decref(arr);
    if (st != 0 && still_open(l, c))
        ws_send_error(c, msg);
}

static void ws_read(struct live_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->bev && c->state == LC_WS && !over_pause(c)) {
        struct ws_msg m;
        enum ws_result r = ws_reader_next(&c->wsr, in, &m);
        switch (r) {
        case WS_MORE:
            return;
        case WS_MESSAGE:
            if (m.opcode != WS_OP_TEXT) {
                ws_fail(c, WS_CLOSE_UNSUPPORTED, "text messages only");
                return;
            }
            {
                /* the append below may close c: keep the list walk honest */
                struct live *l = c->l;
                ws_message(c, m.data, m.len);
                if (!still_open(l, c))
                    return;
            }
            break;
        case WS_PING:
            ws_write_frame(bufferevent_get_output(c->bev), WS_OP_PONG, m.data, m.len);
            break;
        case WS_PONG:
            break;
        case WS_CLOSE:
            ws_write_close(bufferevent_get_output(c->bev),
                           m.code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : m.code, NULL);
            close_after_flush(c);
            return;
        case WS_ERROR:
            ws_fail(c, m.code, m.code == WS_CLOSE_TOO_BIG ? "message too big" : "protocol error");
            return;
        }
    }
}

/* ---- callbacks ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct live_conn *c = arg;
    (void)bev;
    switch (c->state) {
    case LC_HEAD:
    case LC_BODY:
        process(c);
        break;
    case LC_WS:
        ws_read(c);
        break;
    case LC_AUTH:
        break; /* reading is off; what came early waits */
    case LC_SSE:
    case LC_CLOSING:
        evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
        break;
    }
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct live_conn *c = arg;
    if (c->state == LC_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            live_conn_close(c);
        return;
    }
    struct live *l = c->l;
    int paused = c->paused;
    if ((c->state == LC_WS || c->state == LC_SSE) && c->replaying)
        live_hub_pump(c); /* may close c */
    if (paused && still_open(l, c) && !over_pause(c))
        read_cb(c->bev, c); /* what waited in the input */
}

/* A head not complete head_timeout after its first byte, or a body not
 * body_timeout after its head: 408, and the connection closes. A client
 * cut for its output is closed here too. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct live_conn *c = arg;
    if (c->cut && !c->closed) {
        live_conn_close(c);
        return;
    }
    if (c->closed || (c->state != LC_HEAD && c->state != LC_BODY))
        return;
    c->keep_alive = 0;
    c->body_unread = 1;
    release_body(c);
    reply_error(c, 408, "the request took too long to arrive", NULL, NULL);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct live_conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return; /* the TLS handshake is done: the request comes next */
    live_conn_close(c); /* EOF, error or timeout: the connection is over */
}

/* ---- jobs coming back ---- */

static void start_stream(struct live_conn *c, struct live_job *j)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    snprintf(c->user, sizeof c->user, "%s", j->user);
    snprintf(c->uid, sizeof c->uid, "%s", j->uid);
    c->can_post = j->can_post;
    c->checked_at = now_s();
    http1_req_clear(&c->req);
    c->have_req = 0;
    if (c->route == LR_WS) {
        evbuffer_add_printf(out,
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                            c->ws_accept,
                            c->ws_v1 ? "Sec-WebSocket-Protocol: ambient.v1\r\n" : "");
        c->state = LC_WS;
        ws_reader_init(&c->wsr, c->l->max_event, 1);
        bufferevent_setwatermark(c->bev, EV_READ, 0, c->l->max_event + 64);
        bufferevent_enable(c->bev, EV_READ);
    } else {
        evbuffer_add(out, live_sse_head, strlen(live_sse_head));
        c->state = LC_SSE;
        bufferevent_setwatermark(c->bev, EV_READ, 0, 4096);
        bufferevent_enable(c->bev, EV_READ); /* to notice the client leaving */
    }
    set_timeouts(c, 0);
    int st = live_hub_subscribe(c->l, c);
    if (st != 0) {
        if (c->state == LC_WS)
            ws_fail(c, WS_CLOSE_INTERNAL, "cannot open the session");
        else
            close_after_flush(c);
        return;
    }
    live_hub_pump(c);
    if (c->bev && c->state == LC_WS && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        ws_read(c);
}

/* A stream's access, checked again: gone ends it; a lost update right
 * makes a WebSocket read-only. A review that could not be made keeps it as
 * it is until the next check. */
static void recheck_done(struct live_conn *c, struct live_job *j)
{
    c->rechecking = 0;
    c->checked_at = now_s();
    if (j->status == 401 || j->status == 403 || j->status == 404) {
        api_host->log(api_self, AMB_LOG_INFO, "live: access gone; stream closed", "project",
                      c->project, "session", c->name, "user", c->user[0] ? c->user : "-", NULL);
        live_conn_end_stream(c, WS_CLOSE_POLICY, j->message);
    } else if (j->status) {
        api_host->log(api_self, AMB_LOG_WARN, "live: cannot re-check a stream's access",
                      "project", c->project, "session", c->name, "error", j->message, NULL);
    } else if (c->can_post && !j->can_post) {
        c->can_post = 0;
        ws_send_error(c, "forbidden: the update right on this session was revoked; "
                         "the stream is read-only now");
    }
}

void live_conn_job_done(struct live *l, struct live_job *j)
{
    struct live_conn *c = j->c;
    c->refs--;
    release_body(c);
    if (c->closed || (j->route == LR_RECHECK && c->state != LC_WS && c->state != LC_SSE)) {
        if (c->closed && c->refs == 0)
            conn_free(c);
        live_job_free(j);
        return;
    }
    if (j->route == LR_RECHECK) {
        recheck_done(c, j);
        live_job_free(j);
        return;
    }
    if (j->status == 401)
        spend_token_budget(c); /* a rejected token: its address pays */
    if (j->status) {
        const char *extra = j->status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL;
        reply_error(c, j->status, j->message, NULL, extra);
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
            reply_error(c, 503, "shutting down", NULL, NULL);
            break;
        }
        start_stream(c, j);
        break;
    case LR_GET_MESSAGES:
        reply_raw(c, 200, "application/json", j->page, strlen(j->page), NULL);
        break;
    case LR_RECHECK:
        break; /* handled above */
    case LR_POST_EVENTS:
    case LR_POST_MESSAGE: {
        uint64_t first = 0, last = 0;
        char msg[256];
        /* c stays allocated: refs is 0 but the conn is only freed through
         * live_conn_close, which a fan-out never calls on a non-subscriber */
        int st = live_hub_append(l, j->project, j->uid,
                                 j->route == LR_POST_EVENTS ? "runner" : "user", j->events,
                                 &first, &last, msg, sizeof msg);
        if (st) {
            reply_error(c, st, msg, NULL, NULL);
        } else if (j->route == LR_POST_EVENTS) {
            reply_json(c, 201,
                       json_pack("{s:I, s:I, s:I}", "stored", (json_int_t)(last - first + 1),
                                 "first", (json_int_t)first, "last", (json_int_t)last),
                       NULL);
        } else {
            json_t *ev = json_deep_copy(json_array_get(j->events, 0));
            if (ev) {
                json_object_set_new(ev, "seq", json_integer((json_int_t)first));
            }
            reply_json(c, 201, ev, NULL);
        }
        break;
    }
    }
    live_job_free(j);
}

/* ---- shutdown and keep-alive ---- */

void live_conn_stop_all(struct live *l)
{
    struct live_conn *c = l->conns;
    while (c) {
        struct live_conn *next = c->next;
        if (!c->closed) {
            switch (c->state) {
            case LC_HEAD:
                if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
                    live_conn_close(c); /* idle keep-alive */
                break;
            case LC_WS:
                ws_write_close(bufferevent_get_output(c->bev), WS_CLOSE_GOING_AWAY,
                               "server stopping");
                close_after_flush(c);
                break;
            case LC_SSE:
                close_after_flush(c);
                break;
            case LC_BODY:
            case LC_AUTH:
            case LC_CLOSING:
                break; /* let it finish */
            }
        }
        c = next;
    }
}

void live_conn_tick(struct live *l)
{
    for (struct live_conn *c = l->conns; c; c = c->next) {
        if (c->closed || !c->bev)
            continue;
        struct evbuffer *out = bufferevent_get_output(c->bev);
        if (evbuffer_get_length(out) > 0)
            continue;
        if (c->state == LC_WS)
            ws_write_frame(out, WS_OP_PING, NULL, 0);
        else if (c->state == LC_SSE)
            evbuffer_add(out, ": ping\n\n", 8);
    }
}

void live_conn_end_stream(struct live_conn *c, int code, const char *reason)
{
    if (c->closed || (c->state != LC_WS && c->state != LC_SSE))
        return;
    if (c->state == LC_WS) {
        char why[124]; /* a close frame's reason fits in 123 bytes */
        snprintf(why, sizeof why, "%.123s", reason);
        ws_write_close(bufferevent_get_output(c->bev), code, why);
    }
    close_after_flush(c);
}

void live_conn_recheck_due(struct live *l)
{
    long long now = now_s();
    for (struct live_conn *c = l->conns; c; c = c->next) {
        if (c->closed || c->rechecking || !c->token ||
            (c->state != LC_WS && c->state != LC_SSE) || now - c->checked_at < l->recheck_s)
            continue;
        struct live_job *j = calloc(1, sizeof *j);
        if (!j || !(j->token = strdup(c->token))) {
            free(j);
            return; /* the next second tries again */
        }
        j->c = c;
        j->route = LR_RECHECK;
        j->kind = c->kind;
        memcpy(j->project, c->project, sizeof j->project);
        memcpy(j->name, c->name, sizeof j->name);
        j->can_post = c->can_post;
        c->refs++;
        c->rechecking = 1;
        live_jobs_submit(l, j);
    }
}
