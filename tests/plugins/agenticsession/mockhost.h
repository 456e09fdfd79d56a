/* mockhost.h — a mock host table for the agenticsession unit tests: it
 * records errors and registrations, serves config from a small table and
 * answers kube_get for ProjectSettings from a fixture. */
#ifndef AS_MOCKHOST_H
#define AS_MOCKHOST_H

#include <ambient/plugin.h>

#include "mockconf.h" /* config entries: struct mock_conf */

#define MOCK_MAX 32

struct amb_error {
    int n;
    int code;
    char field[MOCK_MAX][128];
    char message[MOCK_MAX][256];
};

struct amb_ctx {
    int dummy;
};

struct amb_module {
    int dummy;
};

struct mock_state {
    json_t *project_settings; /* served for projectsettings/projectsettings */
    int kube_get_rc;          /* forced answer when not 0 */
    struct amb_kind kind;     /* the registered kind */
    void *kind_data;
    void (*kind_free)(void *);
    int registered;
    /* A tiny cluster for reconcile tests: objects keyed "plural/name". */
    json_t *store;      /* object: key -> object */
    json_t *session;    /* the stored session (update_status edits it) */
    int creates, deletes, status_writes, patches;
    json_t *events;     /* array of reasons */
};

extern struct mock_state mock;
extern struct amb_host mock_host;
extern struct amb_module mock_self;

void mock_reset(void);
/* Starts the tiny cluster with session (stolen) as the stored session. */
void mock_cluster(json_t *session);
/* The stored object plural/name, borrowed, or NULL. */
json_t *mock_object(const char *plural, const char *name);
/* Index of the cause naming field, or -1. */
int mock_error_find(const struct amb_error *err, const char *field);

#endif
