/* routes.c — a project's ProjectSettings (the one object named
 * `projectsettings`, README.md) and its runner Secret, both read and written
 * with the caller's token, on routes this plugin registers and the api
 * plugin serves (ABI 1.5 request accessors):
 *
 *   GET, PUT /api/projects/:project/project-settings
 *   GET, PUT, PATCH /api/projects/:project/runner-secrets
 *
 * The ProjectSettings kind's set_defaults and validate run before a write,
 * so a bad spec is a 422 naming each field rather than an object the
 * controller later marks invalid. Changing spec.groupAccess or
 * spec.repositories also needs the right to create RoleBindings: the
 * controller turns the first into bindings, the second lets a forge's
 * users start sessions here, and nobody may grant through Ambient what
 * they could not grant themselves.
 *
 * Runner secret values are never answered, logged or put in an error: GET
 * shows key names only, PUT hands every value to log_secret before anything
 * else and answers key names. Legacy credential fields of a ProjectSettings
 * spec (anthropicApiKey, gitHubToken, gitLabToken) are left out of every
 * answer for the same reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ps.h"

#define VALUE_MAX (64 * 1024)    /* bytes of one secret value */
#define SECRET_MAX (1024 * 1024) /* bytes of a Secret's data, as Kubernetes limits it */
#define KEYS_MAX 256

/* ---- the api's request accessors, in the answered-or-not style of this
 * file: each answers its own failure, 0 to go on, -1 (NULL) after an
 * answer ---- */

static const struct amb_request_ops *ops(void) { return ps_host->request_ops(); }

static void reply_json(struct amb_request *r, int status, json_t *body)
{
    ops()->respond(r, status, body);
}

static void reply_error(struct amb_request *r, int status, const char *message)
{
    ops()->respond_message(r, status, message, NULL);
}

static void reply_amb(struct amb_request *r, int code, const struct amb_error *err)
{
    ops()->respond_error(r, code, err);
}

static void reply_field(struct amb_request *r, int status, const char *field, const char *message)
{
    ops()->respond_fields(r, status, NULL,
                          json_pack("[{s:s,s:s}]", "field", field, "message", message));
}

static const char *project_param(struct amb_request *r)
{
    const char *p = NULL;
    return ops()->checked_param(r, "project", &p) == AMB_OK ? p : NULL;
}

static int body_object(struct amb_request *r, json_t **out)
{
    return ops()->body_object(r, 0, out) == AMB_OK ? 0 : -1;
}

static int require(struct amb_request *r, const char *verb, const char *group, const char *resource,
                   const char *project)
{
    return ops()->review(r, verb, group, resource, project, NULL) == AMB_OK ? 0 : -1;
}

/* The caller's context, after a review passed (so the request has a token). */
static struct amb_ctx *caller_ctx(struct amb_request *r)
{
    struct amb_ctx *ctx = ops()->ctx(r);
    if (!ctx)
        reply_error(r, 503, "cannot call Kubernetes as the caller");
    return ctx;
}

static int read_object(struct amb_request *r, struct amb_ctx *ctx, const struct amb_resource *res,
                       const char *ns, const char *name, json_t **out)
{
    return ops()->get_object(r, ctx, res, ns, name, 1, out) == AMB_OK ? 0 : -1;
}

/* The project param, checked, reviewed (verb on resource) and a project
 * (the review's gate), or NULL after answering. */
static const char *project_for(struct amb_request *r, const char *verb, const char *group,
                               const char *resource)
{
    const char *p = project_param(r);
    return p && require(r, verb, group, resource, p) == 0 ? p : NULL;
}

/* ------------------------------------------------------------------------
 * GET /api/projects/:project/project-settings
 * ------------------------------------------------------------------------ */

/* obj without the legacy credential fields (modified in place). */
static json_t *redacted(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    for (size_t i = 0; spec && i < sizeof ps_legacy_fields / sizeof ps_legacy_fields[0]; i++)
        json_object_del(spec, ps_legacy_fields[i].field);
    return obj;
}

static void reply_no_settings(struct amb_request *r, const char *p)
{
    char msg[160];
    snprintf(msg, sizeof msg, "project \"%s\" has no ProjectSettings", p);
    reply_error(r, 404, msg);
}

static int get_settings(void *ud, struct amb_request *r)
{
    (void)ud;
    if (!AMB_RQ_HAS(ops(), respond_fields))
        return AMB_EUNSUPPORTED;
    const char *p = project_for(r, "get", AMB_GROUP, AMB_SETTINGS_PLURAL);
    struct amb_ctx *ctx = p ? caller_ctx(r) : NULL;
    json_t *obj = NULL;
    if (!ctx)
        return AMB_OK;
    struct amb_error *err = ps_host->error_new();
    int rc = err ? ps_host->kube_get(ctx, &ps_projectsettings, p, PS_NAME, &obj, err) : AMB_ENOMEM;
    if (rc == AMB_ENOTFOUND)
        reply_no_settings(r, p);
    else if (rc != AMB_OK)
        reply_amb(r, rc, err);
    else
        reply_json(r, 200, redacted(json_incref(obj)));
    json_decref(obj);
    ps_host->error_free(err);
    return AMB_OK;
}

/* ------------------------------------------------------------------------
 * PUT /api/projects/:project/project-settings
 * ------------------------------------------------------------------------ */

/* The body as the spec to write: the body itself, or its "spec" when it is
 * a whole object. Checks what the kind cannot: the object's name and
 * namespace. Returns the spec (borrowed) or NULL after replying. */
static const json_t *spec_of(struct amb_request *r, const char *p, const json_t *body)
{
    const json_t *spec = json_object_get(body, "spec");
    const json_t *md = json_object_get(body, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    if (!spec)
        return body;
    if (!json_is_object(spec)) {
        reply_field(r, 400, "spec", "must be an object");
        return NULL;
    }
    if (md && !json_is_object(md)) {
        reply_field(r, 400, "metadata", "must be an object");
        return NULL;
    }
    if (json_object_get(md, "name") && (!name || strcmp(name, PS_NAME) != 0)) {
        reply_field(r, 422, "metadata.name",
                        "must be projectsettings (one ProjectSettings per project)");
        return NULL;
    }
    if (json_object_get(md, "namespace") && (!ns || strcmp(ns, p) != 0)) {
        reply_field(r, 400, "metadata.namespace", "must be the project in the path");
        return NULL;
    }
    return spec;
}

/* The object to write: on update the stored one's metadata (labels,
 * finalizers and owners stay) with a new spec; resourceVersion from the
 * body when it gives one, so a stale edit is a 409. New ref. */
static json_t *settings_object(const char *p, const json_t *body, const json_t *spec,
                               const json_t *old)
{
    const json_t *rv = json_object_get(json_object_get(body, "metadata"), "resourceVersion");
    json_t *md = old ? json_deep_copy(json_object_get(old, "metadata"))
                     : json_pack("{s:s,s:s}", "name", PS_NAME, "namespace", p);
    if (md && json_is_string(rv))
        json_object_set(md, "resourceVersion", (json_t *)rv);
    if (md)
        json_object_del(md, "managedFields");
    return json_pack("{s:s,s:s,s:o*,s:O}", "apiVersion", AMB_API_VERSION, "kind",
                     AMB_SETTINGS_KIND, "metadata", md, "spec", spec);
}

/* Redacts legacy credential values from every later log line before
 * anything could log them. */
static void hide_legacy(const json_t *spec)
{
    for (size_t i = 0; i < sizeof ps_legacy_fields / sizeof ps_legacy_fields[0]; i++) {
        const char *v = json_string_value(json_object_get(spec, ps_legacy_fields[i].field));
        if (v)
            ps_host->log_secret(ps_self, v);
    }
}

/* 1 if the list spec.<field> differs between obj and old (absent and
 * empty are the same). */
static int list_changed(const json_t *obj, const json_t *old, const char *field)
{
    const json_t *a = json_object_get(json_object_get(obj, "spec"), field);
    const json_t *b = json_object_get(json_object_get(old, "spec"), field);
    size_t na = json_is_array(a) ? json_array_size(a) : 0;
    size_t nb = json_is_array(b) ? json_array_size(b) : 0;
    if (na == 0 && nb == 0)
        return 0;
    return !json_equal(a, b);
}

/* Fields that decide who may act in the project: groupAccess becomes
 * RoleBindings, and repositories lets whoever may write to a listed
 * repository start sessions with the project's runner Secret through its
 * forge's webhook. Changing either takes what only a project admin holds,
 * the right to manage access (create RoleBindings; docs/decisions.md). */
static int access_changed(const json_t *obj, const json_t *old)
{
    return list_changed(obj, old, "groupAccess") || list_changed(obj, old, "repositories");
}

/* set_defaults, then validate; replies 422 with every cause. */
static int run_kind(struct amb_request *r, struct amb_ctx *ctx, json_t *obj, const json_t *old)
{
    struct amb_error *err = ps_host->error_new();
    int rc = err ? ps_set_defaults(NULL, ctx, obj, err) : AMB_ENOMEM;
    if (rc == AMB_OK)
        rc = ps_validate(NULL, ctx, obj, old, err);
    if (rc != AMB_OK)
        reply_amb(r, rc, err); /* AMB_EINVAL with named causes: 422 */
    ps_host->error_free(err);
    return rc == AMB_OK ? 0 : -1;
}

/* Writes obj (create when old is NULL) with the caller's rights; replies. */
static void write_settings(struct amb_request *r, struct amb_ctx *ctx, const char *p, json_t *obj,
                           const json_t *old)
{
    json_t *out = NULL;
    struct amb_error *err = ps_host->error_new();
    int rc = !err ? AMB_ENOMEM
             : old ? ps_host->kube_update(ctx, &ps_projectsettings, p, obj, &out, err)
                   : ps_host->kube_create(ctx, &ps_projectsettings, p, obj, &out, err);
    if (rc != AMB_OK)
        reply_amb(r, rc, err);
    else
        reply_json(r, old ? 200 : 201, redacted(json_incref(out)));
    json_decref(out);
    ps_host->error_free(err);
}

static int put_settings(void *ud, struct amb_request *r)
{
    (void)ud;
    if (!AMB_RQ_HAS(ops(), respond_fields))
        return AMB_EUNSUPPORTED;
    const char *p = project_param(r);
    const json_t *spec;
    json_t *body = NULL, *old = NULL, *obj = NULL;
    struct amb_ctx *ctx;
    if (!p || body_object(r, &body) != 0)
        return AMB_OK;
    hide_legacy(json_object_get(body, "spec") ? json_object_get(body, "spec") : body);
    if (!(spec = spec_of(r, p, body)) ||
        !project_for(r, "update", AMB_GROUP, AMB_SETTINGS_PLURAL) || !(ctx = caller_ctx(r)) || read_object(r, ctx, &ps_projectsettings, p, PS_NAME, &old) != 0)
        goto out;
    if (!old && require(r, "create", AMB_GROUP, AMB_SETTINGS_PLURAL, p) != 0)
        goto out;
    if (!(obj = settings_object(p, body, spec, old))) {
        reply_error(r, 500, "out of memory");
        goto out;
    }
    if (run_kind(r, ctx, obj, old) != 0)
        goto out;
    if (access_changed(obj, old) &&
        require(r, "create", "rbac.authorization.k8s.io", "rolebindings", p) != 0)
        goto out;
    write_settings(r, ctx, p, obj, old);
out:
    json_decref(obj);
    json_decref(old);
    json_decref(body);
    return AMB_OK;
}

/* ------------------------------------------------------------------------
 * GET/PUT/PATCH /api/projects/:project/runner-secrets
 *
 * PUT replaces every value; PATCH merges (RFC 7386 on data: a string sets
 * its key, null removes it, keys not named are kept), so a client can
 * change one key without knowing the others — which it never can read.
 * ------------------------------------------------------------------------ */

/* The runner Secret's name: the ProjectSettings' spec.runnerSecretsName, or
 * the default when there is none. Returns 0, or -1 after replying. */
static int secret_name(struct amb_request *r, struct amb_ctx *ctx, const char *p, char *out,
                       size_t len)
{
    json_t *ps = NULL;
    if (read_object(r, ctx, &ps_projectsettings, p, PS_NAME, &ps) != 0)
        return -1;
    const char *name = json_string_value(
        json_object_get(json_object_get(ps, "spec"), "runnerSecretsName"));
    int ok = !name || !*name || amb_is_dns_subdomain(name);
    if (ok)
        snprintf(out, len, "%s", name && *name ? name : PS_DEFAULT_SECRET);
    else
        reply_error(r, 409,
                    "the project's ProjectSettings spec.runnerSecretsName is not a valid "
                    "Secret name");
    json_decref(ps);
    return ok ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* {"secretName", "keys": [sorted names of data]}: never a value. */
static json_t *keys_answer(const char *name, const json_t *data)
{
    size_t n = json_object_size(data), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *k;
    json_t *v, *arr = json_array();
    if (!keys || !arr) {
        free(keys);
        json_decref(arr);
        return NULL;
    }
    json_object_foreach((json_t *)data, k, v)
        keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (i = 0; i < n; i++)
        json_array_append_new(arr, json_string(keys[i]));
    free(keys);
    return json_pack("{s:s,s:o}", "secretName", name, "keys", arr);
}

static int get_runner_secrets(void *ud, struct amb_request *r)
{
    (void)ud;
    if (!AMB_RQ_HAS(ops(), respond_fields))
        return AMB_EUNSUPPORTED;
    const char *p = project_for(r, "get", "", "secrets");
    struct amb_ctx *ctx = p ? caller_ctx(r) : NULL;
    char name[256];
    json_t *secret = NULL;
    if (!ctx || secret_name(r, ctx, p, name, sizeof name) != 0 ||
        read_object(r, ctx, &ps_secrets, p, name, &secret) != 0)
        return AMB_OK;
    json_t *answer = keys_answer(name, json_object_get(secret, "data"));
    if (answer)
        reply_json(r, 200, answer);
    else
        reply_error(r, 500, "out of memory");
    json_decref(secret);
    return AMB_OK;
}

/* The bounds of what is stored: keys, and bytes base64-encoded. */
static int check_size(struct amb_request *r, size_t keys, size_t bytes)
{
    if (keys > KEYS_MAX) {
        reply_field(r, 400, "data", "must have at most 256 keys");
        return -1;
    }
    if (bytes > SECRET_MAX) {
        reply_field(r, 413, "data", "must be at most 1 MiB in all (base64-encoded)");
        return -1;
    }
    return 0;
}

static int env_name_ok(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* Hands every string value to log_secret, then checks the data (a PATCH's
 * may also hold null: remove the key). Keys are shown in messages (they are
 * names), values never. */
static int check_data(struct amb_request *r, const json_t *data, int patch)
{
    const char *k;
    json_t *v;
    size_t total = 0;
    char msg[400];
    if (!json_is_object(data)) {
        reply_field(r, 400, "data", "required: an object of KEY: value strings");
        return -1;
    }
    json_object_foreach((json_t *)data, k, v)
        if (json_is_string(v))
            ps_host->log_secret(ps_self, json_string_value(v));
    if (check_size(r, json_object_size(data), 0) != 0)
        return -1;
    json_object_foreach((json_t *)data, k, v) {
        if (strlen(k) > 253 || !env_name_ok(k)) {
            reply_field(r, 400, "data",
                            "every key must be an environment variable name "
                            "([A-Za-z_][A-Za-z0-9_]*, at most 253 characters)");
            return -1;
        }
        snprintf(msg, sizeof msg, "data.%s", k);
        if (patch && json_is_null(v))
            continue;
        if (!json_is_string(v) || json_string_length(v) > VALUE_MAX) {
            reply_field(r, 400, msg,
                        patch ? "must be a string of at most 65536 bytes, or null to remove it"
                              : "must be a string of at most 65536 bytes");
            return -1;
        }
        total += strlen(k) + 4 * ((json_string_length(v) + 2) / 3);
    }
    return check_size(r, json_object_size(data), total);
}

/* base64 of a value as a JSON string; the plain copy is wiped. New ref. */
static json_t *b64_string(const char *v, size_t n)
{
    size_t len = 4 * ((n + 2) / 3) + 1;
    unsigned char *buf = malloc(len);
    json_t *s;
    if (!buf)
        return NULL;
    EVP_EncodeBlock(buf, (const unsigned char *)v, (int)n);
    s = json_string((const char *)buf);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return s;
}

/* base (already encoded, copied; NULL for none) with data merged in: a
 * string value set encoded, null removing its key. New ref. */
static json_t *encoded_data(const json_t *base, const json_t *data)
{
    json_t *out = json_is_object(base) ? json_deep_copy(base) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)data, k, v) {
        if (out && json_is_null(v)) {
            json_object_del(out, k);
            continue;
        }
        json_t *e = out ? b64_string(json_string_value(v), json_string_length(v)) : NULL;
        if (!e || json_object_set_new(out, k, e) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Bytes of an encoded data object as check_data counts them. */
static size_t encoded_size(const json_t *data)
{
    const char *k;
    json_t *v;
    size_t total = 0;
    json_object_foreach((json_t *)data, k, v)
        total += strlen(k) + json_string_length(v);
    return total;
}

/* The Secret to write: the stored one with new data (stringData dropped,
 * our label added), or a new Opaque one. data is stolen. New ref. */
static json_t *secret_object(const char *p, const char *name, json_t *data, const json_t *old)
{
    json_t *obj = old ? json_deep_copy(old)
                      : json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "apiVersion", "v1", "kind",
                                  "Secret", "type", "Opaque", "metadata", "name", name,
                                  "namespace", p);
    json_t *md = json_object_get(obj, "metadata");
    json_t *labels = json_object_get(md, "labels");
    if (md && !json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(md, "labels", labels);
    }
    if (!obj || !data || !json_is_object(labels) ||
        json_object_set_new(labels, AMB_RUNNER_SECRETS_LABEL, json_string("true")) != 0) {
        json_decref(obj);
        json_decref(data);
        return NULL;
    }
    json_object_del(md, "managedFields");
    json_object_del(obj, "stringData");
    json_object_set_new(obj, "data", data);
    return obj;
}

/* Stores data (encoded; borrowed) as the runner Secret, answering with its
 * keys. */
static void write_secret(struct amb_request *r, struct amb_ctx *ctx, const char *p, const char *name,
                         const json_t *data, const json_t *old)
{
    json_t *obj = secret_object(p, name, json_incref((json_t *)data), old);
    struct amb_error *err = ps_host->error_new();
    int rc = !obj || !err ? AMB_ENOMEM
             : old        ? ps_host->kube_update(ctx, &ps_secrets, p, obj, NULL, err)
                          : ps_host->kube_create(ctx, &ps_secrets, p, obj, NULL, err);
    json_t *answer = rc == AMB_OK ? keys_answer(name, data) : NULL;
    if (rc != AMB_OK)
        reply_amb(r, rc, err);
    else if (!answer)
        reply_error(r, 500, "out of memory");
    else
        reply_json(r, 200, answer);
    if (rc == AMB_OK)
        ps_host->log(ps_self, AMB_LOG_INFO, "runner secrets written", "project", p, "secret",
                      name, "user", ops()->user(r) ? ops()->user(r) : "-", NULL);
    json_decref(obj);
    ps_host->error_free(err);
}

/* PUT (patch 0) and PATCH (patch 1) of the runner Secret's data. */
static void write_runner_secrets(struct amb_request *r, int patch)
{
    const char *p = project_param(r);
    json_t *body = NULL, *old = NULL, *data = NULL;
    struct amb_ctx *ctx;
    char name[256];
    if (!p || body_object(r, &body) != 0)
        return;
    json_t *in = json_object_get(body, "data");
    if (check_data(r, in, patch) != 0 || !project_for(r, "update", "", "secrets") ||
        !(ctx = caller_ctx(r)) || secret_name(r, ctx, p, name, sizeof name) != 0 ||
        read_object(r, ctx, &ps_secrets, p, name, &old) != 0)
        goto out;
    if (!old && require(r, "create", "", "secrets", p) != 0)
        goto out;
    if (!(data = encoded_data(patch ? json_object_get(old, "data") : NULL, in)))
        reply_error(r, 500, "out of memory");
    else if (check_size(r, json_object_size(data), encoded_size(data)) == 0)
        write_secret(r, ctx, p, name, data, old);
out:
    json_decref(data);
    json_decref(old);
    json_decref(body);
}

static int put_runner_secrets(void *ud, struct amb_request *r)
{
    (void)ud;
    if (!AMB_RQ_HAS(ops(), respond_fields))
        return AMB_EUNSUPPORTED;
    write_runner_secrets(r, 0);
    return AMB_OK;
}

static int patch_runner_secrets(void *ud, struct amb_request *r)
{
    (void)ud;
    if (!AMB_RQ_HAS(ops(), respond_fields))
        return AMB_EUNSUPPORTED;
    write_runner_secrets(r, 1);
    return AMB_OK;
}

int ps_register_routes(void)
{
    static const struct {
        const char *method, *pattern;
        amb_route_fn fn;
    } routes[] = {
        {"GET", "/api/projects/:project/project-settings", get_settings},
        {"PUT", "/api/projects/:project/project-settings", put_settings},
        {"GET", "/api/projects/:project/runner-secrets", get_runner_secrets},
        {"PUT", "/api/projects/:project/runner-secrets", put_runner_secrets},
        {"PATCH", "/api/projects/:project/runner-secrets", patch_runner_secrets},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        struct amb_route route = {.size = sizeof route, .method = routes[i].method,
                                  .pattern = routes[i].pattern, .handler = routes[i].fn};
        int rc = ps_host->register_route(ps_self, &route, NULL, NULL);
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}
