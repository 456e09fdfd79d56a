/*
 * ambient/plugin.h — the plugin ABI of ambientd.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * AMB_PLUGIN_ENTRY, returning a static descriptor (struct amb_plugin).
 * ambientd checks the descriptor's ABI version, then calls init() with the
 * host table (struct amb_host): the only way a plugin reaches the host.
 * From init() the plugin reads its own config group and registers the kinds,
 * forges and routes it provides. See ABI.md next to this file for what may
 * change between versions, and docs/plugins.md for a walk-through.
 *
 * Conventions:
 *  - Functions return 0 (AMB_OK) or a negative AMB_E* code; results come
 *    back through out parameters.
 *  - Pointers handed to the host are borrowed for the call: the host copies
 *    what it keeps. json_t arguments say "borrowed", "new ref" or "stolen".
 *  - Every struct a plugin passes in starts with its own size (set it to
 *    sizeof the struct), so the host knows which members the plugin knew of.
 *  - The host table only grows at the end; test for a member newer than
 *    1.0 with AMB_HAS(host, member) before calling it.
 *  - Each host function's comment says from which thread it may be called.
 */
#ifndef AMBIENT_PLUGIN_H
#define AMBIENT_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AMB_ABI_MAJOR 1
#define AMB_ABI_MINOR 5

#if defined(__GNUC__)
#define AMB_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define AMB_EXPORT __attribute__((visibility("default")))
#else
#define AMB_PRINTF(fmt, args)
#define AMB_EXPORT
#endif
/* GCC checks the NULL that ends host->log's key/value list; clang accepts
 * the attribute on functions only, not on function pointers. */
#if defined(__GNUC__) && !defined(__clang__)
#define AMB_SENTINEL __attribute__((sentinel))
#else
#define AMB_SENTINEL
#endif

/* Error codes. Never renumbered; new codes are added at the end. */
enum amb_status {
    AMB_OK = 0,
    AMB_EINVAL = -1,        /* invalid argument or input (a field is named) */
    AMB_ENOMEM = -2,        /* out of memory */
    AMB_ENOTFOUND = -3,     /* no such object, key or file */
    AMB_EEXIST = -4,        /* already exists */
    AMB_ECONFLICT = -5,     /* stale resourceVersion or concurrent change */
    AMB_EGONE = -6,         /* resourceVersion expired (HTTP 410) */
    AMB_EUNAUTHORIZED = -7, /* no or bad credentials (HTTP 401) */
    AMB_EFORBIDDEN = -8,    /* not allowed (HTTP 403) */
    AMB_ESTATE = -9,        /* not allowed now, e.g. registering after init */
    AMB_EIO = -10,          /* I/O or transport error */
    AMB_ETIMEDOUT = -11,    /* timed out */
    AMB_EUNAVAILABLE = -12, /* server unavailable or overloaded; retry later */
    AMB_EUNSUPPORTED = -13, /* not supported by this host or plugin */
    AMB_ETOOLARGE = -14,    /* input larger than allowed */
    AMB_EINTERNAL = -15,    /* bug: should not happen */
};

/* Log levels, most severe first. */
enum amb_log_level {
    AMB_LOG_ERROR = 0,
    AMB_LOG_WARN = 1,
    AMB_LOG_INFO = 2,
    AMB_LOG_DEBUG = 3,
};

/* The label set_controller_ref puts on children; the controller watches
 * only child objects that carry it (never a cluster's other Jobs or Pods). */
#define AMB_MANAGED_BY_LABEL "app.kubernetes.io/managed-by"
#define AMB_MANAGED_BY_VALUE "ambient"
/* The annotation the api role puts on every object created through REST:
 * the authenticated user who created it (a client cannot choose it there;
 * objects written with kubectl carry what their writer put). */
#define AMB_CREATED_BY_ANNOTATION "ambient-code.io/created-by"

/* Opaque host objects. */
struct amb_module; /* this plugin as loaded by the host ("self") */
struct amb_error;  /* error being built for the caller: code, message, causes */
struct amb_ctx;    /* one callback invocation; later host members take it */
struct amb_request; /* one HTTP request served by a route */
struct amb_create_shape; /* since 1.5: how a create body of a kind's own shape is answered */

/* ------------------------------------------------------------------------
 * Kinds: a Kubernetes resource the plugin validates, defaults and reconciles.
 * ------------------------------------------------------------------------ */

/* A resource type by group/version/kind/plural. group is "" for core/v1.
 * Frozen: it describes a resource completely and never grows, so it carries
 * no size and may be embedded and put in arrays. */
struct amb_resource {
    const char *group;
    const char *version;
    const char *kind;
    const char *plural;
    int namespaced; /* 1 for namespaced, 0 for cluster-scoped */
};

/*
 * validate: check obj (borrowed); old (borrowed) is the stored object on
 *   update, NULL on create. Report every violation with error_set naming the
 *   field, and return AMB_EINVAL. Called from any worker or api thread.
 * set_defaults: fill unset fields of obj (borrowed, modified in place).
 * reconcile: bring the world in line with obj (borrowed). Return AMB_OK when
 *   done, a positive number of milliseconds to be called again after that
 *   long, or a negative AMB_E* code to be retried with backoff.
 * finalize: clean up before obj is deleted; same return values as reconcile.
 *   Only called when the kind names a finalizer.
 * user_data is what was passed to register_kind.
 */
typedef int (*amb_validate_fn)(void *user_data, struct amb_ctx *ctx, const json_t *obj,
                               const json_t *old, struct amb_error *err);
typedef int (*amb_defaults_fn)(void *user_data, struct amb_ctx *ctx, json_t *obj,
                               struct amb_error *err);
typedef int (*amb_reconcile_fn)(void *user_data, struct amb_ctx *ctx, const json_t *obj,
                                struct amb_error *err);

struct amb_kind {
    uint32_t size; /* sizeof(struct amb_kind) */
    struct amb_resource resource;
    /* URL segment of the generic REST routes (/api/projects/:project/<this>);
     * NULL means resource.plural. */
    const char *rest_plural;
    /* Finalizer the host adds to every object of this kind; NULL for none. */
    const char *finalizer;
    /* Child resources whose objects carry an ownerReference to ours: their
     * changes enqueue the owner. */
    const struct amb_resource *owns;
    size_t n_owns;
    amb_validate_fn validate;      /* may be NULL */
    amb_defaults_fn set_defaults;  /* may be NULL */
    amb_reconcile_fn reconcile;    /* may be NULL (validation-only kind) */
    amb_reconcile_fn finalize;     /* NULL unless finalizer is set */

    /* ---- since 1.5 (read only when size covers them) ---- */
    uint32_t flags; /* AMB_KIND_* */
    /* Other body shapes accepted by the generic create route
     * (POST /api/projects/:project/<rest plural>), on the api's thread: if
     * body (borrowed) is in a shape of the kind's own, set *obj (new ref) to
     * the object to create and *shape (static, may stay NULL) to how it is
     * answered, and return 1; return 0 to leave body to the generic create
     * (a whole object); return a negative AMB_E* code after answering req
     * (e.g. a 422 naming unknown keys). The generic create then runs as for
     * a whole object. NULL: whole objects only. */
    int (*create_shape)(void *user_data, struct amb_request *req, const json_t *body,
                        json_t **obj, const struct amb_create_shape **shape);
    /* With AMB_KIND_EVENT_LOG: an object's events may be posted by the
     * service account "<event_poster_prefix><object name>" of its namespace
     * (the token its workload runs with), e.g. "ambient-session-". */
    const char *event_poster_prefix;
};

/* Since 1.5: amb_kind.flags. */
enum amb_kind_flags {
    /* Each object has an event log on the api's live service, under
     * /api/projects/:project/<rest plural>/:name/ (ws, events, messages):
     * its poster's events, users' messages and its status changes, kept
     * until the object is deleted. Needs event_poster_prefix. */
    AMB_KIND_EVENT_LOG = 1u << 0,
};

/* Since 1.5: how the api answers a create made from a kind's own body shape
 * (amb_kind.create_shape), so its answers speak the caller's words. */
struct amb_create_shape {
    uint32_t size; /* sizeof(struct amb_create_shape) */
    /* The 201 body for the stored object (borrowed), a new ref; NULL (the
     * member or its result): the stored object. */
    json_t *(*created)(const json_t *stored);
    /* text — a field of the object ("spec.prompt") or a message naming some
     * — with the fields as the caller named them, into out (len bytes). The
     * object's name was made for the caller, so a 422 does not show it.
     * NULL: the object's own words. */
    void (*words)(const char *text, char *out, size_t len);
};

/* ------------------------------------------------------------------------
 * Forges: a git hosting service (GitHub, GitLab, ...).
 * JSON shapes are documented in docs/forges.md; all out parameters are
 * new references the host owns.
 * ------------------------------------------------------------------------ */
struct amb_forge {
    uint32_t size; /* sizeof(struct amb_forge) */
    const char *name; /* "github", "gitlab" */
    /* 1 if this forge serves url, 0 if not. Must not block. */
    int (*match_url)(void *user_data, const char *url);
    /* {"host", "owner", "name", "api_url", "web_url"} for a repository URL. */
    int (*parse_repo)(void *user_data, struct amb_ctx *ctx, const char *url, json_t **out,
                      struct amb_error *err);
    /* {"username", "password"} for cloning/pushing repo with token. */
    int (*clone_credentials)(void *user_data, struct amb_ctx *ctx, const json_t *repo,
                             const char *token, json_t **out, struct amb_error *err);
    /* Fork repo into the token's account; out is the fork as parse_repo shows it. */
    int (*fork)(void *user_data, struct amb_ctx *ctx, const json_t *repo, const char *token,
                json_t **out, struct amb_error *err);
    /* Open a pull/merge request: req {"repo","head","base","title","body"};
     * out {"url","number"}. */
    int (*open_pull_request)(void *user_data, struct amb_ctx *ctx, const json_t *req,
                             const char *token, json_t **out, struct amb_error *err);
    /* Verify a webhook delivery: headers is an object of lower-case names. */
    int (*verify_webhook)(void *user_data, const json_t *headers, const char *body,
                          size_t body_len, const char *secret, struct amb_error *err);
};

/* ------------------------------------------------------------------------
 * Routes: HTTP handlers the api plugin serves. Request/response accessors
 * are host members added by the api role.
 * ------------------------------------------------------------------------ */
enum amb_route_flags {
    AMB_ROUTE_PUBLIC = 1u << 0, /* no bearer token required */
};

typedef int (*amb_route_fn)(void *user_data, struct amb_request *req);

/* Since 1.3: what a route handler reads its request with and answers it
 * with: const struct amb_request_ops *rq = host->request_ops();
 * rq->param(req, "name"). Calls are valid only during the handler call, on
 * its thread; strings are borrowed for that call. The handler returns
 * AMB_OK after answering; a negative AMB_E* code without an answer is
 * answered for it (400, 401, 403, 404, 409, 500, ...), and AMB_OK without
 * one is 204. Check rq->size before using a member added later. */
struct amb_request_ops {
    uint32_t size; /* sizeof(struct amb_request_ops) of the server */
    const char *(*method)(struct amb_request *req); /* "GET", ... */
    const char *(*path)(struct amb_request *req);   /* decoded, no query */
    const char *(*param)(struct amb_request *req, const char *name); /* ":name" */
    const char *(*query)(struct amb_request *req, const char *name); /* decoded */
    const char *(*header)(struct amb_request *req, const char *name); /* any case */
    /* The body as a JSON object (new ref). AMB_EINVAL when it is not one
     * (or not application/json), AMB_ETOOLARGE past the server's limit;
     * the reason is in err. */
    int (*body)(struct amb_request *req, json_t **out, struct amb_error *err);
    /* The caller's user name, NULL when the request carries no token. */
    const char *(*user)(struct amb_request *req);
    /* A context that calls Kubernetes as the caller (the kube_* members),
     * owned by the request; NULL without a token, and NULL after an answer
     * (404, or the 403 of a review) on a route under
     * /api/projects/<project>/ whose <project> is not a managed namespace. */
    struct amb_ctx *(*ctx)(struct amb_request *req);
    /* Answers with status and body (stolen; NULL for none). Only the first
     * answer counts. */
    int (*respond)(struct amb_request *req, int status, json_t *body);
    /* Answers an error: the HTTP status of code, err's message and causes as
     * {"error", "details"}; err may be NULL. */
    int (*respond_error)(struct amb_request *req, int code, const struct amb_error *err);
    /* Since 1.4: the body's exact bytes (borrowed for the handler call;
     * *len 0 and *data "" when there is none), for checking a signature
     * over them. AMB_ETOOLARGE past the server's limit. */
    int (*raw_body)(struct amb_request *req, const char **data, size_t *len,
                    struct amb_error *err);

    /* ---- since 1.5: what the api's own routes do, for a kind's routes ----
     * Each returns AMB_OK to go on, or a negative AMB_E* code after
     * answering the request itself (the handler then just returns it). */
    /* The path parameter ":name" checked by Kubernetes' name rules before
     * it can reach a URL: "project" must be a DNS-1123 label, any other a
     * DNS-1123 subdomain; else 400 naming it. */
    int (*checked_param)(struct amb_request *req, const char *name, const char **out);
    /* The body as a JSON object (new ref), answering 415 (not
     * application/json; with merge_patch, application/merge-patch+json is
     * also taken), 413 or 400 (malformed, with line and column) itself. */
    int (*body_object)(struct amb_request *req, int merge_patch, json_t **out);
    /* A SelfSubjectAccessReview of the caller's token (cached): may the
     * caller <verb> <resource>.<group> [name] in ns? 401 without a token or
     * with a rejected one, 403 naming the user, verb and resource, and —
     * under /api/projects/<project>/ — 404 when ns is not a project.
     * name may be NULL (any). */
    int (*review)(struct amb_request *req, const char *verb, const char *group,
                  const char *resource, const char *ns, const char *name);
    /* GET of one object with ctx (rq->ctx's): the error answered in
     * Ambient's words ('session "x" not found'). With missing_ok a missing
     * object is AMB_OK with *out NULL. */
    int (*get_object)(struct amb_request *req, struct amb_ctx *ctx,
                      const struct amb_resource *res, const char *ns, const char *name,
                      int missing_ok, json_t **out);
    /* Creates obj (borrowed; apiVersion, kind and metadata.namespace are
     * filled, status dropped, the creator annotated) in ns as the caller,
     * exactly as the generic create route of res's kind does: name check,
     * review (create), set_defaults, validate (422 naming each field),
     * kube_create. *stored is the stored object (new ref); nothing is
     * answered on success. */
    int (*create_object)(struct amb_request *req, const struct amb_resource *res,
                         const char *ns, json_t *obj, json_t **stored);
    /* Answers {"error": message, "details": details} (details stolen, NULL
     * for none). */
    int (*respond_message)(struct amb_request *req, int status, const char *message,
                           json_t *details);
    /* Answers {"error": "[prefix]field: message; ...", "details": details}
     * for details [{"field", "message"}] (stolen); prefix may be NULL. */
    int (*respond_fields)(struct amb_request *req, int status, const char *prefix,
                          json_t *details);
};


/* ------------------------------------------------------------------------
 * Since 1.4: HTTP a plugin makes through the host (host->http): libcurl with
 * TLS verified, a deadline, bounded retries and the host's metrics. Plain
 * http:// is refused unless the host is loopback (127.0.0.1, ::1,
 * localhost). Header values are never logged.
 * ------------------------------------------------------------------------ */
struct amb_http_request {
    uint32_t size;              /* sizeof(struct amb_http_request) */
    const char *method;         /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *url;
    const char *const *headers; /* "Name: value" strings ended by NULL; may be NULL */
    const char *body;           /* may be NULL */
    size_t body_len;
    unsigned timeout_ms;   /* each attempt, connect to last byte; 0: 30000 */
    size_t max_response;   /* body bytes kept, more is AMB_ETOOLARGE; 0: 8 MiB */
    unsigned max_retries;  /* more attempts after a transport error, a 429 or a
                              502/503/504, with backoff (at most 5) */
    unsigned max_wait_s;   /* a Retry-After longer than this is not waited
                              for: the answer comes back; 0: 60 */
};

struct amb_http_response {
    long status;      /* the HTTP status of the last attempt */
    json_t *headers;  /* lower-case name -> value (a repeated header: the last) */
    char *body;       /* body_len bytes, NUL-terminated */
    size_t body_len;
};

struct amb_route {
    uint32_t size;       /* sizeof(struct amb_route) */
    const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *pattern; /* "/api/projects/:project/things/:name/stop" */
    amb_route_fn handler;
    uint32_t flags;      /* AMB_ROUTE_* */
};

/* ------------------------------------------------------------------------
 * The host table. Append-only: members are never moved or removed.
 * ------------------------------------------------------------------------ */
struct amb_host {
    uint32_t abi_major; /* AMB_ABI_MAJOR of the host */
    uint32_t abi_minor; /* AMB_ABI_MINOR of the host */
    uint32_t size;      /* sizeof(struct amb_host) of the host */

    /* ---- 1.0: logging (any thread) ---- */
    /* One log line: msg, then key/value pairs of strings ended by NULL.
     * Values are redacted by the sink like everything else. */
    void (*log)(struct amb_module *self, int level, const char *msg, ...) AMB_SENTINEL;
    /* One log line from a printf format, no fields. */
    void (*logf)(struct amb_module *self, int level, const char *fmt, ...) AMB_PRINTF(3, 4);
    /* 1 if a line at level would be written now (levels change at runtime). */
    int (*log_enabled)(struct amb_module *self, int level);
    /* Redact this value from every later log line, whoever logs it, if it
     * looks like a secret: 8 bytes to 8 KiB, two of lower case, upper case
     * and digits, and 32 bits of entropy (so a word a user registers cannot
     * blank out ordinary text). The host keeps up to 4096 values (1 MiB)
     * and then refuses new ones; none is ever forgotten to make room. */
    void (*log_secret)(struct amb_module *self, const char *value);

    /* ---- 1.0: memory (any thread) ---- */
    /* Zeroed allocation; NULL on failure. */
    void *(*alloc)(size_t n);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p); /* NULL is fine */
    char *(*strdup)(const char *s); /* NULL in, NULL out */

    /* ---- 1.0: the plugin's own config group (init thread, during init) ----
     * path is relative to the plugin's group: "listen", "tls.cert_file",
     * "hosts.[2]". Returns AMB_ENOTFOUND when absent (out untouched), or
     * AMB_EINVAL for a value of another type, which also fails the load with
     * the file and line. A key of the group that the plugin never asked for
     * by the end of init is reported as unknown and fails the load.
     * Strings are borrowed until the plugin is unloaded. */
    int (*config_string)(struct amb_module *self, const char *path, const char **out);
    int (*config_int)(struct amb_module *self, const char *path, long long *out);
    int (*config_bool)(struct amb_module *self, const char *path, int *out);
    int (*config_double)(struct amb_module *self, const char *path, double *out);
    /* Number of elements of a list, array or group at path. */
    int (*config_count)(struct amb_module *self, const char *path, size_t *out);

    /* ---- 1.0: registration (init thread, only during init) ----
     * The host copies the struct and its strings. Ownership of user_data
     * passes to the host in every case: free_user_data(user_data) is called
     * exactly once, when the plugin is unloaded (before fini), or at once if
     * registration fails. Failing registration fails the plugin's load. */
    int (*register_kind)(struct amb_module *self, const struct amb_kind *kind, void *user_data,
                         void (*free_user_data)(void *));
    int (*register_forge)(struct amb_module *self, const struct amb_forge *forge,
                          void *user_data, void (*free_user_data)(void *));
    int (*register_route)(struct amb_module *self, const struct amb_route *route,
                          void *user_data, void (*free_user_data)(void *));

    /* ---- 1.0: errors (any thread) ---- */
    /* Record an error on err: code, the field it concerns (NULL if none) and
     * a message. Calling it again adds another cause (one per bad field).
     * Returns code, so "return host->error_set(err, AMB_EINVAL, ...)" reads. */
    int (*error_set)(struct amb_error *err, int code, const char *field, const char *fmt, ...)
        AMB_PRINTF(4, 5);
    /* Static text for an AMB_E* code ("invalid argument"); never NULL. */
    const char *(*strerror)(int code);

    /* ---- 1.1: Kubernetes access, inside kind callbacks (worker threads) ----
     * ctx is the callback's own; with a NULL or foreign ctx these return
     * AMB_ESTATE. res names the resource; ns is "" for cluster-scoped ones.
     * json_t *obj arguments are borrowed; *out results are new refs (pass
     * NULL when not wanted). Failures carry the API server's message in err
     * and map its status: 404 AMB_ENOTFOUND, 409 AMB_ECONFLICT or
     * AMB_EEXIST, 422 AMB_EINVAL, 403 AMB_EFORBIDDEN, 5xx AMB_EUNAVAILABLE. */
    /* From the controller's cache when the resource is watched (a miss in a
     * label-filtered child cache falls back to the API), else from the API. */
    int (*kube_get)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                    const char *name, json_t **out, struct amb_error *err);
    /* A JSON array; label_selector "a=b,c=d" or NULL. From the cache for a
     * kind, and for a child resource when the selector includes the
     * set_controller_ref label (AMB_MANAGED_BY_LABEL=AMB_MANAGED_BY_VALUE);
     * otherwise from the API. */
    int (*kube_list)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                     const char *label_selector, json_t **out, struct amb_error *err);
    int (*kube_create)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                       const json_t *obj, json_t **out, struct amb_error *err);
    /* PUT: obj carries metadata.name and the resourceVersion it was read at. */
    int (*kube_update)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                       const json_t *obj, json_t **out, struct amb_error *err);
    /* JSON merge patch (RFC 7386). */
    int (*kube_patch)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                      const char *name, const json_t *patch, json_t **out,
                      struct amb_error *err);
    /* propagation: "Background", "Foreground", "Orphan" or NULL. Deleting
     * what is already gone returns AMB_OK. */
    int (*kube_delete)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                       const char *name, const char *propagation, struct amb_error *err);
    /* Writes the status of the object being reconciled through /status:
     * mutate(ud, obj) edits a fresh copy (return 0 to write, > 0 to skip the
     * write, < 0 to fail); on a conflict the object is read again and
     * mutate runs again (up to 5 times). *out is the stored object. */
    int (*update_status)(struct amb_ctx *ctx, int (*mutate)(void *ud, json_t *obj), void *ud,
                         json_t **out, struct amb_error *err);
    /* Sets condition `type` in obj's status.conditions (a list keyed by
     * type): status "True"/"False"/"Unknown", reason (CamelCase), message,
     * observedGeneration from metadata.generation; lastTransitionTime
     * changes only when status does. Returns 1 if anything changed, 0 if
     * not, < 0 on invalid input. Any thread. */
    int (*set_condition)(json_t *obj, const char *type, const char *status, const char *reason,
                         const char *message);
    /* Makes owner the controller of child: an ownerReference with
     * controller and blockOwnerDeletion true (owner needs apiVersion, kind,
     * metadata.name and uid), and the label that lets the controller watch
     * child. Any thread. */
    int (*set_controller_ref)(json_t *child, const json_t *owner);
    /* Records a Kubernetes Event about obj: type "Normal" or "Warning",
     * reason CamelCase. Failures are logged, not returned as fatal. */
    int (*emit_event)(struct amb_ctx *ctx, const json_t *obj, const char *type,
                      const char *reason, const char *message);
    /* Reconciles an object of a registered kind again after delay_ms (0 =
     * now); for the current object, return a positive delay instead. */
    int (*requeue)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                   const char *name, long delay_ms);

    /* ---- 1.2 ---- */
    /* From the controller's cache only, never the API: the cheap way for a
     * plugin to look up its own children. A kind's cache holds all its
     * objects; a child resource's cache only those carrying the label of
     * set_controller_ref, so AMB_ENOTFOUND there means "not ours" (an
     * unlabelled object of that name makes a later create fail with
     * AMB_EEXIST). AMB_EUNAVAILABLE before the cache has synced,
     * AMB_EUNSUPPORTED for a resource the controller does not watch. */
    int (*kube_get_cached)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                           const char *name, json_t **out, struct amb_error *err);

    /* ---- 1.3: the api role ---- */
    /* A context for Kubernetes calls made on a caller's behalf: the kube_*
     * members called with it go to the API server (never a cache) with
     * token as the bearer token, so Kubernetes RBAC judges the caller.
     * token NULL means the daemon's own credentials, for the few calls no
     * caller's token can serve (docs/architecture.md, "Who acts"). The
     * token is copied. AMB_EUNAVAILABLE when the config has no kube group
     * and ambientd runs outside a cluster. Kind callbacks (validate,
     * set_defaults) accept such a context. update_status and requeue refuse
     * it (AMB_ESTATE). Any thread; free with ctx_free. */
    int (*ctx_new)(struct amb_module *self, const char *token, struct amb_ctx **out,
                   struct amb_error *err);
    void (*ctx_free)(struct amb_ctx *ctx); /* NULL is fine; only ctx_new's */
    /* One page of a list as the API returns it: the List object with items
     * and metadata.continue. query in Kubernetes' syntax, already escaped
     * ("limit=50&continue=..."), or NULL. Always from the API. */
    int (*kube_list_page)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                          const char *query, json_t **out, struct amb_error *err);
    /* The registered kinds in load order, for the generic REST routes: the
     * host's copy of kind i and the user_data its callbacks take.
     * AMB_ENOTFOUND past the end. Complete only once every plugin's init has
     * run, so call it from start on. Any thread. */
    int (*kind_at)(struct amb_module *self, size_t i, const struct amb_kind **kind,
                   void **user_data);
    /* An error for calls a plugin makes on its own (outside callbacks, which
     * receive one). Any thread; NULL on allocation failure. */
    struct amb_error *(*error_new)(void);
    void (*error_free)(struct amb_error *err); /* NULL is fine */
    /* What err holds, as a new ref: {"code": AMB_E* code, "message": the
     * first cause, "causes": [{"field"?, "message"}]}, and
     * "retryAfterSeconds" when the Kubernetes API answered 429 or 5xx with a
     * Retry-After: don't make the call again sooner. The kube_* calls never
     * wait for it themselves (kube_watch excepted). */
    json_t *(*error_to_json)(const struct amb_error *err);
    /* The registered routes in load order, for the api role to serve: the
     * host's copy of route i and its user_data. AMB_ENOTFOUND past the end.
     * Complete from start on. Any thread. */
    int (*route_at)(struct amb_module *self, size_t i, const struct amb_route **route,
                    void **user_data);
    /* The server of routes (the api plugin) makes its request accessors
     * known, from its start; there is one server, so a second call is
     * AMB_EEXIST. ops must stay valid until the server's fini. */
    int (*serve_routes)(struct amb_module *self, const struct amb_request_ops *ops);
    /* The accessors of the request a route handler was given (see struct
     * amb_request_ops); NULL when no server runs. Any thread. */
    const struct amb_request_ops *(*request_ops)(void);
    /* A watch, blocking: call it from a thread of the plugin's own (never a
     * worker or a route handler). on_event gets each event — type "ADDED",
     * "MODIFIED", "DELETED" or "BOOKMARK", obj borrowed — and, about twice a
     * second while the stream is idle, type and obj NULL; returning
     * non-zero ends the watch with AMB_OK. Otherwise it returns when the
     * stream ends: AMB_OK when the server closed it (watch again from the
     * last resourceVersion seen), AMB_EGONE when that resourceVersion is too
     * old (list again), other codes for errors. query is Kubernetes' watch
     * query without watch=1 ("resourceVersion=5&allowWatchBookmarks=true&
     * timeoutSeconds=300"), or NULL. ns "" watches every namespace. Always
     * from the API, with ctx's credentials. A watch request Kubernetes
     * throttles (Retry-After) is made again after that wait, with the idle
     * calls going on meanwhile, up to 3 times; then its error comes back
     * with error_to_json's retryAfterSeconds. */
    int (*kube_watch)(struct amb_ctx *ctx, const struct amb_resource *res, const char *ns,
                      const char *query,
                      int (*on_event)(void *ud, const char *type, const json_t *obj), void *ud,
                      struct amb_error *err);

    /* ---- 1.4: forges and their HTTP ---- */
    /* The forge that serves url (the first registered whose match_url says
     * 1) and the user_data its callbacks take; by name: "github". Both are
     * borrowed until unload. AMB_ENOTFOUND when none. Complete from start
     * on; any thread. */
    int (*forge_for_url)(struct amb_module *self, const char *url, const struct amb_forge **forge,
                         void **user_data);
    int (*forge_by_name)(struct amb_module *self, const char *name,
                         const struct amb_forge **forge, void **user_data);
    /* One HTTP exchange (see struct amb_http_request). Any answer the
     * server gave, 4xx and 5xx included, is AMB_OK with *out set (free with
     * http_response_free); errors: AMB_EINVAL for a bad request (the field
     * named), AMB_EUNAVAILABLE when no answer came (connection, TLS),
     * AMB_ETIMEDOUT, AMB_ETOOLARGE. Blocks: call it from a worker, a route
     * handler or a thread of the plugin's own. Any thread. */
    int (*http)(struct amb_module *self, const struct amb_http_request *req,
                struct amb_http_response **out, struct amb_error *err);
    void (*http_response_free)(struct amb_http_response *resp); /* NULL is fine */
};

/* True if the host table has member m (a plugin built against a newer minor
 * must check before calling members added after 1.0). */
#define AMB_HAS(host, m) \
    ((host)->size >= offsetof(struct amb_host, m) + sizeof(((struct amb_host *)0)->m) && \
     (host)->m != NULL)

/* True if the request accessors rq (a server's, see struct
 * amb_request_ops) have member m: check before calling one added after 1.3. */
#define AMB_RQ_HAS(rq, m) \
    ((rq)->size >= offsetof(struct amb_request_ops, m) + \
                       sizeof(((struct amb_request_ops *)0)->m) && \
     (rq)->m != NULL)

/* ------------------------------------------------------------------------
 * The plugin descriptor and entry point.
 * ------------------------------------------------------------------------ */
struct amb_plugin {
    uint32_t abi_major; /* AMB_ABI_MAJOR the plugin was built against */
    uint32_t abi_minor; /* AMB_ABI_MINOR the plugin was built against */
    uint32_t size;      /* sizeof(struct amb_plugin) */
    const char *name;   /* [a-z][a-z0-9_-]*, at most 63 bytes; names the config group */
    const char *version;
    const char *description;
    /* Read config and register; *state is handed to start/stop/fini. On
     * failure return a negative code and describe it with error_set(err).
     * Also run by "ambientd --check-config", so it must not start work. */
    int (*init)(const struct amb_host *host, struct amb_module *self, void **state,
                struct amb_error *err);
    /* Start work once every plugin is initialised (NULL if none). Not run by
     * --check-config. Called on the main thread. */
    int (*start)(void *state, struct amb_error *err);
    /* Stop work started by start (NULL if none); in-flight work may finish. */
    void (*stop)(void *state);
    /* Release state; called in reverse load order, after stop. May be NULL. */
    void (*fini)(void *state);
};

/* Fill the version members of a descriptor. */
#define AMB_PLUGIN_HEADER AMB_ABI_MAJOR, AMB_ABI_MINOR, sizeof(struct amb_plugin)

#define AMB_PLUGIN_ENTRY amb_plugin_entry
#define AMB_PLUGIN_ENTRY_NAME "amb_plugin_entry"

/* The one symbol a plugin exports. Define it with AMB_DEFINE_PLUGIN. */
typedef const struct amb_plugin *(*amb_plugin_entry_fn)(void);

#define AMB_DEFINE_PLUGIN(descriptor)                                       \
    AMB_EXPORT const struct amb_plugin *AMB_PLUGIN_ENTRY(void);             \
    AMB_EXPORT const struct amb_plugin *AMB_PLUGIN_ENTRY(void) { return &(descriptor); }

#ifdef __cplusplus
}
#endif

#endif /* AMBIENT_PLUGIN_H */
