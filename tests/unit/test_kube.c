/* test_kube.c — the Kubernetes client's pure parts: Status bodies to error
 * codes, Retry-After values (seconds and HTTP-dates, bounded) and the wait
 * they put on an error, resource paths (and names that must never reach a
 * URL), server URL rules, in-cluster settings, and the token file source
 * noticing a rotation. Network behaviour is tested against kubesim in
 * tests/controller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error-internal.h"
#include "kube-internal.h"
#include "log-internal.h"
#include "testutil.h"

static int code_of(long status, const char *body, char **message)
{
    struct amb_error err = AMBD_ERROR_INIT;
    int rc = ambd_kube_status_error(status, body, body ? strlen(body) : 0, -1, &err);
    if (message)
        *message = ambd_error_line(&err);
    ambd_error_clear(&err);
    return rc;
}

static void status_bodies_map_to_codes(void **state)
{
    (void)state;
    const char *exists = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                         "\"message\":\"widgets.test \\\"w1\\\" already exists\",\"reason\":\"AlreadyExists\","
                         "\"details\":{\"name\":\"w1\"},\"code\":409}";
    const char *conflict = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Operation cannot "
                           "be fulfilled\",\"reason\":\"Conflict\",\"code\":409}";
    char *msg;
    assert_int_equal(code_of(200, "{}", NULL), AMB_OK);
    assert_int_equal(code_of(201, NULL, NULL), AMB_OK);
    assert_int_equal(code_of(409, exists, &msg), AMB_EEXIST);
    assert_string_equal(msg, "widgets.test \"w1\" already exists (HTTP 409 AlreadyExists)");
    free(msg);
    assert_int_equal(code_of(409, conflict, NULL), AMB_ECONFLICT);
    assert_int_equal(code_of(404, "{\"reason\":\"NotFound\",\"message\":\"x not found\"}", NULL),
                     AMB_ENOTFOUND);
    assert_int_equal(code_of(410, NULL, NULL), AMB_EGONE);
    assert_int_equal(code_of(422, "{\"reason\":\"Invalid\"}", NULL), AMB_EINVAL);
    assert_int_equal(code_of(401, NULL, NULL), AMB_EUNAUTHORIZED);
    assert_int_equal(code_of(403, NULL, NULL), AMB_EFORBIDDEN);
    assert_int_equal(code_of(429, NULL, NULL), AMB_EUNAVAILABLE);
    assert_int_equal(code_of(503, "not json at all", &msg), AMB_EUNAVAILABLE);
    assert_string_equal(msg, "HTTP 503 server error");
    free(msg);
    assert_int_equal(code_of(504, NULL, NULL), AMB_ETIMEDOUT);
    assert_int_equal(code_of(418, NULL, NULL), AMB_EIO);
}

static void retry_after_values(void **state)
{
    (void)state;
    /* 2015-10-21T07:28:00Z, as the wall clock of these checks. */
    const time_t now = 1445412480;
    assert_int_equal(ambd_kube_retry_after("1", now), 1);
    assert_int_equal(ambd_kube_retry_after("0", now), 0);
    assert_int_equal(ambd_kube_retry_after(" 7 ", now), 7);
    assert_int_equal(ambd_kube_retry_after("120", now), AMBD_KUBE_MAX_RETRY_AFTER_S);
    assert_int_equal(ambd_kube_retry_after("99999999999999999999999", now),
                     AMBD_KUBE_MAX_RETRY_AFTER_S);
    /* HTTP-dates in all three forms RFC 9110 accepts, relative to now. */
    assert_int_equal(ambd_kube_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), 30);
    assert_int_equal(ambd_kube_retry_after("Wednesday, 21-Oct-15 07:28:05 GMT", now), 5);
    assert_int_equal(ambd_kube_retry_after("Wed Oct 21 07:28:02 2015", now), 2);
    /* A date already past asks for no wait; one far off is bounded. */
    assert_int_equal(ambd_kube_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
    assert_int_equal(ambd_kube_retry_after("Thu, 22 Oct 2015 07:28:00 GMT", now),
                     AMBD_KUBE_MAX_RETRY_AFTER_S);
    /* Anything else is no Retry-After at all. */
    assert_int_equal(ambd_kube_retry_after(NULL, now), -1);
    assert_int_equal(ambd_kube_retry_after("", now), -1);
    assert_int_equal(ambd_kube_retry_after("-1", now), -1);
    assert_int_equal(ambd_kube_retry_after("1.5", now), -1);
    assert_int_equal(ambd_kube_retry_after("3s", now), -1);
    assert_int_equal(ambd_kube_retry_after("soon", now), -1);
    assert_int_equal(ambd_kube_retry_after("1 2", now), -1);
}

static unsigned wait_of(long status, const char *body, long retry_after)
{
    struct amb_error err = AMBD_ERROR_INIT;
    ambd_kube_status_error(status, body, body ? strlen(body) : 0, retry_after, &err);
    unsigned s = err.retry_after_s;
    ambd_error_clear(&err);
    assert_int_equal(err.retry_after_s, 0);
    return s;
}

static void throttled_answers_carry_their_wait(void **state)
{
    (void)state;
    const char *apf = "Too many requests, please try again later.\n";
    const char *status = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"busy\","
                         "\"reason\":\"TooManyRequests\",\"details\":{\"retryAfterSeconds\":3},"
                         "\"code\":429}";
    const char *huge = "{\"reason\":\"ServiceUnavailable\",\"details\":{\"retryAfterSeconds\":86400}}";
    const char *too_large_rv = "{\"reason\":\"Timeout\",\"message\":\"Too large resource "
                               "version\",\"details\":{\"retryAfterSeconds\":1},\"code\":504}";
    /* The header wins; without it, the Status's details say how long. */
    assert_int_equal(wait_of(429, apf, 1), 1);
    assert_int_equal(wait_of(429, status, 2), 2);
    assert_int_equal(wait_of(429, status, -1), 3);
    assert_int_equal(wait_of(503, NULL, 2), 2);
    assert_int_equal(wait_of(503, huge, -1), AMBD_KUBE_MAX_RETRY_AFTER_S);
    assert_int_equal(wait_of(504, too_large_rv, -1), 1);
    /* No wait asked for, or asked for "now". */
    assert_int_equal(wait_of(429, apf, -1), 0);
    assert_int_equal(wait_of(503, NULL, 0), 0);
    assert_int_equal(wait_of(500, "{\"details\":{\"retryAfterSeconds\":-4}}", -1), 0);
    /* Only throttling and server errors wait: never a success or a 4xx. */
    assert_int_equal(wait_of(200, "{}", 5), 0);
    assert_int_equal(wait_of(409, status, 5), 0);
    assert_int_equal(wait_of(404, NULL, 5), 0);

    char *msg;
    struct amb_error err = AMBD_ERROR_INIT;
    assert_int_equal(ambd_kube_status_error(429, apf, strlen(apf), 1, &err), AMB_EUNAVAILABLE);
    msg = ambd_error_line(&err);
    assert_string_equal(msg, "HTTP 429 too many requests");
    free(msg);
    ambd_error_clear(&err);
}

static void paths_for_core_and_groups(void **state)
{
    (void)state;
    const struct amb_resource pods = {"", "v1", "Pod", "pods", 1};
    const struct amb_resource crd = {"vteam.ambient-code", "v1alpha1", "AgenticSession",
                                     "agenticsessions", 1};
    const struct amb_resource ns = {"", "v1", "Namespace", "namespaces", 0};
    char *p;
    assert_string_equal(p = ambd_kube_path(&pods, "ns1", "p1", NULL), "/api/v1/namespaces/ns1/pods/p1");
    free(p);
    assert_string_equal(p = ambd_kube_path(&crd, "team-a", "s1", "status"),
                        "/apis/vteam.ambient-code/v1alpha1/namespaces/team-a/agenticsessions/s1/status");
    free(p);
    assert_string_equal(p = ambd_kube_path(&crd, NULL, NULL, NULL),
                        "/apis/vteam.ambient-code/v1alpha1/agenticsessions");
    free(p);
    assert_string_equal(p = ambd_kube_path(&ns, "ignored", "team-a", NULL), "/api/v1/namespaces/team-a");
    free(p);
    /* Names that would escape the path or smuggle a query are refused. */
    const char *bad[] = {"../secrets", "a/b", "..", "A", "a?watch=1", "a b", "%2e%2e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(ambd_kube_path(&pods, "ns1", bad[i], NULL));
        assert_null(ambd_kube_path(&pods, bad[i], "p1", NULL));
    }
    assert_null(ambd_kube_path(&pods, "ns1", "", NULL));
}

static void server_urls(void **state)
{
    (void)state;
    struct amb_error err = AMBD_ERROR_INIT;
    assert_int_equal(ambd_kube_check_server("https://k8s.example:6443", &err), AMB_OK);
    assert_int_equal(ambd_kube_check_server("http://127.0.0.1:8080", &err), AMB_OK);
    assert_int_equal(ambd_kube_check_server("http://localhost:8080", &err), AMB_OK);
    assert_int_equal(ambd_kube_check_server("http://[::1]:8080", &err), AMB_OK);
    assert_int_equal(ambd_kube_check_server("http://k8s.example:8080", &err), AMB_EINVAL);
    char *msg = ambd_error_line(&err);
    assert_non_null(strstr(msg, "kube.server: must be https"));
    free(msg);
    ambd_error_clear(&err);
    assert_int_equal(ambd_kube_check_server("ftp://127.0.0.1", &err), AMB_EINVAL);
    ambd_error_clear(&err);
    assert_int_equal(ambd_kube_check_server("not a url", &err), AMB_EINVAL);
    ambd_error_clear(&err);
    assert_int_equal(ambd_kube_check_server(NULL, &err), AMB_EINVAL);
    ambd_error_clear(&err);
}

static void in_cluster_settings(void **state)
{
    (void)state;
    struct ambd_kube_config c = {0};
    struct amb_error err = AMBD_ERROR_INIT;
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(ambd_kube_config_in_cluster(&c, "/sa", &err), AMB_ENOTFOUND);
    ambd_error_clear(&err);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(ambd_kube_config_in_cluster(&c, "/sa", &err), AMB_OK);
    assert_string_equal(c.server, "https://[fd00::1]:443");
    assert_string_equal(c.token_file, "/sa/token");
    assert_string_equal(c.ca_file, "/sa/ca.crt");
    ambd_kube_config_clear(&c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void write_file(const char *path, const char *text)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* as the kubelet does: a new file */
}

static void rotated_token_file_is_read_again(void **state)
{
    (void)state;
    char dir[] = "/tmp/ambient-token-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/token", dir);
    write_file(path, "first-token-value\n");
    struct ambd_kube_config c = {.server = "http://127.0.0.1:1", .token_file = path};
    struct ambd_kube *k;
    struct amb_error err = AMBD_ERROR_INIT;
    assert_int_equal(ambd_kube_new(&c, &k, &err), AMB_OK);
    testutil_log_capture();
    char *t = ambd_kube_token(k);
    assert_string_equal(t, "first-token-value");
    free(t);
    write_file(path, "second-token-value\n");
    t = ambd_kube_token(k);
    assert_string_equal(t, "second-token-value");
    free(t);
    /* An unreadable file keeps the last good token (here re-read at once,
     * as after a 401). */
    unlink(path);
    ambd_kube_token_stale(k);
    t = ambd_kube_token(k);
    assert_string_equal(t, "second-token-value");
    free(t);
    ambd_log("test", AMB_LOG_INFO, "token is second-token-value", NULL);
    char *log = testutil_log_take();
    assert_non_null(strstr(log, "service-account token rotated"));
    assert_non_null(strstr(log, "cannot read the token file"));
    assert_null(strstr(log, "second-token-value")); /* registered as a secret */
    free(log);
    ambd_kube_free(k);
    rmdir(dir);
    ambd_log_clear_secrets();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_bodies_map_to_codes),
        cmocka_unit_test(retry_after_values),
        cmocka_unit_test(throttled_answers_carry_their_wait),
        cmocka_unit_test(paths_for_core_and_groups),
        cmocka_unit_test(server_urls),
        cmocka_unit_test(in_cluster_settings),
        cmocka_unit_test(rotated_token_file_is_read_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
