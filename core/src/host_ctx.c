/* host_ctx.c — the host table's api-role members (ABI 1.3): contexts that
 * call Kubernetes as a caller (one shared client; the caller's token rides
 * along per call), the registered kinds and routes, and errors a plugin
 * makes itself. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "controller-state-internal.h"
#include "error-internal.h"
#include "host-ctx-internal.h"
#include "runtime-internal.h"

/* Set once before plugins start, cleared after they stop. */
static struct ambd_kube *direct_kube;

void ambd_host_ctx_set_kube(struct ambd_kube *k) { direct_kube = k; }

const struct ambd_store *ambd_ctx_store(struct amb_ctx *ctx)
{
    if (!ctx)
        return NULL;
    if (ctx->ctl)
        return &ctx->ctl->store;
    return ctx->direct.ops ? &ctx->direct : NULL;
}

/* ---- the direct store: each blocking call under the context's token ---- */

#define AS_CALLER(ctx, call)                          \
    do {                                              \
        ambd_kube_set_thread_token((ctx)->token);     \
        int rc_ = (call);                             \
        ambd_kube_set_thread_token(NULL);             \
        return rc_;                                   \
    } while (0)

static int d_get(void *impl, const struct amb_resource *res, const char *ns, const char *name,
                 json_t **out, struct amb_error *err)
{
    struct amb_ctx *c = impl;
    AS_CALLER(c, ambd_kube_get(direct_kube, res, ns, name, out, err));
}

static int d_list(void *impl, const struct amb_resource *res, const char *ns, const char *query,
                  json_t **out, struct amb_error *err)
{
    struct amb_ctx *c = impl;
    AS_CALLER(c, ambd_kube_list(direct_kube, res, ns, query, out, err));
}

static int d_create(void *impl, const struct amb_resource *res, const char *ns,
                    const json_t *obj, json_t **out, struct amb_error *err)
{
    struct amb_ctx *c = impl;
    AS_CALLER(c, ambd_kube_create(direct_kube, res, ns, obj, out, err));
}

static int d_update(void *impl, const struct amb_resource *res, const char *ns,
                    const json_t *obj, const char *subresource, json_t **out,
                    struct amb_error *err)
{
    struct amb_ctx *c = impl;
    AS_CALLER(c, ambd_kube_update(direct_kube, res, ns, obj, subresource, out, err));
}

static int d_patch(void *impl, const struct amb_resource *res, const char *ns, const char *name,
                   const json_t *patch, json_t **out, struct amb_error *err)
{
    struct amb_ctx *c = impl;
    AS_CALLER(c, ambd_kube_patch(direct_kube, res, ns, name, patch, NULL, out, err));
}

static int d_remove(void *impl, const struct amb_resource *res, const char *ns,
                    const char *name, const char *propagation, struct amb_error *err)
{
    struct amb_ctx *c = impl;
    AS_CALLER(c, ambd_kube_delete(direct_kube, res, ns, name, propagation, err));
}

/* Blocking calls only: a caller's context never lists or watches on the loop. */
static const struct ambd_store_ops direct_ops = {
    .get = d_get, .list = d_list, .create = d_create, .update = d_update, .patch = d_patch,
    .remove = d_remove,
};

static int host_ctx_new(struct amb_module *self, const char *token, struct amb_ctx **out,
                        struct amb_error *err)
{
    (void)self;
    if (!out)
        return ambd_error_set(err, AMB_EINVAL, NULL, "ctx_new needs an out parameter");
    *out = NULL;
    if (!direct_kube)
        return ambd_error_set(err, AMB_EUNAVAILABLE, NULL,
                              "no Kubernetes API is configured (the kube group of ambient.conf)");
    if (token && (!*token || strpbrk(token, "\r\n")))
        return ambd_error_set(err, AMB_EUNAUTHORIZED, NULL, "the bearer token is malformed");
    struct amb_ctx *c = calloc(1, sizeof *c);
    if (!c || (token && !(c->token = strdup(token)))) {
        free(c);
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    c->direct.ops = &direct_ops;
    c->direct.impl = c;
    *out = c;
    return AMB_OK;
}

static void host_ctx_free(struct amb_ctx *ctx)
{
    if (!ctx || ctx->ctl)
        return; /* only ctx_new's are ours to free */
    if (ctx->token) {
        /* Tokens do not outlive the context in freed memory. */
        memset(ctx->token, 0, strlen(ctx->token));
        free(ctx->token);
    }
    free(ctx);
}

static int host_kind_at(struct amb_module *self, size_t i, const struct amb_kind **kind,
                        void **user_data)
{
    if (!self || !self->rt)
        return AMB_EINVAL;
    const struct ambd_registry *r = &self->rt->registry;
    if (i >= r->n_kinds)
        return AMB_ENOTFOUND;
    if (kind)
        *kind = &r->kinds[i]->kind;
    if (user_data)
        *user_data = r->kinds[i]->data.user_data;
    return AMB_OK;
}

static int host_route_at(struct amb_module *self, size_t i, const struct amb_route **route,
                         void **user_data)
{
    if (!self || !self->rt)
        return AMB_EINVAL;
    const struct ambd_registry *r = &self->rt->registry;
    if (i >= r->n_routes)
        return AMB_ENOTFOUND;
    if (route)
        *route = &r->routes[i]->route;
    if (user_data)
        *user_data = r->routes[i]->data.user_data;
    return AMB_OK;
}

/* The route server's accessors: set by the api plugin's start, read by
 * handlers on its threads afterwards. */
static _Atomic(const struct amb_request_ops *) request_accessors;

static int host_serve_routes(struct amb_module *self, const struct amb_request_ops *ops)
{
    (void)self;
    if (!ops || ops->size < sizeof(uint32_t))
        return AMB_EINVAL;
    const struct amb_request_ops *none = NULL;
    return atomic_compare_exchange_strong(&request_accessors, &none, ops) ? AMB_OK : AMB_EEXIST;
}

static const struct amb_request_ops *host_request_ops(void)
{
    return atomic_load(&request_accessors);
}

void ambd_host_ctx_reset_routes(void) { atomic_store(&request_accessors, NULL); }

static int host_kube_watch(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                           const char *query,
                           int (*on_event)(void *ud, const char *type, const json_t *obj),
                           void *ud, struct amb_error *err)
{
    struct ambd_kube *k = !ctx ? NULL : ctx->ctl ? ctx->ctl->kube : ctx->direct.ops ? direct_kube : NULL;
    if (!k || !res || !on_event)
        return ambd_error_set(err, AMB_ESTATE, NULL, "kube_watch needs a context and a callback");
    char *path = ambd_kube_path(res, ns, NULL, NULL);
    if (!path)
        return ambd_error_set(err, AMB_EINVAL, "namespace", "not a valid Kubernetes name");
    int rc = ambd_kube_watch(k, path, query, ctx->ctl ? NULL : ctx->token, on_event, ud, err);
    free(path);
    return rc;
}

static struct amb_error *host_error_new(void)
{
    return calloc(1, sizeof(struct amb_error));
}

static void host_error_free(struct amb_error *err)
{
    if (!err)
        return;
    ambd_error_clear(err);
    free(err);
}

static json_t *host_error_to_json(const struct amb_error *err)
{
    json_t *causes = json_array();
    json_t *out = json_pack("{s:i, s:s, s:o}", "code", err ? err->code : AMB_OK, "message",
                            err && err->n_causes ? err->causes[0].message
                                                 : ambd_strerror(err ? err->code : AMB_OK),
                            "causes", causes);
    if (!out)
        return NULL;
    if (err && err->retry_after_s > 0)
        json_object_set_new(out, "retryAfterSeconds", json_integer(err->retry_after_s));
    for (size_t i = 0; err && i < err->n_causes; i++) {
        json_t *c = json_pack("{s:s}", "message", err->causes[i].message);
        if (c && err->causes[i].field)
            json_object_set_new(c, "field", json_string(err->causes[i].field));
        json_array_append_new(causes, c);
    }
    return out;
}

void ambd_host_ctx_fill(struct amb_host *h)
{
    h->ctx_new = host_ctx_new;
    h->ctx_free = host_ctx_free;
    h->kind_at = host_kind_at;
    h->error_new = host_error_new;
    h->error_free = host_error_free;
    h->error_to_json = host_error_to_json;
    h->route_at = host_route_at;
    h->serve_routes = host_serve_routes;
    h->request_ops = host_request_ops;
    h->kube_watch = host_kube_watch;
}
