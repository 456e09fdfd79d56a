/* test_reconcile.c — ProjectSettings reconcile against the mock host:
 * RoleBindings created, updated and deleted as groupAccess changes, legacy
 * credential fields moved into the Secret before they are cleared (and
 * never shown), status written only when it changes, invalid objects
 * marked, plugin registration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_mock.h"
#include "ps.h"

#define KEY "projectsettings/p1/projectsettings"
#define SECRET_VALUE "sk-ant-api03-very-secret"
#define GH_VALUE "ghp_supersecrettoken"

extern const struct amb_plugin *amb_plugin_entry(void);

static int setup(void **state)
{
    (void)state;
    mock_reset();
    ps_host = &mock_host;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mock_free();
    return 0;
}

static void put_ps(const char *name, const char *spec_json)
{
    json_error_t je;
    json_t *spec = json_loads(spec_json, 0, &je);
    assert_non_null(spec);
    mock_put(&ps_projectsettings,
             json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "vteam.ambient-code/v1alpha1",
                       "kind", "ProjectSettings", "metadata", "name", name, "namespace", "p1",
                       "spec", spec));
}

static void set_spec(const char *field, const char *value_json)
{
    json_t *o = mock_get("projectsettings", "p1", "projectsettings");
    json_t *meta = json_object_get(o, "metadata");
    json_object_set_new(json_object_get(o, "spec"), field, json_loads(value_json, JSON_DECODE_ANY, NULL));
    json_object_set_new(meta, "generation",
                        json_integer(json_integer_value(json_object_get(meta, "generation")) + 1));
}

/* One reconcile of the stored object at key, as the controller would run it. */
static int reconcile_key(const char *key, struct amb_error *err)
{
    json_t *obj = json_deep_copy(json_object_get(mock.store, key));
    assert_non_null(obj);
    int rc = ps_reconcile(NULL, mock_ctx(key), obj, err);
    json_decref(obj);
    return rc;
}

static int reconcile(void)
{
    struct amb_error err = {0};
    return reconcile_key(KEY, &err);
}

static const json_t *cond(const char *key, const char *type)
{
    const json_t *conds = json_object_get(json_object_get(json_object_get(mock.store, key), "status"), "conditions");
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c) if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0) return c;
    return NULL;
}

static const char *cond_field(const char *type, const char *field)
{
    return json_string_value(json_object_get(cond(KEY, type), field));
}

static int json_has(const json_t *j, const char *s)
{
    char *text = json_dumps(j, 0);
    int has = text && strstr(text, s) != NULL;
    free(text);
    return has;
}

static int events_have(const char *s)
{
    return json_has(mock.events, s);
}

static json_t *rb(const char *name)
{
    return mock_get("rolebindings", "p1", name);
}

static int n_rolebindings(void)
{
    int n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(mock.store, k, v) n += strncmp(k, "rolebindings/", 13) == 0;
    return n;
}

static void put_secret(void)
{
    mock_put(&ps_secrets, json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
                                     "Secret", "metadata", "name", "ambient-runner-secrets",
                                     "namespace", "p1", "data", "OTHER", "keep-me"));
}

static void registers(void **state)
{
    (void)state;
    const struct amb_plugin *p = amb_plugin_entry();
    assert_string_equal(p->name, "projectsettings");
    assert_int_equal(p->abi_major, AMB_ABI_MAJOR);
    void *st = NULL;
    struct amb_error err = {0};
    assert_int_equal(p->init(&mock_host, NULL, &st, &err), AMB_OK);
    assert_int_equal(json_array_size(mock.kinds), 1);
    json_t *k = json_array_get(mock.kinds, 0);
    assert_string_equal(json_string_value(json_object_get(k, "plural")), "projectsettings");
    assert_int_equal(json_integer_value(json_object_get(k, "n_owns")), 1);
    assert_true(json_is_true(json_object_get(k, "validate")));
    assert_true(json_is_true(json_object_get(k, "defaults")));
    assert_true(json_is_true(json_object_get(k, "reconcile")));
    /* Its own REST (ABI 1.5): project-settings and runner-secrets (PATCH merges). */
    const char *routes[] = {"GET /api/projects/:project/project-settings",
                            "PUT /api/projects/:project/project-settings",
                            "GET /api/projects/:project/runner-secrets",
                            "PUT /api/projects/:project/runner-secrets",
                            "PATCH /api/projects/:project/runner-secrets"};
    assert_int_equal(json_array_size(mock.routes), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_array_get(mock.routes, i)), routes[i]);
    /* A 1.0 host is refused with a message. */
    struct amb_host old = mock_host;
    old.size = offsetof(struct amb_host, kube_get);
    struct amb_error e2 = {0};
    assert_int_equal(p->init(&old, NULL, &st, &e2), AMB_EUNSUPPORTED);
    assert_non_null(strstr(e2.text, "1.1"));
}

static void creates_rolebindings(void **state)
{
    (void)state;
    put_secret();
    put_ps("projectsettings", "{\"groupAccess\": [{\"groupName\": \"devs\", \"role\": \"edit\"},"
                              " {\"groupName\": \"Ops Team\", \"role\": \"admin\"}]}");
    assert_int_equal(reconcile(), AMB_OK);
    assert_int_equal(n_rolebindings(), 2);
    json_t *d = rb("ambient-group-devs-edit");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "roleRef"), "name")),
                        "ambient-project-edit");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "roleRef"), "kind")), "ClusterRole");
    json_t *subj = json_array_get(json_object_get(d, "subjects"), 0);
    assert_string_equal(json_string_value(json_object_get(subj, "kind")), "Group");
    assert_string_equal(json_string_value(json_object_get(subj, "name")), "devs");
    json_t *meta = json_object_get(d, "metadata");
    assert_string_equal(json_string_value(json_object_get(json_object_get(meta, "labels"), PS_GROUP_LABEL)), "true");
    assert_string_equal(json_string_value(json_object_get(json_object_get(meta, "labels"), AMB_MANAGED_BY_LABEL)), "ambient");
    json_t *ref = json_array_get(json_object_get(meta, "ownerReferences"), 0);
    assert_string_equal(json_string_value(json_object_get(ref, "uid")),
                        json_string_value(json_object_get(json_object_get(json_object_get(mock.store, KEY), "metadata"), "uid")));
    /* Status: generation observed, all three conditions. */
    json_t *st = json_object_get(json_object_get(mock.store, KEY), "status");
    assert_int_equal(json_integer_value(json_object_get(st, "observedGeneration")), 1);
    assert_string_equal(cond_field("Ready", "status"), "True");
    assert_string_equal(cond_field("GroupAccessReady", "status"), "True");
    assert_string_equal(cond_field("GroupAccessReady", "message"), "2 RoleBinding(s) match spec.groupAccess");
    assert_string_equal(cond_field("SecretsReady", "status"), "True");
    assert_int_equal(mock.status_writes, 1);
    assert_true(events_have("RoleBindingCreated"));

    /* Idempotent: a second pass writes nothing. */
    json_array_clear(mock.ops);
    assert_int_equal(reconcile(), AMB_OK);
    assert_int_equal(mock_count_ops("create"), 0);
    assert_int_equal(mock_count_ops("update"), 0);
    assert_int_equal(mock_count_ops("delete"), 0);
    assert_int_equal(mock_count_ops("patch"), 0);
    assert_int_equal(mock.status_writes, 1);
}

static void follows_changes(void **state)
{
    (void)state;
    put_secret();
    put_ps("projectsettings", "{\"groupAccess\": [{\"groupName\": \"devs\", \"role\": \"edit\"},"
                              " {\"groupName\": \"qa\", \"role\": \"view\"}]}");
    /* Someone else's RoleBinding without our label is never touched. */
    mock_put(&ps_rolebindings, json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:s}}", "metadata", "name", "theirs",
                                         "namespace", "p1", "labels", AMB_MANAGED_BY_LABEL, "ambient",
                                         "roleRef", "name", "admin"));
    assert_int_equal(reconcile(), AMB_OK);
    assert_int_equal(n_rolebindings(), 3);

    /* Role changed: the old binding goes, the new one comes. */
    set_spec("groupAccess", "[{\"groupName\": \"devs\", \"role\": \"admin\"}, {\"groupName\": \"qa\", \"role\": \"view\"}]");
    json_array_clear(mock.ops);
    assert_int_equal(reconcile(), AMB_OK);
    assert_null(rb("ambient-group-devs-edit"));
    assert_non_null(rb("ambient-group-devs-admin"));
    assert_non_null(rb("ambient-group-qa-view"));
    assert_int_equal(mock_count_ops("delete rolebindings/p1/ambient-group-devs-edit"), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(mock.store, KEY), "status"), "observedGeneration")), 2);

    /* Entry removed: its binding is deleted; others stay. */
    set_spec("groupAccess", "[{\"groupName\": \"devs\", \"role\": \"admin\"}]");
    assert_int_equal(reconcile(), AMB_OK);
    assert_null(rb("ambient-group-qa-view"));
    assert_non_null(rb("ambient-group-devs-admin"));
    assert_non_null(rb("theirs"));
    assert_true(events_have("RoleBindingDeleted"));

    /* Drift (subjects edited by hand) is repaired with an update. */
    json_t *d = rb("ambient-group-devs-admin");
    json_object_set_new(json_array_get(json_object_get(d, "subjects"), 0), "name", json_string("intruders"));
    json_array_clear(mock.ops);
    assert_int_equal(reconcile(), AMB_OK);
    assert_int_equal(mock_count_ops("update rolebindings/p1/ambient-group-devs-admin"), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(rb("ambient-group-devs-admin"), "subjects"), 0), "name")), "devs");

    /* A binding with our name but no label (created by hand) is adopted. */
    json_object_del(json_object_get(json_object_get(rb("ambient-group-devs-admin"), "metadata"), "labels"), PS_GROUP_LABEL);
    json_array_clear(mock.ops);
    assert_int_equal(reconcile(), AMB_OK);
    assert_int_equal(mock_count_ops("update rolebindings/p1/ambient-group-devs-admin"), 1);
    assert_int_equal(mock_count_ops("create rolebindings"), 0);

    /* Empty list: every binding of ours goes. */
    set_spec("groupAccess", "[]");
    assert_int_equal(reconcile(), AMB_OK);
    assert_int_equal(n_rolebindings(), 1);
    assert_non_null(rb("theirs"));
    assert_string_equal(cond_field("GroupAccessReady", "message"), "0 RoleBinding(s) match spec.groupAccess");
}

static void migrates_secrets_in_order(void **state)
{
    (void)state;
    put_ps("projectsettings", "{\"anthropicApiKey\": \"" SECRET_VALUE "\", \"gitHubToken\": \"" GH_VALUE "\","
                              " \"gitLabToken\": \"\", \"groupAccess\": []}");
    assert_int_equal(reconcile(), AMB_OK);
    /* The Secret was written before the CR was cleared. */
    int created = mock_op_index("create secrets/p1/ambient-runner-secrets");
    int cleared = mock_op_index("patch " KEY);
    assert_true(created >= 0);
    assert_true(cleared > created);
    json_t *s = mock_get("secrets", "p1", "ambient-runner-secrets");
    json_t *data = json_object_get(s, "data");
    assert_string_equal(json_string_value(json_object_get(data, "ANTHROPIC_API_KEY")), SECRET_VALUE);
    assert_string_equal(json_string_value(json_object_get(data, "GITHUB_TOKEN")), GH_VALUE);
    /* An empty legacy value is cleared, never written over a real key. */
    assert_null(json_object_get(data, "GITLAB_TOKEN"));
    /* Not owned: deleting the settings must not delete the credentials. */
    assert_null(json_object_get(json_object_get(s, "metadata"), "ownerReferences"));
    json_t *spec = json_object_get(json_object_get(mock.store, KEY), "spec");
    assert_null(json_object_get(spec, "anthropicApiKey"));
    assert_null(json_object_get(spec, "gitHubToken"));
    assert_null(json_object_get(spec, "gitLabToken"));
    /* The clear is a new generation, and that is what the status observed. */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(mock.store, KEY), "status"), "observedGeneration")), 2);
    assert_string_equal(cond_field("SecretsReady", "status"), "True");
    assert_string_equal(cond_field("Ready", "status"), "True");
    assert_true(events_have("SecretsMigrated"));
    assert_true(events_have("ANTHROPIC_API_KEY, GITHUB_TOKEN"));
    /* Values handed to log_secret, never shown. */
    assert_true(json_has(mock.secrets_logged, SECRET_VALUE));
    assert_false(mock_text_seen(SECRET_VALUE));
    assert_false(mock_text_seen(GH_VALUE));
    /* The next pass (woken by our own patch) changes nothing. */
    int writes = mock.status_writes;
    json_array_clear(mock.ops);
    assert_int_equal(reconcile(), AMB_OK);
    assert_int_equal(mock_count_ops("patch"), 0);
    assert_int_equal(mock_count_ops("create"), 0);
    assert_int_equal(mock.status_writes, writes);
}

static void patches_existing_secret(void **state)
{
    (void)state;
    put_secret();
    put_ps("projectsettings", "{\"gitLabToken\": \"glpat-abcdefgh\"}");
    assert_int_equal(reconcile(), AMB_OK);
    json_t *data = json_object_get(mock_get("secrets", "p1", "ambient-runner-secrets"), "data");
    assert_string_equal(json_string_value(json_object_get(data, "GITLAB_TOKEN")), "glpat-abcdefgh");
    assert_string_equal(json_string_value(json_object_get(data, "OTHER")), "keep-me");
    assert_int_equal(mock_count_ops("create secrets"), 0);
    assert_true(mock_op_index("patch secrets/p1/ambient-runner-secrets") < mock_op_index("patch " KEY));
    assert_null(json_object_get(json_object_get(json_object_get(mock.store, KEY), "spec"), "gitLabToken"));
}

static void custom_secret_name(void **state)
{
    (void)state;
    put_ps("projectsettings", "{\"runnerSecretsName\": \"team-keys\", \"anthropicApiKey\": \"" SECRET_VALUE "\"}");
    assert_int_equal(reconcile(), AMB_OK);
    assert_non_null(mock_get("secrets", "p1", "team-keys"));
    assert_null(mock_get("secrets", "p1", "ambient-runner-secrets"));
}

static void secret_write_failure_keeps_key(void **state)
{
    (void)state;
    put_ps("projectsettings", "{\"anthropicApiKey\": \"" SECRET_VALUE "\"}");
    snprintf(mock.fail_op, sizeof mock.fail_op, "create secrets");
    mock.fail_rc = AMB_EFORBIDDEN;
    struct amb_error err = {0};
    assert_int_equal(reconcile_key(KEY, &err), AMB_EFORBIDDEN);
    /* The CR was not cleared: the key is not lost. */
    assert_int_equal(mock_count_ops("patch " KEY), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(mock.store, KEY), "spec"), "anthropicApiKey")), SECRET_VALUE);
    assert_string_equal(cond_field("Ready", "status"), "False");
    assert_string_equal(cond_field("Ready", "reason"), "SecretMigrationFailed");
    assert_string_equal(cond_field("SecretsReady", "status"), "False");
    assert_non_null(strstr(cond_field("Ready", "message"), "forbidden"));
    assert_false(mock_text_seen(SECRET_VALUE));
    assert_null(strstr(err.text, SECRET_VALUE));
    /* The retry moves it. */
    assert_int_equal(reconcile(), AMB_OK);
    assert_null(json_object_get(json_object_get(json_object_get(mock.store, KEY), "spec"), "anthropicApiKey"));
    assert_string_equal(cond_field("Ready", "status"), "True");
}

static void clear_failure_then_retry(void **state)
{
    (void)state;
    put_ps("projectsettings", "{\"anthropicApiKey\": \"" SECRET_VALUE "\"}");
    snprintf(mock.fail_op, sizeof mock.fail_op, "patch projectsettings");
    mock.fail_rc = AMB_EUNAVAILABLE;
    struct amb_error err = {0};
    assert_int_equal(reconcile_key(KEY, &err), AMB_EUNAVAILABLE);
    /* The key is in the Secret and still in the CR: in two places, never none. */
    json_t *data = json_object_get(mock_get("secrets", "p1", "ambient-runner-secrets"), "data");
    assert_string_equal(json_string_value(json_object_get(data, "ANTHROPIC_API_KEY")), SECRET_VALUE);
    assert_non_null(json_object_get(json_object_get(json_object_get(mock.store, KEY), "spec"), "anthropicApiKey"));
    assert_int_equal(reconcile(), AMB_OK);
    assert_null(json_object_get(json_object_get(json_object_get(mock.store, KEY), "spec"), "anthropicApiKey"));
    assert_false(mock_text_seen(SECRET_VALUE));
}

static void invalid_name_marked(void **state)
{
    (void)state;
    put_ps("other", "{\"groupAccess\": [{\"groupName\": \"devs\", \"role\": \"edit\"}],"
                    " \"anthropicApiKey\": \"" SECRET_VALUE "\"}");
    struct amb_error err = {0};
    assert_int_equal(reconcile_key("projectsettings/p1/other", &err), AMB_OK);
    assert_int_equal(n_rolebindings(), 0);
    assert_int_equal(mock_count_ops("create"), 0);
    assert_int_equal(mock_count_ops("patch"), 0);
    const json_t *c = cond("projectsettings/p1/other", "Ready");
    assert_string_equal(json_string_value(json_object_get(c, "status")), "False");
    assert_string_equal(json_string_value(json_object_get(c, "reason")), "InvalidName");
    assert_non_null(strstr(json_string_value(json_object_get(c, "message")), "metadata.name: must be projectsettings"));
    assert_false(mock_text_seen(SECRET_VALUE));
    /* Again: no second status write. */
    int writes = mock.status_writes;
    assert_int_equal(reconcile_key("projectsettings/p1/other", &err), AMB_OK);
    assert_int_equal(mock.status_writes, writes);
}

static void invalid_spec_marked(void **state)
{
    (void)state;
    put_ps("projectsettings", "{\"defaultTimeout\": 10, \"maxTimeout\": 5,"
                              " \"groupAccess\": [{\"groupName\": \"devs\", \"role\": \"boss\"}]}");
    assert_int_equal(reconcile(), AMB_OK);
    assert_int_equal(n_rolebindings(), 0);
    assert_string_equal(cond_field("Ready", "reason"), "InvalidSpec");
    assert_string_equal(cond_field("Ready", "message"),
                        "spec.defaultTimeout: must not exceed spec.maxTimeout; "
                        "spec.groupAccess[0].role: must be admin, edit or view");
    assert_true(events_have("InvalidSpec"));
}

static void missing_secret_rechecked(void **state)
{
    (void)state;
    put_ps("projectsettings", "{}");
    assert_int_equal(reconcile(), PS_SECRET_RECHECK_MS);
    assert_string_equal(cond_field("SecretsReady", "status"), "False");
    assert_string_equal(cond_field("SecretsReady", "reason"), "SecretNotFound");
    assert_string_equal(cond_field("Ready", "status"), "True");
    put_secret();
    assert_int_equal(reconcile(), AMB_OK);
    assert_string_equal(cond_field("SecretsReady", "status"), "True");
}

static void rolebinding_failure_reported(void **state)
{
    (void)state;
    put_secret();
    put_ps("projectsettings", "{\"groupAccess\": [{\"groupName\": \"devs\", \"role\": \"edit\"}]}");
    snprintf(mock.fail_op, sizeof mock.fail_op, "create rolebindings");
    mock.fail_rc = AMB_EFORBIDDEN;
    assert_int_equal(reconcile(), AMB_EFORBIDDEN);
    assert_string_equal(cond_field("Ready", "status"), "False");
    assert_string_equal(cond_field("GroupAccessReady", "reason"), "RoleBindingSyncFailed");
    assert_int_equal(reconcile(), AMB_OK);
    assert_string_equal(cond_field("Ready", "status"), "True");
    assert_non_null(rb("ambient-group-devs-edit"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(registers, setup, teardown),
        cmocka_unit_test_setup_teardown(creates_rolebindings, setup, teardown),
        cmocka_unit_test_setup_teardown(follows_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(migrates_secrets_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(patches_existing_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(custom_secret_name, setup, teardown),
        cmocka_unit_test_setup_teardown(secret_write_failure_keeps_key, setup, teardown),
        cmocka_unit_test_setup_teardown(clear_failure_then_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_name_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_spec_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_secret_rechecked, setup, teardown),
        cmocka_unit_test_setup_teardown(rolebinding_failure_reported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
