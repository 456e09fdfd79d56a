/* mock_host.h — an in-memory host for the projectsettings unit tests: the
 * 1.0/1.1 host members the plugin uses, over a json store of objects keyed
 * "plural/namespace/name", with an operation log, recorded events and log
 * lines, and one injectable failure. */
#ifndef PS_MOCK_HOST_H
#define PS_MOCK_HOST_H

#include <ambient/plugin.h>

struct amb_error {
    int n;
    int code;
    char text[4096]; /* "field: message\n" per cause */
};

struct mock {
    json_t *store;  /* "plural/ns/name" -> object */
    json_t *ops;    /* ["create secrets/ns/name", "patch projectsettings/ns/name", ...] */
    json_t *events; /* [{type, reason, message}] */
    json_t *logs;   /* ["msg k=v ..."] */
    json_t *secrets_logged; /* values handed to log_secret */
    json_t *kinds;  /* registered kind plurals */
    int status_writes;
    int uid_seq, rv_seq;
    /* The next operation matching fail_op ("patch secrets") returns fail_rc. */
    char fail_op[64];
    int fail_rc;
    /* The object update_status writes ("projectsettings/ns/name"). */
    char current[256];
};

extern struct mock mock;
extern struct amb_host mock_host;

void mock_reset(void);
void mock_free(void);
/* The ctx handed to callbacks; update_status writes the object at key. */
struct amb_ctx *mock_ctx(const char *key);
/* Stores obj (stolen) as if created: uid, resourceVersion, generation 1. */
json_t *mock_put(const struct amb_resource *res, json_t *obj);
/* Borrowed object, or NULL. */
json_t *mock_get(const char *plural, const char *ns, const char *name);
/* Number of ops starting with prefix ("create rolebindings"). */
int mock_count_ops(const char *prefix);
/* Index of the first op equal to s, -1 if none. */
int mock_op_index(const char *s);
/* 1 if s occurs in any log line, event, error or stored status. */
int mock_text_seen(const char *s);

#endif
