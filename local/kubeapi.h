/* kubeapi.h — the local Kubernetes API's parts, shared inside local/.
 * Everything runs on the server's one thread (struct kapi's event base),
 * so the store, the types and the watches need no locks. */
#ifndef AMBIENT_LOCAL_KUBEAPI_H
#define AMBIENT_LOCAL_KUBEAPI_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "local_kube.h"
#include "store.h"

/* A served resource: what the apiserver's REST storage strategy knows. */
struct ktype {
    char group[128], version[32], kind[64], plural[64], singular[64];
    char res[200]; /* "group/plural": its key in the store */
    int namespaced;
    int status;             /* has a /status subresource */
    int generation;         /* metadata.generation maintained */
    int create_on_update;   /* PUT may create */
    int needs_rv;           /* PUT must carry a resourceVersion */
    int returns_object;     /* DELETE answers the object, not a Status */
    int review;             /* create-only review kind, never stored */
    int orphans;            /* DELETE without a policy orphans dependents (Jobs) */
    int crd;                /* from a CustomResourceDefinition */
    json_t *short_names;    /* array or NULL */
    json_t *categories;     /* array or NULL ("all": kubectl get all) */
};

struct kuser {
    char name[320];
    char uid[64];
    json_t *groups; /* strings */
    int master;     /* in system:masters */
};

struct kwatch;
struct kconns;

struct kapi {
    struct kstore *store;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct evhttp *https; /* the same API over TLS (kubeapi_tls.c) */
    struct evhttp_bound_socket *tls_bound;
    struct ssl_ctx_st *ssl;
    struct event *tick, *stop_ev;
    pthread_t thread;
    int thread_started;
    struct local_kube_limits lim;
    struct ktype *types;
    size_t ntypes, types_cap;
    struct kwatch *watches; /* open watch streams */
    size_t nwatches;
    struct kconns *conns; /* kubeapi_conns.c */
    char admin_hash[65]; /* SHA-256 of the admin token, hex */
    char url[64], tls_url[64];
    char token_file[PATH_MAX], cert_file[PATH_MAX], kubeconfig_file[PATH_MAX];
};

/* One request being served. */
struct kreq {
    struct kapi *api;
    struct evhttp_request *ev;
    struct evkeyvalq query;
    struct kuser user;
    const char *path;
    const struct ktype *t;
    char version[32];
    char ns[64], name[256], sub[32];
    const char *verb; /* get list watch create update patch delete deletecollection */
};

/* ---- kubeapi_reply.c: answers ---- */
void kapi_reply(struct kreq *r, int code, json_t *body); /* steals body */
/* A Status failure; details from r's type and name. */
void kapi_fail(struct kreq *r, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A store failure: 507 for a full disk, else 503, naming what failed. */
void kapi_fail_store(struct kreq *r, int rc);
const char *kapi_query(const struct kreq *r, const char *key);
/* "plural.group" or "plural" for messages. */
void kapi_qualified(const struct ktype *t, char *buf, size_t n);
/* The body as a JSON object (YAML for apply-patch), or NULL after answering 400/415. */
json_t *kapi_body(struct kreq *r);
void kapi_now(char *buf, size_t n); /* RFC 3339, seconds */
void kapi_uuid(char *buf, size_t n);
/* Random bytes; 0, or -1 without randomness. */
int kapi_random(void *buf, size_t n);
void kapi_sha256_hex(const char *text, char out[65]);

/* ---- kubeapi_types.c: the served resources ---- */
void kapi_types_builtin(struct kapi *api);
const struct ktype *kapi_type_lookup(const struct kapi *api, const char *group,
                                     const char *version, const char *plural);
const struct ktype *kapi_type_by_res(const struct kapi *api, const char *res);
/* Serves (or stops serving, when deleted) the kind a stored CRD defines. */
void kapi_types_crd(struct kapi *api, const json_t *crd, int deleted);
/* 422 problems of a CRD as a message, or NULL when it is valid. */
const char *kapi_crd_problem(const json_t *crd);

/* A write's failure, answered as a Status (or a store error). */
struct kerr {
    int code;
    const char *reason;
    int store_rc; /* nonzero: the store failed (507/503) */
    char msg[512];
};
void kerr_set(struct kerr *e, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void kapi_fail_kerr(struct kreq *r, const struct kerr *e);

/* ---- kubeapi_objects.c: reads and writes ---- */
/* The stored object or NULL (404 or a store error in e). */
json_t *kobj_load(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                  struct kerr *e);
/* Stores a new object (steals obj); the stored object, or NULL with e. */
json_t *kobj_create(struct kapi *api, const struct ktype *t, const char *ns, json_t *obj,
                    struct kerr *e);
/* Replaces an object with obj (steals it): the main resource, or only its
 * status when status_only. put: a PUT (needs_rv applies, may create). */
json_t *kobj_update(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                    json_t *obj, int status_only, int put, struct kerr *e);
/* Deletes now, or marks deleting when finalizers hold it (*kept = 1);
 * the object's last state, or NULL with e. policy: Background, Orphan,
 * Foreground or NULL for the kind's default. */
json_t *kobj_delete(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                    const char *policy, const json_t *preconditions, int *kept, struct kerr *e);
/* Removes a deleting object whose finalizers are gone, then its
 * dependents and, for the last object of a terminating namespace, that. */
int kobj_finalize(struct kapi *api, const struct ktype *t, const char *ns, const char *name,
                  json_t *last, struct kerr *e);
/* The type an object names with apiVersion and kind, or NULL. */
const struct ktype *kapi_type_of(const struct kapi *api, const json_t *obj);

/* ---- request handlers (kubeapi_objects.c, kubeapi_delete.c) ---- */
void kapi_get(struct kreq *r);
void kapi_create(struct kreq *r);
void kapi_update(struct kreq *r);
void kapi_patch(struct kreq *r);
void kapi_delete(struct kreq *r);
void kapi_delete_collection(struct kreq *r);
/* Creates obj (of type t) outside a request, when missing: the CRD and
 * RBAC files at start. 0, 1 when it existed (and was replaced with
 * replace set), or a store error; problems go to err. */
int kapi_apply_internal(struct kapi *api, json_t *obj, int replace, char *err, size_t n);
/* The first start's objects and the CRDs (kubeapi_bootstrap.c); 0, or -1
 * with err naming the file. */
int kapi_bootstrap(struct kapi *api, int fresh, const char *crd_dir, const char *rbac_dir,
                   char *err, size_t n);
/* Commits and hands the events to the watches; rolls back on failure. */
int kapi_commit(struct kapi *api);

/* ---- kubeapi_list.c, kubeapi_select.c ---- */
void kapi_list(struct kreq *r);
struct kselector;
/* NULL with *problem set when text is not a selector; NULL text: match all. */
struct kselector *kapi_selector_parse(const char *labels, const char *fields,
                                      const char **problem);
int kapi_selector_match(const struct kselector *s, const json_t *obj);
/* 1 when s matches everything (no requirement): no need to parse objects. */
int kapi_selector_empty(const struct kselector *s);
void kapi_selector_free(struct kselector *s);

/* ---- kubeapi_watch.c ---- */
void kapi_watch(struct kreq *r);
void kapi_watch_notify(struct kapi *api, const json_t *event);
void kapi_watch_tick(struct kapi *api);
void kapi_watch_end_all(struct kapi *api);

/* ---- kubeapi_conns.c: at most limits.max_connections ---- */
/* Makes http's connections counted (both listeners share the limit),
 * over TLS with ssl; 0, or -1 without memory. */
int kapi_conns_attach(struct kapi *api, struct evhttp *http, struct ssl_ctx_st *ssl);
size_t kapi_conns_open(const struct kapi *api);
/* 1 when the answers waiting for clients to read them pass
 * limits.max_output (after answering 429): a get, list or watch must wait. */
int kapi_conns_backlogged(struct kreq *r);
/* Answer bytes waiting for clients to read them, all connections. */
size_t kapi_conns_waiting(const struct kapi *api);
/* After evhttp_free. */
void kapi_conns_detach(struct kapi *api);

/* ---- kubeapi_tls.c ---- */
/* Loads (or makes, at the first start) the certificate and api->ssl. */
int kapi_tls_init(struct kapi *api, const char *data_dir, char *err, size_t n);
/* Writes <data>/kubeconfig for the bound TLS address. */
int kapi_write_kubeconfig(const struct kapi *api, char *err, size_t n);

/* ---- kubeapi_discovery.c ---- */
/* 1 when the path was a discovery, version or OpenAPI document (answered). */
int kapi_discovery(struct kreq *r);

/* ---- kubeapi_auth.c ---- */
/* 0 with r->user filled, or -1 (answered 401). */
int kapi_authenticate(struct kreq *r);
void kapi_user_free(struct kuser *u);
void kapi_token_request(struct kreq *r);
/* The review kinds (tokenreviews, selfsubjectreviews, *accessreviews). */
void kapi_review(struct kreq *r);
/* Writes a new admin token to api->token_file (0600) if there is none,
 * and remembers its hash. 0, or -1 with err. */
int kapi_admin_token(struct kapi *api, char *err, size_t n);

/* ---- rbac.c ---- */
/* 1 when user may do verb on the request's resource (or path for
 * non-resource requests: t NULL), else 0. */
int kapi_authorize(struct kapi *api, const struct kuser *u, const char *verb,
                   const char *group, const char *resource, const char *sub,
                   const char *ns, const char *name, const char *path);
/* The bootstrap ClusterRoles and bindings of a fresh cluster. */
json_t *kapi_rbac_bootstrap(void);

/* ---- protobuf.c ---- */
/* A protobuf request body of kubectl's typed commands as JSON; NULL with
 * why for a kind not read here or bytes that are not protobuf. */
json_t *kapi_protobuf_decode(const void *body, size_t len, char *why, size_t n);

/* ---- merge_patch.c ---- */
/* RFC 7386 merge of patch into target (modified in place). */
void kapi_merge_patch(json_t *target, const json_t *patch);
/* RFC 6902 patch; 0, or -1 with a problem. */
int kapi_json_patch(json_t **target, const json_t *ops, const char **problem);

#endif
