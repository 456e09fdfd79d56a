/* unit_route_metrics.c — the REST request metrics (api/route_metrics.c):
 * series by method, route and code, latency by route; a route no request
 * matched is "unmatched"; label values Prometheus would need escaped are
 * replaced; and however many routes requests name, the series stay bounded,
 * the excess counted as route="other". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "serving.h"

static char *rendered(void)
{
    struct evbuffer *b = evbuffer_new();
    api_metrics_render(b);
    size_t n = evbuffer_get_length(b);
    char *text = malloc(n + 1);
    evbuffer_remove(b, text, n);
    text[n] = '\0';
    evbuffer_free(b);
    return text;
}

static size_t count_lines(const char *text, const char *prefix)
{
    size_t n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

static void by_route_and_bounded(void **state)
{
    (void)state;
    api_metrics_record("GET", "/api/projects/:project", 200, 0.002);
    api_metrics_record("GET", "/api/projects/:project", 200, 0.3);
    api_metrics_record("GET", NULL, 404, 0.001);
    api_metrics_record("POST", "/api/x\"y\\z", 201, 0.001);
    char *text = rendered();
    assert_non_null(strstr(text,
        "ambient_api_requests_total{method=\"GET\",route=\"/api/projects/:project\",code=\"200\"} 2\n"));
    assert_non_null(strstr(text,
        "ambient_api_requests_total{method=\"GET\",route=\"unmatched\",code=\"404\"} 1\n"));
    assert_non_null(strstr(text, "route=\"/api/x_y_z\""));
    assert_non_null(strstr(text,
        "ambient_api_request_duration_seconds_bucket{route=\"/api/projects/:project\",le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text,
        "ambient_api_request_duration_seconds_count{route=\"/api/projects/:project\"} 2\n"));
    free(text);

    char route[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(route, sizeof route, "/plugin/route-%d", i);
        api_metrics_record("GET", route, 200, 0.001);
    }
    text = rendered();
    assert_int_equal(count_lines(text, "ambient_api_requests_total{"), 512);
    assert_int_equal(count_lines(text, "ambient_api_request_duration_seconds_count{"), 128);
    assert_non_null(strstr(text, "ambient_api_requests_total{method=\"OTHER\",route=\"other\",code=\"0\"} "));
    assert_non_null(strstr(text, "ambient_api_request_duration_seconds_count{route=\"other\"} "));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(by_route_and_bounded)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
