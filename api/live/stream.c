/* stream.c — a live connection once it is a stream: the WebSocket
 * (reading frames, users' messages, errors and close) or SSE response it
 * becomes when its job allowed it, the re-check of its access, and how it
 * ends. Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "live/conn_int.h"

/* ---- WebSocket ---- */

void conn_ws_send_error(struct live_conn *c, const char *message)
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
    conn_close_after_flush(c);
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
        conn_ws_send_error(c, why);
        return;
    }
    if (!c->can_post) {
        json_decref(ev);
        char msg[160];
        snprintf(msg, sizeof msg, "forbidden: posting messages needs update on %s",
                 c->kind->kind->resource.plural);
        conn_ws_send_error(c, msg);
        return;
    }
    json_t *arr = json_array();
    if (!arr || json_array_append_new(arr, ev) != 0) {
        json_decref(arr);
        conn_ws_send_error(c, "out of memory");
        return;
    }
    uint64_t first, last;
    char msg[256];
    struct live *l = c->l;
    char project[64], uid[STORE_UID_MAX];
    memcpy(project, c->project, sizeof project);
    memcpy(uid, c->uid, sizeof uid);
    /* c may be cut as a slow subscriber by this very append */
    int st = live_hub_append(l, c->kind, project, uid, "user", arr, &first, &last, msg,
                             sizeof msg);
    json_decref(arr);
    if (st != 0 && conn_still_open(l, c))
        conn_ws_send_error(c, msg);
}

void conn_ws_read(struct live_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->bev && c->state == LC_WS && !conn_over_pause(c)) {
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
                if (!conn_still_open(l, c))
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
            conn_close_after_flush(c);
            return;
        case WS_ERROR:
            ws_fail(c, m.code, m.code == WS_CLOSE_TOO_BIG ? "message too big" : "protocol error");
            return;
        }
    }
}

/* ---- jobs coming back ---- */

void conn_start_stream(struct live_conn *c, struct live_job *j)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    snprintf(c->user, sizeof c->user, "%s", j->user);
    snprintf(c->uid, sizeof c->uid, "%s", j->uid);
    c->can_post = j->can_post;
    c->checked_at = conn_now_s();
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
    conn_set_timeouts(c, 0);
    int st = live_hub_subscribe(c->l, c);
    if (st != 0) {
        if (c->state == LC_WS)
            ws_fail(c, WS_CLOSE_INTERNAL, "cannot open the event log");
        else
            conn_close_after_flush(c);
        return;
    }
    live_hub_pump(c);
    if (c->bev && c->state == LC_WS && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        conn_ws_read(c);
}

/* A stream's access, checked again: gone ends it; a lost update right
 * makes a WebSocket read-only. A review that could not be made keeps it as
 * it is until the next check. */
void conn_recheck_done(struct live_conn *c, struct live_job *j)
{
    c->rechecking = 0;
    c->checked_at = conn_now_s();
    if (j->status == 401 || j->status == 403 || j->status == 404) {
        api_host->log(api_self, AMB_LOG_INFO, "live: access gone; stream closed", "project",
                      c->project, "kind", conn_kind(c), "name", c->name, "user", c->user[0] ? c->user : "-", NULL);
        live_conn_end_stream(c, WS_CLOSE_POLICY, j->message);
    } else if (j->status) {
        api_host->log(api_self, AMB_LOG_WARN, "live: cannot re-check a stream's access",
                      "project", c->project, "kind", conn_kind(c), "name", c->name, "error", j->message, NULL);
    } else if (c->can_post && !j->can_post) {
        c->can_post = 0;
        char noun[160], why[300];
        live_kind_noun(c->kind, noun, sizeof noun);
        snprintf(why, sizeof why,
                 "forbidden: the update right on this %s was revoked; the stream is read-only now",
                 noun);
        conn_ws_send_error(c, why);
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
    conn_close_after_flush(c);
}
