/* registry.c — validation and deep copies of registered kinds, forges and
 * routes (see registry-internal.h). A struct from a plugin built against an
 * older minor is shorter: only its `size` bytes are read, the rest is zero. */
#include "registry-internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ambient/names.h"
#include "error-internal.h"

/* Sizes of the structs as ABI 1.0 defined them: the least a plugin may pass. */
#define SIZE_END(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))
#define KIND_SIZE_1_0 SIZE_END(struct amb_kind, finalize)
#define FORGE_SIZE_1_0 SIZE_END(struct amb_forge, verify_webhook)
#define ROUTE_SIZE_1_0 SIZE_END(struct amb_route, flags)

/* Copies a sized struct from a plugin into dst (zeroing what it lacks). */
static int copy_sized(void *dst, size_t host_size, const void *src, size_t min_size,
                      const char *what, struct amb_error *err)
{
    if (!src)
        return ambd_error_set(err, AMB_EINVAL, NULL, "%s is NULL", what);
    uint32_t size = *(const uint32_t *)src;
    if (size < min_size || size > host_size)
        return ambd_error_set(err, AMB_EINVAL, NULL,
                              "%s has size %u; this host accepts %zu to %zu (set size = sizeof)",
                              what, size, min_size, host_size);
    memset(dst, 0, host_size);
    memcpy(dst, src, size);
    return AMB_OK;
}

/* A resource's group: "" (the core group) or a DNS subdomain. */
static int is_group(const char *s) { return !*s || amb_is_dns_subdomain(s); }

static int is_kind_name(const char *s)
{
    if (!s || !isupper((unsigned char)s[0]) || strlen(s) > 63)
        return 0;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s))
            return 0;
    }
    return 1;
}

static int check_resource(const struct amb_resource *res, const char *where, struct amb_error *err)
{
    int rc = AMB_OK;
    if (!res->group || !is_group(res->group))
        rc = ambd_error_set(err, AMB_EINVAL, where, "group \"%s\" is not a DNS subdomain (\"\" for core)",
                            res->group ? res->group : "(null)");
    if (!res->version || !amb_is_dns_label(res->version))
        rc = ambd_error_set(err, AMB_EINVAL, where, "version is empty or not a DNS label");
    if (!is_kind_name(res->kind))
        rc = ambd_error_set(err, AMB_EINVAL, where,
                            "kind name \"%s\" is empty or not CamelCase letters and digits",
                            res->kind ? res->kind : "");
    if (!res->plural || !amb_is_dns_label(res->plural))
        rc = ambd_error_set(err, AMB_EINVAL, where, "plural \"%s\" is empty or not a lowercase DNS label",
                            res->plural ? res->plural : "");
    return rc;
}

static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

static void resource_copy(struct amb_resource *dst, const struct amb_resource *src, int *failed)
{
    dst->group = dup_or_null(src->group, failed);
    dst->version = dup_or_null(src->version, failed);
    dst->kind = dup_or_null(src->kind, failed);
    dst->plural = dup_or_null(src->plural, failed);
    dst->namespaced = src->namespaced ? 1 : 0;
}

static void resource_free(struct amb_resource *res)
{
    free((char *)res->group);
    free((char *)res->version);
    free((char *)res->kind);
    free((char *)res->plural);
}

static void kind_entry_free(struct ambd_kind_entry *e)
{
    if (!e)
        return;
    resource_free(&e->kind.resource);
    free((char *)e->kind.rest_plural);
    free((char *)e->kind.finalizer);
    free((char *)e->kind.event_poster_prefix);
    for (size_t i = 0; i < e->kind.n_owns; i++)
        resource_free((struct amb_resource *)&e->kind.owns[i]);
    free((struct amb_resource *)e->kind.owns);
    free(e);
}

static void release_data(struct ambd_owned_data *d)
{
    if (d->free_user_data)
        d->free_user_data(d->user_data);
    d->free_user_data = NULL;
    d->user_data = NULL;
}

static const char *rest_plural_of(const struct amb_kind *k)
{
    return k->rest_plural ? k->rest_plural : k->resource.plural;
}

/* 1.5: flags the host knows, and an event log's poster: a service account
 * name prefix ([a-z0-9-], starting alphanumeric, at most 63). */
static int check_event_log(const struct amb_kind *k, struct amb_error *err)
{
    const char *p = k->event_poster_prefix;
    if (k->flags & ~(uint32_t)AMB_KIND_EVENT_LOG)
        return ambd_error_set(err, AMB_EINVAL, "flags", "unknown flags 0x%x",
                              (unsigned)(k->flags & ~(uint32_t)AMB_KIND_EVENT_LOG));
    if (!(k->flags & AMB_KIND_EVENT_LOG)) {
        if (p)
            return ambd_error_set(err, AMB_EINVAL, "event_poster_prefix",
                                  "is only for a kind with AMB_KIND_EVENT_LOG");
        return AMB_OK;
    }
    size_t n = p ? strlen(p) : 0;
    int ok = n > 0 && n <= 63 && isalnum((unsigned char)p[0]);
    for (size_t i = 0; ok && i < n; i++)
        ok = islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || p[i] == '-';
    if (!ok)
        return ambd_error_set(err, AMB_EINVAL, "event_poster_prefix",
                              "an event log needs its poster's service account name prefix "
                              "([a-z0-9-], at most 63, starting alphanumeric)");
    return AMB_OK;
}

static int check_kind(const struct ambd_registry *r, const struct amb_kind *k, struct amb_error *err)
{
    int rc = check_resource(&k->resource, "kind", err);
    if (rc != AMB_OK)
        return rc;
    if (k->rest_plural && !amb_is_dns_label(k->rest_plural))
        rc = ambd_error_set(err, AMB_EINVAL, "rest_plural", "\"%s\" is not a lowercase DNS label",
                            k->rest_plural);
    if (k->finalizer && (!strchr(k->finalizer, '/') || strlen(k->finalizer) > 316))
        rc = ambd_error_set(err, AMB_EINVAL, "finalizer",
                            "\"%s\" must be a qualified name like example.com/cleanup", k->finalizer);
    if (!k->finalizer != !k->finalize)
        rc = ambd_error_set(err, AMB_EINVAL, "finalize",
                            "a finalizer name and a finalize callback go together");
    if (k->n_owns > 0 && !k->owns)
        rc = ambd_error_set(err, AMB_EINVAL, "owns", "n_owns is %zu but owns is NULL", k->n_owns);
    for (size_t i = 0; k->owns && i < k->n_owns && i < 64; i++) {
        if (check_resource(&k->owns[i], "owns", err) != AMB_OK)
            rc = AMB_EINVAL;
    }
    if (k->n_owns > 64)
        rc = ambd_error_set(err, AMB_EINVAL, "owns", "at most 64 child kinds");
    if (check_event_log(k, err) != AMB_OK)
        rc = AMB_EINVAL;
    if (rc != AMB_OK)
        return rc;
    for (size_t i = 0; i < r->n_kinds; i++) {
        const struct ambd_kind_entry *e = r->kinds[i];
        const struct amb_resource *o = &e->kind.resource;
        if (strcmp(o->group, k->resource.group) == 0 &&
            (strcmp(o->kind, k->resource.kind) == 0 || strcmp(o->plural, k->resource.plural) == 0))
            return ambd_error_set(err, AMB_EEXIST, "kind",
                                  "%s (%s.%s) is already registered by plugin \"%s\"",
                                  k->resource.kind, k->resource.plural, k->resource.group,
                                  e->data.owner_name);
        if (strcmp(rest_plural_of(&e->kind), rest_plural_of(k)) == 0)
            return ambd_error_set(err, AMB_EEXIST, "rest_plural",
                                  "/api/projects/:project/%s is already served for %s by plugin \"%s\"",
                                  rest_plural_of(k), o->kind, e->data.owner_name);
    }
    return AMB_OK;
}

/* Grows an array of entry pointers by one slot. */
static int grow(void *array_ptr, size_t n)
{
    void ***arr = array_ptr;
    void **p = realloc(*arr, (n + 1) * sizeof *p);
    if (!p)
        return AMB_ENOMEM;
    *arr = p;
    return AMB_OK;
}

int ambd_registry_add_kind(struct ambd_registry *r, struct ambd_owned_data data,
                           const struct amb_kind *kind, struct amb_error *err)
{
    struct amb_kind k;
    struct ambd_kind_entry *e = NULL;
    int failed = 0;
    int rc = copy_sized(&k, sizeof k, kind, KIND_SIZE_1_0, "struct amb_kind", err);
    if (rc == AMB_OK)
        rc = check_kind(r, &k, err);
    if (rc != AMB_OK)
        goto fail;
    if (!(e = calloc(1, sizeof *e)) || grow(&r->kinds, r->n_kinds) != AMB_OK) {
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        goto fail;
    }
    e->kind = k;
    resource_copy(&e->kind.resource, &k.resource, &failed);
    e->kind.rest_plural = dup_or_null(k.rest_plural, &failed);
    e->kind.finalizer = dup_or_null(k.finalizer, &failed);
    e->kind.event_poster_prefix = dup_or_null(k.event_poster_prefix, &failed);
    e->kind.owns = NULL;
    e->kind.n_owns = 0;
    if (k.n_owns > 0) {
        struct amb_resource *owns = calloc(k.n_owns, sizeof *owns);
        failed |= owns == NULL;
        for (size_t i = 0; owns && i < k.n_owns; i++)
            resource_copy(&owns[i], &k.owns[i], &failed);
        e->kind.owns = owns;
        e->kind.n_owns = owns ? k.n_owns : 0;
    }
    if (failed) {
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        goto fail;
    }
    e->data = data;
    r->kinds[r->n_kinds++] = e;
    return AMB_OK;
fail:
    kind_entry_free(e);
    release_data(&data);
    return rc;
}

static int is_identifier(const char *s)
{
    if (!s || !islower((unsigned char)s[0]) || strlen(s) > 63)
        return 0;
    for (; *s; s++) {
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' || *s == '_'))
            return 0;
    }
    return 1;
}

int ambd_registry_add_forge(struct ambd_registry *r, struct ambd_owned_data data,
                            const struct amb_forge *forge, struct amb_error *err)
{
    struct amb_forge f;
    struct ambd_forge_entry *e = NULL;
    int rc = copy_sized(&f, sizeof f, forge, FORGE_SIZE_1_0, "struct amb_forge", err);
    if (rc != AMB_OK)
        goto fail;
    if (!is_identifier(f.name)) {
        rc = ambd_error_set(err, AMB_EINVAL, "forge", "name \"%s\" is empty or not [a-z][a-z0-9_-]*",
                            f.name ? f.name : "");
        goto fail;
    }
    if (!f.match_url) {
        rc = ambd_error_set(err, AMB_EINVAL, "forge", "%s has no match_url callback", f.name);
        goto fail;
    }
    for (size_t i = 0; i < r->n_forges; i++) {
        if (strcmp(r->forges[i]->forge.name, f.name) == 0) {
            rc = ambd_error_set(err, AMB_EEXIST, "forge", "%s is already registered by plugin \"%s\"",
                                f.name, r->forges[i]->data.owner_name);
            goto fail;
        }
    }
    if (!(e = calloc(1, sizeof *e)) || grow(&r->forges, r->n_forges) != AMB_OK ||
        !(f.name = strdup(f.name))) {
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        goto fail;
    }
    e->forge = f;
    e->data = data;
    r->forges[r->n_forges++] = e;
    return AMB_OK;
fail:
    free(e);
    release_data(&data);
    return rc;
}

static const char *const route_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

/* Pattern: "/" or "/seg/seg/:param", segments [A-Za-z0-9._~-]+ or :name. */
static int check_pattern(const char *p, struct amb_error *err)
{
    if (!p || p[0] != '/' || strlen(p) > 512)
        return ambd_error_set(err, AMB_EINVAL, "route", "pattern \"%s\" must start with '/'",
                              p ? p : "");
    for (const char *seg = p + 1; *seg;) {
        size_t len = strcspn(seg, "/");
        int param = seg[0] == ':';
        if (len == (size_t)param)
            return ambd_error_set(err, AMB_EINVAL, "route", "pattern \"%s\" has an empty segment", p);
        for (size_t i = (size_t)param; i < len; i++) {
            char c = seg[i];
            int ok = isalnum((unsigned char)c) || c == '-' || c == '_' || (!param && (c == '.' || c == '~'));
            if (!ok)
                return ambd_error_set(err, AMB_EINVAL, "route", "pattern \"%s\" has '%c' in a segment",
                                      p, c);
        }
        seg += len;
        if (*seg == '/')
            seg++;
    }
    return AMB_OK;
}

/* Two patterns clash when they match the same paths: same segments, with
 * any parameter equal to any parameter. */
static int patterns_clash(const char *a, const char *b)
{
    while (*a && *b) {
        size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
        int pa = a[0] == ':', pb = b[0] == ':';
        if (pa != pb || (!pa && (la != lb || strncmp(a, b, la) != 0)))
            return 0;
        a += la;
        b += lb;
        if (*a != *b)
            return 0;
        if (*a == '/') {
            a++;
            b++;
        }
    }
    return *a == *b;
}

int ambd_registry_add_route(struct ambd_registry *r, struct ambd_owned_data data,
                            const struct amb_route *route, struct amb_error *err)
{
    struct amb_route rt;
    struct ambd_route_entry *e = NULL;
    int rc = copy_sized(&rt, sizeof rt, route, ROUTE_SIZE_1_0, "struct amb_route", err);
    if (rc != AMB_OK)
        goto fail;
    int method_ok = 0;
    for (size_t i = 0; rt.method && i < sizeof route_methods / sizeof route_methods[0]; i++)
        method_ok |= strcmp(rt.method, route_methods[i]) == 0;
    if (!method_ok) {
        rc = ambd_error_set(err, AMB_EINVAL, "route", "method \"%s\" is not GET, POST, PUT, PATCH or DELETE",
                            rt.method ? rt.method : "");
        goto fail;
    }
    if ((rc = check_pattern(rt.pattern, err)) != AMB_OK)
        goto fail;
    if (!rt.handler) {
        rc = ambd_error_set(err, AMB_EINVAL, "route", "%s %s has no handler", rt.method, rt.pattern);
        goto fail;
    }
    for (size_t i = 0; i < r->n_routes; i++) {
        const struct amb_route *o = &r->routes[i]->route;
        if (strcmp(o->method, rt.method) == 0 && patterns_clash(o->pattern, rt.pattern)) {
            rc = ambd_error_set(err, AMB_EEXIST, "route", "%s %s clashes with %s %s of plugin \"%s\"",
                                rt.method, rt.pattern, o->method, o->pattern,
                                r->routes[i]->data.owner_name);
            goto fail;
        }
    }
    if (!(e = calloc(1, sizeof *e)) || grow(&r->routes, r->n_routes) != AMB_OK) {
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        goto fail;
    }
    rt.method = strdup(rt.method);
    rt.pattern = strdup(rt.pattern);
    e->route = rt;
    e->data = data;
    if (!rt.method || !rt.pattern) {
        free((char *)rt.method);
        free((char *)rt.pattern);
        free(e);
        e = NULL;
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        goto fail;
    }
    r->routes[r->n_routes++] = e;
    return AMB_OK;
fail:
    free(e);
    release_data(&data);
    return rc;
}

static void forge_entry_free(struct ambd_forge_entry *e)
{
    free((char *)e->forge.name);
    free(e);
}

static void route_entry_free(struct ambd_route_entry *e)
{
    free((char *)e->route.method);
    free((char *)e->route.pattern);
    free(e);
}

/* Removes owner's entries from one array (entries of any type, each with
 * its struct ambd_owned_data at data_offset), freeing their user data and
 * then the entry. Returns the new count. */
static size_t remove_owned(void **items, size_t n, const struct amb_module *owner,
                           size_t data_offset, void (*free_entry)(void *))
{
    size_t keep = 0;
    for (size_t i = 0; i < n; i++) {
        struct ambd_owned_data *d = (struct ambd_owned_data *)((char *)items[i] + data_offset);
        if (d->owner != owner) {
            items[keep++] = items[i];
            continue;
        }
        release_data(d);
        free_entry(items[i]);
    }
    return keep;
}

static void free_kind_entry(void *e) { kind_entry_free(e); }
static void free_forge_entry(void *e) { forge_entry_free(e); }
static void free_route_entry(void *e) { route_entry_free(e); }

void ambd_registry_release_owner(struct ambd_registry *r, const struct amb_module *owner)
{
    r->n_kinds = remove_owned((void **)r->kinds, r->n_kinds, owner,
                              offsetof(struct ambd_kind_entry, data), free_kind_entry);
    r->n_forges = remove_owned((void **)r->forges, r->n_forges, owner,
                               offsetof(struct ambd_forge_entry, data), free_forge_entry);
    r->n_routes = remove_owned((void **)r->routes, r->n_routes, owner,
                               offsetof(struct ambd_route_entry, data), free_route_entry);
    /* The arrays are released with their last entry. */
    if (r->n_kinds == 0) {
        free(r->kinds);
        r->kinds = NULL;
    }
    if (r->n_forges == 0) {
        free(r->forges);
        r->forges = NULL;
    }
    if (r->n_routes == 0) {
        free(r->routes);
        r->routes = NULL;
    }
}

const struct ambd_kind_entry *ambd_registry_find_kind(const struct ambd_registry *r,
                                                      const char *group, const char *kind)
{
    for (size_t i = 0; i < r->n_kinds; i++) {
        const struct amb_resource *res = &r->kinds[i]->kind.resource;
        if (strcmp(res->group, group) == 0 && strcmp(res->kind, kind) == 0)
            return r->kinds[i];
    }
    return NULL;
}
