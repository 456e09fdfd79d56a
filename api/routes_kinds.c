/* routes_kinds.c — generic REST for every registered namespaced kind:
 *
 *   GET    /api/projects/:project/<segment>         list (limit, continue)
 *   POST   /api/projects/:project/<segment>         create
 *   GET    /api/projects/:project/<segment>/:name   read
 *   PUT    /api/projects/:project/<segment>/:name   replace (needs resourceVersion)
 *   PATCH  /api/projects/:project/<segment>/:name   JSON merge patch (RFC 7386)
 *   DELETE /api/projects/:project/<segment>/:name   delete
 *
 * <segment> is the kind's rest_plural, else its plural. Every Kubernetes call
 * is made as the caller (api_ctx), so Kubernetes RBAC decides; each route
 * also asks a SelfSubjectAccessReview first (its verb), to answer 401/403
 * itself and then 404 for a namespace that is not a project
 * (project_gate.c), whoever asks, so the 404 tells nothing. Writes
 * run the kind's set_defaults then validate (as admission would), and a
 * validation failure is 422 with one detail per bad field.
 *
 * The status subresource is never written here: a `status` in a body is
 * dropped (the reconciler and the runner own it, through /status).
 *
 * Path parameters are checked (project a DNS label, name a DNS subdomain)
 * before any call, so nothing like ".." or "a/b" ever reaches a URL.
 *
 * GET and LIST are answered from the read cache (read_cache.h) when it can,
 * after the same access review; every write tells it what it stored. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "read_cache.h"

#define MAX_KINDS 64
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 500

/* Borrowed from the host (its copies live until the plugin is unloaded). */
struct kind_entry {
    const struct amb_kind *kind;
    void *ud;
    const char *segment;
};

/* The served kinds (api->kinds): written by api_routes_kinds on the main
 * thread before serving, read-only after. Each generic route carries its
 * entry as route data. */
struct api_kinds {
    struct kind_entry e[MAX_KINDS];
    size_t n;
};

static const char *segment_of(const struct amb_kind *k)
{
    return k->rest_plural && *k->rest_plural ? k->rest_plural : k->resource.plural;
}

/* ---- replies ---- */

/* 400 {"error": "<field>: <message>", "details": [{"field", "message"}]} */
static void bad_request(struct api_req *r, const char *field, const char *fmt, ...)
    AMB_PRINTF(3, 4);
static void bad_request(struct api_req *r, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_reply_field(r, 400, field, msg);
}

static struct amb_error *new_error(struct api_req *r)
{
    struct amb_error *err = api_host->error_new();
    if (!err)
        api_reply_error(r, 500, "out of memory", NULL);
    return err;
}

/* The causes that name a field (what validate reports per its contract);
 * all of them when none does. Causes without a field can be left behind by
 * calls a callback made and then judged harmless (a kube_get answering 404
 * for an absent ProjectSettings), and are not violations. */
static json_t *violations(const json_t *causes)
{
    json_t *named = json_array();
    size_t i;
    const json_t *c;
    json_array_foreach(causes, i, c) {
        if (json_is_string(json_object_get(c, "field")))
            json_array_append(named, (json_t *)c);
    }
    if (named && json_array_size(named) == 0 && json_is_array(causes)) {
        json_decref(named);
        return json_deep_copy(causes);
    }
    return named;
}

/* 422 like Kubernetes: `Kind "name" is invalid: field: message; ...`,
 * details the violations. A short shape's (shape->words) speaks the
 * caller's words and leaves out the name made for it. */
static void reply_invalid(struct api_req *r, const struct amb_kind *k, const json_t *obj,
                          const struct amb_error *err, const struct amb_create_shape *shape)
{
    json_t *e = api_host->error_to_json(err);
    json_t *details = violations(json_object_get(e, "causes"));
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (!name)
        name = json_string_value(json_object_get(meta, "generateName"));
    char prefix[384] = "";
    if (shape && shape->words)
        api_reword(details, shape->words);
    else
        snprintf(prefix, sizeof prefix, "%s \"%s\" is invalid: ", k->resource.kind,
                 name ? name : "");
    if (json_array_size(details) == 0) {
        const char *msg = json_string_value(json_object_get(e, "message"));
        json_decref(details);
        details = json_pack("[{s:s}]", "message", msg ? msg : "invalid");
    }
    api_reply_fields(r, 422, prefix, details);
    json_decref(e);
}

/* ---- request parts ---- */

/* The kind of the matched route (its route data). */
static const struct kind_entry *route_kind(struct api_req *r)
{
    if (!r->route_data)
        api_reply_error(r, 404, "no such resource", NULL);
    return r->route_data;
}

/* The checked path parameters; replies 400 naming the bad one. */
static int path_params(struct api_req *r, int with_name, const char **project, const char **name)
{
    if (!(*project = api_project_param(r)))
        return -1;
    return with_name && !(*name = api_name_param(r)) ? -1 : 0;
}

static int require(struct api_req *r, const struct amb_kind *k, const char *verb, const char *ns,
                   const char *name)
{
    struct api_access what = {
        .verb = verb,
        .group = k->resource.group,
        .resource = k->resource.plural,
        .subresource = NULL,
        .ns = ns,
        .name = name,
    };
    return api_require(r, &what);
}

static void version_of(const struct amb_resource *res, char *buf, size_t len)
{
    if (*res->group)
        snprintf(buf, len, "%s/%s", res->group, res->version);
    else
        snprintf(buf, len, "%s", res->version);
}

/* A string member key of obj must be absent or equal want (400 if not). */
static int expect_string(struct api_req *r, const json_t *obj, const char *key, const char *field,
                         const char *want)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || (json_is_string(v) && strcmp(json_string_value(v), want) == 0))
        return 0;
    bad_request(r, field, "must be \"%s\"", want);
    return -1;
}

/* Fills apiVersion, kind and metadata.namespace (a different value given is
 * a 400) and drops status. */
static int set_identity(struct api_req *r, const struct amb_kind *k, json_t *obj, const char *ns)
{
    char av[256];
    version_of(&k->resource, av, sizeof av);
    if (expect_string(r, obj, "apiVersion", "apiVersion", av) ||
        expect_string(r, obj, "kind", "kind", k->resource.kind))
        return -1;
    json_t *meta = json_object_get(obj, "metadata");
    if (meta && !json_is_object(meta)) {
        bad_request(r, "metadata", "must be an object");
        return -1;
    }
    if (!meta) {
        meta = json_object();
        if (!meta || json_object_set_new(obj, "metadata", meta)) {
            api_reply_error(r, 500, "out of memory", NULL);
            return -1;
        }
    }
    if (expect_string(r, meta, "namespace", "metadata.namespace", ns))
        return -1;
    if (json_object_set_new(obj, "apiVersion", json_string(av)) ||
        json_object_set_new(obj, "kind", json_string(k->resource.kind)) ||
        json_object_set_new(meta, "namespace", json_string(ns))) {
        api_reply_error(r, 500, "out of memory", NULL);
        return -1;
    }
    json_object_del(obj, "status");
    return 0;
}

/* Records who creates obj, as the API authenticated them: whatever the
 * body says is replaced. Returns 0, or -1 after replying. */
static int stamp_creator(struct api_req *r, json_t *obj)
{
    if (!r->user[0] || strcmp(r->user, "-") == 0)
        return 0; /* unknown: the handler's own call reports why */
    json_t *meta = json_object_get(obj, "metadata");
    json_t *ann = json_object_get(meta, "annotations");
    if (ann && !json_is_object(ann)) {
        bad_request(r, "metadata.annotations", "must be an object");
        return -1;
    }
    if (!ann && json_object_set_new(meta, "annotations", ann = json_object())) {
        api_reply_error(r, 500, "out of memory", NULL);
        return -1;
    }
    if (json_object_set_new(ann, AMB_CREATED_BY_ANNOTATION, json_string(r->user))) {
        api_reply_error(r, 500, "out of memory", NULL);
        return -1;
    }
    return 0;
}

/* A create needs metadata.name (a DNS subdomain) or metadata.generateName. */
static int check_create_name(struct api_req *r, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const json_t *name = json_object_get(meta, "name");
    if (name) {
        if (amb_is_dns_subdomain(json_string_value(name)))
            return 0;
        bad_request(r, "metadata.name", "must be a DNS-1123 subdomain ([a-z0-9.-], at most "
                                        "253 characters, alphanumeric at both ends)");
        return -1;
    }
    const char *gen = json_string_value(json_object_get(meta, "generateName"));
    char probe[256];
    if (gen && strlen(gen) < 200) {
        snprintf(probe, sizeof probe, "%sx", gen);
        if (amb_is_dns_subdomain(probe))
            return 0;
        bad_request(r, "metadata.generateName", "must be the start of a DNS-1123 subdomain");
        return -1;
    }
    bad_request(r, "metadata.name", "is required (or metadata.generateName)");
    return -1;
}

/* One kind callback with an error of its own; replies on failure. */
static int run_callback(struct api_req *r, const struct kind_entry *e, struct amb_ctx *ctx,
                        json_t *obj, const json_t *old, const struct amb_create_shape *shape,
                        int validate)
{
    struct amb_error *err = new_error(r);
    if (!err)
        return -1;
    int rc = validate ? e->kind->validate(e->ud, ctx, obj, old, err)
                      : e->kind->set_defaults(e->ud, ctx, obj, err);
    if (rc == AMB_EINVAL)
        reply_invalid(r, e->kind, obj, err, shape);
    else if (rc != AMB_OK)
        api_reply_amb(r, rc, err);
    api_host->error_free(err);
    return rc == AMB_OK ? 0 : -1;
}

/* set_defaults then validate, as admission would (on every write, so a field
 * a PUT or patch clears gets its default again); replies on failure, in
 * shape's words (NULL: the object's). */
static int admit(struct api_req *r, const struct kind_entry *e, struct amb_ctx *ctx, json_t *obj,
                 const json_t *old, const struct amb_create_shape *shape)
{
    if (e->kind->set_defaults && run_callback(r, e, ctx, obj, old, shape, 0))
        return -1;
    if (e->kind->validate && run_callback(r, e, ctx, obj, old, shape, 1))
        return -1;
    return 0;
}

/* kube_update as the caller; replies 200 with the stored object or the error. */
static void update_and_reply(struct api_req *r, struct amb_ctx *ctx, const struct amb_kind *k,
                             const char *ns, const json_t *obj)
{
    struct amb_error *err = new_error(r);
    if (!err)
        return;
    json_t *stored = NULL;
    int rc = api_host->kube_update(ctx, &k->resource, ns, obj, &stored, err);
    if (rc == AMB_OK) {
        read_cache_saw(r->api->read_cache, k, stored);
        api_reply_json(r, 200, stored);
    } else {
        api_reply_amb(r, rc, err);
    }
    api_host->error_free(err);
}

/* ---- shared create ---- */

static int kind_create(struct api_req *r, const struct kind_entry *e, const char *ns, json_t *obj,
                       const struct amb_create_shape *shape, json_t **stored)
{
    const struct amb_kind *kind = e->kind;
    *stored = NULL;
    if (set_identity(r, kind, obj, ns) || check_create_name(r, obj) ||
        stamp_creator(r, obj) || require(r, kind, "create", ns, NULL))
        return -1;
    struct amb_ctx *ctx = api_ctx(r);
    if (!ctx || admit(r, e, ctx, obj, NULL, shape))
        return -1;
    struct amb_error *err = new_error(r);
    if (!err)
        return -1;
    int rc = api_host->kube_create(ctx, &kind->resource, ns, obj, stored, err);
    if (rc == AMB_OK)
        read_cache_saw(r->api->read_cache, kind, *stored);
    else
        api_reply_amb(r, rc, err);
    api_host->error_free(err);
    return rc == AMB_OK ? 0 : -1;
}

int api_kind_create(struct api_req *r, const struct amb_resource *res, const char *ns,
                    json_t *obj, json_t **stored)
{
    const struct api_kinds *kinds = r->api ? r->api->kinds : NULL;
    for (size_t i = 0; kinds && i < kinds->n; i++) {
        const struct amb_resource *k = &kinds->e[i].kind->resource;
        if (strcmp(k->group, res->group) == 0 && strcmp(k->plural, res->plural) == 0)
            return kind_create(r, &kinds->e[i], ns, obj, NULL, stored);
    }
    *stored = NULL;
    api_reply_error(r, 404, "no such resource", NULL);
    return -1;
}

/* The kind's own reading of body (amb_kind.create_shape, ABI 1.5): 1 with
 * *obj and *shape, 0 for a whole object, -1 after it answered. */
static int own_shape(struct api_req *r, const struct kind_entry *e, const json_t *body,
                     json_t **obj, const struct amb_create_shape **shape)
{
    const struct amb_kind *k = e->kind;
    if (!k->create_shape) /* the host's copy: zero for a kind older than 1.5 */
        return 0;
    struct amb_request q = {r};
    int rc = k->create_shape(e->ud, &q, body, obj, shape);
    if (rc < 0 && !r->replied)
        api_reply_error(r, api_http_status(rc), api_host->strerror(rc), NULL);
    if (rc < 0 || rc == 0) {
        json_decref(*obj);
        *obj = NULL;
        *shape = NULL;
    }
    /* Its members as far as its size reaches (both are 1.5's). */
    if (*shape && (*shape)->size < sizeof(struct amb_create_shape))
        *shape = NULL;
    return rc < 0 ? -1 : rc > 0;
}

/* ---- handlers ---- */

static void handle_create(struct api_req *r)
{
    const char *project = NULL, *name = NULL;
    if (path_params(r, 0, &project, &name))
        return;
    const struct kind_entry *e = route_kind(r);
    json_t *body = NULL, *obj = NULL, *stored = NULL;
    if (!e || api_body_object(r, 0, &body))
        return;
    const struct amb_create_shape *shape = NULL;
    int translated = own_shape(r, e, body, &obj, &shape);
    if (translated < 0)
        goto done;
    if (!translated)
        obj = json_incref(body);
    if (kind_create(r, e, project, obj, shape, &stored))
        goto done;
    json_t *reply = shape && shape->created ? shape->created(stored) : NULL;
    api_reply_json(r, 201, reply ? reply : json_incref(stored));
done:
    json_decref(stored);
    json_decref(obj);
    json_decref(body);
}

static void handle_get(struct api_req *r)
{
    const char *project, *name;
    if (path_params(r, 1, &project, &name))
        return;
    const struct kind_entry *e = route_kind(r);
    if (!e || require(r, e->kind, "get", project, name) ||
        read_cache_reply_get(r, e->kind, project, name))
        return;
    struct amb_ctx *ctx = api_ctx(r);
    json_t *obj = NULL;
    if (ctx && api_read_object(r, ctx, &e->kind->resource, project, name, 0, &obj) == 0) {
        /* The cache answers no older than this from now on. */
        read_cache_saw(r->api->read_cache, e->kind, obj);
        api_reply_json(r, 200, obj);
    }
}

/* The effective limit of the request's query; replies 400 on a bad one. */
static int list_limit(struct api_req *r, long *limit)
{
    const char *l = api_query(r, "limit");
    *limit = LIST_LIMIT_DEFAULT;
    if (l && *l) {
        char *end = NULL;
        long v = strtol(l, &end, 10);
        if (*end || v < 1) {
            bad_request(r, "limit", "must be a positive integer (at most %d)", LIST_LIMIT_MAX);
            return -1;
        }
        *limit = v > LIST_LIMIT_MAX ? LIST_LIMIT_MAX : v;
    }
    return 0;
}

/* "limit=N[&continue=...][&labelSelector=...]" from the request's query. */
static char *list_query(struct api_req *r, long limit)
{
    const char *keys[] = {"continue", "labelSelector"};
    char *escaped[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        const char *v = api_query(r, keys[i]);
        if (v && *v)
            escaped[i] = evhttp_uriencode(v, -1, 0);
    }
    size_t n = 32 + (escaped[0] ? strlen(escaped[0]) + 10 : 0) +
               (escaped[1] ? strlen(escaped[1]) + 15 : 0);
    char *q = malloc(n);
    if (q)
        snprintf(q, n, "limit=%ld%s%s%s%s", limit, escaped[0] ? "&continue=" : "",
                 escaped[0] ? escaped[0] : "", escaped[1] ? "&labelSelector=" : "",
                 escaped[1] ? escaped[1] : "");
    else
        api_reply_error(r, 500, "out of memory", NULL);
    free(escaped[0]);
    free(escaped[1]);
    return q;
}

/* {"items", "limit", "hasMore", "continue"?} from a List page; items get
 * apiVersion and kind when the server left them out. */
static json_t *list_reply(const struct amb_kind *k, json_t *page, long limit)
{
    char av[256];
    version_of(&k->resource, av, sizeof av);
    json_t *items = json_object_get(page, "items");
    items = json_is_array(items) ? json_incref(items) : json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        if (!json_object_get(it, "apiVersion"))
            json_object_set_new(it, "apiVersion", json_string(av));
        if (!json_object_get(it, "kind"))
            json_object_set_new(it, "kind", json_string(k->resource.kind));
    }
    const char *cont =
        json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
    int more = cont && *cont;
    json_t *out = json_pack("{s:o, s:I, s:b}", "items", items, "limit", (json_int_t)limit,
                            "hasMore", more);
    if (out && more)
        json_object_set_new(out, "continue", json_string(cont));
    return out;
}

static void handle_list(struct api_req *r)
{
    const char *project, *name = NULL;
    if (path_params(r, 0, &project, &name))
        return;
    const struct kind_entry *e = route_kind(r);
    long limit = 0;
    if (!e || require(r, e->kind, "list", project, NULL) || list_limit(r, &limit) ||
        read_cache_reply_list(r, e->kind, project, limit))
        return;
    struct amb_ctx *ctx = api_ctx(r);
    char *query = ctx ? list_query(r, limit) : NULL;
    struct amb_error *err = query ? new_error(r) : NULL;
    if (!err)
        goto done;
    json_t *page = NULL;
    int rc = api_host->kube_list_page(ctx, &e->kind->resource, project, query, &page, err);
    if (rc == AMB_OK) {
        json_t *out = list_reply(e->kind, page, limit);
        if (out)
            api_reply_json(r, 200, out);
        else
            api_reply_error(r, 500, "out of memory", NULL);
    } else {
        api_reply_amb(r, rc, err);
    }
    json_decref(page);
done:
    api_host->error_free(err);
    free(query);
}

/* metadata.name of a body for :name must be absent or equal it. */
static int same_name(struct api_req *r, const json_t *obj, const char *name)
{
    return expect_string(r, json_object_get(obj, "metadata"), "name", "metadata.name", name);
}

static void handle_put(struct api_req *r)
{
    const char *project, *name;
    if (path_params(r, 1, &project, &name))
        return;
    const struct kind_entry *e = route_kind(r);
    json_t *body = NULL, *current = NULL;
    if (!e || api_body_object(r, 0, &body))
        return;
    const char *rv = json_string_value(
        json_object_get(json_object_get(body, "metadata"), "resourceVersion"));
    if (!rv || !*rv) {
        bad_request(r, "metadata.resourceVersion",
                    "is required: the version the object was read at (a GET gives it)");
        goto done;
    }
    if (same_name(r, body, name) || set_identity(r, e->kind, body, project) ||
        require(r, e->kind, "update", project, name))
        goto done;
    json_object_set_new(json_object_get(body, "metadata"), "name", json_string(name));
    struct amb_ctx *ctx = api_ctx(r);
    if (!ctx || api_read_object(r, ctx, &e->kind->resource, project, name, 0, &current) ||
        admit(r, e, ctx, body, current, NULL))
        goto done;
    update_and_reply(r, ctx, e->kind, project, body);
done:
    json_decref(current);
    json_decref(body);
}

/* RFC 7386 merge of patch (an object) into target (an object), in place. */
static int merge_patch(json_t *target, const json_t *patch)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)patch, key, value) {
        if (json_is_null(value)) {
            json_object_del(target, key);
            continue;
        }
        if (!json_is_object(value)) {
            if (json_object_set_new(target, key, json_deep_copy(value)))
                return -1;
            continue;
        }
        json_t *sub = json_object_get(target, key);
        if (!json_is_object(sub)) {
            sub = json_object();
            if (json_object_set_new(target, key, sub))
                return -1;
        }
        if (merge_patch(sub, value))
            return -1;
    }
    return 0;
}

/* A patch cannot rename, nor drop the resourceVersion it is written at. */
static int keep_identity(struct api_req *r, json_t *obj, const json_t *current, const char *name)
{
    json_t *meta = json_object_get(obj, "metadata");
    const json_t *rv = json_object_get(meta, "resourceVersion");
    if (json_object_set_new(meta, "name", json_string(name)) ||
        (!json_is_string(rv) && json_object_set(meta, "resourceVersion",
                                                json_object_get(json_object_get(current, "metadata"),
                                                                "resourceVersion")))) {
        api_reply_error(r, 500, "out of memory", NULL);
        return -1;
    }
    return 0;
}

static void handle_patch(struct api_req *r)
{
    const char *project, *name;
    if (path_params(r, 1, &project, &name))
        return;
    const struct kind_entry *e = route_kind(r);
    json_t *patch = NULL, *current = NULL, *obj = NULL;
    if (!e || api_body_object(r, 1, &patch))
        return;
    json_object_del(patch, "status");
    if (same_name(r, patch, name) || require(r, e->kind, "patch", project, name))
        goto done;
    struct amb_ctx *ctx = api_ctx(r);
    if (!ctx || api_read_object(r, ctx, &e->kind->resource, project, name, 0, &current))
        goto done;
    /* The merge is made here on the version read, and written with that
     * resourceVersion (unless the patch names one), so validation sees what
     * is stored and a concurrent write in between is a 409, not lost. */
    obj = json_deep_copy(current);
    if (!obj || merge_patch(obj, patch)) {
        api_reply_error(r, 500, "out of memory", NULL);
        goto done;
    }
    if (set_identity(r, e->kind, obj, project) || keep_identity(r, obj, current, name) ||
        admit(r, e, ctx, obj, current, NULL))
        goto done;
    update_and_reply(r, ctx, e->kind, project, obj);
done:
    json_decref(obj);
    json_decref(current);
    json_decref(patch);
}

static void handle_delete(struct api_req *r)
{
    const char *project, *name;
    if (path_params(r, 1, &project, &name))
        return;
    const struct kind_entry *e = route_kind(r);
    if (!e || require(r, e->kind, "delete", project, name))
        return;
    struct amb_ctx *ctx = api_ctx(r);
    json_t *current = NULL;
    /* kube_delete treats "already gone" as done; the caller is told 404. */
    if (!ctx || api_read_object(r, ctx, &e->kind->resource, project, name, 0, &current))
        return;
    struct amb_error *err = new_error(r);
    int rc = err ? api_host->kube_delete(ctx, &e->kind->resource, project, name, "Background", err)
                 : AMB_ENOMEM;
    if (rc == AMB_OK) /* the cache shows it gone (or changed) before it answers */
        read_cache_deleted(r->api->read_cache, e->kind, current);
    json_decref(current);
    if (!err)
        return;
    if (rc == AMB_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s \"%s\" deleted", e->kind->resource.kind, name);
        api_reply_json(r, 200, json_pack("{s:s}", "message", msg));
    } else {
        api_reply_amb(r, rc, err);
    }
    api_host->error_free(err);
}

/* ---- registration ---- */

static int add_routes(struct api_router *rt, const struct kind_entry *e, struct amb_error *err)
{
    const char *segment = e->segment;
    char base[256], one[300];
    snprintf(base, sizeof base, "/api/projects/:project/%s", segment);
    snprintf(one, sizeof one, "%s/:name", base);
    struct {
        const char *method, *pattern;
        api_handler fn;
    } routes[] = {
        {"GET", base, handle_list},   {"POST", base, handle_create},
        {"GET", one, handle_get},     {"PUT", one, handle_put},
        {"PATCH", one, handle_patch}, {"DELETE", one, handle_delete},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = api_router_add_data(rt, routes[i].method, routes[i].pattern, routes[i].fn, 0, e);
        if (rc != AMB_OK)
            return api_host->error_set(err, rc < 0 ? rc : AMB_EINTERNAL, NULL,
                                       "cannot add route %s %s", routes[i].method,
                                       routes[i].pattern);
    }
    return AMB_OK;
}

static int add_kind(struct api_router *rt, struct api_kinds *kinds, const struct amb_kind *k,
                    void *ud, struct amb_error *err)
{
    const char *segment = segment_of(k);
    if (!amb_is_dns_label(segment))
        return api_host->error_set(err, AMB_EINVAL, NULL,
                                   "kind %s: REST segment \"%s\" is not a DNS-1123 label",
                                   k->resource.kind, segment);
    for (size_t i = 0; i < kinds->n; i++)
        if (strcmp(kinds->e[i].segment, segment) == 0)
            return api_host->error_set(err, AMB_EEXIST, NULL,
                                       "kinds %s and %s both want /api/projects/:project/%s",
                                       kinds->e[i].kind->resource.kind, k->resource.kind, segment);
    if (kinds->n == MAX_KINDS)
        return api_host->error_set(err, AMB_ETOOLARGE, NULL, "more than %d kinds", MAX_KINDS);
    struct kind_entry *e = &kinds->e[kinds->n];
    *e = (struct kind_entry){k, ud, segment};
    int rc = add_routes(rt, e, err);
    if (rc == AMB_OK)
        kinds->n++;
    return rc;
}

int api_routes_kinds(struct api_router *rt, struct api *api, struct amb_error *err)
{
    if (!(api->kinds = calloc(1, sizeof *api->kinds)))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    if (!AMB_HAS(api_host, kind_at) || !AMB_HAS(api_host, kube_list_page) ||
        !AMB_HAS(api_host, error_to_json)) {
        /* plugin.c already warned: an older host serves the public routes only. */
        api_host->log(api_self, AMB_LOG_WARN, "no generic kind routes: the host lacks ABI 1.3",
                      NULL);
        return AMB_OK;
    }
    const struct amb_kind *k = NULL;
    void *ud = NULL;
    for (size_t i = 0; api_host->kind_at(api_self, i, &k, &ud) == AMB_OK; i++) {
        if (!k->resource.namespaced)
            continue; /* projects are namespaces; cluster kinds get no generic route */
        int rc = add_kind(rt, api->kinds, k, ud, err);
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}

void api_routes_kinds_free(struct api *api)
{
    free(api->kinds);
    api->kinds = NULL;
}
