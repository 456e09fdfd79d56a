/* project_gate.c — what a project is, and the gate every
 * /api/projects/<project>/... request passes.
 *
 * A project is a namespace labelled ambient-code.io/managed=true, read with
 * the daemon's own credentials (a missing and an unmanaged namespace are
 * alike "not found"). A positive answer is kept for auth_ttl in the auth
 * cache, so a project route costs no extra API call while it is fresh; a
 * negative one is not kept, so a project made a moment after a 404 is
 * served at once, and deleting a project forgets it.
 *
 * The gate: the server arms it after routing with the path's <project>
 * (api_gate_arm); it is checked where a route first acts on the project:
 *  - after an access review that allowed, for the namespace it was asked
 *    in (api_require): "review first, then look", so a caller without
 *    rights gets the 403 they would get in a real project and learns
 *    nothing about which namespaces exist;
 *  - before a Kubernetes context (the caller's, a plugin's, the daemon's)
 *    is handed to a route that has made no review: then the caller must
 *    pass the review that makes a project visible (list agenticsessions,
 *    what GET /api/projects lists by) before a 404.
 * A route cannot forget it: every way to the project goes through one of
 * them. The live listener's routes check it after their own auth
 * (live/jobs.c). */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "auth_cache.h"

static const struct amb_resource res_namespaces = {"", "v1", "Namespace", "namespaces", 0};

int api_is_project(const json_t *ns)
{
    const json_t *labels = json_object_get(json_object_get(ns, "metadata"), "labels");
    const char *v = json_string_value(json_object_get(labels, API_MANAGED_LABEL));
    return v && strcmp(v, "true") == 0;
}

static struct auth_cache *cache(struct api_auth *auth, char *key, size_t len,
                                const char *project)
{
    snprintf(key, len, "project|%s", project);
    return api_auth_cache(auth);
}

void api_project_forget(struct api_auth *auth, const char *project)
{
    char key[96];
    struct auth_cache *c = cache(auth, key, sizeof key, project);
    if (c)
        auth_cache_drop(c, key);
}

/* The namespace (new ref, or NULL when there is none) and whether it is a
 * project, read now with the daemon's credentials; the cache learns it. */
static int fetch(struct api_auth *auth, const char *project, json_t **ns, int *managed,
                 struct amb_error *err)
{
    struct amb_ctx *sa = NULL;
    *ns = NULL;
    *managed = 0;
    int rc = api_host->ctx_new(api_self, NULL, &sa, err);
    if (rc == AMB_OK)
        rc = api_host->kube_get(sa, &res_namespaces, "", project, ns, err);
    api_host->ctx_free(sa);
    if (rc == AMB_ENOTFOUND)
        rc = AMB_OK;
    if (rc != AMB_OK)
        return rc;
    *managed = api_is_project(*ns);
    char key[96];
    struct auth_cache *c = cache(auth, key, sizeof key, project);
    struct auth_answer yes = {1, ""};
    if (c && *managed)
        auth_cache_put(c, key, &yes);
    else if (c)
        auth_cache_drop(c, key);
    return AMB_OK;
}

int api_project_lookup(struct api_auth *auth, const char *project, int *managed,
                       struct amb_error *err)
{
    char key[96];
    struct auth_cache *c = cache(auth, key, sizeof key, project);
    struct auth_answer ans;
    json_t *ns = NULL;
    *managed = 0;
    if (!amb_is_dns_label(project))
        return AMB_OK;
    if (c && auth_cache_get(c, key, &ans)) {
        *managed = 1;
        return AMB_OK;
    }
    int rc = fetch(auth, project, &ns, managed, err);
    json_decref(ns);
    return rc;
}

static void reply_no_project(struct api_req *r, const char *project)
{
    char msg[160];
    snprintf(msg, sizeof msg, "project \"%s\" not found", project);
    api_reply_error(r, 404, msg, NULL);
}

int api_project_check(struct api_req *r, const char *project)
{
    int managed = 0;
    struct amb_error *err = api_host->error_new();
    int rc = err ? api_project_lookup(r->api->auth, project, &managed, err) : AMB_ENOMEM;
    if (rc != AMB_OK)
        api_reply_amb(r, rc, err);
    else if (!managed)
        reply_no_project(r, project);
    api_host->error_free(err);
    return rc == AMB_OK && managed ? 0 : -1;
}

json_t *api_project_get(struct api_req *r, const char *project)
{
    json_t *ns = NULL;
    int managed = 0;
    struct amb_error *err = api_host->error_new();
    int rc = err ? fetch(r->api->auth, project, &ns, &managed, err) : AMB_ENOMEM;
    if (rc != AMB_OK)
        api_reply_amb(r, rc, err);
    else if (!managed)
        reply_no_project(r, project);
    api_host->error_free(err);
    if (rc == AMB_OK && managed)
        return ns;
    json_decref(ns);
    return NULL;
}

/* ---- the gate ---- */

void api_gate_arm(struct api_req *r)
{
    static const char prefix[] = "/api/projects/";
    if (!r->path || strncmp(r->path, prefix, sizeof prefix - 1) != 0)
        return;
    const char *seg = r->path + sizeof prefix - 1;
    size_t n = strcspn(seg, "/");
    if (n) /* "/api/projects/" is the list, not a project */
        r->project = strndup(seg, n);
}

/* Checks ns, unless it is the request's project found a project already. */
static int check(struct api_req *r, const char *ns)
{
    int own = strcmp(ns, r->project) == 0;
    if (own && r->project_ok)
        return 0;
    if (!amb_is_dns_label(ns)) {
        api_reply_field(r, 400, "project", "must be a DNS-1123 label ([a-z0-9-], at most 63 "
                                           "characters)");
        return -1;
    }
    if (api_project_check(r, ns) != 0)
        return -1;
    if (own)
        r->project_ok = 1;
    return 0;
}

int api_gate_reviewed(struct api_req *r, const char *ns)
{
    if (!r->project || !ns || !*ns)
        return 0;
    return check(r, ns);
}

int api_gate_enter(struct api_req *r)
{
    if (!r->project || r->project_ok)
        return 0;
    if (!amb_is_dns_label(r->project))
        return check(r, r->project);
    int managed = 0;
    struct amb_error *err = api_host->error_new();
    int rc = err ? api_project_lookup(r->api->auth, r->project, &managed, err) : AMB_ENOMEM;
    if (rc != AMB_OK)
        api_reply_amb(r, rc, err);
    api_host->error_free(err);
    if (rc != AMB_OK)
        return -1;
    if (managed) {
        r->project_ok = 1;
        return 0;
    }
    /* Not a project: a 404 only for a caller who would see it if it were. */
    struct api_access visible = {"list", AMB_GROUP, API_PROJECT_WORK, NULL, r->project, NULL};
    return api_require(r, &visible); /* allowed: its check answers 404 */
}
