/* kubeapi_objects.c — reads, creates, updates and patches, with what the
 * apiserver's generic registry adds: uid, creationTimestamp, one global
 * resourceVersion (409 on a stale one), generation bumped by changes
 * outside metadata and status, the status subresource, finalizers of a
 * deleting object, and the per-kind defaults Ambient relies on. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "kubeapi.h"

void kerr_set(struct kerr *e, int code, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->reason = reason;
    e->store_rc = 0;
}

static void store_failed(struct kerr *e, int rc)
{
    e->code = rc == KSTORE_FULL ? 507 : 503;
    e->reason = "";
    e->store_rc = rc;
}

void kapi_fail_kerr(struct kreq *r, const struct kerr *e)
{
    if (e->store_rc)
        kapi_fail_store(r, e->store_rc);
    else
        kapi_fail(r, e->code, e->reason, "%s", e->msg);
}

static json_t *meta(const json_t *obj)
{
    return json_object_get(obj, "metadata");
}

static const char *meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(meta(obj), key));
}

const struct ktype *kapi_type_of(const struct kapi *api, const json_t *obj)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!av || !kind)
        return NULL;
    const char *slash = strrchr(av, '/');
    size_t glen = slash ? (size_t)(slash - av) : 0;
    for (size_t i = 0; i < api->ntypes; i++) {
        const struct ktype *t = &api->types[i];
        if (!strcmp(t->kind, kind) && strlen(t->group) == glen && !strncmp(t->group, av, glen))
            return t;
    }
    return NULL;
}

json_t *kobj_load(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                  struct kerr *e)
{
    int rc;
    json_t *obj = kstore_get(api->store, t->res, t->namespaced ? ns : "", name, &rc);
    if (rc)
        store_failed(e, rc);
    else if (!obj) {
        char q[256];
        kapi_qualified(t, q, sizeof q);
        kerr_set(e, 404, "NotFound", "%s \"%s\" not found", q, name);
    }
    return obj;
}

/* ---- names ---- */

static int dns_label(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int dns_subdomain(const char *s)
{
    char part[254];
    if (strlen(s) == 0 || strlen(s) > 253)
        return 0;
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part)
            return 0;
        memcpy(part, p, n);
        part[n] = '\0';
        if (!dns_label(part, 63))
            return 0;
        if (!dot)
            return 1;
        p = dot + 1;
    }
}

static const char *name_problem(const struct ktype *t, const char *name)
{
    if (!strcmp(t->group, "rbac.authorization.k8s.io"))
        return !*name || !strcmp(name, ".") || !strcmp(name, "..") || strpbrk(name, "/%") ||
                       strlen(name) > 253
                   ? "may not contain '/' or '%'"
                   : NULL;
    if (!strcmp(t->res, "/namespaces"))
        return dns_label(name, 63) ? NULL : "a lowercase RFC 1123 label must consist of lower "
                                            "case alphanumeric characters or '-'";
    return dns_subdomain(name) ? NULL : "a lowercase RFC 1123 subdomain must consist of lower "
                                        "case alphanumeric characters, '-' or '.'";
}

/* ---- per-kind rules ---- */

static void fold_string_data(json_t *secret)
{
    json_t *sd = json_object_get(secret, "stringData");
    if (json_is_object(sd)) {
        json_t *data = json_object_get(secret, "data");
        if (!json_is_object(data)) {
            data = json_object();
            json_object_set_new(secret, "data", data);
        }
        const char *k;
        json_t *v;
        json_object_foreach(sd, k, v)
        {
            const char *s = json_string_value(v) ? json_string_value(v) : "";
            size_t n = strlen(s);
            char *b64 = malloc(4 * ((n + 2) / 3) + 1);
            if (b64) {
                EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)s, (int)n);
                json_object_set_new(data, k, json_string(b64));
            }
            free(b64);
        }
    }
    json_object_del(secret, "stringData");
}

static void set_path_default(json_t *obj, const char *key, json_t *v)
{
    if (!json_object_get(obj, key))
        json_object_set(obj, key, v);
    json_decref(v);
}

static json_t *child(json_t *obj, const char *key)
{
    json_t *c = json_object_get(obj, key);
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(obj, key, c);
    }
    return c;
}

static int prepare_job(json_t *job, struct kerr *e)
{
    json_t *spec = child(job, "spec");
    json_t *tmpl = child(spec, "template");
    json_t *tmeta = child(tmpl, "metadata");
    json_t *tspec = child(tmpl, "spec");
    const char *rp = json_string_value(json_object_get(tspec, "restartPolicy"));
    if (!rp || (strcmp(rp, "Never") && strcmp(rp, "OnFailure"))) {
        kerr_set(e, 422, "Invalid",
                 "Job.batch \"%s\" is invalid: spec.template.spec.restartPolicy: Unsupported "
                 "value: \"%s\": supported values: \"OnFailure\", \"Never\"",
                 meta_str(job, "name"), rp ? rp : "");
        return -1;
    }
    json_t *m = meta(job);
    json_t *labels = json_object_get(tmeta, "labels");
    if (!json_object_size(json_object_get(m, "labels")) && json_is_object(labels))
        json_object_set_new(m, "labels", json_deep_copy(labels));
    set_path_default(spec, "parallelism", json_integer(1));
    set_path_default(spec, "completions", json_integer(1));
    set_path_default(spec, "backoffLimit", json_integer(6));
    set_path_default(spec, "completionMode", json_string("NonIndexed"));
    set_path_default(spec, "suspend", json_false());
    const char *uid = meta_str(job, "uid"), *name = meta_str(job, "name");
    if (!json_is_true(json_object_get(spec, "manualSelector")))
        json_object_set_new(spec, "selector",
                            json_pack("{s:{s:s}}", "matchLabels",
                                      "batch.kubernetes.io/controller-uid", uid));
    labels = child(tmeta, "labels");
    json_object_set_new(labels, "batch.kubernetes.io/controller-uid", json_string(uid));
    json_object_set_new(labels, "batch.kubernetes.io/job-name", json_string(name));
    json_object_set_new(labels, "controller-uid", json_string(uid));
    json_object_set_new(labels, "job-name", json_string(name));
    json_object_set_new(job, "status", json_object());
    return 0;
}

static json_t *crd_status(const json_t *crd, const json_t *old_status)
{
    char now[32];
    kapi_now(now, sizeof now);
    json_t *stored = json_deep_copy(json_object_get(old_status, "storedVersions"));
    if (!json_is_array(stored)) {
        json_decref(stored);
        stored = json_array();
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(crd, "spec"), "versions"), i, v)
    {
        json_t *name = json_object_get(v, "name");
        int have = 0;
        size_t j;
        json_t *s;
        json_array_foreach(stored, j, s) have |= json_equal(s, name);
        if (json_is_true(json_object_get(v, "storage")) && !have)
            json_array_append(stored, name);
    }
    return json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}], s:O, s:o}",
                     "conditions", "type", "NamesAccepted", "status", "True", "reason",
                     "NoConflicts", "message", "no conflicts found", "lastTransitionTime", now,
                     "type", "Established", "status", "True", "reason", "InitialNamesAccepted",
                     "message", "the initial names have been accepted", "lastTransitionTime",
                     now, "acceptedNames",
                     json_object_get(json_object_get(crd, "spec"), "names"), "storedVersions",
                     stored);
}

static int prepare_create(const struct ktype *t, json_t *obj, struct kerr *e)
{
    const char *name = meta_str(obj, "name");
    if (!strcmp(t->res, "/namespaces")) {
        json_object_set_new(child(meta(obj), "labels"), "kubernetes.io/metadata.name",
                            json_string(name));
        json_object_set_new(obj, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
    } else if (!strcmp(t->res, "/pods")) {
        set_path_default(child(obj, "spec"), "restartPolicy", json_string("Always"));
        json_object_set_new(obj, "status", json_pack("{s:s, s:s}", "phase", "Pending",
                                                     "qosClass", "BestEffort"));
    } else if (!strcmp(t->res, "/persistentvolumeclaims")) {
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Pending"));
    } else if (!strcmp(t->res, "/secrets")) {
        set_path_default(obj, "type", json_string("Opaque"));
        fold_string_data(obj);
    } else if (!strcmp(t->res, "batch/jobs")) {
        return prepare_job(obj, e);
    } else if (!strcmp(t->res, "apiextensions.k8s.io/customresourcedefinitions")) {
        const char *problem = kapi_crd_problem(obj);
        if (problem) {
            kerr_set(e, 422, "Invalid",
                     "CustomResourceDefinition.apiextensions.k8s.io \"%s\" is invalid: %s",
                     name, problem);
            return -1;
        }
        json_object_set_new(obj, "status", crd_status(obj, NULL));
    }
    return 0;
}

/* Writes obj (replacing prev, or NULL) and hands it back; NULL with e (obj
 * freed) when the store fails. */
static json_t *store_obj(struct kapi *api, const struct ktype *t, const char *ns,
                         const char *name, json_t *obj, const char *type, const json_t *prev,
                         struct kerr *e)
{
    int rc = kstore_put(api->store, t->res, t->namespaced ? ns : "", name, obj, type, prev);
    if (rc) {
        store_failed(e, rc);
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* The namespace exists and is not terminating: 0, or -1 with e. */
static int namespace_open(struct kapi *api, const char *ns, struct kerr *e)
{
    int rc;
    json_t *n = kstore_get(api->store, "/namespaces", "", ns, &rc);
    int out = 0;
    if (rc) {
        store_failed(e, rc);
        out = -1;
    } else if (!n) {
        kerr_set(e, 404, "NotFound", "namespaces \"%s\" not found", ns);
        out = -1;
    } else if (meta_str(n, "deletionTimestamp")) {
        kerr_set(e, 403, "Forbidden",
                 "unable to create new content in namespace %s because it is being terminated",
                 ns);
        out = -1;
    }
    json_decref(n);
    return out;
}

/* 5 characters of the apiserver's generateName alphabet. */
static void generated_suffix(char out[6])
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char b[5] = {0};
    kapi_random(b, sizeof b);
    for (int i = 0; i < 5; i++)
        out[i] = alphabet[b[i] % (sizeof alphabet - 1)];
    out[5] = '\0';
}

/* Fills in apiVersion, kind, metadata.namespace (a mismatch is 400). */
static int settle_identity(const struct ktype *t, json_t *obj, const char *ns, struct kerr *e)
{
    if (!json_is_object(obj)) {
        kerr_set(e, 400, "BadRequest", "the body must be a JSON object");
        return -1;
    }
    char av[200];
    snprintf(av, sizeof av, "%s%s%s", t->group, t->group[0] ? "/" : "", t->version);
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (kind && strcmp(kind, t->kind)) {
        kerr_set(e, 400, "BadRequest", "the kind \"%s\" does not match the resource %s (%s)",
                 kind, t->plural, t->kind);
        return -1;
    }
    json_object_set_new(obj, "apiVersion", json_string(av));
    json_object_set_new(obj, "kind", json_string(t->kind));
    json_t *m = child(obj, "metadata");
    const char *body_ns = json_string_value(json_object_get(m, "namespace"));
    if (!t->namespaced) {
        json_object_del(m, "namespace");
    } else if (body_ns && *body_ns && strcmp(body_ns, ns)) {
        kerr_set(e, 400, "BadRequest",
                 "the namespace of the provided object does not match the namespace sent on "
                 "the request");
        return -1;
    } else if (!body_ns || strcmp(body_ns, ns)) { /* ns may point into obj */
        json_object_set_new(m, "namespace", json_string(ns));
    }
    return 0;
}

json_t *kobj_create(struct kapi *api, const struct ktype *t, const char *ns, json_t *obj,
                    struct kerr *e)
{
    char q[256];
    kapi_qualified(t, q, sizeof q);
    if (settle_identity(t, obj, ns, e) != 0) {
        json_decref(obj);
        return NULL;
    }
    json_t *m = meta(obj);
    if (!json_string_value(json_object_get(m, "name"))) {
        const char *gen = json_string_value(json_object_get(m, "generateName"));
        char name[320], suffix[6];
        generated_suffix(suffix);
        snprintf(name, sizeof name, "%s%s", gen ? gen : "", suffix);
        if (gen)
            json_object_set_new(m, "name", json_string(name));
    }
    const char *name = json_string_value(json_object_get(m, "name"));
    if (!name) {
        kerr_set(e, 422, "Invalid",
                 "%s is invalid: metadata.name: Required value: name or generateName is required",
                 t->kind);
        json_decref(obj);
        return NULL;
    }
    const char *problem = name_problem(t, name);
    if (problem) {
        kerr_set(e, 422, "Invalid", "%s \"%s\" is invalid: metadata.name: Invalid value: \"%s\": %s",
                 t->kind, name, name, problem);
        json_decref(obj);
        return NULL;
    }
    if (t->namespaced && namespace_open(api, ns, e) != 0) {
        json_decref(obj);
        return NULL;
    }
    int rc;
    json_t *old = kstore_get(api->store, t->res, t->namespaced ? ns : "", name, &rc);
    if (rc || old) {
        if (rc)
            store_failed(e, rc);
        else
            kerr_set(e, 409, "AlreadyExists", "%s \"%s\" already exists", q, name);
        json_decref(old);
        json_decref(obj);
        return NULL;
    }
    char uid[40], now[32];
    kapi_uuid(uid, sizeof uid);
    kapi_now(now, sizeof now);
    json_object_set_new(m, "uid", json_string(uid));
    json_object_set_new(m, "creationTimestamp", json_string(now));
    json_object_del(m, "resourceVersion");
    json_object_del(m, "deletionTimestamp");
    json_object_del(m, "deletionGracePeriodSeconds");
    if (t->generation)
        json_object_set_new(m, "generation", json_integer(1));
    else
        json_object_del(m, "generation");
    if (t->status)
        json_object_del(obj, "status");
    if (prepare_create(t, obj, e) != 0) {
        json_decref(obj);
        return NULL;
    }
    return store_obj(api, t, ns, name, obj, "ADDED", NULL, e);
}

/* obj without metadata and status: what generation counts. */
static int spec_changed(const json_t *a, const json_t *b)
{
    json_t *x = json_copy((json_t *)a), *y = json_copy((json_t *)b);
    const char *skip[] = {"metadata", "status", "apiVersion", "kind"};
    for (size_t i = 0; i < 4; i++) {
        json_object_del(x, skip[i]);
        json_object_del(y, skip[i]);
    }
    int changed = !json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return changed;
}

static int finalizers_added(const json_t *old, const json_t *now)
{
    size_t i, j;
    json_t *f, *g;
    json_array_foreach(json_object_get(meta(now), "finalizers"), i, f)
    {
        int found = 0;
        json_array_foreach(json_object_get(meta(old), "finalizers"), j, g) found |= json_equal(f, g);
        if (!found)
            return 1;
    }
    return 0;
}

/* The kind's rules for an update of the main resource. */
static int prepare_update(const struct ktype *t, json_t *obj, const json_t *old, struct kerr *e)
{
    if (!strcmp(t->res, "/namespaces")) {
        json_object_set(obj, "spec", json_object_get(old, "spec"));
        json_object_set_new(child(meta(obj), "labels"), "kubernetes.io/metadata.name",
                            json_string(meta_str(obj, "name")));
    } else if (!strcmp(t->res, "/secrets")) {
        fold_string_data(obj);
    } else if (!strcmp(t->res, "batch/jobs")) {
        json_t *sel = json_object_get(json_object_get(old, "spec"), "selector");
        if (sel)
            json_object_set(child(obj, "spec"), "selector", sel);
    } else if (!strcmp(t->res, "apiextensions.k8s.io/customresourcedefinitions")) {
        const char *problem = kapi_crd_problem(obj);
        if (problem) {
            kerr_set(e, 422, "Invalid",
                     "CustomResourceDefinition.apiextensions.k8s.io \"%s\" is invalid: %s",
                     meta_str(obj, "name"), problem);
            return -1;
        }
        json_object_set_new(obj, "status", crd_status(obj, json_object_get(old, "status")));
    }
    return 0;
}

json_t *kobj_update(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                    json_t *obj, int status_only, int put, struct kerr *e)
{
    char q[256];
    kapi_qualified(t, q, sizeof q);
    if (settle_identity(t, obj, ns, e) != 0) {
        json_decref(obj);
        return NULL;
    }
    const char *body_name = meta_str(obj, "name");
    if (body_name && strcmp(body_name, name)) {
        kerr_set(e, 400, "BadRequest",
                 "the name of the object (%s) does not match the name on the URL (%s)",
                 body_name, name);
        json_decref(obj);
        return NULL;
    }
    json_object_set_new(meta(obj), "name", json_string(name));
    int rc;
    json_t *old = kstore_get(api->store, t->res, t->namespaced ? ns : "", name, &rc);
    if (rc) {
        store_failed(e, rc);
        json_decref(obj);
        return NULL;
    }
    if (!old) {
        if (put && !status_only && t->create_on_update)
            return kobj_create(api, t, ns, obj, e);
        kerr_set(e, 404, "NotFound", "%s \"%s\" not found", q, name);
        json_decref(obj);
        return NULL;
    }
    const char *rv = meta_str(obj, "resourceVersion");
    const char *old_rv = meta_str(old, "resourceVersion");
    if (rv && *rv && strcmp(rv, old_rv)) {
        kerr_set(e, 409, "Conflict",
                 "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                 "please apply your changes to the latest version and try again",
                 q, name);
        goto fail;
    }
    if (put && t->needs_rv && (!rv || !*rv)) {
        kerr_set(e, 422, "Invalid",
                 "%s \"%s\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be "
                 "specified for an update",
                 t->kind, name);
        goto fail;
    }
    json_t *next;
    if (status_only) {
        next = json_deep_copy(old);
        json_t *st = json_object_get(obj, "status");
        if (st)
            json_object_set(next, "status", st);
        else
            json_object_del(next, "status");
        json_decref(obj);
        obj = NULL;
    } else {
        next = obj;
        obj = NULL;
        const char *keep[] = {"uid", "creationTimestamp", "deletionTimestamp",
                              "deletionGracePeriodSeconds", "generation"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            json_t *v = json_object_get(meta(old), keep[i]);
            if (v)
                json_object_set(meta(next), keep[i], v);
            else
                json_object_del(meta(next), keep[i]);
        }
        if (t->status) {
            json_t *st = json_object_get(old, "status");
            if (st)
                json_object_set(next, "status", st);
            else
                json_object_del(next, "status");
        }
        if (prepare_update(t, next, old, e) != 0) {
            json_decref(next);
            goto fail;
        }
        if (meta_str(old, "deletionTimestamp") && finalizers_added(old, next)) {
            kerr_set(e, 422, "Invalid",
                     "%s \"%s\" is invalid: metadata.finalizers: Forbidden: no new finalizers "
                     "can be added if the object is being deleted",
                     t->kind, name);
            json_decref(next);
            goto fail;
        }
        if (t->generation && spec_changed(old, next))
            json_object_set_new(meta(next), "generation",
                                json_integer(json_integer_value(
                                                 json_object_get(meta(old), "generation")) +
                                             1));
    }
    json_object_set_new(meta(next), "resourceVersion", json_string(old_rv));
    if (json_equal(next, old)) { /* a no-op keeps the resourceVersion and sends nothing */
        json_decref(next);
        return old;
    }
    if (meta_str(next, "deletionTimestamp") &&
        json_array_size(json_object_get(meta(next), "finalizers")) == 0) {
        json_decref(old);
        if (kobj_finalize(api, t, ns, name, next, e) != 0) {
            json_decref(next);
            return NULL;
        }
        return next;
    }
    next = store_obj(api, t, ns, name, next, "MODIFIED", old, e);
    json_decref(old);
    return next;
fail:
    json_decref(old);
    json_decref(obj);
    return NULL;
}

/* ---- request handlers ---- */

static int dry_run(const struct kreq *r)
{
    return kapi_query(r, "dryRun") != NULL;
}

/* Begins a write; 0, or -1 after answering. */
static int begin(struct kreq *r)
{
    int rc = kstore_begin(r->api->store);
    if (rc)
        kapi_fail_store(r, rc);
    return rc ? -1 : 0;
}

/* Ends a write: the answer obj (stolen) with code, committed unless a dry
 * run; or the failure in e. */
static void finish(struct kreq *r, json_t *obj, int code, const struct kerr *e)
{
    if (!obj) {
        kstore_rollback(r->api->store);
        kapi_fail_kerr(r, e);
        return;
    }
    if (dry_run(r)) {
        kstore_rollback(r->api->store);
    } else {
        int rc = kapi_commit(r->api);
        if (rc) {
            json_decref(obj);
            kapi_fail_store(r, rc);
            return;
        }
    }
    kapi_reply(r, code, obj);
}

void kapi_get(struct kreq *r)
{
    if (kapi_conns_backlogged(r))
        return;
    struct kerr e;
    json_t *obj = kobj_load(r->api, r->t, r->ns, r->name, &e);
    if (!obj)
        kapi_fail_kerr(r, &e);
    else
        kapi_reply(r, 200, obj);
}

void kapi_create(struct kreq *r)
{
    json_t *body = kapi_body(r);
    if (!body || begin(r) != 0) {
        json_decref(body);
        return;
    }
    struct kerr e;
    json_t *obj = kobj_create(r->api, r->t, r->ns, body, &e);
    finish(r, obj, 201, &e);
}

void kapi_update(struct kreq *r)
{
    json_t *body = kapi_body(r);
    if (!body || begin(r) != 0) {
        json_decref(body);
        return;
    }
    struct kerr e;
    int existed = 0;
    {
        int rc;
        json_t *old = kstore_get(r->api->store, r->t->res, r->t->namespaced ? r->ns : "",
                                 r->name, &rc);
        existed = old != NULL;
        json_decref(old);
    }
    json_t *obj = kobj_update(r->api, r->t, r->ns, r->name, body, r->sub[0] != '\0', 1, &e);
    finish(r, obj, existed ? 200 : 201, &e);
}

/* Drops a strategic merge patch's directives ("$patch", "$retainKeys",
 * "$setElementOrder/...", "$deleteFromPrimitiveList/..."). */
static void drop_directives(json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) drop_directives(x);
        return;
    }
    const char *k;
    json_t *x;
    void *tmp;
    json_object_foreach_safe(v, tmp, k, x)
    {
        if (k[0] == '$')
            json_object_del(v, k);
        else
            drop_directives(x);
    }
}

static int media_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';');
}

void kapi_patch(struct kreq *r)
{
    const char *ct =
        evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
    int merge = media_is(ct, "application/merge-patch+json");
    int strategic = media_is(ct, "application/strategic-merge-patch+json");
    int jsonpatch = media_is(ct, "application/json-patch+json");
    int apply = media_is(ct, "application/apply-patch+yaml");
    if (!merge && !strategic && !jsonpatch && !apply) {
        kapi_fail(r, 415, "UnsupportedMediaType",
                  "the body of the request was in an unknown format - accepted media types "
                  "include: application/json-patch+json, application/merge-patch+json, "
                  "application/apply-patch+yaml, application/strategic-merge-patch+json");
        return;
    }
    json_t *patch = kapi_body(r);
    if (!patch || begin(r) != 0) {
        json_decref(patch);
        return;
    }
    struct kerr e;
    json_t *target = kobj_load(r->api, r->t, r->ns, r->name, &e);
    if (!target && apply && !e.store_rc && !r->sub[0]) {
        /* Server-side apply of a new object creates it. */
        json_t *obj = kobj_create(r->api, r->t, r->ns, patch, &e);
        finish(r, obj, 201, &e);
        return;
    }
    if (!target) {
        json_decref(patch);
        finish(r, NULL, 0, &e);
        return;
    }
    const char *problem = NULL;
    if (jsonpatch) {
        if (kapi_json_patch(&target, patch, &problem) != 0) {
            json_decref(patch);
            json_decref(target);
            kerr_set(&e, 422, "Invalid", "the JSON patch cannot be applied: %s", problem);
            finish(r, NULL, 0, &e);
            return;
        }
    } else if (!json_is_object(patch)) {
        json_decref(patch);
        json_decref(target);
        kerr_set(&e, 400, "BadRequest", "a merge patch must be a JSON object");
        finish(r, NULL, 0, &e);
        return;
    } else {
        if (strategic || apply)
            drop_directives(patch);
        kapi_merge_patch(target, patch);
    }
    json_decref(patch);
    json_t *obj = kobj_update(r->api, r->t, r->ns, r->name, target, r->sub[0] != '\0', 0, &e);
    finish(r, obj, 200, &e);
}

int kapi_commit(struct kapi *api)
{
    json_t *events = NULL;
    int rc = kstore_commit(api->store, &events);
    if (rc)
        return rc;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (!strcmp(json_string_value(json_object_get(ev, "res")),
                    "apiextensions.k8s.io/customresourcedefinitions"))
            kapi_types_crd(api, json_object_get(ev, "object"),
                           !strcmp(json_string_value(json_object_get(ev, "type")), "DELETED"));
        kapi_watch_notify(api, ev);
    }
    json_decref(events);
    return 0;
}
