/* mockhost.c — the mock host table (see mockhost.h). */
#include "mockroutes.h"
#include "mockhost.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mock_state mock;
struct amb_module mock_self;

void mock_reset(void)
{
    json_decref(mock.project_settings);
    json_decref(mock.store);
    json_decref(mock.session);
    json_decref(mock.events);
    if (mock.registered && mock.kind_free)
        mock.kind_free(mock.kind_data);
    memset(&mock, 0, sizeof mock);
}

void mock_cluster(json_t *session)
{
    mock.store = json_object();
    mock.events = json_array();
    mock.session = session;
}

json_t *mock_object(const char *plural, const char *name)
{
    char key[256];
    snprintf(key, sizeof key, "%s/%s", plural, name);
    return json_object_get(mock.store, key);
}

int mock_error_find(const struct amb_error *err, const char *field)
{
    for (int i = 0; i < err->n; i++)
        if (strcmp(err->field[i], field) == 0)
            return i;
    return -1;
}

static void m_log(struct amb_module *self, int level, const char *msg, ...)
{
    (void)self;
    (void)level;
    (void)msg;
}

static void m_logf(struct amb_module *self, int level, const char *fmt, ...)
{
    (void)self;
    (void)level;
    (void)fmt;
}

static int m_log_enabled(struct amb_module *self, int level)
{
    (void)self;
    (void)level;
    return 0;
}

static void m_log_secret(struct amb_module *self, const char *v)
{
    (void)self;
    (void)v;
}

static void *m_alloc(size_t n)
{
    return calloc(1, n);
}

static char *m_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int m_register_kind(struct amb_module *self, const struct amb_kind *kind, void *ud,
                           void (*free_ud)(void *))
{
    (void)self;
    mock.kind = *kind;
    mock.kind_data = ud;
    mock.kind_free = free_ud;
    mock.registered = 1;
    return AMB_OK;
}

static int m_error_set(struct amb_error *err, int code, const char *field, const char *fmt, ...)
{
    if (err && err->n < MOCK_MAX) {
        snprintf(err->field[err->n], sizeof err->field[err->n], "%s", field ? field : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message[err->n], sizeof err->message[err->n], fmt, ap);
        va_end(ap);
        err->n++;
        err->code = code;
    }
    return code;
}

static const char *m_strerror(int code)
{
    (void)code;
    return "error";
}

static int m_kube_get(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                      const char *name, json_t **out, struct amb_error *err)
{
    (void)ctx;
    (void)ns;
    (void)err;
    if (mock.kube_get_rc)
        return mock.kube_get_rc;
    if (strcmp(res->plural, "projectsettings") == 0 && strcmp(name, "projectsettings") == 0 &&
        mock.project_settings) {
        if (out)
            *out = json_deep_copy(mock.project_settings);
        return AMB_OK;
    }
    json_t *obj = mock.store ? mock_object(res->plural, name) : NULL;
    if (!obj)
        return AMB_ENOTFOUND;
    if (out)
        *out = json_deep_copy(obj);
    return AMB_OK;
}

static int m_kube_list(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                       const char *selector, json_t **out, struct amb_error *err)
{
    (void)ctx;
    (void)ns;
    (void)selector;
    (void)err;
    json_t *all = json_array();
    const char *key;
    json_t *v;
    size_t n = strlen(res->plural);
    json_object_foreach(mock.store, key, v)
    {
        if (strncmp(key, res->plural, n) == 0 && key[n] == '/')
            json_array_append(all, v);
    }
    *out = all;
    return AMB_OK;
}

static int m_kube_create(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                         const json_t *obj, json_t **out, struct amb_error *err)
{
    (void)ctx;
    (void)ns;
    (void)err;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    if (mock_object(res->plural, name))
        return AMB_EEXIST;
    char key[256];
    snprintf(key, sizeof key, "%s/%s", res->plural, name);
    json_object_set_new(mock.store, key, json_deep_copy(obj));
    mock.creates++;
    if (out)
        *out = json_deep_copy(obj);
    return AMB_OK;
}

static int m_kube_delete(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                         const char *name, const char *propagation, struct amb_error *err)
{
    (void)ctx;
    (void)ns;
    (void)propagation;
    (void)err;
    char key[256];
    snprintf(key, sizeof key, "%s/%s", res->plural, name);
    if (json_object_get(mock.store, key)) {
        json_object_del(mock.store, key);
        mock.deletes++;
    }
    return AMB_OK;
}

static int m_kube_patch(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                        const char *name, const json_t *patch, json_t **out,
                        struct amb_error *err)
{
    (void)ctx;
    (void)res;
    (void)ns;
    (void)name;
    (void)err;
    /* Only the session's annotations are patched by the plugin. */
    json_t *md = json_object_get(mock.session, "metadata");
    json_t *ann = json_object_get(md, "annotations");
    if (!ann) {
        ann = json_object();
        json_object_set_new(md, "annotations", ann);
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(patch, "metadata"), "annotations"), k, v)
    {
        if (json_is_null(v))
            json_object_del(ann, k);
        else
            json_object_set(ann, k, v);
    }
    mock.patches++;
    if (out)
        *out = json_deep_copy(mock.session);
    return AMB_OK;
}

static int m_update_status(struct amb_ctx *ctx, int (*mutate)(void *ud, json_t *obj), void *ud,
                           json_t **out, struct amb_error *err)
{
    (void)ctx;
    (void)err;
    json_t *copy = json_deep_copy(mock.session);
    int m = mutate(ud, copy);
    if (m < 0) {
        json_decref(copy);
        return m;
    }
    if (m == 0) {
        json_decref(mock.session);
        mock.session = json_incref(copy);
        mock.status_writes++;
    }
    if (out)
        *out = json_incref(copy);
    json_decref(copy);
    return AMB_OK;
}
static int m_emit_event(struct amb_ctx *ctx, const json_t *obj, const char *type,
                        const char *reason, const char *message)
{
    (void)ctx;
    (void)obj;
    (void)type;
    (void)message;
    json_array_append_new(mock.events, json_string(reason));
    return AMB_OK;
}

static int m_requeue(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                     const char *name, long delay_ms)
{
    (void)ctx;
    (void)res;
    (void)ns;
    (void)name;
    (void)delay_ms;
    return AMB_EUNSUPPORTED;
}

struct amb_host mock_host = {
    .abi_major = AMB_ABI_MAJOR,
    .abi_minor = AMB_ABI_MINOR,
    .size = sizeof(struct amb_host),
    .log = m_log,
    .logf = m_logf,
    .log_enabled = m_log_enabled,
    .log_secret = m_log_secret,
    .alloc = m_alloc,
    .realloc = realloc,
    .free = free,
    .strdup = m_strdup,
    .register_kind = m_register_kind,
    .register_route = mock_register_route,
    .error_set = m_error_set,
    .strerror = m_strerror,
    .kube_get = m_kube_get,
    .kube_get_cached = m_kube_get, /* the mock's store is its cache too */
    .kube_list = m_kube_list,
    .kube_create = m_kube_create,
    .kube_patch = m_kube_patch,
    .kube_delete = m_kube_delete,
    .update_status = m_update_status,
    .emit_event = m_emit_event,
    .requeue = m_requeue,
};

/* The object helpers are pure functions of their JSON: the mock uses the
 * host's own, so plugin tests see exactly what ambientd does. */
void ambd_host_fill(struct amb_host *host); /* libambient (core/src/runtime-internal.h) */

__attribute__((constructor)) static void use_real_object_helpers(void)
{
    struct amb_host real;
    ambd_host_fill(&real);
    mock_host.set_condition = real.set_condition;
    mock_host.set_controller_ref = real.set_controller_ref;
}
