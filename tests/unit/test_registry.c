/* test_registry.c — validation and copying of registered kinds, forges and
 * routes, and that user data is freed exactly once on every path. */
#include <stdlib.h>
#include <string.h>

#include "error-internal.h"
#include "registry-internal.h"
#include "testutil.h"

static int frees;
static void count_free(void *p)
{
    (void)p;
    frees++;
}

static const struct amb_module *const owner_a = (const struct amb_module *)0x1;
static const struct amb_module *const owner_b = (const struct amb_module *)0x2;

static struct ambd_owned_data data(const struct amb_module *owner)
{
    struct ambd_owned_data d = {owner, owner == owner_a ? "a" : "b", &frees, count_free};
    return d;
}

static struct amb_kind widget(void)
{
    struct amb_kind k = {
        .size = sizeof k,
        .resource = {"test.ambient-code", "v1", "Widget", "widgets", 1},
    };
    return k;
}

static int setup(void **state)
{
    (void)state;
    frees = 0;
    return 0;
}

static void assert_rejected(int rc, struct amb_error *err, const char *want)
{
    assert_true(rc < 0);
    char *msg = ambd_error_line(err);
    if (!strstr(msg, want))
        fail_msg("error \"%s\" lacks \"%s\"", msg, want);
    free(msg);
    ambd_error_clear(err);
}

static void kind_is_deep_copied(void **state)
{
    (void)state;
    struct ambd_registry r = {0};
    struct amb_error err = AMBD_ERROR_INIT;
    char name[16] = "Widget";
    struct amb_resource owns[] = {{"batch", "v1", "Job", "jobs", 1}};
    struct amb_kind k = widget();
    k.resource.kind = name;
    k.owns = owns;
    k.n_owns = 1;
    k.rest_plural = "wid-gets";
    assert_int_equal(ambd_registry_add_kind(&r, data(owner_a), &k, &err), AMB_OK);
    strcpy(name, "Changed");
    owns[0].kind = "Other";
    const struct ambd_kind_entry *e = ambd_registry_find_kind(&r, "test.ambient-code", "Widget");
    assert_non_null(e);
    assert_string_equal(e->kind.owns[0].kind, "Job");
    assert_string_equal(e->kind.rest_plural, "wid-gets");
    assert_null(ambd_registry_find_kind(&r, "test.ambient-code", "Changed"));
    assert_int_equal(frees, 0);
    ambd_registry_release_owner(&r, owner_a);
    assert_int_equal(frees, 1);
    assert_int_equal(r.n_kinds, 0);
}

static void invalid_kinds_are_refused_and_data_freed_once(void **state)
{
    (void)state;
    struct ambd_registry r = {0};
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_kind k = widget();
    k.resource.kind = "";
    assert_rejected(ambd_registry_add_kind(&r, data(owner_a), &k, &err), &err, "kind name \"\" is empty");
    k = widget();
    k.resource.plural = "Widgets";
    assert_rejected(ambd_registry_add_kind(&r, data(owner_a), &k, &err), &err, "plural \"Widgets\"");
    k = widget();
    k.resource.group = "Bad_Group";
    assert_rejected(ambd_registry_add_kind(&r, data(owner_a), &k, &err), &err, "not a DNS subdomain");
    k = widget();
    k.finalizer = "cleanup";
    assert_rejected(ambd_registry_add_kind(&r, data(owner_a), &k, &err), &err, "qualified name");
    k = widget();
    k.size = 8;
    assert_rejected(ambd_registry_add_kind(&r, data(owner_a), &k, &err), &err, "struct amb_kind has size 8");
    assert_rejected(ambd_registry_add_kind(&r, data(owner_a), NULL, &err), &err, "is NULL");
    assert_int_equal(frees, 6);
    assert_int_equal(r.n_kinds, 0);
}

static void duplicate_kind_names_the_first_owner(void **state)
{
    (void)state;
    struct ambd_registry r = {0};
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_kind k = widget();
    assert_int_equal(ambd_registry_add_kind(&r, data(owner_a), &k, &err), AMB_OK);
    assert_rejected(ambd_registry_add_kind(&r, data(owner_b), &k, &err), &err,
                    "Widget (widgets.test.ambient-code) is already registered by plugin \"a\"");
    k.resource.kind = "Gizmo";
    k.resource.plural = "gizmos";
    k.rest_plural = "widgets";
    assert_rejected(ambd_registry_add_kind(&r, data(owner_b), &k, &err), &err,
                    "/api/projects/:project/widgets is already served");
    assert_int_equal(frees, 2);
    ambd_registry_release_owner(&r, owner_b); /* owns nothing */
    assert_int_equal(frees, 2);
    ambd_registry_release_owner(&r, owner_a);
    assert_int_equal(frees, 3);
}

static int handler(void *ud, struct amb_request *req)
{
    (void)ud;
    (void)req;
    return 0;
}

static void routes_validate_patterns_and_clashes(void **state)
{
    (void)state;
    struct ambd_registry r = {0};
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_route rt = {sizeof rt, "POST", "/api/projects/:project/things/:name/stop", handler, 0};
    assert_int_equal(ambd_registry_add_route(&r, data(owner_a), &rt, &err), AMB_OK);
    struct amb_route same_shape = {sizeof rt, "POST", "/api/projects/:p/things/:n/stop", handler, 0};
    assert_rejected(ambd_registry_add_route(&r, data(owner_b), &same_shape, &err), &err, "clashes with");
    struct amb_route other_method = {sizeof rt, "GET", "/api/projects/:p/things/:n/stop", handler, 0};
    assert_int_equal(ambd_registry_add_route(&r, data(owner_b), &other_method, &err), AMB_OK);
    struct amb_route bad[] = {
        {sizeof rt, "BREW", "/x", handler, 0},
        {sizeof rt, "GET", "x", handler, 0},
        {sizeof rt, "GET", "/a//b", handler, 0},
        {sizeof rt, "GET", "/a/:/b", handler, 0},
        {sizeof rt, "GET", "/a/b c", handler, 0},
        {sizeof rt, "GET", "/nohandler", NULL, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(ambd_registry_add_route(&r, data(owner_b), &bad[i], &err) < 0);
        ambd_error_clear(&err);
    }
    assert_int_equal(r.n_routes, 2);
    assert_int_equal(frees, 1 + 6);
    ambd_registry_release_owner(&r, owner_a);
    ambd_registry_release_owner(&r, owner_b);
    assert_int_equal(frees, 9);
}

static int match(void *ud, const char *url)
{
    (void)ud;
    return url != NULL;
}

static void forges_need_a_name_and_matcher(void **state)
{
    (void)state;
    struct ambd_registry r = {0};
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_forge f = {.size = sizeof f, .name = "github", .match_url = match};
    assert_int_equal(ambd_registry_add_forge(&r, data(owner_a), &f, &err), AMB_OK);
    assert_rejected(ambd_registry_add_forge(&r, data(owner_b), &f, &err), &err,
                    "github is already registered by plugin \"a\"");
    f.name = "gitlab";
    f.match_url = NULL;
    assert_rejected(ambd_registry_add_forge(&r, data(owner_b), &f, &err), &err, "no match_url");
    f.name = "Git Lab";
    f.match_url = match;
    assert_rejected(ambd_registry_add_forge(&r, data(owner_b), &f, &err), &err, "not [a-z]");
    ambd_registry_release_owner(&r, owner_a);
    assert_int_equal(frees, 4);
    assert_int_equal(r.n_forges, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(kind_is_deep_copied, setup),
        cmocka_unit_test_setup(invalid_kinds_are_refused_and_data_freed_once, setup),
        cmocka_unit_test_setup(duplicate_kind_names_the_first_owner, setup),
        cmocka_unit_test_setup(routes_validate_patterns_and_clashes, setup),
        cmocka_unit_test_setup(forges_need_a_name_and_matcher, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
