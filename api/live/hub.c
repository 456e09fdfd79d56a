/* hub.c — the loop thread's view of sessions: who watches which session,
 * replay of a session's history from disk in chunks as a client drains,
 * the switch to live delivery, and the fan-out of new events.
 *
 * No gaps, no duplicates: appends happen only on the loop thread, and the
 * in-memory log size moves only after a write is complete. A subscriber
 * reads the file up to that size; when it reaches it, it is switched to live
 * delivery in the same loop turn, so every later append reaches it exactly
 * once, and every earlier one was in the file it read. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "live/live_int.h"

static struct live_session *find(struct live *l, const char *uid)
{
    for (struct live_session *s = l->sessions; s; s = s->next)
        if (strcmp(s->uid, uid) == 0)
            return s;
    return NULL;
}

/* Opens (or finds) a session; create makes the file. */
static int session_get(struct live *l, const char *project, const char *uid, int create,
                       struct live_session **out)
{
    struct live_session *s = find(l, uid);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return AMB_ENOMEM;
        snprintf(s->project, sizeof s->project, "%s", project);
        snprintf(s->uid, sizeof s->uid, "%s", uid);
        int rc = store_open(l->cfg->live_dir, project, uid, create, &s->log);
        if (rc != AMB_OK) {
            free(s);
            return rc;
        }
        s->next = l->sessions;
        l->sessions = s;
    } else if (create && s->log.fd < 0) {
        struct store_log log;
        int rc = store_open(l->cfg->live_dir, project, uid, 1, &log);
        if (rc != AMB_OK)
            return rc;
        s->log = log;
    }
    *out = s;
    return AMB_OK;
}

/* Forgets a session nobody watches (its state is all on disk). */
static void session_release(struct live *l, struct live_session *s)
{
    if (s->n_subs > 0)
        return;
    for (struct live_session **p = &l->sessions; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    store_close(&s->log);
    free(s);
}

static int deliver(struct live_conn *c, uint64_t seq, const char *line, size_t len)
{
    if (seq <= c->after)
        return 0;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (c->state == LC_WS) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        return ws_write_frame(out, WS_OP_TEXT, line, len);
    }
    return live_sse_event(out, seq, line, len);
}

static void cut_slow(struct live_conn *c)
{
    api_host->log(api_self, AMB_LOG_WARN, "live client too slow; disconnected", "project",
                  c->project, "kind", conn_kind(c), "name", c->name, "user", c->user[0] ? c->user : "-", NULL);
    live_conn_close(c);
}

int live_hub_subscribe(struct live *l, struct live_conn *c)
{
    struct live_session *s;
    int rc = session_get(l, c->project, c->uid, 0, &s);
    if (rc != AMB_OK)
        return 500;
    /* history from ?after= on: found by seq, not read through */
    c->off = 0;
    if (s->log.fd >= 0 && store_seek(s->log.fd, s->log.size, c->after, &c->off) != AMB_OK) {
        session_release(l, s);
        return 500;
    }
    c->rbuf = evbuffer_new();
    if (!c->rbuf) {
        session_release(l, s);
        return 500;
    }
    c->sess = s;
    c->sprev = NULL;
    c->snext = s->subs;
    if (s->subs)
        s->subs->sprev = c;
    s->subs = c;
    s->n_subs++;
    atomic_fetch_add(&l->subscribers, 1);
    c->replaying = 1;
    /* refill when the client has taken half of what replay queued */
    bufferevent_setwatermark(c->bev, EV_WRITE, l->replay_high / 2, 0);
    return 0;
}

void live_hub_unsubscribe(struct live_conn *c)
{
    struct live_session *s = c->sess;
    if (!s)
        return;
    if (c->sprev)
        c->sprev->snext = c->snext;
    else
        s->subs = c->snext;
    if (c->snext)
        c->snext->sprev = c->sprev;
    c->snext = c->sprev = NULL;
    s->n_subs--;
    atomic_fetch_sub(&c->l->subscribers, 1);
    c->sess = NULL;
    if (c->rbuf) {
        evbuffer_free(c->rbuf);
        c->rbuf = NULL;
    }
    session_release(c->l, s);
}

void live_hub_pump(struct live_conn *c)
{
    struct live *l = c->l;
    struct live_session *s = c->sess;
    if (!s || !c->bev || !c->replaying)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (c->replaying && evbuffer_get_length(out) < l->replay_high) {
        if (c->off >= s->log.size) {
            c->replaying = 0; /* caught up: from now on appends reach us */
            bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
            break;
        }
        uint64_t left = s->log.size - c->off;
        size_t n = left < l->replay_high ? (size_t)left : l->replay_high;
        if (n > STORE_CHUNK)
            n = STORE_CHUNK;
        ssize_t r = store_pread(s->log.fd, c->off, n, c->rbuf);
        if (r <= 0) {
            api_host->log(api_self, AMB_LOG_ERROR, "live: reading an event log failed",
                          "project", c->project, "kind", conn_kind(c), "name", c->name, NULL);
            live_conn_close(c);
            return;
        }
        c->off += (uint64_t)r;
        for (;;) {
            struct evbuffer_ptr nl = evbuffer_search_eol(c->rbuf, NULL, NULL, EVBUFFER_EOL_LF);
            if (nl.pos < 0)
                break;
            size_t ll = (size_t)nl.pos + 1;
            const char *line = (const char *)evbuffer_pullup(c->rbuf, (ev_ssize_t)ll);
            uint64_t seq;
            if (!line || store_line_seq(line, ll, &seq) != 0 || deliver(c, seq, line, ll) != 0) {
                api_host->log(api_self, AMB_LOG_ERROR, "live: bad line in an event log",
                              "project", c->project, "kind", conn_kind(c), "name", c->name, NULL);
                live_conn_close(c);
                return;
            }
            evbuffer_drain(c->rbuf, ll);
        }
    }
}

/* 1 when uid's session was deleted lately: a request checked before the
 * deletion must not make its log again. */
static int deleted_lately(const struct live *l, const char *uid)
{
    for (size_t i = 0; i < LIVE_GONE_KEPT; i++)
        if (strcmp(l->gone[i], uid) == 0)
            return 1;
    return 0;
}

/* "the session was deleted", in k's words (k NULL: "object"). */
static void deleted_message(const struct live_kind *k, char *msg, size_t msg_len)
{
    char noun[160] = "object";
    if (k)
        live_kind_noun(k, noun, sizeof noun);
    snprintf(msg, msg_len, "the %s was deleted", noun);
}

int live_hub_append(struct live *l, const struct live_kind *kind, const char *project,
                    const char *uid, const char *source, json_t *events, uint64_t *first,
                    uint64_t *last, char *msg, size_t msg_len)
{
    struct live_session *s;
    size_t n = json_array_size(events);
    if (n == 0) {
        snprintf(msg, msg_len, "no events");
        return 400;
    }
    if (deleted_lately(l, uid)) {
        deleted_message(kind, msg, msg_len);
        return 404;
    }
    int rc = session_get(l, project, uid, 1, &s);
    if (rc != AMB_OK) {
        snprintf(msg, msg_len, "cannot open the event log");
        return 500;
    }
    char ts[32];
    store_timestamp(ts);
    struct evbuffer *batch = evbuffer_new();
    int status = batch ? 0 : 500;
    for (size_t i = 0; i < n && status == 0; i++) {
        size_t len;
        char *line = store_line(json_array_get(events, i), s->log.seq + i + 1, ts, source, &len);
        if (!line) {
            status = 500;
            snprintf(msg, msg_len, "cannot encode event");
        } else if (len > l->max_event + 128) {
            status = 413;
            snprintf(msg, msg_len, "an event is larger than %zu bytes", l->max_event);
        } else if (evbuffer_add(batch, line, len) != 0) {
            status = 500;
        }
        free(line);
    }
    size_t total = batch ? evbuffer_get_length(batch) : 0;
    if (status == 0 && s->log.size + total > l->max_session) {
        status = 413;
        snprintf(msg, msg_len, "the event log is full (%zu bytes)", l->max_session);
    } else if (status == 0 && l->store_bytes + total > l->max_store) {
        status = 507;
        snprintf(msg, msg_len, "the event store is full (api.live.max_store, %llu bytes)",
                 (unsigned long long)l->max_store);
    }
    if (status == 0) {
        const char *data = (const char *)evbuffer_pullup(batch, -1);
        if (!data || store_append(&s->log, data, total) != AMB_OK) {
            status = 500;
            snprintf(msg, msg_len, "cannot write the event log");
        }
    }
    if (status == 0) {
        l->store_bytes += total;
        *first = s->log.seq + 1;
        s->log.seq += n;
        *last = s->log.seq;
        /* fan out: only subscribers that caught up; the others will read
         * these lines from the file */
        const char *p = (const char *)evbuffer_pullup(batch, -1);
        struct live_conn *c = s->subs;
        while (c) {
            struct live_conn *next = c->snext;
            if (!c->replaying && c->bev && (c->state == LC_WS || c->state == LC_SSE)) {
                const char *q = p;
                int bad = 0;
                for (size_t i = 0; i < n && !bad; i++) {
                    const char *nl = memchr(q, '\n', total - (size_t)(q - p));
                    size_t ll = (size_t)(nl - q) + 1;
                    bad = deliver(c, *first + i, q, ll) != 0;
                    q += ll;
                }
                struct evbuffer *out = bufferevent_get_output(c->bev);
                if (bad || evbuffer_get_length(out) > l->max_client_buffer)
                    cut_slow(c); /* may free c and, with it, nothing else */
            }
            c = next;
        }
    }
    if (batch)
        evbuffer_free(batch);
    /* s may be gone if cut_slow released the last subscriber: look it up */
    struct live_session *still = find(l, uid);
    if (still)
        session_release(l, still);
    return status;
}

void live_hub_remove(struct live *l, const char *project, const char *uid)
{
    snprintf(l->gone[l->gone_next], sizeof l->gone[0], "%s", uid);
    l->gone_next = (l->gone_next + 1) % LIVE_GONE_KEPT;
    struct live_session *s = find(l, uid);
    if (s) {
        s->n_subs++; /* held while its streams end */
        for (struct live_conn *c = s->subs, *next; c; c = next) {
            next = c->snext;
            char why[200];
            deleted_message(c->kind, why, sizeof why);
            live_conn_end_stream(c, WS_CLOSE_NORMAL, why);
        }
        s->n_subs--;
        session_release(l, s);
    }
    uint64_t freed;
    store_remove(l->cfg->live_dir, project, uid, &freed);
    l->store_bytes -= freed < l->store_bytes ? freed : l->store_bytes;
    api_host->log(api_self, AMB_LOG_INFO, "live: removed a deleted object's events", "project",
                  project, "uid", uid, NULL);
}

void live_hub_free(struct live *l)
{
    while (l->sessions) {
        struct live_session *s = l->sessions;
        l->sessions = s->next;
        store_close(&s->log);
        free(s);
    }
}
