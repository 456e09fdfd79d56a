/* kubeapi_list.c — LIST: one namespace or all (sorted by namespace, then
 * name), label and field selectors, limit/continue. The list's
 * resourceVersion is the store's; a continue token carries the first
 * page's and the last key, and pages read the current state after that
 * key (docs/decisions.md). Bodies are copied as stored, not re-encoded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "kubeapi.h"

struct page {
    struct kselector *sel;
    struct evbuffer *items;
    size_t count, limit;
    int more;
    char last_ns[64], last_name[256];
};

static int visit(const char *res, const char *ns, const char *name, const char *body, void *arg)
{
    (void)res;
    struct page *p = arg;
    if (!kapi_selector_empty(p->sel)) {
        json_t *obj = json_loads(body, 0, NULL);
        int match = obj && kapi_selector_match(p->sel, obj);
        json_decref(obj);
        if (!match)
            return 0;
    }
    if (p->count == p->limit) {
        p->more = 1;
        return 1;
    }
    if (p->count++)
        evbuffer_add(p->items, ",", 1);
    evbuffer_add(p->items, body, strlen(body));
    snprintf(p->last_ns, sizeof p->last_ns, "%s", ns);
    snprintf(p->last_name, sizeof p->last_name, "%s", name);
    return 0;
}

static void hex(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (; *in && o + 3 <= n; in++, o += 2)
        snprintf(out + o, 3, "%02x", (unsigned char)*in);
    out[o] = '\0';
}

/* The continue token's JSON, or NULL when it is not one of ours. */
static json_t *unhex(const char *in)
{
    size_t n = strlen(in);
    if (n % 2 || n > 2048 || strspn(in, "0123456789abcdef") != n)
        return NULL;
    char buf[1025];
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        sscanf(in + 2 * i, "%2x", &v);
        buf[i] = (char)v;
    }
    buf[n / 2] = '\0';
    json_t *t = json_loads(buf, 0, NULL);
    if (t && (!json_is_integer(json_object_get(t, "rv")) ||
              !json_is_string(json_object_get(t, "ns")) ||
              !json_is_string(json_object_get(t, "name")))) {
        json_decref(t);
        t = NULL;
    }
    return t;
}

void kapi_list(struct kreq *r)
{
    const char *problem = NULL, *cont = kapi_query(r, "continue"),
               *limit_q = kapi_query(r, "limit"), *rv_q = kapi_query(r, "resourceVersion");
    struct page p = {0};
    if (kapi_conns_backlogged(r))
        return;
    p.limit = r->api->lim.max_list;
    if (limit_q) {
        char *end = NULL;
        long long l = strtoll(limit_q, &end, 10);
        if (!end || *end || l < 0) {
            kapi_fail(r, 400, "BadRequest", "limit: Invalid value: \"%s\"", limit_q);
            return;
        }
        if (l > 0 && (size_t)l < p.limit)
            p.limit = (size_t)l;
    }
    if (cont && rv_q && *rv_q) {
        kapi_fail(r, 400, "BadRequest",
                  "specifying resource version is not allowed when using continue");
        return;
    }
    json_t *token = cont && *cont ? unhex(cont) : NULL;
    if (cont && *cont && !token) {
        kapi_fail(r, 400, "BadRequest", "continue key is not valid");
        return;
    }
    int64_t list_rv = token ? json_integer_value(json_object_get(token, "rv"))
                            : kstore_rv(r->api->store);
    if (token && list_rv < kstore_floor(r->api->store)) {
        json_decref(token);
        kapi_fail(r, 410, "Expired",
                  "The provided continue parameter is too old to display a consistent list "
                  "result. You can start a new list without the continue parameter.");
        return;
    }
    p.sel = kapi_selector_parse(kapi_query(r, "labelSelector"), kapi_query(r, "fieldSelector"),
                                &problem);
    if (!p.sel) {
        json_decref(token);
        kapi_fail(r, 400, "BadRequest", "%s", problem);
        return;
    }
    p.items = evbuffer_new();
    int rc = p.items ? kstore_scan(r->api->store, r->t->res,
                                   r->t->namespaced && r->ns[0] ? r->ns : NULL,
                                   token ? json_string_value(json_object_get(token, "ns")) : NULL,
                                   token ? json_string_value(json_object_get(token, "name")) : NULL,
                                   visit, &p)
                     : KSTORE_IO;
    json_decref(token);
    kapi_selector_free(p.sel);
    if (rc) {
        if (p.items)
            evbuffer_free(p.items);
        kapi_fail_store(r, rc);
        return;
    }
    char next[1200] = "";
    if (p.more) {
        json_t *t = json_pack("{s:I, s:s, s:s}", "rv", (json_int_t)list_rv, "ns", p.last_ns,
                              "name", p.last_name);
        char *text = t ? json_dumps(t, JSON_COMPACT) : NULL;
        if (text)
            hex(text, next, sizeof next);
        free(text);
        json_decref(t);
    }
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evbuffer_free(p.items);
        evhttp_send_error(r->ev, 500, "out of memory");
        return;
    }
    evbuffer_add_printf(out,
                        "{\"kind\":\"%sList\",\"apiVersion\":\"%s%s%s\",\"metadata\":{"
                        "\"resourceVersion\":\"%lld\"%s%s%s},\"items\":[",
                        r->t->kind, r->t->group, r->t->group[0] ? "/" : "", r->t->version,
                        (long long)list_rv, next[0] ? ",\"continue\":\"" : "", next,
                        next[0] ? "\"" : "");
    evbuffer_add_buffer(out, p.items);
    evbuffer_add(out, "]}\n", 3);
    evbuffer_free(p.items);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-cache, private");
    evhttp_send_reply(r->ev, 200, "OK", out);
    evbuffer_free(out);
}
