/* conn_guard.c — connection admission for both listeners (conn_guard.h):
 * a count in total and one per client address in a small hash table, all
 * under one mutex, and the answer to accept() failing for want of
 * descriptors. Without that answer libevent is woken again at once for the
 * same pending connection and logs each failure: a busy loop writing
 * millions of lines while the limit lasts. */
#include "conn_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "api.h"

#define GUARD_BUCKETS 1024
#define LOG_EVERY_S 10   /* at most one line per kind of trouble this often */
#define SHED_MAX 64      /* pending connections closed per descriptor shortage */
#define MAX_WATCHED 128  /* listeners with a guard (REST threads + live) */
#define PAUSE_MS 250     /* a listener out of descriptors stops accepting this long */

struct client {
    struct client *next;
    unsigned char key[17];
    size_t n;
    size_t body; /* request body bytes its connections are reading */
};

/* One kind of log line, rate-limited. */
struct quiet_log {
    time_t last;
    unsigned long suppressed;
};

struct conn_guard {
    char name[16];
    size_t max_total, max_per_client;
    size_t max_body_total, max_body_per_client; /* 0: no body budget */
    pthread_mutex_t mu;
    size_t total, body_total;
    struct client *buckets[GUARD_BUCKETS];
    int reserve_fd; /* /dev/null, given up to shed connections past EMFILE */
    struct quiet_log refused_log, accept_log;
};

/* lis -> guard: an accept error callback gets the listener's own user data
 * (evhttp's, for REST), so the guard is found here. */
static pthread_mutex_t watched_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct evconnlistener *lis;
    struct conn_guard *g;
} watched[MAX_WATCHED];

static time_t now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec;
}

/* 1 when a line may be written now; *suppressed then says how many were
 * not since the last one. Under g->mu. */
static int quiet_log_due(struct quiet_log *q, unsigned long *suppressed)
{
    time_t now = now_s();
    if (q->last && now - q->last < LOG_EVERY_S) {
        q->suppressed++;
        return 0;
    }
    q->last = now;
    *suppressed = q->suppressed;
    q->suppressed = 0;
    return 1;
}

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

struct conn_guard *conn_guard_new(const char *name, size_t max_total, size_t max_per_client)
{
    struct conn_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    snprintf(g->name, sizeof g->name, "%s", name);
    g->max_total = max_total;
    g->max_per_client = max_per_client;
    g->reserve_fd = open_reserve();
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void conn_guard_free(struct conn_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&watched_mu);
    for (size_t i = 0; i < MAX_WATCHED; i++)
        if (watched[i].g == g)
            watched[i].lis = NULL, watched[i].g = NULL;
    pthread_mutex_unlock(&watched_mu);
    for (size_t i = 0; i < GUARD_BUCKETS; i++)
        for (struct client *c = g->buckets[i], *next; c; c = next) {
            next = c->next;
            free(c);
        }
    if (g->reserve_fd >= 0)
        close(g->reserve_fd);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* An IPv4 address, or the /64 of an IPv6 one (a single host is given a
 * whole /64, so counting its addresses apart would count nothing); an
 * IPv4-mapped IPv6 address is its IPv4 address. */
static void client_key(const struct sockaddr *sa, unsigned char key[17])
{
    memset(key, 0, 17);
    if (sa && sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key[0] = 4;
            memcpy(key + 1, a->s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a->s6_addr, 8);
        }
    }
}

static size_t bucket_of(const unsigned char key[17])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % GUARD_BUCKETS;
}

static struct client **find(struct conn_guard *g, const unsigned char key[17])
{
    struct client **p = &g->buckets[bucket_of(key)];
    while (*p && memcmp((*p)->key, key, 17) != 0)
        p = &(*p)->next;
    return p;
}

int conn_guard_enter(struct conn_guard *g, const struct sockaddr *peer,
                     struct conn_guard_slot *slot)
{
    memset(slot, 0, sizeof *slot);
    client_key(peer, slot->key);
    const char *why = NULL;
    unsigned long quiet = 0;
    int log_it = 0;
    pthread_mutex_lock(&g->mu);
    struct client **p = find(g, slot->key);
    if (g->total >= g->max_total)
        why = "too many connections; refusing";
    else if (*p && (*p)->n >= g->max_per_client)
        why = "too many connections from one client; refusing";
    else if (!*p && !(*p = calloc(1, sizeof **p)))
        why = "out of memory; refusing a connection";
    if (why) {
        log_it = quiet_log_due(&g->refused_log, &quiet);
    } else {
        memcpy((*p)->key, slot->key, 17);
        (*p)->n++;
        g->total++;
        slot->admitted = 1;
    }
    pthread_mutex_unlock(&g->mu);
    if (log_it) {
        char msg[96], n[24];
        snprintf(msg, sizeof msg, "%s: %s", g->name, why);
        snprintf(n, sizeof n, "%lu", quiet);
        api_host->log(api_self, AMB_LOG_WARN, msg, "suppressed", n, NULL);
    }
    return why ? -1 : 0;
}

void conn_guard_set_body_budget(struct conn_guard *g, size_t total, size_t per_client)
{
    g->max_body_total = total;
    g->max_body_per_client = per_client;
}

int conn_guard_reserve_body(struct conn_guard *g, const struct conn_guard_slot *slot,
                            size_t bytes)
{
    if (!g->max_body_total || !slot->admitted)
        return 0;
    pthread_mutex_lock(&g->mu);
    struct client *c = *find(g, slot->key);
    int ok = c && g->body_total + bytes <= g->max_body_total &&
             c->body + bytes <= g->max_body_per_client;
    if (ok) {
        c->body += bytes;
        g->body_total += bytes;
    }
    pthread_mutex_unlock(&g->mu);
    return ok ? 0 : -1;
}

void conn_guard_release_body(struct conn_guard *g, const struct conn_guard_slot *slot,
                             size_t bytes)
{
    if (!g->max_body_total || !slot->admitted || !bytes)
        return;
    pthread_mutex_lock(&g->mu);
    struct client *c = *find(g, slot->key);
    if (c)
        c->body -= bytes < c->body ? bytes : c->body;
    g->body_total -= bytes < g->body_total ? bytes : g->body_total;
    pthread_mutex_unlock(&g->mu);
}

void conn_guard_leave(struct conn_guard *g, struct conn_guard_slot *slot)
{
    if (!g || !slot->admitted)
        return;
    slot->admitted = 0;
    pthread_mutex_lock(&g->mu);
    struct client **p = find(g, slot->key);
    if (*p && --(*p)->n == 0) {
        struct client *gone = *p;
        *p = gone->next;
        free(gone);
    }
    g->total--;
    pthread_mutex_unlock(&g->mu);
}

/* Out of descriptors: the reserve makes room to accept and close what
 * waits, then is taken again. Under g->mu (REST loops share the socket).
 * Returns how many connections were shed. */
static int shed(struct conn_guard *g, int listen_fd)
{
    if (g->reserve_fd < 0 && (g->reserve_fd = open_reserve()) < 0)
        return 0;
    close(g->reserve_fd);
    int n = 0;
    for (; n < SHED_MAX; n++) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        close(fd);
    }
    g->reserve_fd = open_reserve();
    return n;
}

static struct conn_guard *watcher(struct evconnlistener *lis)
{
    struct conn_guard *g = NULL;
    pthread_mutex_lock(&watched_mu);
    for (size_t i = 0; i < MAX_WATCHED && !g; i++)
        if (watched[i].lis == lis)
            g = watched[i].g;
    pthread_mutex_unlock(&watched_mu);
    return g;
}

/* The pause is over, unless the listener was unwatched (freed) meanwhile. */
static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    if (watcher(arg))
        evconnlistener_enable(arg);
}

static void accept_error_cb(struct evconnlistener *lis, void *unused)
{
    (void)unused;
    int e = EVUTIL_SOCKET_ERROR();
    struct conn_guard *g = watcher(lis);
    if (!g)
        return;
    unsigned long quiet = 0;
    int shed_n = 0;
    pthread_mutex_lock(&g->mu);
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        shed_n = shed(g, evconnlistener_get_fd(lis));
        /* another thread may take the descriptor the reserve freed (REST
         * loops share the socket): a short pause bounds the wake-ups then */
        const struct timeval pause = {0, PAUSE_MS * 1000};
        if (event_base_once(evconnlistener_get_base(lis), -1, EV_TIMEOUT, resume_cb, lis,
                            &pause) == 0)
            evconnlistener_disable(lis);
    }
    int log_it = quiet_log_due(&g->accept_log, &quiet);
    pthread_mutex_unlock(&g->mu);
    if (log_it) {
        char msg[64], n[24], s[24];
        snprintf(msg, sizeof msg, "%s: accept failed", g->name);
        snprintf(n, sizeof n, "%lu", quiet);
        snprintf(s, sizeof s, "%d", shed_n);
        api_host->log(api_self, AMB_LOG_WARN, msg, "error", strerror(e), "shed", s,
                      "suppressed", n, NULL);
    }
}

void conn_guard_watch(struct evconnlistener *lis, struct conn_guard *g)
{
    pthread_mutex_lock(&watched_mu);
    size_t i = 0;
    while (i < MAX_WATCHED && watched[i].lis && watched[i].lis != lis)
        i++;
    if (i < MAX_WATCHED) {
        watched[i].lis = lis;
        watched[i].g = g;
    }
    pthread_mutex_unlock(&watched_mu);
    evconnlistener_set_error_cb(lis, accept_error_cb);
}

void conn_guard_unwatch(struct evconnlistener *lis)
{
    pthread_mutex_lock(&watched_mu);
    for (size_t i = 0; i < MAX_WATCHED; i++)
        if (watched[i].lis == lis)
            watched[i].lis = NULL, watched[i].g = NULL;
    pthread_mutex_unlock(&watched_mu);
}
