/* controller_host.c — the host table's Kubernetes members (ABI 1.1) that
 * kind callbacks use: reads from the informer caches where they hold the
 * answer, writes through the blocking client, status writes with conflict
 * retry, conditions, controller references and Events. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf-internal.h"
#include "cache-internal.h"
#include "controller-state-internal.h"
#include "error-internal.h"
#include "log-internal.h"

#define STATUS_ATTEMPTS 5
#define ST(ctx) ambd_ctx_store(ctx)

static const struct amb_resource event_resource = {"", "v1", "Event", "events", 1};

static int bad_ctx(struct amb_error *err)
{
    return ambd_error_set(err, AMB_ESTATE, NULL,
                          "Kubernetes calls need the context of a kind callback");
}

static const char *meta(const json_t *obj, const char *k)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), k));
}

static int host_kube_get(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                         const char *name, json_t **out, struct amb_error *err)
{
    if (!ST(ctx))
        return bad_ctx(err);
    int complete = 0;
    struct ambd_informer *inf = ctx->ctl ? ambd_ctl_informer_for(ctx->ctl, res, &complete) : NULL;
    if (inf && ambd_informer_synced(inf)) {
        char *key = ambd_cache_key_of(res->namespaced ? ns : NULL, name);
        json_t *obj = key ? ambd_cache_get(ambd_informer_cache(inf), key) : NULL;
        free(key);
        if (obj) {
            if (out)
                *out = obj;
            else
                json_decref(obj);
            return AMB_OK;
        }
        /* A kind's cache holds all its objects; a child cache only ours. */
        if (complete)
            return ambd_error_set(err, AMB_ENOTFOUND, NULL, "%s \"%s\" not found", res->plural,
                                  name);
    }
    return ST(ctx)->ops->get(ST(ctx)->impl, res, ns, name, out, err);
}

/* Every page of an API list, as one array. */
static int list_all(const struct ambd_store *st, const struct amb_resource *res, const char *ns,
                    const char *selector, json_t **out, struct amb_error *err)
{
    json_t *all = json_array();
    char *cont = NULL;
    int rc = AMB_OK;
    do {
        struct ambd_buf q = {0};
        ambd_buf_puts(&q, "limit=500");
        if (selector) {
            char *e = curl_easy_escape(NULL, selector, 0);
            ambd_buf_printf(&q, "&labelSelector=%s", e ? e : "");
            curl_free(e);
        }
        if (cont) {
            char *e = curl_easy_escape(NULL, cont, 0);
            ambd_buf_printf(&q, "&continue=%s", e ? e : "");
            curl_free(e);
        }
        char *query = ambd_buf_take(&q);
        json_t *page = NULL;
        rc = query ? st->ops->list(st->impl, res, ns, query, &page, err) : AMB_ENOMEM;
        free(query);
        free(cont);
        cont = NULL;
        if (rc == AMB_OK) {
            json_array_extend(all, json_object_get(page, "items"));
            const char *next = json_string_value(
                json_object_get(json_object_get(page, "metadata"), "continue"));
            cont = next && *next ? strdup(next) : NULL;
        }
        json_decref(page);
    } while (rc == AMB_OK && cont);
    free(cont);
    if (rc == AMB_OK)
        *out = all;
    else
        json_decref(all);
    return rc;
}

static int host_kube_get_cached(struct amb_ctx *ctx, const struct amb_resource *res,
                                const char *ns, const char *name, json_t **out,
                                struct amb_error *err)
{
    if (!ctx || !ctx->ctl)
        return bad_ctx(err);
    int complete = 0;
    struct ambd_informer *inf = ambd_ctl_informer_for(ctx->ctl, res, &complete);
    if (!inf)
        return ambd_error_set(err, AMB_EUNSUPPORTED, NULL,
                              "%s are not watched (not a kind, nor a child of one)", res->plural);
    if (!ambd_informer_synced(inf))
        return ambd_error_set(err, AMB_EUNAVAILABLE, NULL, "the %s cache has not synced yet",
                              res->plural);
    char *key = ambd_cache_key_of(res->namespaced ? ns : NULL, name);
    json_t *obj = key ? ambd_cache_get(ambd_informer_cache(inf), key) : NULL;
    free(key);
    if (!obj)
        return ambd_error_set(err, AMB_ENOTFOUND, NULL, "%s \"%s\" not found%s", res->plural,
                              name ? name : "", complete ? "" : " among ours");
    if (out)
        *out = obj;
    else
        json_decref(obj);
    return AMB_OK;
}

/* A selector that requires our label selects only what a child cache holds. */
static int selects_ours(const char *selector)
{
    static const char ours[] = AMB_MANAGED_BY_LABEL "=" AMB_MANAGED_BY_VALUE;
    for (const char *p = selector; p && (p = strstr(p, ours)); p += sizeof ours - 1) {
        int starts = p == selector || p[-1] == ',';
        int ends = p[sizeof ours - 1] == '\0' || p[sizeof ours - 1] == ',';
        if (starts && ends)
            return 1;
    }
    return 0;
}

static int host_kube_list(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                          const char *selector, json_t **out, struct amb_error *err)
{
    if (!ST(ctx))
        return bad_ctx(err);
    int complete = 0;
    struct ambd_informer *inf = ctx->ctl ? ambd_ctl_informer_for(ctx->ctl, res, &complete) : NULL;
    if (inf && (complete || selects_ours(selector)) && ambd_informer_synced(inf)) {
        *out = ambd_cache_list(ambd_informer_cache(inf), res->namespaced ? ns : NULL, selector);
        return *out ? AMB_OK : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    return list_all(ST(ctx), res, ns, selector, out, err);
}

static int host_kube_create(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                            const json_t *obj, json_t **out, struct amb_error *err)
{
    if (!ST(ctx))
        return bad_ctx(err);
    return ST(ctx)->ops->create(ST(ctx)->impl, res, ns, obj, out, err);
}

static int host_kube_update(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                            const json_t *obj, json_t **out, struct amb_error *err)
{
    if (!ST(ctx))
        return bad_ctx(err);
    return ST(ctx)->ops->update(ST(ctx)->impl, res, ns, obj, NULL, out, err);
}

static int host_kube_patch(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                           const char *name, const json_t *patch, json_t **out,
                           struct amb_error *err)
{
    if (!ST(ctx))
        return bad_ctx(err);
    return ST(ctx)->ops->patch(ST(ctx)->impl, res, ns, name, patch, out, err);
}

static int host_kube_delete(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                            const char *name, const char *propagation, struct amb_error *err)
{
    if (!ST(ctx))
        return bad_ctx(err);
    struct amb_error why = AMBD_ERROR_INIT;
    int rc = ST(ctx)->ops->remove(ST(ctx)->impl, res, ns, name, propagation, &why);
    if (rc == AMB_ENOTFOUND)
        rc = AMB_OK;
    else if (rc != AMB_OK)
        ambd_error_wrap(err, rc, &why);
    ambd_error_clear(&why);
    return rc;
}

static int host_update_status(struct amb_ctx *ctx, int (*mutate)(void *ud, json_t *obj), void *ud,
                              json_t **out, struct amb_error *err)
{
    if (!ctx || !ctx->ctl)
        return bad_ctx(err);
    if (out)
        *out = NULL;
    const struct amb_resource *res = &ctx->ctl->kinds[ctx->kind].entry->kind.resource;
    struct ambd_informer *inf = ctx->ctl->kinds[ctx->kind].informer;
    int rc = AMB_ECONFLICT;
    for (int attempt = 0; attempt < STATUS_ATTEMPTS && rc == AMB_ECONFLICT; attempt++) {
        json_t *obj = NULL;
        struct amb_error why = AMBD_ERROR_INIT;
        /* The cache first; after a conflict, the API's latest. */
        char *key = attempt == 0 ? ambd_cache_key_of(res->namespaced ? ctx->ns : NULL, ctx->name) : NULL;
        if (key)
            obj = ambd_cache_get(ambd_informer_cache(inf), key);
        free(key);
        rc = obj ? AMB_OK : ST(ctx)->ops->get(ST(ctx)->impl, res, ctx->ns, ctx->name, &obj, &why);
        if (rc == AMB_OK) {
            int m = mutate(ud, obj);
            if (m < 0)
                rc = ambd_error_set(&why, m, "status", "the status change was refused");
            else if (m > 0) {
                if (out)
                    *out = json_incref(obj);
            } else {
                json_t *written = NULL;
                rc = ST(ctx)->ops->update(ST(ctx)->impl, res, ctx->ns, obj, "status", &written,
                                          &why);
                /* The next reconcile of this key may run before the watch
                 * brings this write: it must not act on the old status
                 * (a conflict, or the same work twice). */
                if (rc == AMB_OK && written)
                    ambd_cache_write_through(ambd_informer_cache(inf), written);
                if (out)
                    *out = written;
                else
                    json_decref(written);
            }
        }
        if (rc != AMB_OK && (rc != AMB_ECONFLICT || attempt + 1 == STATUS_ATTEMPTS))
            ambd_error_wrap(err, rc, &why);
        ambd_error_clear(&why);
        json_decref(obj);
    }
    return rc;
}

static void rfc3339_now(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* metav1.Condition's reason: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$ */
static int valid_reason(const char *r)
{
    size_t n = r ? strlen(r) : 0;
    if (n == 0 || n > 1024 || !((r[0] >= 'A' && r[0] <= 'Z') || (r[0] >= 'a' && r[0] <= 'z')))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = r[i];
        int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!(alnum || c == '_' || ((c == ',' || c == ':') && i + 1 < n)))
            return 0;
    }
    return 1;
}

static int set_string(json_t *obj, const char *key, const char *value)
{
    const char *old = json_string_value(json_object_get(obj, key));
    if (old && strcmp(old, value) == 0)
        return 0;
    json_object_set_new(obj, key, json_string(value));
    return 1;
}

static int host_set_condition(json_t *obj, const char *type, const char *status,
                              const char *reason, const char *message)
{
    if (!json_is_object(obj) || !type || !*type || strlen(type) > 316 || !status ||
        (strcmp(status, "True") && strcmp(status, "False") && strcmp(status, "Unknown")) ||
        !valid_reason(reason) || (message && strlen(message) > 32768))
        return AMB_EINVAL;
    json_t *st = json_object_get(obj, "status");
    if (!json_is_object(st)) {
        st = json_object();
        json_object_set_new(obj, "status", st);
    }
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(st, "conditions", conds);
    }
    json_int_t gen = json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
    json_t *cond = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(conds, i, v)
    {
        const char *t = json_string_value(json_object_get(v, "type"));
        if (t && strcmp(t, type) == 0)
            cond = v;
    }
    char now[32];
    rfc3339_now(now, sizeof now);
    if (!cond) {
        cond = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "type", type, "status", status,
                         "observedGeneration", gen, "lastTransitionTime", now, "reason", reason,
                         "message", message ? message : "");
        return cond && json_array_append_new(conds, cond) == 0 ? 1 : AMB_ENOMEM;
    }
    int changed = 0;
    if (set_string(cond, "status", status)) {
        json_object_set_new(cond, "lastTransitionTime", json_string(now));
        changed = 1;
    }
    changed |= set_string(cond, "reason", reason);
    changed |= set_string(cond, "message", message ? message : "");
    if (json_integer_value(json_object_get(cond, "observedGeneration")) != gen) {
        json_object_set_new(cond, "observedGeneration", json_integer(gen));
        changed = 1;
    }
    return changed;
}

static int host_set_controller_ref(json_t *child, const json_t *owner)
{
    const char *api = json_string_value(json_object_get(owner, "apiVersion"));
    const char *kind = json_string_value(json_object_get(owner, "kind"));
    const char *name = meta(owner, "name");
    const char *uid = meta(owner, "uid");
    if (!json_is_object(child) || !api || !kind || !name || !uid)
        return AMB_EINVAL;
    json_t *md = json_object_get(child, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(child, "metadata", md);
    }
    json_t *refs = json_object_get(md, "ownerReferences");
    if (!json_is_array(refs)) {
        refs = json_array();
        json_object_set_new(md, "ownerReferences", refs);
    }
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref)
    {
        if (!json_is_true(json_object_get(ref, "controller")))
            continue;
        const char *other = json_string_value(json_object_get(ref, "uid"));
        if (!other || strcmp(other, uid) != 0)
            return AMB_EEXIST; /* at most one controller */
        json_array_remove(refs, i);
        break;
    }
    json_t *mine = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api, "kind", kind,
                             "name", name, "uid", uid, "controller", 1, "blockOwnerDeletion", 1);
    json_t *labels = json_object_get(md, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(md, "labels", labels);
    }
    if (!mine || json_array_append_new(refs, mine) != 0 ||
        json_object_set_new(labels, AMB_MANAGED_BY_LABEL, json_string(AMB_MANAGED_BY_VALUE)) != 0)
        return AMB_ENOMEM;
    return AMB_OK;
}

static int host_emit_event(struct amb_ctx *ctx, const json_t *obj, const char *type,
                           const char *reason, const char *message)
{
    if (!ST(ctx))
        return AMB_ESTATE;
    if (!type || (strcmp(type, "Normal") && strcmp(type, "Warning")) || !valid_reason(reason))
        return AMB_EINVAL;
    const char *ns = meta(obj, "namespace");
    const char *name = meta(obj, "name");
    char now[32], micro[40];
    rfc3339_now(now, sizeof now);
    snprintf(micro, sizeof micro, "%.*s.000000Z", (int)strlen(now) - 1, now);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%.200s.", name ? name : "object");
    json_t *ev = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}, s:s, s:s, s:s, s:{s:s}, "
        "s:s, s:s, s:I, s:s, s:s, s:s}",
        "apiVersion", "v1", "kind", "Event", "metadata", "generateName", prefix, "namespace",
        ns ? ns : "default", "involvedObject", "apiVersion",
        json_string_value(json_object_get(obj, "apiVersion")), "kind",
        json_string_value(json_object_get(obj, "kind")), "name", name, "namespace", ns, "uid",
        meta(obj, "uid"), "resourceVersion", meta(obj, "resourceVersion"), "reason", reason,
        "message", message ? message : "", "type", type, "source", "component",
        "ambient-controller", "firstTimestamp", now, "lastTimestamp", now, "count",
        (json_int_t)1, "eventTime", micro, "reportingComponent", "ambient-controller",
        "reportingInstance", ctx->ctl ? ctx->ctl->identity : "api");
    if (!ev)
        return AMB_ENOMEM;
    struct amb_error err = AMBD_ERROR_INIT;
    int rc = ST(ctx)->ops->create(ST(ctx)->impl, &event_resource, ns ? ns : "default", ev, NULL,
                                  &err);
    if (rc != AMB_OK) {
        char *line = ambd_error_line(&err);
        ambd_log("controller", AMB_LOG_WARN, "cannot record an event", "reason", reason, "error",
                 line ? line : "?", NULL);
        free(line);
    }
    ambd_error_clear(&err);
    json_decref(ev);
    return rc;
}

static int host_requeue(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                        const char *name, long delay_ms)
{
    if (!ctx || !ctx->ctl)
        return AMB_ESTATE;
    long k = ambd_ctl_kind_index(ctx->ctl, res);
    if (k < 0 || !name || delay_ms < 0)
        return AMB_EINVAL;
    char *key = ambd_ctl_key((size_t)k, res->namespaced ? ns : "", name);
    if (!key)
        return AMB_ENOMEM;
    ambd_workqueue_add_after(ctx->ctl->queue, key, (uint64_t)delay_ms);
    free(key);
    return AMB_OK;
}

static int host_kube_list_page(struct amb_ctx *ctx, const struct amb_resource *res,
                               const char *ns, const char *query, json_t **out,
                               struct amb_error *err)
{
    if (!ST(ctx))
        return bad_ctx(err);
    return ST(ctx)->ops->list(ST(ctx)->impl, res, ns, query, out, err);
}

void ambd_controller_fill_host(struct amb_host *h)
{
    h->kube_get = host_kube_get;
    h->kube_list = host_kube_list;
    h->kube_create = host_kube_create;
    h->kube_update = host_kube_update;
    h->kube_patch = host_kube_patch;
    h->kube_delete = host_kube_delete;
    h->update_status = host_update_status;
    h->set_condition = host_set_condition;
    h->set_controller_ref = host_set_controller_ref;
    h->emit_event = host_emit_event;
    h->requeue = host_requeue;
    h->kube_get_cached = host_kube_get_cached;
    h->kube_list_page = host_kube_list_page;
}
