/* test_validate.c — ProjectSettings validation (every violation names its
 * field), defaults, and deterministic RoleBinding names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "plugin_mock.h"
#include "ps.h"

struct found {
    char text[4096];
    int n;
};

static void collect(void *ud, const char *field, const char *msg)
{
    struct found *f = ud;
    size_t used = strlen(f->text);
    snprintf(f->text + used, sizeof f->text - used, "%s: %s\n", field, msg);
    f->n++;
}

static json_t *ps(const char *name, const char *spec_json)
{
    json_error_t je;
    json_t *spec = json_loads(spec_json, 0, &je);
    assert_non_null(spec);
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "vteam.ambient-code/v1alpha1",
                     "kind", "ProjectSettings", "metadata", "name", name, "namespace", "p1",
                     "spec", spec);
}

/* The violations of spec (name projectsettings) as "field: msg\n" lines. */
static struct found check(const char *name, const char *spec_json)
{
    struct found f = {{0}, 0};
    json_t *o = ps(name, spec_json);
    int n = ps_check(o, collect, &f);
    assert_int_equal(n, f.n);
    json_decref(o);
    return f;
}

static void expect_only(const char *spec_json, const char *line)
{
    struct found f = check("projectsettings", spec_json);
    if (f.n != 1 || strcmp(f.text, line) != 0)
        fail_msg("spec %s\nwant: %sgot (%d): %s", spec_json, line, f.n, f.text);
}

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

static void valid_full(void **state)
{
    (void)state;
    struct found f = check("projectsettings",
                           "{\"defaultModel\": \"claude-sonnet\", \"defaultTimeout\": 600,"
                           " \"maxTimeout\": 3600, \"allowedModels\": [\"claude-sonnet\", \"claude-opus\"],"
                           " \"runnerSecretsName\": \"my-secrets\","
                           " \"groupAccess\": [{\"groupName\": \"devs\", \"role\": \"edit\"},"
                           "                  {\"groupName\": \"Ops Team\", \"role\": \"admin\"}],"
                           " \"anthropicApiKey\": \"sk-ant-123456\"}");
    assert_int_equal(f.n, 0);
    assert_int_equal(check("projectsettings", "{}").n, 0);
    /* An empty allowedModels allows any model. */
    assert_int_equal(check("projectsettings", "{\"defaultModel\": \"m\", \"allowedModels\": []}").n, 0);
}

static void wrong_name(void **state)
{
    (void)state;
    struct found f = check("settings", "{}");
    assert_int_equal(f.n, 1);
    assert_string_equal(f.text,
                        "metadata.name: must be projectsettings (one ProjectSettings per project)\n");
}

static void each_field(void **state)
{
    (void)state;
    expect_only("{\"groupAccess\": [{\"groupName\": \"a\", \"role\": \"view\"},"
                " {\"groupName\": \"b\", \"role\": \"owner\"}]}",
                "spec.groupAccess[1].role: must be admin, edit or view\n");
    expect_only("{\"groupAccess\": [{\"role\": \"view\"}]}", "spec.groupAccess[0].groupName: required\n");
    expect_only("{\"groupAccess\": [{\"groupName\": \"a\"}]}", "spec.groupAccess[0].role: required\n");
    expect_only("{\"groupAccess\": [{\"groupName\": \"\", \"role\": \"view\"}]}",
                "spec.groupAccess[0].groupName: must be a non-empty string\n");
    expect_only("{\"groupAccess\": [\"devs\"]}", "spec.groupAccess[0]: must be an object {groupName, role}\n");
    expect_only("{\"groupAccess\": {}}", "spec.groupAccess: must be a list of {groupName, role}\n");
    expect_only("{\"groupAccess\": [{\"groupName\": \"a\", \"role\": \"view\"},"
                " {\"groupName\": \"a\", \"role\": \"edit\"}]}",
                "spec.groupAccess[1].groupName: duplicate of spec.groupAccess[0].groupName\n");
    expect_only("{\"defaultTimeout\": 7200, \"maxTimeout\": 3600}",
                "spec.defaultTimeout: must not exceed spec.maxTimeout\n");
    expect_only("{\"defaultTimeout\": 0}",
                "spec.defaultTimeout: must be from 1 to 2592000 seconds (30 days)\n");
    expect_only("{\"maxTimeout\": 9223372036854775807}",
                "spec.maxTimeout: must be from 1 to 2592000 seconds (30 days)\n");
    expect_only("{\"maxTimeout\": \"1h\"}", "spec.maxTimeout: must be an integer number of seconds\n");
    expect_only("{\"defaultModel\": \"x\", \"allowedModels\": [\"a\", \"b\"]}",
                "spec.defaultModel: must be one of spec.allowedModels\n");
    expect_only("{\"defaultModel\": \"\"}", "spec.defaultModel: must be a non-empty string\n");
    expect_only("{\"allowedModels\": [\"a\", \"a\"]}", "spec.allowedModels[1]: duplicate of spec.allowedModels[0]\n");
    expect_only("{\"allowedModels\": \"a\"}", "spec.allowedModels: must be a list of model names\n");
    expect_only("{\"allowedModels\": [\"a\", 3]}", "spec.allowedModels[1]: must be a non-empty string\n");
    expect_only("{\"runnerSecretsName\": \"Bad_Name\"}",
                "spec.runnerSecretsName: must be a Secret name (lowercase RFC 1123 subdomain, at most 253 characters)\n");
    expect_only("{\"runnerSecretsName\": \"a-.b\"}",
                "spec.runnerSecretsName: must be a Secret name (lowercase RFC 1123 subdomain, at most 253 characters)\n");
    expect_only("{\"gitHubToken\": 12345678}", "spec.gitHubToken: must be a string\n");
    expect_only("[]", "spec: must be an object\n");
}

#define URL_WORDS "must be an http(s) or ssh git URL of at most 2048 characters " \
                  "(https://host/owner/repo, ssh://git@host/owner/repo or git@host:owner/repo)"

/* spec.repositories: the repositories whose webhooks start sessions here. */
static void repositories(void **state)
{
    (void)state;
    assert_int_equal(check("projectsettings",
                           "{\"repositories\": [\"https://github.com/org/repo\","
                           " \"https://gitlab.example.com/group/sub/repo.git\","
                           " \"git@github.com:org/other.git\", \"ssh://git@host:2222/a/b\"]}")
                         .n,
                     0);
    assert_int_equal(check("projectsettings", "{\"repositories\": []}").n, 0);
    expect_only("{\"repositories\": \"https://github.com/org/repo\"}",
                "spec.repositories: must be a list of repository URLs\n");
    expect_only("{\"repositories\": [\"https://github.com/a/b\", \"https://github.com/a/b\"]}",
                "spec.repositories[1]: duplicate of spec.repositories[0]\n");
    /* One cause per bad element, each naming its index. */
    struct found f = check("projectsettings",
                           "{\"repositories\": [\"https://github.com/ok/one\", 7, \"\","
                           " \"https://user:pw@github.com/a/b\", \"-oProxyCommand=x\","
                           " \"file:///etc/passwd\", \"https://github.com/a b\"]}");
    assert_int_equal(f.n, 6);
    for (int i = 1; i <= 6; i++) {
        char line[512];
        snprintf(line, sizeof line, "spec.repositories[%d]: " URL_WORDS "\n", i);
        if (!strstr(f.text, line))
            fail_msg("missing %sin %s", line, f.text);
    }
    /* A URL past 2048 bytes. */
    char spec[2300];
    snprintf(spec, sizeof spec, "{\"repositories\": [\"https://github.com/o/%02100d\"]}", 0);
    expect_only(spec, "spec.repositories[0]: " URL_WORDS "\n");
    /* At most 100 entries: the 101st is refused as a whole. */
    char many[8192] = "{\"repositories\": [";
    for (int i = 0; i < 101; i++) {
        size_t used = strlen(many);
        snprintf(many + used, sizeof many - used, "%s\"https://h/o/r%d\"", i ? "," : "", i);
    }
    strcat(many, "]}");
    expect_only(many, "spec.repositories: must have at most 100 entries\n");
    many[strlen(many) - 2] = '\0';
    *strrchr(many, ',') = '\0';
    strcat(many, "]}");
    assert_int_equal(check("projectsettings", many).n, 0);
}

static void all_at_once(void **state)
{
    (void)state;
    struct found f = check("other", "{\"defaultTimeout\": 10, \"maxTimeout\": 5,"
                                    " \"groupAccess\": [{\"groupName\": \"a\", \"role\": \"root\"}],"
                                    " \"runnerSecretsName\": \"-x\"}");
    assert_int_equal(f.n, 4);
    assert_non_null(strstr(f.text, "metadata.name: "));
    assert_non_null(strstr(f.text, "spec.defaultTimeout: "));
    assert_non_null(strstr(f.text, "spec.groupAccess[0].role: "));
    assert_non_null(strstr(f.text, "spec.runnerSecretsName: "));
}

static void validate_uses_error_set(void **state)
{
    (void)state;
    json_t *o = ps("projectsettings", "{\"groupAccess\": [{\"groupName\": \"a\", \"role\": \"x\"},"
                                      " {\"groupName\": \"b\", \"role\": \"y\"}],"
                                      " \"anthropicApiKey\": \"sk-secret-value\"}");
    struct amb_error err = {0};
    assert_int_equal(ps_validate(NULL, NULL, o, NULL, &err), AMB_EINVAL);
    assert_int_equal(err.n, 2);
    assert_int_equal(err.code, AMB_EINVAL);
    assert_string_equal(err.text, "spec.groupAccess[0].role: must be admin, edit or view\n"
                                  "spec.groupAccess[1].role: must be admin, edit or view\n");
    assert_null(strstr(err.text, "sk-secret-value"));
    json_decref(o);
    o = ps("projectsettings", "{}");
    struct amb_error ok = {0};
    assert_int_equal(ps_validate(NULL, NULL, o, NULL, &ok), AMB_OK);
    assert_int_equal(ok.n, 0);
    json_decref(o);
}

static void defaults(void **state)
{
    (void)state;
    struct amb_error err = {0};
    json_t *o = json_pack("{s:{s:s}}", "metadata", "name", "projectsettings");
    assert_int_equal(ps_set_defaults(NULL, NULL, o, &err), AMB_OK);
    json_t *spec = json_object_get(o, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "runnerSecretsName")),
                        "ambient-runner-secrets");
    assert_true(json_is_array(json_object_get(spec, "groupAccess")));
    assert_int_equal(json_array_size(json_object_get(spec, "groupAccess")), 0);
    /* Model and timeouts stay unset: absent means the platform default. */
    assert_null(json_object_get(spec, "defaultModel"));
    assert_null(json_object_get(spec, "defaultTimeout"));
    json_decref(o);

    o = ps("projectsettings", "{\"runnerSecretsName\": \"mine\", \"groupAccess\": [{\"groupName\": \"a\", \"role\": \"view\"}]}");
    assert_int_equal(ps_set_defaults(NULL, NULL, o, &err), AMB_OK);
    spec = json_object_get(o, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "runnerSecretsName")), "mine");
    assert_int_equal(json_array_size(json_object_get(spec, "groupAccess")), 1);
    json_decref(o);
}

static void names(void **state)
{
    (void)state;
    char a[PS_RB_NAME_MAX], b[PS_RB_NAME_MAX];
    assert_int_equal(ps_rb_name("devs", "edit", a, sizeof a), AMB_OK);
    assert_string_equal(a, "ambient-group-devs-edit");
    assert_int_equal(ps_rb_name("devs", "view", b, sizeof b), AMB_OK);
    assert_string_equal(b, "ambient-group-devs-view");
    /* Not a clean label: sanitized plus a hash, so look-alikes differ. */
    assert_int_equal(ps_rb_name("Team_A", "admin", a, sizeof a), AMB_OK);
    assert_int_equal(ps_rb_name("team a", "admin", b, sizeof b), AMB_OK);
    assert_int_equal(strncmp(a, "ambient-group-team-a-", 21), 0);
    assert_int_equal(strncmp(b, "ambient-group-team-a-", 21), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), strlen("ambient-group-team-a-12345678-admin"));
    /* Deterministic. */
    char c[PS_RB_NAME_MAX];
    ps_rb_name("Team_A", "admin", c, sizeof c);
    assert_string_equal(a, c);
    /* Long and odd names stay short and valid. */
    assert_int_equal(ps_rb_name("system:serviceaccounts:some-very-long-namespace-name-here", "view", a, sizeof a), AMB_OK);
    assert_true(strlen(a) <= 14 + 40 + 9 + 5);
    assert_null(strstr(a, ":"));
    assert_null(strstr(a, "--"));
    assert_int_equal(ps_rb_name("@@@", "view", a, sizeof a), AMB_OK);
    assert_int_equal(strncmp(a, "ambient-group-", 14), 0);
    assert_null(strstr(a, "--"));
    assert_int_equal(ps_rb_name("", "view", a, sizeof a), AMB_EINVAL);
    assert_int_equal(ps_rb_name("devs", "owner", a, sizeof a), AMB_EINVAL);
    assert_int_equal(ps_rb_name(NULL, "view", a, sizeof a), AMB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(valid_full, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_name, setup, teardown),
        cmocka_unit_test_setup_teardown(each_field, setup, teardown),
        cmocka_unit_test_setup_teardown(repositories, setup, teardown),
        cmocka_unit_test_setup_teardown(all_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(validate_uses_error_set, setup, teardown),
        cmocka_unit_test_setup_teardown(defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
