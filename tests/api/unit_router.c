/* unit_router.c — unit tests of the api plugin's serving layer: the router
 * (params, precedence, 404/405 and Allow), strict path decoding, listen
 * addresses, AMB_E* to HTTP status, and reading the `api` config group
 * through the plugins' mock host (tests/common/plugin_mock.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin_mock.h"
#include "serving.h"

/* ---- the plugins' mock host: config from a table, errors recorded ---- */
static int setup_host(void **state)
{
    (void)state;
    mock_reset();
    api_host = &mock_host;
    api_self = &mock_self;
    return 0;
}

/* ---- router ---- */
static void h_list(struct api_req *r) { (void)r; }
static void h_get(struct api_req *r) { (void)r; }
static void h_summary(struct api_req *r) { (void)r; }
static void h_create(struct api_req *r) { (void)r; }
static void h_stop(struct api_req *r) { (void)r; }
static void h_root(struct api_req *r) { (void)r; }

static struct api_router *make_router(void)
{
    struct api_router *rt = api_router_new();
    assert_non_null(rt);
    assert_int_equal(api_router_add(rt, "GET", "/api/projects/:project/agentic-sessions", h_list, 0),
                     AMB_OK);
    assert_int_equal(api_router_add(rt, "POST", "/api/projects/:project/agentic-sessions",
                                    h_create, 0), AMB_OK);
    assert_int_equal(api_router_add(rt, "GET", "/api/projects/:project/agentic-sessions/:name",
                                    h_get, 0), AMB_OK);
    assert_int_equal(api_router_add(rt, "GET", "/api/projects/:project/agentic-sessions/summary",
                                    h_summary, API_PUBLIC), AMB_OK);
    assert_int_equal(api_router_add(rt, "POST",
                                    "/api/projects/:project/agentic-sessions/:name/stop", h_stop,
                                    0), AMB_OK);
    assert_int_equal(api_router_add(rt, "GET", "/", h_root, API_PUBLIC), AMB_OK);
    return rt;
}

static api_handler match(const struct api_router *rt, struct api_req *r, const char *method,
                         const char *path, int *status, char *allow, size_t allow_len,
                         unsigned *flags)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->path = (char *)path;
    return api_router_match(rt, r, flags, status, allow, allow_len);
}

static void clear_params(struct api_req *r)
{
    for (size_t i = 0; i < r->n_params; i++)
        free(r->param_values[i]);
    r->n_params = 0;
}

static void test_router_params(void **state)
{
    (void)state;
    struct api_router *rt = make_router();
    struct api_req r;
    int status;
    unsigned flags = 99;
    char allow[128];
    assert_ptr_equal(match(rt, &r, "GET", "/api/projects/p1/agentic-sessions/s1", &status, allow,
                           sizeof allow, &flags), h_get);
    assert_int_equal(status, 200);
    assert_int_equal(flags, 0);
    assert_int_equal(r.n_params, 2);
    assert_string_equal(api_param(&r, "project"), "p1");
    assert_string_equal(api_param(&r, "name"), "s1");
    assert_null(api_param(&r, "other"));
    clear_params(&r);

    assert_ptr_equal(match(rt, &r, "POST", "/api/projects/p1/agentic-sessions/s1/stop", &status,
                           allow, sizeof allow, &flags), h_stop);
    assert_string_equal(api_param(&r, "name"), "s1");
    clear_params(&r);

    /* A trailing slash is ignored; HEAD is served by GET. */
    assert_ptr_equal(match(rt, &r, "HEAD", "/api/projects/p1/agentic-sessions/", &status, allow,
                           sizeof allow, &flags), h_list);
    clear_params(&r);
    assert_ptr_equal(match(rt, &r, "GET", "/", &status, allow, sizeof allow, &flags), h_root);
    assert_int_equal(r.n_params, 0);
    api_router_free(rt);
}

static void test_router_literal_wins(void **state)
{
    (void)state;
    struct api_router *rt = make_router();
    struct api_req r;
    int status;
    unsigned flags = 0;
    assert_ptr_equal(match(rt, &r, "GET", "/api/projects/p1/agentic-sessions/summary", &status,
                           NULL, 0, &flags), h_summary);
    assert_int_equal(flags, API_PUBLIC);
    assert_int_equal(r.n_params, 1);
    clear_params(&r);
    api_router_free(rt);
}

static void test_router_404_405(void **state)
{
    (void)state;
    struct api_router *rt = make_router();
    struct api_req r;
    int status;
    char allow[128];
    assert_null(match(rt, &r, "GET", "/api/projects/p1/nothing", &status, allow, sizeof allow,
                      NULL));
    assert_int_equal(status, 404);
    assert_string_equal(allow, "");
    assert_null(match(rt, &r, "GET", "/api/projects/p1/agentic-sessions/s1/stop/more", &status,
                      allow, sizeof allow, NULL));
    assert_int_equal(status, 404);
    assert_null(match(rt, &r, "DELETE", "/api/projects/p1/agentic-sessions", &status, allow,
                      sizeof allow, NULL));
    assert_int_equal(status, 405);
    assert_string_equal(allow, "GET, HEAD, POST, OPTIONS");
    assert_int_equal(r.n_params, 0);
    /* Segments are never empty. */
    assert_null(match(rt, &r, "GET", "/api/projects//agentic-sessions", &status, allow,
                      sizeof allow, NULL));
    assert_int_equal(status, 404);
    assert_null(match(rt, &r, "GET", "", &status, allow, sizeof allow, NULL));
    assert_int_equal(status, 404);
    api_router_free(rt);
}

static void test_router_add_rejects(void **state)
{
    (void)state;
    struct api_router *rt = make_router();
    assert_int_equal(api_router_add(rt, "GET", "/api/projects/:p/agentic-sessions/:other", h_get,
                                    0), AMB_EEXIST);
    assert_int_equal(api_router_add(rt, "GET", "no-slash", h_get, 0), AMB_EINVAL);
    assert_int_equal(api_router_add(rt, "GET", "/a//b", h_get, 0), AMB_EINVAL);
    assert_int_equal(api_router_add(rt, "GET", "/a/:/b", h_get, 0), AMB_EINVAL);
    assert_int_equal(api_router_add(rt, "GET", "/:a/:b/:c/:d/:e/:f/:g", h_get, 0), AMB_EINVAL);
    assert_int_equal(api_router_add(rt, "GET", "/:a/:b/:c/:d/:e/:f", h_get, 0), AMB_OK);
    assert_int_equal(api_router_add(rt, "TOOLONGMETHOD", "/x", h_get, 0), AMB_EINVAL);
    assert_int_equal(api_router_add(rt, "GET", "/x", NULL, 0), AMB_EINVAL);
    api_router_free(rt);
    api_router_free(NULL);
}

/* ---- path decoding ---- */
static void expect_decoded(const char *raw, const char *want)
{
    char out[64];
    const char *why = "unset";
    assert_int_equal(api_path_decode(raw, out, sizeof out, &why), 0);
    assert_string_equal(out, want);
    assert_null(why);
}

static void expect_rejected(const char *raw)
{
    char out[64];
    const char *why = NULL;
    if (api_path_decode(raw, out, sizeof out, &why) != -1)
        fail_msg("accepted %s as %s", raw, out);
    assert_non_null(why);
}

static void test_path_decode(void **state)
{
    (void)state;
    expect_decoded("/", "/");
    expect_decoded("/api/projects/p1", "/api/projects/p1");
    expect_decoded("/api/projects/a%2Db%20c", "/api/projects/a-b c");
    expect_decoded("/api/projects/p1/", "/api/projects/p1/");
    expect_decoded("/a.b/c.d", "/a.b/c.d");
    expect_rejected("/api/projects/..%2f..%2fetc/agentic-sessions");
    expect_rejected("/api/projects/../etc");
    expect_rejected("/api/projects/%2e%2e/etc");
    expect_rejected("/api/projects/..");
    expect_rejected("/api/./projects");
    expect_rejected("/api/projects/a..b");
    expect_rejected("/api//projects");
    expect_rejected("/api/projects/a%2Fb");
    expect_rejected("/api/projects/%00");
    expect_rejected("/api/projects/%0a");
    expect_rejected("/api/projects/%zz");
    expect_rejected("/api/projects/%4");
    expect_rejected("/api/projects/%");
    expect_rejected("api/projects");
    expect_rejected("");
    /* Bounded by the output buffer. */
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    expect_rejected(longp);
}

static void test_split_hostport(void **state)
{
    (void)state;
    char host[64];
    unsigned port = 1;
    assert_int_equal(api_split_hostport("0.0.0.0:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 8080);
    assert_int_equal(api_split_hostport("[::1]:0", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(api_split_hostport("localhost:65535", host, sizeof host, &port), 0);
    assert_int_equal(api_split_hostport("localhost:65536", host, sizeof host, &port), -1);
    assert_int_equal(api_split_hostport("::1:80", host, sizeof host, &port), -1);
    assert_int_equal(api_split_hostport(":80", host, sizeof host, &port), -1);
    assert_int_equal(api_split_hostport("host:", host, sizeof host, &port), -1);
    assert_int_equal(api_split_hostport("host:8x", host, sizeof host, &port), -1);
    assert_int_equal(api_split_hostport("host", host, sizeof host, &port), -1);
    assert_int_equal(api_split_hostport(NULL, host, sizeof host, &port), -1);
}

static void test_http_status(void **state)
{
    (void)state;
    assert_int_equal(api_http_status(AMB_EINVAL), 400);
    assert_int_equal(api_http_status(AMB_EUNAUTHORIZED), 401);
    assert_int_equal(api_http_status(AMB_EFORBIDDEN), 403);
    assert_int_equal(api_http_status(AMB_ENOTFOUND), 404);
    assert_int_equal(api_http_status(AMB_EEXIST), 409);
    assert_int_equal(api_http_status(AMB_ECONFLICT), 409);
    assert_int_equal(api_http_status(AMB_EGONE), 410);
    assert_int_equal(api_http_status(AMB_ETOOLARGE), 413);
    assert_int_equal(api_http_status(AMB_EUNAVAILABLE), 503);
    assert_int_equal(api_http_status(AMB_ETIMEDOUT), 504);
    assert_int_equal(api_http_status(AMB_EIO), 500);
    assert_int_equal(api_http_status(AMB_EINTERNAL), 500);
}

/* ---- config ---- */
static void test_config_defaults(void **state)
{
    (void)state;
    mockconf_use(NULL, 0);
    struct api_config c;
    struct amb_error err = {0};
    assert_int_equal(api_config_read(&c, &err), AMB_OK);
    assert_null(c.listen);
    assert_null(c.live_listen);
    assert_int_equal(c.max_body, 1048576);
    assert_int_equal(c.max_headers, 16384);
    assert_int_equal(c.timeout_s, 30);
    assert_int_equal(c.threads, 4);
    assert_int_equal(c.auth_ttl_s, 30);
    assert_int_equal(c.auth_cache_size, 10000);
    assert_string_equal(c.live_dir, "/var/lib/ambient/events");
    assert_int_equal(c.live_max_session, 67108864);
    assert_int_equal(c.live_auth_threads, 2);
    assert_int_equal(c.live_session_status, 1);
    assert_int_equal(c.rate_per_s, 50);
    assert_int_equal(c.rate_burst, 100);
    assert_int_equal(c.n_allowed_origins, 0);
    api_config_clear(&c);
}

static void test_config_values(void **state)
{
    (void)state;
    static const struct mock_conf table[] = {
        {"listen", "127.0.0.1:0", 0},
        {"tls.cert_file", "/c.pem", 0},
        {"tls.key_file", "/k.pem", 0},
        {"threads", NULL, 2},
        {"allowed_origins", NULL, 2},
        {"allowed_origins.[0]", "https://ui.example", 0},
        {"allowed_origins.[1]", "http://localhost:3000", 0},
        {"live.listen", "[::1]:8081", 0},
        {"live.max_event", NULL, 4096},
        {"live.session_status", NULL, 0},
        {"rate_limit.requests_per_second", NULL, 0},
    };
    mockconf_use(table, sizeof table / sizeof table[0]);
    struct api_config c;
    struct amb_error err = {0};
    assert_int_equal(api_config_read(&c, &err), AMB_OK);
    assert_string_equal(c.listen, "127.0.0.1:0");
    assert_string_equal(c.tls_key_file, "/k.pem");
    assert_int_equal(c.threads, 2);
    assert_int_equal(c.n_allowed_origins, 2);
    assert_string_equal(c.allowed_origins[1], "http://localhost:3000");
    assert_string_equal(c.live_listen, "[::1]:8081");
    assert_int_equal(c.live_max_event, 4096);
    assert_int_equal(c.live_session_status, 0);
    assert_int_equal(c.rate_per_s, 0);
    api_config_clear(&c);
}

static void expect_config_error(const struct mock_conf *table, size_t n, const char *field)
{
    mockconf_use(table, n);
    struct api_config c;
    struct amb_error err = {0};
    assert_int_not_equal(api_config_read(&c, &err), AMB_OK);
    if (field) {
        assert_true(err.n > 0);
        assert_string_equal(err.field[0], field);
    }
    assert_null(c.listen); /* cleared on failure */
}

static void test_config_errors(void **state)
{
    (void)state;
    const struct mock_conf body[] = {{"max_body", NULL, 10}};
    expect_config_error(body, 1, "api.max_body");
    const struct mock_conf threads[] = {{"threads", NULL, 0}};
    expect_config_error(threads, 1, "api.threads");
    const struct mock_conf listen[] = {{"listen", "8080", 0}};
    expect_config_error(listen, 1, "api.listen");
    const struct mock_conf tls[] = {{"tls.cert_file", "/c.pem", 0}};
    expect_config_error(tls, 1, "api.tls.key_file");
    const struct mock_conf origin[] = {{"allowed_origins", NULL, 1},
                                  {"allowed_origins.[0]", "https://ui.example/path", 0}};
    expect_config_error(origin, 2, "api.allowed_origins");
    const struct mock_conf session[] = {{"live.max_event", NULL, 8192},
                                   {"live.max_session", NULL, 4096}};
    expect_config_error(session, 2, "api.live.max_session");
    const struct mock_conf empty[] = {{"live.dir", "", 0}};
    expect_config_error(empty, 1, "api.live.dir");
    const struct mock_conf type[] = {{"timeout", "thirty", 0}};
    expect_config_error(type, 1, NULL); /* the host reports wrong types */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_params),
        cmocka_unit_test(test_router_literal_wins),
        cmocka_unit_test(test_router_404_405),
        cmocka_unit_test(test_router_add_rejects),
        cmocka_unit_test(test_path_decode),
        cmocka_unit_test(test_split_hostport),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_values),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup_host, NULL);
}
