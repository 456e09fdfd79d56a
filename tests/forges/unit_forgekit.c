/* unit_forgekit.c — forgekit's URL table: which instance serves which
 * repository URL (https, ssh, scp-like, GitHub Enterprise, GitLab under a
 * sub-path with subgroups) and every hostile form refused; the repo object
 * built from a match; URL escaping; constant-time comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "forgekit.h"

static struct fk_instance insts[3];
static struct fk_instances table = {insts, 3};

static int setup(void **state)
{
    (void)state;
    const char *why = NULL;
    if (fk_instance_set(&insts[0], "https://github.com", "https://api.github.com", &why) != 0 ||
        fk_instance_set(&insts[1], "https://ghe.example.com:8443/", "https://ghe.example.com:8443/api/v3/", &why) != 0 ||
        fk_instance_set(&insts[2], "https://git.example.org/gitlab", "https://git.example.org/gitlab/api/v4", &why) != 0)
        return -1;
    return 0;
}

#define REFUSED (-2)

struct row {
    const char *url;
    int instance; /* index into insts; -1: another forge's; REFUSED: not parsed */
    const char *rest;
};

/* Owner/name only (GitHub): 2 segments; subgroups (GitLab): up to 20. */
static const struct row rows[] = {
    {"https://github.com/octo/hello", 0, "octo/hello"},
    {"https://github.com/octo/hello.git", 0, "octo/hello"},
    {"https://github.com/octo/hello/", 0, "octo/hello"},
    {"https://GitHub.COM/octo/hello.git", 0, "octo/hello"},
    {"https://github.com:443/octo/hello", 0, "octo/hello"},
    {"https://x-access-token@github.com/octo/hello", 0, "octo/hello"},
    {"ssh://git@github.com/octo/hello.git", 0, "octo/hello"},
    {"ssh://git@github.com:22/octo/hello.git", 0, "octo/hello"},
    {"git@github.com:octo/hello.git", 0, "octo/hello"},
    {"git@github.com:octo/.github", 0, "octo/.github"},
    {"github.com:octo/hello", 0, "octo/hello"},
    {"https://ghe.example.com:8443/team/tool", 1, "team/tool"},
    {"git@ghe.example.com:team/tool.git", 1, "team/tool"},
    {"ssh://git@ghe.example.com:2222/team/tool.git", 1, "team/tool"},
    {"https://git.example.org/gitlab/group/sub/deeper/proj.git", 2, "group/sub/deeper/proj"},
    {"git@git.example.org:gitlab/group/proj.git", 2, "group/proj"},
    /* not ours: another host, scheme, port or prefix, or too few segments */
    {"https://gitlab.com/octo/hello", -1, NULL},
    {"http://github.com/octo/hello", -1, NULL},
    {"https://github.com:8443/octo/hello", -1, NULL},
    {"https://ghe.example.com/team/tool", -1, NULL},
    {"https://git.example.org/group/proj", -1, NULL},
    {"https://git.example.org/gitlabx/group/proj", -1, NULL},
    {"https://github.com/octo", -1, NULL},
    {"https://github.com/octo/hello/tree/main", -1, NULL},
    /* hostile */
    {"https://github.com.evil.com/octo/hello", -1, NULL},
    {"https://evil-github.com/octo/hello", -1, NULL},
    {"https://github.com@evil.com/octo/hello", -1, NULL},
    {"https://user:pass@github.com/octo/hello", REFUSED, NULL},
    {"https://:pass@github.com/octo/hello", REFUSED, NULL},
    {"ssh://git:pw@github.com/octo/hello", REFUSED, NULL},
    {"https://github.com/octo/../evil/hello", REFUSED, NULL},
    {"https://github.com/../octo/hello", REFUSED, NULL},
    {"https://github.com/octo/./hello", REFUSED, NULL},
    {"https://github.com/octo%2Fhello/x", REFUSED, NULL},
    {"https://github.com/octo/%2e%2e/hello", REFUSED, NULL},
    {"https://github.com/octo/hel%6co", REFUSED, NULL},
    {"https://github.com//octo/hello", REFUSED, NULL},
    {"https://github.com/octo//hello", REFUSED, NULL},
    {"https://github.com/octo/hello//", REFUSED, NULL},
    {"https://github.com/octo/hel\nlo", REFUSED, NULL},
    {"https://github.com/octo/hel\tlo", REFUSED, NULL},
    {"https://github.com/octo/hel lo", REFUSED, NULL},
    {"https://github.com/octo/hello?x=1", REFUSED, NULL},
    {"https://github.com/octo/hello#frag", REFUSED, NULL},
    {"https://github.com\\@evil.com/octo/hello", REFUSED, NULL},
    {"https://github.com/octo/-uhello", REFUSED, NULL},
    {"git@github.com:-oProxyCommand=x/hello", REFUSED, NULL},
    {"https://github.com/octo/.git", REFUSED, NULL},
    {"https://github.com./octo/hello", REFUSED, NULL},
    {"https://[::1]/octo/hello", REFUSED, NULL},
    {"file:///srv/octo/hello", REFUSED, NULL},
    {"git://github.com/octo/hello", REFUSED, NULL},
    {"ext::sh -c touch% /tmp/pwned", REFUSED, NULL},
    {"/srv/git/octo/hello", REFUSED, NULL},
    {"./octo:hello", REFUSED, NULL},
    {"https://github.com:0/octo/hello", REFUSED, NULL},
    {"https://github.com:99999/octo/hello", REFUSED, NULL},
    {"https://github.com/octo/h\xc3\xa9llo", REFUSED, NULL},
    {"", REFUSED, NULL},
};

static void url_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct fk_url u;
        const char *why = NULL, *rest = NULL;
        const struct fk_instance *inst = NULL;
        int parsed = fk_url_parse(rows[i].url, &u, &why) == 0;
        if (parsed)
            inst = fk_instance_match(&table, &u, 2, rows[i].instance == 2 ? 20 : 2, &rest);
        if (rows[i].instance == REFUSED) {
            if (parsed)
                fail_msg("%s: parsed, wanted it refused", rows[i].url);
            assert_non_null(why);
            continue;
        }
        if (rows[i].instance < 0) {
            if (inst)
                fail_msg("%s: matched instance %zu, wanted no match", rows[i].url, inst->index);
            continue;
        }
        if (inst != &insts[rows[i].instance])
            fail_msg("%s: wanted instance %d (%s)", rows[i].url, rows[i].instance,
                     why ? why : "no match");
        assert_string_equal(rest, rows[i].rest);
    }
}

static void long_url_refused(void **state)
{
    (void)state;
    char url[FK_MAX_URL + 64];
    strcpy(url, "https://github.com/octo/");
    size_t n = strlen(url);
    memset(url + n, 'a', sizeof url - n - 1);
    url[sizeof url - 1] = '\0';
    struct fk_url u;
    const char *why = NULL;
    assert_int_equal(fk_url_parse(url, &u, &why), -1);
    assert_string_equal(why, "is too long");
}

static void bad_instances_refused(void **state)
{
    (void)state;
    struct fk_instance inst;
    const char *why = NULL;
    assert_int_equal(fk_instance_set(&inst, "git@github.com:x", "https://api.github.com", &why), -1);
    assert_int_equal(fk_instance_set(&inst, "https://u@github.com", "https://api.github.com", &why), -1);
    assert_int_equal(fk_instance_set(&inst, "https://github.com", "ssh://api.github.com", &why), -1);
    assert_int_equal(fk_instance_set(&inst, "https://github.com", "https://a:b@api.github.com", &why), -1);
    assert_int_equal(fk_instance_set(&inst, "https://github.com/a/../b", "https://api.github.com", &why), -1);
}

static void repo_object(void **state)
{
    (void)state;
    struct fk_repo r = {.inst = &insts[2]};
    strcpy(r.path, "group/sub/proj");
    strcpy(r.owner, "group/sub");
    strcpy(r.name, "proj");
    json_t *j = fk_repo_json(&r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "host")), "git.example.org");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "group/sub/proj");
    assert_string_equal(json_string_value(json_object_get(j, "web_url")),
                        "https://git.example.org/gitlab/group/sub/proj");
    assert_string_equal(json_string_value(json_object_get(j, "clone_url")),
                        "https://git.example.org/gitlab/group/sub/proj.git");
    assert_string_equal(json_string_value(json_object_get(j, "api_url")),
                        "https://git.example.org/gitlab/api/v4");
    json_decref(j);
    r.inst = &insts[1];
    j = fk_repo_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "web_url")),
                        "https://ghe.example.com:8443/group/sub/proj");
    assert_string_equal(json_string_value(json_object_get(j, "api_url")),
                        "https://ghe.example.com:8443/api/v3");
    json_decref(j);
}

static void escaping(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(fk_url_escape("group/sub proj:x~y", out, sizeof out), 0);
    assert_string_equal(out, "group%2Fsub%20proj%3Ax~y");
    assert_int_equal(fk_url_escape("abc", out, 3), -1);
    assert_int_equal(fk_url_escape("a/", out, 5), 0);
    assert_int_equal(fk_url_escape("a/", out, 4), -1);
}

static void constant_time_compare(void **state)
{
    (void)state;
    assert_true(fk_secret_equal("sha256=abc", 10, "sha256=abc", 10));
    assert_false(fk_secret_equal("sha256=abc", 10, "sha256=abd", 10));
    assert_false(fk_secret_equal("sha256=abc", 10, "sha256=ab", 9));
    assert_false(fk_secret_equal("", 0, "x", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_table),       cmocka_unit_test(long_url_refused),
        cmocka_unit_test(bad_instances_refused), cmocka_unit_test(repo_object),
        cmocka_unit_test(escaping),        cmocka_unit_test(constant_time_compare),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
