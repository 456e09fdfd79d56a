/* unit_trigger.c — the pure parts of plugins/forgekit/trigger.h: repository
 * URLs compared canonically (and hostile ones kept apart), the trigger
 * command and the label. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "trigger.h"

static void key_is(const char *url, const char *want)
{
    char key[2048];
    int rc = fk_repo_key(url, key, sizeof key);
    if (!want) {
        if (rc == 0)
            fail_msg("%s: want no key, got %s", url, key);
        return;
    }
    if (rc != 0 || strcmp(key, want) != 0)
        fail_msg("%s: want %s, got %s", url, want, rc == 0 ? key : "(none)");
}

static void repo_keys(void **state)
{
    (void)state;
    const char *same[] = {"https://github.com/org/repo", "https://GitHub.COM/org/repo.git",
                          "https://github.com/org/repo/", "https://github.com/org/repo.git/",
                          "https://github.com:443/org/repo", "https://bot@github.com/org/repo",
                          "git@github.com:org/repo.git", "ssh://git@github.com/org/repo",
                          "ssh://git@github.com:22/org/repo.git", "http://github.com:80/org/repo"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        key_is(same[i], "github.com/org/repo");
    key_is("https://gitlab.example.com:8443/group/sub/repo.git",
           "gitlab.example.com:8443/group/sub/repo");
    key_is("https://gitlab.example.com/group/Sub/Repo", "gitlab.example.com/group/Sub/Repo");
    /* Hostile forms never meet github.com/org/repo. */
    key_is("https://github.com.evil.com/org/repo", "github.com.evil.com/org/repo");
    key_is("https://github.com@evil.com/org/repo", "evil.com/org/repo");
    key_is("https://github.com/org/repo%2F..%2Fx", NULL); /* fk_url_parse refuses any % */
    key_is("https://github.com/org/repo?x=1", NULL);
    key_is("https://github.com/org/repo#main", NULL);
    key_is("https://github.com/org/re po", NULL);
    key_is("https://github.com\\org/repo", NULL);
    key_is("https://github.com:99999999/org/repo", NULL);
    key_is("https:///org/repo", NULL);
    key_is("https://github.com/", NULL);
    key_is("https://github.com/.git", NULL);
    key_is("file:///etc/passwd", NULL);
    key_is("github.com:org/repo", "github.com/org/repo"); /* scp-like, as git reads it */
    key_is("", NULL);
    key_is(NULL, NULL);
    char small[8];
    assert_int_equal(fk_repo_key("https://github.com/org/repo", small, sizeof small), -1);
}

static void command(void **state)
{
    (void)state;
    struct fk_webhook_config cfg = {"/ambient", "ambient", 1024};
    const char *p = NULL;
    size_t n = 99;
    assert_int_equal(fk_webhook_command(&cfg, "/ambient  fix it\r\n", &p, &n), 1);
    assert_int_equal(n, 6);
    assert_memory_equal(p, "fix it", 6);
    assert_int_equal(fk_webhook_command(&cfg, "/ambient", &p, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(fk_webhook_command(&cfg, "/ambientx do", &p, &n), 0);
    assert_int_equal(fk_webhook_command(&cfg, "say /ambient do", &p, &n), 0);
    assert_int_equal(fk_webhook_command(&cfg, NULL, &p, &n), 0);
    assert_int_equal(fk_webhook_label(&cfg, "AMBIENT"), 1);
    assert_int_equal(fk_webhook_label(&cfg, "ambient2"), 0);
    assert_int_equal(fk_webhook_label(&cfg, NULL), 0);
    cfg.label = NULL;
    assert_int_equal(fk_webhook_label(&cfg, "ambient"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(repo_keys),
        cmocka_unit_test(command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
