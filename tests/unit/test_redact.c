/* test_redact.c — each redaction rule, and text that must pass unchanged. */
#include <stdlib.h>
#include <string.h>

#include "log-internal.h"
#include "testutil.h"

struct redact_case {
    const char *in;
    const char *out;
};

static const struct redact_case cases[] = {
    {"plain text stays", "plain text stays"},
    {"Authorization: Bearer abc.def-ghi", "Authorization: [REDACTED]"},
    {"authorization=Basic dXNlcjpwYXNz, next", "authorization=[REDACTED], next"},
    {"{\"Authorization\":\"Bearer xyz\"}", "{\"Authorization\":\"[REDACTED]\"}"},
    {"sent bearer tok3n/with+chars= to api", "sent bearer [REDACTED] to api"},
    {"X-Forwarded-Access-Token: sha256~zzzz", "X-Forwarded-Access-Token: [REDACTED]"},
    {"PRIVATE-TOKEN: glpat-12345678901234567890", "PRIVATE-TOKEN: [REDACTED]"},
    {"push with ghp_0123456789abcdefABCDEF now", "push with [REDACTED] now"},
    {"key sk-ant-api03-abcdefghijkl", "key [REDACTED]"},
    {"github_pat_11ABCDEFG0123456789_abcdef", "[REDACTED]"},
    {"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "jwt [REDACTED]"},
    {"short ghp_abc is not a token", "short ghp_abc is not a token"},
    {"the bearer of news", "the bearer of news"},
    {"unauthorized: no", "unauthorized: no"},
};

static void each_rule_redacts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = ambd_redact(cases[i].in);
        assert_non_null(got);
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("redact(\"%s\") = \"%s\", want \"%s\"", cases[i].in, got, cases[i].out);
        free(got);
    }
}

static void registered_secrets_are_replaced_everywhere(void **state)
{
    (void)state;
    ambd_log_add_secret("abc"); /* too short: ignored */
    ambd_log_add_secret("s3cr3t-value");
    ambd_log_add_secret("s3cr3t-value"); /* once is enough */
    char *got = ambd_redact("abc s3cr3t-value,s3cr3t-value;abc");
    assert_string_equal(got, "abc [REDACTED],[REDACTED];abc");
    free(got);
    ambd_log_clear_secrets();
    got = ambd_redact("s3cr3t-value");
    assert_string_equal(got, "s3cr3t-value");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_rule_redacts),
        cmocka_unit_test(registered_secrets_are_replaced_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
