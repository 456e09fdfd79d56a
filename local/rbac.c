/* rbac.c — RBAC authorization from the stored Roles, ClusterRoles,
 * RoleBindings and ClusterRoleBindings, as the apiserver's RBAC
 * authorizer decides (members of system:masters may do everything), and
 * the bootstrap policy a fresh cluster has. Bindings are read from the
 * store on every check: a laptop has few, and a change applies at once. */
#include <string.h>

#include "kubeapi.h"

#define RBAC "rbac.authorization.k8s.io"
#define MAX_AGGREGATION_DEPTH 8

struct attrs {
    const char *verb, *group, *resource, *sub, *ns, *name, *path;
};

static int has(const json_t *values, const char *want)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v)
    {
        const char *s = json_string_value(v);
        if (s && (!strcmp(s, "*") || !strcmp(s, want)))
            return 1;
    }
    return 0;
}

static int rule_allows(const json_t *rule, const struct attrs *a)
{
    if (!has(json_object_get(rule, "verbs"), a->verb))
        return 0;
    if (a->path) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(rule, "nonResourceURLs"), i, v)
        {
            const char *u = json_string_value(v);
            size_t n = u ? strlen(u) : 0;
            if (u && (!strcmp(u, "*") || !strcmp(u, a->path) ||
                      (n && u[n - 1] == '*' && !strncmp(a->path, u, n - 1))))
                return 1;
        }
        return 0;
    }
    if (!has(json_object_get(rule, "apiGroups"), a->group))
        return 0;
    char combined[200], any_sub[100];
    snprintf(combined, sizeof combined, "%s%s%s", a->resource, a->sub[0] ? "/" : "", a->sub);
    snprintf(any_sub, sizeof any_sub, "*/%s", a->sub);
    const json_t *res = json_object_get(rule, "resources");
    if (!has(res, combined) && !(a->sub[0] && has(res, any_sub)))
        return 0;
    const json_t *names = json_object_get(rule, "resourceNames");
    return json_array_size(names) == 0 || (a->name[0] && has(names, a->name));
}

static int subject_matches(const json_t *s, const struct kuser *u, const char *binding_ns)
{
    const char *kind = json_string_value(json_object_get(s, "kind"));
    const char *name = json_string_value(json_object_get(s, "name"));
    if (!kind || !name)
        return 0;
    if (!strcmp(kind, "User"))
        return !strcmp(name, u->name);
    if (!strcmp(kind, "Group"))
        return has(u->groups, name) && strcmp(name, "*");
    if (!strcmp(kind, "ServiceAccount")) {
        const char *ns = json_string_value(json_object_get(s, "namespace"));
        char want[320];
        snprintf(want, sizeof want, "system:serviceaccount:%s:%s", ns ? ns : binding_ns, name);
        return !strcmp(want, u->name);
    }
    return 0;
}

static int collect(const char *res, const char *ns, const char *name, const char *body, void *arg)
{
    (void)res, (void)ns, (void)name;
    json_t *obj = json_loads(body, 0, NULL);
    return obj ? json_array_append_new(arg, obj) != 0 : 0;
}

static json_t *all(struct kapi *api, const char *res, const char *ns)
{
    json_t *arr = json_array();
    if (arr && kstore_scan(api->store, res, ns, NULL, NULL, collect, arr) != KSTORE_OK) {
        json_decref(arr);
        return json_array(); /* a failing store grants nothing */
    }
    return arr;
}

static int rules_allow(const json_t *role, const struct attrs *a)
{
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(role, "rules"), i, rule) if (rule_allows(rule, a)) return 1;
    return 0;
}

static int labels_match(const json_t *sel, const json_t *labels)
{
    const char *k;
    json_t *v;
    if (json_object_size(json_object_get(sel, "matchLabels")) == 0)
        return 0;
    json_object_foreach(json_object_get(sel, "matchLabels"), k, v)
    {
        if (!json_equal(json_object_get(labels, k), v))
            return 0;
    }
    return 1;
}

/* A ClusterRole's rules allow a, its aggregated roles' included. */
static int cluster_role_allows(struct kapi *api, const char *name, const struct attrs *a,
                               int depth)
{
    struct kerr e;
    json_t *role = kobj_load(api, kapi_type_by_res(api, RBAC "/clusterroles"), "", name, &e);
    if (!role)
        return 0;
    int ok = rules_allow(role, a);
    json_t *sels = json_object_get(json_object_get(role, "aggregationRule"), "clusterRoleSelectors");
    if (!ok && json_array_size(sels) && depth < MAX_AGGREGATION_DEPTH) {
        json_t *roles = all(api, RBAC "/clusterroles", NULL);
        size_t i, j;
        json_t *other, *sel;
        json_array_foreach(roles, i, other)
        {
            json_t *labels = json_object_get(json_object_get(other, "metadata"), "labels");
            const char *other_name =
                json_string_value(json_object_get(json_object_get(other, "metadata"), "name"));
            json_array_foreach(sels, j, sel)
            {
                if (!ok && other_name && strcmp(other_name, name) && labels_match(sel, labels))
                    ok = cluster_role_allows(api, other_name, a, depth + 1);
            }
        }
        json_decref(roles);
    }
    json_decref(role);
    return ok;
}

static int binding_allows(struct kapi *api, const json_t *b, const struct kuser *u,
                          const struct attrs *a, const char *ns)
{
    size_t i;
    json_t *s;
    int bound = 0;
    json_array_foreach(json_object_get(b, "subjects"), i, s) bound |= subject_matches(s, u, ns);
    if (!bound)
        return 0;
    const json_t *ref = json_object_get(b, "roleRef");
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    if (!kind || !name)
        return 0;
    if (!strcmp(kind, "ClusterRole"))
        return cluster_role_allows(api, name, a, 0);
    struct kerr e;
    json_t *role = kobj_load(api, kapi_type_by_res(api, RBAC "/roles"), ns, name, &e);
    int ok = role && rules_allow(role, a);
    json_decref(role);
    return ok;
}

int kapi_authorize(struct kapi *api, const struct kuser *u, const char *verb, const char *group,
                   const char *resource, const char *sub, const char *ns, const char *name,
                   const char *path)
{
    if (u->master)
        return 1;
    struct attrs a = {verb ? verb : "", group ? group : "", resource ? resource : "",
                      sub ? sub : "", ns ? ns : "", name ? name : "", path};
    int ok = 0;
    json_t *crbs = all(api, RBAC "/clusterrolebindings", NULL);
    size_t i;
    json_t *b;
    json_array_foreach(crbs, i, b) if (!ok) ok = binding_allows(api, b, u, &a, "");
    json_decref(crbs);
    if (!ok && !path && a.ns[0]) {
        json_t *rbs = all(api, RBAC "/rolebindings", a.ns);
        json_array_foreach(rbs, i, b) if (!ok) ok = binding_allows(api, b, u, &a, a.ns);
        json_decref(rbs);
    }
    return ok;
}

/* The bootstrap policy, abridged to what this server serves. */
static const char bootstrap[] =
    "["
    "{\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"cluster-admin\"},\"rules\":["
    " {\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]},"
    " {\"nonResourceURLs\":[\"*\"],\"verbs\":[\"*\"]}]},"
    "{\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"system:discovery\"},\"rules\":["
    " {\"nonResourceURLs\":[\"/api\",\"/api/*\",\"/apis\",\"/apis/*\",\"/healthz\",\"/livez\","
    "  \"/readyz\",\"/openapi\",\"/openapi/*\",\"/version\",\"/version/\"],\"verbs\":[\"get\"]}]},"
    "{\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"system:basic-user\"},\"rules\":["
    " {\"apiGroups\":[\"authorization.k8s.io\"],\"resources\":[\"selfsubjectaccessreviews\","
    "  \"selfsubjectrulesreviews\"],\"verbs\":[\"create\"]},"
    " {\"apiGroups\":[\"authentication.k8s.io\"],\"resources\":[\"selfsubjectreviews\"],"
    "  \"verbs\":[\"create\"]}]},"
    "{\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"system:auth-delegator\"},\"rules\":["
    " {\"apiGroups\":[\"authentication.k8s.io\"],\"resources\":[\"tokenreviews\"],"
    "  \"verbs\":[\"create\"]},"
    " {\"apiGroups\":[\"authorization.k8s.io\"],\"resources\":[\"subjectaccessreviews\"],"
    "  \"verbs\":[\"create\"]}]},"
    "{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"cluster-admin\"},"
    " \"roleRef\":{\"apiGroup\":\"" RBAC "\",\"kind\":\"ClusterRole\",\"name\":\"cluster-admin\"},"
    " \"subjects\":[{\"kind\":\"Group\",\"name\":\"system:masters\"}]},"
    "{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"system:discovery\"},"
    " \"roleRef\":{\"apiGroup\":\"" RBAC "\",\"kind\":\"ClusterRole\",\"name\":\"system:discovery\"},"
    " \"subjects\":[{\"kind\":\"Group\",\"name\":\"system:authenticated\"}]},"
    "{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"system:basic-user\"},"
    " \"roleRef\":{\"apiGroup\":\"" RBAC "\",\"kind\":\"ClusterRole\",\"name\":\"system:basic-user\"},"
    " \"subjects\":[{\"kind\":\"Group\",\"name\":\"system:authenticated\"}]}"
    "]";

json_t *kapi_rbac_bootstrap(void)
{
    json_t *objs = json_loads(bootstrap, 0, NULL);
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        json_object_set_new(o, "apiVersion", json_string(RBAC "/v1"));
        json_object_set_new(json_object_get(o, "metadata"), "labels",
                            json_pack("{s:s}", "kubernetes.io/bootstrapping", "rbac-defaults"));
    }
    return objs;
}
