/* api.h — shared internals of api.so, the REST and live-update role.
 *
 * Two listeners, each switched on by its own config group:
 *  - REST (api.listen): evhttp on a few loop threads sharing one listening
 *    socket. Handlers run on those threads and make blocking Kubernetes
 *    calls with the caller's token (host->ctx_new), so one slow call holds
 *    only its own thread's connections.
 *  - live (api.live.listen): the session event store and its streams
 *    (WebSocket, SSE, the runner's event posts, messages) on a small
 *    HTTP/1.1 server of our own over bufferevents (live/live.h), because
 *    evhttp in libevent 2.1 cannot hand a connection over to WebSocket.
 *
 * Every file of the plugin reaches the host through api_host/api_self (the
 * host table, as each plugin keeps it); the plugin's own state is a struct
 * api handed explicitly: a request carries it (r->api), the listeners get
 * what they need of it at start. */
#ifndef AMBIENT_API_H
#define AMBIENT_API_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "ambient/names.h"
#include "ambient/plugin.h"

extern const struct amb_host *api_host;
extern struct amb_module *api_self;

/* ---- configuration (config.c): the `api` group of ambient.conf ---- */
/* api.live.langfuse (live/langfuse_config.c): the export of each finished
 * session run to LangFuse; off unless enabled. */
struct api_langfuse_config {
    int enabled;
    char *url;             /* <host>/api/public/ingestion */
    char *public_key;
    char *secret_key_file; /* read again for every export: rotation needs no restart */
    unsigned timeout_s;    /* one attempt of one POST */
    unsigned delay_s;      /* from the terminal phase to the export: the runner's last events */
    size_t max_queue;      /* runs waiting; more are dropped (counted) */
    size_t max_tool_calls; /* spans per trace */
    size_t max_field;      /* bytes of any text sent */
    unsigned retry_s;      /* before a failed export's next round (doubling); 0: none */
};
/* Reads api.live.langfuse (every key, so none is reported as unknown when
 * it is off); errors name the key. live_on: api.live.listen is set. */
int api_langfuse_config_read(struct api_langfuse_config *c, int live_on, struct amb_error *err);
void api_langfuse_config_clear(struct api_langfuse_config *c);

struct api_config {
    char *listen;            /* "host:port" of REST; NULL: REST off */
    char *tls_cert_file;     /* both or neither */
    char *tls_key_file;
    size_t max_body;         /* bytes of a request body (413 beyond) */
    size_t max_headers;      /* bytes of all request headers */
    unsigned timeout_s;      /* read/write timeout of a connection */
    unsigned head_timeout_s; /* a request head, from its first byte (both listeners) */
    unsigned body_timeout_s; /* a request body, from its head (both listeners) */
    size_t max_connections;  /* REST connections at once */
    size_t max_connections_per_client; /* of them from one address (IPv6: one /64) */
    size_t max_bodies;            /* REST request body bytes being read, in all */
    size_t max_bodies_per_client; /* ... from one address: past either, 503 */
    unsigned threads;        /* REST loop threads */
    char **allowed_origins;  /* Origins allowed for browsers (WebSocket, CORS) */
    size_t n_allowed_origins;
    unsigned auth_ttl_s;     /* how long an access review answer is reused */
    size_t auth_cache_size;  /* entries in the review cache */
    unsigned rate_per_s;     /* requests per second per caller (0: no limit) */
    unsigned rate_burst;     /* requests a caller may make at once */
    /* live */
    char *live_listen;       /* "host:port"; NULL: live off */
    char *live_dir;          /* where session event logs are kept */
    size_t live_max_event;   /* bytes of one event */
    size_t live_max_session; /* bytes of one session's log; posts beyond get 413 */
    unsigned long long live_max_store; /* bytes of all logs together; posts beyond get 507 */
    size_t live_max_client_buffer; /* queued bytes before a slow client is cut */
    unsigned live_auth_threads;    /* threads doing the blocking auth calls */
    size_t live_max_connections;   /* live connections at once */
    size_t live_max_connections_per_client;
    int live_session_status;       /* watch sessions and log their status changes */
    struct api_langfuse_config langfuse;
    /* read_cache */
    int read_cache_enabled;        /* serve GET/LIST of kinds from a watch */
    size_t read_cache_max_objects; /* objects of every kind together */
    size_t read_cache_max_bytes;   /* their JSON, in bytes */
};

int api_config_read(struct api_config *c, struct amb_error *err);
void api_config_clear(struct api_config *c);
/* ---- listen.c: what both listeners are made of ---- */
/* A listening socket (non-blocking, close-on-exec) for "host:port" (port 0:
 * any free one); address gets what was bound ("127.0.0.1:41234"). Errors
 * name key ("api.listen", "api.live.listen"). */
int api_listen_socket(const char *listen_at, const char *key, int *out, char *address,
                      size_t address_len, struct amb_error *err);
/* The server TLS context of api.tls (TLS 1.2 or newer), for both
 * listeners; errors name api.tls.cert_file or key_file. */
struct ssl_ctx_st;
int api_tls_context(const struct api_config *cfg, struct ssl_ctx_st **out,
                    struct amb_error *err);
/* A connection's bufferevent on fd (-1: set later): plain, or speaking TLS
 * with ssl (NULL for none); closes fd when freed. NULL: no memory. */
struct bufferevent;
struct event_base;
struct bufferevent *api_bufferevent(struct event_base *base, int fd, struct ssl_ctx_st *ssl);

/* ---- auth (auth.c): tokens, access reviews, identities ----
 * The cache is keyed by SHA-256 of the token, never the token, and holds
 * each answer for auth_ttl_s. Blocking; any thread. */
struct api_auth;

struct api_auth *api_auth_new(unsigned ttl_s, size_t max_entries);
void api_auth_free(struct api_auth *a);

/* The caller's token from "Authorization: Bearer <t>" or
 * "X-Forwarded-Access-Token: <t>" (the OAuth proxy's, preferred). Returns a
 * pointer into the header value, or NULL. */
const char *api_auth_token(const char *authorization, const char *forwarded);

/* A token and its SHA-256 (hex), the key the auth cache and the rate
 * limiter know a caller by: hashed once per request, never kept. */
#define API_TOKEN_HASH_LEN 64
void api_token_hash(const struct api_auth *a, const char *token,
                    char out[API_TOKEN_HASH_LEN + 1]);

/* A review of what the token's owner may do. */
struct api_access {
    const char *verb;     /* "get", "list", "create", "update", "patch", "delete" */
    const char *group;    /* "" for core */
    const char *resource; /* plural */
    const char *subresource; /* NULL */
    const char *ns;       /* "" for cluster scope */
    const char *name;     /* NULL for any */
};

/* token_hash (api_token_hash of token) may be NULL: it is computed then.
 * SelfSubjectAccessReview with the token (cached). AMB_OK with *allowed set;
 * reason (may be empty) says why not. AMB_EUNAUTHORIZED when the API
 * rejects the token itself. */
int api_auth_review(struct api_auth *a, const char *token, const char *token_hash,
                    const struct api_access *what, int *allowed, char *reason,
                    size_t reason_len, struct amb_error *err);
/* The same for a caller who found the token's identity cached as good in
 * this request (api_auth_known): one cache lookup fewer. */
int api_auth_review_identified(struct api_auth *a, const char *token, const char *token_hash,
                               const struct api_access *what, int *allowed, char *reason,
                               size_t reason_len, struct amb_error *err);
/* The token's user name (SelfSubjectReview, cached), for access logs and
 * RoleBinding subjects. AMB_EUNAUTHORIZED for a rejected token. */
int api_auth_whoami(struct api_auth *a, const char *token, const char *token_hash, char *user,
                    size_t user_len, struct amb_error *err);
/* 1 when the token (by its hash) has a cached SelfSubjectReview that knew
 * it, its user name in user (left alone otherwise): a request with it
 * costs the API server nothing to authenticate. */
int api_auth_known(struct api_auth *a, const char *token_hash, char *user, size_t user_len);
/* TokenReview with the daemon's own credentials (runner tokens): the
 * token's user name, e.g. "system:serviceaccount:ns:sa" (cached). */
int api_auth_token_review(struct api_auth *a, const char *token, const char *token_hash,
                          char *user, size_t user_len, struct amb_error *err);

/* ---- requests (server.c, reply.c) ---- */
#define API_MAX_PARAMS 6

struct api_server;

struct api_req {
    struct evhttp_request *ev;
    struct api_server *server;
    struct api *api;                  /* the plugin's state */
    const char *method;               /* "GET", ... */
    char *path;                       /* decoded path, no query */
    struct evkeyvalq query;           /* decoded query */
    const char *param_names[API_MAX_PARAMS];
    char *param_values[API_MAX_PARAMS];
    size_t n_params;
    const void *route_data;           /* of the matched route (api_router_add_data) */
    const char *route_label;          /* the matched route's pattern (metrics); NULL: none */
    const char *token;                /* the caller's token or NULL (points into a header) */
    char token_hash[API_TOKEN_HASH_LEN + 1]; /* of token; "" without one */
    struct amb_ctx *ctx;              /* host ctx for the token (lazy; freed after the reply) */
    char user[256];                   /* who, for the access log ("-" if unknown) */
    int identified;                   /* user is the token's, from a fresh review */
    char *project;                    /* <project> of /api/projects/<project>/... (owned) */
    int project_ok;                   /* the gate found it a project (project_gate.c) */
    int status;                       /* status replied, for the access log */
    int replied;
    struct timespec started;
};

/* Path parameter ":name" of the matched route, or NULL. */
const char *api_param(const struct api_req *r, const char *name);
/* Query parameter, decoded, or NULL. */
const char *api_query(const struct api_req *r, const char *name);
/* Request header (case-insensitive), or NULL. */
const char *api_header(const struct api_req *r, const char *name);

/* The body as a JSON object. Replies itself and returns -1 on: a content
 * type other than application/json (415; merge_patch also accepts
 * application/merge-patch+json), a body over max_body (413), malformed
 * JSON (400, with line and column), a non-object (400). */
int api_body_object(struct api_req *r, int merge_patch, json_t **out);
/* The same checks without replying: AMB_EINVAL (type, syntax, not an
 * object) or AMB_ETOOLARGE, the reason in err. */
int api_body_json(struct api_req *r, json_t **out, struct amb_error *err);
/* The body's exact bytes, borrowed from r ("" and 0 without one);
 * AMB_ETOOLARGE past max_body, the reason in err. */
int api_body_raw(struct api_req *r, const char **data, size_t *len, struct amb_error *err);

/* Replies: body is stolen. Only the first reply of a request counts. */
void api_reply_json(struct api_req *r, int status, json_t *body);
/* {"error": message, "details": details (stolen; NULL for none)} */
void api_reply_error(struct api_req *r, int status, const char *message, json_t *details);
/* Maps an AMB_E* code to its HTTP status and replies with err's message and
 * its causes as details ([{"field", "message"}]). When Kubernetes asked for
 * a wait (Retry-After), the caller gets it: a Retry-After header and a
 * message that says when to come again. */
void api_reply_amb(struct api_req *r, int code, const struct amb_error *err);
/* Adds "Retry-After: seconds" to r's reply (before replying). */
void api_add_retry_after(struct api_req *r, unsigned seconds);
int api_http_status(int amb_code);

/* The host ctx that calls Kubernetes as the caller (401 replied and NULL
 * returned when the request has no token). */
struct amb_ctx *api_ctx(struct api_req *r);
/* 0 when the caller may; otherwise replies 401 (no or rejected token) or
 * 403 ("<user> cannot <verb> <resource> in <ns>: reason") and returns -1. */
int api_require(struct api_req *r, const struct api_access *what);

/* The cache of a, for answers the daemon's credentials give (NULL: none). */
struct auth_cache;
struct auth_cache *api_auth_cache(struct api_auth *a);

/* ---- the plugin's state (plugin.c makes it; everything else is handed it) ---- */
struct api_router;
struct api_server;
struct api_kinds;
struct api_web;
struct api_plugin_routes;
struct live;
struct read_cache;
struct kind_watches;

struct api {
    struct api_config cfg;
    struct api_auth *auth;     /* from start */
    struct api_router *router; /* built at start, read-only after */
    struct api_server *server; /* REST; NULL without api.listen */
    struct live *live;         /* NULL without api.live.listen */
    struct api_kinds *kinds;   /* the generic kind routes' table (routes_kinds.c) */
    struct api_plugin_routes *plugin_routes; /* other plugins' routes (routes_plugins.c) */
    struct api_web *web;       /* the web UI's files and config (web_static.c) */
    struct read_cache *read_cache; /* kinds' GET/LIST from a watch; NULL: off (read_cache.h) */
    struct kind_watches *watches;  /* one list+watch per kind (kind_watch.h) */
    atomic_int ready;          /* 1 while serving (readyz) */
};

/* ---- router (router.c) ---- */
typedef void (*api_handler)(struct api_req *r);

enum api_route_flags {
    API_PUBLIC = 1u << 0, /* no token needed */
};

struct api_router *api_router_new(void);
void api_router_free(struct api_router *rt);
/* pattern: "/api/projects/:project/agentic-sessions/:name/stop"; a segment
 * ":x" matches one non-empty segment. Copies pattern. */
int api_router_add(struct api_router *rt, const char *method, const char *pattern,
                   api_handler fn, unsigned flags);
/* The same, with data the handler finds in r->route_data. */
int api_router_add_data(struct api_router *rt, const char *method, const char *pattern,
                        api_handler fn, unsigned flags, const void *data);
/* Finds the route for method and path, filling r's params. Returns the
 * handler, or NULL with *status 404 (no path) or 405 (path, other methods;
 * allow lists them, comma-separated). */
api_handler api_router_match(const struct api_router *rt, struct api_req *r, unsigned *flags,
                             int *status, char *allow, size_t allow_len);

/* Route tables, one per file; each adds its routes. */
void api_routes_health(struct api_router *rt);
void api_routes_projects(struct api_router *rt);
void api_routes_permissions(struct api_router *rt);
/* Generic CRUD for every registered kind (its table in api->kinds); call
 * after every plugin's init. api_routes_kinds_free at fini. */
int api_routes_kinds(struct api_router *rt, struct api *api, struct amb_error *err);
void api_routes_kinds_free(struct api *api);
/* The routes other plugins registered (register_route), served through
 * struct amb_request_ops; after the built-in routes, which win a clash.
 * api_routes_plugins_free at fini. */
int api_routes_plugins(struct api_router *rt, struct api *api, struct amb_error *err);
void api_routes_plugins_free(struct api *api);

/* ---- generic kind writes (routes_kinds.c), shared with the plugins' routes ----
 * The kind table is filled by api_routes_kinds at start and read-only after. */
/* Creates obj (borrowed; modified: apiVersion, kind and metadata.namespace
 * filled, status removed) in ns as the caller, as the generic create route
 * of res's kind does: name check, access review (create), set_defaults,
 * validate (422 with the causes), kube_create. Returns 0 with *stored the
 * stored object (new ref), or -1 after replying (404 for a kind not served). */
int api_kind_create(struct api_req *r, const struct amb_resource *res, const char *ns,
                    json_t *obj, json_t **stored);

/* What a plugin's route handler (and a kind's create_shape) gets as its
 * request: opaque to them, a pointer to ours here (routes_plugins.c). */
struct amb_request {
    struct api_req *r;
};

/* ---- what a project is, and the gate (project_gate.c) ---- */
/* The label that makes a namespace a project. */
#define API_MANAGED_LABEL AMB_PROJECT_LABEL
/* A project's rights, as the original platform read them: who may list
 * (create) API_PROJECT_WORK in a namespace sees (edits) the project, and
 * its details are reviewed as API_PROJECT_DETAILS; both in AMB_GROUP. */
#define API_PROJECT_WORK AMB_SESSION_PLURAL
#define API_PROJECT_DETAILS AMB_SETTINGS_PLURAL
/* 1 if ns (a Namespace) is labelled API_MANAGED_LABEL=true. */
int api_is_project(const json_t *ns);
/* Whether project is a project (*managed; 0 for a missing namespace or a
 * name that is not a DNS label), read with the daemon's credentials; a yes
 * is cached for auth_ttl. Other codes when it cannot be told. Any thread. */
int api_project_lookup(struct api_auth *auth, const char *project, int *managed,
                       struct amb_error *err);
/* Forgets the cached answer for project (deleted). */
void api_project_forget(struct api_auth *auth, const char *project);
/* 0 if project is a project; else -1 after replying 404 ('project "x" not
 * found', alike for a missing and an unmanaged namespace) or the error.
 * Call after the caller's access review, so the 404 tells nothing to a
 * caller without rights. */
int api_project_check(struct api_req *r, const char *project);
/* The same, answering the namespace read now (new ref), or NULL. */
json_t *api_project_get(struct api_req *r, const char *project);
/* The gate of /api/projects/<project>/... requests. arm: after routing
 * (server.c). reviewed: after an access review in ns allowed (api_require).
 * enter: before a Kubernetes context goes to a route that made no review
 * (api_ctx, a plugin's ctx, api_daemon_ctx); a caller who may not list
 * sessions there gets the 403 of that review, not the 404. Both 0 to go
 * on, or -1 after replying. */
void api_gate_arm(struct api_req *r);
int api_gate_reviewed(struct api_req *r, const char *ns);
int api_gate_enter(struct api_req *r);

/* ---- projects (routes_projects.c, routes_permissions.c) ---- */
/* The label of the RoleBindings that /permissions lists and manages. */
#define API_PERMISSION_LABEL "ambient-code.io/permission"
/* A ctx with the daemon's own credentials (free with api_host->ctx_free),
 * or NULL after replying (503 when none are configured). */
struct amb_ctx *api_daemon_ctx(struct api_req *r);
/* A subject (user or group name) as a piece of an object name: the name if
 * it is a DNS label of at most 40, else "<readable>-<fnv1a 8 hex>". out has
 * API_SUBJECT_PART_MAX bytes. */
#define API_SUBJECT_PART_MAX 48
void api_subject_part(const char *subject, char *out, size_t len);
/* A RoleBinding subject for type "user" or "group" (new ref): User, Group,
 * or ServiceAccount for a user "system:serviceaccount:NS:NAME". */
json_t *api_rbac_subject(const char *type, const char *name);

/* Rewrites the "field" and "message" of each of details ([{...}]) with
 * words (api_words, a shape's). */
void api_reword(json_t *details, void (*words)(const char *text, char *out, size_t len));
/* Replies {"error": "<field>: <message>", "details": [{"field","message"}]}. */
void api_reply_field(struct api_req *r, int status, const char *field, const char *message);
/* The same for several: details ([{"field", "message"}], stolen) as they
 * are, the error prefix (may be NULL) and then each "field: message",
 * joined with "; " (cut at 1 KiB). */
void api_reply_fields(struct api_req *r, int status, const char *prefix, json_t *details);
/* GET of one object with ctx: 0 with *out (new ref), or -1 after replying
 * the error. With missing_ok, a missing object is 0 with *out NULL. */
int api_read_object(struct api_req *r, struct amb_ctx *ctx, const struct amb_resource *res,
                    const char *ns, const char *name, int missing_ok, json_t **out);

/* ---- wording (wording.c) ---- */
/* msg, a Kubernetes error message, in Ambient's words ('namespaces "p" not
 * found (HTTP 404 NotFound)' is 'project "p" not found'), into out. */
void api_words(const char *msg, char *out, size_t len);
/* What a user calls resource of group: "session" (one) or "sessions";
 * "<resource>.<group>" for one Ambient has no word for. */
void api_noun(const char *resource, const char *group, int one, char *out, size_t len);

/* ---- names (names.c) ---- */
/* The :project path parameter if it is a DNS label, the :name one if it is
 * a DNS subdomain; else they reply 400 naming it and return NULL. Call
 * before any Kubernetes call, so no "..", "/" or upper case reaches a URL. */
const char *api_project_param(struct api_req *r);
const char *api_name_param(struct api_req *r);
/* The same check of any :param as a DNS subdomain. */
const char *api_checked_name(struct api_req *r, const char *param);
#endif
