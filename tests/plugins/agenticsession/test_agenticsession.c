/* test_agenticsession.c — the agenticsession plugin's logic against a mock
 * host: validation field by field, defaults from ProjectSettings then
 * ambient.conf, the children's specs (Job security, RBAC scope, PVC), and
 * the mapping of Job/Pod states to phases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as.h"
#include "as_options.h"
#include "plugin_mock.h"

const struct amb_plugin *amb_plugin_entry(void);

static int setup(void **state)
{
    (void)state;
    mock_reset();
    as_host = &mock_host;
    as_self = &mock_self;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mock_reset();
    return 0;
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("bad fixture JSON: %s at %d: %s", e.text, e.position, text);
    return v;
}

static json_t *session(const char *spec)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"vteam.ambient-code/v1alpha1\",\"kind\":\"AgenticSession\","
             "\"metadata\":{\"name\":\"s1\",\"namespace\":\"proj\",\"uid\":\"u-1\","
             "\"generation\":1},\"spec\":%s}",
             spec);
    return load(buf);
}

/* Validates spec with bounds; returns the problems. */
static struct as_problems check(const char *spec, long long max_timeout, const char *allowed)
{
    json_t *obj = session(spec);
    json_t *models = allowed ? load(allowed) : NULL;
    struct as_bounds b = {max_timeout, models};
    struct as_problems p = {0};
    as_validate_spec(obj, &b, &p);
    json_decref(obj);
    json_decref(models);
    return p;
}

static int find(const struct as_problems *p, const char *field)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->field[i], field) == 0)
            return (int)i;
    return -1;
}

#define GOOD_REPO "{\"input\":{\"url\":\"https://github.com/org/repo\"}}"

static void valid_spec_has_no_problems(void **state)
{
    (void)state;
    struct as_problems p = check("{\"prompt\":\"fix it\",\"repos\":[" GOOD_REPO ","
                                 "{\"input\":{\"url\":\"git@gitlab.com:g/r.git\",\"branch\":"
                                 "\"release/1.2\",\"token\":\"GITLAB_TOKEN\"},\"output\":{"
                                 "\"pushTo\":\"fork\",\"targetBranch\":\"fix-1\",\"targetRepo\":"
                                 "\"ssh://git@gitlab.com:2222/me/r.git\"}}],"
                                 "\"mainRepoIndex\":1,\"timeout\":600,\"model\":\"m1\","
                                 "\"options\":{},\"displayName\":\"Fix\"}",
                                 3600, "[\"m1\",\"m2\"]");
    for (size_t i = 0; i < p.n; i++)
        print_message("unexpected: %s: %s\n", p.field[i], p.message[i]);
    assert_int_equal(p.n, 0);
}

static void bad_url_names_its_index(void **state)
{
    (void)state;
    struct as_problems p = check("{\"prompt\":\"x\",\"repos\":[" GOOD_REPO
                                 ",{\"input\":{\"url\":\"file:///etc/passwd\"}}]}",
                                 0, NULL);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.field[0], "spec.repos[1].input.url");
    assert_non_null(strstr(p.message[0], "git URL"));
    p = check("{\"prompt\":\"x\",\"repos\":[{\"input\":{}}]}", 0, NULL);
    assert_int_equal(find(&p, "spec.repos[0].input.url"), 0);
    assert_string_equal(p.message[0], "is required");
    p = check("{\"prompt\":\"x\",\"repos\":[{}]}", 0, NULL);
    assert_int_equal(find(&p, "spec.repos[0].input"), 0);
}

static void git_url_forms(void **state)
{
    (void)state;
    const char *good[] = {"https://github.com/o/r", "https://github.com/o/r.git",
                          "http://git.local:8080/o/r", "https://user@host.example/o/r",
                          "ssh://git@github.com/o/r.git", "ssh://git@host:2222/o/r",
                          "git@github.com:o/r.git", "user@host.example:path/r"};
    const char *bad[] = {"", "github.com/o/r", "file:///tmp/r", "ext::sh -c touch% /tmp/x",
                         "git://github.com/o/r", "https://", "https:///o/r",
                         "https://host", "https://host/", "-uhttps://h/o/r",
                         "https://host/o r", "git@host:", "git@host:-oProxyCommand=x",
                         "@host:o/r", "https://host:99999999/o/r", "https://-host/o/r",
                         "https://user:ghp_secret@github.com/o/r", "ssh://git:pw@host/o/r"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!as_valid_git_url(good[i]))
            fail_msg("refused a good URL: %s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (as_valid_git_url(bad[i]))
            fail_msg("accepted a bad URL: %s", bad[i]);
}

static void main_repo_index_in_range(void **state)
{
    (void)state;
    struct as_problems p = check("{\"prompt\":\"x\",\"repos\":[" GOOD_REPO "," GOOD_REPO
                                 "],\"mainRepoIndex\":2}",
                                 0, NULL);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.field[0], "spec.mainRepoIndex");
    assert_non_null(strstr(p.message[0], "out of range"));
    p = check("{\"prompt\":\"x\",\"repos\":[" GOOD_REPO "],\"mainRepoIndex\":-1}", 0, NULL);
    assert_int_equal(find(&p, "spec.mainRepoIndex"), 0);
    p = check("{\"prompt\":\"x\",\"mainRepoIndex\":0}", 0, NULL);
    assert_int_equal(find(&p, "spec.mainRepoIndex"), 0);
    p = check("{\"prompt\":\"x\",\"repos\":[" GOOD_REPO "],\"mainRepoIndex\":0}", 0, NULL);
    assert_int_equal(p.n, 0);
}

static void prompt_required_unless_interactive(void **state)
{
    (void)state;
    struct as_problems p = check("{\"repos\":[" GOOD_REPO "]}", 0, NULL);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.field[0], "spec.prompt");
    assert_non_null(strstr(p.message[0], "interactive"));
    p = check("{\"prompt\":\"\"}", 0, NULL);
    assert_int_equal(find(&p, "spec.prompt"), 0);
    p = check("{\"interactive\":true}", 0, NULL);
    assert_int_equal(p.n, 0);
    p = check("{\"interactive\":\"yes\",\"prompt\":\"x\"}", 0, NULL);
    assert_int_equal(find(&p, "spec.interactive"), 0);
}

static void timeout_within_project_bounds(void **state)
{
    (void)state;
    struct as_problems p = check("{\"prompt\":\"x\",\"timeout\":7200}", 3600, NULL);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.field[0], "spec.timeout");
    assert_non_null(strstr(p.message[0], "maxTimeout of 3600"));
    p = check("{\"prompt\":\"x\",\"timeout\":3600}", 3600, NULL);
    assert_int_equal(p.n, 0);
    p = check("{\"prompt\":\"x\",\"timeout\":0}", 0, NULL);
    assert_int_equal(find(&p, "spec.timeout"), 0);
    p = check("{\"prompt\":\"x\",\"timeout\":\"1h\"}", 0, NULL);
    assert_int_equal(find(&p, "spec.timeout"), 0);
}

static void model_in_allow_list(void **state)
{
    (void)state;
    struct as_problems p = check("{\"prompt\":\"x\",\"model\":\"m3\"}", 0, "[\"m1\",\"m2\"]");
    assert_int_equal(p.n, 1);
    assert_string_equal(p.field[0], "spec.model");
    assert_non_null(strstr(p.message[0], "\"m3\" is not in the project's allowedModels"));
    p = check("{\"prompt\":\"x\",\"model\":\"m3\"}", 0, "[]");
    assert_int_equal(p.n, 0); /* an empty list allows any model */
    p = check("{\"prompt\":\"x\",\"model\":\"m3\"}", 0, NULL);
    assert_int_equal(p.n, 0);
}

static void push_to_is_an_enum(void **state)
{
    (void)state;
    struct as_problems p = check("{\"prompt\":\"x\",\"repos\":[" GOOD_REPO ",{\"input\":{\"url\":"
                                 "\"https://h/o/r\"},\"output\":{\"pushTo\":\"upstream\","
                                 "\"targetBranch\":\"a..b\",\"targetRepo\":\"nope\"}}]}",
                                 0, NULL);
    assert_int_equal(p.n, 3);
    assert_int_equal(find(&p, "spec.repos[1].output.pushTo"), 0);
    assert_string_equal(p.message[0], "must be one of fork, same, none");
    assert_true(find(&p, "spec.repos[1].output.targetBranch") >= 0);
    assert_true(find(&p, "spec.repos[1].output.targetRepo") >= 0);
}

static void every_violation_is_reported(void **state)
{
    (void)state;
    struct as_problems p = check("{\"repos\":[{\"input\":{\"url\":\"x\",\"branch\":\"-x\"}}],"
                                 "\"mainRepoIndex\":5,\"timeout\":99999,\"model\":\"bad\","
                                 "\"options\":[]}",
                                 600, "[\"good\"]");
    const char *fields[] = {"spec.prompt", "spec.repos[0].input.url",
                            "spec.repos[0].input.branch", "spec.mainRepoIndex", "spec.timeout",
                            "spec.model", "spec.options"};
    assert_int_equal(p.n, sizeof fields / sizeof fields[0]);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (find(&p, fields[i]) < 0)
            fail_msg("no violation for %s", fields[i]);
    char joined[1024];
    as_problems_join(&p, joined, sizeof joined);
    assert_non_null(strstr(joined, "spec.repos[0].input.url: must be"));
    assert_non_null(strstr(joined, "; spec.mainRepoIndex: "));
}

static void long_name_is_refused(void **state)
{
    (void)state;
    json_t *obj = session("{\"prompt\":\"x\"}");
    json_object_set_new(json_object_get(obj, "metadata"), "name",
                        json_string("a234567890123456789012345678901234567890123456789012345678"));
    struct as_problems p = {0};
    as_validate_spec(obj, NULL, &p);
    assert_int_equal(find(&p, "metadata.name"), 0);
    json_decref(obj);
}

/* ---- the kind as registered: config, validate and default callbacks ---- */

static const struct mock_conf test_conf[] = {
    {"runner_image", "registry.example/runner:1", 0},
    {"api_url", "https://api.test:8080", 0},
    {"workspace.size", "5Gi", 0},
    {"workspace.storage_class", "fast", 0},
    {"workspace.empty_dir", NULL, 0},
    {"ttl_seconds_after_finished", NULL, 600},
    {"default_model", "conf-model", 0},
    {"default_timeout", NULL, 900},
    {"resources.cpu_request", "250m", 0},
    {"resources.cpu_limit", "1", 0},
    {"resources.memory_request", "256Mi", 0},
    {"resources.memory_limit", "2Gi", 0},
};

static void init_plugin(const struct mock_conf *conf, size_t n)
{
    mockconf_use(conf, n);
    mockconf_fill(&mock_host);
    struct amb_error err = {0};
    void *st = NULL;
    const struct amb_plugin *d = amb_plugin_entry();
    assert_int_equal(d->abi_major, AMB_ABI_MAJOR);
    assert_string_equal(d->name, "agenticsession");
    int rc = d->init(&mock_host, &mock_self, &st, &err);
    if (rc != AMB_OK)
        fail_msg("init failed: %s: %s", err.field[0], err.message[0]);
    assert_true(mock.registered);
}

static void registers_the_kind_and_its_children(void **state)
{
    (void)state;
    init_plugin(test_conf, sizeof test_conf / sizeof test_conf[0]);
    assert_string_equal(mock.kind.resource.kind, "AgenticSession");
    assert_string_equal(mock.kind.resource.group, "vteam.ambient-code");
    assert_string_equal(mock.kind.resource.plural, "agenticsessions");
    assert_string_equal(mock.kind.rest_plural, "agentic-sessions");
    assert_int_equal(mock.kind.n_owns, 6);
    const char *owns[] = {"Job", "Pod", "ServiceAccount", "Role", "RoleBinding",
                          "PersistentVolumeClaim"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(mock.kind.owns[i].kind, owns[i]);
    const struct as_config *cfg = mock.kind_data;
    assert_string_equal(cfg->runner_image, "registry.example/runner:1");
    assert_string_equal(cfg->storage_class, "fast");
    assert_int_equal(cfg->ttl_seconds_after_finished, 600);
    assert_int_equal(cfg->default_timeout, 900);
    assert_string_equal(cfg->memory_limit, "2Gi");
    /* Its own REST (ABI 1.5): the create shapes, the event log, and the
     * stop/start/clone routes, all declared by the plugin. */
    assert_non_null(mock.kind.create_shape);
    assert_int_equal(mock.kind.flags, AMB_KIND_EVENT_LOG);
    assert_string_equal(mock.kind.event_poster_prefix, "ambient-session-");
    const char *routes[] = {"POST /api/projects/:project/agentic-sessions/:name/stop",
                            "POST /api/projects/:project/agentic-sessions/:name/start",
                            "POST /api/projects/:project/agentic-sessions/:name/clone"};
    assert_int_equal(json_array_size(mock.routes), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_array_get(mock.routes, i)), routes[i]);
}

static void config_defaults_without_keys(void **state)
{
    (void)state;
    init_plugin(NULL, 0);
    const struct as_config *cfg = mock.kind_data;
    assert_string_equal(cfg->workspace_size, "10Gi");
    assert_null(cfg->storage_class);
    assert_int_equal(cfg->empty_dir, 0);
    assert_int_equal(cfg->default_timeout, 3600);
    assert_int_equal(cfg->ttl_seconds_after_finished, 86400);
}

static void bad_config_fails_init(void **state)
{
    (void)state;
    static const struct mock_conf conf[] = {{"default_timeout", NULL, 0}};
    mockconf_use(conf, 1);
    mockconf_fill(&mock_host);
    struct amb_error err = {0};
    void *st = NULL;
    assert_int_equal(amb_plugin_entry()->init(&mock_host, &mock_self, &st, &err), AMB_EINVAL);
    assert_string_equal(err.field[0], "default_timeout");
    assert_false(mock.registered);
    static const struct mock_conf wrong_type[] = {{"runner_image", NULL, 3}};
    mockconf_use(wrong_type, 1);
    assert_int_equal(amb_plugin_entry()->init(&mock_host, &mock_self, &st, &err), AMB_EINVAL);
    /* the runner's token and the model key never travel over plain http
     * off the machine */
    static const struct mock_conf plain[][1] = {
        {{"api_url", "http://ambient-live.ambient.svc:8081", 0}},
        {{"model_api_url", "http://gateway.corp:8080", 0}},
        {{"model_api_url", "http://127.0.0.1.evil.example/", 0}},
    };
    const char *field[] = {"api_url", "model_api_url", "model_api_url"};
    for (size_t i = 0; i < 3; i++) {
        struct amb_error e = {0};
        mockconf_use(plain[i], 1);
        assert_int_equal(amb_plugin_entry()->init(&mock_host, &mock_self, &st, &e), AMB_EINVAL);
        assert_string_equal(e.field[0], field[i]);
        assert_false(mock.registered);
    }
    static const struct mock_conf loopback[] = {{"model_api_url", "http://127.0.0.1:9/", 0}};
    mockconf_use(loopback, 1);
    assert_int_equal(amb_plugin_entry()->init(&mock_host, &mock_self, &st, &err), AMB_OK);
}

static void validate_callback_names_fields_and_uses_project_bounds(void **state)
{
    (void)state;
    init_plugin(test_conf, sizeof test_conf / sizeof test_conf[0]);
    mock.project_settings = load("{\"spec\":{\"maxTimeout\":100,\"allowedModels\":[\"a\"]}}");
    json_t *obj = session("{\"prompt\":\"x\",\"timeout\":200,\"model\":\"b\",\"repos\":["
                          GOOD_REPO ",{\"input\":{\"url\":\"nope\"}}]}");
    struct amb_error err = {0};
    struct amb_ctx ctx = {0};
    assert_int_equal(mock.kind.validate(mock.kind_data, &ctx, obj, NULL, &err), AMB_EINVAL);
    assert_int_equal(err.n, 3);
    assert_true(mock_error_find(&err, "spec.timeout") >= 0);
    assert_true(mock_error_find(&err, "spec.model") >= 0);
    assert_true(mock_error_find(&err, "spec.repos[1].input.url") >= 0);
    /* Without ProjectSettings only the spec's own rules apply. */
    json_decref(mock.project_settings);
    mock.project_settings = NULL;
    struct amb_error err2 = {0};
    assert_int_equal(mock.kind.validate(mock.kind_data, &ctx, obj, NULL, &err2), AMB_EINVAL);
    assert_int_equal(err2.n, 1);
    /* A host that cannot read the cluster here (AMB_ESTATE) is no error. */
    mock.kube_get_rc = AMB_ESTATE;
    struct amb_error err3 = {0};
    assert_int_equal(mock.kind.validate(mock.kind_data, &ctx, obj, NULL, &err3), AMB_EINVAL);
    assert_int_equal(err3.n, 1);
    /* Other read failures are reported, not ignored. */
    mock.kube_get_rc = AMB_EUNAVAILABLE;
    struct amb_error err4 = {0};
    assert_int_equal(mock.kind.validate(mock.kind_data, &ctx, obj, NULL, &err4),
                     AMB_EUNAVAILABLE);
    json_decref(obj);
}

/* A field the CRD does not declare is named on the REST path (the API
 * server would prune it silently), at any depth; options have their own
 * check (options_are_checked_by_name). */
static void unknown_fields_are_named_on_the_rest_path(void **state)
{
    (void)state;
    init_plugin(test_conf, sizeof test_conf / sizeof test_conf[0]);
    json_t *obj = session("{\"prompt\":\"x\",\"promt\":\"y\",\"options\":{\"maxTurns\":1},"
                          "\"repos\":[{\"input\":{\"url\":\"https://github.com/o/r\","
                          "\"brnach\":\"m\"},\"output\":{\"pushTo\":\"none\",\"to\":1},"
                          "\"extra\":true}]}");
    json_object_set_new(obj, "bogusField", json_integer(1));
    struct amb_error err = {0};
    struct amb_ctx ctx = {0};
    assert_int_equal(mock.kind.validate(mock.kind_data, &ctx, obj, NULL, &err), AMB_EINVAL);
    const char *fields[] = {"bogusField", "spec.promt", "spec.repos[0].extra",
                            "spec.repos[0].input.brnach", "spec.repos[0].output.to"};
    assert_int_equal(err.n, sizeof fields / sizeof fields[0]);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int at = mock_error_find(&err, fields[i]);
        if (at < 0)
            fail_msg("no violation for %s", fields[i]);
        assert_string_equal(err.message[at], "unknown field");
    }
    /* The reconciler's rules do not look for them: what it reads was stored,
     * and the API server prunes what the CRD does not declare. */
    struct as_problems p = {0};
    assert_int_equal(as_validate_spec(obj, NULL, &p), 0);
    /* A long key is cut, not overflowed. */
    json_t *spec = json_object_get(obj, "spec");
    char key[400];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    json_object_set_new(spec, key, json_true());
    struct amb_error err2 = {0};
    assert_int_equal(mock.kind.validate(mock.kind_data, &ctx, obj, NULL, &err2), AMB_EINVAL);
    assert_int_equal(err2.n, 6);
    json_decref(obj);
}

static void defaults_from_project_settings_then_config(void **state)
{
    (void)state;
    init_plugin(test_conf, sizeof test_conf / sizeof test_conf[0]);
    struct amb_ctx ctx = {0};
    struct amb_error err = {0};
    /* ProjectSettings first. */
    mock.project_settings = load("{\"spec\":{\"defaultModel\":\"ps-model\",\"defaultTimeout\":120}}");
    json_t *obj = session("{\"prompt\":\"x\"}");
    assert_int_equal(mock.kind.set_defaults(mock.kind_data, &ctx, obj, &err), AMB_OK);
    json_t *spec = json_object_get(obj, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "model")), "ps-model");
    assert_int_equal(json_integer_value(json_object_get(spec, "timeout")), 120);
    json_decref(obj);
    /* Then the config, per field. */
    json_decref(mock.project_settings);
    mock.project_settings = load("{\"spec\":{\"defaultTimeout\":120}}");
    obj = session("{\"prompt\":\"x\"}");
    assert_int_equal(mock.kind.set_defaults(mock.kind_data, &ctx, obj, &err), AMB_OK);
    spec = json_object_get(obj, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "model")), "conf-model");
    assert_int_equal(json_integer_value(json_object_get(spec, "timeout")), 120);
    json_decref(obj);
    json_decref(mock.project_settings);
    mock.project_settings = NULL;
    obj = session("{\"prompt\":\"x\"}");
    assert_int_equal(mock.kind.set_defaults(mock.kind_data, &ctx, obj, &err), AMB_OK);
    spec = json_object_get(obj, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "model")), "conf-model");
    assert_int_equal(json_integer_value(json_object_get(spec, "timeout")), 900);
    json_decref(obj);
    /* What the user set stays; a branch is never invented. */
    obj = session("{\"prompt\":\"x\",\"model\":\"mine\",\"timeout\":30,\"repos\":[" GOOD_REPO "]}");
    assert_int_equal(mock.kind.set_defaults(mock.kind_data, &ctx, obj, &err), AMB_OK);
    spec = json_object_get(obj, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "model")), "mine");
    assert_int_equal(json_integer_value(json_object_get(spec, "timeout")), 30);
    assert_null(json_object_get(json_object_get(json_array_get(json_object_get(spec, "repos"), 0),
                                                "input"),
                                "branch"));
    json_decref(obj);
    assert_string_equal(as_runner_secret(NULL), "ambient-runner-secrets");
}

/* ---- children ---- */

static struct as_config conf_for_children(void)
{
    struct as_config c;
    as_config_defaults(&c);
    c.runner_image = "registry.example/runner:1";
    c.api_url = "https://api.test:8080";
    c.workspace_size = "5Gi";
    c.storage_class = "fast";
    c.ttl_seconds_after_finished = 600;
    return c;
}

static const json_t *path(const json_t *v, const char *p)
{
    char key[64];
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        if (key[0] >= '0' && key[0] <= '9')
            v = json_array_get(v, (size_t)atoi(key));
        else
            v = json_object_get(v, key);
        p += n + (dot ? 1 : 0);
    }
    return v;
}

#define STR(v, p) json_string_value(path(v, p))
#define INT(v, p) json_integer_value(path(v, p))

static const json_t *env_named(const json_t *env, const char *name)
{
    size_t i;
    const json_t *e;
    json_array_foreach(env, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return e;
    }
    return NULL;
}

static void job_spec_field_by_field(void **state)
{
    (void)state;
    struct as_config cfg = conf_for_children();
    json_t *s = session("{\"prompt\":\"do it\",\"timeout\":1800,\"model\":\"m1\",\"repos\":["
                        GOOD_REPO ",{\"input\":{\"url\":\"https://h/o/r\",\"token\":\"MY_KEY\"}}]}");
    json_t *job = as_build_job(s, &cfg, "proj-secrets", 3);
    assert_non_null(job);
    assert_string_equal(STR(job, "apiVersion"), "batch/v1");
    assert_string_equal(STR(job, "kind"), "Job");
    assert_string_equal(STR(job, "metadata.name"), "s1-runner");
    assert_string_equal(STR(job, "metadata.namespace"), "proj");
    assert_string_equal(
        json_string_value(json_object_get(path(job, "metadata.labels"), AS_LABEL_SESSION)), "s1");
    assert_int_equal(INT(job, "spec.backoffLimit"), 0);
    assert_true(json_is_integer(path(job, "spec.backoffLimit")));
    assert_int_equal(INT(job, "spec.activeDeadlineSeconds"), 1800);
    assert_int_equal(INT(job, "spec.ttlSecondsAfterFinished"), 600);
    const json_t *tpl = path(job, "spec.template");
    const json_t *labels = path(tpl, "metadata.labels");
    assert_string_equal(json_string_value(json_object_get(labels, AMB_MANAGED_BY_LABEL)), "ambient");
    assert_string_equal(json_string_value(json_object_get(labels, AS_LABEL_SESSION)), "s1");
    assert_string_equal(json_string_value(json_object_get(labels, AS_LABEL_RUN)), "3");
    const json_t *pod = path(tpl, "spec");
    assert_string_equal(STR(pod, "restartPolicy"), "Never");
    assert_string_equal(STR(pod, "serviceAccountName"), "ambient-session-s1");
    assert_true(json_is_false(path(pod, "automountServiceAccountToken")));
    assert_true(json_is_true(path(pod, "securityContext.runAsNonRoot")));
    assert_string_equal(STR(pod, "securityContext.seccompProfile.type"), "RuntimeDefault");
    assert_int_equal(json_array_size(path(pod, "containers")), 1);
    const json_t *c = path(pod, "containers.0");
    assert_string_equal(STR(c, "image"), "registry.example/runner:1");
    const json_t *sc = path(c, "securityContext");
    assert_true(json_is_true(path(sc, "runAsNonRoot")));
    assert_true(INT(sc, "runAsUser") > 0);
    assert_true(json_is_true(path(sc, "readOnlyRootFilesystem")));
    assert_true(json_is_false(path(sc, "allowPrivilegeEscalation")));
    assert_int_equal(json_array_size(path(sc, "capabilities.drop")), 1);
    assert_string_equal(STR(sc, "capabilities.drop.0"), "ALL");
    assert_null(path(sc, "capabilities.add"));
    assert_null(path(sc, "privileged"));
    assert_string_equal(STR(sc, "seccompProfile.type"), "RuntimeDefault");
    assert_string_equal(STR(c, "resources.requests.cpu"), "500m");
    assert_string_equal(STR(c, "resources.requests.memory"), "512Mi");
    assert_string_equal(STR(c, "resources.limits.cpu"), "2");
    assert_string_equal(STR(c, "resources.limits.memory"), "4Gi");

    /* env: the session, namespace, API URL; secrets only as references. */
    const json_t *env = path(c, "env");
    assert_string_equal(STR(env_named(env, "AGENTIC_SESSION_NAME"), "value"), "s1");
    assert_string_equal(STR(env_named(env, "AGENTIC_SESSION_NAMESPACE"), "value"), "proj");
    assert_string_equal(STR(env_named(env, "AMBIENT_API_URL"), "value"), "https://api.test:8080");
    /* unset in the config: the runner's own defaults apply */
    assert_null(env_named(env, "ANTHROPIC_BASE_URL"));
    assert_null(env_named(env, "AMBIENT_GIT_AUTHOR_NAME"));
    assert_null(env_named(env, "AMBIENT_API_CA_FILE"));
    assert_string_equal(STR(env_named(env, "AMBIENT_MODEL"), "value"), "m1");
    const json_t *key = env_named(env, "ANTHROPIC_API_KEY");
    assert_null(json_object_get(key, "value"));
    assert_string_equal(STR(key, "valueFrom.secretKeyRef.name"), "proj-secrets");
    assert_string_equal(STR(key, "valueFrom.secretKeyRef.key"), "ANTHROPIC_API_KEY");
    assert_true(json_is_false(path(key, "valueFrom.secretKeyRef.optional")));
    const json_t *gh = env_named(env, "GITHUB_TOKEN");
    assert_string_equal(STR(gh, "valueFrom.secretKeyRef.name"), "proj-secrets");
    assert_true(json_is_true(path(gh, "valueFrom.secretKeyRef.optional")));
    assert_null(env_named(env, "AMBIENT_REPO_0_TOKEN"));
    const json_t *repo1 = env_named(env, "AMBIENT_REPO_1_TOKEN");
    assert_string_equal(STR(repo1, "valueFrom.secretKeyRef.key"), "MY_KEY");
    /* Every secret-bearing variable is a reference, never a value. */
    size_t i;
    const json_t *e;
    int refs = 0;
    json_array_foreach(env, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        int secret = strcmp(n, "ANTHROPIC_API_KEY") == 0 || strcmp(n, "GITHUB_TOKEN") == 0 ||
                     strcmp(n, "GITLAB_TOKEN") == 0 || strcmp(n, "GIT_TOKEN") == 0 ||
                     strncmp(n, "AMBIENT_REPO_", 13) == 0;
        if (secret) {
            assert_null(json_object_get(e, "value"));
            assert_non_null(path(e, "valueFrom.secretKeyRef.name"));
            refs++;
        }
    }
    assert_int_equal(refs, 5);
    const json_t *git = env_named(env, "GIT_TOKEN");
    assert_true(json_is_true(path(git, "valueFrom.secretKeyRef.optional")));

    /* Writable mounts only where needed; the token is projected and read-only. */
    const json_t *mounts = path(c, "volumeMounts");
    assert_int_equal(json_array_size(mounts), 4);
    assert_string_equal(STR(mounts, "0.mountPath"), "/workspace");
    assert_string_equal(STR(mounts, "1.mountPath"), "/tmp");
    assert_string_equal(STR(mounts, "3.name"), "ambient-token");
    assert_true(json_is_true(path(mounts, "3.readOnly")));
    const json_t *vols = path(pod, "volumes");
    assert_string_equal(STR(vols, "0.persistentVolumeClaim.claimName"), "s1-workspace");
    assert_int_equal(INT(vols, "3.projected.sources.0.serviceAccountToken.expirationSeconds"),
                     3600);
    assert_string_equal(STR(vols, "3.projected.sources.0.serviceAccountToken.path"), "token");
    /* the cluster's CA beside the token, for the runner to verify the API */
    assert_string_equal(STR(vols, "3.projected.sources.1.configMap.name"), "kube-root-ca.crt");
    assert_string_equal(STR(vols, "3.projected.sources.1.configMap.items.0.path"), "ca.crt");
    assert_null(path(vols, "3.projected.sources.2"));

    /* Nothing secret-looking is copied anywhere into the Job. */
    char *text = json_dumps(job, JSON_COMPACT);
    assert_null(strstr(text, "\"stringData\""));
    free(text);
    json_decref(job);

    /* emptyDir option, no TTL, an audience. */
    cfg.empty_dir = 1;
    cfg.ttl_seconds_after_finished = -1;
    cfg.token_audience = "ambient";
    job = as_build_job(s, &cfg, "proj-secrets", 1);
    vols = path(job, "spec.template.spec.volumes");
    assert_null(path(vols, "0.persistentVolumeClaim"));
    assert_string_equal(STR(vols, "0.emptyDir.sizeLimit"), "5Gi");
    assert_null(path(job, "spec.ttlSecondsAfterFinished"));
    assert_string_equal(STR(vols, "3.projected.sources.0.serviceAccountToken.audience"),
                        "ambient");
    json_decref(job);

    /* The model gateway, the committer and the live service's CA. */
    cfg.model_api_url = "https://llm.example";
    cfg.git_author_name = "Bot";
    cfg.git_author_email = "bot@example.com";
    cfg.api_ca_configmap = "live-ca";
    cfg.api_ca_key = "service-ca.crt";
    job = as_build_job(s, &cfg, "proj-secrets", 1);
    env = path(job, "spec.template.spec.containers.0.env");
    assert_string_equal(STR(env_named(env, "ANTHROPIC_BASE_URL"), "value"), "https://llm.example");
    assert_string_equal(STR(env_named(env, "AMBIENT_GIT_AUTHOR_NAME"), "value"), "Bot");
    assert_string_equal(STR(env_named(env, "AMBIENT_GIT_AUTHOR_EMAIL"), "value"),
                        "bot@example.com");
    assert_string_equal(STR(env_named(env, "AMBIENT_API_CA_FILE"), "value"),
                        "/var/run/secrets/ambient/api-ca.crt");
    vols = path(job, "spec.template.spec.volumes");
    assert_string_equal(STR(vols, "3.projected.sources.2.configMap.name"), "live-ca");
    assert_string_equal(STR(vols, "3.projected.sources.2.configMap.items.0.key"),
                        "service-ca.crt");
    assert_string_equal(STR(vols, "3.projected.sources.2.configMap.items.0.path"), "api-ca.crt");
    json_decref(job);
    json_decref(s);
}

static void role_reaches_only_this_session(void **state)
{
    (void)state;
    json_t *s = session("{\"prompt\":\"x\"}");
    json_t *role = as_build_role(s);
    assert_string_equal(STR(role, "kind"), "Role");
    assert_string_equal(STR(role, "metadata.name"), "ambient-session-s1");
    assert_string_equal(STR(role, "metadata.namespace"), "proj");
    const json_t *rules = path(role, "rules");
    assert_int_equal(json_array_size(rules), 2);
    size_t i;
    const json_t *r;
    json_array_foreach(rules, i, r)
    {
        assert_int_equal(json_array_size(json_object_get(r, "resourceNames")), 1);
        assert_string_equal(STR(r, "resourceNames.0"), "s1");
        assert_int_equal(json_array_size(json_object_get(r, "apiGroups")), 1);
        assert_string_equal(STR(r, "apiGroups.0"), "vteam.ambient-code");
        assert_int_equal(json_array_size(json_object_get(r, "resources")), 1);
        const json_t *v;
        size_t j;
        json_array_foreach(json_object_get(r, "verbs"), j, v)
        {
            const char *verb = json_string_value(v);
            assert_true(strcmp(verb, "get") == 0 || strcmp(verb, "update") == 0 ||
                        strcmp(verb, "patch") == 0);
        }
    }
    assert_string_equal(STR(rules, "0.resources.0"), "agenticsessions");
    assert_int_equal(json_array_size(path(rules, "0.verbs")), 1);
    assert_string_equal(STR(rules, "0.verbs.0"), "get");
    assert_string_equal(STR(rules, "1.resources.0"), "agenticsessions/status");
    char *text = json_dumps(role, 0);
    assert_null(strstr(text, "\"*\""));
    free(text);
    json_decref(role);

    json_t *rb = as_build_role_binding(s);
    assert_string_equal(STR(rb, "roleRef.kind"), "Role");
    assert_string_equal(STR(rb, "roleRef.name"), "ambient-session-s1");
    assert_int_equal(json_array_size(path(rb, "subjects")), 1);
    assert_string_equal(STR(rb, "subjects.0.kind"), "ServiceAccount");
    assert_string_equal(STR(rb, "subjects.0.name"), "ambient-session-s1");
    assert_string_equal(STR(rb, "subjects.0.namespace"), "proj");
    json_decref(rb);

    json_t *sa = as_build_service_account(s);
    assert_string_equal(STR(sa, "metadata.name"), "ambient-session-s1");
    assert_true(json_is_false(path(sa, "automountServiceAccountToken")));
    json_decref(sa);
    json_decref(s);
}

static void pvc_from_config(void **state)
{
    (void)state;
    struct as_config cfg = conf_for_children();
    json_t *s = session("{\"prompt\":\"x\"}");
    json_t *pvc = as_build_pvc(s, &cfg);
    assert_string_equal(STR(pvc, "metadata.name"), "s1-workspace");
    assert_string_equal(STR(pvc, "spec.resources.requests.storage"), "5Gi");
    assert_string_equal(STR(pvc, "spec.storageClassName"), "fast");
    assert_string_equal(STR(pvc, "spec.accessModes.0"), "ReadWriteOnce");
    json_decref(pvc);
    cfg.storage_class = NULL;
    pvc = as_build_pvc(s, &cfg);
    assert_null(path(pvc, "spec.storageClassName"));
    json_decref(pvc);
    json_decref(s);
}

/* ---- phase mapping ---- */

static struct as_observed observe(const char *job, const char *pods)
{
    json_t *j = job ? load(job) : NULL;
    json_t *p = pods ? load(pods) : NULL;
    struct as_observed o;
    as_observe(j, p, &o);
    json_decref(j);
    json_decref(p);
    return o;
}

#define JOB_ACTIVE "{\"spec\":{\"activeDeadlineSeconds\":60},\"status\":{\"active\":1}}"
#define COND(t, r, m) "{\"type\":\"" t "\",\"status\":\"True\",\"reason\":\"" r \
                      "\",\"message\":\"" m "\"}"
#define JOB_WITH(conds) "{\"spec\":{\"activeDeadlineSeconds\":60},\"status\":{\"conditions\":[" \
                        conds "]}}"
#define POD(phase, state) "[{\"metadata\":{\"name\":\"p\",\"creationTimestamp\":" \
                          "\"2026-01-01T00:00:00Z\"},\"status\":{\"phase\":\"" phase "\"," \
                          "\"containerStatuses\":[{\"name\":\"runner\",\"state\":" state "}]}}]"

static void phase_pending_and_running(void **state)
{
    (void)state;
    struct as_observed o = observe(NULL, NULL);
    assert_int_equal(o.phase, AS_PENDING);
    o = observe(JOB_ACTIVE, "[]");
    assert_int_equal(o.phase, AS_PENDING);
    o = observe(JOB_ACTIVE, POD("Pending", "{\"waiting\":{\"reason\":\"ContainerCreating\"}}"));
    assert_int_equal(o.phase, AS_PENDING);
    o = observe(JOB_ACTIVE, POD("Running", "{\"running\":{\"startedAt\":\"x\"}}"));
    assert_int_equal(o.phase, AS_RUNNING);
    assert_string_equal(o.reason, "Running");
    /* Success criteria met but not yet Complete: still running. */
    o = observe(JOB_WITH(COND("SuccessCriteriaMet", "CompletionsReached", "m")),
                POD("Succeeded", "{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}"));
    assert_int_equal(o.phase, AS_RUNNING);
}

static void phase_image_pull_backoff(void **state)
{
    (void)state;
    struct as_observed o = observe(
        JOB_ACTIVE, POD("Pending", "{\"waiting\":{\"reason\":\"ImagePullBackOff\",\"message\":"
                                   "\"Back-off pulling image \\\"x\\\"\"}}"));
    assert_int_equal(o.phase, AS_FAILED);
    assert_string_equal(o.reason, "ImagePullBackOff");
    assert_non_null(strstr(o.message, "Back-off pulling image"));
    assert_false(o.job_finished);
    o = observe(JOB_ACTIVE, POD("Pending", "{\"waiting\":{\"reason\":\"ErrImagePull\"}}"));
    assert_string_equal(o.reason, "ErrImagePull");
    o = observe(JOB_ACTIVE,
                POD("Pending", "{\"waiting\":{\"reason\":\"CreateContainerConfigError\","
                               "\"message\":\"secret \\\"s\\\" not found\"}}"));
    assert_int_equal(o.phase, AS_FAILED);
    assert_string_equal(o.reason, "CreateContainerConfigError");
}

static void phase_oom_killed(void **state)
{
    (void)state;
    const char *pod = POD("Failed", "{\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\"}}");
    struct as_observed o = observe(JOB_WITH(COND("FailureTarget", "BackoffLimitExceeded", "m") ","
                                            COND("Failed", "BackoffLimitExceeded", "m")),
                                   pod);
    assert_int_equal(o.phase, AS_FAILED);
    assert_string_equal(o.reason, "OOMKilled");
    assert_non_null(strstr(o.message, "137"));
    assert_true(o.job_finished);
    /* Seen before the Job's terminal condition too. */
    o = observe(JOB_ACTIVE, pod);
    assert_string_equal(o.reason, "OOMKilled");
}

static void phase_nonzero_exit(void **state)
{
    (void)state;
    struct as_observed o = observe(
        JOB_WITH(COND("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")),
        POD("Failed", "{\"terminated\":{\"exitCode\":3,\"reason\":\"Error\"}}"));
    assert_int_equal(o.phase, AS_FAILED);
    assert_string_equal(o.reason, "RunnerExit");
    assert_non_null(strstr(o.message, "code 3"));
    /* A failed Job with no pod to explain it. */
    o = observe(JOB_WITH(COND("Failed", "PodFailurePolicy", "rule 0")), "[]");
    assert_string_equal(o.reason, "JobFailed");
    assert_non_null(strstr(o.message, "PodFailurePolicy"));
    assert_non_null(strstr(o.message, "rule 0"));
}

static void phase_deadline_is_timeout(void **state)
{
    (void)state;
    struct as_observed o = observe(
        JOB_WITH(COND("FailureTarget", "DeadlineExceeded", "m") ","
                 COND("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")),
        "[]");
    assert_int_equal(o.phase, AS_FAILED);
    assert_string_equal(o.reason, "Timeout");
    assert_non_null(strstr(o.message, "60 seconds"));
    assert_true(o.job_finished);
}

static void phase_complete(void **state)
{
    (void)state;
    struct as_observed o = observe(
        JOB_WITH(COND("SuccessCriteriaMet", "CompletionsReached", "m") ","
                 COND("Complete", "CompletionsReached", "m")),
        POD("Succeeded", "{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}"));
    assert_int_equal(o.phase, AS_COMPLETED);
    assert_string_equal(o.reason, "Completed");
    assert_true(o.job_finished);
    assert_string_equal(as_phase_name(AS_STOPPED), "Stopped");
    assert_int_equal(as_phase_parse("Running"), AS_RUNNING);
    assert_int_equal(as_phase_parse("Creating"), -1);
    assert_int_equal(as_phase_parse(NULL), -1);
}


/* ---- reconcile against the mock cluster ---- */

static int reconcile_once(void)
{
    struct amb_ctx ctx = {0};
    struct amb_error err = {0};
    json_t *obj = json_deep_copy(mock.session);
    int rc = as_reconcile(mock.kind_data, &ctx, obj, &err);
    json_decref(obj);
    return rc;
}

static const char *status_str(const char *key)
{
    return json_string_value(json_object_get(json_object_get(mock.session, "status"), key));
}

static const json_t *condition(const char *type)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(json_object_get(mock.session, "status"), "conditions"), i,
                       c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
            return c;
    }
    return NULL;
}

/* The Job's pod, labelled as its template says (the selector the
 * reconciler lists pods with). */
static void put_pod(const char *state)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"name\":\"s1-runner-abcde\",\"namespace\":\"proj\","
             "\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},\"status\":{\"phase\":"
             "\"Running\",\"containerStatuses\":[{\"name\":\"runner\",\"state\":%s}]}}",
             state);
    json_t *pod = load(buf);
    const json_t *labels = path(mock_object("jobs", "s1-runner"), "spec.template.metadata.labels");
    json_object_set_new(json_object_get(pod, "metadata"), "labels", json_deep_copy(labels));
    mock_store("pods", pod);
}

static void reconcile_creates_children_once_and_merges_status(void **state)
{
    (void)state;
    init_plugin(test_conf, sizeof test_conf / sizeof test_conf[0]);
    mock_cluster(session("{\"prompt\":\"x\"}"));
    /* First pass: five children, Pending. */
    int rc = reconcile_once();
    assert_true(rc > 0); /* re-checked later while not finished */
    assert_int_equal(mock.creates, 5);
    assert_non_null(mock_object("serviceaccounts", "ambient-session-s1"));
    assert_non_null(mock_object("roles", "ambient-session-s1"));
    assert_non_null(mock_object("rolebindings", "ambient-session-s1"));
    assert_non_null(mock_object("persistentvolumeclaims", "s1-workspace"));
    json_t *job = mock_object("jobs", "s1-runner");
    assert_non_null(job);
    assert_int_equal(INT(job, "spec.activeDeadlineSeconds"), 900); /* the config default */
    assert_string_equal(STR(job, "metadata.ownerReferences.0.uid"), "u-1");
    assert_true(json_is_true(path(job, "metadata.ownerReferences.0.controller")));
    assert_string_equal(status_str("phase"), "Pending");
    assert_int_equal(mock.status_writes, 1);
    /* The stored spec is not rewritten by the reconciler. */
    assert_null(json_object_get(json_object_get(mock.session, "spec"), "timeout"));

    /* Second pass: nothing created, nothing written. */
    reconcile_once();
    assert_int_equal(mock.creates, 5);
    assert_int_equal(mock.status_writes, 1);

    /* The runner writes its fields; Running keeps them. */
    json_object_set_new(json_object_get(mock.session, "status"), "results",
                        load("{\"summary\":\"done\"}"));
    json_object_set_new(json_object_get(mock.session, "status"), "message",
                        json_string("cloning"));
    put_pod("{\"running\":{}}");
    reconcile_once();
    assert_string_equal(status_str("phase"), "Running");
    assert_non_null(status_str("startTime"));
    assert_string_equal(status_str("message"), "cloning");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(mock.session, "status"), "results"),
                            "summary")),
                        "done");
    assert_string_equal(json_string_value(json_object_get(condition("Ready"), "status")), "True");
    int writes = mock.status_writes;
    reconcile_once();
    assert_int_equal(mock.status_writes, writes);

    /* A child deleted by hand is created again. */
    json_object_del(mock.store, "roles/proj/ambient-session-s1");
    reconcile_once();
    assert_non_null(mock_object("roles", "ambient-session-s1"));
    assert_int_equal(mock.creates, 6);
    assert_int_equal(mock.status_writes, writes);

    /* The Job completes. */
    json_object_set_new(mock_object("jobs", "s1-runner"), "status",
                        load("{\"conditions\":[{\"type\":\"Complete\",\"status\":\"True\"}]}"));
    assert_int_equal(reconcile_once(), 0);
    assert_string_equal(status_str("phase"), "Completed");
    assert_non_null(status_str("completionTime"));
    assert_string_equal(status_str("message"), "cloning");
    assert_string_equal(json_string_value(json_object_get(condition("Succeeded"), "status")),
                        "True");
    size_t n_events = json_array_size(mock.events);
    assert_true(n_events >= 3); /* Pending (Starting), Running, Completed */
    /* Finished: nothing more happens. */
    writes = mock.status_writes;
    assert_int_equal(reconcile_once(), 0);
    assert_int_equal(mock.status_writes, writes);
    assert_int_equal(json_array_size(mock.events), n_events);
}

/* The runner writes its session's phase itself: the reconciler, deciding
 * on a cache that has not seen that write yet, neither steps Running back
 * to Pending nor replaces the runner's outcome with its own. */
static void reconcile_respects_what_the_runner_wrote(void **state)
{
    (void)state;
    init_plugin(test_conf, sizeof test_conf / sizeof test_conf[0]);
    mock_cluster(session("{\"prompt\":\"x\"}"));
    reconcile_once(); /* children, Pending */
    json_object_set_new(json_object_get(mock.session, "status"), "phase", json_string("Running"));
    int writes = mock.status_writes;
    assert_true(reconcile_once() > 0); /* the pod is not seen running yet */
    assert_string_equal(status_str("phase"), "Running");
    assert_int_equal(mock.status_writes, writes);

    json_t *stale = json_deep_copy(mock.session); /* what the cache still holds */
    json_t *st = json_object_get(mock.session, "status");
    json_object_set_new(st, "phase", json_string("Failed"));
    json_object_set_new(st, "error", json_string("cannot start the agent CLI"));
    json_object_set_new(mock_object("jobs", "s1-runner"), "status",
                        load("{\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\","
                             "\"reason\":\"BackoffLimitExceeded\"}]}"));
    put_pod("{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\"}}");
    struct amb_ctx ctx = {0};
    struct amb_error err = {0};
    size_t n_events = json_array_size(mock.events);
    assert_int_equal(as_reconcile(mock.kind_data, &ctx, stale, &err), 0);
    json_decref(stale);
    assert_string_equal(status_str("phase"), "Failed");
    assert_string_equal(status_str("error"), "cannot start the agent CLI");
    assert_int_equal(json_array_size(mock.events), n_events); /* no second "Failed" event */
}

/* spec.options: the CLI knobs a session may set, each checked; anything
 * else is refused by name rather than silently ignored by the runner. */
static void options_are_checked_by_name(void **state)
{
    (void)state;
    struct as_option_problem op;
    json_t *good = json_pack("{s:s, s:[s], s:[s], s:i, s:s}", "permissionMode", "plan",
                             "allowedTools", "Bash(git diff:*)", "disallowedTools", "WebFetch",
                             "maxTurns", 10, "appendSystemPrompt", "be brief");
    assert_int_equal(as_options_check(good, &op), 0);
    assert_int_equal(as_options_check(NULL, &op), 0);
    json_decref(good);
    const char *bad[][2] = {
        {"{\"systemPrompt\":\"x\"}", "spec.options.systemPrompt"},
        {"{\"permissionMode\":\"yolo\"}", "spec.options.permissionMode"},
        {"{\"maxTurns\":0}", "spec.options.maxTurns"},
        {"{\"maxTurns\":\"3\"}", "spec.options.maxTurns"},
        {"{\"allowedTools\":\"Bash\"}", "spec.options.allowedTools"},
        {"{\"allowedTools\":[\"--dangerously\"]}", "spec.options.allowedTools"},
        {"{\"disallowedTools\":[\"a\\nb\"]}", "spec.options.disallowedTools"},
        {"[]", "spec.options"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *o = load(bad[i][0]);
        if (as_options_check(o, &op) == 0)
            fail_msg("accepted %s", bad[i][0]);
        assert_string_equal(op.field, bad[i][1]);
        json_decref(o);
    }
    /* and the validate callback reports it with the field */
    struct as_problems p = {0};
    json_t *obj = session("{\"prompt\":\"x\",\"options\":{\"bogus\":1}}");
    assert_int_equal(as_validate_spec(obj, NULL, &p), 1);
    assert_string_equal(p.field[0], "spec.options.bogus");
    assert_non_null(strstr(p.message[0], "unknown option"));
    json_decref(obj);
}

static void reconcile_invalid_spec_creates_nothing(void **state)
{
    (void)state;
    init_plugin(test_conf, sizeof test_conf / sizeof test_conf[0]);
    mock_cluster(session("{\"repos\":[{\"input\":{\"url\":\"nope\"}}]}"));
    assert_int_equal(reconcile_once(), 0);
    assert_int_equal(mock.creates, 0);
    assert_string_equal(status_str("phase"), "Failed");
    assert_non_null(strstr(status_str("error"), "spec.repos[0].input.url: "));
    assert_non_null(strstr(status_str("error"), "spec.prompt: "));
    assert_string_equal(json_string_value(json_object_get(condition("Succeeded"), "reason")),
                        "Invalid");
    assert_string_equal(json_string_value(json_object_get(json_array_get(mock.events, 0), "reason")),
                        "Invalid");
}

static void reconcile_stop_and_restart(void **state)
{
    (void)state;
    init_plugin(test_conf, sizeof test_conf / sizeof test_conf[0]);
    mock_cluster(session("{\"prompt\":\"x\"}"));
    reconcile_once();
    assert_non_null(mock_object("jobs", "s1-runner"));
    json_object_set_new(json_object_get(mock.session, "metadata"), "annotations",
                        load("{\"ambient-code.io/desired-phase\":\"Stopped\"}"));
    assert_int_equal(reconcile_once(), 0);
    assert_null(mock_object("jobs", "s1-runner"));
    assert_string_equal(status_str("phase"), "Stopped");
    assert_non_null(status_str("completionTime"));
    reconcile_once();
    assert_null(mock_object("jobs", "s1-runner")); /* stays stopped */

    json_object_set_new(json_object_get(mock.session, "metadata"), "annotations",
                        load("{\"ambient-code.io/desired-phase\":\"Running\"}"));
    reconcile_once();
    assert_string_equal(status_str("phase"), "Pending");
    assert_null(status_str("completionTime"));
    const json_t *ann = path(mock.session, "metadata.annotations");
    assert_null(json_object_get(ann, AS_ANN_DESIRED_PHASE));
    assert_string_equal(json_string_value(json_object_get(ann, AS_ANN_RUN)), "2");
    reconcile_once();
    json_t *job = mock_object("jobs", "s1-runner");
    assert_non_null(job);
    assert_string_equal(json_string_value(json_object_get(path(job, "metadata.labels"),
                                                          AS_LABEL_RUN)),
                        "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(valid_spec_has_no_problems, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_url_names_its_index, setup, teardown),
        cmocka_unit_test_setup_teardown(git_url_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(main_repo_index_in_range, setup, teardown),
        cmocka_unit_test_setup_teardown(prompt_required_unless_interactive, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_within_project_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(model_in_allow_list, setup, teardown),
        cmocka_unit_test_setup_teardown(push_to_is_an_enum, setup, teardown),
        cmocka_unit_test_setup_teardown(every_violation_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(long_name_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(registers_the_kind_and_its_children, setup, teardown),
        cmocka_unit_test_setup_teardown(config_defaults_without_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_config_fails_init, setup, teardown),
        cmocka_unit_test_setup_teardown(validate_callback_names_fields_and_uses_project_bounds,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_fields_are_named_on_the_rest_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(defaults_from_project_settings_then_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(job_spec_field_by_field, setup, teardown),
        cmocka_unit_test_setup_teardown(role_reaches_only_this_session, setup, teardown),
        cmocka_unit_test_setup_teardown(pvc_from_config, setup, teardown),
        cmocka_unit_test_setup_teardown(phase_pending_and_running, setup, teardown),
        cmocka_unit_test_setup_teardown(phase_image_pull_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(phase_oom_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(phase_nonzero_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(phase_deadline_is_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(phase_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(reconcile_creates_children_once_and_merges_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(options_are_checked_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(reconcile_respects_what_the_runner_wrote, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reconcile_invalid_spec_creates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(reconcile_stop_and_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
