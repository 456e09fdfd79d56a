/* reply.c — what handlers use to read a request and answer it: params,
 * query, headers, the JSON body; JSON replies and errors ({"error",
 * "details"}); AMB_E* to HTTP status, with Kubernetes' Retry-After passed on;
 * the caller's host ctx and access checks.
 *
 * Status of AMB_EINVAL: 400 for malformed input, 422 when the error's causes
 * name fields (what a kind's validate reports), as Kubernetes does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>

#include "serving.h"

const char *api_param(const struct api_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_params; i++)
        if (strcmp(r->param_names[i], name) == 0)
            return r->param_values[i];
    return NULL;
}

const char *api_query(const struct api_req *r, const char *name)
{
    return evhttp_find_header(&r->query, name);
}

const char *api_header(const struct api_req *r, const char *name)
{
    if (!r->ev)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

/* The Date header (RFC 9110's IMF-fixdate), made once a second per
 * thread: evhttp would format it with snprintf for every reply. */
static const char *http_date(void)
{
    static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static _Thread_local time_t second = -1;
    static _Thread_local char text[64]; /* 29 used; room for any int the compiler sees */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (now.tv_sec != second) {
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        second = now.tv_sec;
    }
    return text;
}

void api_reply_raw(struct api_req *r, int status, const char *content_type, const char *body,
                   size_t len)
{
    if (r->replied)
        return;
    r->replied = 1;
    r->status = status;
    if (!r->ev)
        return;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Date", http_date());
    api_server_decorate(r);
    /* Into the request's own output buffer, where evhttp_send_reply would
     * move a buffer of ours: no buffer made and freed per reply. */
    if (body && len)
        evbuffer_add(evhttp_request_get_output_buffer(r->ev), body, len);
    api_server_send(r, status, NULL);
}

void api_add_retry_after(struct api_req *r, unsigned seconds)
{
    if (!r->ev || r->replied)
        return;
    char after[16];
    snprintf(after, sizeof after, "%u", seconds);
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", after);
}

void api_reply_json(struct api_req *r, int status, json_t *body)
{
    if (r->replied) {
        json_decref(body);
        return;
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (body && !text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        api_reply_raw(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    api_reply_raw(r, status, "application/json", text ? text : "{}", text ? strlen(text) : 2);
    free(text);
}

void api_reply_error(struct api_req *r, int status, const char *message, json_t *details)
{
    json_t *body = json_object();
    if (body) {
        json_object_set_new(body, "error", json_string(message ? message : ""));
        if (details)
            json_object_set(body, "details", details);
    }
    json_decref(details);
    api_reply_json(r, status, body);
}

void api_reply_fields(struct api_req *r, int status, const char *prefix, json_t *details)
{
    char msg[1024];
    size_t used = (size_t)snprintf(msg, sizeof msg, "%s", prefix ? prefix : "");
    size_t i;
    const json_t *d;
    json_array_foreach(details, i, d) {
        if (used >= sizeof msg - 1)
            break;
        const char *f = json_string_value(json_object_get(d, "field"));
        const char *m = json_string_value(json_object_get(d, "message"));
        int w = snprintf(msg + used, sizeof msg - used, "%s%s%s%s", i ? "; " : "", f ? f : "",
                         f && m ? ": " : "", m ? m : "");
        used += w > 0 ? (size_t)w : 0;
    }
    api_reply_error(r, status, msg, details);
}

void api_reword(json_t *details, void (*words)(const char *text, char *out, size_t len))
{
    static const char *const keys[] = {"field", "message"};
    size_t i;
    json_t *d;
    json_array_foreach(details, i, d) {
        for (int k = 0; k < 2; k++) {
            const char *v = json_string_value(json_object_get(d, keys[k]));
            char out[1024];
            if (!v)
                continue;
            words(v, out, sizeof out);
            json_object_set_new(d, keys[k], json_string(out));
        }
    }
}

void api_reply_field(struct api_req *r, int status, const char *field, const char *message)
{
    api_reply_fields(r, status, NULL,
                     json_pack("[{s:s,s:s}]", "field", field, "message", message));
}

int api_read_object(struct api_req *r, struct amb_ctx *ctx, const struct amb_resource *res,
                    const char *ns, const char *name, int missing_ok, json_t **out)
{
    *out = NULL;
    struct amb_error *err = api_host->error_new();
    int rc = err ? api_host->kube_get(ctx, res, ns, name, out, err) : AMB_ENOMEM;
    if (rc == AMB_ENOTFOUND && missing_ok)
        rc = AMB_OK;
    else if (rc != AMB_OK)
        api_reply_amb(r, rc, err);
    api_host->error_free(err);
    return rc == AMB_OK ? 0 : -1;
}

int api_http_status(int amb_code)
{
    switch (amb_code) {
    case AMB_OK: return 200;
    case AMB_EINVAL: return 400;
    case AMB_ENOTFOUND: return 404;
    case AMB_EEXIST:
    case AMB_ECONFLICT:
    case AMB_ESTATE: return 409; /* "not allowed now", e.g. starting what already runs */
    case AMB_EGONE: return 410;
    case AMB_EUNAUTHORIZED: return 401;
    case AMB_EFORBIDDEN: return 403;
    case AMB_ETIMEDOUT: return 504;
    case AMB_EUNAVAILABLE: return 503;
    case AMB_EUNSUPPORTED: return 501;
    case AMB_ETOOLARGE: return 413;
    default: return 500;
    }
}

/* [{"field"?, "message"}] from err's causes; *named set if any has a field. */
static json_t *causes_of(json_t *ej, int *named)
{
    json_t *causes = json_object_get(ej, "causes");
    json_t *out = json_array();
    size_t i;
    json_t *c;
    *named = 0;
    if (!out || !json_is_array(causes))
        return out;
    json_array_foreach(causes, i, c) {
        json_t *f = json_object_get(c, "field");
        json_t *m = json_object_get(c, "message");
        json_t *o = json_object();
        if (!o)
            break;
        if (json_is_string(f)) {
            json_object_set(o, "field", f);
            *named = 1;
        }
        json_object_set_new(o, "message", json_string(json_is_string(m) ? json_string_value(m)
                                                                         : ""));
        json_array_append_new(out, o);
    }
    return out;
}

void api_reply_amb(struct api_req *r, int code, const struct amb_error *err)
{
    int status = api_http_status(code);
    if (status < 400)
        status = 500; /* a failure reported with AMB_OK is a bug */
    json_t *ej = err && AMB_HAS(api_host, error_to_json) ? api_host->error_to_json(err) : NULL;
    const char *msg = json_string_value(json_object_get(ej, "message"));
    int named = 0;
    json_t *details = ej ? causes_of(ej, &named) : NULL;
    if (code == AMB_EINVAL && named)
        status = 422;
    if (details && json_array_size(details) == 0) {
        json_decref(details);
        details = NULL;
    }
    if (status >= 500 && status != 503 && status != 504 && status != 501)
        api_host->log(api_self, AMB_LOG_ERROR, "request failed", "path", r->path ? r->path : "-",
                      "error", msg ? msg : api_host->strerror(code), NULL);
    /* Kubernetes throttled the call (API Priority and Fairness, or an
     * overloaded server): the caller, not this thread, waits and retries;
     * its message keeps Kubernetes' own words in details. */
    json_int_t wait = json_integer_value(json_object_get(ej, "retryAfterSeconds"));
    char words[1024];
    if (wait > 0 && status >= 500) {
        snprintf(words, sizeof words, "Kubernetes is busy: retry after %lld s", (long long)wait);
        api_add_retry_after(r, (unsigned)wait);
    } else {
        api_words(msg && *msg ? msg : api_host->strerror(code), words, sizeof words);
    }
    api_reword(details, api_words);
    api_reply_error(r, status, words, details);
    json_decref(ej);
}

/* 1 if the Content-Type's media type is want (parameters ignored). */
static int media_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* Why a body cannot be used: the HTTP status, the message, and the
 * AMB_E* code that says the same to a plugin's route handler. */
struct body_problem {
    int status;
    int code;
    char msg[300];
    int line, column; /* of malformed JSON; 0 otherwise */
};

/* The body's bytes, contiguous (borrowed from the request). */
static int body_bytes(struct api_req *r, const char **data, size_t *len, struct body_problem *p)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    *len = evbuffer_get_length(in);
    const struct api_config *cfg = r->api ? &r->api->cfg : NULL;
    if (cfg && *len > cfg->max_body) {
        p->status = 413;
        p->code = AMB_ETOOLARGE;
        snprintf(p->msg, sizeof p->msg, "request body too large");
        return -1;
    }
    *data = *len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (!*data) {
        p->status = 500;
        p->code = AMB_ENOMEM;
        snprintf(p->msg, sizeof p->msg, "out of memory");
        return -1;
    }
    return 0;
}

static int body_parse(struct api_req *r, int merge_patch, json_t **out, struct body_problem *p)
{
    *out = NULL;
    memset(p, 0, sizeof *p);
    p->status = 400;
    p->code = AMB_EINVAL;
    const char *ct = r->ev ? api_header(r, "Content-Type") : NULL;
    if (!r->ev) {
        snprintf(p->msg, sizeof p->msg, "no request body");
        return -1;
    }
    if (!ct || !(media_type_is(ct, "application/json") ||
                 (merge_patch && media_type_is(ct, "application/merge-patch+json")))) {
        p->status = 415;
        snprintf(p->msg, sizeof p->msg, "%s",
                 merge_patch ? "Content-Type must be application/json or "
                               "application/merge-patch+json"
                             : "Content-Type must be application/json");
        return -1;
    }
    const char *data;
    size_t len;
    if (body_bytes(r, &data, &len, p) != 0)
        return -1;
    json_error_t jerr;
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        snprintf(p->msg, sizeof p->msg, "malformed JSON at line %d, column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        p->line = jerr.line;
        p->column = jerr.column;
        return -1;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(p->msg, sizeof p->msg, "the body must be a JSON object");
        return -1;
    }
    *out = v;
    return 0;
}

int api_body_object(struct api_req *r, int merge_patch, json_t **out)
{
    struct body_problem p;
    if (body_parse(r, merge_patch, out, &p) == 0)
        return 0;
    api_reply_error(r, p.status, p.msg,
                    p.line ? json_pack("{s:i,s:i}", "line", p.line, "column", p.column) : NULL);
    return -1;
}

int api_body_json(struct api_req *r, json_t **out, struct amb_error *err)
{
    struct body_problem p;
    if (body_parse(r, 0, out, &p) == 0)
        return AMB_OK;
    return api_host->error_set(err, p.code, NULL, "%s", p.msg);
}

int api_body_raw(struct api_req *r, const char **data, size_t *len, struct amb_error *err)
{
    struct body_problem p = {0};
    *data = "";
    *len = 0;
    if (!r->ev || body_bytes(r, data, len, &p) == 0)
        return AMB_OK;
    return api_host->error_set(err, p.code, NULL, "%s", p.msg);
}

struct amb_ctx *api_ctx(struct api_req *r)
{
    if (r->ctx)
        return r->ctx;
    if (!r->token) {
        api_reply_error(r, 401, "a bearer token is required", NULL);
        return NULL;
    }
    if (api_gate_enter(r) != 0)
        return NULL;
    if (!AMB_HAS(api_host, ctx_new) || !AMB_HAS(api_host, error_new)) {
        api_reply_error(r, 503, "this ambientd cannot call Kubernetes for callers", NULL);
        return NULL;
    }
    struct amb_error *err = api_host->error_new();
    if (!err) {
        api_reply_error(r, 500, "out of memory", NULL);
        return NULL;
    }
    int rc = api_host->ctx_new(api_self, r->token, &r->ctx, err);
    if (rc != AMB_OK) {
        r->ctx = NULL;
        api_reply_amb(r, rc, err);
    }
    api_host->error_free(err);
    return r->ctx;
}

/* "projects.vteam.ambient-code/status" */
static void resource_name(const struct api_access *w, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s%s%s", w->resource ? w->resource : "",
             w->group && *w->group ? "." : "", w->group ? w->group : "",
             w->subresource ? "/" : "", w->subresource ? w->subresource : "");
}

/* "alice cannot delete session \"x\" in project \"p\": reason", in the
 * words Kubernetes' own 403 gets (wording.c); the details name the API's. */
static void reply_forbidden(struct api_req *r, const struct api_access *w, const char *reason)
{
    char noun[256], named[320] = "", msg[1024];
    if (w->subresource)
        resource_name(w, noun, sizeof noun);
    else
        api_noun(w->resource ? w->resource : "", w->group ? w->group : "", w->name != NULL, noun,
                 sizeof noun);
    if (w->name)
        snprintf(named, sizeof named, " \"%s\"", w->name);
    const char *who = r->user[0] && strcmp(r->user, "-") != 0 ? r->user : "caller";
    if (w->ns && *w->ns)
        snprintf(msg, sizeof msg, "%s cannot %s %s%s in project \"%s\"%s%s", who, w->verb, noun,
                 named, w->ns, *reason ? ": " : "", reason);
    else
        snprintf(msg, sizeof msg, "%s cannot %s %s%s at cluster scope%s%s", who, w->verb, noun,
                 named, *reason ? ": " : "", reason);
    json_t *d = json_pack("{s:s,s:s,s:s,s:s}", "verb", w->verb, "group", w->group ? w->group : "",
                          "resource", w->resource ? w->resource : "", "namespace",
                          w->ns ? w->ns : "");
    if (d && w->name)
        json_object_set_new(d, "name", json_string(w->name));
    api_reply_error(r, 403, msg, d);
}

int api_require(struct api_req *r, const struct api_access *what)
{
    if (!r->token) {
        api_reply_error(r, 401, "a bearer token is required", NULL);
        return -1;
    }
    struct api_auth *a = r->api ? r->api->auth : NULL;
    struct amb_error *err = AMB_HAS(api_host, error_new) ? api_host->error_new() : NULL;
    if (!a || !err) {
        if (err)
            api_host->error_free(err);
        api_reply_error(r, 503, "access reviews are not available", NULL);
        return -1;
    }
    int allowed = 0;
    char reason[512] = "";
    int rc = (r->identified ? api_auth_review_identified : api_auth_review)(
        a, r->token, r->token_hash, what, &allowed, reason, sizeof reason, err);
    if (rc == AMB_OK && (!r->user[0] || strcmp(r->user, "-") == 0)) {
        char user[sizeof r->user];
        struct amb_error *e2 = api_host->error_new();
        if (e2 && api_auth_whoami(a, r->token, r->token_hash, user, sizeof user, e2) == AMB_OK) {
            snprintf(r->user, sizeof r->user, "%s", user);
            r->identified = 1;
        }
        if (e2)
            api_host->error_free(e2);
    }
    if (rc == AMB_EUNAUTHORIZED)
        api_reply_error(r, 401, "the token was rejected (invalid or expired)", NULL);
    else if (rc != AMB_OK)
        api_reply_amb(r, rc, err);
    else if (!allowed)
        reply_forbidden(r, what, reason);
    api_host->error_free(err);
    if (rc == AMB_OK && allowed && api_gate_reviewed(r, what->ns) != 0)
        return -1;
    return rc == AMB_OK && allowed ? 0 : -1;
}
