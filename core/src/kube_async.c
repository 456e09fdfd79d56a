/* kube_async.c — curl's multi interface on a libevent loop: curl tells us
 * which sockets to watch and when to wake it (socket and timer callbacks);
 * libevent tells curl when they are ready. Finished transfers are collected
 * after each wake-up and reported to their handlers. */
#include "kube-async-internal.h"

#include <stdlib.h>
#include <string.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "kube-record-internal.h"
#include "log-internal.h"

#define STREAM_READ_BYTES (128L * 1024)

struct ambd_kube_call {
    struct ambd_kube_loop *loop;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    const char *verb;
    struct ambd_kube_call_handlers h;
    void *ud;
    int cancelled;
    int aborted;   /* on_data asked to stop */
    int finishing; /* on_done is running: freed by collect_done */
    int removed;   /* out of the multi handle already */
    struct ambd_kube_call *next, *prev;
};

struct ambd_kube_loop {
    struct ambd_kube *k;
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct ambd_kube_call *calls; /* in flight */
    int in_curl;                  /* inside a curl callback: no removal now */
};

struct sock_watch {
    struct event *ev;
};

static void collect_done(struct ambd_kube_loop *l);

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
    struct ambd_kube_loop *l = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    l->in_curl = 1;
    curl_multi_socket_action(l->multi, fd, flags, &running);
    l->in_curl = 0;
    collect_done(l);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ambd_kube_loop *l = arg;
    int running;
    l->in_curl = 1;
    curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    l->in_curl = 0;
    collect_done(l);
}

static int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    struct ambd_kube_loop *l = userp;
    struct sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_free(w->ev);
            free(w);
        }
        curl_multi_assign(l->multi, s, NULL);
        return 0;
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
                         (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return -1;
        curl_multi_assign(l->multi, s, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(l->base, s, kind, on_socket_ready, l);
    if (!w->ev || event_add(w->ev, NULL) != 0)
        return -1;
    return 0;
}

static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct ambd_kube_loop *l = userp;
    if (timeout_ms < 0)
        return evtimer_del(l->timer);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return evtimer_add(l->timer, &tv);
}

struct ambd_kube_loop *ambd_kube_loop_new(struct ambd_kube *k, struct event_base *base)
{
    struct ambd_kube_loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->k = k;
    l->base = base;
    l->multi = curl_multi_init();
    l->timer = evtimer_new(base, on_timer, l);
    if (!l->multi || !l->timer) {
        ambd_kube_loop_free(l);
        return NULL;
    }
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
    return l;
}

static void call_unlink(struct ambd_kube_call *c)
{
    struct ambd_kube_loop *l = c->loop;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void call_free(struct ambd_kube_call *c)
{
    if (c->easy) {
        if (!c->removed)
            curl_multi_remove_handle(c->loop->multi, c->easy);
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->body);
    free(c);
}

void ambd_kube_loop_free(struct ambd_kube_loop *l)
{
    if (!l)
        return;
    while (l->calls) {
        struct ambd_kube_call *c = l->calls;
        call_unlink(c);
        call_free(c);
    }
    if (l->multi)
        curl_multi_cleanup(l->multi);
    if (l->timer)
        event_free(l->timer);
    free(l);
}

static void collect_done(struct ambd_kube_loop *l)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(l->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct ambd_kube_call *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode result = msg->data.result;
        long status = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        long retry_after = result == CURLE_OK ? ambd_kube_retry_after_of(c->easy) : -1;
        /* msg is invalid once the handle is removed: result is copied above.
         * Removed before on_done, so its connection is back in the pool for
         * a request on_done makes (the next page of a list). */
        call_unlink(c);
        c->finishing = 1;
        curl_multi_remove_handle(l->multi, c->easy);
        c->removed = 1;
        ambd_kube_observe(l->k, c->verb, result == CURLE_OK ? status : 0, retry_after);
        if (!c->cancelled && c->h.on_done) {
            if (c->aborted)
                c->h.on_done(c->ud, status, retry_after, AMB_EINTERNAL,
                             "transfer stopped by its reader");
            else if (result != CURLE_OK)
                c->h.on_done(c->ud, status, retry_after,
                             result == CURLE_OPERATION_TIMEDOUT ? AMB_ETIMEDOUT : AMB_EIO,
                             curl_easy_strerror(result));
            else
                c->h.on_done(c->ud, status, retry_after, AMB_OK, NULL);
        }
        call_free(c);
    }
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct ambd_kube_call *c = ud;
    size_t len = size * n;
    if (c->cancelled || c->aborted)
        return 0;
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    if (c->h.on_data && c->h.on_data(c->ud, status, data, len) != 0) {
        c->aborted = 1;
        return 0;
    }
    return len;
}

struct ambd_kube_call *ambd_kube_call_start(struct ambd_kube_loop *l,
                                            const struct ambd_kube_request *req, long timeout_ms,
                                            const struct ambd_kube_call_handlers *h, void *ud)
{
    struct ambd_kube_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = l;
    c->h = *h;
    c->ud = ud;
    c->verb = req->verb ? req->verb : req->method;
    ambd_kube_record(req->method, req->path, req->query, req->user_token);
    struct ambd_buf b = {0};
    ambd_buf_printf(&b, "%s%s", ambd_kube_server(l->k), req->path);
    if (req->query && *req->query)
        ambd_buf_printf(&b, "?%s", req->query);
    c->url = ambd_buf_take(&b);
    c->easy = curl_easy_init();
    c->headers = ambd_kube_headers(l->k, req->user_token,
                                   req->body ? (req->content_type ? req->content_type
                                                                  : "application/json")
                                             : NULL);
    if (req->body && !(c->body = malloc(req->body_len + 1)))
        goto fail;
    if (!c->url || !c->easy || !c->headers)
        goto fail;
    ambd_kube_setup_handle(l->k, c->easy);
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        memcpy(c->body, req->body, req->body_len);
        c->body[req->body_len] = '\0';
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    /* Lists and watches stream: a read of 128 KiB at a time rather than
     * curl's 16 takes an eighth of the wake-ups and calls per byte in a
     * burst of events (kubesim, like an API server, sends them in chunks
     * of that order). */
    curl_easy_setopt(c->easy, CURLOPT_BUFFERSIZE, STREAM_READ_BYTES);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    c->next = l->calls;
    if (l->calls)
        l->calls->prev = c;
    l->calls = c;
    if (curl_multi_add_handle(l->multi, c->easy) != CURLM_OK) {
        call_unlink(c);
        goto fail;
    }
    /* Sent now rather than at the loop's next pass, when the caller may be
     * busy (reading the previous page); not from inside curl's callbacks. */
    if (!l->in_curl) {
        int running;
        l->in_curl = 1;
        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        l->in_curl = 0;
    }
    return c;
fail:
    call_free(c);
    return NULL;
}

void ambd_kube_call_cancel(struct ambd_kube_call *c)
{
    if (!c)
        return;
    c->cancelled = 1;
    /* Inside curl's callbacks the handle cannot be removed: on_body returns
     * 0 next time and collect_done frees the call without reporting. */
    if (c->loop->in_curl || c->finishing)
        return;
    call_unlink(c);
    call_free(c);
}
