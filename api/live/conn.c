/* conn.c — one connection of the live listener: its life from accept to
 * close, the bound on what it makes us hold (output, deadlines), the
 * libevent callbacks that hand its bytes to the request reader (request.c)
 * or its stream (stream.c), and shutdown, keep-alive pings and the periodic
 * re-check of open streams. Loop thread only. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "live/conn_int.h"

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void deadline_cb(evutil_socket_t fd, short what, void *arg);

long long conn_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

void conn_set_timeouts(struct live_conn *c, int reading)
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
    conn_set_timeouts(c, 1);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

void conn_wipe_token(struct live_conn *c)
{
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        c->token = NULL;
    }
}

/* Gives this connection's body reservation back to the budget. */
void conn_release_body(struct live_conn *c)
{
    c->l->body_reserved -= c->body_reserved;
    c->body_reserved = 0;
}

void conn_free(struct live_conn *c)
{
    struct live *l = c->l;
    conn_release_body(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->n_conns--;
    conn_guard_leave(l->guard, &c->slot);
    event_free(c->deadline);
    conn_wipe_token(c);
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
void conn_close_after_flush(struct live_conn *c)
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
int conn_still_open(const struct live *l, const struct live_conn *c)
{
    for (const struct live_conn *x = l->conns; x; x = x->next)
        if (x == c)
            return c->bev != NULL;
    return 0;
}

/* Stops reading while the output is at pause_at or more (1), so what a
 * client makes us answer — replies to pipelined requests, pongs, error
 * frames — waits in its socket until it reads; write_cb resumes. */
int conn_over_pause(struct live_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) > c->l->max_client_buffer && !c->cut) {
        /* past the bound: drop what is queued now, close from the timer
         * (callers up the stack still hold c) */
        api_host->log(api_self, AMB_LOG_WARN, "live client too slow; disconnected", "project",
                      c->project, "kind", conn_kind(c), "name", c->name, NULL);
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

void conn_arm_deadline(struct live_conn *c, unsigned seconds)
{
    if (c->cut)
        return; /* the timer closes it at once */
    struct timeval tv = {.tv_sec = (time_t)seconds, .tv_usec = 0};
    evtimer_add(c->deadline, &tv);
}

/* ---- callbacks ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct live_conn *c = arg;
    (void)bev;
    switch (c->state) {
    case LC_HEAD:
    case LC_BODY:
        conn_process(c);
        break;
    case LC_WS:
        conn_ws_read(c);
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
    if (paused && conn_still_open(l, c) && !conn_over_pause(c))
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
    conn_release_body(c);
    conn_reply_error(c, 408, "the request took too long to arrive", NULL, NULL);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct live_conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return; /* the TLS handshake is done: the request comes next */
    live_conn_close(c); /* EOF, error or timeout: the connection is over */
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
                conn_close_after_flush(c);
                break;
            case LC_SSE:
                conn_close_after_flush(c);
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

void live_conn_recheck_due(struct live *l)
{
    long long now = conn_now_s();
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
