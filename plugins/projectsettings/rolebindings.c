/* rolebindings.c — one RoleBinding per groupAccess entry, kept in line
 * with the list: created for new entries, updated when drifted, deleted
 * when their entry is gone. The original only ever created them, so a
 * group removed from the settings kept its access. Each RoleBinding is
 * controlled by the ProjectSettings (deleting it removes them by garbage
 * collection) and carries our own label; only RoleBindings with both that
 * label and the managed-by label are ever deleted. */
#include "ps.h"

#include <stdio.h>
#include <string.h>

#define RBAC_GROUP "rbac.authorization.k8s.io"
#define SELECTOR AMB_MANAGED_BY_LABEL "=" AMB_MANAGED_BY_VALUE "," PS_GROUP_LABEL "=true"

static json_t *build(const json_t *ps, const char *name, const char *group, const char *role)
{
    char cluster_role[64];
    snprintf(cluster_role, sizeof cluster_role, PS_CLUSTER_ROLE_PREFIX "%s", role);
    json_t *rb = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:{s:s}}, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}",
        "apiVersion", RBAC_GROUP "/v1", "kind", "RoleBinding", "metadata", "name", name,
        "namespace", ps_meta(ps, "namespace"), "labels", PS_GROUP_LABEL, "true", "annotations",
        PS_GROUP_ANNOTATION, group, "roleRef", "apiGroup", RBAC_GROUP, "kind", "ClusterRole",
        "name", cluster_role, "subjects", "apiGroup", RBAC_GROUP, "kind", "Group", "name", group);
    if (rb && ps_host->set_controller_ref(rb, ps) != AMB_OK) {
        json_decref(rb);
        return NULL;
    }
    return rb;
}

json_t *ps_rb_desired(const json_t *ps)
{
    json_t *out = json_array();
    const json_t *ga = json_object_get(json_object_get(ps, "spec"), "groupAccess");
    size_t i;
    const json_t *e;
    if (!out)
        return NULL;
    json_array_foreach(ga, i, e) {
        const char *group = json_string_value(json_object_get(e, "groupName"));
        const char *role = json_string_value(json_object_get(e, "role"));
        char name[PS_RB_NAME_MAX];
        if (ps_rb_name(group, role, name, sizeof name) != AMB_OK)
            continue;
        int dup = 0;
        size_t j;
        const json_t *d;
        json_array_foreach(out, j, d) dup |= strcmp(ps_meta(d, "name"), name) == 0;
        if (dup)
            continue;
        json_t *rb = build(ps, name, group, role);
        if (!rb || json_array_append_new(out, rb) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static const char *label(const json_t *obj, const char *k)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), k));
}

static const char *annotation(const json_t *obj, const char *k)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), k));
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The uid of desired's controller (the ProjectSettings). */
static const char *owner_uid(const json_t *desired)
{
    const json_t *refs = json_object_get(json_object_get(desired, "metadata"), "ownerReferences");
    return json_string_value(json_object_get(json_array_get(refs, 0), "uid"));
}

static int controlled_by(const json_t *obj, const char *uid)
{
    const json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r) {
        if (json_is_true(json_object_get(r, "controller")))
            return streq(json_string_value(json_object_get(r, "uid")), uid);
    }
    return 0;
}

int ps_rb_matches(const json_t *existing, const json_t *desired)
{
    return json_equal(json_object_get(existing, "roleRef"), json_object_get(desired, "roleRef")) &&
           json_equal(json_object_get(existing, "subjects"),
                      json_object_get(desired, "subjects")) &&
           streq(label(existing, PS_GROUP_LABEL), "true") &&
           streq(label(existing, AMB_MANAGED_BY_LABEL), AMB_MANAGED_BY_VALUE) &&
           streq(annotation(existing, PS_GROUP_ANNOTATION),
                 annotation(desired, PS_GROUP_ANNOTATION)) &&
           controlled_by(existing, owner_uid(desired));
}

static void event(struct amb_ctx *ctx, const json_t *ps, const char *reason, const json_t *rb)
{
    char msg[512];
    snprintf(msg, sizeof msg, "RoleBinding %s: group %s, ClusterRole %s", ps_meta(rb, "name"),
             annotation(rb, PS_GROUP_ANNOTATION) ? annotation(rb, PS_GROUP_ANNOTATION) : "?",
             json_string_value(json_object_get(json_object_get(rb, "roleRef"), "name"))
                 ? json_string_value(json_object_get(json_object_get(rb, "roleRef"), "name"))
                 : "?");
    ps_host->emit_event(ctx, ps, "Normal", reason, msg);
}

/* Brings existing (drifted) in line with desired in place. roleRef cannot
 * change in Kubernetes, so a different roleRef means delete and create. */
static int repair(struct amb_ctx *ctx, const char *ns, const json_t *existing,
                  const json_t *desired, struct amb_error *err)
{
    if (!json_equal(json_object_get(existing, "roleRef"), json_object_get(desired, "roleRef"))) {
        int rc = ps_host->kube_delete(ctx, &ps_rolebindings, ns, ps_meta(existing, "name"),
                                      "Background", err);
        return rc ? rc : ps_host->kube_create(ctx, &ps_rolebindings, ns, desired, NULL, err);
    }
    json_t *u = json_deep_copy(existing);
    json_t *meta = json_object_get(u, "metadata");
    const json_t *dmeta = json_object_get(desired, "metadata");
    int rc = AMB_ENOMEM;
    if (!u || !json_is_object(meta))
        goto out;
    for (const char *const *k = (const char *const[]){"labels", "annotations", NULL}; *k; k++) {
        json_t *m = json_object_get(meta, *k);
        if (!json_is_object(m)) {
            m = json_object();
            if (json_object_set_new(meta, *k, m) != 0)
                goto out;
        }
        if (json_object_update(m, json_object_get(dmeta, *k)) != 0)
            goto out;
    }
    if (json_object_set(meta, "ownerReferences", json_object_get(dmeta, "ownerReferences")) ||
        json_object_set(u, "subjects", json_object_get(desired, "subjects")))
        goto out;
    rc = ps_host->kube_update(ctx, &ps_rolebindings, ns, u, NULL, err);
out:
    json_decref(u);
    return rc == AMB_ENOMEM ? ps_host->error_set(err, rc, NULL, "out of memory") : rc;
}

static const json_t *find(const json_t *list, const char *name)
{
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) if (streq(ps_meta(e, "name"), name)) return e;
    return NULL;
}

int ps_rb_sync(struct amb_ctx *ctx, const json_t *ps, struct ps_rb_counts *counts,
               struct amb_error *err)
{
    const char *ns = ps_meta(ps, "namespace");
    json_t *desired = ps_rb_desired(ps), *existing = NULL, *fetched = NULL;
    size_t i;
    const json_t *d, *e;
    int rc;
    memset(counts, 0, sizeof *counts);
    if (!desired)
        return ps_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    rc = ps_host->kube_list(ctx, &ps_rolebindings, ns, SELECTOR, &existing, err);
    if (rc != AMB_OK)
        goto out;
    json_array_foreach(desired, i, d) {
        const char *name = ps_meta(d, "name");
        e = find(existing, name);
        if (!e) {
            /* Not in the labelled list: it may still exist without our
             * label (drifted), so ask before creating. */
            json_decref(fetched);
            fetched = NULL;
            rc = ps_host->kube_get(ctx, &ps_rolebindings, ns, name, &fetched, err);
            if (rc != AMB_OK && rc != AMB_ENOTFOUND)
                goto out;
            e = fetched;
        }
        if (!e) {
            rc = ps_host->kube_create(ctx, &ps_rolebindings, ns, d, NULL, err);
            if (rc != AMB_OK)
                goto out;
            counts->created++;
            event(ctx, ps, "RoleBindingCreated", d);
        } else if (!ps_rb_matches(e, d)) {
            rc = repair(ctx, ns, e, d, err);
            if (rc != AMB_OK)
                goto out;
            counts->updated++;
            event(ctx, ps, "RoleBindingUpdated", d);
        }
        counts->total++;
    }
    json_array_foreach(existing, i, e) {
        if (find(desired, ps_meta(e, "name")))
            continue;
        rc = ps_host->kube_delete(ctx, &ps_rolebindings, ns, ps_meta(e, "name"), "Background",
                                  err);
        if (rc != AMB_OK)
            goto out;
        counts->deleted++;
        event(ctx, ps, "RoleBindingDeleted", e);
    }
    rc = AMB_OK;
out:
    json_decref(fetched);
    json_decref(existing);
    json_decref(desired);
    return rc;
}
