/* kubeapi_conns.c — how many connections the local API holds: each
 * connection's bufferevent is made here (evhttp_set_bevcb) and held by
 * one extra reference; past limits.max_connections a new one is closed
 * before evhttp reads from it. evhttp frees a connection by clearing its
 * bufferevent's callbacks, which a sweep every SWEEP_MS notices; only
 * then is the reference (and the socket) let go. The held bufferevents
 * also tell how many answer bytes wait for clients that do not read. */
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "kubeapi.h"

#define SWEEP_MS 50

/* What a listener's connections are made with. */
struct klistener {
    struct kapi *api;
    SSL_CTX *ssl; /* NULL: plain HTTP */
};

struct kconns {
    struct bufferevent **held;
    size_t n, cap;
    struct event *sweep;
    struct klistener listeners[2];
    size_t nlisteners;
};

static void sweep(struct kconns *c)
{
    for (size_t i = 0; i < c->n;) {
        bufferevent_event_cb event_cb = NULL;
        bufferevent_getcb(c->held[i], NULL, NULL, &event_cb, NULL);
        if (event_cb) {
            i++;
            continue;
        }
        bufferevent_decref(c->held[i]);
        c->held[i] = c->held[--c->n];
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    sweep(arg);
}

/* A refused connection: evhttp sees it end before it reads anything. */
static void on_refuse(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    bufferevent_trigger_event(arg, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
    bufferevent_decref(arg);
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    struct klistener *l = arg;
    struct kapi *api = l->api;
    struct kconns *c = api->conns;
    sweep(c);
    struct bufferevent *bev = NULL;
    if (l->ssl) {
        SSL *ssl = SSL_new(l->ssl);
        bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                   BEV_OPT_CLOSE_ON_FREE)
                  : NULL;
        if (bev)
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        else
            SSL_free(ssl);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev)
        return NULL;
    bufferevent_incref(bev);
    if (c->n >= api->lim.max_connections) {
        const struct timeval now = {0, 0};
        if (event_base_once(base, -1, EV_TIMEOUT, on_refuse, bev, &now) != 0)
            bufferevent_decref(bev);
        return bev;
    }
    c->held[c->n++] = bev;
    return bev;
}

int kapi_conns_attach(struct kapi *api, struct evhttp *http, SSL_CTX *ssl)
{
    struct kconns *c = api->conns;
    if (!c) {
        c = api->conns = calloc(1, sizeof *c);
        if (!c)
            return -1;
        c->cap = api->lim.max_connections;
        c->held = calloc(c->cap, sizeof *c->held);
        c->sweep = event_new(api->base, -1, EV_PERSIST, on_sweep, c);
        struct timeval tv = {0, SWEEP_MS * 1000};
        if (!c->held || !c->sweep || event_add(c->sweep, &tv) != 0)
            return -1;
    }
    if (c->nlisteners == sizeof c->listeners / sizeof c->listeners[0])
        return -1;
    struct klistener *l = &c->listeners[c->nlisteners++];
    l->api = api;
    l->ssl = ssl;
    evhttp_set_bevcb(http, make_bev, l);
    return 0;
}

size_t kapi_conns_waiting(const struct kapi *api)
{
    const struct kconns *c = api->conns;
    size_t waiting = 0;
    for (size_t i = 0; c && i < c->n; i++)
        waiting += evbuffer_get_length(bufferevent_get_output(c->held[i]));
    return waiting;
}

int kapi_conns_backlogged(struct kreq *r)
{
    size_t waiting = kapi_conns_waiting(r->api);
    if (waiting <= r->api->lim.max_output)
        return 0;
    kapi_fail(r, 429, "TooManyRequests",
              "%zu bytes of answers wait for clients that do not read them; try again later",
              waiting);
    return 1;
}

size_t kapi_conns_open(const struct kapi *api)
{
    return api->conns ? api->conns->n : 0;
}

void kapi_conns_detach(struct kapi *api)
{
    struct kconns *c = api->conns;
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        bufferevent_decref(c->held[i]);
    if (c->sweep)
        event_free(c->sweep);
    free(c->held);
    free(c);
    api->conns = NULL;
}
