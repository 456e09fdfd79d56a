/* test_kube_record.c — the call recorder reads request paths as the API
 * server's request info does (verb, group, resource, subresource,
 * namespaced), and writes only the process's own calls to the file named by
 * AMBIENT_KUBE_CALL_LOG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube-record-internal.h"
#include "testutil.h"

static void line_is(const char *method, const char *path, const char *query, const char *want)
{
    char out[256];
    int rc = ambd_kube_record_line(method, path, query, out, sizeof out);
    if (!want) {
        assert_int_equal(rc, -1);
        return;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void reads_paths_as_rbac_does(void **state)
{
    (void)state;
    line_is("GET", "/api/v1/namespaces", NULL, "list - namespaces - 0");
    line_is("GET", "/api/v1/namespaces/p1", NULL, "get - namespaces - 0");
    line_is("PUT", "/api/v1/namespaces/p1/finalize", NULL, "update - namespaces finalize 0");
    line_is("GET", "/api/v1/namespaces/p1/pods", "labelSelector=a%3Db", "list - pods - 1");
    line_is("GET", "/api/v1/namespaces/p1/pods", "watch=1&resourceVersion=5", "watch - pods - 1");
    line_is("GET", "/apis/batch/v1/jobs", "limit=500&watch=true", "watch batch jobs - 0");
    line_is("GET", "/apis/batch/v1/jobs", "watch=10", "list batch jobs - 0");
    line_is("POST", "/apis/authentication.k8s.io/v1/tokenreviews", NULL,
            "create authentication.k8s.io tokenreviews - 0");
    line_is("PATCH", "/apis/vteam.ambient-code/v1alpha1/namespaces/p1/agenticsessions/s/status",
            NULL, "patch vteam.ambient-code agenticsessions status 1");
    line_is("DELETE", "/api/v1/namespaces/p1/secrets/x", NULL, "delete - secrets - 1");
    line_is("DELETE", "/api/v1/namespaces/p1/secrets", NULL, "deletecollection - secrets - 1");
    line_is("PUT", "/apis/coordination.k8s.io/v1/namespaces/ambient/leases/l", NULL,
            "update coordination.k8s.io leases - 1");
    /* Not API paths, or methods RBAC has no verb for. */
    line_is("GET", "/healthz", NULL, NULL);
    line_is("GET", "/apis/batch", NULL, NULL);
    line_is("HEAD", "/api/v1/pods", NULL, NULL);
    line_is("GET", "/api/v1/a/b/c/d/e/f/g/h/i", NULL, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[1024];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static void records_own_calls_only_when_asked(void **state)
{
    (void)state;
    char path[] = "/tmp/kube-record-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unsetenv(AMBD_KUBE_CALL_LOG_ENV);
    ambd_kube_record("GET", "/api/v1/pods", NULL, NULL);
    assert_string_equal(slurp(path), "");
    setenv(AMBD_KUBE_CALL_LOG_ENV, path, 1);
    ambd_kube_record("GET", "/api/v1/pods", NULL, NULL);
    ambd_kube_record("GET", "/api/v1/secrets", NULL, "a-user-token"); /* the user's rights */
    ambd_kube_record("POST", "/apis/batch/v1/namespaces/p/jobs", NULL, NULL);
    assert_string_equal(slurp(path), "list - pods - 0\ncreate batch jobs - 1\n");
    unsetenv(AMBD_KUBE_CALL_LOG_ENV);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_paths_as_rbac_does),
        cmocka_unit_test(records_own_calls_only_when_asked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
