/* live_int.h — what the files of the live service share: the service, its
 * connections, sessions and auth jobs. Everything here belongs to the loop
 * thread except the job queues (under mu) and what live.c documents. */
#ifndef AMBIENT_API_LIVE_INT_H
#define AMBIENT_API_LIVE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "api.h"
#include "conn_guard.h"
#include "ratelimit.h"
#include "live/http1.h"
#include "live/live.h"
#include "live/store.h"
#include "live/ws.h"

#define LIVE_PREFIX "/api/projects/"
#define LIVE_TOKEN_MAX 8192
#define LIVE_USER_MAX 256

/* A kind whose objects have an event log (AMB_KIND_EVENT_LOG, ABI 1.5),
 * addressed as /api/projects/:project/<segment>/:name/...; the host's
 * copy, read-only once the service runs. */
#define LIVE_MAX_KINDS 16
struct live_kind {
    const struct amb_kind *kind;
    const char *segment; /* rest_plural, else plural */
    unsigned index;      /* in l->kinds */
};

/* What a user calls one object of k ("session"), for messages. */
void live_kind_noun(const struct live_kind *k, char *out, size_t len);

enum live_route {
    LR_WS = 1,        /* GET  .../:name/ws */
    LR_SSE,           /* GET  .../:name/events */
    LR_POST_EVENTS,   /* POST .../:name/events (the runner) */
    LR_GET_MESSAGES,  /* GET  .../:name/messages */
    LR_POST_MESSAGE,  /* POST .../:name/messages */
    LR_RECHECK,       /* an open stream's access, again (no request) */
};

enum live_state {
    LC_HEAD,    /* reading a request head */
    LC_BODY,    /* reading a Content-Length body */
    LC_AUTH,    /* a job runs on a worker; reading is off */
    LC_WS,      /* WebSocket stream */
    LC_SSE,     /* Server-Sent Events stream */
    LC_CLOSING, /* flushing, then closed */
};

struct live_session;

struct live_conn {
    struct live *l;
    struct bufferevent *bev; /* NULL once closed */
    enum live_state state;
    int refs;   /* jobs in flight that point here */
    int closed; /* socket gone; freed when refs drops to 0 */
    int in_process; /* inside process(): replies must not re-enter it */
    int paused;     /* reading stopped until the output drains below pause_at */
    int cut;        /* output went over max_client_buffer: closed by the deadline timer */
    struct live_conn *next, *prev; /* every connection */
    struct conn_guard_slot slot;   /* its share of the listener's guard */
    struct event *deadline;        /* of the head or body being read */

    /* the request */
    struct http1_req req;
    int have_req;
    enum live_route route;
    const struct live_kind *kind; /* of the object addressed */
    char project[64];
    char name[254];
    char uid[STORE_UID_MAX]; /* the object's, once a job found it */
    int keep_alive;
    int body_unread; /* a body we did not read: close after the reply */
    int body_next;   /* a POST whose caller is known: its body comes next */
    size_t body_reserved; /* this request's share of l->body_reserved */
    int ndjson;
    char *token;     /* malloc'd; wiped and freed after the job */
    char ws_accept[29];
    int ws_v1;       /* client offered ambient.v1 */
    uint64_t after;
    size_t limit;

    /* a stream */
    struct live_session *sess;
    struct live_conn *snext, *sprev; /* the session's subscribers */
    int replaying;    /* reading history from disk; live events wait */
    uint64_t off;     /* next byte of the log to read */
    struct evbuffer *rbuf;
    struct ws_reader wsr;
    int can_post;     /* WS: may post user messages */
    char user[LIVE_USER_MAX];
    /* a stream keeps its token (c->token) to re-check its access every
     * api.auth_ttl, so a revoked right ends it */
    long long checked_at; /* CLOCK_MONOTONIC seconds of the last check */
    int rechecking;       /* a recheck job is in flight */
};

/* c's kind as log lines name it ("AgenticSession"), "-" before routing. */
static inline const char *conn_kind(const struct live_conn *c)
{
    return c->kind ? c->kind->kind->resource.kind : "-";
}

struct live_session {
    struct live_session *next;
    char project[64];
    char uid[STORE_UID_MAX];
    struct store_log log;
    struct live_conn *subs;
    size_t n_subs;
};

/* A blocking piece of work for a worker: auth, reading a page, parsing a
 * body. The worker fills the result; the loop thread applies it. */
struct live_job {
    struct live_job *next;
    struct live_conn *c;
    enum live_route route;
    const struct live_kind *kind;
    int reading; /* GET messages, authorized: its page is read on the read pool */
    char project[64];
    char name[254];
    char uid[STORE_UID_MAX]; /* result: the session's */
    char *token;  /* owned */
    char *body;   /* owned (posts) */
    size_t body_len;
    int ndjson;
    uint64_t after;
    size_t limit;
    /* result */
    int status;                /* 0 ok, else the HTTP status to answer */
    char message[512];
    char user[LIVE_USER_MAX];
    int can_post;
    json_t *events;            /* posts: the events to store */
    char *page;                /* GET messages: the reply body */
};

/* POST bodies in flight may take this many times max_event together. */
#define LIVE_BODY_BUDGET_EVENTS 16
/* Deleted sessions remembered so a request checked just before the
 * deletion cannot make their log again. */
#define LIVE_GONE_KEPT 64
/* Threads reading transcript pages, apart from the auth workers so that a
 * crowd of readers never delays anyone's access review. */
#define LIVE_READ_THREADS 2

/* Worker threads and their queue (under live.mu). */
struct live_pool {
    struct live *l;
    pthread_cond_t cv;
    struct live_job *queue, *queue_tail;
    pthread_t *threads;
    unsigned n;
};

/* From the feed thread to the loop (under mu): a status event for a
 * session's log, a deleted session (event NULL), or, after a list, the
 * sessions that exist (uids, sorted; event and uid unused) so logs of ones
 * deleted meanwhile go. */
struct live_feed_item {
    struct live_feed_item *next;
    char project[64];
    char uid[STORE_UID_MAX];
    json_t *event;
    char (*uids)[STORE_UID_MAX];
    size_t n_uids;
    long long listed_at; /* CLOCK_REALTIME seconds the list began */
};

struct live {
    const struct api_config *cfg; /* borrowed from the plugin */
    struct live_kind kinds[LIVE_MAX_KINDS]; /* the kinds with an event log */
    size_t n_kinds;
    char address[128];            /* bound "host:port" (live_address) */
    struct api_auth *auth;
    size_t max_event, max_session, max_client_buffer, max_headers;
    uint64_t max_store;   /* bytes of every log together (507 beyond) */
    /* What they take now: written on the loop thread, read by /metrics. */
    atomic_uint_least64_t store_bytes;
    atomic_size_t subscribers; /* streams following a session, every session */
    char gone[LIVE_GONE_KEPT][STORE_UID_MAX]; /* loop thread */
    size_t gone_next;
    unsigned recheck_s; /* an open stream's access is reviewed again this often */
    /* Bytes of POST bodies being read or waiting for their job, across all
     * connections: past the budget a POST gets 503, so many clients cannot
     * make us hold max_event each. */
    size_t body_budget, body_reserved;
    size_t replay_high; /* replay stops filling a client's output here */
    /* A connection stops reading while its output is over this, so what a
     * client makes us answer waits in its socket, not in our memory. */
    size_t pause_at;
    unsigned timeout_s, head_timeout_s, body_timeout_s;
    struct conn_guard *guard; /* connections in total and per client */
    /* Per client address, what missing and rejected tokens cost (as on
     * REST): once empty, its unknown tokens get 429 before any review, so
     * random tokens cannot each cost one. NULL when rate limits are off. */
    struct ratelimit *bad_tokens;

    struct event_base *base;
    struct evconnlistener *lis;
    struct ssl_ctx_st *ssl; /* api.tls: the streams are TLS too; NULL for none */
    struct event *wake_ev, *tick_ev, *recheck_ev, *deadline_ev;
    int wake[2];
    int lock_fd; /* flock on <live_dir>/.lock: one ambientd per directory */
    pthread_t loop;
    int loop_started;

    pthread_mutex_t mu;
    struct live_pool auth_pool, read_pool;
    struct live_job *done, *done_tail;   /* back to the loop */
    int quit;           /* workers: exit once their queue is empty */
    int stop_requested; /* the loop: begin stopping */

    void *langfuse; /* langfuse.c: the exporter; NULL when api.live.langfuse is off */

    /* feed.c: the session status watch */
    pthread_t feed;
    void *feed_state;          /* NULL when no feed runs */
    atomic_int feed_stop;
    struct live_feed_item *feed_head, *feed_tail; /* under mu */

    struct live_conn *conns;
    size_t n_conns;
    struct live_session *sessions;
    int stopping;
};

/* conn.c: the HTTP/1.1 connection state machine (loop thread) */
/* Takes fd and its admitted slot (given back when the connection ends). */
void live_conn_accept(struct live *l, evutil_socket_t fd, struct conn_guard_slot *slot);
/* Frees a connection now, or marks it closed while a job holds it. */
void live_conn_close(struct live_conn *c);
/* Applies a finished job to its connection; frees the job. */
void live_conn_job_done(struct live *l, struct live_job *j);
/* Begins the shutdown of every connection (live_stop). */
void live_conn_stop_all(struct live *l);
/* Keep-alive pings on streams. */
void live_conn_tick(struct live *l);
/* Re-checks the access of streams whose last check is recheck_s old. */
void live_conn_recheck_due(struct live *l);
/* Ends a stream (WebSocket: close frame code/reason; SSE: the response). */
void live_conn_end_stream(struct live_conn *c, int code, const char *reason);

/* hub.c: sessions, subscribers, replay and fan-out (loop thread) */
/* Subscribes c to its session from seq c->after: history from disk, then
 * live. 0, or an HTTP status. */
int live_hub_subscribe(struct live *l, struct live_conn *c);
void live_hub_unsubscribe(struct live_conn *c);
/* Fills c's output from disk while it replays and has room. */
void live_hub_pump(struct live_conn *c);
/* Stores events (an array of objects, borrowed) as the next seqs of the
 * object uid of kind (NULL when not known: the messages say "object"),
 * marked as source's ("runner", "user", "platform"), and sends them to its
 * live subscribers. 0, or an HTTP status with msg (413 log full, 507 store
 * full, 404 deleted). first and last: the seqs given. */
int live_hub_append(struct live *l, const struct live_kind *kind, const char *project,
                    const char *uid, const char *source, json_t *events, uint64_t *first,
                    uint64_t *last, char *msg, size_t msg_len);
/* A deleted session: its streams end, its log is removed. */
void live_hub_remove(struct live *l, const char *project, const char *uid);
void live_hub_free(struct live *l);

/* sse.c / ws framing of one stored line for a subscriber */
int live_sse_event(struct evbuffer *out, uint64_t seq, const char *line, size_t len);
extern const char live_sse_head[];

/* jobs.c: the worker threads: n for access reviews, LIVE_READ_THREADS for
 * transcript pages */
int live_jobs_start(struct live *l, unsigned n);
/* Queues j for an auth worker (takes it). */
void live_jobs_submit(struct live *l, struct live_job *j);
void live_jobs_join(struct live *l);
void live_job_free(struct live_job *j);
/* Worker side: what j asks (exposed for unit tests of body parsing). */
/* messages.c: the event a user's message m (borrowed) stores, stamped with
 * user: 0 with *out (new ref), or -1 with msg saying what is wrong. */
int live_user_event(const json_t *m, const char *user, json_t **out, char *msg, size_t n);
int live_parse_events(const char *body, size_t len, int ndjson, json_t **out, char *msg,
                      size_t msg_len);
/* messages.c: 0 when a runner may post every event of events (borrowed),
 * else 422 with msg naming the first whose type is reserved for users or
 * the platform. */
int live_runner_events_check(const json_t *events, char *msg, size_t n);

/* feed.c: every logged object's uid, deletion and status changes (the
 * watch of each kind with an event log, kind_watch.h) */
struct kind_watches;
/* Subscribes to the watch of each such kind (watches not started yet).
 * Main thread. */
int live_feed_start(struct live *l, struct kind_watches *watches);
/* From now on what the watches bring is ignored. Main thread. */
void live_feed_stop(struct live *l);
/* Frees what it knows (after the workers are joined). Main thread. */
void live_feed_free(struct live *l);
/* Applies what the feed queued (loop thread); frees it. */
void live_feed_drain(struct live *l);
/* The uid of object project/name of kind as the watch knows it: 1 and uid
 * filled, or 0 when the watch has not seen it (yet). Any thread. */
int live_feed_uid(struct live *l, const struct live_kind *kind, const char *project,
                  const char *name, char uid[STORE_UID_MAX]);

/* langfuse.c: each finished run exported to LangFuse (api.live.langfuse) */
/* Starts its thread when enabled (AMB_OK doing nothing when off). Before
 * the feed. Main thread. */
int live_langfuse_start(struct live *l);
/* Ends and joins it (an export in flight ends within api.live.langfuse.timeout). */
void live_langfuse_stop(struct live *l);
void live_langfuse_free(struct live *l);
/* obj (borrowed) changed status: a run that reached a terminal phase is
 * queued for export, once. Feed threads. */
void live_langfuse_status(struct live *l, const struct live_kind *kind, const json_t *obj);
/* Its counters, into /metrics (zeros when off). Any thread. */
void live_langfuse_metrics(const struct live *l, struct evbuffer *b);

/* live.c: wakes the loop (any thread). */
void live_wake(struct live *l);

#endif
