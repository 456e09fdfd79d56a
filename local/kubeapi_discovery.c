/* kubeapi_discovery.c — what clients read before they call: /version,
 * the legacy discovery documents (/api, /api/v1, /apis, /apis/G,
 * /apis/G/V), and an OpenAPI v3 index whose per group-version documents
 * list each kind's PATCH with the fieldValidation parameter — that is all
 * kubectl apply needs to leave validation to the server. /openapi/v2 is
 * 404, which kubectl accepts. */
#include <stdio.h>
#include <string.h>

#include "kubeapi.h"

static json_t *resource_entry(const struct ktype *t, const char *name, const char *kind,
                              json_t *verbs)
{
    json_t *e = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", name ? name : t->plural,
                          "singularName", name ? "" : t->singular, "namespaced", t->namespaced,
                          "kind", kind ? kind : t->kind, "verbs", verbs);
    if (e && !name && t->short_names)
        json_object_set(e, "shortNames", t->short_names);
    if (e && !name && t->categories)
        json_object_set(e, "categories", t->categories);
    return e;
}

static json_t *all_verbs(void)
{
    return json_pack("[s,s,s,s,s,s,s,s]", "create", "delete", "deletecollection", "get", "list",
                     "patch", "update", "watch");
}

static json_t *resource_list(const struct kapi *api, const char *group, const char *version)
{
    json_t *resources = json_array();
    for (size_t i = 0; i < api->ntypes; i++) {
        const struct ktype *t = &api->types[i];
        if (strcmp(t->group, group) || strcmp(t->version, version))
            continue;
        json_array_append_new(resources,
                              resource_entry(t, NULL, NULL,
                                             t->review ? json_pack("[s]", "create") : all_verbs()));
        if (t->status) {
            char name[96];
            snprintf(name, sizeof name, "%s/status", t->plural);
            json_array_append_new(resources, resource_entry(t, name, NULL,
                                                            json_pack("[s,s,s]", "get", "patch",
                                                                      "update")));
        }
        if (!strcmp(t->res, "/serviceaccounts")) {
            json_t *e = resource_entry(t, "serviceaccounts/token", "TokenRequest",
                                       json_pack("[s]", "create"));
            json_object_set_new(e, "group", json_string("authentication.k8s.io"));
            json_object_set_new(e, "version", json_string("v1"));
            json_array_append_new(resources, e);
        }
    }
    if (json_array_size(resources) == 0) {
        json_decref(resources);
        return NULL;
    }
    char gv[200];
    snprintf(gv, sizeof gv, "%s%s%s", group, group[0] ? "/" : "", version);
    return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", gv, "resources", resources);
}

/* Kubernetes' version order: GA before beta before alpha, higher first. */
static int version_rank(const char *v, long *major, long *minor)
{
    char stage[8] = "";
    *major = *minor = 0;
    int n = sscanf(v, "v%ld%7[a-z]%ld", major, stage, minor);
    if (n < 1)
        return 3; /* not a Kubernetes version: last */
    return !strcmp(stage, "beta") ? 1 : !strcmp(stage, "alpha") ? 2 : 0;
}

static int version_before(const char *a, const char *b)
{
    long amaj, amin, bmaj, bmin;
    int ar = version_rank(a, &amaj, &amin), br = version_rank(b, &bmaj, &bmin);
    if (ar != br)
        return ar < br;
    if (amaj != bmaj)
        return amaj > bmaj;
    if (amin != bmin)
        return amin > bmin;
    return strcmp(a, b) < 0;
}

/* One group's entry: every version its kinds are served in, the first
 * preferred; NULL when no kind is in group. */
static json_t *group_entry(const struct kapi *api, const char *group)
{
    const char *versions[16];
    size_t n = 0;
    for (size_t i = 0; i < api->ntypes; i++) {
        const struct ktype *t = &api->types[i];
        size_t j = 0;
        while (j < n && strcmp(versions[j], t->version))
            j++;
        if (strcmp(t->group, group) || j < n || n == sizeof versions / sizeof versions[0])
            continue;
        for (j = n++; j > 0 && version_before(t->version, versions[j - 1]); j--)
            versions[j] = versions[j - 1];
        versions[j] = t->version;
    }
    if (n == 0)
        return NULL;
    json_t *list = json_array();
    for (size_t j = 0; j < n; j++) {
        char gv[200];
        snprintf(gv, sizeof gv, "%s/%s", group, versions[j]);
        json_array_append_new(list, json_pack("{s:s, s:s}", "groupVersion", gv, "version",
                                              versions[j]));
    }
    return json_pack("{s:s, s:o, s:O}", "name", group, "versions", list, "preferredVersion",
                     json_array_get(list, 0));
}

static json_t *group_list(const struct kapi *api)
{
    json_t *groups = json_array(), *seen = json_object();
    for (size_t i = 0; i < api->ntypes; i++) {
        const struct ktype *t = &api->types[i];
        if (!t->group[0] || json_object_get(seen, t->group))
            continue;
        json_object_set_new(seen, t->group, json_true());
        json_array_append_new(groups, group_entry(api, t->group));
    }
    json_decref(seen);
    return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups",
                     groups);
}

/* An OpenAPI v3 document of one group-version: a PATCH per kind. */
static json_t *openapi_gv(const struct kapi *api, const char *group, const char *version)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < api->ntypes; i++) {
        const struct ktype *t = &api->types[i];
        if (strcmp(t->group, group) || strcmp(t->version, version) || t->review)
            continue;
        char path[400], op[96];
        snprintf(path, sizeof path, "/%s%s/%s/%s%s/{name}", group[0] ? "apis/" : "api", group,
                 version, t->namespaced ? "namespaces/{namespace}/" : "", t->plural);
        snprintf(op, sizeof op, "patch%s", t->kind);
        json_t *params = json_pack("[{s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}, "
                                   "{s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}]",
                                   "name", "dryRun", "in", "query", "schema", "type", "string",
                                   "name", "fieldManager", "in", "query", "schema", "type",
                                   "string", "name", "fieldValidation", "in", "query", "schema",
                                   "type", "string", "name", "force", "in", "query", "schema",
                                   "type", "boolean");
        json_object_set_new(paths, path,
                            json_pack("{s:{s:s, s:o, s:{s:{s:s}}, s:s, s:{s:s, s:s, s:s}}}",
                                      "patch", "operationId", op, "parameters", params,
                                      "responses", "200", "description", "OK",
                                      "x-kubernetes-action", "patch",
                                      "x-kubernetes-group-version-kind", "group", group,
                                      "version", version, "kind", t->kind));
    }
    if (json_object_size(paths) == 0) {
        json_decref(paths);
        return NULL;
    }
    return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{}}}", "openapi", "3.0.0", "info", "title",
                     "Kubernetes (ambient local)", "version", "v1.32.0", "paths", paths,
                     "components", "schemas");
}

static json_t *openapi_root(const struct kapi *api)
{
    json_t *paths = json_object();
    json_object_set_new(paths, "api/v1",
                        json_pack("{s:s}", "serverRelativeURL", "/openapi/v3/api/v1"));
    for (size_t i = 0; i < api->ntypes; i++) {
        const struct ktype *t = &api->types[i];
        char key[200], url[240];
        snprintf(key, sizeof key, "apis/%s/%s", t->group, t->version);
        snprintf(url, sizeof url, "/openapi/v3/%s", key);
        if (t->group[0] && !t->review)
            json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
    }
    return json_pack("{s:o}", "paths", paths);
}

int kapi_discovery(struct kreq *r)
{
    const char *p = r->path;
    const struct kapi *api = r->api;
    char group[128], version[32];
    json_t *doc = NULL;
    if (!strcmp(p, "/version") || !strcmp(p, "/version/")) {
        doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor",
                        "32", "gitVersion", "v1.32.0-ambient-local", "gitCommit",
                        "0000000000000000000000000000000000000000", "gitTreeState", "clean",
                        "buildDate", "2025-01-01T00:00:00Z", "goVersion", "go1.23.0",
                        "compiler", "gc", "platform", "linux/amd64");
    } else if (!strcmp(p, "/api")) {
        doc = json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                        "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
                        "serverAddress", api->url + strlen("http://"));
    } else if (!strcmp(p, "/api/v1")) {
        doc = resource_list(api, "", "v1");
    } else if (!strcmp(p, "/apis")) {
        doc = group_list(api);
    } else if (sscanf(p, "/apis/%127[^/]/%31[^/]", group, version) == 2 &&
               strlen(p) == strlen("/apis///") + strlen(group) + strlen(version) - 1) {
        doc = resource_list(api, group, version);
    } else if (sscanf(p, "/apis/%127[^/]", group) == 1 &&
               strlen(p) == strlen("/apis/") + strlen(group)) {
        doc = group_entry(api, group);
        if (doc) {
            json_object_set_new(doc, "kind", json_string("APIGroup"));
            json_object_set_new(doc, "apiVersion", json_string("v1"));
        }
    } else if (!strcmp(p, "/openapi/v3") || !strcmp(p, "/openapi/v3/")) {
        doc = openapi_root(api);
    } else if (!strcmp(p, "/openapi/v3/api/v1")) {
        doc = openapi_gv(api, "", "v1");
    } else if (sscanf(p, "/openapi/v3/apis/%127[^/]/%31s", group, version) == 2) {
        doc = openapi_gv(api, group, version);
    } else if (!strncmp(p, "/openapi/", 9)) {
        kapi_fail(r, 404, "NotFound", "the server could not find the requested resource");
        return 1;
    } else {
        return 0;
    }
    if (!doc)
        kapi_fail(r, 404, "NotFound", "the server could not find the requested resource");
    else
        kapi_reply(r, 200, doc);
    return 1;
}
