/* report.c — "NAME VERSION (ABI M.N) PATH: kinds ...; forges ...; routes ..."
 * for each loaded plugin, in load order. */
#include "report-internal.h"

static void list_kinds(FILE *to, const struct ambd_runtime *rt, const struct amb_module *m)
{
    int any = 0;
    fputs("kinds:", to);
    for (size_t i = 0; i < rt->registry.n_kinds; i++) {
        const struct ambd_kind_entry *e = rt->registry.kinds[i];
        if (e->data.owner != m)
            continue;
        const struct amb_resource *r = &e->kind.resource;
        fprintf(to, "%s %s (%s%s%s/%s)", any ? "," : "", r->kind, r->plural, r->group[0] ? "." : "",
                r->group, r->version);
        any = 1;
    }
    fputs(any ? "" : " none", to);
}

static void list_forges(FILE *to, const struct ambd_runtime *rt, const struct amb_module *m)
{
    int any = 0;
    fputs("forges:", to);
    for (size_t i = 0; i < rt->registry.n_forges; i++) {
        if (rt->registry.forges[i]->data.owner != m)
            continue;
        fprintf(to, "%s %s", any ? "," : "", rt->registry.forges[i]->forge.name);
        any = 1;
    }
    fputs(any ? "" : " none", to);
}

static void list_routes(FILE *to, const struct ambd_runtime *rt, const struct amb_module *m)
{
    int any = 0;
    fputs("routes:", to);
    for (size_t i = 0; i < rt->registry.n_routes; i++) {
        const struct amb_route *r = &rt->registry.routes[i]->route;
        if (rt->registry.routes[i]->data.owner != m)
            continue;
        fprintf(to, "%s %s %s", any ? "," : "", r->method, r->pattern);
        any = 1;
    }
    fputs(any ? "" : " none", to);
}

void ambd_report_plugins(FILE *to, const struct ambd_runtime *rt)
{
    if (rt->n_modules == 0)
        fprintf(to, "%s: no plugins configured\n", rt->config->path);
    for (size_t i = 0; i < rt->n_modules; i++) {
        const struct amb_module *m = rt->modules[i];
        fprintf(to, "%s %s (ABI %u.%u) %s: ", m->desc.name, m->desc.version ? m->desc.version : "-",
                m->desc.abi_major, m->desc.abi_minor, m->path);
        list_kinds(to, rt, m);
        fputs("; ", to);
        list_forges(to, rt, m);
        fputs("; ", to);
        list_routes(to, rt, m);
        fputc('\n', to);
    }
}
