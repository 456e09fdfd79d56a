/* plugin_mock.h — the one mock host of the plugins' unit tests (as
 * collectd's plugin_mock.c): the host table a plugin gets in ambientd, over
 * an in-memory cluster, recording what the plugin did.
 *
 *  - config: answered from a table (mockconf.h; none: every key absent);
 *  - registration: each kind is summarised in mock.kinds and the last one
 *    kept whole (mock.kind, its user data) so a test can call its
 *    callbacks; routes are recorded ("METHOD pattern") in mock.routes;
 *  - Kubernetes: a store of objects keyed "plural/namespace/name" with
 *    uids, resourceVersions (a stale update is a conflict), generations, a
 *    log of operations ("create secrets/ns/name") and one injectable
 *    failure; label selectors "a=b,c=d" are honoured;
 *  - update_status writes the object at mock.current (mock_ctx,
 *    mock_cluster); events and log lines are recorded;
 *  - errors keep each cause's field and message, and all of them as text.
 * Single-threaded, like the tests. set_condition and set_controller_ref
 * are libambient's own, so a plugin sees exactly what ambientd does. */
#ifndef TESTS_PLUGIN_MOCK_H
#define TESTS_PLUGIN_MOCK_H

#include <ambient/plugin.h>

#include "mockconf.h"

#define MOCK_MAX 32

struct amb_error {
    int n;
    int code;
    char field[MOCK_MAX][128];   /* "" when a cause names no field */
    char message[MOCK_MAX][256];
    char text[4096];             /* "field: message\n" per cause */
};

struct amb_ctx {
    int dummy; /* any context but NULL is the callback's own */
};

struct amb_module {
    int dummy;
};

struct mock {
    json_t *store;  /* "plural/ns/name" -> object */
    json_t *ops;    /* ["create secrets/ns/name", "patch projectsettings/ns/name", ...] */
    json_t *events; /* [{type, reason, message}] */
    json_t *logs;   /* ["msg k=v ..."] */
    json_t *secrets_logged; /* values handed to log_secret */
    json_t *kinds;  /* [{plural, n_owns, validate, defaults, reconcile}] */
    json_t *routes; /* ["POST /api/projects/:project/..."] */
    /* The last kind registered, whole, with its user data (freed by
     * mock_reset), to call its callbacks. */
    struct amb_kind kind;
    void *kind_data;
    void (*kind_free)(void *);
    int registered;
    /* Served for every projectsettings/projectsettings when set (borrowed
     * by the mock; freed by mock_reset). */
    json_t *project_settings;
    /* kube_get answers this when not 0. */
    int kube_get_rc;
    /* The object mock_cluster stored (borrowed from the store: writes to
     * it through the host are seen here). */
    json_t *session;
    int creates, deletes, patches, status_writes;
    int uid_seq, rv_seq;
    /* The next operation matching fail_op ("patch secrets") returns fail_rc. */
    char fail_op[64];
    int fail_rc;
    /* The object update_status writes ("projectsettings/ns/name"). */
    char current[256];
};

extern struct mock mock;
extern struct amb_host mock_host;
extern struct amb_module mock_self;

/* Frees what the mock holds and starts empty (config table kept). */
void mock_reset(void);
/* Frees what the mock holds. */
void mock_free(void);
/* The ctx handed to callbacks; update_status writes the object at key. */
struct amb_ctx *mock_ctx(const char *key);
/* Stores obj (stolen) as if created: uid, resourceVersion, generation 1. */
json_t *mock_put(const struct amb_resource *res, json_t *obj);
/* Stores obj (stolen) as it is under plural (its metadata's namespace and
 * name), as a test's fixture; returns it (borrowed). */
json_t *mock_store(const char *plural, json_t *obj);
/* Stores session (stolen) as the object reconciled: mock.session and
 * mock.current point at it. */
void mock_cluster(json_t *session);
/* Borrowed object, or NULL. */
json_t *mock_get(const char *plural, const char *ns, const char *name);
/* The object plural/name in any namespace (borrowed), or NULL. */
json_t *mock_object(const char *plural, const char *name);
/* Number of ops starting with prefix ("create rolebindings"). */
int mock_count_ops(const char *prefix);
/* Index of the first op equal to s, -1 if none. */
int mock_op_index(const char *s);
/* 1 if s occurs in any log line, event, error or stored status. */
int mock_text_seen(const char *s);
/* Index of the cause naming field, or -1. */
int mock_error_find(const struct amb_error *err, const char *field);

#endif
