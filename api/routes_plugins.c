/* routes_plugins.c — serving the routes other plugins registered with
 * register_route. Their handlers see our request through struct
 * amb_request_ops (the host hands them out with request_ops), so they read
 * params, query, headers and the body, call Kubernetes as the caller, and
 * answer in the same JSON shapes as the built-in routes. A pattern that
 * clashes with a built-in route is not served (logged as an error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_cache.h"
#include "serving.h"

struct plugin_route {
    const struct amb_route *route; /* the host's copy */
    void *user_data;
};

/* The routes served (api->plugin_routes), made at start. */
struct api_plugin_routes {
    struct plugin_route *served;
    size_t n;
};

static const char *rq_method(struct amb_request *q) { return q->r->method; }
static const char *rq_path(struct amb_request *q) { return q->r->path; }
static const char *rq_param(struct amb_request *q, const char *n) { return api_param(q->r, n); }
static const char *rq_query(struct amb_request *q, const char *n) { return api_query(q->r, n); }
static const char *rq_header(struct amb_request *q, const char *n) { return api_header(q->r, n); }

static int rq_body(struct amb_request *q, json_t **out, struct amb_error *err)
{
    return api_body_json(q->r, out, err);
}

static int rq_raw_body(struct amb_request *q, const char **data, size_t *len,
                       struct amb_error *err)
{
    return api_body_raw(q->r, data, len, err);
}

static const char *rq_user(struct amb_request *q)
{
    const struct api_req *r = q->r;
    return r->token && r->user[0] && strcmp(r->user, "-") ? r->user : NULL;
}

static struct amb_ctx *rq_ctx(struct amb_request *q)
{
    struct api_req *r = q->r;
    if (!r->ctx && r->token && api_gate_enter(r) == 0) {
        struct amb_error *err = api_host->error_new();
        if (err)
            api_host->ctx_new(api_self, r->token, &r->ctx, err);
        api_host->error_free(err);
    }
    return r->ctx; /* freed with the request */
}

static int rq_respond(struct amb_request *q, int status, json_t *body)
{
    if (q->r->replied || status < 200 || status > 599) {
        json_decref(body);
        return q->r->replied ? AMB_ESTATE : AMB_EINVAL;
    }
    if (body)
        api_reply_json(q->r, status, body);
    else
        api_reply_raw(q->r, status, NULL, NULL, 0);
    return AMB_OK;
}

static int rq_respond_error(struct amb_request *q, int code, const struct amb_error *err)
{
    if (q->r->replied)
        return AMB_ESTATE;
    if (err)
        api_reply_amb(q->r, code, err);
    else
        api_reply_error(q->r, api_http_status(code), api_host->strerror(code), NULL);
    return AMB_OK;
}

/* ---- 1.5: what the api's own routes do; each answers its failures ---- */

static int rq_checked_param(struct amb_request *q, const char *name, const char **out)
{
    *out = strcmp(name, "project") == 0 ? api_project_param(q->r) : api_checked_name(q->r, name);
    return *out ? AMB_OK : AMB_EINVAL;
}

static int rq_body_object(struct amb_request *q, int merge_patch, json_t **out)
{
    return api_body_object(q->r, merge_patch, out) == 0 ? AMB_OK : AMB_EINVAL;
}

static int rq_review(struct amb_request *q, const char *verb, const char *group,
                     const char *resource, const char *ns, const char *name)
{
    struct api_access what = {verb, group ? group : "", resource, NULL, ns ? ns : "", name};
    if (!verb || !resource) {
        api_reply_error(q->r, 500, "a review needs a verb and a resource", NULL);
        return AMB_EINVAL;
    }
    return api_require(q->r, &what) == 0 ? AMB_OK : AMB_EFORBIDDEN;
}

static int rq_get_object(struct amb_request *q, struct amb_ctx *ctx,
                         const struct amb_resource *res, const char *ns, const char *name,
                         int missing_ok, json_t **out)
{
    return api_read_object(q->r, ctx, res, ns, name, missing_ok, out) == 0 ? AMB_OK : AMB_EIO;
}

static int rq_create_object(struct amb_request *q, const struct amb_resource *res,
                            const char *ns, json_t *obj, json_t **stored)
{
    return api_kind_create(q->r, res, ns, obj, stored) == 0 ? AMB_OK : AMB_EIO;
}

static int rq_respond_message(struct amb_request *q, int status, const char *message,
                              json_t *details)
{
    if (q->r->replied || status < 400 || status > 599) {
        json_decref(details);
        return q->r->replied ? AMB_ESTATE : AMB_EINVAL;
    }
    api_reply_error(q->r, status, message, details);
    return AMB_OK;
}

static int rq_respond_fields(struct amb_request *q, int status, const char *prefix,
                             json_t *details)
{
    if (q->r->replied || status < 400 || status > 599 || !json_is_array(details)) {
        json_decref(details);
        return q->r->replied ? AMB_ESTATE : AMB_EINVAL;
    }
    api_reply_fields(q->r, status, prefix, details);
    return AMB_OK;
}

static const struct amb_request_ops request_ops = {
    .size = sizeof(struct amb_request_ops),
    .method = rq_method,
    .path = rq_path,
    .param = rq_param,
    .query = rq_query,
    .header = rq_header,
    .body = rq_body,
    .user = rq_user,
    .ctx = rq_ctx,
    .respond = rq_respond,
    .respond_error = rq_respond_error,
    .raw_body = rq_raw_body,
    .checked_param = rq_checked_param,
    .body_object = rq_body_object,
    .review = rq_review,
    .get_object = rq_get_object,
    .create_object = rq_create_object,
    .respond_message = rq_respond_message,
    .respond_fields = rq_respond_fields,
};

/* Runs a plugin's handler; answers for it when it did not. */
static void serve(struct api_req *r)
{
    const struct plugin_route *pr = r->route_data;
    struct amb_request q = {r};
    int rc = pr->route->handler(pr->user_data, &q);
    /* What it wrote we cannot see: reads of its project come from the API
     * server for a while (read_cache.h). */
    if (strcmp(r->method, "GET") != 0 && r->project)
        read_cache_barrier(r->api->read_cache, r->project);
    if (r->replied)
        return;
    if (rc < 0)
        api_reply_error(r, api_http_status(rc), api_host->strerror(rc), NULL);
    else
        api_reply_raw(r, 204, NULL, NULL, 0);
}

int api_routes_plugins(struct api_router *rt, struct api *api, struct amb_error *err)
{
    if (!AMB_HAS(api_host, route_at) || !AMB_HAS(api_host, serve_routes))
        return AMB_OK;
    size_t n = 0;
    while (api_host->route_at(api_self, n, NULL, NULL) == AMB_OK)
        n++;
    if (n == 0)
        return AMB_OK;
    struct api_plugin_routes *p = calloc(1, sizeof *p);
    if (!p || !(p->served = calloc(n, sizeof *p->served))) {
        free(p);
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    }
    api->plugin_routes = p;
    for (size_t i = 0; i < n; i++) {
        struct plugin_route *pr = &p->served[p->n];
        api_host->route_at(api_self, i, &pr->route, &pr->user_data);
        unsigned flags = pr->route->flags & AMB_ROUTE_PUBLIC ? API_PUBLIC : 0;
        int rc = api_router_add_data(rt, pr->route->method, pr->route->pattern, serve, flags, pr);
        if (rc == AMB_OK) {
            p->n++;
            continue;
        }
        api_host->log(api_self, AMB_LOG_ERROR, "a plugin's route is not served", "method",
                      pr->route->method, "pattern", pr->route->pattern, "reason",
                      rc == AMB_EEXIST ? "another route has the same pattern" : "invalid pattern",
                      NULL);
    }
    int rc = api_host->serve_routes(api_self, &request_ops);
    if (rc != AMB_OK)
        return api_host->error_set(err, rc, NULL,
                                   "another plugin already serves the registered routes");
    return AMB_OK;
}

void api_routes_plugins_free(struct api *api)
{
    if (api->plugin_routes)
        free(api->plugin_routes->served);
    free(api->plugin_routes);
    api->plugin_routes = NULL;
}
