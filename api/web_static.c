/* web_static.c — the web UI (api/web, built by Vite) served at / by the
 * REST listener, and GET /api/ui/config, which tells the UI where the live
 * service is (docs/web.md).
 *
 *   api = { web_root = "/usr/share/ambient/web";   # default: beside ambientd
 *           web_live_url = "https://live.example.com"; };  # default: below
 *
 * The files are read once at start (web_files.c) and answered from memory.
 * A GET or HEAD that no route took and that is not under /api/ gets the file
 * of its path, or index.html (the app's own routes: /projects/x/sessions),
 * except under /assets/, where a missing file is a 404: those names are
 * hashed, and a page asking for an old one must not get HTML as script.
 *
 * Every file carries a strict Content-Security-Policy: scripts, styles and
 * connections only from this origin and the live service's, no inline
 * script or style, no framing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "live/live.h"
#include "serving.h"
#include "web_files.h"
#include "web_static.h"

#define ORIGIN_MAX 300

struct api_web {
    char *root;      /* api.web_root, or the default beside ambientd */
    int root_set;    /* from the config: a missing root is an error */
    char *live_url;  /* api.web_live_url, or NULL: derived per request */
    struct web_files *files; /* NULL: no UI served */
    const struct web_file *index;
};

/* <directory of ambientd>/../share/ambient/web, as laptop mode finds its
 * CRDs: the same in the build tree and an install. */
static char *default_root(void)
{
    char exe[PATH_MAX], path[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return strdup("/usr/share/ambient/web");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(path, sizeof path, "%s/../share/ambient/web", exe);
    return strdup(path);
}

/* "http(s)://host[:port]", nothing more: it goes into a header. */
static int live_url_ok(const char *v)
{
    const char *rest = strncmp(v, "https://", 8) == 0 ? v + 8
                       : strncmp(v, "http://", 7) == 0 ? v + 7 : NULL;
    return rest && *rest && strlen(v) < ORIGIN_MAX &&
           strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") ==
               strlen(rest);
}

static int read_config(struct api_web *web, struct amb_error *err)
{
    const char *v = NULL;
    int rc = api_host->config_string(api_self, "web_root", &v);
    if (rc != AMB_OK && rc != AMB_ENOTFOUND)
        return rc;
    web->root_set = rc == AMB_OK;
    if (web->root_set && !*v)
        return api_host->error_set(err, AMB_EINVAL, "api.web_root", "must not be empty");
    web->root = web->root_set ? strdup(v) : default_root();
    rc = api_host->config_string(api_self, "web_live_url", &v);
    if (rc != AMB_OK && rc != AMB_ENOTFOUND)
        return rc;
    if (rc == AMB_OK && !live_url_ok(v))
        return api_host->error_set(err, AMB_EINVAL, "api.web_live_url",
                                   "must be http(s)://host[:port] (is \"%s\")", v);
    if (rc == AMB_OK)
        web->live_url = strdup(v);
    if (!web->root || (rc == AMB_OK && !web->live_url))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    return AMB_OK;
}

int api_web_config(struct api *api, struct amb_error *err)
{
    if (!(api->web = calloc(1, sizeof *api->web)))
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    int rc = read_config(api->web, err);
    if (rc != AMB_OK)
        api_web_free(api); /* init failed: no fini comes */
    return rc;
}

int api_web_load(struct api *api, struct amb_error *err)
{
    struct api_web *web = api->web;
    char why[512];
    size_t skipped = 0;
    if (web_files_load(web->root, &web->files, &skipped, why, sizeof why) != 0) {
        if (web->root_set)
            return api_host->error_set(err, AMB_EINVAL, "api.web_root", "%s", why);
        api_host->log(api_self, AMB_LOG_INFO, "no web UI to serve", "reason", why, NULL);
        return AMB_OK;
    }
    web->index = web_files_find(web->files, "/index.html");
    char n[32], s[32];
    snprintf(n, sizeof n, "%zu", web_files_count(web->files));
    snprintf(s, sizeof s, "%zu", skipped);
    api_host->log(api_self, web->index ? AMB_LOG_INFO : AMB_LOG_WARN,
                  web->index ? "web UI loaded" : "web UI has no index.html", "root", web->root,
                  "files", n, "skipped", s, NULL);
    return AMB_OK;
}

void api_web_free(struct api *api)
{
    struct api_web *web = api->web;
    if (!web)
        return;
    web_files_free(web->files);
    free(web->root);
    free(web->live_url);
    free(web);
    api->web = NULL;
}

/* The host of a Host header without its port, if it is a name or an
 * address in brackets (it goes into a header and a URL). */
static int host_of(const char *h, char *out, size_t len)
{
    if (!h)
        return -1;
    size_t n = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":");
    if (n == 0 || n >= len || n >= 254 || (h[0] == '[' && h[n - 1] != ']'))
        return -1;
    const char *allowed = h[0] == '[' ? "[]0123456789abcdefABCDEF:."
                                      : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789.-";
    for (size_t i = 0; i < n; i++)
        if (!strchr(allowed, h[i]))
            return -1;
    const char *port = h + n;
    if (*port && (port[0] != ':' || strspn(port + 1, "0123456789") != strlen(port + 1)))
        return -1;
    memcpy(out, h, n);
    out[n] = '\0';
    return 0;
}

/* Where the browser finds the live service: api.web_live_url; else, when
 * this ambientd runs it, the host the browser asked for with the live
 * port (laptop mode); else "" — the page's own origin, where an Ingress
 * routes the live paths (a cluster). */
static void live_origin(struct api_req *r, char *out, size_t len)
{
    const struct api_web *web = r->api->web;
    out[0] = '\0';
    if (web->live_url) {
        snprintf(out, len, "%s", web->live_url);
        return;
    }
    const char *addr = live_address(r->api->live);
    const char *port = strrchr(addr, ':');
    char host[256];
    if (!*addr || !port || host_of(api_header(r, "Host"), host, sizeof host) != 0)
        return;
    snprintf(out, len, "%s://%s%s", r->api->cfg.tls_cert_file ? "https" : "http", host, port);
}

static void add_policy(struct api_req *r, struct evkeyvalq *h)
{
    char live[ORIGIN_MAX], csp[1024];
    live_origin(r, live, sizeof live);
    /* The WebSocket's origin: ws for http, wss for https. */
    const char *ws_rest = strncmp(live, "https://", 8) == 0 ? live + 8 : live + 7;
    snprintf(csp, sizeof csp,
             "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
             "font-src 'self'; manifest-src 'self'; connect-src 'self'%s%s%s%s%s; "
             "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
             *live ? " " : "", live, *live ? " " : "",
             *live ? (strncmp(live, "https://", 8) == 0 ? "wss://" : "ws://") : "",
             *live ? ws_rest : "");
    evhttp_add_header(h, "Content-Security-Policy", csp);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

static void send_file(struct api_req *r, const struct web_file *f, int immutable)
{
    r->replied = 1;
    r->status = 200;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "Content-Type", f->type);
    evhttp_add_header(h, "Cache-Control",
                      immutable ? "public, max-age=31536000, immutable" : "no-cache");
    add_policy(r, h);
    api_server_decorate(r);
    struct evbuffer *b = evbuffer_new();
    /* The table outlives the server (freed after it stops): no copy. */
    if (b && f->len)
        evbuffer_add_reference(b, f->data, f->len, NULL, NULL);
    api_server_send(r, 200, b);
    if (b)
        evbuffer_free(b);
}

int api_web_serve(struct api_req *r)
{
    const struct api_web *web = r->api->web;
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (!web->files || !get || !r->path || strcmp(r->path, "/api") == 0 ||
        strncmp(r->path, "/api/", 5) == 0)
        return 0;
    int asset = strncmp(r->path, "/assets/", 8) == 0;
    const struct web_file *f = strcmp(r->path, "/") == 0 ? web->index
                                                         : web_files_find(web->files, r->path);
    if (!f && !asset)
        f = web->index;
    if (!f)
        return 0;
    send_file(r, f, asset);
    return 1;
}

/* GET /api/ui/config: what the UI needs before it signs in: where the live
 * service is, and the REST segments of the kinds loaded (a page for an
 * optional kind shows when its segment is there). Public. */
static void get_ui_config(struct api_req *r)
{
    char live[ORIGIN_MAX];
    live_origin(r, live, sizeof live);
    json_t *kinds = json_array();
    const struct amb_kind *k;
    for (size_t i = 0; kinds && api_host->kind_at(api_self, i, &k, NULL) == AMB_OK; i++)
        json_array_append_new(kinds, json_string(k->rest_plural && *k->rest_plural
                                                     ? k->rest_plural
                                                     : k->resource.plural));
    api_reply_json(r, 200, json_pack("{s:s,s:o*}", "liveUrl", live, "kinds", kinds));
}

void api_routes_web(struct api_router *rt)
{
    if (api_router_add(rt, "GET", "/api/ui/config", get_ui_config, API_PUBLIC) != AMB_OK)
        api_host->log(api_self, AMB_LOG_ERROR, "cannot add route", "pattern", "/api/ui/config",
                      NULL);
}
