/* conn_int.h — what the files of one live connection share: its life
 * (conn.c), its HTTP/1.1 requests (request.c), routing (route.c) and its
 * stream (stream.c). Loop thread only. */
#ifndef AMBIENT_API_LIVE_CONN_INT_H
#define AMBIENT_API_LIVE_CONN_INT_H

#include "live/live_int.h"

/* ---- conn.c ---- */
long long conn_now_s(void); /* CLOCK_MONOTONIC seconds */
/* The idle timeout of api.timeout on c, on reads too when reading. */
void conn_set_timeouts(struct live_conn *c, int reading);
/* Wipes and frees c's token. */
void conn_wipe_token(struct live_conn *c);
/* Gives c's body reservation back to the budget. */
void conn_release_body(struct live_conn *c);
void conn_free(struct live_conn *c);
/* Closes c once what is queued has gone out. */
void conn_close_after_flush(struct live_conn *c);
/* Whether c (maybe freed by what just ran) is still an open connection. */
int conn_still_open(const struct live *l, const struct live_conn *c);
/* Stops reading while the output is at pause_at or more (1); past
 * max_client_buffer the client is cut. */
int conn_over_pause(struct live_conn *c);
/* The deadline of the head or body being read, seconds from now. */
void conn_arm_deadline(struct live_conn *c, unsigned seconds);

/* ---- request.c ---- */
/* Replies (the body is copied; extra: more header lines, or NULL); a
 * keep-alive connection reads its next request. */
void conn_reply_raw(struct live_conn *c, int status, const char *ctype, const char *body,
                    size_t len, const char *extra);
void conn_reply_json(struct live_conn *c, int status, json_t *body, const char *extra);
/* {"error": message, "details": details or null} */
void conn_reply_error(struct live_conn *c, int status, const char *message, const char *details,
                      const char *extra);
/* Reads heads and bodies while c is in LC_HEAD or LC_BODY. */
void conn_process(struct live_conn *c);

/* ---- route.c ---- */
/* c->req's path into c->project, c->kind, c->name and c->route for its
 * method: 0, or 404/405 (*allow set to the methods the path takes). */
int conn_route(struct live_conn *c, const char **allow);

/* ---- stream.c ---- */
/* The job allowed the stream: the 101 or the SSE head, subscription,
 * history. */
void conn_start_stream(struct live_conn *c, struct live_job *j);
/* A stream's access, checked again (LR_RECHECK). */
void conn_recheck_done(struct live_conn *c, struct live_job *j);
/* Reads WebSocket frames while c is a stream and not paused. */
void conn_ws_read(struct live_conn *c);
/* {"type": "error", "error": message} on the WebSocket. */
void conn_ws_send_error(struct live_conn *c, const char *message);

#endif
