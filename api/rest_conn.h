/* rest_conn.h — what stands between a REST client and evhttp. Each
 * connection's bufferevent (evhttp_set_bevcb) is made here: the connection
 * is admitted (conn_guard), what it reads is bounded, and its bytes are
 * watched as they arrive — before evhttp parses them — so every request
 * head is checked (framing, body size, a token for a body) and timed (a
 * deadline per head and per body) before evhttp reads a body. A refused
 * head is replaced, in evhttp's input, by a request for the refusal, so
 * evhttp answers it in order, as JSON (server.c), and closes. libevent
 * 2.1's evhttp has no hook between a head and its body (README.md,
 * Decisions). Loop thread only, one rest_conns per loop. */
#ifndef AMBIENT_API_REST_CONN_H
#define AMBIENT_API_REST_CONN_H

#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

struct api_router;
struct conn_guard;
struct ssl_ctx_st;

struct rest_conn_policy {
    struct conn_guard *guard;
    const struct api_router *rt; /* public routes may take a body without a token */
    struct ssl_ctx_st *ssl;      /* api.tls; NULL for plain */
    size_t max_body, max_headers;
    unsigned head_timeout_s, body_timeout_s;
    /* A refused head reaches evhttp as "GET <refusal_prefix><status>",
     * which server.c answers: random per process, so no client can ask. */
    char refusal_prefix[64];
};

/* Fills p's refusal_prefix; 0, or -1 without randomness. */
int rest_conn_policy_init(struct rest_conn_policy *p);
/* The status of a refusal handed to evhttp as this path, with the message
 * to answer; 0 for any other path. */
int rest_conn_refusal(const struct rest_conn_policy *p, const char *path, const char **message);

/* One loop's connections. NULL: no memory. */
struct rest_conns *rest_conns_new(struct event_base *base, const struct rest_conn_policy *p);
/* After evhttp_free: lets go of what evhttp has given up. */
void rest_conns_free(struct rest_conns *cs);
/* For evhttp_set_bevcb (arg: the loop's rest_conns): a new connection's
 * bufferevent, or NULL. */
struct bufferevent *rest_conn_bufferevent(struct event_base *base, void *conns);
/* Right after evhttp_send_reply: writes the reply evhttp queued on bev at
 * once, rather than a turn of the loop later. */
void rest_conn_write_now(const struct rest_conn_policy *p, struct bufferevent *bev);

#endif
