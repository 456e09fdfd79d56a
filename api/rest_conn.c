/* rest_conn.c — each REST connection's bufferevent (rest_conn.h).
 *
 * Admission: right after accept (a zero timer, once evhttp has set the
 * descriptor) the peer is counted by the guard; past a limit the
 * connection ends before anything is read.
 *
 * Reading: the input holds at most max_headers + INPUT_SLACK bytes, or
 * while a body comes (evhttp takes a Content-Length body only once it is
 * all in the input) that body's length more. evhttp keeps reading while it
 * writes a reply, with nowhere to put what it reads but memory; the
 * watermark makes a client that pipelines without reading wait in its own
 * socket buffers.
 *
 * Heads: a callback on the input buffer sees each byte as it is added,
 * before evhttp's read callback runs, and follows the framing: heads
 * (parsed with live/http1.c, the live listener's parser) and
 * Content-Length bodies. A head evhttp must not serve — conflicting
 * Content-Length, Content-Length with Transfer-Encoding, any
 * Transfer-Encoding, a body over max_body, a body without a token on a
 * route that needs one, a head over max_headers — is cut from the input
 * with all that follows, and "GET <refusal_prefix><status>" with
 * Connection: close put in its place: evhttp answers the requests before
 * it, then that one (server.c), and closes. Its body is never read. When
 * evhttp has already parsed part of the head (it arrived in pieces), the
 * connection just ends.
 *
 * Deadlines: a head must be complete head_timeout_s after its first byte,
 * a body body_timeout_s after its head, else the connection ends (evhttp's
 * own timeout restarts on every byte).
 *
 * Lifetime: evhttp frees the bufferevent when it is done; a reference kept
 * here holds its memory (and socket) until a sweep sees that evhttp let go
 * (its callbacks are cleared) and releases the connection. */
#include "rest_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "conn_guard.h"
#include "live/http1.h"
#include "serving.h"

#define INPUT_SLACK 1024
#define SWEEP_MS 250

enum rc_state {
    RC_HEAD,    /* next: a request head */
    RC_BODY,    /* body_left more bytes of a body */
    RC_REFUSED, /* cut: evhttp answers the refusal or the connection ends */
};

struct rest_conn {
    struct rest_conns *cs;
    struct rest_conn *next, *prev;
    struct bufferevent *bev;
    struct evbuffer_cb_entry *watch;
    struct event *admit, *deadline;
    struct conn_guard_slot slot;
    enum rc_state state;
    unsigned long long body_left;
    size_t body_reserved;          /* of the guard's body budget, until the body is in */
    unsigned long long seen;       /* bytes the client sent so far */
    unsigned long long head_start; /* where the current head began in that stream */
    char *head;                    /* the head so far (max_headers) */
    size_t head_len;
    int rewriting; /* our own change of the input: not the client's bytes */
    int admit_tried;
};

struct rest_conns {
    const struct rest_conn_policy *p;
    struct event *sweep;
    struct rest_conn *list;
};

int rest_conn_policy_init(struct rest_conn_policy *p)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return -1;
    char hex[33];
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    snprintf(p->refusal_prefix, sizeof p->refusal_prefix, "/-/refused/%s/", hex);
    return 0;
}

static const struct {
    int status;
    const char *message;
} refusals[] = {
    {400, "malformed request head"},
    {401, "a bearer token is required"},
    {411, "a request body needs Content-Length (Transfer-Encoding is not accepted)"},
    {413, "request body too large"},
    {503, "too many request bodies in flight from this client or in all; retry later"},
    {431, "request head too large"},
    {505, "HTTP version not supported"},
};

int rest_conn_refusal(const struct rest_conn_policy *p, const char *path, const char **message)
{
    size_t n = strlen(p->refusal_prefix);
    if (!path || strncmp(path, p->refusal_prefix, n) != 0)
        return 0;
    int st = atoi(path + n);
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        if (refusals[i].status == st) {
            *message = refusals[i].message;
            return st;
        }
    *message = refusals[0].message;
    return 400;
}

static void arm(struct event *ev, unsigned seconds)
{
    struct timeval tv = {.tv_sec = (time_t)seconds, .tv_usec = 0};
    evtimer_add(ev, &tv);
}

/* Ends the connection as evhttp ends one whose client left. From a timer
 * only: evhttp frees it in this call. */
static void end_connection(struct rest_conn *c)
{
    c->state = RC_REFUSED;
    evtimer_del(c->deadline);
    bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    end_connection(arg);
}

/* Counts the connection in the guard, once: 0, or -1 when it is refused.
 * From the admission timer, or earlier from the first head when the
 * client's bytes beat the timer (the head's body needs the client's share). */
static int admit(struct rest_conn *c)
{
    if (c->admit_tried)
        return c->slot.admitted ? 0 : -1;
    c->admit_tried = 1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t s = bufferevent_getfd(c->bev);
    if (s < 0 || getpeername(s, (struct sockaddr *)&ss, &sl) != 0 ||
        conn_guard_enter(c->cs->p->guard, (struct sockaddr *)&ss, &c->slot) != 0)
        return -1;
    /* evhttp writes a reply's head and body apart: with Nagle on, the
     * body's last small segment waited for the client's delayed ACK
     * (40 ms a page of a listing on a kept-alive connection). */
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

static void admit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rest_conn *c = arg;
    if (admit(c) != 0)
        end_connection(c);
}

/* 1 when (method, path) is a route that needs no token. */
static int public_route(const struct rest_conn *c, const struct http1_req *h)
{
    char path[API_MAX_PATH + 1];
    const char *why;
    if (api_path_decode(h->path, path, sizeof path, &why) != 0)
        return 0;
    struct api_req r;
    memset(&r, 0, sizeof r);
    r.method = h->method;
    r.path = path;
    unsigned flags = 0;
    int status;
    int pub = api_router_match(c->cs->p->rt, &r, &flags, &status, NULL, 0) &&
              (flags & API_PUBLIC);
    for (size_t i = 0; i < r.n_params; i++)
        free(r.param_values[i]);
    return pub;
}

/* 0 when evhttp may have this head, else the status to refuse it with. */
static int verdict(const struct rest_conn *c, const struct http1_req *h)
{
    if (h->has_transfer_encoding)
        return 411;
    if (h->content_length > 0 &&
        !api_auth_token(http1_header(h, "Authorization", NULL),
                        http1_header(h, "X-Forwarded-Access-Token", NULL)) &&
        !public_route(c, h))
        return 401;
    if (h->content_length > 0 && (unsigned long long)h->content_length > c->cs->p->max_body)
        return 413;
    return 0;
}

/* Cuts the current head and all after it from buf; when evhttp has not
 * seen any of it, puts the refusal request in its place, else ends the
 * connection at once (from a zero timer). */
static void refuse(struct rest_conn *c, struct evbuffer *buf, int status)
{
    c->state = RC_REFUSED;
    evtimer_del(c->deadline);
    size_t len = evbuffer_get_length(buf);
    unsigned long long consumed = c->seen - len; /* what evhttp took from buf */
    c->rewriting = 1;
    if (c->head_start >= consumed) {
        size_t keep = (size_t)(c->head_start - consumed);
        struct evbuffer *rest = evbuffer_new();
        if (rest) {
            evbuffer_remove_buffer(buf, rest, keep);
            evbuffer_drain(buf, evbuffer_get_length(buf));
            evbuffer_add_buffer(buf, rest);
            evbuffer_free(rest);
            evbuffer_add_printf(buf,
                                "GET %s%d HTTP/1.1\r\nHost: -\r\nConnection: close\r\n\r\n",
                                c->cs->p->refusal_prefix, status);
            c->rewriting = 0;
            return;
        }
    }
    evbuffer_drain(buf, len);
    c->rewriting = 0;
    const struct timeval now = {0, 0};
    evtimer_add(c->deadline, &now);
}

/* What the input may hold: a head, and a body of body bytes. */
static void bound_input(struct rest_conn *c, size_t body)
{
    bufferevent_setwatermark(c->bev, EV_READ, 0, c->cs->p->max_headers + INPUT_SLACK + body);
}

/* Takes the head bytes of data (the client's newest) into c->head: the
 * bytes used, or 0 when the head was refused. */
static size_t take_head(struct rest_conn *c, struct evbuffer *buf, const char *data, size_t n,
                        unsigned long long at)
{
    const struct rest_conn_policy *p = c->cs->p;
    if (c->head_len == 0) {
        c->head_start = at;
        arm(c->deadline, p->head_timeout_s);
    }
    if (!c->head && !(c->head = malloc(p->max_headers))) {
        refuse(c, buf, 431);
        return 0;
    }
    size_t room = p->max_headers - c->head_len, take = n < room ? n : room;
    memcpy(c->head + c->head_len, data, take);
    size_t from = c->head_len > 2 ? c->head_len - 2 : 0; /* an end may straddle */
    c->head_len += take;
    size_t hl = http1_head_len(c->head + from, c->head_len - from);
    if (hl == 0) {
        if (c->head_len >= p->max_headers)
            refuse(c, buf, 431);
        return c->head_len >= p->max_headers ? 0 : take;
    }
    hl += from;
    size_t used = take - (c->head_len - hl);
    struct http1_req h;
    int st = http1_parse(c->head, hl, &h);
    if (st == 0)
        st = verdict(c, &h);
    long long length = h.content_length;
    http1_req_clear(&h);
    explicit_bzero(c->head, c->head_len); /* headers carry tokens */
    c->head_len = 0;
    if (st) {
        refuse(c, buf, st);
        return 0;
    }
    evtimer_del(c->deadline);
    if (length > 0 && (admit(c) != 0 ||
                       conn_guard_reserve_body(p->guard, &c->slot, (size_t)length) != 0)) {
        refuse(c, buf, 503);
        return 0;
    }
    if (length > 0) {
        c->body_reserved = (size_t)length;
        c->state = RC_BODY;
        c->body_left = (unsigned long long)length;
        bound_input(c, (size_t)length);
        arm(c->deadline, p->body_timeout_s);
    }
    return used;
}

/* The client's new bytes, before evhttp sees them: follow the framing. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct rest_conn *c = arg;
    if (info->n_added == 0 || c->rewriting || c->state == RC_REFUSED)
        return;
    size_t len = evbuffer_get_length(buf);
    size_t off = len >= info->n_added ? len - info->n_added : 0;
    unsigned long long at = c->seen;
    c->seen += info->n_added;
    while (off < len && c->state != RC_REFUSED) {
        size_t n = len - off;
        if (c->state == RC_BODY) {
            if (n > c->body_left)
                n = (size_t)c->body_left;
            c->body_left -= n;
            if (c->body_left == 0) {
                conn_guard_release_body(c->cs->p->guard, &c->slot, c->body_reserved);
                c->body_reserved = 0;
                c->state = RC_HEAD;
                bound_input(c, 0);
                evtimer_del(c->deadline);
            }
        } else {
            char chunk[4096];
            struct evbuffer_ptr pos;
            if (n > sizeof chunk)
                n = sizeof chunk;
            if (evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET) != 0 ||
                evbuffer_copyout_from(buf, &pos, chunk, n) != (ev_ssize_t)n)
                return;
            n = take_head(c, buf, chunk, n, at);
            explicit_bzero(chunk, sizeof chunk);
            if (n == 0)
                return;
        }
        off += n;
        at += n;
    }
}

static void release(struct rest_conn *c)
{
    struct rest_conns *cs = c->cs;
    if (c->prev)
        c->prev->next = c->next;
    else
        cs->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    conn_guard_release_body(cs->p->guard, &c->slot, c->body_reserved);
    conn_guard_leave(cs->p->guard, &c->slot);
    event_free(c->admit);
    event_free(c->deadline);
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    bufferevent_decref(c->bev);
    if (c->head) {
        explicit_bzero(c->head, cs->p->max_headers);
        free(c->head);
    }
    free(c);
}

/* Connections evhttp has freed (it clears their callbacks) are released. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rest_conns *cs = arg;
    for (struct rest_conn *c = cs->list, *next; c; c = next) {
        next = c->next;
        bufferevent_event_cb gone = NULL;
        bufferevent_getcb(c->bev, NULL, NULL, &gone, NULL);
        if (!gone)
            release(c);
    }
}

struct rest_conns *rest_conns_new(struct event_base *base, const struct rest_conn_policy *p)
{
    struct rest_conns *cs = calloc(1, sizeof *cs);
    if (!cs)
        return NULL;
    cs->p = p;
    cs->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, cs);
    struct timeval tv = {0, SWEEP_MS * 1000};
    if (!cs->sweep || event_add(cs->sweep, &tv) != 0) {
        rest_conns_free(cs);
        return NULL;
    }
    return cs;
}

void rest_conns_free(struct rest_conns *cs)
{
    if (!cs)
        return;
    while (cs->list)
        release(cs->list);
    if (cs->sweep)
        event_free(cs->sweep);
    free(cs);
}

struct bufferevent *rest_conn_bufferevent(struct event_base *base, void *conns)
{
    struct rest_conns *cs = conns;
    struct rest_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cs = cs;
    c->admit = evtimer_new(base, admit_cb, c);
    c->deadline = evtimer_new(base, deadline_cb, c);
    c->bev = c->admit && c->deadline ? api_bufferevent(base, -1, cs->p->ssl) : NULL;
    c->watch = c->bev ? evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c) : NULL;
    if (!c->watch) {
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->admit)
            event_free(c->admit);
        if (c->deadline)
            event_free(c->deadline);
        free(c);
        return NULL;
    }
    bufferevent_incref(c->bev); /* evhttp frees it; release() lets go */
    bound_input(c, 0);
    c->next = cs->list;
    if (cs->list)
        cs->list->prev = c;
    cs->list = c;
    const struct timeval now = {0, 0};
    evtimer_add(c->admit, &now);
    return c->bev;
}
