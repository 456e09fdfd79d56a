/* test_host_kube.c — the ABI 1.1 helpers plugins use on objects:
 * set_condition (a list keyed by type; lastTransitionTime moves only with
 * status; observedGeneration follows metadata.generation) and
 * set_controller_ref (one controller; the watch label), and that the
 * Kubernetes calls refuse to run without a callback's context; the 1.3
 * members: caller contexts, errors a plugin makes itself (and the
 * Retry-After a throttled Kubernetes answer puts on them). */
#include <stdlib.h>
#include <string.h>

#include "error-internal.h"
#include "host-ctx-internal.h"
#include "runtime-internal.h"
#include "testutil.h"

static struct amb_host host;

static int setup(void **state)
{
    (void)state;
    ambd_host_fill(&host);
    return 0;
}

static json_t *condition(json_t *obj, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(obj, "status"), "conditions"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
            return c;
    }
    return NULL;
}

static void conditions_behave_like_metav1(void **state)
{
    (void)state;
    json_t *obj = json_pack("{s:{s:i}}", "metadata", "generation", 3);
    assert_int_equal(host.set_condition(obj, "Ready", "False", "Creating", "creating the job"), 1);
    json_t *c = condition(obj, "Ready");
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(c, "observedGeneration")), 3);
    assert_non_null(json_object_get(c, "lastTransitionTime"));
    /* Same values: nothing changes. */
    assert_int_equal(host.set_condition(obj, "Ready", "False", "Creating", "creating the job"), 0);
    /* A new reason keeps the transition time. */
    json_object_set_new(c, "lastTransitionTime", json_string("2000-01-01T00:00:00Z"));
    assert_int_equal(host.set_condition(obj, "Ready", "False", "Pulling", "pulling"), 1);
    assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")),
                        "2000-01-01T00:00:00Z");
    /* A new status moves it. */
    assert_int_equal(host.set_condition(obj, "Ready", "True", "Running", ""), 1);
    assert_string_not_equal(json_string_value(json_object_get(c, "lastTransitionTime")),
                            "2000-01-01T00:00:00Z");
    assert_int_equal(host.set_condition(obj, "Failed", "False", "NotFailed", NULL), 1);
    assert_int_equal(json_array_size(json_object_get(json_object_get(obj, "status"), "conditions")), 2);
    /* Invalid input changes nothing. */
    assert_int_equal(host.set_condition(obj, "Ready", "Maybe", "X", ""), AMB_EINVAL);
    assert_int_equal(host.set_condition(obj, "Ready", "True", "has space", ""), AMB_EINVAL);
    assert_int_equal(host.set_condition(obj, "Ready", "True", "1Digit", ""), AMB_EINVAL);
    assert_int_equal(host.set_condition(obj, "", "True", "Ok", ""), AMB_EINVAL);
    json_decref(obj);
}

static void one_controller_ref_and_the_watch_label(void **state)
{
    (void)state;
    json_t *owner = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "vteam.ambient-code/v1alpha1",
                              "kind", "AgenticSession", "metadata", "name", "s1", "uid", "u-1");
    json_t *other = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Thing",
                              "metadata", "name", "t", "uid", "u-2");
    json_t *child = json_pack("{s:{s:s}}", "metadata", "name", "s1-job");
    assert_int_equal(host.set_controller_ref(child, owner), AMB_OK);
    assert_int_equal(host.set_controller_ref(child, owner), AMB_OK); /* idempotent */
    json_t *md = json_object_get(child, "metadata");
    json_t *refs = json_object_get(md, "ownerReferences");
    assert_int_equal(json_array_size(refs), 1);
    json_t *ref = json_array_get(refs, 0);
    assert_string_equal(json_string_value(json_object_get(ref, "uid")), "u-1");
    assert_string_equal(json_string_value(json_object_get(ref, "kind")), "AgenticSession");
    assert_true(json_is_true(json_object_get(ref, "controller")));
    assert_true(json_is_true(json_object_get(ref, "blockOwnerDeletion")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(md, "labels"),
                                                          AMB_MANAGED_BY_LABEL)),
                        AMB_MANAGED_BY_VALUE);
    assert_int_equal(host.set_controller_ref(child, other), AMB_EEXIST);
    json_object_del(json_object_get(owner, "metadata"), "uid");
    assert_int_equal(host.set_controller_ref(child, owner), AMB_EINVAL);
    json_decref(owner);
    json_decref(other);
    json_decref(child);
}

static void kube_calls_need_a_callback_context(void **state)
{
    (void)state;
    const struct amb_resource pods = {"", "v1", "Pod", "pods", 1};
    struct amb_error err = AMBD_ERROR_INIT;
    json_t *out = NULL;
    assert_int_equal(host.kube_get(NULL, &pods, "ns", "p", &out, &err), AMB_ESTATE);
    assert_null(out);
    assert_int_equal(host.kube_get_cached(NULL, &pods, "ns", "p", &out, &err), AMB_ESTATE);
    assert_null(out);
    assert_int_equal(host.kube_delete(NULL, &pods, "ns", "p", NULL, &err), AMB_ESTATE);
    assert_int_equal(host.requeue(NULL, &pods, "ns", "p", 0), AMB_ESTATE);
    ambd_error_clear(&err);
    assert_true(AMB_HAS(&host, requeue));
    assert_true(AMB_HAS(&host, kube_get_cached));
    assert_true(AMB_HAS(&host, error_set));
}

static void caller_contexts_need_a_configured_api(void **state)
{
    (void)state;
    struct amb_error *err = host.error_new();
    struct amb_ctx *ctx = NULL;
    assert_int_equal(host.ctx_new(NULL, "tok", &ctx, err), AMB_EUNAVAILABLE);
    assert_null(ctx);
    json_t *j = host.error_to_json(err);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")), "kube group"));
    json_decref(j);
    host.error_free(err);
}

static void caller_contexts_refuse_controller_only_calls(void **state)
{
    (void)state;
    struct ambd_kube_config kc = {.server = "http://127.0.0.1:9", .timeout_ms = 1000};
    struct amb_error err = AMBD_ERROR_INIT;
    struct ambd_kube *k = NULL;
    assert_int_equal(ambd_kube_new(&kc, &k, &err), AMB_OK);
    ambd_host_ctx_set_kube(k);
    struct amb_ctx *ctx = NULL;
    /* A header-splitting token never reaches a request. */
    assert_int_equal(host.ctx_new(NULL, "tok\r\nX-Evil: 1", &ctx, &err), AMB_EUNAUTHORIZED);
    assert_null(ctx);
    assert_int_equal(host.ctx_new(NULL, "tok", &ctx, &err), AMB_OK);
    assert_non_null(ctx);
    const struct amb_resource pods = {"", "v1", "Pod", "pods", 1};
    assert_int_equal(host.kube_get_cached(ctx, &pods, "ns", "p", NULL, &err), AMB_ESTATE);
    assert_int_equal(host.requeue(ctx, &pods, "ns", "p", 0), AMB_ESTATE);
    assert_int_equal(host.update_status(ctx, NULL, NULL, NULL, &err), AMB_ESTATE);
    /* Nothing listens on port 9: the call goes to the API (not a cache). */
    assert_int_equal(host.kube_get(ctx, &pods, "ns", "p", NULL, &err), AMB_EIO);
    host.ctx_free(ctx);
    ambd_host_ctx_set_kube(NULL);
    ambd_kube_free(k);
    ambd_error_clear(&err);
}

static void errors_made_by_a_plugin_become_json(void **state)
{
    (void)state;
    struct amb_error *err = host.error_new();
    assert_non_null(err);
    host.error_set(err, AMB_EINVAL, "spec.timeout", "must be positive");
    host.error_set(err, AMB_EINVAL, NULL, "and something else");
    json_t *j = host.error_to_json(err);
    assert_int_equal(json_integer_value(json_object_get(j, "code")), AMB_EINVAL);
    assert_string_equal(json_string_value(json_object_get(j, "message")), "must be positive");
    json_t *causes = json_object_get(j, "causes");
    assert_int_equal(json_array_size(causes), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 0), "field")),
                        "spec.timeout");
    assert_null(json_object_get(json_array_get(causes, 1), "field"));
    assert_null(json_object_get(j, "retryAfterSeconds"));
    json_decref(j);
    /* A throttled Kubernetes answer tells the plugin how long to wait. */
    const char *busy = "Too many requests, please try again later.\n";
    ambd_kube_status_error(429, busy, strlen(busy), 3, err);
    j = host.error_to_json(err);
    assert_int_equal(json_integer_value(json_object_get(j, "retryAfterSeconds")), 3);
    json_decref(j);
    host.error_free(err);
    host.error_free(NULL);
    host.ctx_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(conditions_behave_like_metav1, setup),
        cmocka_unit_test_setup(one_controller_ref_and_the_watch_label, setup),
        cmocka_unit_test_setup(kube_calls_need_a_callback_context, setup),
        cmocka_unit_test_setup(caller_contexts_need_a_configured_api, setup),
        cmocka_unit_test_setup(caller_contexts_refuse_controller_only_calls, setup),
        cmocka_unit_test_setup(errors_made_by_a_plugin_become_json, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
