/* unit_wording.c — Kubernetes' error messages in Ambient's words
 * (api/wording.c): each form it knows, with every name kept and the
 * "(HTTP ...)" tail gone; anything else as it was, and nothing overflows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"

static void says(const char *kubernetes, const char *ambient)
{
    char out[1024];
    api_words(kubernetes, out, sizeof out);
    assert_string_equal(out, ambient);
}

static void the_known_forms(void **state)
{
    (void)state;
    says("namespaces \"nope\" not found (HTTP 404 NotFound)", "project \"nope\" not found");
    says("agenticsessions.vteam.ambient-code \"s1\" not found (HTTP 404 NotFound)",
         "session \"s1\" not found");
    says("agenticsessions.vteam.ambient-code \"s1\" already exists (HTTP 409 AlreadyExists)",
         "session \"s1\" already exists");
    says("projectsettings.vteam.ambient-code \"projectsettings\" not found",
         "project settings \"projectsettings\" not found");
    says("Operation cannot be fulfilled on agenticsessions.vteam.ambient-code \"s1\": the object "
         "has been modified; please apply your changes to the latest version and try again "
         "(HTTP 409 Conflict)",
         "session \"s1\" was changed since it was read: read it again and retry");
    says("Operation cannot be fulfilled on namespaces \"p\": the system is ensuring all content "
         "is removed from this namespace",
         "project \"p\": the system is ensuring all content is removed from this namespace");
    says("agenticsessions.vteam.ambient-code is forbidden: User \"carol\" cannot list resource "
         "\"agenticsessions\" in API group \"vteam.ambient-code\" in the namespace \"p\" "
         "(HTTP 403 Forbidden)",
         "carol cannot list sessions in project \"p\"");
    says("secrets \"runner\" is forbidden: User \"bob\" cannot get resource \"secrets\" in API "
         "group \"\" in the namespace \"p\": RBAC: role not found",
         "bob cannot get secret \"runner\" in project \"p\": RBAC: role not found");
    says("namespaces is forbidden: User \"bob\" cannot list resource \"namespaces\" in API group "
         "\"\" at the cluster scope",
         "bob cannot list projects at cluster scope");
    says("unable to create new content in namespace p because it is being terminated "
         "(HTTP 403 Forbidden)",
         "project \"p\" is being deleted");
    /* A kind Ambient has no word for keeps the API's name. */
    says("widgets.example.com \"w\" not found", "widgets.example.com \"w\" not found");
}

static void anything_else_passes(void **state)
{
    (void)state;
    says("out of memory", "out of memory");
    says("reading the ProjectSettings of p: HTTP 500 server error",
         "reading the ProjectSettings of p: HTTP 500 server error");
    says("AgenticSession.vteam.ambient-code \"s\" is invalid: spec.timeout: Invalid value",
         "AgenticSession.vteam.ambient-code \"s\" is invalid: spec.timeout: Invalid value");
    says("x is forbidden: User \"u\" cannot", "x is forbidden: User \"u\" cannot");
    says("namespaces \"unterminated", "namespaces \"unterminated");
    says("", "");
}

static void long_input_is_cut_not_overflowed(void **state)
{
    (void)state;
    char in[4096], out[64];
    memset(in, 'a', sizeof in - 1);
    in[sizeof in - 1] = '\0';
    memcpy(in, "namespaces \"", 12);
    api_words(in, out, sizeof out);
    assert_true(strlen(out) < sizeof out);
    api_words("namespaces \"p\" not found", out, 8);
    assert_int_equal(strlen(out), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_known_forms),
        cmocka_unit_test(anything_else_passes),
        cmocka_unit_test(long_input_is_cut_not_overflowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
