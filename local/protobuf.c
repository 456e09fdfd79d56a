/* protobuf.c — the protobuf request bodies of kubectl's typed commands
 * (create namespace|secret|configmap|serviceaccount|role|rolebinding|
 * clusterrole|clusterrolebinding|token, auth can-i, auth whoami) as the
 * JSON objects they stand for. client-go sends
 * application/vnd.kubernetes.protobuf and takes JSON back, so only
 * decoding is needed. Field numbers are k8s.io/api's generated.proto;
 * fields not listed are skipped; any other kind is refused. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "kubeapi.h"

enum pkind { P_STR, P_BYTES, P_INT, P_BOOL, P_TIME, P_MSG, P_MAP, P_BMAP };

struct pfield {
    int num;
    const char *name;
    enum pkind kind;
    int repeated;
    const struct pfield *sub;
};

#define END {0, NULL, P_STR, 0, NULL}

static const struct pfield owner_ref[] = {
    {1, "kind", P_STR, 0, NULL},        {3, "name", P_STR, 0, NULL},
    {4, "uid", P_STR, 0, NULL},         {5, "apiVersion", P_STR, 0, NULL},
    {6, "controller", P_BOOL, 0, NULL}, {7, "blockOwnerDeletion", P_BOOL, 0, NULL},
    END};
static const struct pfield object_meta[] = {
    {1, "name", P_STR, 0, NULL},          {2, "generateName", P_STR, 0, NULL},
    {3, "namespace", P_STR, 0, NULL},     {5, "uid", P_STR, 0, NULL},
    {6, "resourceVersion", P_STR, 0, NULL}, {7, "generation", P_INT, 0, NULL},
    {8, "creationTimestamp", P_TIME, 0, NULL}, {11, "labels", P_MAP, 0, NULL},
    {12, "annotations", P_MAP, 0, NULL},  {13, "ownerReferences", P_MSG, 1, owner_ref},
    {14, "finalizers", P_STR, 1, NULL},   END};
static const struct pfield requirement[] = {
    {1, "key", P_STR, 0, NULL}, {2, "operator", P_STR, 0, NULL}, {3, "values", P_STR, 1, NULL},
    END};
static const struct pfield label_selector[] = {
    {1, "matchLabels", P_MAP, 0, NULL}, {2, "matchExpressions", P_MSG, 1, requirement}, END};
static const struct pfield policy_rule[] = {
    {1, "verbs", P_STR, 1, NULL},         {2, "apiGroups", P_STR, 1, NULL},
    {3, "resources", P_STR, 1, NULL},     {4, "resourceNames", P_STR, 1, NULL},
    {5, "nonResourceURLs", P_STR, 1, NULL}, END};
static const struct pfield subject[] = {
    {1, "kind", P_STR, 0, NULL}, {2, "apiGroup", P_STR, 0, NULL}, {3, "name", P_STR, 0, NULL},
    {4, "namespace", P_STR, 0, NULL}, END};
static const struct pfield role_ref[] = {
    {1, "apiGroup", P_STR, 0, NULL}, {2, "kind", P_STR, 0, NULL}, {3, "name", P_STR, 0, NULL},
    END};
static const struct pfield aggregation[] = {
    {1, "clusterRoleSelectors", P_MSG, 1, label_selector}, END};
static const struct pfield bound_ref[] = {
    {1, "kind", P_STR, 0, NULL}, {2, "apiVersion", P_STR, 0, NULL}, {3, "name", P_STR, 0, NULL},
    {4, "uid", P_STR, 0, NULL}, END};
static const struct pfield token_spec[] = {
    {1, "audiences", P_STR, 1, NULL}, {3, "boundObjectRef", P_MSG, 0, bound_ref},
    {4, "expirationSeconds", P_INT, 0, NULL}, END};
static const struct pfield resource_attrs[] = {
    {1, "namespace", P_STR, 0, NULL}, {2, "verb", P_STR, 0, NULL}, {3, "group", P_STR, 0, NULL},
    {4, "version", P_STR, 0, NULL},   {5, "resource", P_STR, 0, NULL},
    {6, "subresource", P_STR, 0, NULL}, {7, "name", P_STR, 0, NULL}, END};
static const struct pfield non_resource_attrs[] = {
    {1, "path", P_STR, 0, NULL}, {2, "verb", P_STR, 0, NULL}, END};
static const struct pfield ssar_spec[] = {
    {1, "resourceAttributes", P_MSG, 0, resource_attrs},
    {2, "nonResourceAttributes", P_MSG, 0, non_resource_attrs}, END};
static const struct pfield ns_spec[] = {{1, "finalizers", P_STR, 1, NULL}, END};

#define META {1, "metadata", P_MSG, 0, object_meta}
static const struct pfield k_namespace[] = {META, {2, "spec", P_MSG, 0, ns_spec}, END};
static const struct pfield k_secret[] = {
    META, {2, "data", P_BMAP, 0, NULL}, {3, "type", P_STR, 0, NULL},
    {4, "stringData", P_MAP, 0, NULL}, {5, "immutable", P_BOOL, 0, NULL}, END};
static const struct pfield k_configmap[] = {
    META, {2, "data", P_MAP, 0, NULL}, {3, "binaryData", P_BMAP, 0, NULL},
    {4, "immutable", P_BOOL, 0, NULL}, END};
static const struct pfield k_serviceaccount[] = {
    META, {4, "automountServiceAccountToken", P_BOOL, 0, NULL}, END};
static const struct pfield k_token_request[] = {META, {2, "spec", P_MSG, 0, token_spec}, END};
static const struct pfield k_ssar[] = {META, {2, "spec", P_MSG, 0, ssar_spec}, END};
static const struct pfield k_meta_only[] = {META, END};
static const struct pfield k_role[] = {META, {2, "rules", P_MSG, 1, policy_rule}, END};
static const struct pfield k_cluster_role[] = {
    META, {2, "rules", P_MSG, 1, policy_rule}, {3, "aggregationRule", P_MSG, 0, aggregation},
    END};
static const struct pfield k_binding[] = {
    META, {2, "subjects", P_MSG, 1, subject}, {3, "roleRef", P_MSG, 0, role_ref}, END};

static const struct {
    const char *kind;
    const struct pfield *schema;
} kinds[] = {
    {"Namespace", k_namespace},
    {"Secret", k_secret},
    {"ConfigMap", k_configmap},
    {"ServiceAccount", k_serviceaccount},
    {"TokenRequest", k_token_request},
    {"SelfSubjectAccessReview", k_ssar},
    {"SelfSubjectReview", k_meta_only},
    {"Role", k_role},
    {"ClusterRole", k_cluster_role},
    {"RoleBinding", k_binding},
    {"ClusterRoleBinding", k_binding},
};

/* A bounded reader of one message's bytes. */
struct pbuf {
    const unsigned char *p, *end;
};

static int varint(struct pbuf *b, unsigned long long *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
        unsigned char c = *b->p++;
        *v |= (unsigned long long)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* The next field: its number, and its value as an integer (wire type 0) or
 * as bytes (wire type 2); fixed-size ones are skipped. 1, 0 at the end, -1
 * when the bytes are not protobuf. */
static int next_field(struct pbuf *b, int *num, unsigned long long *v, struct pbuf *bytes)
{
    bytes->p = bytes->end = NULL; /* only a length-delimited field has bytes */
    *v = 0;
    if (b->p >= b->end)
        return 0;
    unsigned long long key;
    if (varint(b, &key) != 0)
        return -1;
    *num = (int)(key >> 3);
    switch (key & 7) {
    case 0:
        return varint(b, v) == 0 ? 1 : -1;
    case 2:
        if (varint(b, v) != 0 || *v > (unsigned long long)(b->end - b->p))
            return -1;
        bytes->p = b->p;
        bytes->end = b->p + *v;
        b->p += *v;
        return 1;
    case 1:
    case 5: {
        size_t skip = (key & 7) == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < skip)
            return -1;
        b->p += skip;
        return 1;
    }
    default:
        return -1;
    }
}

static json_t *base64(struct pbuf v)
{
    size_t n = (size_t)(v.end - v.p);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, v.p, (int)n);
    json_t *s = json_string(out);
    free(out);
    return s;
}

static json_t *decode(struct pbuf b, const struct pfield *schema, int depth);

static json_t *time_value(struct pbuf v)
{
    int num;
    unsigned long long x = 0, secs = 0;
    struct pbuf bytes;
    while (next_field(&v, &num, &x, &bytes) == 1)
        if (num == 1)
            secs = x;
    time_t t = (time_t)secs;
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

/* One map entry {1: key, 2: value} into obj. */
static int map_entry(json_t *obj, struct pbuf e, int binary)
{
    int num;
    unsigned long long x;
    struct pbuf bytes, key = {0}, val = {0};
    int rc;
    while ((rc = next_field(&e, &num, &x, &bytes)) == 1) {
        if (num == 1)
            key = bytes;
        else if (num == 2)
            val = bytes;
    }
    if (rc < 0 || !key.p)
        return -1;
    json_t *k = json_stringn((const char *)key.p, (size_t)(key.end - key.p));
    json_t *v = !val.p ? json_string("")
                : binary ? base64(val)
                         : json_stringn((const char *)val.p, (size_t)(val.end - val.p));
    int out = k && v ? json_object_set(obj, json_string_value(k), v) : -1;
    json_decref(k);
    json_decref(v);
    return out;
}

static json_t *value(const struct pfield *f, unsigned long long x, struct pbuf bytes, int depth)
{
    switch (f->kind) {
    case P_STR:
        return bytes.p ? json_stringn((const char *)bytes.p, (size_t)(bytes.end - bytes.p)) : NULL;
    case P_BYTES:
        return bytes.p ? base64(bytes) : NULL;
    case P_INT:
        return json_integer((json_int_t)x);
    case P_BOOL:
        return json_boolean(x != 0);
    case P_TIME:
        return bytes.p ? time_value(bytes) : NULL;
    case P_MSG:
        return bytes.p ? decode(bytes, f->sub, depth + 1) : NULL;
    default:
        return NULL;
    }
}

static json_t *decode(struct pbuf b, const struct pfield *schema, int depth)
{
    json_t *out = json_object();
    int num, rc = out ? 0 : -1;
    unsigned long long x = 0;
    struct pbuf bytes;
    if (depth > 8)
        rc = -1;
    else
        while (out && (rc = next_field(&b, &num, &x, &bytes)) == 1) {
            const struct pfield *f = schema;
            while (f->name && f->num != num)
                f++;
            if (!f->name)
                continue; /* a field this server does not need */
            if (f->kind == P_MAP || f->kind == P_BMAP) {
                json_t *m = json_object_get(out, f->name);
                if (!m)
                    json_object_set_new(out, f->name, m = json_object());
                if (!bytes.p || map_entry(m, bytes, f->kind == P_BMAP) != 0)
                    rc = -1;
            } else {
                json_t *v = value(f, x, bytes, depth);
                if (!v)
                    rc = -1;
                else if (!f->repeated)
                    json_object_set_new(out, f->name, v);
                else {
                    json_t *arr = json_object_get(out, f->name);
                    if (!arr)
                        json_object_set_new(out, f->name, arr = json_array());
                    json_array_append_new(arr, v);
                }
            }
            if (rc < 0)
                break;
        }
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *kapi_protobuf_decode(const void *body, size_t len, char *why, size_t n)
{
    static const unsigned char magic[4] = {'k', '8', 's', 0};
    if (len < 4 || memcmp(body, magic, 4)) {
        snprintf(why, n, "the body lacks the k8s protobuf envelope");
        return NULL;
    }
    struct pbuf b = {(const unsigned char *)body + 4, (const unsigned char *)body + len};
    struct pbuf bytes, type_meta = {0}, raw = {0};
    unsigned long long x;
    int num, rc;
    while ((rc = next_field(&b, &num, &x, &bytes)) == 1) {
        if (num == 1)
            type_meta = bytes;
        else if (num == 2)
            raw = bytes;
    }
    json_t *tm = rc == 0 && type_meta.p ? decode(type_meta, (const struct pfield[]){
                                                                {1, "apiVersion", P_STR, 0, NULL},
                                                                {2, "kind", P_STR, 0, NULL},
                                                                END},
                                                  0)
                                        : NULL;
    const char *kind = json_string_value(json_object_get(tm, "kind"));
    const struct pfield *schema = NULL;
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].kind, kind))
            schema = kinds[i].schema;
    json_t *obj = schema && raw.p ? decode(raw, schema, 0) : NULL;
    if (obj) {
        json_object_set(obj, "apiVersion", json_object_get(tm, "apiVersion"));
        json_object_set(obj, "kind", json_object_get(tm, "kind"));
    } else if (!schema) {
        snprintf(why, n, "protobuf bodies of kind \"%s\" are not read here; send JSON",
                 kind ? kind : "");
    } else {
        snprintf(why, n, "the protobuf body is not valid");
    }
    json_decref(tm);
    return obj;
}
