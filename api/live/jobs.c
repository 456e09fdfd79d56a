/* jobs.c — the worker threads of the live service. Access reviews,
 * TokenReviews, whoami and the session's lookup are blocking HTTP calls
 * (libcurl through the host), so they run here, never on the loop thread;
 * so does parsing a posted body. Reading a transcript page from disk runs
 * on a pool of its own (read_pool), so many readers never delay anyone's
 * review. A finished job goes back to the loop through the done queue and
 * a byte on the wake pipe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/live_int.h"


void live_job_free(struct live_job *j)
{
    if (!j)
        return;
    if (j->token) {
        explicit_bzero(j->token, strlen(j->token));
        free(j->token);
    }
    free(j->body);
    free(j->page);
    json_decref(j->events);
    free(j);
}

static void fail(struct live_job *j, int status, const char *fmt, const char *a, const char *b)
{
    j->status = status;
    snprintf(j->message, sizeof j->message, fmt, a ? a : "", b ? b : "");
}

/* SelfSubjectAccessReview of verb on this session; 0 when it answered. */
static int review(struct live *l, struct live_job *j, const char *verb, int *allowed,
                  char *reason, size_t reason_len)
{
    struct api_access a = {
        .verb = verb, .group = j->kind->kind->resource.group,
        .resource = j->kind->kind->resource.plural,
        .subresource = NULL, .ns = j->project, .name = j->name,
    };
    struct amb_error *err = api_host->error_new();
    reason[0] = '\0';
    *allowed = 0;
    int rc = api_auth_review(l->auth, j->token, NULL, &a, allowed, reason, reason_len, err);
    api_host->error_free(err);
    if (rc == AMB_EUNAUTHORIZED) {
        fail(j, 401, "invalid or expired token%s%s", NULL, NULL);
        return -1;
    }
    if (rc != AMB_OK) {
        fail(j, 503, "access review failed: %s%s", api_host->strerror(rc), NULL);
        return -1;
    }
    return 0;
}

/* The session's namespace must be a project, as on every
 * /api/projects/:project route (project_gate.c); asked after the caller's
 * own auth, so a 404 tells nothing to one without rights. 0 when it is. */
static int in_a_project(struct live *l, struct live_job *j)
{
    int managed = 0;
    struct amb_error *err = api_host->error_new();
    int rc = err ? api_project_lookup(l->auth, j->project, &managed, err) : AMB_ENOMEM;
    api_host->error_free(err);
    if (rc != AMB_OK)
        fail(j, 503, "cannot tell whether %s is a project: %s", j->project,
             api_host->strerror(rc));
    else if (!managed)
        fail(j, 404, "project \"%s\" not found%s", j->project, NULL);
    return rc == AMB_OK && managed ? 0 : -1;
}

void live_kind_noun(const struct live_kind *k, char *out, size_t len)
{
    const struct amb_resource *res = &k->kind->resource;
    api_noun(res->plural, res->group, 1, out, len);
}

/* "<noun> <name>" for messages. */
static void named(const struct live_job *j, char *out, size_t len)
{
    char n[160];
    live_kind_noun(j->kind, n, sizeof n);
    snprintf(out, len, "%s %s", n, j->name);
}

/* "forbidden: cannot <verb> <plural> <name> in" (fail() adds the project). */
static void cannot(const struct live_job *j, const char *prefix, const char *verb, char *out,
                   size_t len)
{
    snprintf(out, len, "%scannot %s %s %s in", prefix, verb, j->kind->kind->resource.plural,
             j->name);
}

/* The object must exist, and its uid names its log: an object made later
 * under the same name (or in a project made again) never reads this one's.
 * The watch's table first; else a read with the daemon's credentials (an
 * object created a moment ago). Asked after the caller's own auth, like
 * in_a_project. 0 with j->uid set when it exists. */
static int find_object(struct live *l, struct live_job *j)
{
    if (live_feed_uid(l, j->kind, j->project, j->name, j->uid))
        return 0;
    struct amb_error *err = api_host->error_new();
    struct amb_ctx *sa = NULL;
    json_t *obj = NULL;
    int rc = err ? api_host->ctx_new(api_self, NULL, &sa, err) : AMB_ENOMEM;
    if (rc == AMB_OK)
        rc = api_host->kube_get(sa, &j->kind->kind->resource, j->project, j->name, &obj, err);
    api_host->ctx_free(sa);
    api_host->error_free(err);
    const char *uid =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    char what[160], text[420];
    live_kind_noun(j->kind, what, sizeof what);
    named(j, text, sizeof text);
    if (rc == AMB_ENOTFOUND)
        snprintf(text, sizeof text, "%s \"%s\"", what, j->name);
    if (rc == AMB_ENOTFOUND)
        fail(j, 404, "%s not found in %s", text, j->project);
    else if (rc != AMB_OK)
        fail(j, 503, "cannot tell whether %s exists: %s", text, api_host->strerror(rc));
    else if (!store_is_uid(uid))
        fail(j, 500, "%s has no usable uid%s", text, NULL);
    else
        snprintf(j->uid, sizeof j->uid, "%s", uid);
    json_decref(obj);
    return j->status ? -1 : 0;
}

static int whoami(struct live *l, struct live_job *j)
{
    struct amb_error *err = api_host->error_new();
    int rc = api_auth_whoami(l->auth, j->token, NULL, j->user, sizeof j->user, err);
    api_host->error_free(err);
    if (rc == AMB_EUNAUTHORIZED) {
        fail(j, 401, "invalid or expired token%s%s", NULL, NULL);
        return -1;
    }
    if (rc != AMB_OK) {
        fail(j, 503, "identity review failed: %s%s", api_host->strerror(rc), NULL);
        return -1;
    }
    return 0;
}

int live_parse_events(const char *body, size_t len, int ndjson, json_t **out, char *msg,
                      size_t msg_len)
{
    json_t *arr = json_array();
    *out = NULL;
    if (!arr) {
        snprintf(msg, msg_len, "out of memory");
        return 500;
    }
    const char *p = body, *end = body + len;
    size_t lineno = 0;
    while (p < end) {
        const char *nl = ndjson ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        const char *le = nl ? nl : end;
        lineno++;
        const char *s = p, *e = le;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
            e--;
        p = nl ? nl + 1 : end;
        if (s == e)
            continue; /* blank line */
        json_error_t jerr;
        json_t *ev = json_loadb(s, (size_t)(e - s), 0, &jerr);
        if (!ev) {
            snprintf(msg, msg_len, "malformed JSON%s%zu: %s", ndjson ? " on line " : " at column ",
                     ndjson ? lineno : (size_t)jerr.column, jerr.text);
            json_decref(arr);
            return 400;
        }
        if (!json_is_object(ev)) {
            snprintf(msg, msg_len, "an event must be a JSON object%s%zu",
                     ndjson ? " (line " : " (position ", ndjson ? lineno : (size_t)1);
            size_t ml = strlen(msg);
            if (ml + 1 < msg_len) {
                msg[ml] = ')';
                msg[ml + 1] = '\0';
            }
            json_decref(ev);
            json_decref(arr);
            return 400;
        }
        if (json_array_append_new(arr, ev) != 0) {
            json_decref(arr);
            snprintf(msg, msg_len, "out of memory");
            return 500;
        }
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        snprintf(msg, msg_len, "no events in the body");
        return 400;
    }
    *out = arr;
    return 0;
}

static void run_read(struct live *l, struct live_job *j)
{
    int allowed;
    char reason[256];
    if (review(l, j, "get", &allowed, reason, sizeof reason) != 0)
        return;
    if (!allowed) {
        char msg[400];
        cannot(j, "forbidden: ", "get", msg, sizeof msg);
        fail(j, 403, "%s %s", msg, j->project);
        return;
    }
    if (in_a_project(l, j) != 0 || find_object(l, j) != 0)
        return;
    if (j->route == LR_WS) {
        /* whether this client may also post user messages on the socket;
         * a failure here only means it may not: reading was allowed */
        if (review(l, j, "update", &allowed, reason, sizeof reason) == 0 && allowed &&
            whoami(l, j) == 0)
            j->can_post = 1;
        j->status = 0;
        j->message[0] = '\0';
        return;
    }
    j->reading = j->route == LR_GET_MESSAGES; /* the page: on the read pool */
}

/* GET messages, once authorized: one page of the transcript (read pool). */
static void read_page(struct live *l, struct live_job *j)
{
    char path[4096];
    json_t *items = NULL;
    uint64_t next = 0;
    size_t max_bytes = l->max_client_buffer / 2; /* the reply fits the client's bound */
    if (store_path(l->cfg->live_dir, j->project, j->uid, path, sizeof path) != 0 ||
        store_page(path, j->after, j->limit, max_bytes, &items, &next) != AMB_OK) {
        fail(j, 500, "cannot read the event log%s%s", NULL, NULL);
        return;
    }
    json_t *page = json_pack("{s:o, s:o}", "items", items, "next",
                             next ? json_integer((json_int_t)next) : json_null());
    j->page = page ? json_dumps(page, JSON_COMPACT) : NULL;
    json_decref(page);
    if (!j->page)
        fail(j, 500, "out of memory%s%s", NULL, NULL);
}

/* An open stream, again: may it still read (and, on a WebSocket that may
 * post, still post)? j->can_post comes in as what it may do now. */
static void run_recheck(struct live *l, struct live_job *j)
{
    int allowed;
    char reason[256];
    if (review(l, j, "get", &allowed, reason, sizeof reason) != 0)
        return;
    if (!allowed) {
        char msg[400];
        cannot(j, "access revoked: ", "get", msg, sizeof msg);
        fail(j, 403, "%s %s", msg, j->project);
        return;
    }
    if (in_a_project(l, j) != 0)
        return;
    if (j->can_post && review(l, j, "update", &allowed, reason, sizeof reason) == 0)
        j->can_post = allowed;
    j->status = 0; /* a failed update review leaves reading as it was */
    j->message[0] = '\0';
}

static void run_post_message(struct live *l, struct live_job *j)
{
    int allowed;
    char reason[256];
    if (review(l, j, "update", &allowed, reason, sizeof reason) != 0)
        return;
    if (!allowed) {
        char msg[400];
        cannot(j, "forbidden: ", "update", msg, sizeof msg);
        fail(j, 403, "%s %s", msg, j->project);
        return;
    }
    if (in_a_project(l, j) != 0 || whoami(l, j) != 0 || find_object(l, j) != 0 || !j->body)
        return; /* no body: only who may post was asked (conn.c reads it next) */
    json_error_t jerr;
    json_t *b = json_loadb(j->body, j->body_len, 0, &jerr);
    json_t *ev = NULL;
    char why[160];
    int bad = live_user_event(b, j->user, &ev, why, sizeof why);
    json_decref(b);
    if (bad) {
        fail(j, 400, "%s%s", why, NULL);
        return;
    }
    j->events = json_array();
    if (!j->events || json_array_append_new(j->events, ev) != 0)
        fail(j, 500, "out of memory%s%s", NULL, NULL);
}

static void run_post_events(struct live *l, struct live_job *j)
{
    struct amb_error *err = api_host->error_new();
    int rc = api_auth_token_review(l->auth, j->token, NULL, j->user, sizeof j->user, err);
    api_host->error_free(err);
    if (rc == AMB_EUNAUTHORIZED) {
        fail(j, 401, "invalid or expired token%s%s", NULL, NULL);
        return;
    }
    if (rc != AMB_OK) {
        fail(j, 503, "token review failed: %s%s", api_host->strerror(rc), NULL);
        return;
    }
    char want[sizeof j->project + sizeof j->name + 128];
    snprintf(want, sizeof want, "system:serviceaccount:%s:%s%s", j->project,
             j->kind->kind->event_poster_prefix, j->name);
    if (strcmp(want, j->user) != 0) {
        char what[160];
        live_kind_noun(j->kind, what, sizeof what);
        fail(j, 403, "forbidden: only the %s's own service account may post its events%s", what,
             NULL);
        return;
    }
    if (in_a_project(l, j) != 0 || find_object(l, j) != 0 || !j->body)
        return; /* no body: only who may post was asked (conn.c reads it next) */
    int st = live_parse_events(j->body, j->body_len, j->ndjson, &j->events, j->message,
                               sizeof j->message);
    if (!st)
        st = live_runner_events_check(j->events, j->message, sizeof j->message);
    if (st)
        j->status = st;
}

static void run(struct live *l, struct live_job *j)
{
    if (j->reading) {
        read_page(l, j);
        return;
    }
    switch (j->route) {
    case LR_WS:
    case LR_SSE:
    case LR_GET_MESSAGES:
        run_read(l, j);
        break;
    case LR_POST_MESSAGE:
        run_post_message(l, j);
        break;
    case LR_POST_EVENTS:
        run_post_events(l, j);
        break;
    case LR_RECHECK:
        run_recheck(l, j);
        break;
    }
}

/* Appends j to a queue; under l->mu. */
static void push_locked(struct live_job **head, struct live_job **tail, struct live_job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void *worker(void *arg)
{
    struct live_pool *p = arg;
    struct live *l = p->l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!p->queue && !l->quit)
            pthread_cond_wait(&p->cv, &l->mu);
        struct live_job *j = p->queue;
        if (!j)
            break; /* quit, and nothing left to do */
        p->queue = j->next;
        if (!p->queue)
            p->queue_tail = NULL;
        j->next = NULL;
        pthread_mutex_unlock(&l->mu);

        int was_reading = j->reading;
        run(l, j);
        /* the token is not needed past here */
        if (j->token) {
            explicit_bzero(j->token, strlen(j->token));
            free(j->token);
            j->token = NULL;
        }
        pthread_mutex_lock(&l->mu);
        if (j->reading && !was_reading && !j->status) {
            push_locked(&l->read_pool.queue, &l->read_pool.queue_tail, j);
            pthread_cond_signal(&l->read_pool.cv);
            continue;
        }
        push_locked(&l->done, &l->done_tail, j);
        pthread_mutex_unlock(&l->mu);
        live_wake(l);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int pool_start(struct live *l, struct live_pool *p, unsigned n)
{
    p->l = l;
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc(n, sizeof *p->threads);
    if (!p->threads)
        return AMB_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            return AMB_EINTERNAL;
        p->n++;
    }
    return AMB_OK;
}

int live_jobs_start(struct live *l, unsigned n)
{
    int rc = pool_start(l, &l->auth_pool, n ? n : 2);
    if (rc == AMB_OK)
        rc = pool_start(l, &l->read_pool, LIVE_READ_THREADS);
    if (rc != AMB_OK)
        live_jobs_join(l);
    return rc;
}

void live_jobs_submit(struct live *l, struct live_job *j)
{
    pthread_mutex_lock(&l->mu);
    push_locked(&l->auth_pool.queue, &l->auth_pool.queue_tail, j);
    pthread_cond_signal(&l->auth_pool.cv);
    pthread_mutex_unlock(&l->mu);
}

void live_jobs_join(struct live *l)
{
    struct live_pool *pools[2] = {&l->auth_pool, &l->read_pool};
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    for (int i = 0; i < 2; i++)
        if (pools[i]->l)
            pthread_cond_broadcast(&pools[i]->cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < 2; i++) {
        struct live_pool *p = pools[i];
        for (unsigned k = 0; k < p->n; k++)
            pthread_join(p->threads[k], NULL);
        p->n = 0;
        free(p->threads);
        p->threads = NULL;
        if (p->l)
            pthread_cond_destroy(&p->cv);
        p->l = NULL;
    }
}
