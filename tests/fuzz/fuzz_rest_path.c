/* fuzz_rest_path.c — the REST server's view of a request target: the strict
 * path decoder of server.c (api_path_decode), the router (router.c) with
 * the shapes of the real route tables plus patterns taken from the input,
 * and the "host:port" splitter of config.c (api_split_hostport).
 *
 * A decoded path that is accepted must keep the promises serving.h makes
 * (starts with '/', no "//", no "." or ".." segment, no "..", no control
 * byte, fits out_len); a match must give as many non-empty, slash-free
 * parameters as its pattern has. Buffers are heap blocks of the exact
 * size, so a byte written past one is an ASan report.
 *
 * Input: byte 0 picks the method and a small output size; then lines: the
 * raw path, then up to 6 extra route patterns. Every line is also given to
 * api_split_hostport. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "serving.h"

static void h_a(struct api_req *r) { (void)r; }
static void h_b(struct api_req *r) { (void)r; }

static const struct {
    const char *method, *pattern;
} routes[] = {
    {"GET", "/health"},
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"GET", "/metrics"},
    {"GET", "/api/version"},
    {"GET", "/api/projects"},
    {"POST", "/api/projects"},
    {"GET", "/api/projects/:project"},
    {"PUT", "/api/projects/:project"},
    {"DELETE", "/api/projects/:project"},
    {"GET", "/api/projects/:project/access"},
    {"GET", "/api/projects/:project/permissions"},
    {"POST", "/api/projects/:project/permissions"},
    {"DELETE", "/api/projects/:project/permissions/:subjectType/:subjectName"},
    {"GET", "/api/projects/:project/project-settings"},
    {"PUT", "/api/projects/:project/project-settings"},
    {"GET", "/api/projects/:project/agentic-sessions"},
    {"POST", "/api/projects/:project/agentic-sessions"},
    {"GET", "/api/projects/:project/agentic-sessions/summary"},
    {"GET", "/api/projects/:project/agentic-sessions/:name"},
    {"PUT", "/api/projects/:project/agentic-sessions/:name"},
    {"PATCH", "/api/projects/:project/agentic-sessions/:name"},
    {"DELETE", "/api/projects/:project/agentic-sessions/:name"},
    {"POST", "/api/projects/:project/agentic-sessions/:name/stop"},
    {"POST", "/api/projects/:project/agentic-sessions/:name/start"},
    {"POST", "/api/projects/:project/agentic-sessions/:name/clone"},
    {"GET", "/"},
};

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE",
                                      "PATCH", "HEAD", "OPTIONS", "OTHER"};

/* The promises of api_path_decode for an accepted path. */
static void check_decoded(const char *out, size_t out_len)
{
    size_t n = strnlen(out, out_len);
    CHECK(n < out_len);
    CHECK(out[0] == '/');
    CHECK(strstr(out, "//") == NULL);
    CHECK(strstr(out, "..") == NULL);
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] != 0x7f);
    /* no "." segment either: "/./", or "/." at the end */
    CHECK(strstr(out, "/./") == NULL);
    CHECK(!(n >= 2 && out[n - 1] == '.' && out[n - 2] == '/'));
}

static void route(const struct api_router *rt, const char *path, const char *method)
{
    struct api_req r;
    memset(&r, 0, sizeof r);
    r.method = method;
    r.path = (char *)path;
    unsigned flags = 0;
    int status = 0;
    char allow[128];
    api_handler fn = api_router_match(rt, &r, &flags, &status, allow, sizeof allow);
    CHECK(strnlen(allow, sizeof allow) < sizeof allow);
    if (!fn) {
        CHECK(status == 404 || status == 405 || status == 500);
        CHECK(status != 405 || allow[0] != '\0');
    } else {
        CHECK(status == 200);
        CHECK(r.n_params <= API_MAX_PARAMS);
        for (size_t i = 0; i < r.n_params; i++) {
            CHECK(r.param_names[i] && r.param_names[i][0]);
            CHECK(r.param_values[i] && r.param_values[i][0]);
            CHECK(strchr(r.param_values[i], '/') == NULL);
            CHECK(strstr(path, r.param_values[i]) != NULL);
        }
    }
    /* without an Allow buffer too, as a caller may */
    struct api_req r2;
    memset(&r2, 0, sizeof r2);
    r2.method = method;
    r2.path = (char *)path;
    (void)api_router_match(rt, &r2, NULL, &status, NULL, 0);
    for (size_t i = 0; i < r.n_params; i++)
        free(r.param_values[i]);
    for (size_t i = 0; i < r2.n_params; i++)
        free(r2.param_values[i]);
}

static void hostport(const char *s)
{
    static const size_t sizes[] = {256, 1, 4};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *host = malloc(sizes[i]);
        if (!host)
            return;
        unsigned port = 70000;
        if (api_split_hostport(s, host, sizes[i], &port) == 0) {
            size_t hl = strnlen(host, sizes[i]);
            CHECK(hl > 0 && hl < sizes[i]);
            CHECK(port <= 65535);
        }
        free(host);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *method = methods[data[0] & 7];
    size_t small = (size_t)(data[0] >> 3) + 1; /* 1..32 */
    data++;
    size--;

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    /* lines: raw path, then patterns */
    char *lines[8];
    size_t n_lines = 0;
    for (char *p = text; n_lines < 8;) {
        lines[n_lines++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }

    for (size_t i = 0; i < n_lines; i++)
        hostport(lines[i]);

    struct api_router *rt = api_router_new();
    CHECK(rt != NULL);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        CHECK(api_router_add(rt, routes[i].method, routes[i].pattern, i & 1 ? h_a : h_b,
                             i < 5 ? API_PUBLIC : 0) == AMB_OK);
    for (size_t i = 1; i < n_lines; i++) {
        int rc = api_router_add_data(rt, methods[(data[0] + i) & 7], lines[i], h_a, 0, lines[i]);
        CHECK(rc == AMB_OK || rc == AMB_EINVAL || rc == AMB_EEXIST || rc == AMB_ENOMEM);
    }

    /* the path as server.c decodes it (raw longer than 3*API_MAX_PATH is a
     * 414 before decoding), then into a tiny buffer */
    const char *raw = lines[0];
    if (strlen(raw) <= 3 * API_MAX_PATH) {
        char *out = malloc(API_MAX_PATH + 1);
        const char *why = NULL;
        if (out) {
            if (api_path_decode(raw, out, API_MAX_PATH + 1, &why) == 0) {
                CHECK(why == NULL);
                check_decoded(out, API_MAX_PATH + 1);
                route(rt, out, method);
                route(rt, out, "HEAD");
            } else {
                CHECK(why != NULL && why[0] != '\0');
            }
            free(out);
        }
        char *tiny = malloc(small);
        if (tiny) {
            if (api_path_decode(raw, tiny, small, &why) == 0)
                check_decoded(tiny, small);
            free(tiny);
        }
    }
    /* the router on its own takes any path a caller may hand it */
    route(rt, raw, method);

    api_router_free(rt);
    free(text);
    return 0;
}
