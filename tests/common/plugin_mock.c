/* plugin_mock.c — the mock host of the plugins' unit tests (see
 * plugin_mock.h). */
#include "plugin_mock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mock mock;
struct amb_module mock_self;
static struct amb_ctx callback_ctx;

static void logv(struct amb_module *self, int level, const char *msg, ...)
{
    (void)self;
    (void)level;
    char line[2048];
    size_t used = (size_t)snprintf(line, sizeof line, "%s", msg);
    va_list ap;
    va_start(ap, msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL && used < sizeof line) {
        const char *v = va_arg(ap, const char *);
        used += (size_t)snprintf(line + used, sizeof line - used, " %s=%s", k, v ? v : "(null)");
    }
    va_end(ap);
    json_array_append_new(mock.logs, json_string(line));
}

static void logf_(struct amb_module *self, int level, const char *fmt, ...)
{
    (void)self;
    (void)level;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    json_array_append_new(mock.logs, json_string(line));
}

static int log_enabled(struct amb_module *self, int level)
{
    (void)self;
    (void)level;
    return 1;
}

static void log_secret(struct amb_module *self, const char *value)
{
    (void)self;
    json_array_append_new(mock.secrets_logged, json_string(value));
}

static void *alloc_(size_t n) { return calloc(1, n); }
static char *strdup_(const char *s) { return s ? strdup(s) : NULL; }

static int register_kind(struct amb_module *self, const struct amb_kind *kind, void *ud,
                         void (*free_ud)(void *))
{
    (void)self;
    json_array_append_new(mock.kinds, json_pack("{s:s, s:i, s:b, s:b, s:b}", "plural",
                                                kind->resource.plural, "n_owns",
                                                (int)kind->n_owns, "validate",
                                                kind->validate != NULL, "defaults",
                                                kind->set_defaults != NULL, "reconcile",
                                                kind->reconcile != NULL));
    if (mock.registered && mock.kind_free)
        mock.kind_free(mock.kind_data);
    mock.kind = *kind;
    mock.kind_data = ud;
    mock.kind_free = free_ud;
    mock.registered = 1;
    return AMB_OK;
}

static int register_route(struct amb_module *self, const struct amb_route *route, void *ud,
                          void (*free_ud)(void *))
{
    (void)self;
    if (free_ud)
        free_ud(ud); /* never served here */
    if (!route || route->size < sizeof *route || !route->method || !route->pattern ||
        !route->handler)
        return AMB_EINVAL;
    json_array_append_new(mock.routes, json_sprintf("%s %s", route->method, route->pattern));
    return AMB_OK;
}

static int error_set(struct amb_error *err, int code, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err->n < MOCK_MAX) {
        snprintf(err->field[err->n], sizeof err->field[0], "%s", field ? field : "");
        snprintf(err->message[err->n], sizeof err->message[0], "%.255s", msg);
    }
    size_t used = strlen(err->text);
    snprintf(err->text + used, sizeof err->text - used, "%s%s%s\n", field ? field : "",
             field ? ": " : "", msg);
    err->n++;
    err->code = code;
    return code;
}

static struct amb_error *error_new(void) { return calloc(1, sizeof(struct amb_error)); }

static void error_free(struct amb_error *err) { free(err); }

static json_t *error_to_json(const struct amb_error *err)
{
    json_t *causes = json_array();
    for (int i = 0; err && i < err->n && i < MOCK_MAX; i++)
        json_array_append_new(causes, err->field[i][0]
                                          ? json_pack("{s:s, s:s}", "field", err->field[i],
                                                      "message", err->message[i])
                                          : json_pack("{s:s}", "message", err->message[i]));
    return json_pack("{s:i, s:s, s:o}", "code", err ? err->code : 0, "message",
                     err && err->n ? err->message[0] : "", "causes", causes);
}

int mock_error_find(const struct amb_error *err, const char *field)
{
    for (int i = 0; i < err->n && i < MOCK_MAX; i++)
        if (strcmp(err->field[i], field) == 0)
            return i;
    return -1;
}

static const char *strerror_(int code)
{
    switch (code) {
    case AMB_OK: return "ok";
    case AMB_ENOTFOUND: return "not found";
    case AMB_ECONFLICT: return "conflict";
    case AMB_EFORBIDDEN: return "forbidden";
    case AMB_EUNAVAILABLE: return "unavailable";
    default: return "error";
    }
}

/* ---- store ---- */

static void key_of(char *out, size_t n, const char *plural, const char *ns, const char *name)
{
    snprintf(out, n, "%s/%s/%s", plural, ns ? ns : "", name ? name : "");
}

json_t *mock_get(const char *plural, const char *ns, const char *name)
{
    char k[512];
    key_of(k, sizeof k, plural, ns, name);
    return json_object_get(mock.store, k);
}

json_t *mock_object(const char *plural, const char *name)
{
    const char *k;
    json_t *v;
    size_t n = strlen(plural);
    json_object_foreach(mock.store, k, v) {
        const char *last = strrchr(k, '/');
        if (strncmp(k, plural, n) == 0 && k[n] == '/' && strcmp(last + 1, name) == 0)
            return v;
    }
    return NULL;
}

static int op(const char *verb, const struct amb_resource *res, const char *ns, const char *name)
{
    char line[512];
    snprintf(line, sizeof line, "%s %s/%s/%s", verb, res->plural, ns, name ? name : "");
    json_array_append_new(mock.ops, json_string(line));
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s %s", verb, res->plural);
    if (mock.fail_op[0] && strcmp(mock.fail_op, prefix) == 0) {
        mock.fail_op[0] = '\0';
        return mock.fail_rc;
    }
    return AMB_OK;
}

static void bump_rv(json_t *obj)
{
    char rv[32];
    snprintf(rv, sizeof rv, "%d", ++mock.rv_seq);
    json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(rv));
}

/* Secrets: stringData folds into data (kept as plain text here). */
static void fold(const struct amb_resource *res, json_t *obj)
{
    if (strcmp(res->plural, "secrets") != 0)
        return;
    json_t *sd = json_object_get(obj, "stringData");
    if (!sd)
        return;
    json_t *data = json_object_get(obj, "data");
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(obj, "data", data);
    }
    json_object_update(data, sd);
    json_object_del(obj, "stringData");
}

json_t *mock_store(const char *plural, json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    char k[512];
    key_of(k, sizeof k, plural, json_string_value(json_object_get(meta, "namespace")),
           json_string_value(json_object_get(meta, "name")));
    json_object_set_new(mock.store, k, obj);
    return obj;
}

json_t *mock_put(const struct amb_resource *res, json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    char uid[32];
    snprintf(uid, sizeof uid, "uid-%d", ++mock.uid_seq);
    json_object_set_new(meta, "uid", json_string(uid));
    json_object_set_new(meta, "generation", json_integer(1));
    bump_rv(obj);
    fold(res, obj);
    return mock_store(res->plural, obj);
}

void mock_cluster(json_t *session)
{
    const json_t *meta = json_object_get(session, "metadata");
    const char *kind = json_string_value(json_object_get(session, "kind"));
    char plural[64];
    snprintf(plural, sizeof plural, "%ss", kind ? kind : "object");
    for (char *p = plural; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    key_of(mock.current, sizeof mock.current, plural,
           json_string_value(json_object_get(meta, "namespace")),
           json_string_value(json_object_get(meta, "name")));
    mock.session = mock_store(plural, session);
}

/* A callback's context is any but NULL (a kind callback's, mock_ctx's). */
static int check_ctx(struct amb_ctx *ctx)
{
    return ctx ? AMB_OK : AMB_ESTATE;
}

struct amb_ctx *mock_ctx(const char *key)
{
    snprintf(mock.current, sizeof mock.current, "%s", key);
    return &callback_ctx;
}

static int kube_get(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                    const char *name, json_t **out, struct amb_error *err)
{
    int rc = check_ctx(ctx) ? AMB_ESTATE : op("get", res, ns, name);
    if (!rc && mock.kube_get_rc)
        rc = mock.kube_get_rc;
    if (rc)
        return error_set(err, rc, NULL, "injected");
    json_t *o = mock_get(res->plural, ns, name);
    if (strcmp(res->plural, "projectsettings") == 0 && strcmp(name, "projectsettings") == 0 &&
        mock.project_settings)
        o = mock.project_settings;
    if (!o)
        return error_set(err, AMB_ENOTFOUND, NULL, "%s %s not found", res->plural, name);
    if (out)
        *out = json_deep_copy(o);
    return AMB_OK;
}

static int selector_match(const json_t *obj, const char *selector)
{
    if (!selector)
        return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", selector);
    const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq)
            return 0;
        *eq = '\0';
        const char *v = json_string_value(json_object_get(labels, t));
        if (!v || strcmp(v, eq + 1) != 0)
            return 0;
    }
    return 1;
}

static int kube_list(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                     const char *label_selector, json_t **out, struct amb_error *err)
{
    int rc = check_ctx(ctx) ? AMB_ESTATE : op("list", res, ns, label_selector);
    if (rc)
        return error_set(err, rc, NULL, "injected");
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%s/", res->plural, ns);
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(mock.store, k, v) {
        if (strncmp(k, prefix, strlen(prefix)) == 0 && selector_match(v, label_selector))
            json_array_append_new(arr, json_deep_copy(v));
    }
    if (out)
        *out = arr;
    else
        json_decref(arr);
    return AMB_OK;
}

static int kube_create(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                       const json_t *obj, json_t **out, struct amb_error *err)
{
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    int rc = check_ctx(ctx) ? AMB_ESTATE : op("create", res, ns, name);
    if (rc)
        return error_set(err, rc, NULL, "injected");
    if (mock_get(res->plural, ns, name))
        return error_set(err, AMB_EEXIST, NULL, "already exists");
    json_t *o = mock_put(res, json_deep_copy(obj));
    mock.creates++;
    if (out)
        *out = json_deep_copy(o);
    return AMB_OK;
}

static int kube_update(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                       const json_t *obj, json_t **out, struct amb_error *err)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    int rc = check_ctx(ctx) ? AMB_ESTATE : op("update", res, ns, name);
    if (rc)
        return error_set(err, rc, NULL, "injected");
    json_t *cur = mock_get(res->plural, ns, name);
    if (!cur)
        return error_set(err, AMB_ENOTFOUND, NULL, "not found");
    if (!json_equal(json_object_get(meta, "resourceVersion"),
                    json_object_get(json_object_get(cur, "metadata"), "resourceVersion")))
        return error_set(err, AMB_ECONFLICT, NULL, "stale resourceVersion");
    json_t *o = json_deep_copy(obj);
    bump_rv(o);
    fold(res, o);
    char k[512];
    key_of(k, sizeof k, res->plural, ns, name);
    json_object_set_new(mock.store, k, o);
    if (out)
        *out = json_deep_copy(o);
    return AMB_OK;
}

static void merge_patch(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v)) {
            json_t *t = json_object_get(target, k);
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(target, k, t);
            }
            merge_patch(t, v);
        } else {
            json_object_set(target, k, v);
        }
    }
}

static int kube_patch(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                      const char *name, const json_t *patch, json_t **out, struct amb_error *err)
{
    int rc = check_ctx(ctx) ? AMB_ESTATE : op("patch", res, ns, name);
    if (rc)
        return error_set(err, rc, NULL, "injected");
    json_t *cur = mock_get(res->plural, ns, name);
    if (!cur)
        return error_set(err, AMB_ENOTFOUND, NULL, "not found");
    json_t *before = json_deep_copy(json_object_get(cur, "spec"));
    merge_patch(cur, patch);
    fold(res, cur);
    json_t *meta = json_object_get(cur, "metadata");
    if (!json_equal(before, json_object_get(cur, "spec")))
        json_object_set_new(meta, "generation",
                            json_integer(json_integer_value(json_object_get(meta, "generation")) + 1));
    json_decref(before);
    bump_rv(cur);
    mock.patches++;
    if (out)
        *out = json_deep_copy(cur);
    return AMB_OK;
}

static int kube_delete(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                       const char *name, const char *propagation, struct amb_error *err)
{
    (void)propagation;
    int rc = check_ctx(ctx) ? AMB_ESTATE : op("delete", res, ns, name);
    if (rc)
        return error_set(err, rc, NULL, "injected");
    char k[512];
    key_of(k, sizeof k, res->plural, ns, name);
    if (json_object_get(mock.store, k)) {
        json_object_del(mock.store, k);
        mock.deletes++;
    }
    return AMB_OK;
}

static int update_status(struct amb_ctx *ctx, int (*mutate)(void *, json_t *), void *ud,
                         json_t **out, struct amb_error *err)
{
    if (check_ctx(ctx))
        return AMB_ESTATE;
    json_t *cur = json_object_get(mock.store, mock.current);
    if (!cur)
        return error_set(err, AMB_ENOTFOUND, NULL, "not found");
    json_t *copy = json_deep_copy(cur);
    int rc = mutate(ud, copy);
    if (rc < 0) {
        json_decref(copy);
        return error_set(err, rc, NULL, "mutate failed");
    }
    if (rc == 0) {
        json_object_set(cur, "status", json_object_get(copy, "status"));
        bump_rv(cur);
        mock.status_writes++;
        json_array_append_new(mock.ops, json_sprintf("status %s", mock.current));
    }
    json_decref(copy);
    if (out)
        *out = json_deep_copy(cur);
    return AMB_OK;
}

static int emit_event(struct amb_ctx *ctx, const json_t *obj, const char *type,
                      const char *reason, const char *message)
{
    (void)obj;
    if (check_ctx(ctx))
        return AMB_ESTATE;
    json_array_append_new(mock.events, json_pack("{s:s, s:s, s:s}", "type", type, "reason",
                                                 reason, "message", message));
    return AMB_OK;
}

static int requeue(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                   const char *name, long delay_ms)
{
    (void)res, (void)ns, (void)name, (void)delay_ms;
    return check_ctx(ctx);
}

struct amb_host mock_host = {
    .abi_major = AMB_ABI_MAJOR,
    .abi_minor = AMB_ABI_MINOR,
    .size = sizeof(struct amb_host),
    .log = logv,
    .logf = logf_,
    .log_enabled = log_enabled,
    .log_secret = log_secret,
    .alloc = alloc_,
    .realloc = realloc,
    .free = free,
    .strdup = strdup_,
    .register_kind = register_kind,
    .register_route = register_route,
    .error_set = error_set,
    .strerror = strerror_,
    .kube_get = kube_get,
    .kube_get_cached = kube_get, /* the store is the cache too */
    .kube_list = kube_list,
    .kube_create = kube_create,
    .kube_update = kube_update,
    .kube_patch = kube_patch,
    .kube_delete = kube_delete,
    .update_status = update_status,
    .emit_event = emit_event,
    .requeue = requeue,
    .error_new = error_new,
    .error_free = error_free,
    .error_to_json = error_to_json,
};

void mock_free(void)
{
    if (mock.registered && mock.kind_free)
        mock.kind_free(mock.kind_data);
    json_decref(mock.project_settings);
    json_decref(mock.routes);
    json_decref(mock.store);
    json_decref(mock.ops);
    json_decref(mock.events);
    json_decref(mock.logs);
    json_decref(mock.secrets_logged);
    json_decref(mock.kinds);
    memset(&mock, 0, sizeof mock);
}

void mock_reset(void)
{
    mock_free();
    mock.store = json_object();
    mock.ops = json_array();
    mock.events = json_array();
    mock.logs = json_array();
    mock.secrets_logged = json_array();
    mock.kinds = json_array();
    mock.routes = json_array();
}

int mock_count_ops(const char *prefix)
{
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(mock.ops, i, v) n += strncmp(json_string_value(v), prefix, strlen(prefix)) == 0;
    return n;
}

int mock_op_index(const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(mock.ops, i, v) if (strcmp(json_string_value(v), s) == 0) return (int)i;
    return -1;
}

static int in_json(const json_t *j, const char *s)
{
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    int seen = text && strstr(text, s) != NULL;
    free(text);
    return seen;
}

int mock_text_seen(const char *s)
{
    if (in_json(mock.logs, s) || in_json(mock.events, s))
        return 1;
    const char *k;
    json_t *v;
    json_object_foreach(mock.store, k, v) {
        if (strncmp(k, "projectsettings/", 16) == 0 && in_json(json_object_get(v, "status"), s))
            return 1;
    }
    return 0;
}

/* The object helpers are pure functions of their JSON: the mock uses the
 * host's own, so plugin tests see exactly what ambientd does. */
void ambd_host_fill(struct amb_host *host); /* libambient (core/src/runtime-internal.h) */

__attribute__((constructor)) static void use_real_object_helpers(void)
{
    struct amb_host real;
    mockconf_fill(&mock_host); /* no table yet: every key is absent */
    ambd_host_fill(&real);
    mock_host.set_condition = real.set_condition;
    mock_host.set_controller_ref = real.set_controller_ref;
}
