/* merge_patch.c — JSON merge patch (RFC 7386) and JSON patch (RFC 6902)
 * on jansson values. kubectl's strategic merge patches are applied as
 * merge patches after their directives ("$patch", "$setElementOrder/...",
 * "$retainKeys", "$deleteFromPrimitiveList/...") are dropped by the caller:
 * lists are replaced whole (docs/decisions.md). */
#include <stdlib.h>
#include <string.h>

#include "kubeapi.h"

void kapi_merge_patch(json_t *target, const json_t *patch)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, key);
        } else if (json_is_object(v)) {
            json_t *cur = json_object_get(target, key);
            if (!json_is_object(cur)) {
                cur = json_object();
                json_object_set_new(target, key, cur);
            }
            kapi_merge_patch(cur, v);
        } else {
            json_object_set_new(target, key, json_deep_copy(v));
        }
    }
}

/* The parent of pointer ptr in *root and the last token (unescaped into
 * tok); NULL when the path does not exist. */
static json_t *resolve_parent(json_t *root, const char *ptr, char *tok, size_t n)
{
    if (!ptr || ptr[0] != '/')
        return NULL;
    json_t *cur = root;
    const char *p = ptr + 1;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t o = 0;
        for (size_t i = 0; i < len && o + 1 < n; i++) {
            if (p[i] == '~' && i + 1 < len && (p[i + 1] == '0' || p[i + 1] == '1')) {
                tok[o++] = p[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                tok[o++] = p[i];
            }
        }
        tok[o] = '\0';
        if (!end)
            return cur;
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur))
            cur = json_array_get(cur, strtoul(tok, NULL, 10));
        else
            return NULL;
        if (!cur)
            return NULL;
        p = end + 1;
    }
}

static int index_of(const json_t *arr, const char *tok, size_t *idx, int for_add)
{
    if (for_add && !strcmp(tok, "-")) {
        *idx = json_array_size(arr);
        return 0;
    }
    if (!*tok || strspn(tok, "0123456789") != strlen(tok))
        return -1;
    *idx = strtoul(tok, NULL, 10);
    return *idx < json_array_size(arr) + (for_add ? 1 : 0) ? 0 : -1;
}

/* The member ptr names: its parent (NULL when absent) and its key or index. */
static json_t *locate(json_t *root, const char *ptr, char *tok, size_t n, size_t *idx)
{
    json_t *parent = resolve_parent(root, ptr, tok, n);
    if (json_is_object(parent) && json_object_get(parent, tok))
        return parent;
    if (json_is_array(parent) && index_of(parent, tok, idx, 0) == 0)
        return parent;
    return NULL;
}

static json_t *pointer_get(json_t *root, const char *ptr)
{
    char tok[256];
    size_t i = 0;
    if (ptr && !*ptr)
        return root;
    json_t *parent = locate(root, ptr, tok, sizeof tok, &i);
    return json_is_object(parent) ? json_object_get(parent, tok) : json_array_get(parent, i);
}

static int pointer_remove(json_t *root, const char *ptr)
{
    char tok[256];
    size_t i = 0;
    json_t *parent = locate(root, ptr, tok, sizeof tok, &i);
    if (!parent)
        return -1;
    return json_is_object(parent) ? json_object_del(parent, tok) : json_array_remove(parent, i);
}

/* Adds (steals) v at ptr; replace: the member must exist. */
static int pointer_put(json_t **root, const char *ptr, json_t *v, int replace)
{
    char tok[256];
    if (!*ptr) {
        json_decref(*root);
        *root = v;
        return 0;
    }
    json_t *parent = resolve_parent(*root, ptr, tok, sizeof tok);
    size_t i;
    int rc = -1;
    if (json_is_object(parent) && (!replace || json_object_get(parent, tok)))
        rc = json_object_set(parent, tok, v);
    else if (json_is_array(parent) && index_of(parent, tok, &i, !replace) == 0)
        rc = replace ? json_array_set(parent, i, v) : json_array_insert(parent, i, v);
    json_decref(v);
    return rc;
}

int kapi_json_patch(json_t **target, const json_t *ops, const char **problem)
{
    size_t i;
    json_t *op;
    if (!json_is_array(ops)) {
        *problem = "a JSON patch must be an array of operations";
        return -1;
    }
    json_array_foreach(ops, i, op)
    {
        const char *kind = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        const char *from = json_string_value(json_object_get(op, "from"));
        json_t *value = json_object_get(op, "value");
        int rc = -1;
        *problem = "the operation's path does not exist";
        if (!kind || !path) {
            *problem = "every operation needs \"op\" and \"path\"";
        } else if (!strcmp(kind, "add") && value) {
            rc = pointer_put(target, path, json_deep_copy(value), 0);
        } else if (!strcmp(kind, "replace") && value) {
            rc = pointer_put(target, path, json_deep_copy(value), 1);
        } else if (!strcmp(kind, "remove")) {
            rc = pointer_remove(*target, path);
        } else if (!strcmp(kind, "test") && value) {
            json_t *cur = pointer_get(*target, path);
            rc = cur && json_equal(cur, value) ? 0 : -1;
            if (rc)
                *problem = "a test operation failed";
        } else if ((!strcmp(kind, "copy") || !strcmp(kind, "move")) && from) {
            json_t *src = pointer_get(*target, from);
            json_t *copy = src ? json_deep_copy(src) : NULL;
            if (copy && (strcmp(kind, "move") || pointer_remove(*target, from) == 0))
                rc = pointer_put(target, path, copy, 0);
            else
                json_decref(copy);
        } else {
            *problem = "unknown operation, or one without its value";
        }
        if (rc)
            return -1;
    }
    return 0;
}
