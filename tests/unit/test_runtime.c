/* test_runtime.c — loading real plugin .so files: the good path (config
 * values, registrations copied, late registration refused, stop/fini in
 * reverse order, user data freed exactly once) and one test per way a
 * plugin or its config can be wrong, each with the message a user sees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-internal.h"
#include "error-internal.h"
#include "log-internal.h"
#include "runtime-internal.h"
#include "testutil.h"

struct world {
    char *path;
    struct ambd_config *config;
    struct ambd_runtime *rt;
    struct amb_error err;
    int rc;
};

/* Loads a config whose text follows a plugin_dir line for the fixtures. */
static void load(struct world *w, const char *body)
{
    char text[4096];
    snprintf(text, sizeof text, "plugin_dir = \"%s\";\n%s", AMB_TEST_PLUGIN_DIR, body);
    w->path = testutil_write_temp(text);
    w->err = (struct amb_error)AMBD_ERROR_INIT;
    w->rc = ambd_config_load(w->path, &w->config, &w->err);
    assert_int_equal(w->rc, AMB_OK);
    w->rt = ambd_runtime_new(w->config, NULL);
    assert_non_null(w->rt);
    w->rc = ambd_runtime_load(w->rt, &w->err);
}

static void finish(struct world *w)
{
    ambd_runtime_free(w->rt);
    ambd_config_free(w->config);
    ambd_error_clear(&w->err);
    unlink(w->path);
    free(w->path);
}

/* The load failed and its one-line message contains each of wants. */
static void assert_load_error(struct world *w, const char *const *wants)
{
    assert_int_not_equal(w->rc, AMB_OK);
    char *msg = ambd_error_line(&w->err);
    for (; *wants; wants++) {
        if (!strstr(msg, *wants))
            fail_msg("error \"%s\" lacks \"%s\"", msg, *wants);
    }
    assert_int_equal(w->rt->n_modules, 0); /* everything was unloaded */
    assert_int_equal(w->rt->registry.n_kinds + w->rt->registry.n_routes + w->rt->registry.n_forges, 0);
    free(msg);
}

#define EXPECT_LOAD_ERROR(body, ...)                                \
    do {                                                            \
        struct world w;                                             \
        load(&w, body);                                             \
        const char *wants[] = {__VA_ARGS__, NULL};                  \
        assert_load_error(&w, wants);                               \
        finish(&w);                                                 \
    } while (0)

static void good_plugins_load_register_and_unload_in_reverse(void **state)
{
    (void)state;
    struct world w;
    testutil_log_capture();
    load(&w, "plugins = (\"sample\", \"sample2\", \"v1_0\");\n"
             "sample = { greeting = \"hi\"; count = 3; enabled = true; ratio = 0.5;\n"
             "           tls = { cert_file = \"/c.pem\"; }; hosts = (\"a\", \"b\"); };\n"
             "sample2 = { count = 7; };\n");
    if (w.rc != AMB_OK)
        fail_msg("load failed: %s", ambd_error_line(&w.err));
    assert_int_equal(w.rt->n_modules, 3);
    assert_int_equal(w.rt->registry.n_kinds, 3);
    assert_int_equal(w.rt->registry.n_forges, 2);
    assert_int_equal(w.rt->registry.n_routes, 2);

    /* Registered from a buffer the plugin overwrote: the host kept a copy. */
    const struct ambd_kind_entry *widget =
        ambd_registry_find_kind(&w.rt->registry, "test.ambient-code", "Widget");
    assert_non_null(widget);
    assert_int_equal(widget->kind.n_owns, 2);
    assert_string_equal(widget->kind.owns[1].kind, "Pod");
    assert_non_null(ambd_registry_find_kind(&w.rt->registry, "test.ambient-code", "Gadget"));
    assert_non_null(ambd_registry_find_kind(&w.rt->registry, "old.ambient-code", "Relic"));

    /* A registration after init is refused (and its user data freed). */
    struct amb_error late = AMBD_ERROR_INIT;
    int rc = widget->kind.validate(widget->data.user_data, NULL, NULL, NULL, &late);
    assert_int_equal(rc, AMB_ESTATE);
    assert_int_equal(w.rt->registry.n_routes, 2);
    ambd_error_clear(&late);

    assert_int_equal(ambd_runtime_start(w.rt, &w.err), AMB_OK);
    finish(&w);
    char *log = testutil_log_take();
    assert_non_null(strstr(log, "config greeting=hi count=3 enabled=1 ratio=0.50 cert=/c.pem"));
    assert_non_null(strstr(log, "config greeting=(unset) count=7 enabled=-1"));
    assert_int_equal(testutil_count(log, "\"msg\":\"config host\""), 2);
    assert_non_null(strstr(log, "\"msg\":\"built against ABI 1.0\""));
    assert_non_null(strstr(log, "registration refused: plugins register only inside init"));

    /* Each piece of user data freed exactly once: kind, forge, route of two
     * plugins, plus the refused late registration. */
    assert_int_equal(testutil_count(log, "\"msg\":\"freed user data\""), 7);
    assert_int_equal(testutil_count(log, "\"tag\":\"late\""), 1);
    assert_int_equal(testutil_count(log, "\"component\":\"sample\",\"msg\":\"freed user data\",\"tag\":\"kind\""), 1);

    /* stop and fini run in reverse load order. */
    const char *stop2 = strstr(log, "\"component\":\"sample2\",\"msg\":\"stop\"");
    const char *stop1 = strstr(log, "\"component\":\"sample\",\"msg\":\"stop\"");
    const char *fini2 = strstr(log, "\"component\":\"sample2\",\"msg\":\"fini\"");
    const char *fini1 = strstr(log, "\"component\":\"sample\",\"msg\":\"fini\"");
    assert_true(stop2 && stop1 && fini2 && fini1);
    assert_true(stop2 < stop1 && stop1 < fini2 && fini2 < fini1);
    free(log);
}

static void missing_file(void **state)
{
    (void)state;
    EXPECT_LOAD_ERROR("plugins = (\"nosuch\");\n", ":2: plugin \"nosuch\"",
                      AMB_TEST_PLUGIN_DIR "/nosuch.so: No such file or directory");
}

static void not_a_shared_object(void **state)
{
    (void)state;
    EXPECT_LOAD_ERROR("plugins = (\"not-elf\");\n", "not-elf.so is not a loadable shared object");
}

static void entry_symbol_missing(void **state)
{
    (void)state;
    EXPECT_LOAD_ERROR("plugins = (\"" AMB_TEST_PLUGIN_DIR "/no-entry.so\");\n",
                      "no-entry.so does not export amb_plugin_entry(); it is not an Ambient plugin");
}

static void entry_returns_null(void **state)
{
    (void)state;
    EXPECT_LOAD_ERROR("plugins = (\"null-desc\");\n", "amb_plugin_entry() returned no descriptor");
}

static void major_too_new_and_too_old(void **state)
{
    (void)state;
    char newer[32], ours[64];
    snprintf(newer, sizeof newer, "built for plugin ABI %d.0", AMB_ABI_MAJOR + 1);
    snprintf(ours, sizeof ours, "this ambientd provides ABI %d.%d", AMB_ABI_MAJOR, AMB_ABI_MINOR);
    EXPECT_LOAD_ERROR("plugins = (\"major-new\");\n", newer, ours, "major versions must match");
    EXPECT_LOAD_ERROR("plugins = (\"major-old\");\n", "built for plugin ABI 0.7", ours);
}

static void minor_newer_than_host(void **state)
{
    (void)state;
    char plugin[32], host[64];
    snprintf(plugin, sizeof plugin, "built for plugin ABI %d.%d", AMB_ABI_MAJOR, AMB_ABI_MINOR + 1);
    snprintf(host, sizeof host, "newer than this ambientd's ABI %d.%d (upgrade ambientd)",
             AMB_ABI_MAJOR, AMB_ABI_MINOR);
    EXPECT_LOAD_ERROR("plugins = (\"minor-new\");\n", plugin, host);
}

static void bad_and_duplicate_names(void **state)
{
    (void)state;
    EXPECT_LOAD_ERROR("plugins = (\"bad-name\");\n", "plugin name \"Bad Name\" is not");
    EXPECT_LOAD_ERROR("plugins = (\"sample\", \"" AMB_TEST_PLUGIN_DIR "/sample.so\");\n",
                      ":2: plugin \"" AMB_TEST_PLUGIN_DIR "/sample.so\"",
                      "plugin name \"sample\" is already taken by", "(line 2)");
    EXPECT_LOAD_ERROR("plugins = (\"Not A Name\");\n",
                      "neither a plugin name ([a-z][a-z0-9_-]*) nor a path to a .so");
}

static void init_failure_carries_the_plugins_message(void **state)
{
    (void)state;
    EXPECT_LOAD_ERROR("plugins = (\"init-fail\");\n", "plugin \"init-fail\": init failed: "
                      "token_file: cannot read /nonexistent/token");
}

static void invalid_registrations_fail_the_load(void **state)
{
    (void)state;
    EXPECT_LOAD_ERROR("plugins = (\"empty-kind\");\n", "register_kind: kind: kind name \"\" is empty");
    EXPECT_LOAD_ERROR("plugins = (\"dup-kind\");\n",
                      "register_kind: kind: Thing (things.test.ambient-code) is already registered "
                      "by plugin \"dup-kind\"");
    EXPECT_LOAD_ERROR("plugins = (\"sample\", \"sample\");\n", "already taken");
}

static void config_problems_name_file_line_and_key(void **state)
{
    (void)state;
    EXPECT_LOAD_ERROR("plugins = (\"sample\");\nsample = {\n  greting = \"hi\";\n};\n",
                      ":4: sample.greting: unknown key");
    EXPECT_LOAD_ERROR("plugins = (\"sample\");\nsample = { tls = { cert = \"x\"; }; };\n",
                      ":3: sample.tls.cert: unknown key");
    EXPECT_LOAD_ERROR("plugins = (\"sample\");\nsample = { count = \"three\"; };\n",
                      ":3: sample.count: expected an integer, found a string");
    EXPECT_LOAD_ERROR("plugins = (\"bad-config-type\");\nbad-config-type = { listen = 8080; };\n",
                      "bad-config-type.listen: expected a string, found an integer");
    EXPECT_LOAD_ERROR("plugins = (\"sample\");\nsample = 5;\n", ":3: sample: expected a group");
    EXPECT_LOAD_ERROR("plugins = (\"sample\");\n\ncontroler = { workers = 4; };\n",
                      ":4: controler: unknown top-level key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_plugins_load_register_and_unload_in_reverse),
        cmocka_unit_test(missing_file),
        cmocka_unit_test(not_a_shared_object),
        cmocka_unit_test(entry_symbol_missing),
        cmocka_unit_test(entry_returns_null),
        cmocka_unit_test(major_too_new_and_too_old),
        cmocka_unit_test(minor_newer_than_host),
        cmocka_unit_test(bad_and_duplicate_names),
        cmocka_unit_test(init_failure_carries_the_plugins_message),
        cmocka_unit_test(invalid_registrations_fail_the_load),
        cmocka_unit_test(config_problems_name_file_line_and_key),
    };
    ambd_log_set_level(AMB_LOG_DEBUG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
