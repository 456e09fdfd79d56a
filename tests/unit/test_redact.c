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
        /* The sink writes what needs nothing as it is: never a secret. */
        int changed = strcmp(cases[i].in, cases[i].out) != 0;
        if (ambd_redact_needed(cases[i].in, 1) != changed ||
            ambd_redact_needed(cases[i].in, 0) != changed)
            fail_msg("redact_needed(\"%s\") is not %d", cases[i].in, changed);
        free(got);
    }
}

static void registered_secrets_are_replaced_everywhere(void **state)
{
    (void)state;
    ambd_log_add_secret("abc"); /* too short: ignored */
    ambd_log_add_user_secret("Abc123"); /* too short for a user's value: ignored */
    ambd_log_add_secret("s3cr3t-value");
    ambd_log_add_secret("s3cr3t-value"); /* once is enough */
    assert_true(ambd_redact_needed("abc s3cr3t-value", 1));
    assert_false(ambd_redact_needed("abc s3cr3t-value", 0)); /* the code's own text */
    assert_false(ambd_redact_needed("abc Abc123", 1));
    char *got = ambd_redact("abc s3cr3t-value,s3cr3t-value;abc Abc123");
    assert_string_equal(got, "abc [REDACTED],[REDACTED];abc Abc123");
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

/* Users choose what gets registered (runner secret values), so only values
 * that look like secrets are: an editor must not be able to blank out
 * "DELETE", a resource name or a user name in every later log line. */
static void only_secret_looking_values_are_registered(void **state)
{
    (void)state;
    const char *words[] = {"DELETE", "agentic-sessions", "projectsettings", "dave@example.com",
                           "correcthorsebatterystaple", "kube-root-ca.crt", "aaaaaaaa1"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        ambd_log_add_user_secret(words[i]);
        assert_false(ambd_looks_like_secret(words[i]));
        assert_false(redacted(words[i]));
    }
    assert_int_equal(ambd_log_secret_count(), 0);
    const char *keys[] = {"sk-ant-api03-Zx81kLq0", "3f9a1c0b7e2d4a6f", "Tr0ub4dor&3x"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ambd_log_add_user_secret(keys[i]);
        assert_true(ambd_looks_like_secret(keys[i]));
        assert_true(redacted(keys[i]));
    }
    /* The host's own credentials are its to judge: any value of 4+ bytes. */
    ambd_log_add_secret("kube-token");
    assert_true(redacted("kube-token"));
    ambd_log_clear_secrets();
}

/* Many registrations keep memory and per-line work bounded, and none is
 * ever forgotten to make room: one project's flood must not un-redact
 * another's secrets. Past the cap, new values are refused and counted. */
static void registered_secrets_are_bounded_and_never_evicted(void **state)
{
    (void)state;
    char v[32];
    ambd_log_add_secret("First-s3cret-value");
    for (int i = 0; i < 5000; i++) {
        snprintf(v, sizeof v, "Flood%04dxQ7z", i);
        ambd_log_add_secret(v);
    }
    assert_int_equal(ambd_log_secret_count(), 4096);
    assert_int_equal(ambd_log_secrets_refused(), 5000 - 4095);
    assert_true(redacted("First-s3cret-value"));
    assert_true(redacted("Flood0000xQ7z"));
    assert_false(redacted("Flood4999xQ7z"));
    ambd_log_add_secret("First-s3cret-value"); /* known: not refused */
    assert_int_equal(ambd_log_secrets_refused(), 5000 - 4095);
    char *huge = malloc(9000);
    for (int i = 0; i < 8999; i++)
        huge[i] = (char)('a' + i % 26 - (i % 3 == 0 ? 32 : 0));
    huge[8999] = '\0';
    ambd_log_add_secret(huge); /* longer than any log line holds whole */
    assert_int_equal(ambd_log_secret_count(), 4096);
    free(huge);
    ambd_log_clear_secrets();
    assert_int_equal(ambd_log_secret_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_rule_redacts),
        cmocka_unit_test(registered_secrets_are_replaced_everywhere),
        cmocka_unit_test(only_secret_looking_values_are_registered),
        cmocka_unit_test(registered_secrets_are_bounded_and_never_evicted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
