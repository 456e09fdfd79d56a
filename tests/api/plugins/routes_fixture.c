/* routes_fixture.c — a plugin that registers routes, so the api plugin's
 * serving of other plugins' routes (struct amb_request_ops) is tested from
 * a plugin's side: params, query, headers, body, user, a context calling
 * Kubernetes as the caller, answers, errors and the defaults for handlers
 * that do not answer. One pattern clashes with a built-in route on purpose;
 * one is under /api/projects/:project/, where a project must be one. */
#include <stdio.h>

#include <ambient/plugin.h>

static const struct amb_host *host;

static const struct amb_request_ops *rq(void) { return host->request_ops(); }

static json_t *maybe(const char *s) { return s ? json_string(s) : json_null(); }

static int hello(void *ud, struct amb_request *req)
{
    (void)ud;
    const struct amb_request_ops *o = rq();
    return o->respond(req, 200,
                      json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "hello",
                                maybe(o->param(req, "who")), "q", maybe(o->query(req, "q")),
                                "user", maybe(o->user(req)), "method", maybe(o->method(req)),
                                "path", maybe(o->path(req)), "agent",
                                maybe(o->header(req, "x-fixture"))));
}

static int echo(void *ud, struct amb_request *req)
{
    (void)ud;
    const struct amb_request_ops *o = rq();
    struct amb_error *err = host->error_new();
    json_t *body = NULL;
    int rc = o->body(req, &body, err);
    if (rc == AMB_OK)
        o->respond(req, 201, json_pack("{s:o, s:o}", "got", body, "user", maybe(o->user(req))));
    else
        o->respond_error(req, rc, err);
    host->error_free(err);
    return AMB_OK;
}

static int configmaps(void *ud, struct amb_request *req)
{
    (void)ud;
    static const struct amb_resource cms = {"", "v1", "ConfigMap", "configmaps", 1};
    const struct amb_request_ops *o = rq();
    struct amb_error *err = host->error_new();
    json_t *items = NULL;
    const char *ns = o->param(req, "ns") ? o->param(req, "ns") : o->param(req, "project");
    int rc = host->kube_list(o->ctx(req), &cms, ns, NULL, &items, err);
    if (rc == AMB_OK)
        o->respond(req, 200, json_pack("{s:I}", "count", (json_int_t)json_array_size(items)));
    else
        o->respond_error(req, rc, err);
    json_decref(items);
    host->error_free(err);
    return AMB_OK;
}

static int fail(void *ud, struct amb_request *req)
{
    (void)ud;
    (void)req;
    return AMB_EFORBIDDEN; /* no answer: the api answers 403 */
}

static int silent(void *ud, struct amb_request *req)
{
    (void)ud;
    (void)req;
    return AMB_OK; /* no answer: 204 */
}

static int init(const struct amb_host *h, struct amb_module *self, void **state,
                struct amb_error *err)
{
    (void)state;
    host = h;
    if (!AMB_HAS(h, request_ops))
        return h->error_set(err, AMB_EUNSUPPORTED, NULL, "needs ABI 1.3");
    const struct amb_route routes[] = {
        {sizeof(struct amb_route), "GET", "/api/fixture/hello/:who", hello, AMB_ROUTE_PUBLIC},
        {sizeof(struct amb_route), "POST", "/api/fixture/echo", echo, 0},
        {sizeof(struct amb_route), "GET", "/api/fixture/namespaces/:ns/configmaps", configmaps, 0},
        {sizeof(struct amb_route), "GET", "/api/projects/:project/fixture-configmaps", configmaps,
         0},
        {sizeof(struct amb_route), "GET", "/api/fixture/fail", fail, 0},
        {sizeof(struct amb_route), "GET", "/api/fixture/silent", silent, 0},
        {sizeof(struct amb_route), "GET", "/health", silent, AMB_ROUTE_PUBLIC}, /* clashes */
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = h->register_route(self, &routes[i], NULL, NULL);
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}

static const struct amb_plugin plugin = {
    AMB_PLUGIN_HEADER, .name = "routes_fixture", .version = "1.0", .init = init,
};
AMB_DEFINE_PLUGIN(plugin)
