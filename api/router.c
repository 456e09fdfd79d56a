/* router.c — method + pattern routing of the REST server. A pattern is a
 * path of literal segments and ":name" segments (one non-empty segment
 * each). When several routes match a path, the one whose first differing
 * segment is literal wins, so "/x/summary" beats "/x/:name". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serving.h"

#define MAX_SEGMENTS 24

struct route {
    char method[8];
    char *pattern;                 /* owned copy, segments split in place */
    char *label;                   /* owned copy, whole: the metrics' route label */
    const char *seg[MAX_SEGMENTS]; /* into pattern; ":x" for a parameter */
    size_t n_seg;
    unsigned specificity;          /* a bit per literal segment, first highest */
    api_handler fn;
    unsigned flags;
    const void *data;              /* handed to the handler as r->route_data */
};

struct api_router {
    struct route *routes;
    size_t n, cap;
};

static void route_release(struct route *r)
{
    free(r->pattern);
    free(r->label);
}

struct api_router *api_router_new(void)
{
    return calloc(1, sizeof(struct api_router));
}

void api_router_free(struct api_router *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->n; i++)
        route_release(&rt->routes[i]);
    free(rt->routes);
    free(rt);
}

/* Splits path (modified in place) at '/'; a single trailing '/' is
 * ignored. Returns the number of segments, or -1 for an empty segment or
 * too many. "/" has none. */
static int split(char *path, const char **seg)
{
    size_t n = 0, len = strlen(path);
    if (len == 0 || path[0] != '/')
        return -1;
    if (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    char *p = path + 1;
    while (*p) {
        if (n == MAX_SEGMENTS)
            return -1;
        char *slash = strchr(p, '/');
        if (slash == p)
            return -1;
        seg[n++] = p;
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
        if (!*p)
            return -1;
    }
    return (int)n;
}

int api_router_add(struct api_router *rt, const char *method, const char *pattern,
                   api_handler fn, unsigned flags)
{
    return api_router_add_data(rt, method, pattern, fn, flags, NULL);
}

int api_router_add_data(struct api_router *rt, const char *method, const char *pattern,
                        api_handler fn, unsigned flags, const void *data)
{
    if (!rt || !method || !pattern || !fn || strlen(method) >= sizeof(((struct route *)0)->method))
        return AMB_EINVAL;
    struct route r = {.fn = fn, .flags = flags, .data = data};
    snprintf(r.method, sizeof r.method, "%s", method);
    r.pattern = strdup(pattern);
    r.label = strdup(pattern);
    if (!r.pattern || !r.label) {
        route_release(&r);
        return AMB_ENOMEM;
    }
    int n = split(r.pattern, r.seg);
    size_t params = 0;
    for (int i = 0; i < n; i++) {
        if (r.seg[i][0] == ':') {
            if (!r.seg[i][1])
                n = -1;
            params++;
        } else {
            r.specificity |= 1u << (MAX_SEGMENTS - 1 - i);
        }
    }
    if (n < 0 || params > API_MAX_PARAMS) {
        route_release(&r);
        return AMB_EINVAL;
    }
    r.n_seg = (size_t)n;
    for (size_t i = 0; i < rt->n; i++) {
        const struct route *o = &rt->routes[i];
        int same = o->n_seg == r.n_seg && strcmp(o->method, r.method) == 0;
        for (size_t j = 0; same && j < r.n_seg; j++)
            same = (o->seg[j][0] == ':' && r.seg[j][0] == ':') || strcmp(o->seg[j], r.seg[j]) == 0;
        if (same) {
            route_release(&r);
            return AMB_EEXIST;
        }
    }
    if (rt->n == rt->cap) {
        size_t cap = rt->cap ? rt->cap * 2 : 32;
        struct route *g = realloc(rt->routes, cap * sizeof *g);
        if (!g) {
            route_release(&r);
            return AMB_ENOMEM;
        }
        rt->routes = g;
        rt->cap = cap;
    }
    rt->routes[rt->n++] = r;
    return AMB_OK;
}

static int route_matches(const struct route *rt, const char *const *seg, size_t n)
{
    if (rt->n_seg != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (rt->seg[i][0] != ':' && strcmp(rt->seg[i], seg[i]) != 0)
            return 0;
    return 1;
}

/* Appends m to the comma-separated allow list unless it is there. */
static void allow_add(char *allow, size_t len, const char *m)
{
    size_t mlen = strlen(m);
    for (const char *p = allow; *p;) {
        size_t l = strcspn(p, ",");
        if (l == mlen && strncmp(p, m, l) == 0)
            return;
        p += l;
        while (*p == ',' || *p == ' ')
            p++;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, len - used, "%s%s", used ? ", " : "", m);
}

/* The methods of the routes matching seg, for a 405's Allow (and
 * OPTIONS): only a request that found no route of its own method pays. */
static void fill_allow(const struct api_router *rt, const char *const *seg, size_t n,
                       char *allow, size_t allow_len)
{
    for (size_t i = 0; i < rt->n; i++) {
        const struct route *c = &rt->routes[i];
        if (!route_matches(c, seg, n))
            continue;
        allow_add(allow, allow_len, c->method);
        if (strcmp(c->method, "GET") == 0)
            allow_add(allow, allow_len, "HEAD");
    }
    allow_add(allow, allow_len, "OPTIONS");
}

static void fill_params(const struct route *rt, struct api_req *r, const char *const *seg)
{
    r->n_params = 0;
    for (size_t i = 0; i < rt->n_seg; i++) {
        if (rt->seg[i][0] != ':')
            continue;
        r->param_names[r->n_params] = rt->seg[i] + 1;
        r->param_values[r->n_params] = strdup(seg[i]);
        r->n_params++;
    }
}

api_handler api_router_match(const struct api_router *rt, struct api_req *r, unsigned *flags,
                             int *status, char *allow, size_t allow_len)
{
    char path[API_MAX_PATH + 1];
    const char *seg[MAX_SEGMENTS];
    if (allow_len)
        allow[0] = '\0';
    *status = 404;
    if (!r->path || strlen(r->path) > API_MAX_PATH)
        return NULL;
    snprintf(path, sizeof path, "%s", r->path);
    int n = split(path, seg);
    if (n < 0)
        return NULL;
    /* HEAD is served by the GET route (evhttp drops the body). */
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    const struct route *best = NULL;
    int path_known = 0;
    for (size_t i = 0; i < rt->n; i++) {
        const struct route *c = &rt->routes[i];
        if (!route_matches(c, seg, (size_t)n))
            continue;
        path_known = 1;
        if (strcmp(c->method, method) == 0 && (!best || c->specificity > best->specificity))
            best = c;
    }
    if (!best) {
        if (path_known && allow_len)
            fill_allow(rt, seg, (size_t)n, allow, allow_len);
        *status = path_known ? 405 : 404;
        return NULL;
    }
    fill_params(best, r, seg);
    for (size_t i = 0; i < r->n_params; i++)
        if (!r->param_values[i]) {
            *status = 500;
            return NULL;
        }
    *status = 200;
    if (flags)
        *flags = best->flags;
    r->route_data = best->data;
    r->route_label = best->label;
    return best->fn;
}
