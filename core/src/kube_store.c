/* kube_store.c — the store interface (store-internal.h) on the Kubernetes
 * API: blocking operations through the pooled client, lists and watches
 * through curl on the event loop. The watch stream is split into lines (one
 * JSON event each) without ever buffering more than one event, and an
 * ERROR event or HTTP 410 becomes AMB_EGONE for the caller to relist. */
#include "kube-store-internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "json_parse-internal.h"

#define DEFAULT_MAX_EVENT (16u * 1024 * 1024)

struct kube_store {
    struct ambd_kube *kube;
    struct ambd_kube_loop *loop;
    size_t max_event_bytes;
};

struct ambd_store_call {
    struct kube_store *store;
    struct ambd_kube_call *kcall;
    int is_watch;
    struct ambd_store_list_handlers lh;
    struct ambd_store_watch_handlers wh;
    void *ud;
    struct ambd_buf buf; /* list body, or the partial watch line */
    int end_rc;          /* set when the stream itself said how it ends */
    char end_why[256];
    struct timespec started;
    int in_data;   /* inside on_data: cancel must not free yet */
    int cancelled;
    /* Lists: the page before this one and the one after (see list_async),
     * and this page's end when it came before the previous page's. */
    struct ambd_store_call *after, *successor;
    int ended;
    long end_status, end_retry_after;
};

static void call_free(struct ambd_store_call *c)
{
    ambd_buf_release(&c->buf);
    free(c);
}

/* ---- blocking ---- */

static int st_get(void *impl, const struct amb_resource *res, const char *ns, const char *name,
                  json_t **out, struct amb_error *err)
{
    return ambd_kube_get(((struct kube_store *)impl)->kube, res, ns, name, out, err);
}

static int st_list(void *impl, const struct amb_resource *res, const char *ns, const char *query,
                   json_t **out, struct amb_error *err)
{
    return ambd_kube_list(((struct kube_store *)impl)->kube, res, ns, query, out, err);
}

static int st_create(void *impl, const struct amb_resource *res, const char *ns,
                     const json_t *obj, json_t **out, struct amb_error *err)
{
    return ambd_kube_create(((struct kube_store *)impl)->kube, res, ns, obj, out, err);
}

static int st_update(void *impl, const struct amb_resource *res, const char *ns,
                     const json_t *obj, const char *subresource, json_t **out,
                     struct amb_error *err)
{
    return ambd_kube_update(((struct kube_store *)impl)->kube, res, ns, obj, subresource, out,
                            err);
}

static int st_patch(void *impl, const struct amb_resource *res, const char *ns, const char *name,
                    const json_t *patch, json_t **out, struct amb_error *err)
{
    return ambd_kube_patch(((struct kube_store *)impl)->kube, res, ns, name, patch, NULL, out,
                           err);
}

static int st_remove(void *impl, const struct amb_resource *res, const char *ns,
                     const char *name, const char *propagation, struct amb_error *err)
{
    return ambd_kube_delete(((struct kube_store *)impl)->kube, res, ns, name, propagation, err);
}

/* ---- asynchronous list ---- */

/* How far into a list answer its metadata (with continue) is looked for:
 * the API server writes it before the items. */
#define CONTINUE_WITHIN (64u * 1024)

static int on_early_member(void *ud, const char *key, const char *text, size_t avail,
                           size_t *used, struct ambd_json_error *err)
{
    json_t **meta = ud;
    if (strcmp(key, "items") == 0)
        return 1; /* the items first: no early token */
    if (strcmp(key, "metadata") != 0)
        return 0;
    *meta = ambd_json_parse_prefix(text, avail, used, err);
    return *meta ? 2 : -1;
}

/* Tells the caller the continue token of a list answer before its items
 * are read, from its metadata near the start (a cheap look: the full walk
 * checks the whole answer after). */
static void tell_continue(struct ambd_store_call *c, const char *text, size_t len)
{
    json_t *meta = NULL;
    struct ambd_json_error err;
    size_t within = len < CONTINUE_WITHIN ? len : CONTINUE_WITHIN;
    if (ambd_json_each_member(text, within, NULL, on_early_member, &meta, &err) == 2) {
        const char *token = json_string_value(json_object_get(meta, "continue"));
        if (token && *token)
            c->lh.on_continue(c->ud, c, token);
    }
    json_decref(meta);
}

static int on_list_data(void *ud, long http_status, const char *data, size_t len)
{
    (void)http_status;
    struct ambd_store_call *c = ud;
    if (c->buf.len + len > AMBD_KUBE_MAX_BODY)
        return -1;
    ambd_buf_append(&c->buf, data, len);
    return c->buf.failed ? -1 : 0;
}

/* A list answer is walked, not parsed whole: each item is parsed on its
 * own and handed over with its text (the cache keeps that text), and the
 * page's tree is never built. */
struct list_walk {
    struct ambd_store_call *c;
    json_t *meta;
    int items; /* seen "items" */
    struct ambd_json_error err;
};

static int on_list_item(void *ud, const char *text, size_t avail, size_t *used,
                        struct ambd_json_error *err)
{
    struct list_walk *w = ud;
    return w->c->lh.on_item(w->c->ud, text, avail, used, err);
}

static int on_list_member(void *ud, const char *key, const char *text, size_t avail,
                          size_t *used, struct ambd_json_error *err)
{
    struct list_walk *w = ud;
    int is_meta = strcmp(key, "metadata") == 0, is_items = strcmp(key, "items") == 0;
    if ((is_meta && w->meta) || (is_items && w->items)) {
        snprintf(err->text, sizeof err->text, "\"%s\" twice", key);
        return 1;
    }
    if (is_meta) {
        w->meta = ambd_json_parse_prefix(text, avail, used, err);
        if (json_is_object(w->meta))
            return 0;
        snprintf(err->text, sizeof err->text, "metadata is not an object");
        return 1;
    }
    if (is_items) {
        w->items = 1;
        return ambd_json_each_element(text, avail, used, on_list_item, w, err);
    }
    return 0;
}

/* c's answer to its handlers; then the next page's, if it ended first. */
static void deliver_page(struct ambd_store_call *c, long status, long retry_after, int rc,
                         const char *error)
{
    const char *text = c->buf.data ? c->buf.data : "";
    size_t len = c->buf.len;
    json_t *page = NULL;
    struct amb_error err = AMBD_ERROR_INIT;
    if (rc != AMB_OK)
        ambd_error_set(&err, rc, NULL, "%s", error && *error ? error : "transfer failed");
    else if ((rc = ambd_kube_status_error(status, text, len, retry_after, &err)) == AMB_OK) {
        struct list_walk w = {.c = c};
        if (c->lh.on_continue)
            tell_continue(c, text, len);
        if (ambd_json_each_member(text, len, NULL, on_list_member, &w, &w.err) != 0 ||
            !w.items)
            rc = ambd_error_set(&err, AMB_EIO, NULL, "list answer is not a list: %s",
                                w.items ? w.err.text : "no items");
        else
            page = json_pack("{s:O}", "metadata", w.meta ? w.meta : json_object());
        json_decref(w.meta);
        if (rc == AMB_OK && !page)
            rc = ambd_error_set(&err, AMB_ENOMEM, NULL, NULL);
    }
    char *why = rc == AMB_OK ? NULL : ambd_error_line(&err);
    if (err.retry_after_s && c->lh.on_retry_after)
        c->lh.on_retry_after(c->ud, err.retry_after_s);
    c->lh.on_page(c->ud, rc, status, rc == AMB_OK ? page : NULL, why ? why : "");
    free(why);
    json_decref(page);
    ambd_error_clear(&err);
    struct ambd_store_call *next = c->successor;
    call_free(c);
    if (next) {
        next->after = NULL;
        if (next->ended)
            deliver_page(next, next->end_status, next->end_retry_after, next->end_rc,
                         next->end_why);
    }
}

static void on_list_done(void *ud, long status, long retry_after, int rc, const char *error)
{
    struct ambd_store_call *c = ud;
    c->kcall = NULL; /* kube_async frees it on return */
    if (!c->after) {
        deliver_page(c, status, retry_after, rc, error);
        return;
    }
    /* The page before is still being read: this one waits for it. */
    c->ended = 1;
    c->end_status = status;
    c->end_retry_after = retry_after;
    c->end_rc = rc;
    snprintf(c->end_why, sizeof c->end_why, "%s", error ? error : "");
}

static struct ambd_store_call *start(struct kube_store *s, struct ambd_store_call *c,
                                     const struct amb_resource *res, const char *verb,
                                     const char *query, long timeout_ms,
                                     const struct ambd_kube_call_handlers *h)
{
    char *path = ambd_kube_path(res, NULL, NULL, NULL);
    struct ambd_kube_request req = {.method = "GET", .path = path, .query = query, .verb = verb};
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    c->kcall = path ? ambd_kube_call_start(s->loop, &req, timeout_ms, h, c) : NULL;
    free(path);
    if (!c->kcall) {
        call_free(c);
        return NULL;
    }
    return c;
}

static struct ambd_store_call *st_list_async(void *impl, const struct amb_resource *res,
                                             const char *query,
                                             const struct ambd_store_list_handlers *h, void *ud,
                                             struct ambd_store_call *after)
{
    static const struct ambd_kube_call_handlers kh = {on_list_data, on_list_done};
    struct ambd_store_call *c = calloc(1, sizeof *c);
    if (!c || (after && after->successor)) {
        free(c);
        return NULL;
    }
    c->store = impl;
    c->lh = *h;
    c->ud = ud;
    if (!(c = start(impl, c, res, "LIST", query, 120000, &kh)))
        return NULL;
    c->after = after;
    if (after)
        after->successor = c;
    return c;
}

/* ---- asynchronous watch ---- */

static void stream_end(struct ambd_store_call *c, int rc, const char *why)
{
    if (c->end_rc != AMB_OK)
        return; /* the first reason wins */
    c->end_rc = rc;
    snprintf(c->end_why, sizeof c->end_why, "%s", why);
}

/* One event line, walked: {"type": ..., "object": {...}}. When the type
 * comes first (as the API server writes it), the object's text goes to the
 * handler as it stands in the line, read once; otherwise, or for an ERROR,
 * it is parsed here and handed over after the walk. */
#define HANDLER_STOPPED 2

struct event_walk {
    struct ambd_store_call *c;
    json_t *type, *obj;
    const char *obj_text;
    size_t obj_len;
    int delivered;
};

static int event_type(const char *type, enum ambd_watch_type *t);

static int on_event_member(void *ud, const char *key, const char *text, size_t avail,
                           size_t *used, struct ambd_json_error *err)
{
    struct event_walk *w = ud;
    json_t **slot = strcmp(key, "type") == 0 ? &w->type : strcmp(key, "object") == 0 ? &w->obj
                                                                                     : NULL;
    if (!slot)
        return 0;
    if (*slot || (slot == &w->obj && w->delivered)) {
        snprintf(err->text, sizeof err->text, "\"%s\" twice in a watch event", key);
        return 1;
    }
    enum ambd_watch_type t;
    if (slot == &w->obj && event_type(json_string_value(w->type), &t) == 0) {
        w->delivered = 1;
        int rc = w->c->wh.on_event(w->c->ud, t, text, avail, used, err);
        return rc > 0 ? HANDLER_STOPPED : rc;
    }
    if (!(*slot = ambd_json_parse_prefix(text, avail, used, err)))
        return -1;
    if (slot == &w->obj) {
        w->obj_text = text;
        w->obj_len = *used;
    }
    return 0;
}

static int event_type(const char *type, enum ambd_watch_type *t)
{
    static const struct {
        const char *name;
        enum ambd_watch_type type;
    } types[] = {{"ADDED", AMBD_WATCH_ADDED},
                 {"MODIFIED", AMBD_WATCH_MODIFIED},
                 {"DELETED", AMBD_WATCH_DELETED},
                 {"BOOKMARK", AMBD_WATCH_BOOKMARK}};
    for (size_t i = 0; type && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(types[i].name, type) == 0) {
            *t = types[i].type;
            return 0;
        }
    }
    return -1;
}

static void end_invalid(struct ambd_store_call *c, const struct ambd_json_error *jerr)
{
    char why[160];
    snprintf(why, sizeof why, "a watch event is not JSON: %s", jerr->text);
    stream_end(c, AMB_EIO, why);
}

/* Returns non-zero to stop the stream. */
static int handle_line(struct ambd_store_call *c, const char *line, size_t len)
{
    struct event_walk w = {.c = c};
    struct ambd_json_error jerr = {0};
    int walked = ambd_json_each_member(line, len, NULL, on_event_member, &w, &jerr);
    const char *type = json_string_value(w.type);
    int stop = 1;
    enum ambd_watch_type t;
    if (walked == HANDLER_STOPPED) {
        /* the handler asked to stop */
    } else if (walked != 0) {
        end_invalid(c, &jerr);
    } else if (w.delivered) {
        stop = 0;
    } else if (!type || !json_is_object(w.obj)) {
        stream_end(c, AMB_EIO, "watch event without type or object");
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(w.obj, "code"));
        const char *msg = json_string_value(json_object_get(w.obj, "message"));
        stream_end(c, code == 410 ? AMB_EGONE : AMB_EIO, msg ? msg : "watch error event");
    } else if (event_type(type, &t) != 0) {
        stream_end(c, AMB_EIO, "unknown watch event type");
    } else {
        size_t used;
        int rc = c->wh.on_event(c->ud, t, w.obj_text, w.obj_len, &used, &jerr);
        if (rc < 0)
            end_invalid(c, &jerr);
        stop = rc != 0;
    }
    json_decref(w.type);
    json_decref(w.obj);
    return stop;
}

static int on_watch_data(void *ud, long http_status, const char *data, size_t len)
{
    struct ambd_store_call *c = ud;
    size_t max = c->store->max_event_bytes ? c->store->max_event_bytes : DEFAULT_MAX_EVENT;
    int stop = 0;
    /* A refusal carries a Status body, not events: keep it for on_done. */
    if (http_status != 200)
        return on_list_data(ud, http_status, data, len);
    c->in_data = 1;
    while (len > 0 && !stop && !c->cancelled) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (c->buf.len + take > max) {
            stream_end(c, AMB_ETOOLARGE, "watch event longer than the limit");
            stop = 1;
            break;
        }
        if (nl && c->buf.len == 0) {
            /* The whole line is in what curl received: read it there. */
            if (take > 0)
                stop = handle_line(c, data, take);
        } else {
            ambd_buf_append(&c->buf, data, take);
            if (nl) {
                stop = handle_line(c, c->buf.data, c->buf.len);
                ambd_buf_release(&c->buf);
            }
        }
        if (nl)
            take++;
        data += take;
        len -= take;
    }
    c->in_data = 0;
    if (c->cancelled) {
        call_free(c);
        return -1; /* kube_async already forgot this call */
    }
    return stop ? -1 : 0;
}

static void on_watch_done(void *ud, long status, long retry_after, int rc, const char *error)
{
    struct ambd_store_call *c = ud;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long lived_ms = (long)(now.tv_sec - c->started.tv_sec) * 1000 +
                    (now.tv_nsec - c->started.tv_nsec) / 1000000;
    if (c->end_rc != AMB_OK) {
        c->wh.on_end(c->ud, c->end_rc, c->end_why, lived_ms);
    } else if (rc != AMB_OK) {
        c->wh.on_end(c->ud, rc, error ? error : "transfer failed", lived_ms);
    } else if (status != 200) {
        struct amb_error err = AMBD_ERROR_INIT;
        int code = ambd_kube_status_error(status, c->buf.data, c->buf.len, retry_after, &err);
        char *why = ambd_error_line(&err);
        if (err.retry_after_s && c->wh.on_retry_after)
            c->wh.on_retry_after(c->ud, err.retry_after_s);
        c->wh.on_end(c->ud, code, why ? why : "watch refused", lived_ms);
        free(why);
        ambd_error_clear(&err);
    } else {
        c->wh.on_end(c->ud, AMB_OK, "", lived_ms);
    }
    call_free(c);
}

static struct ambd_store_call *st_watch_async(void *impl, const struct amb_resource *res,
                                              const char *query, unsigned timeout_s,
                                              const struct ambd_store_watch_handlers *h, void *ud)
{
    static const struct ambd_kube_call_handlers kh = {on_watch_data, on_watch_done};
    struct ambd_store_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->store = impl;
    c->is_watch = 1;
    c->wh = *h;
    c->ud = ud;
    /* The transfer limit is a little past the server's own timeout, so a
     * silently dead connection is noticed. */
    return start(impl, c, res, "WATCH", query, (long)(timeout_s + 30) * 1000, &kh);
}

static void st_cancel(void *impl, struct ambd_store_call *c)
{
    if (!c)
        return;
    st_cancel(impl, c->successor);
    if (c->after)
        c->after->successor = NULL;
    ambd_kube_call_cancel(c->kcall);
    c->cancelled = 1;
    if (!c->in_data)
        call_free(c);
}

static const struct ambd_store_ops kube_store_ops = {
    st_get, st_list, st_create, st_update, st_patch, st_remove,
    st_list_async, st_watch_async, st_cancel,
};

int ambd_kube_store_new(struct ambd_kube *kube, struct ambd_kube_loop *loop,
                        size_t max_event_bytes, struct ambd_store *out)
{
    struct kube_store *s = calloc(1, sizeof *s);
    if (!s)
        return AMB_ENOMEM;
    s->kube = kube;
    s->loop = loop;
    s->max_event_bytes = max_event_bytes;
    out->ops = &kube_store_ops;
    out->impl = s;
    return AMB_OK;
}

void ambd_kube_store_free(struct ambd_store *store)
{
    free(store->impl);
    store->impl = NULL;
}
