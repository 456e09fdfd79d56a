/* routes_permissions.c — who may do what in a project: RoleBindings
 * labelled ambient-code.io/permission=true that bind a user or a group to
 * one of the ClusterRoles ambient-project-{admin,edit,view}
 * (deploy/rbac/project-roles.yaml).
 *
 * Everything here runs with the caller's token, so Kubernetes RBAC (and its
 * escalation check: granting a role needs `bind` on it or all its rights)
 * has the last word; the access review before it only gives a clear 403.
 * Also api_subject_part and api_rbac_subject, shared with routes_projects.c
 * (the creator's binding is a permission binding too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define RBAC_GROUP "rbac.authorization.k8s.io"
#define SA_PREFIX "system:serviceaccount:"
#define SUBJECT_MAX 253 /* bytes of a subject name */

static const struct amb_resource res_rolebindings = {RBAC_GROUP, "v1", "RoleBinding",
                                                     "rolebindings", 1};

/* ------------------------------------------------------------------------
 * Names and subjects (shared, declared in api.h)
 * ------------------------------------------------------------------------ */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void api_subject_part(const char *subject, char *out, size_t len)
{
    size_t n = 0;
    if (len < API_SUBJECT_PART_MAX) {
        if (len)
            out[0] = '\0';
        return;
    }
    if (amb_is_dns_label(subject) && strlen(subject) <= 40) {
        snprintf(out, len, "%s", subject);
        return;
    }
    /* Anything else is made readable, then told apart by a hash of the
     * original: "Team_A" and "team a" never share a binding. */
    for (const char *s = subject; *s && n < 30; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (ok)
            out[n++] = c;
        else if (n > 0 && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    snprintf(out + n, len - n, "%s%08x", n ? "-" : "s-", (unsigned)fnv1a(subject));
}

json_t *api_rbac_subject(const char *type, const char *name)
{
    if (strcmp(type, "group") == 0)
        return json_pack("{s:s,s:s,s:s}", "kind", "Group", "apiGroup", RBAC_GROUP, "name", name);
    /* A service account's user name "system:serviceaccount:NS:NAME" is bound
     * as the ServiceAccount itself, as the original does. */
    if (strncmp(name, SA_PREFIX, strlen(SA_PREFIX)) == 0) {
        const char *ns = name + strlen(SA_PREFIX), *colon = strchr(ns, ':');
        if (colon && colon > ns && colon[1] && !strchr(colon + 1, ':'))
            return json_pack("{s:s,s:s%,s:s}", "kind", "ServiceAccount", "namespace", ns,
                             (size_t)(colon - ns), "name", colon + 1);
    }
    return json_pack("{s:s,s:s,s:s}", "kind", "User", "apiGroup", RBAC_GROUP, "name", name);
}

/* The user or group a binding's subject names, as the API shows it:
 * type "user" or "group"; name written into buf. 0, or -1 for a subject
 * of another kind. */
static int subject_of(const json_t *s, const char *binding_ns, const char **type, char *buf,
                      size_t len)
{
    const char *kind = json_string_value(json_object_get(s, "kind"));
    const char *name = json_string_value(json_object_get(s, "name"));
    const char *ns = json_string_value(json_object_get(s, "namespace"));
    if (!kind || !name)
        return -1;
    if (strcmp(kind, "User") == 0 || strcmp(kind, "Group") == 0) {
        *type = kind[0] == 'U' ? "user" : "group";
        snprintf(buf, len, "%s", name);
        return 0;
    }
    if (strcmp(kind, "ServiceAccount") == 0) {
        *type = "user";
        snprintf(buf, len, SA_PREFIX "%s:%s", ns && *ns ? ns : binding_ns, name);
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Our bindings
 * ------------------------------------------------------------------------ */

static const char *const roles[] = {"admin", "edit", "view"};

/* "admin", "edit" or "view" for a binding to ambient-project-<role>; NULL
 * for anything else. */
static const char *binding_role(const json_t *rb)
{
    const json_t *ref = json_object_get(rb, "roleRef");
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    if (!kind || !name || strcmp(kind, "ClusterRole") != 0 ||
        strncmp(name, "ambient-project-", 16) != 0)
        return NULL;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(name + 16, roles[i]) == 0)
            return roles[i];
    return NULL;
}

/* Ours: our label, or the original platform's (so bindings it made show up). */
static int is_permission_binding(const json_t *rb)
{
    const json_t *labels = json_object_get(json_object_get(rb, "metadata"), "labels");
    const char *ours = json_string_value(json_object_get(labels, API_PERMISSION_LABEL));
    const char *app = json_string_value(json_object_get(labels, "app"));
    return (ours && strcmp(ours, "true") == 0) || (app && strcmp(app, "ambient-permission") == 0);
}

static int subject_is(const json_t *s, const char *ns, const char *type, const char *name)
{
    const char *t;
    char buf[SUBJECT_MAX + 80];
    return subject_of(s, ns, &t, buf, sizeof buf) == 0 && strcmp(t, type) == 0 &&
           strcmp(buf, name) == 0;
}

/* The permission bindings in project, read as the caller (new ref). */
static int list_bindings(struct api_req *r, const char *project, json_t **out,
                         struct amb_error *err)
{
    struct amb_ctx *ctx = api_ctx(r);
    json_t *all = NULL;
    *out = NULL;
    if (!ctx)
        return AMB_EUNAUTHORIZED; /* replied */
    int rc = api_host->kube_list(ctx, &res_rolebindings, project, NULL, &all, err);
    if (rc != AMB_OK)
        return rc;
    json_t *mine = json_array();
    size_t i;
    json_t *rb;
    json_array_foreach(all, i, rb)
        if (mine && is_permission_binding(rb) && binding_role(rb))
            json_array_append(mine, rb);
    json_decref(all);
    *out = mine;
    return mine ? AMB_OK : AMB_ENOMEM;
}

/* ------------------------------------------------------------------------
 * GET /api/projects/:project/permissions
 * ------------------------------------------------------------------------ */

static int seen(const json_t *items, const char *type, const char *name, const char *role)
{
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it) {
        if (strcmp(json_string_value(json_object_get(it, "subjectType")), type) == 0 &&
            strcmp(json_string_value(json_object_get(it, "subjectName")), name) == 0 &&
            strcmp(json_string_value(json_object_get(it, "role")), role) == 0)
            return 1;
    }
    return 0;
}

static void add_items(json_t *items, const json_t *rb, const char *project)
{
    const char *role = binding_role(rb), *type;
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(rb, "subjects"), i, s) {
        char name[SUBJECT_MAX + 80];
        if (subject_of(s, project, &type, name, sizeof name) != 0 ||
            seen(items, type, name, role))
            continue;
        json_array_append_new(items, json_pack("{s:s,s:s,s:s}", "subjectType", type,
                                               "subjectName", name, "role", role));
    }
}

/* Reviews verb on rolebindings in project (the rights permissions need). */
static int require_bindings(struct api_req *r, const char *verb, const char *project)
{
    struct api_access what = {verb, RBAC_GROUP, "rolebindings", NULL, project, NULL};
    return api_require(r, &what);
}

/* The project param, checked, reviewed (verb on rolebindings) and a
 * project (the review's gate, project_gate.c), or NULL after replying. */
static const char *project_for(struct api_req *r, const char *verb)
{
    const char *p = api_project_param(r);
    return p && require_bindings(r, verb, p) == 0 ? p : NULL;
}

static void list_permissions(struct api_req *r)
{
    const char *p = project_for(r, "list");
    json_t *bindings = NULL, *items = NULL;
    if (!p)
        return;
    struct amb_error *err = api_host->error_new();
    int rc = err ? list_bindings(r, p, &bindings, err) : AMB_ENOMEM;
    items = rc == AMB_OK ? json_array() : NULL;
    if (rc == AMB_OK && items) {
        size_t i;
        json_t *rb;
        json_array_foreach(bindings, i, rb)
            add_items(items, rb, p);
        api_reply_json(r, 200, json_pack("{s:O}", "items", items));
    } else {
        api_reply_amb(r, rc == AMB_OK ? AMB_ENOMEM : rc, err);
    }
    json_decref(items);
    json_decref(bindings);
    api_host->error_free(err);
}

/* ------------------------------------------------------------------------
 * POST /api/projects/:project/permissions
 * ------------------------------------------------------------------------ */

/* A user or group name: 1..253 bytes of printable characters, no '/',
 * not "." or ".." (it never reaches a URL, but it is shown and logged). */
static int subject_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SUBJECT_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
        s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
            return 0;
    }
    return 1;
}

static int subject_type_ok(const char *s)
{
    return s && (strcmp(s, "user") == 0 || strcmp(s, "group") == 0);
}

static int role_ok(const char *s)
{
    for (size_t i = 0; s && i < 3; i++)
        if (strcmp(s, roles[i]) == 0)
            return 1;
    return 0;
}

struct grant {
    const char *type, *name, *role;
};

static int grant_body(struct api_req *r, const json_t *body, struct grant *g)
{
    const json_t *t = json_object_get(body, "subjectType");
    const json_t *n = json_object_get(body, "subjectName");
    g->type = json_string_value(t);
    g->name = json_string_value(n);
    g->role = json_string_value(json_object_get(body, "role"));
    if (!subject_type_ok(g->type)) {
        api_reply_field(r, 400, "subjectType", "must be user or group");
        return -1;
    }
    if (!g->name || strlen(g->name) != json_string_length(n) || !subject_name_ok(g->name)) {
        api_reply_field(r, 400, "subjectName",
                        "must be 1 to 253 printable characters without '/' or '\\'");
        return -1;
    }
    if (!role_ok(g->role)) {
        api_reply_field(r, 400, "role", "must be admin, edit or view");
        return -1;
    }
    return 0;
}

/* ambient-permission-<role>-<subject part>-<type>: the type last keeps a
 * user and a group of one name apart, as the original names them. */
static json_t *grant_binding(const char *project, const struct grant *g)
{
    char part[API_SUBJECT_PART_MAX], name[sizeof part + 48], role_ref[40];
    api_subject_part(g->name, part, sizeof part);
    snprintf(name, sizeof name, "ambient-permission-%s-%s-%s", g->role, part, g->type);
    snprintf(role_ref, sizeof role_ref, "ambient-project-%s", g->role);
    json_t *subject = api_rbac_subject(g->type, g->name);
    const char *kind = json_string_value(json_object_get(subject, "kind"));
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}},"
                     "s:{s:s,s:s,s:s},s:[o*]}",
                     "apiVersion", RBAC_GROUP "/v1", "kind", "RoleBinding", "metadata", "name",
                     name, "namespace", project, "labels", API_PERMISSION_LABEL, "true",
                     "ambient-code.io/role", g->role, "annotations",
                     "ambient-code.io/subject-kind", kind ? kind : "User",
                     "ambient-code.io/subject-name", g->name, "roleRef", "apiGroup", RBAC_GROUP,
                     "kind", "ClusterRole", "name", role_ref, "subjects", subject);
}

/* 1 if a permission binding already gives this subject this role. */
static int already_granted(const json_t *bindings, const char *project, const struct grant *g)
{
    size_t i, j;
    const json_t *rb, *s;
    json_array_foreach(bindings, i, rb) {
        if (strcmp(binding_role(rb), g->role) != 0)
            continue;
        json_array_foreach(json_object_get(rb, "subjects"), j, s)
            if (subject_is(s, project, g->type, g->name))
                return 1;
    }
    return 0;
}

static void reply_exists(struct api_req *r, const struct grant *g)
{
    char msg[SUBJECT_MAX + 96];
    snprintf(msg, sizeof msg, "%s \"%s\" already has role %s", g->type, g->name, g->role);
    api_reply_error(r, 409, msg, NULL);
}

static int create_grant(struct api_req *r, const char *p, const struct grant *g,
                        struct amb_error *err)
{
    json_t *bindings = NULL, *rb = NULL;
    int rc = list_bindings(r, p, &bindings, err);
    if (rc == AMB_OK && already_granted(bindings, p, g)) {
        rc = AMB_EEXIST;
    } else if (rc == AMB_OK) {
        rb = grant_binding(p, g);
        rc = rb ? api_host->kube_create(api_ctx(r), &res_rolebindings, p, rb, NULL, err)
                : AMB_ENOMEM;
    }
    json_decref(rb);
    json_decref(bindings);
    return rc;
}

static void add_permission(struct api_req *r)
{
    const char *p = api_project_param(r);
    json_t *body = NULL;
    struct grant g;
    struct amb_error *err = NULL;
    if (!p || api_body_object(r, 0, &body) != 0)
        return;
    if (grant_body(r, body, &g) != 0 || !(p = project_for(r, "create")))
        goto out;
    err = api_host->error_new();
    int rc = err ? create_grant(r, p, &g, err) : AMB_ENOMEM;
    if (rc == AMB_EEXIST || rc == AMB_ECONFLICT) {
        reply_exists(r, &g);
    } else if (rc != AMB_OK) {
        api_reply_amb(r, rc, err);
    } else {
        api_host->log(api_self, AMB_LOG_INFO, "permission granted", "project", p, "subjectType",
                      g.type, "subjectName", g.name, "role", g.role, "user", r->user, NULL);
        api_reply_json(r, 201, json_pack("{s:s,s:s,s:s,s:s}", "message", "permission added",
                                         "subjectType", g.type, "subjectName", g.name, "role",
                                         g.role));
    }
out:
    json_decref(body);
    api_host->error_free(err);
}

/* ------------------------------------------------------------------------
 * DELETE /api/projects/:project/permissions/:subjectType/:subjectName
 * ------------------------------------------------------------------------ */

/* Removes the subject from one binding: the whole binding when it names
 * only them, else a patch keeping the other subjects. Returns 1 if the
 * subject was there, 0 if not, < 0 on failure. */
static int revoke_in(struct amb_ctx *ctx, const json_t *rb, const char *p, const char *type,
                     const char *name, struct amb_error *err)
{
    const json_t *subjects = json_object_get(rb, "subjects"), *s;
    const char *rb_name = json_string_value(json_object_get(json_object_get(rb, "metadata"),
                                                            "name"));
    json_t *keep = json_array();
    size_t i;
    int rc;
    if (!keep || !rb_name) {
        json_decref(keep);
        return AMB_ENOMEM;
    }
    json_array_foreach(subjects, i, s)
        if (!subject_is(s, p, type, name))
            json_array_append(keep, (json_t *)s);
    if (json_array_size(keep) == json_array_size(subjects)) {
        json_decref(keep);
        return 0;
    }
    if (json_array_size(keep) == 0) {
        json_decref(keep);
        rc = api_host->kube_delete(ctx, &res_rolebindings, p, rb_name, NULL, err);
    } else {
        json_t *patch = json_pack("{s:o}", "subjects", keep);
        rc = patch ? api_host->kube_patch(ctx, &res_rolebindings, p, rb_name, patch, NULL, err)
                   : AMB_ENOMEM;
        json_decref(patch);
    }
    return rc == AMB_OK ? 1 : rc;
}

static int revoke_all(struct api_req *r, const char *p, const char *type, const char *name,
                      int *removed, struct amb_error *err)
{
    json_t *bindings = NULL;
    size_t i;
    json_t *rb;
    int rc = list_bindings(r, p, &bindings, err);
    *removed = 0;
    json_array_foreach(bindings, i, rb) {
        if (rc != AMB_OK)
            break;
        int one = revoke_in(api_ctx(r), rb, p, type, name, err);
        if (one < 0)
            rc = one;
        else
            *removed += one;
    }
    json_decref(bindings);
    return rc;
}

static void remove_permission(struct api_req *r)
{
    const char *p = api_project_param(r);
    const char *type = api_param(r, "subjectType"), *name = api_param(r, "subjectName");
    char msg[SUBJECT_MAX + 96];
    int removed = 0;
    if (!p)
        return;
    if (!subject_type_ok(type)) {
        api_reply_field(r, 400, "subjectType", "must be user or group");
        return;
    }
    if (!subject_name_ok(name)) {
        api_reply_field(r, 400, "subjectName",
                        "must be 1 to 253 printable characters without '/' or '\\'");
        return;
    }
    if (!project_for(r, "delete"))
        return;
    struct amb_error *err = api_host->error_new();
    int rc = err ? revoke_all(r, p, type, name, &removed, err) : AMB_ENOMEM;
    if (rc != AMB_OK) {
        api_reply_amb(r, rc, err);
    } else if (removed == 0) {
        snprintf(msg, sizeof msg, "%s \"%s\" has no permission in project \"%s\"", type, name, p);
        api_reply_error(r, 404, msg, NULL);
    } else {
        api_host->log(api_self, AMB_LOG_INFO, "permission removed", "project", p, "subjectType",
                      type, "subjectName", name, "user", r->user, NULL);
        snprintf(msg, sizeof msg, "removed %d permission(s) of %s \"%s\"", removed, type, name);
        api_reply_json(r, 200, json_pack("{s:s,s:i}", "message", msg, "removed", removed));
    }
    api_host->error_free(err);
}

void api_routes_permissions(struct api_router *rt)
{
    static const struct {
        const char *method, *pattern;
        api_handler fn;
    } routes[] = {
        {"GET", "/api/projects/:project/permissions", list_permissions},
        {"POST", "/api/projects/:project/permissions", add_permission},
        {"DELETE", "/api/projects/:project/permissions/:subjectType/:subjectName",
         remove_permission},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (api_router_add(rt, routes[i].method, routes[i].pattern, routes[i].fn, 0) != 0)
            api_host->log(api_self, AMB_LOG_ERROR, "could not add route", "pattern",
                          routes[i].pattern, NULL);
}
