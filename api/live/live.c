/* live.c — the live service's lifecycle: config checks, the listener on
 * api.live.listen, the loop thread with its wake pipe (jobs coming back,
 * stop requests), the keep-alive tick, and an orderly stop. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "live/live_int.h"

#include <openssl/ssl.h>

#define LIVE_TICK_S 20     /* keep-alive pings on idle streams */
#define LIVE_STOP_GRACE_S 5

void live_wake(struct live *l)
{
    ssize_t r;
    do
        r = write(l->wake[1], "x", 1);
    while (r < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full, so the loop is already due to wake */
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct live *l = arg;
    (void)fd;
    (void)what;
    struct live_conn *c = l->conns;
    while (c) {
        struct live_conn *next = c->next;
        live_conn_close(c); /* ones a job holds linger until live_free */
        c = next;
    }
    event_base_loopbreak(l->base);
}

static void begin_stop(struct live *l)
{
    l->stopping = 1;
    if (l->lis) {
        conn_guard_unwatch(l->lis);
        evconnlistener_free(l->lis);
        l->lis = NULL;
    }
    live_conn_stop_all(l);
    if (l->n_conns == 0) {
        event_base_loopbreak(l->base);
        return;
    }
    struct timeval tv = {LIVE_STOP_GRACE_S, 0};
    l->deadline_ev = evtimer_new(l->base, deadline_cb, l);
    if (!l->deadline_ev || evtimer_add(l->deadline_ev, &tv) != 0)
        event_base_loopbreak(l->base);
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct live *l = arg;
    (void)what;
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    pthread_mutex_lock(&l->mu);
    struct live_job *j = l->done;
    l->done = l->done_tail = NULL;
    int stop = l->stop_requested;
    pthread_mutex_unlock(&l->mu);
    while (j) {
        struct live_job *next = j->next;
        live_conn_job_done(l, j);
        j = next;
    }
    live_feed_drain(l);
    if (stop && !l->stopping)
        begin_stop(l);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    live_conn_tick(arg);
}

static void recheck_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    live_conn_recheck_due(arg);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct live *l = arg;
    (void)lis;
    (void)salen;
    struct conn_guard_slot slot;
    if (l->stopping || conn_guard_enter(l->guard, sa, &slot) != 0) {
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    live_conn_accept(l, fd, &slot);
}

static void *loop_main(void *arg)
{
    struct live *l = arg;
    /* a client gone mid-write must give EPIPE, not kill the daemon */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* The registered kinds that declare an event log (ABI 1.5), in load order. */
static void find_logged_kinds(struct live *l)
{
    const struct amb_kind *k;
    void *ud;
    if (!AMB_HAS(api_host, kind_at))
        return;
    for (size_t i = 0; api_host->kind_at(api_self, i, &k, &ud) == AMB_OK; i++) {
        if (!(k->flags & AMB_KIND_EVENT_LOG) || !k->resource.namespaced)
            continue;
        if (l->n_kinds == LIVE_MAX_KINDS) {
            api_host->log(api_self, AMB_LOG_ERROR, "live: too many kinds with an event log",
                          "kind", k->resource.kind, NULL);
            continue;
        }
        struct live_kind *lk = &l->kinds[l->n_kinds];
        lk->kind = k;
        lk->segment = k->rest_plural && *k->rest_plural ? k->rest_plural : k->resource.plural;
        lk->index = (unsigned)l->n_kinds++;
    }
}

int live_start(const struct api_config *cfg, struct api_auth *auth,
               struct kind_watches *watches, struct live **out, struct amb_error *err)
{
    *out = NULL;
    if (!cfg->live_listen)
        return api_host->error_set(err, AMB_EINVAL, "api.live.listen", "not set");
    if (!cfg->live_dir || !cfg->live_dir[0])
        return api_host->error_set(err, AMB_EINVAL, "api.live.dir", "not set");
    if (mkdirs(cfg->live_dir) != 0)
        return api_host->error_set(err, AMB_EIO, "api.live.dir", "cannot create %s: %s",
                                   cfg->live_dir, strerror(errno));

    int rc0;
    struct live *l = calloc(1, sizeof *l);
    if (!l)
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    l->cfg = cfg;
    l->auth = auth;
    find_logged_kinds(l);
    if (cfg->tls_cert_file && (rc0 = api_tls_context(cfg, &l->ssl, err)) != AMB_OK) {
        free(l);
        return rc0;
    }
    l->wake[0] = l->wake[1] = -1;
    l->max_event = cfg->live_max_event ? cfg->live_max_event : 1u << 20;
    l->body_budget = l->max_event * LIVE_BODY_BUDGET_EVENTS;
    l->max_session = cfg->live_max_session ? cfg->live_max_session : 256u << 20;
    l->max_client_buffer = cfg->live_max_client_buffer ? cfg->live_max_client_buffer : 4u << 20;
    l->max_store = cfg->live_max_store ? cfg->live_max_store : 16ull << 30;
    l->store_bytes = store_total_bytes(cfg->live_dir);
    l->recheck_s = cfg->auth_ttl_s ? cfg->auth_ttl_s : 1;
    l->max_headers = cfg->max_headers ? cfg->max_headers : 16384;
    l->timeout_s = cfg->timeout_s;
    l->head_timeout_s = cfg->head_timeout_s;
    l->body_timeout_s = cfg->body_timeout_s;
    l->replay_high = l->max_client_buffer / 2;
    if (l->replay_high > 256 * 1024)
        l->replay_high = 256 * 1024;
    if (l->replay_high < 4096)
        l->replay_high = 4096;
    l->pause_at = l->replay_high;
    l->guard = conn_guard_new("live", cfg->live_max_connections,
                              cfg->live_max_connections_per_client);
    l->bad_tokens = ratelimit_new(cfg->rate_per_s, cfg->rate_burst, 4096);
    if (!l->guard || (cfg->rate_per_s && !l->bad_tokens)) {
        conn_guard_free(l->guard);
        ratelimit_free(l->bad_tokens);
        SSL_CTX_free(l->ssl);
        free(l);
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    }
    l->lock_fd = -1;
    pthread_mutex_init(&l->mu, NULL);

    int rc = AMB_OK;
    int fd = -1;
    char addr[128];
    /* one writer per directory: two daemons appending to the same logs
     * would hand out the same seq twice */
    char lock[4096];
    snprintf(lock, sizeof lock, "%s/.lock", cfg->live_dir);
    l->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (l->lock_fd < 0 || flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = api_host->error_set(err, AMB_EUNAVAILABLE, "api.live.dir",
                                 "%s is in use by another ambientd (or not writable)",
                                 cfg->live_dir);
        goto fail;
    }
    if ((rc = api_listen_socket(cfg->live_listen, "api.live.listen", &fd, addr, sizeof addr,
                                err)) != AMB_OK)
        goto fail;
    l->base = event_base_new();
    if (!l->base || pipe2(l->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        rc = api_host->error_set(err, AMB_EINTERNAL, NULL, "cannot create the live event loop");
        goto fail;
    }
    l->wake_ev = event_new(l->base, l->wake[0], EV_READ | EV_PERSIST, wake_cb, l);
    l->tick_ev = event_new(l->base, -1, EV_PERSIST, tick_cb, l);
    l->recheck_ev = event_new(l->base, -1, EV_PERSIST, recheck_cb, l);
    struct timeval tick = {LIVE_TICK_S, 0}, second = {1, 0};
    if (!l->wake_ev || !l->tick_ev || !l->recheck_ev || event_add(l->wake_ev, NULL) != 0 ||
        event_add(l->tick_ev, &tick) != 0 || event_add(l->recheck_ev, &second) != 0) {
        rc = api_host->error_set(err, AMB_EINTERNAL, NULL, "cannot create the live event loop");
        goto fail;
    }
    l->lis = evconnlistener_new(l->base, accept_cb, l,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128, fd);
    if (!l->lis) {
        rc = api_host->error_set(err, AMB_EIO, "api.live.listen", "cannot listen on %s: %s",
                                 cfg->live_listen, strerror(errno));
        goto fail;
    }
    fd = -1; /* the listener's now */
    conn_guard_watch(l->lis, l->guard);

    /* the exporter before the watch that feeds it */
    if ((rc = live_langfuse_start(l)) != AMB_OK) {
        rc = api_host->error_set(err, rc, "api.live.langfuse", "cannot start the LangFuse export");
        goto fail;
    }
    /* the watch first: workers look uids up in it */
    if ((rc = live_feed_start(l, watches)) != AMB_OK) {
        rc = api_host->error_set(err, rc, NULL, "cannot start the watch of logged objects");
        goto fail;
    }
    rc = live_jobs_start(l, cfg->live_auth_threads);
    if (rc != AMB_OK) {
        rc = api_host->error_set(err, rc, NULL, "cannot start the live auth threads");
        goto fail;
    }
    if (pthread_create(&l->loop, NULL, loop_main, l) != 0) {
        rc = api_host->error_set(err, AMB_EINTERNAL, NULL, "cannot start the live loop thread");
        goto fail;
    }
    l->loop_started = 1;
    snprintf(l->address, sizeof l->address, "%s", addr);
    api_host->log(api_self, AMB_LOG_INFO, "live listening", "address", addr, "tls",
                  l->ssl ? "on" : "off", NULL);
    *out = l;
    return AMB_OK;

fail:
    if (fd >= 0)
        close(fd);
    live_free(l);
    return rc;
}

void live_stop(struct live *l)
{
    if (!l)
        return;
    live_feed_stop(l); /* no more status events once stopping */
    live_langfuse_stop(l);
    if (l->loop_started) {
        pthread_mutex_lock(&l->mu);
        l->stop_requested = 1;
        pthread_mutex_unlock(&l->mu);
        live_wake(l);
        pthread_join(l->loop, NULL);
        l->loop_started = 0;
    }
    live_jobs_join(l);
}

void live_free(struct live *l)
{
    if (!l)
        return;
    live_stop(l);
    /* jobs the loop never saw: release the connections they hold */
    struct live_job *lists[3] = {l->auth_pool.queue, l->read_pool.queue, l->done};
    l->auth_pool.queue = l->auth_pool.queue_tail = NULL;
    l->read_pool.queue = l->read_pool.queue_tail = NULL;
    l->done = l->done_tail = NULL;
    for (int i = 0; i < 3; i++) {
        for (struct live_job *j = lists[i], *next; j; j = next) {
            next = j->next;
            j->c->refs--;
            live_job_free(j);
        }
    }
    l->stopping = 1; /* what the feed queued but the loop never took is dropped */
    live_feed_drain(l);
    live_feed_free(l);
    live_langfuse_free(l);
    l->stopping = 0; /* no loopbreak from conn_free: the loop is gone */
    while (l->conns) {
        struct live_conn *c = l->conns;
        c->refs = 0;
        c->closed = 0;
        live_conn_close(c);
    }
    live_hub_free(l);
    if (l->lis) {
        conn_guard_unwatch(l->lis);
        evconnlistener_free(l->lis);
    }
    if (l->wake_ev)
        event_free(l->wake_ev);
    if (l->tick_ev)
        event_free(l->tick_ev);
    if (l->recheck_ev)
        event_free(l->recheck_ev);
    if (l->deadline_ev)
        event_free(l->deadline_ev);
    if (l->base)
        event_base_free(l->base);
    if (l->wake[0] >= 0)
        close(l->wake[0]);
    if (l->wake[1] >= 0)
        close(l->wake[1]);
    if (l->lock_fd >= 0)
        close(l->lock_fd);
    pthread_mutex_destroy(&l->mu);
    SSL_CTX_free(l->ssl);
    conn_guard_free(l->guard); /* after the connections: they leave it */
    ratelimit_free(l->bad_tokens);
    free(l);
}

const char *live_address(const struct live *l)
{
    return l ? l->address : "";
}
