/* kubeapi_delete.c — deletes as the apiserver and its controllers do them:
 * finalizers hold an object (deletionTimestamp set, still readable) until
 * the last is removed; owner references cascade (Background: dependents
 * whose owners are all gone are deleted; Orphan: their references to the
 * owner are dropped); a namespace goes Terminating, its content is
 * deleted, then it goes; a CRD takes its objects with it. The controllers'
 * work happens in the same transaction as the delete that causes it. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "kubeapi.h"

#define MAX_CASCADE_DEPTH 16

static const char *meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* Collects the keys [res, ns, name] a scan visits. */
static int collect(const char *res, const char *ns, const char *name, const char *body, void *arg)
{
    (void)body;
    return json_array_append_new(arg, json_pack("[s,s,s]", res, ns, name)) != 0;
}

static void store_err(struct kerr *e, int rc)
{
    kerr_set(e, rc == KSTORE_FULL ? 507 : 503, "", "store");
    e->store_rc = rc;
}

static json_t *delete_at(struct kapi *api, const struct ktype *t, const char *ns,
                         const char *name, const char *policy, const json_t *pre, int *kept,
                         struct kerr *e, int depth);

/* Drops the references to uid from the dependents of uid; with cascade,
 * deletes those left without owners. */
static int cascade(struct kapi *api, const char *uid, int cascade_delete, struct kerr *e,
                   int depth)
{
    json_t *keys = json_array();
    int rc = keys ? kstore_dependents(api->store, uid, collect, keys) : KSTORE_IO;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (rc)
            break;
        const struct ktype *t = kapi_type_by_res(api, json_string_value(json_array_get(k, 0)));
        const char *ns = json_string_value(json_array_get(k, 1));
        const char *name = json_string_value(json_array_get(k, 2));
        json_t *dep = t ? kstore_get(api->store, t->res, ns, name, &rc) : NULL;
        if (!dep)
            continue;
        json_t *refs = json_object_get(json_object_get(dep, "metadata"), "ownerReferences");
        for (size_t j = json_array_size(refs); j-- > 0;) {
            const char *ref_uid = json_string_value(json_object_get(json_array_get(refs, j), "uid"));
            if (ref_uid && !strcmp(ref_uid, uid))
                json_array_remove(refs, j);
        }
        if (cascade_delete && json_array_size(refs) == 0) {
            int kept = 0;
            json_t *last = delete_at(api, t, ns, name, "Background", NULL, &kept, e, depth + 1);
            if (!last && e->code != 404)
                rc = e->store_rc ? e->store_rc : KSTORE_IO;
            json_decref(last);
        } else {
            if (json_array_size(refs) == 0)
                json_object_del(json_object_get(dep, "metadata"), "ownerReferences");
            rc = kstore_put(api->store, t->res, ns, name, dep, "MODIFIED", NULL);
        }
        json_decref(dep);
    }
    json_decref(keys);
    if (rc)
        store_err(e, rc);
    return rc;
}

static int stop_at_first(const char *res, const char *ns, const char *name, const char *body,
                         void *arg)
{
    (void)res, (void)ns, (void)name, (void)body;
    *(int *)arg = 1;
    return 1;
}

/* Removes a terminating namespace once nothing is left in it. */
static int finish_namespace(struct kapi *api, const char *ns, struct kerr *e)
{
    int rc;
    json_t *n = kstore_get(api->store, "/namespaces", "", ns, &rc);
    if (!rc && n && meta_str(n, "deletionTimestamp")) {
        int any = 0;
        rc = kstore_scan(api->store, NULL, ns, NULL, NULL, stop_at_first, &any);
        if (!rc && !any) {
            json_object_set_new(n, "spec", json_object());
            rc = kstore_remove(api->store, "/namespaces", "", ns, n);
        }
    }
    json_decref(n);
    if (rc)
        store_err(e, rc);
    return rc;
}

/* Deletes everything in a namespace (finalizers still hold what they hold). */
static int empty_namespace(struct kapi *api, const char *ns, struct kerr *e, int depth)
{
    json_t *keys = json_array();
    int rc = keys ? kstore_scan(api->store, NULL, ns, NULL, NULL, collect, keys) : KSTORE_IO;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const struct ktype *t = kapi_type_by_res(api, json_string_value(json_array_get(k, 0)));
        if (rc || !t)
            continue;
        int kept = 0;
        json_t *last = delete_at(api, t, ns, json_string_value(json_array_get(k, 2)),
                                 "Background", NULL, &kept, e, depth + 1);
        if (!last && e->code != 404)
            rc = e->store_rc ? e->store_rc : KSTORE_IO;
        json_decref(last);
    }
    json_decref(keys);
    if (rc)
        store_err(e, rc);
    return rc ? rc : finish_namespace(api, ns, e);
}

/* Removes every object of the kind a deleted CRD defined. */
static int drop_crd_objects(struct kapi *api, const json_t *crd, struct kerr *e)
{
    const json_t *spec = json_object_get(crd, "spec");
    char res[256];
    snprintf(res, sizeof res, "%s/%s", json_string_value(json_object_get(spec, "group")),
             json_string_value(json_object_get(json_object_get(spec, "names"), "plural")));
    json_t *keys = json_array();
    int rc = keys ? kstore_scan(api->store, res, NULL, NULL, NULL, collect, keys) : KSTORE_IO;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *ns = json_string_value(json_array_get(k, 1));
        const char *name = json_string_value(json_array_get(k, 2));
        json_t *obj = rc ? NULL : kstore_get(api->store, res, ns, name, &rc);
        if (obj)
            rc = kstore_remove(api->store, res, ns, name, obj);
        json_decref(obj);
    }
    json_decref(keys);
    if (rc)
        store_err(e, rc);
    return rc;
}

static int finalize_at(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                       json_t *last, struct kerr *e, int depth)
{
    const char *scope_ns = t->namespaced ? ns : "";
    int rc = kstore_remove(api->store, t->res, scope_ns, name, last);
    if (rc) {
        store_err(e, rc);
        return rc;
    }
    if (!strcmp(t->res, "apiextensions.k8s.io/customresourcedefinitions") &&
        drop_crd_objects(api, last, e))
        return e->store_rc;
    const char *uid = meta_str(last, "uid");
    if (uid && depth < MAX_CASCADE_DEPTH && cascade(api, uid, 1, e, depth))
        return e->store_rc;
    return t->namespaced ? finish_namespace(api, ns, e) : 0;
}

int kobj_finalize(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                  json_t *last, struct kerr *e)
{
    return finalize_at(api, t, ns, name, last, e, 0);
}

static int preconditions_hold(const struct ktype *t, const json_t *obj, const json_t *pre,
                              struct kerr *e)
{
    static const char *const fields[][2] = {{"uid", "UID"},
                                            {"resourceVersion", "ResourceVersion"}};
    char q[256];
    kapi_qualified(t, q, sizeof q);
    for (size_t i = 0; i < 2; i++) {
        const char *want = json_string_value(json_object_get(pre, fields[i][0]));
        const char *have = meta_str(obj, fields[i][0]);
        if (want && strcmp(want, have)) {
            kerr_set(e, 409, "Conflict",
                     "Operation cannot be fulfilled on %s \"%s\": Precondition failed: %s in "
                     "precondition: %s, %s in object meta: %s",
                     q, meta_str(obj, "name"), fields[i][1], want, fields[i][1], have);
            return 0;
        }
    }
    return 1;
}

static json_t *delete_at(struct kapi *api, const struct ktype *t, const char *ns,
                         const char *name, const char *policy, const json_t *pre, int *kept,
                         struct kerr *e, int depth)
{
    *kept = 0;
    json_t *obj = kobj_load(api, t, ns, name, e);
    if (!obj)
        return NULL;
    if (!preconditions_hold(t, obj, pre, e)) {
        json_decref(obj);
        return NULL;
    }
    if (!policy)
        policy = t->orphans ? "Orphan" : "Background";
    const char *uid = meta_str(obj, "uid");
    if (!strcmp(policy, "Orphan") && uid && cascade(api, uid, 0, e, depth)) {
        json_decref(obj);
        return NULL;
    }
    int is_ns = !strcmp(t->res, "/namespaces");
    if (is_ns || json_array_size(json_object_get(json_object_get(obj, "metadata"), "finalizers"))) {
        if (!meta_str(obj, "deletionTimestamp")) {
            char now[32];
            kapi_now(now, sizeof now);
            json_t *m = json_object_get(obj, "metadata");
            json_object_set_new(m, "deletionTimestamp", json_string(now));
            json_object_set_new(m, "deletionGracePeriodSeconds", json_integer(0));
            if (t->generation)
                json_object_set_new(m, "generation",
                                    json_integer(json_integer_value(json_object_get(m, "generation")) + 1));
            if (is_ns)
                json_object_set_new(json_object_get(obj, "status") ? json_object_get(obj, "status")
                                                                   : obj,
                                    "phase", json_string("Terminating"));
            int rc = kstore_put(api->store, t->res, t->namespaced ? ns : "", name, obj,
                                "MODIFIED", NULL);
            if (rc) {
                store_err(e, rc);
                json_decref(obj);
                return NULL;
            }
        }
        if (is_ns && empty_namespace(api, name, e, depth)) {
            json_decref(obj);
            return NULL;
        }
        *kept = 1;
        return obj;
    }
    if (finalize_at(api, t, ns, name, obj, e, depth)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

json_t *kobj_delete(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                    const char *policy, const json_t *preconditions, int *kept, struct kerr *e)
{
    return delete_at(api, t, ns, name, policy, preconditions, kept, e, 0);
}

/* ---- request handlers ---- */

/* The propagation policy of a DELETE (query or DeleteOptions body); 0, or
 * -1 after answering 400. */
static int delete_options(struct kreq *r, json_t **opts, const char **policy)
{
    *opts = NULL;
    *policy = kapi_query(r, "propagationPolicy");
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    if (evbuffer_get_length(in) > 0) {
        *opts = kapi_body(r);
        if (!*opts)
            return -1;
        const char *p = json_string_value(json_object_get(*opts, "propagationPolicy"));
        if (p)
            *policy = p;
        json_t *orphan = json_object_get(*opts, "orphanDependents");
        if (!p && json_is_boolean(orphan))
            *policy = json_is_true(orphan) ? "Orphan" : "Background";
    }
    const char *orphan_q = kapi_query(r, "orphanDependents");
    if (!*policy && orphan_q)
        *policy = !strcmp(orphan_q, "true") ? "Orphan" : "Background";
    if (*policy && strcmp(*policy, "Background") && strcmp(*policy, "Foreground") &&
        strcmp(*policy, "Orphan")) {
        kapi_fail(r, 400, "BadRequest", "propagationPolicy: Unsupported value: \"%s\"", *policy);
        json_decref(*opts);
        return -1;
    }
    return 0;
}

static void reply_deleted(struct kreq *r, json_t *last, int kept)
{
    if (kept || r->t->returns_object) {
        kapi_reply(r, 200, last);
        return;
    }
    json_t *details = json_pack("{s:s, s:s, s:s}", "name", r->name, "kind", r->t->plural, "uid",
                                meta_str(last, "uid"));
    if (details && r->t->group[0])
        json_object_set_new(details, "group", json_string(r->t->group));
    json_decref(last);
    kapi_reply(r, 200,
               json_pack("{s:s, s:s, s:{}, s:s, s:o}", "kind", "Status", "apiVersion", "v1",
                         "metadata", "status", "Success", "details", details));
}

/* Commits unless a dry run; 0, or -1 after answering. */
static int settle(struct kreq *r)
{
    if (kapi_query(r, "dryRun")) {
        kstore_rollback(r->api->store);
        return 0;
    }
    int rc = kapi_commit(r->api);
    if (rc)
        kapi_fail_store(r, rc);
    return rc ? -1 : 0;
}

void kapi_delete(struct kreq *r)
{
    json_t *opts;
    const char *policy;
    if (delete_options(r, &opts, &policy) != 0)
        return;
    int rc = kstore_begin(r->api->store);
    if (rc) {
        json_decref(opts);
        kapi_fail_store(r, rc);
        return;
    }
    struct kerr e;
    int kept = 0;
    json_t *last = kobj_delete(r->api, r->t, r->ns, r->name, policy,
                               json_object_get(opts, "preconditions"), &kept, &e);
    json_decref(opts);
    if (!last) {
        kstore_rollback(r->api->store);
        kapi_fail_kerr(r, &e);
    } else if (settle(r) == 0) {
        reply_deleted(r, last, kept);
    } else {
        json_decref(last);
    }
}

struct collection_pick {
    struct kselector *sel;
    json_t *keys;
};

static int pick(const char *res, const char *ns, const char *name, const char *body, void *arg)
{
    struct collection_pick *p = arg;
    json_t *obj = json_loads(body, 0, NULL);
    if (obj && kapi_selector_match(p->sel, obj))
        json_array_append_new(p->keys, json_pack("[s,s,s]", res, ns, name));
    json_decref(obj);
    return 0;
}

void kapi_delete_collection(struct kreq *r)
{
    json_t *opts;
    const char *policy, *problem = NULL;
    if (delete_options(r, &opts, &policy) != 0)
        return;
    struct collection_pick p = {
        kapi_selector_parse(kapi_query(r, "labelSelector"), kapi_query(r, "fieldSelector"),
                            &problem),
        json_array()};
    json_t *items = json_array();
    int rc = !p.sel ? 0 : kstore_begin(r->api->store);
    if (!p.sel) {
        kapi_fail(r, 400, "BadRequest", "%s", problem);
    } else if (rc) {
        kapi_fail_store(r, rc);
    } else {
        rc = kstore_scan(r->api->store, r->t->res, r->t->namespaced && r->ns[0] ? r->ns : NULL,
                         NULL, NULL, pick, &p);
        size_t i;
        json_t *k;
        struct kerr e = {0};
        json_array_foreach(p.keys, i, k)
        {
            int kept;
            json_t *last = rc ? NULL
                              : kobj_delete(r->api, r->t, json_string_value(json_array_get(k, 1)),
                                            json_string_value(json_array_get(k, 2)), policy,
                                            NULL, &kept, &e);
            if (last)
                json_array_append_new(items, last);
            else if (!rc && e.code != 404)
                rc = e.store_rc ? e.store_rc : KSTORE_IO;
        }
        if (rc) {
            kstore_rollback(r->api->store);
            kapi_fail_store(r, rc);
        } else if (settle(r) == 0) {
            char kind[80], av[200];
            snprintf(kind, sizeof kind, "%sList", r->t->kind);
            snprintf(av, sizeof av, "%s%s%s", r->t->group, r->t->group[0] ? "/" : "",
                     r->t->version);
            kapi_reply(r, 200, json_pack("{s:s, s:s, s:{}, s:O}", "kind", kind, "apiVersion", av,
                                         "metadata", "items", items));
        }
    }
    json_decref(items);
    json_decref(p.keys);
    json_decref(opts);
    kapi_selector_free(p.sel);
}
