/* kubeapi_bootstrap.c — what the store holds before any client comes: at
 * the first start the namespace "default", the bootstrap RBAC policy and
 * the objects of the RBAC directory (deploy/rbac, as an operator applies
 * it to a cluster); at every start the CRDs of the CRD directory (created,
 * or replaced when they changed), so an upgrade serves its new kinds. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeapi.h"
#include "yaml_json.h"

#define MAX_FILE (4u << 20)
#define MAX_FILES 256

/* Creates namespace ns when it is missing (inside the open transaction). */
static int ensure_namespace(struct kapi *api, const char *ns, struct kerr *e)
{
    const struct ktype *t = kapi_type_by_res(api, "/namespaces");
    json_t *n = kobj_load(api, t, "", ns, e);
    if (n || e->code != 404) {
        json_decref(n);
        return n ? 0 : -1;
    }
    n = kobj_create(api, t, "", json_pack("{s:{s:s}}", "metadata", "name", ns), e);
    json_decref(n);
    return n ? 0 : -1;
}

int kapi_apply_internal(struct kapi *api, json_t *obj, int replace, char *err, size_t n)
{
    const struct ktype *t = kapi_type_of(api, obj);
    json_t *m = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(m, "name"));
    if (!t || t->review || !name) {
        snprintf(err, n, "%s %s: not a kind this server stores, or no metadata.name",
                 json_string_value(json_object_get(obj, "apiVersion")),
                 json_string_value(json_object_get(obj, "kind")));
        return -1;
    }
    char ns[64];
    const char *given = json_string_value(json_object_get(m, "namespace"));
    snprintf(ns, sizeof ns, "%s", given ? given : t->namespaced ? "default" : "");
    struct kerr e = {0};
    int rc = kstore_begin(api->store);
    if (rc) {
        snprintf(err, n, "%s", kstore_errmsg(api->store));
        return rc;
    }
    if (t->namespaced && ensure_namespace(api, ns, &e) != 0)
        goto fail;
    json_t *old = kobj_load(api, t, ns, name, &e);
    json_t *stored = NULL;
    int existed = old != NULL;
    if (!old && e.code != 404)
        goto fail;
    if (!old) {
        stored = kobj_create(api, t, t->namespaced ? ns : "", json_incref(obj), &e);
    } else if (replace) {
        json_t *copy = json_deep_copy(obj);
        json_object_set(json_object_get(copy, "metadata"), "resourceVersion",
                        json_object_get(json_object_get(old, "metadata"), "resourceVersion"));
        stored = kobj_update(api, t, ns, name, copy, 0, 1, &e);
    } else {
        stored = json_incref(old);
    }
    json_decref(old);
    if (!stored)
        goto fail;
    json_decref(stored);
    rc = kapi_commit(api);
    if (rc) {
        snprintf(err, n, "%s", kstore_errmsg(api->store));
        return rc;
    }
    return existed;
fail:
    kstore_rollback(api->store);
    snprintf(err, n, "%s \"%s\": %s", t->kind, name,
             e.store_rc ? kstore_errmsg(api->store) : e.msg);
    return -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_manifest(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
           (n > 5 && !strcmp(name + n - 5, ".json"));
}

static int apply_file(struct kapi *api, const char *path, const char *only_kind, int replace,
                      char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    char *text = f ? malloc(MAX_FILE + 1) : NULL;
    size_t len = text ? fread(text, 1, MAX_FILE + 1, f) : 0;
    if (f)
        fclose(f);
    if (!text || len > MAX_FILE) {
        snprintf(err, n, "%s: cannot read it, or larger than %u bytes", path, MAX_FILE);
        free(text);
        return -1;
    }
    char why[256];
    json_t *docs = yaml_to_json(text, len, why, sizeof why);
    free(text);
    if (!docs) {
        snprintf(err, n, "%s: %s", path, why);
        return -1;
    }
    size_t i;
    json_t *doc;
    int rc = 0;
    json_array_foreach(docs, i, doc)
    {
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        char problem[600];
        if (rc)
            break;
        if (only_kind && (!kind || strcmp(kind, only_kind))) {
            snprintf(err, n, "%s: document %zu is a %s, not a %s", path, i + 1,
                     kind ? kind : "document without a kind", only_kind);
            rc = -1;
        } else if (kapi_apply_internal(api, doc, replace, problem, sizeof problem) < 0) {
            snprintf(err, n, "%s: %s", path, problem);
            rc = -1;
        }
    }
    json_decref(docs);
    return rc;
}

/* Applies every manifest of dir in name order; 0, or -1 with err. */
static int apply_dir(struct kapi *api, const char *dir, const char *only_kind, int replace,
                     char *err, size_t n)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, n, "%s: cannot read the directory", dir);
        return -1;
    }
    char *names[MAX_FILES];
    size_t count = 0;
    struct dirent *de;
    while ((de = readdir(d)) && count < MAX_FILES)
        if (is_manifest(de->d_name))
            names[count++] = strdup(de->d_name);
    closedir(d);
    qsort(names, count, sizeof names[0], by_name);
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i] ? names[i] : "");
        if (!rc && names[i])
            rc = apply_file(api, path, only_kind, replace, err, n);
        free(names[i]);
    }
    return rc;
}

int kapi_bootstrap(struct kapi *api, int fresh, const char *crd_dir, const char *rbac_dir,
                   char *err, size_t n)
{
    if (fresh) {
        json_t *objs = kapi_rbac_bootstrap();
        json_array_append_new(objs, json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                                              "Namespace", "metadata", "name", "default"));
        size_t i;
        json_t *o;
        int rc = objs ? 0 : -1;
        json_array_foreach(objs, i, o) if (!rc && kapi_apply_internal(api, o, 0, err, n) < 0) rc = -1;
        json_decref(objs);
        if (rc || (rbac_dir && apply_dir(api, rbac_dir, NULL, 0, err, n)))
            return -1;
    }
    return crd_dir ? apply_dir(api, crd_dir, "CustomResourceDefinition", 1, err, n) : 0;
}
