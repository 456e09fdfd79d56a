/* routes_projects.c — projects: a project is a namespace labelled
 * ambient-code.io/managed=true, as in the original platform.
 *
 * The daemon's own account (docs/architecture.md, "Who acts") is used only
 * to list managed namespaces, to read one (so an unmanaged or missing
 * namespace gives the same 404), to create one with its creator's
 * RoleBinding, to edit its display annotations and to delete it. Each of
 * those is preceded by an access review of the caller's token, so the
 * daemon never acts for a caller who could not have asked.
 *
 * Also api_daemon_ctx, which the other project route files share; what a
 * project is, and the check every project route passes, are
 * project_gate.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define ANN_DISPLAY "ambient-code.io/display-name"
#define ANN_DESCRIPTION "ambient-code.io/description"
#define DISPLAY_MAX 256      /* bytes of a display name */
#define DESCRIPTION_MAX 4096 /* bytes of a description */
#define LIMIT_DEFAULT 50
#define LIMIT_MAX 500
#define GROUP AMB_GROUP

static const struct amb_resource res_namespaces = {"", "v1", "Namespace", "namespaces", 0};
static const struct amb_resource res_rolebindings = {"rbac.authorization.k8s.io", "v1",
                                                     "RoleBinding", "rolebindings", 1};

/* ------------------------------------------------------------------------
 * Shared helpers (declared in api.h)
 * ------------------------------------------------------------------------ */

struct amb_ctx *api_daemon_ctx(struct api_req *r)
{
    if (api_gate_enter(r) != 0)
        return NULL;
    struct amb_error *err = api_host->error_new();
    struct amb_ctx *ctx = NULL;
    if (!err) {
        api_reply_error(r, 500, "out of memory", NULL);
        return NULL;
    }
    int rc = api_host->ctx_new(api_self, NULL, &ctx, err);
    if (rc != AMB_OK) {
        ctx = NULL;
        api_reply_amb(r, rc, err);
    }
    api_host->error_free(err);
    return ctx;
}

/* ------------------------------------------------------------------------
 * The project as the original's clients see it
 * ------------------------------------------------------------------------ */

static const char *annotation(const json_t *ns, const char *key)
{
    const json_t *ann = json_object_get(json_object_get(ns, "metadata"), "annotations");
    return json_string_value(json_object_get(ann, key));
}

/* {"name","displayName","description","creationTimestamp","status"}; new
 * ref or NULL. displayName falls back to the name, as the UI shows it. */
static json_t *project_json(const json_t *ns)
{
    const json_t *md = json_object_get(ns, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *dn = annotation(ns, ANN_DISPLAY);
    const char *desc = annotation(ns, ANN_DESCRIPTION);
    const char *phase = json_string_value(json_object_get(json_object_get(ns, "status"), "phase"));
    if (!dn)
        dn = annotation(ns, "openshift.io/display-name");
    if (!desc)
        desc = annotation(ns, "openshift.io/description");
    if (!name)
        return NULL;
    return json_pack("{s:s,s:s,s:s,s:s?,s:s}", "name", name, "displayName",
                     dn && *dn ? dn : name, "description", desc ? desc : "",
                     "creationTimestamp", json_string_value(json_object_get(md, "creationTimestamp")),
                     "status", phase ? phase : "Active");
}

/* ------------------------------------------------------------------------
 * GET /api/projects
 * ------------------------------------------------------------------------ */

/* An integer query parameter: absent or < 1 (limit) / < 0 (offset) gives
 * def, as the original normalises; above max is clamped; not a number is a
 * 400 naming the parameter. */
static int query_long(struct api_req *r, const char *name, long def, long min, long max,
                      long *out)
{
    const char *s = api_query(r, name);
    char *end = NULL;
    *out = def;
    if (!s || !*s)
        return 0;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno == ERANGE && v > 0)
        v = max;
    else if (errno || *end) {
        api_reply_field(r, 400, name, "must be an integer");
        return -1;
    }
    if (v >= min)
        *out = v > max ? max : v;
    return 0;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

/* Case-insensitive (ASCII) substring test. */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && lower((unsigned char)hay[i]) == lower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

static int matches_search(const json_t *project, const char *search)
{
    if (!search || !*search)
        return 1;
    return contains_ci(json_string_value(json_object_get(project, "name")), search) ||
           contains_ci(json_string_value(json_object_get(project, "displayName")), search);
}

/* Newest first, as the original lists them; then by name. */
static int cmp_projects(const void *a, const void *b)
{
    const json_t *pa = *(json_t *const *)a, *pb = *(json_t *const *)b;
    const char *ta = json_string_value(json_object_get(pa, "creationTimestamp"));
    const char *tb = json_string_value(json_object_get(pb, "creationTimestamp"));
    int c = strcmp(tb ? tb : "", ta ? ta : "");
    if (c)
        return c;
    return strcmp(json_string_value(json_object_get(pa, "name")),
                  json_string_value(json_object_get(pb, "name")));
}

static int sort_projects(json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return 0;
    json_t **v = calloc(n, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof *v, cmp_projects);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
    return 0;
}

/* Names the caller in the access log where no api_require did (cached). */
static void note_user(struct api_req *r)
{
    char user[sizeof r->user];
    struct amb_error *err;
    if (r->user[0] && strcmp(r->user, "-") != 0)
        return;
    err = api_host->error_new();
    if (err && api_auth_whoami(r->api->auth, r->token, r->token_hash, user, sizeof user, err) == AMB_OK)
        snprintf(r->user, sizeof r->user, "%s", user);
    api_host->error_free(err);
}

/* The caller may list API_PROJECT_WORK in ns, so sees it (cached review). */
static int may_see_project(struct api_req *r, const char *ns, int *allowed,
                             struct amb_error *err)
{
    struct api_access what = {"list", GROUP, API_PROJECT_WORK, NULL, ns, NULL};
    char reason[256];
    return api_auth_review(r->api->auth, r->token, r->token_hash, &what, allowed, reason, sizeof reason, err);
}

/* The managed namespaces the caller may see, matching search, as projects
 * (new ref), or NULL after replying. */
static json_t *visible_projects(struct api_req *r, const json_t *namespaces, const char *search,
                                struct amb_error *err)
{
    json_t *out = json_array();
    size_t i;
    const json_t *ns;
    if (!out) {
        api_reply_error(r, 500, "out of memory", NULL);
        return NULL;
    }
    json_array_foreach(namespaces, i, ns) {
        json_t *p = api_is_project(ns) ? project_json(ns) : NULL;
        int allowed = 0, rc = AMB_OK;
        if (p && matches_search(p, search))
            rc = may_see_project(r, json_string_value(json_object_get(p, "name")), &allowed,
                                   err);
        if (rc == AMB_EUNAUTHORIZED)
            api_reply_error(r, 401, "the token was rejected (invalid or expired)", NULL);
        else if (rc != AMB_OK)
            api_reply_amb(r, rc, err);
        if (rc != AMB_OK) {
            json_decref(p);
            json_decref(out);
            return NULL;
        }
        if (allowed)
            json_array_append(out, p);
        json_decref(p);
    }
    return out;
}

static json_t *page_of(json_t *all, long limit, long offset)
{
    size_t total = json_array_size(all);
    json_t *items = json_array();
    for (size_t i = (size_t)offset; items && i < total && i < (size_t)offset + (size_t)limit; i++)
        json_array_append(items, json_array_get(all, i));
    int more = (size_t)offset + (size_t)limit < total;
    json_t *body = json_pack("{s:o*,s:I,s:I,s:I,s:b}", "items", items, "totalCount",
                             (json_int_t)total, "limit", (json_int_t)limit, "offset",
                             (json_int_t)offset, "hasMore", more);
    if (body && more)
        json_object_set_new(body, "nextOffset", json_integer((json_int_t)(offset + limit)));
    return body;
}

static void list_projects(struct api_req *r)
{
    long limit, offset;
    if (query_long(r, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX, &limit) != 0 ||
        query_long(r, "offset", 0, 0, 1L << 30, &offset) != 0)
        return;
    if (!r->token) {
        api_reply_error(r, 401, "a bearer token is required", NULL);
        return;
    }
    struct amb_ctx *sa = api_daemon_ctx(r);
    struct amb_error *err = sa ? api_host->error_new() : NULL;
    json_t *namespaces = NULL, *visible = NULL;
    if (!sa)
        return;
    if (!err) {
        api_reply_error(r, 500, "out of memory", NULL);
        goto out;
    }
    int rc = api_host->kube_list(sa, &res_namespaces, "", API_MANAGED_LABEL "=true", &namespaces,
                                 err);
    if (rc != AMB_OK) {
        api_reply_amb(r, rc, err);
        goto out;
    }
    visible = visible_projects(r, namespaces, api_query(r, "search"), err);
    if (!visible)
        goto out;
    note_user(r);
    if (sort_projects(visible) != 0) {
        api_reply_error(r, 500, "out of memory", NULL);
        goto out;
    }
    api_reply_json(r, 200, page_of(visible, limit, offset));
out:
    json_decref(visible);
    json_decref(namespaces);
    api_host->error_free(err);
    api_host->ctx_free(sa);
}

/* ------------------------------------------------------------------------
 * POST /api/projects
 * ------------------------------------------------------------------------ */

static int has_control(const char *s, int allow_newlines)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r'))) ||
            c == 0x7f)
            return 1;
    }
    return 0;
}

/* An optional text field: absent or null is fine (*out NULL), else a string
 * of at most max bytes without control characters. */
static int text_field(struct api_req *r, const json_t *body, const char *field, size_t max,
                      int multiline, const char **out)
{
    const json_t *v = json_object_get(body, field);
    char msg[96];
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        api_reply_field(r, 400, field, "must be a string");
        return -1;
    }
    if (json_string_length(v) > max) {
        snprintf(msg, sizeof msg, "must be at most %zu bytes", max);
        api_reply_field(r, 400, field, msg);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v) ||
        has_control(json_string_value(v), multiline)) {
        api_reply_field(r, 400, field, "must not contain control characters");
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int is_reserved(const char *name)
{
    return strcmp(name, "default") == 0 || strncmp(name, "kube-", 5) == 0 ||
           strncmp(name, "openshift", 9) == 0;
}

static int project_name_field(struct api_req *r, const json_t *body, const char **out)
{
    const json_t *v = json_object_get(body, "name");
    *out = NULL;
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        api_reply_field(r, 400, "name", "required");
        return -1;
    }
    if (!json_is_string(v) || !amb_is_dns_label(json_string_value(v))) {
        api_reply_field(r, 400, "name",
                        "must be a DNS label (a-z, 0-9 and '-', starting and ending with a "
                        "letter or digit, at most 63 characters)");
        return -1;
    }
    if (is_reserved(json_string_value(v))) {
        api_reply_field(r, 400, "name", "is reserved (default, kube-*, openshift*)");
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static json_t *namespace_object(const char *name, const char *display, const char *description,
                                const char *user)
{
    json_t *ann = json_pack("{s:s,s:s}", ANN_DISPLAY, display && *display ? display : name,
                            AMB_CREATED_BY_ANNOTATION, user);
    if (ann && description && *description)
        json_object_set_new(ann, ANN_DESCRIPTION, json_string(description));
    return json_pack("{s:s,s:s,s:{s:s,s:{s:s},s:o*}}", "apiVersion", "v1", "kind", "Namespace",
                     "metadata", "name", name, "labels", API_MANAGED_LABEL, "true", "annotations",
                     ann);
}

/* The RoleBinding that makes the creator the project's admin. */
static json_t *creator_binding(const char *project, const char *user)
{
    char part[API_SUBJECT_PART_MAX], name[sizeof part + 32];
    api_subject_part(user, part, sizeof part);
    snprintf(name, sizeof name, "ambient-admin-%s", part);
    json_t *subject = api_rbac_subject("user", user);
    const char *kind = json_string_value(json_object_get(subject, "kind"));
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}},"
                     "s:{s:s,s:s,s:s},s:[o*]}",
                     "apiVersion", "rbac.authorization.k8s.io/v1", "kind", "RoleBinding",
                     "metadata", "name", name, "namespace", project, "labels",
                     API_PERMISSION_LABEL, "true", "ambient-code.io/role", "admin",
                     "annotations", "ambient-code.io/subject-kind", kind ? kind : "User",
                     "ambient-code.io/subject-name", user, "roleRef", "apiGroup",
                     "rbac.authorization.k8s.io", "kind", "ClusterRole", "name",
                     "ambient-project-admin", "subjects", subject);
}

/* Creates the namespace and the creator's binding; on a failed binding the
 * namespace is deleted again, so no project is left nobody can administer.
 * *created is the stored namespace (new ref). */
static int make_project(struct amb_ctx *sa, const json_t *ns, const char *name, const char *user,
                        json_t **created, struct amb_error *err)
{
    int rc = api_host->kube_create(sa, &res_namespaces, "", ns, created, err);
    if (rc != AMB_OK)
        return rc;
    json_t *rb = creator_binding(name, user);
    rc = rb ? api_host->kube_create(sa, &res_rolebindings, name, rb, NULL, err) : AMB_ENOMEM;
    json_decref(rb);
    if (rc == AMB_OK)
        return AMB_OK;
    api_host->log(api_self, AMB_LOG_ERROR, "project creation rolled back: creator binding failed",
                  "project", name, "error", api_host->strerror(rc), NULL);
    struct amb_error *e2 = api_host->error_new();
    if (e2 && api_host->kube_delete(sa, &res_namespaces, "", name, "Background", e2) != AMB_OK)
        api_host->log(api_self, AMB_LOG_ERROR, "rollback of project namespace failed", "project",
                      name, NULL);
    api_host->error_free(e2);
    json_decref(*created);
    *created = NULL;
    return rc;
}

static int whoami(struct api_req *r, char *user, size_t len, struct amb_error *err)
{
    int rc = api_auth_whoami(r->api->auth, r->token, r->token_hash, user, len, err);
    if (rc == AMB_OK)
        snprintf(r->user, sizeof r->user, "%s", user);
    else if (rc == AMB_EUNAUTHORIZED)
        api_reply_error(r, 401, "the token was rejected (invalid or expired)", NULL);
    else if (rc != AMB_OK)
        api_reply_amb(r, rc, err);
    return rc;
}

static void reply_create_failed(struct api_req *r, int rc, const char *name,
                                const struct amb_error *err)
{
    char msg[160];
    if (rc == AMB_EEXIST || rc == AMB_ECONFLICT) {
        snprintf(msg, sizeof msg, "project \"%s\" already exists", name);
        api_reply_error(r, 409, msg, NULL);
    } else {
        api_reply_amb(r, rc, err);
    }
}

static void create_project(struct api_req *r)
{
    json_t *body = NULL, *ns = NULL, *created = NULL;
    const char *name, *display, *description;
    char user[256];
    struct amb_ctx *sa = NULL;
    struct amb_error *err = NULL;
    if (!r->token) {
        api_reply_error(r, 401, "a bearer token is required", NULL);
        return;
    }
    if (api_body_object(r, 0, &body) != 0)
        return;
    if (project_name_field(r, body, &name) != 0 ||
        text_field(r, body, "displayName", DISPLAY_MAX, 0, &display) != 0 ||
        text_field(r, body, "description", DESCRIPTION_MAX, 1, &description) != 0)
        goto out;
    err = api_host->error_new();
    if (!err) {
        api_reply_error(r, 500, "out of memory", NULL);
        goto out;
    }
    /* Any authenticated user may create a project (api/README.md). */
    if (whoami(r, user, sizeof user, err) != AMB_OK || !(sa = api_daemon_ctx(r)))
        goto out;
    ns = namespace_object(name, display, description, user);
    int rc = ns ? make_project(sa, ns, name, user, &created, err) : AMB_ENOMEM;
    if (rc != AMB_OK) {
        reply_create_failed(r, rc, name, err);
        goto out;
    }
    api_host->log(api_self, AMB_LOG_INFO, "project created", "project", name, "user", user, NULL);
    api_reply_json(r, 201, project_json(created));
out:
    json_decref(created);
    json_decref(ns);
    json_decref(body);
    api_host->error_free(err);
    api_host->ctx_free(sa);
}

/* ------------------------------------------------------------------------
 * GET, PUT, DELETE /api/projects/:project
 * ------------------------------------------------------------------------ */

/* Reviews verb on projectsettings in project, which is how the original
 * decides who may see, edit and delete a project. */
static int require_details(struct api_req *r, const char *verb, const char *project)
{
    struct api_access what = {verb, GROUP, API_PROJECT_DETAILS, NULL, project, NULL};
    return api_require(r, &what);
}

static void get_project(struct api_req *r)
{
    const char *p = api_project_param(r);
    json_t *ns;
    if (!p || require_details(r, "get", p) != 0 || !(ns = api_project_get(r, p)))
        return;
    api_reply_json(r, 200, project_json(ns));
    json_decref(ns);
}

/* Sets (or, for "" and null, removes) one annotation in a merge patch. */
static int patch_annotation(json_t *ann, const json_t *body, const char *field, const char *key,
                            const char *value)
{
    if (!json_object_get(body, field))
        return 0;
    return json_object_set_new(ann, key, value && *value ? json_string(value) : json_null());
}

static json_t *annotations_patch(const json_t *body, const char *display, const char *description)
{
    json_t *ann = json_object();
    if (!ann || patch_annotation(ann, body, "displayName", ANN_DISPLAY, display) != 0 ||
        patch_annotation(ann, body, "description", ANN_DESCRIPTION, description) != 0) {
        json_decref(ann);
        return NULL;
    }
    return json_pack("{s:{s:o}}", "metadata", "annotations", ann);
}

static int update_body(struct api_req *r, const char *project, const json_t *body,
                       const char **display, const char **description)
{
    const json_t *name = json_object_get(body, "name");
    if (name && !json_is_null(name) &&
        (!json_is_string(name) || strcmp(json_string_value(name), project) != 0)) {
        api_reply_field(r, 400, "name", "must match the project in the path (or be left out)");
        return -1;
    }
    if (text_field(r, body, "displayName", DISPLAY_MAX, 0, display) != 0 ||
        text_field(r, body, "description", DESCRIPTION_MAX, 1, description) != 0)
        return -1;
    return 0;
}

static void update_project(struct api_req *r)
{
    const char *p = api_project_param(r), *display, *description;
    json_t *body = NULL, *ns = NULL, *patch = NULL, *out = NULL;
    struct amb_ctx *sa = NULL;
    struct amb_error *err = NULL;
    if (!p || api_body_object(r, 0, &body) != 0)
        return;
    if (update_body(r, p, body, &display, &description) != 0 ||
        require_details(r, "update", p) != 0 || !(ns = api_project_get(r, p)) ||
        !(sa = api_daemon_ctx(r)))
        goto done;
    patch = annotations_patch(body, display, description);
    err = api_host->error_new();
    int rc = patch && err ? api_host->kube_patch(sa, &res_namespaces, "", p, patch, &out, err)
                          : AMB_ENOMEM;
    if (rc != AMB_OK)
        api_reply_amb(r, rc, err);
    else
        api_reply_json(r, 200, project_json(out));
done:
    json_decref(out);
    json_decref(patch);
    json_decref(ns);
    json_decref(body);
    api_host->error_free(err);
    api_host->ctx_free(sa);
}

/* An uncached SelfSubjectAccessReview with the caller's token, for the one
 * irreversible act the daemon does for a caller: a right revoked a moment
 * ago must not still delete a project from the review cache. 0 if allowed,
 * else -1 after replying. */
static int require_fresh(struct api_req *r, const char *verb, const char *resource,
                         const char *project)
{
    static const struct amb_resource ssar = {"authorization.k8s.io", "v1",
                                             "SelfSubjectAccessReview",
                                             "selfsubjectaccessreviews", 0};
    struct amb_ctx *ctx = api_ctx(r);
    struct amb_error *err = ctx ? api_host->error_new() : NULL;
    json_t *review = json_pack("{s:s,s:s,s:{s:{s:s,s:s,s:s,s:s}}}", "apiVersion",
                               "authorization.k8s.io/v1", "kind", "SelfSubjectAccessReview",
                               "spec", "resourceAttributes", "verb", verb, "group", GROUP,
                               "resource", resource, "namespace", project);
    json_t *out = NULL;
    int rc = !ctx ? AMB_EUNAUTHORIZED
             : !err || !review ? AMB_ENOMEM
                               : api_host->kube_create(ctx, &ssar, "", review, &out, err);
    int allowed = json_is_true(json_object_get(json_object_get(out, "status"), "allowed"));
    if (ctx && rc != AMB_OK)
        api_reply_amb(r, rc, err);
    else if (ctx && !allowed)
        api_reply_error(r, 403, "the caller may no longer do this", NULL);
    json_decref(out);
    json_decref(review);
    api_host->error_free(err);
    return rc == AMB_OK && allowed ? 0 : -1;
}

static void delete_project(struct api_req *r)
{
    const char *p = api_project_param(r);
    json_t *ns;
    if (!p || require_details(r, "delete", p) != 0 ||
        require_fresh(r, "delete", API_PROJECT_DETAILS, p) != 0 || !(ns = api_project_get(r, p)))
        return;
    json_decref(ns);
    struct amb_ctx *sa = api_daemon_ctx(r);
    struct amb_error *err = sa ? api_host->error_new() : NULL;
    if (!sa)
        return;
    int rc = err ? api_host->kube_delete(sa, &res_namespaces, "", p, "Background", err)
                 : AMB_ENOMEM;
    if (rc == AMB_OK) {
        char msg[160];
        api_project_forget(r->api->auth, p);
        snprintf(msg, sizeof msg, "project \"%s\" is being deleted", p);
        api_host->log(api_self, AMB_LOG_INFO, "project deleted", "project", p, "user", r->user,
                      NULL);
        api_reply_json(r, 202, json_pack("{s:s}", "message", msg));
    } else {
        api_reply_amb(r, rc, err);
    }
    api_host->error_free(err);
    api_host->ctx_free(sa);
}

/* ------------------------------------------------------------------------
 * GET /api/projects/:project/access
 * ------------------------------------------------------------------------ */

struct access_answers {
    int may_list_work, may_create_work, create_bindings;
};

static int review(struct api_req *r, const char *verb, const char *group, const char *resource,
                  const char *ns, int *allowed, struct amb_error *err)
{
    struct api_access what = {verb, group, resource, NULL, ns, NULL};
    char reason[256];
    return api_auth_review(r->api->auth, r->token, r->token_hash, &what, allowed, reason, sizeof reason, err);
}

static int access_reviews(struct api_req *r, const char *p, struct access_answers *a,
                          struct amb_error *err)
{
    int rc = review(r, "list", GROUP, API_PROJECT_WORK, p, &a->may_list_work, err);
    if (rc == AMB_OK)
        rc = review(r, "create", GROUP, API_PROJECT_WORK, p, &a->may_create_work, err);
    if (rc == AMB_OK)
        rc = review(r, "create", "rbac.authorization.k8s.io", "rolebindings", p,
                    &a->create_bindings, err);
    return rc;
}

static void get_access(struct api_req *r)
{
    const char *p = api_project_param(r);
    struct access_answers a = {0, 0, 0};
    if (!p)
        return;
    if (!r->token) {
        api_reply_error(r, 401, "a bearer token is required", NULL);
        return;
    }
    struct amb_error *err = api_host->error_new();
    int rc = err ? access_reviews(r, p, &a, err) : AMB_ENOMEM;
    if (rc == AMB_EUNAUTHORIZED) {
        api_reply_error(r, 401, "the token was rejected (invalid or expired)", NULL);
    } else if (rc != AMB_OK) {
        api_reply_amb(r, rc, err);
    } else if ((a.may_list_work || a.may_create_work || a.create_bindings) &&
               api_project_check(r, p) != 0) {
        /* rights there, but no project: 404 (without any, "none" tells nothing) */
    } else {
        note_user(r);
        const char *role = a.create_bindings   ? "admin"
                           : a.may_create_work ? "edit"
                           : a.may_list_work   ? "view"
                                               : "none";
        api_reply_json(r, 200,
                       json_pack("{s:s,s:b,s:s,s:b}", "project", p, "allowed", a.may_list_work,
                                 "userRole", role, "canWrite", a.may_create_work));
    }
    api_host->error_free(err);
}

void api_routes_projects(struct api_router *rt)
{
    static const struct {
        const char *method, *pattern;
        api_handler fn;
    } routes[] = {
        {"GET", "/api/projects", list_projects},
        {"POST", "/api/projects", create_project},
        {"GET", "/api/projects/:project", get_project},
        {"PUT", "/api/projects/:project", update_project},
        {"DELETE", "/api/projects/:project", delete_project},
        {"GET", "/api/projects/:project/access", get_access},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (api_router_add(rt, routes[i].method, routes[i].pattern, routes[i].fn, 0) != 0)
            api_host->log(api_self, AMB_LOG_ERROR, "could not add route", "pattern",
                          routes[i].pattern, NULL);
}
