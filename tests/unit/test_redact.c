/* test_redact.c — each redaction rule, text that must pass unchanged, and
 * the bound on registered values. */
#include <stdio.h>
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

static int redacted(const char *value)
{
    char *got = ambd_redact(value);
    int r = got && strcmp(got, "[REDACTED]") == 0;
    free(got);
    return r;
}

/* Many registrations (the api hands over every runner secret a user PUTs)
 * keep memory and per-line work bounded: the oldest value goes first, and
 * one registered again counts as new. */
static void registered_secrets_are_bounded(void **state)
{
    (void)state;
    char v[32];
    ambd_log_add_secret("the-first-value");
    ambd_log_add_secret("the-second-value");
    for (int i = 0; i < 1100; i++) {
        snprintf(v, sizeof v, "value-%04d", i);
        ambd_log_add_secret(v);
        if (i == 500)
            ambd_log_add_secret("the-second-value"); /* seen again */
    }
    assert_int_equal(ambd_log_secret_count(), 1024);
    assert_false(redacted("the-first-value"));
    assert_true(redacted("the-second-value"));
    assert_false(redacted("value-0000"));
    assert_true(redacted("value-1099"));
    char *huge = malloc(9000);
    memset(huge, 'x', 8999);
    huge[8999] = '\0';
    ambd_log_add_secret(huge); /* longer than any log line holds whole */
    assert_int_equal(ambd_log_secret_count(), 1024);
    assert_true(redacted("value-1099"));
    free(huge);
    ambd_log_clear_secrets();
    assert_int_equal(ambd_log_secret_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_rule_redacts),
        cmocka_unit_test(registered_secrets_are_replaced_everywhere),
        cmocka_unit_test(registered_secrets_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
