/* test_config.c — ambient.conf parsing: core settings, errors with file and
 * line, path lookup, and reporting of keys nobody read. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-internal.h"
#include "error-internal.h"
#include "log-internal.h"
#include "testutil.h"

struct loaded {
    char *path;
    struct ambd_config *config;
    struct amb_error err;
    int rc;
};

static void load_text(struct loaded *l, const char *text)
{
    l->path = testutil_write_temp(text);
    l->err = (struct amb_error)AMBD_ERROR_INIT;
    l->rc = ambd_config_load(l->path, &l->config, &l->err);
}

static void unload(struct loaded *l)
{
    ambd_config_free(l->config);
    ambd_error_clear(&l->err);
    unlink(l->path);
    free(l->path);
}

/* Asserts the error line contains "<path>:<line>: " and want. */
static void assert_error_at(struct loaded *l, int line, const char *want)
{
    assert_int_not_equal(l->rc, AMB_OK);
    char *msg = ambd_error_line(&l->err);
    char where[512];
    snprintf(where, sizeof where, "%s:%d: ", l->path, line);
    if (!strstr(msg, where) || !strstr(msg, want))
        fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", msg, where, want);
    free(msg);
}

static void core_settings_are_read(void **state)
{
    (void)state;
    struct loaded l;
    load_text(&l, "plugin_dir = \"plugins\";\n"
                  "plugins = (\"one\", \"/abs/two.so\", \"rel/three.so\");\n"
                  "log = { level = \"debug\"; format = \"text\"; };\n");
    assert_int_equal(l.rc, AMB_OK);
    assert_int_equal(l.config->n_plugins, 3);
    assert_string_equal(l.config->plugins[0].spec, "one");
    assert_int_equal(l.config->plugins[0].line, 2);
    assert_string_equal(l.config->plugins[1].spec, "/abs/two.so");
    assert_string_equal(l.config->plugins[2].spec, "/tmp/rel/three.so");
    assert_string_equal(l.config->plugin_dir, "/tmp/plugins");
    assert_int_equal(l.config->log_level, AMB_LOG_DEBUG);
    assert_int_equal(l.config->log_format, AMBD_LOG_TEXT);
    unload(&l);
}

static void defaults_when_empty(void **state)
{
    (void)state;
    struct loaded l;
    load_text(&l, "");
    assert_int_equal(l.rc, AMB_OK);
    assert_int_equal(l.config->n_plugins, 0);
    assert_null(l.config->plugin_dir);
    assert_int_equal(l.config->log_level, AMB_LOG_INFO);
    assert_int_equal(l.config->log_format, AMBD_LOG_JSON);
    unload(&l);
}

static void syntax_error_names_file_and_line(void **state)
{
    (void)state;
    struct loaded l;
    load_text(&l, "log = {\n  level = \"info\";\n  format = ;\n};\n");
    assert_int_equal(l.rc, AMB_EINVAL);
    assert_error_at(&l, 3, "syntax error");
    unload(&l);
}

static void bad_core_values_are_named(void **state)
{
    (void)state;
    struct loaded l;
    load_text(&l, "\nlog = { level = \"loud\"; };\n");
    assert_error_at(&l, 2, "log.level: expected \"error\", \"warn\", \"info\" or \"debug\"");
    unload(&l);
    load_text(&l, "log = { format = \"xml\"; };\n");
    assert_error_at(&l, 1, "log.format: expected \"json\" or \"text\"");
    unload(&l);
    load_text(&l, "log = { colour = true; };\n");
    assert_error_at(&l, 1, "log.colour: unknown key");
    unload(&l);
    load_text(&l, "plugins = \"one\";\n");
    assert_error_at(&l, 1, "plugins: expected a list");
    unload(&l);
    load_text(&l, "plugins = (\"ok\",\n 5);\n");
    assert_error_at(&l, 2, "plugins[1]: expected a plugin name or a path to a .so, found an integer");
    unload(&l);
}

static void missing_and_oversized_files(void **state)
{
    (void)state;
    struct ambd_config *c;
    struct amb_error err = AMBD_ERROR_INIT;
    assert_int_equal(ambd_config_load("/nonexistent/ambient.conf", &c, &err), AMB_ENOTFOUND);
    char *msg = ambd_error_line(&err);
    assert_non_null(strstr(msg, "/nonexistent/ambient.conf: cannot read config"));
    free(msg);
    ambd_error_clear(&err);

    char *big = malloc(AMBD_CONFIG_MAX_BYTES + 2);
    memset(big, '#', AMBD_CONFIG_MAX_BYTES + 1);
    big[AMBD_CONFIG_MAX_BYTES + 1] = '\0';
    char *path = testutil_write_temp(big);
    free(big);
    assert_int_equal(ambd_config_load(path, &c, &err), AMB_ETOOLARGE);
    ambd_error_clear(&err);
    unlink(path);
    free(path);
}

static void unknown_top_level_key_is_reported(void **state)
{
    (void)state;
    struct loaded l;
    load_text(&l, "plugins = ();\nsample = { a = 1; };\n\ntypo = { a = 1; };\n");
    assert_int_equal(l.rc, AMB_OK);
    const char *owners[] = {"sample"};
    assert_int_equal(ambd_config_check_top_level(l.config, owners, 1, &l.err), AMB_EINVAL);
    l.rc = AMB_EINVAL;
    assert_error_at(&l, 4, "typo: unknown top-level key");
    assert_int_equal(l.err.n_causes, 1);
    unload(&l);
}

static void lookup_marks_and_unread_keys_are_reported(void **state)
{
    (void)state;
    struct loaded l;
    load_text(&l, "p = {\n"
                  "  listen = \"x\";\n"
                  "  tls = { cert = \"c\"; keyy = \"k\"; };\n"
                  "  hosts = ( { name = \"a\"; }, { name = \"b\"; extra = 1; } );\n"
                  "  unused = 3;\n"
                  "};\n");
    assert_int_equal(l.rc, AMB_OK);
    config_setting_t *group = ambd_config_group(l.config, "p"), *s;
    assert_int_equal(ambd_config_lookup(group, "listen", &s), AMB_OK);
    assert_string_equal(config_setting_get_string(s), "x");
    assert_int_equal(ambd_config_lookup(group, "tls.cert", &s), AMB_OK);
    assert_int_equal(ambd_config_lookup(group, "hosts.[0].name", &s), AMB_OK);
    assert_int_equal(ambd_config_lookup(group, "hosts.[1].name", &s), AMB_OK);
    assert_string_equal(config_setting_get_string(s), "b");
    assert_int_equal(ambd_config_lookup(group, "hosts.[2].name", &s), AMB_ENOTFOUND);
    assert_int_equal(ambd_config_lookup(group, "listen.deeper", &s), AMB_ENOTFOUND);
    assert_int_equal(ambd_config_lookup(group, "", &s), AMB_ENOTFOUND);
    assert_int_equal(ambd_config_lookup(group, "a..b", &s), AMB_ENOTFOUND);
    assert_int_equal(ambd_config_lookup(NULL, "listen", &s), AMB_ENOTFOUND);

    assert_int_equal(ambd_config_check_unread(l.config, group, &l.err), AMB_EINVAL);
    char *msg = ambd_error_line(&l.err);
    assert_non_null(strstr(msg, ":3: p.tls.keyy: unknown key"));
    assert_non_null(strstr(msg, ":4: p.hosts[1].extra: unknown key"));
    assert_non_null(strstr(msg, ":5: p.unused: unknown key"));
    assert_int_equal(l.err.n_causes, 3);
    free(msg);
    unload(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(core_settings_are_read),
        cmocka_unit_test(defaults_when_empty),
        cmocka_unit_test(syntax_error_names_file_and_line),
        cmocka_unit_test(bad_core_values_are_named),
        cmocka_unit_test(missing_and_oversized_files),
        cmocka_unit_test(unknown_top_level_key_is_reported),
        cmocka_unit_test(lookup_marks_and_unread_keys_are_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
