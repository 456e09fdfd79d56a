/* kubeapi_types.c — the resources the local API serves: the built-in
 * kinds Ambient, its runner and kubectl use, and the kinds of stored
 * CustomResourceDefinitions (served as soon as the CRD is stored). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi.h"

enum {
    NS = 1 << 0,        /* namespaced */
    STATUS = 1 << 1,    /* /status subresource */
    GEN = 1 << 2,       /* generation maintained */
    PUT_CREATES = 1 << 3,
    NEEDS_RV = 1 << 4,
    RETURNS_OBJ = 1 << 5,
    REVIEW = 1 << 6,
    ORPHANS = 1 << 7,
    IN_ALL = 1 << 8, /* category "all" */
};

struct builtin {
    const char *group, *kind, *plural, *short_name;
    unsigned flags;
};

static const struct builtin builtins[] = {
    {"", "Namespace", "namespaces", "ns", STATUS | RETURNS_OBJ},
    {"", "Secret", "secrets", NULL, NS},
    {"", "ConfigMap", "configmaps", "cm", NS},
    {"", "ServiceAccount", "serviceaccounts", "sa", NS},
    {"", "PersistentVolumeClaim", "persistentvolumeclaims", "pvc", NS | STATUS},
    {"", "Event", "events", "ev", NS | PUT_CREATES},
    {"", "Pod", "pods", "po", NS | STATUS | RETURNS_OBJ | IN_ALL},
    {"", "Service", "services", "svc", NS | STATUS | IN_ALL},
    {"coordination.k8s.io", "Lease", "leases", NULL, NS | PUT_CREATES | NEEDS_RV},
    {"rbac.authorization.k8s.io", "Role", "roles", NULL, NS | PUT_CREATES},
    {"rbac.authorization.k8s.io", "RoleBinding", "rolebindings", NULL, NS | PUT_CREATES},
    {"rbac.authorization.k8s.io", "ClusterRole", "clusterroles", NULL, PUT_CREATES},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", NULL,
     PUT_CREATES},
    /* batch/v1 Jobs orphan their Pods unless the client names a policy, as
     * the real Job strategy does. */
    {"batch", "Job", "jobs", NULL, NS | STATUS | GEN | ORPHANS | IN_ALL},
    {"apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", "crd",
     STATUS | GEN | NEEDS_RV},
    {"authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", NULL,
     REVIEW},
    {"authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", NULL, REVIEW},
    {"authentication.k8s.io", "TokenReview", "tokenreviews", NULL, REVIEW},
    {"authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", NULL, REVIEW},
};

static struct ktype *slot(struct kapi *api, const char *group, const char *plural)
{
    for (size_t i = 0; i < api->ntypes; i++)
        if (!strcmp(api->types[i].group, group) && !strcmp(api->types[i].plural, plural))
            return &api->types[i];
    if (api->ntypes == api->types_cap) {
        size_t cap = api->types_cap ? api->types_cap * 2 : 32;
        struct ktype *t = realloc(api->types, cap * sizeof *t);
        if (!t)
            return NULL;
        api->types = t;
        api->types_cap = cap;
    }
    struct ktype *t = &api->types[api->ntypes++];
    memset(t, 0, sizeof *t);
    return t;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* Names and behaviour of a type; singular NULL: the kind in lower case. */
static void fill(struct ktype *t, const char *group, const char *version, const char *kind,
                 const char *plural, const char *singular, unsigned flags)
{
    json_decref(t->short_names);
    json_decref(t->categories);
    memset(t, 0, sizeof *t);
    snprintf(t->group, sizeof t->group, "%s", group);
    snprintf(t->version, sizeof t->version, "%s", version);
    snprintf(t->kind, sizeof t->kind, "%s", kind);
    snprintf(t->plural, sizeof t->plural, "%s", plural);
    snprintf(t->singular, sizeof t->singular, "%s", singular ? singular : kind);
    lower(t->singular);
    snprintf(t->res, sizeof t->res, "%s/%s", group, plural);
    t->namespaced = !!(flags & NS);
    t->status = !!(flags & STATUS);
    t->generation = !!(flags & GEN);
    t->create_on_update = !!(flags & PUT_CREATES);
    t->needs_rv = !!(flags & NEEDS_RV);
    t->returns_object = !!(flags & RETURNS_OBJ);
    t->review = !!(flags & REVIEW);
    t->orphans = !!(flags & ORPHANS);
    t->categories = flags & IN_ALL ? json_pack("[s]", "all") : NULL;
}

void kapi_types_builtin(struct kapi *api)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        const struct builtin *b = &builtins[i];
        struct ktype *t = slot(api, b->group, b->plural);
        if (!t)
            return;
        fill(t, b->group, "v1", b->kind, b->plural, NULL, b->flags);
        t->short_names = b->short_name ? json_pack("[s]", b->short_name) : NULL;
    }
}

const struct ktype *kapi_type_lookup(const struct kapi *api, const char *group,
                                     const char *version, const char *plural)
{
    for (size_t i = 0; i < api->ntypes; i++) {
        const struct ktype *t = &api->types[i];
        if (!strcmp(t->group, group) && !strcmp(t->plural, plural) &&
            (!version || !strcmp(t->version, version)))
            return t;
    }
    return NULL;
}

const struct ktype *kapi_type_by_res(const struct kapi *api, const char *res)
{
    for (size_t i = 0; i < api->ntypes; i++)
        if (!strcmp(api->types[i].res, res))
            return &api->types[i];
    return NULL;
}

/* The served version a CRD's objects are stored and answered in: its
 * storage version (every Ambient CRD has one version). */
static const json_t *storage_version(const json_t *spec)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(spec, "versions"), i, v)
    {
        if (json_is_true(json_object_get(v, "storage")))
            return v;
    }
    return NULL;
}

const char *kapi_crd_problem(const json_t *crd)
{
    const json_t *spec = json_object_get(crd, "spec");
    const json_t *names = json_object_get(spec, "names");
    const char *group = json_string_value(json_object_get(spec, "group"));
    const char *plural = json_string_value(json_object_get(names, "plural"));
    const char *kind = json_string_value(json_object_get(names, "kind"));
    const char *scope = json_string_value(json_object_get(spec, "scope"));
    const char *name = json_string_value(json_object_get(json_object_get(crd, "metadata"), "name"));
    if (!group || !*group)
        return "spec.group: Required value";
    if (!plural || !*plural)
        return "spec.names.plural: Required value";
    if (!kind || !*kind)
        return "spec.names.kind: Required value";
    if (strlen(group) >= sizeof ((struct ktype *)0)->group ||
        strlen(plural) >= sizeof ((struct ktype *)0)->plural ||
        strlen(kind) >= sizeof ((struct ktype *)0)->kind)
        return "spec.names: Too long";
    char want[256];
    snprintf(want, sizeof want, "%s.%s", plural, group);
    if (!name || strcmp(name, want))
        return "metadata.name: Invalid value: must be spec.names.plural+\".\"+spec.group";
    if (!scope || (strcmp(scope, "Namespaced") && strcmp(scope, "Cluster")))
        return "spec.scope: Unsupported value: supported values: \"Cluster\", \"Namespaced\"";
    const json_t *v = storage_version(spec);
    const char *vname = json_string_value(json_object_get(v, "name"));
    if (!vname || strlen(vname) >= sizeof ((struct ktype *)0)->version)
        return "spec.versions: Invalid value: must have exactly one version marked as storage "
               "version";
    return NULL;
}

void kapi_types_crd(struct kapi *api, const json_t *crd, int deleted)
{
    if (kapi_crd_problem(crd))
        return;
    const json_t *spec = json_object_get(crd, "spec");
    const json_t *names = json_object_get(spec, "names");
    const char *group = json_string_value(json_object_get(spec, "group"));
    const char *plural = json_string_value(json_object_get(names, "plural"));
    if (deleted) {
        for (size_t i = 0; i < api->ntypes; i++) {
            struct ktype *t = &api->types[i];
            if (t->crd && !strcmp(t->group, group) && !strcmp(t->plural, plural)) {
                json_decref(t->short_names);
                json_decref(t->categories);
                api->types[i] = api->types[--api->ntypes];
                return;
            }
        }
        return;
    }
    struct ktype *t = slot(api, group, plural);
    if (!t)
        return;
    const json_t *v = storage_version(spec);
    int namespaced = !strcmp(json_string_value(json_object_get(spec, "scope")), "Namespaced");
    int status = json_object_get(json_object_get(v, "subresources"), "status") != NULL;
    fill(t, group, json_string_value(json_object_get(v, "name")),
         json_string_value(json_object_get(names, "kind")), plural,
         json_string_value(json_object_get(names, "singular")),
         (namespaced ? NS : 0) | (status ? STATUS : 0) | GEN | NEEDS_RV);
    t->crd = 1;
    const json_t *sn = json_object_get(names, "shortNames");
    t->short_names = json_is_array(sn) ? json_deep_copy(sn) : NULL;
    const json_t *cat = json_object_get(names, "categories");
    t->categories = json_is_array(cat) ? json_deep_copy(cat) : NULL;
}
