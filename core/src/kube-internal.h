/* kube-internal.h — the Kubernetes API client on libcurl.
 *
 * Blocking calls (any thread; worker threads use them) share a pool of curl
 * handles so connections are reused, a token bucket for client-side QPS, and
 * a token source that re-reads the service-account token file when it
 * rotates. Errors come back as AMB_E* codes with the server's Status message
 * kept for the caller. Watches and informer lists run on the event loop
 * instead (kube-async-internal.h).
 *
 * Retry-After: when the server answers 429 or 5xx with a wait (the header,
 * or a Status's details.retryAfterSeconds), a blocking call does not sleep
 * it out: it fails at once with the wait in err->retry_after_s, because its
 * thread serves other work (a reconcile worker, an api loop). Whoever
 * retries waits: the work queue holds the key, the informer and leader
 * election delay their next attempt, the api role answers its caller with a
 * Retry-After of its own. Only ambd_kube_watch, which runs on a plugin's
 * own thread, waits inside the call. */
#ifndef AMBD_KUBE_INTERNAL_H
#define AMBD_KUBE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ambient/plugin.h"

/* The largest response body accepted (a 500-item list page of big objects
 * stays far below it). */
#define AMBD_KUBE_MAX_BODY (64u * 1024 * 1024)

struct ambd_kube_config {
    char *server;     /* "https://host:port"; http only for loopback */
    char *token_file; /* re-read when it changes; NULL for none */
    char *token;      /* a fixed token, used when token_file is NULL */
    char *ca_file;    /* CA bundle for https; NULL = system store */
    double qps;       /* client-side rate; <= 0 disables the limiter */
    int burst;
    long timeout_ms;  /* per blocking request */
};

/* In-cluster settings: KUBERNETES_SERVICE_HOST/PORT and the service-account
 * files under dir (NULL = /var/run/secrets/kubernetes.io/serviceaccount). */
int ambd_kube_config_in_cluster(struct ambd_kube_config *c, const char *dir,
                                struct amb_error *err);
void ambd_kube_config_clear(struct ambd_kube_config *c);
/* Checks server is https, or http on a loopback address. */
int ambd_kube_check_server(const char *server, struct amb_error *err);

struct ambd_kube;

/* Copies config. */
int ambd_kube_new(const struct ambd_kube_config *config, struct ambd_kube **out,
                  struct amb_error *err);
void ambd_kube_free(struct ambd_kube *k);
const char *ambd_kube_server(const struct ambd_kube *k);

/* The bearer token to send now (re-reads the file if it changed or a minute
 * passed). Caller frees. NULL when the client has no token. */
char *ambd_kube_token(struct ambd_kube *k);
/* Forces a re-read on the next ambd_kube_token (after a 401). */
void ambd_kube_token_stale(struct ambd_kube *k);

/* Applies the common options (TLS, CA, protocols, no signals) to an easy
 * handle; used by the blocking and the event-loop paths alike. */
void ambd_kube_setup_handle(struct ambd_kube *k, CURL *h);
/* Builds the header list for a request: Accept, Authorization (user_token
 * or the client's own), Content-Type when given. */
struct curl_slist *ambd_kube_headers(struct ambd_kube *k, const char *user_token,
                                     const char *content_type);

/* The longest Retry-After honoured, in seconds: a longer one (a proxy's
 * "come back tomorrow") is taken as this, so a key or a cache is never
 * parked for longer. */
#define AMBD_KUBE_MAX_RETRY_AFTER_S 60

/* The wait a Retry-After header value asks for, in whole seconds: delta
 * seconds ("2"), or an HTTP-date (any of RFC 9110's three forms) counted
 * from now (the wall clock), 0 once it is past; at most
 * AMBD_KUBE_MAX_RETRY_AFTER_S. -1 for NULL or anything else. */
long ambd_kube_retry_after(const char *value, time_t now);
/* The Retry-After of the response h last received, as above; -1 if none. */
long ambd_kube_retry_after_of(CURL *h);

/* Maps a response to an AMB_E* code, filling err from its Status body (the
 * server's message). 2xx returns AMB_OK and leaves err alone. For 429 and
 * 5xx, err->retry_after_s gets the wait the server asked for: retry_after
 * (the header's, as ambd_kube_retry_after_of; -1 none), else the Status's
 * details.retryAfterSeconds (bounded the same way). */
int ambd_kube_status_error(long http_status, const char *body, size_t len, long retry_after,
                           struct amb_error *err);

/* Observer of every request, for metrics: verb ("GET", "LIST", "WATCH",
 * "POST", ...), HTTP status (0 for a transport error) and the answer's
 * Retry-After (as ambd_kube_retry_after_of; -1 none). Any thread. */
typedef void (*ambd_kube_observer)(void *ud, const char *verb, long http_status,
                                   long retry_after);
void ambd_kube_set_observer(struct ambd_kube *k, ambd_kube_observer fn, void *ud);
void ambd_kube_observe(struct ambd_kube *k, const char *verb, long http_status,
                       long retry_after);

struct ambd_kube_request {
    const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;         /* "/apis/g/v/namespaces/ns/plural/name" */
    const char *query;        /* without '?', or NULL */
    const char *content_type; /* for bodies; NULL = application/json */
    const char *body;
    size_t body_len;
    const char *user_token;   /* the caller's token instead of ours (api role) */
    const char *verb;         /* for metrics; NULL = method */
};

struct ambd_kube_response {
    long status;
    char *body; /* NUL-terminated; caller frees */
    size_t body_len;
};

/* Blocking request. Returns the mapped code (AMB_OK for 2xx); resp is
 * filled whenever the server answered. A 401 with the token file re-reads
 * it and tries once more; nothing else is retried here: a 429 or 5xx that
 * asks for a wait fails at once with it in err->retry_after_s and in this
 * thread's throttle (below). */
int ambd_kube_request(struct ambd_kube *k, const struct ambd_kube_request *req,
                      struct ambd_kube_response *resp, struct amb_error *err);
void ambd_kube_response_clear(struct ambd_kube_response *resp);

/* This thread's throttle: the latest time (CLOCK_MONOTONIC) before which the
 * server asked not to be asked again, over every blocking request this
 * thread made since the last reset. A reconcile worker resets it before a
 * reconcile and reads it after, so the key is held for its Retry-After
 * whatever the plugin made of the errors it got. */
void ambd_kube_thread_throttle_reset(void);
/* Milliseconds left until that time (rounded up); 0 when none is pending. */
uint64_t ambd_kube_thread_throttle_ms(void);

/* A watch as one blocking call (a plugin's own thread): on_event gets each
 * event (type "ADDED", "MODIFIED", "DELETED", "BOOKMARK"; obj borrowed),
 * and about twice a second type NULL while idle; non-zero ends the watch
 * (AMB_OK). Otherwise it returns when the stream ends: AMB_OK when the
 * server closed it, AMB_EGONE for a too-old resourceVersion, other codes
 * for errors. query is appended after watch=1 ("resourceVersion=5&...").
 * A request the server throttles (429/5xx with Retry-After) is made again
 * after that wait, the idle calls going on meanwhile, up to 3 times; a
 * fourth returns its error with the wait in err->retry_after_s. */
typedef int (*ambd_kube_watch_fn)(void *ud, const char *type, const json_t *obj);
int ambd_kube_watch(struct ambd_kube *k, const char *path, const char *query,
                    const char *user_token, ambd_kube_watch_fn on_event, void *ud,
                    struct amb_error *err);

/* Resource paths: "/api/v1" or "/apis/G/V", then namespaces/NS when ns is
 * non-empty and the resource is namespaced, then PLURAL, /NAME, /SUB.
 * Names and namespaces are validated as DNS subdomains. Caller frees. */
char *ambd_kube_path(const struct amb_resource *res, const char *ns, const char *name,
                     const char *subresource);

/* Makes this thread's following JSON verbs (below) send token instead of
 * the client's own; NULL restores the client's. */
void ambd_kube_set_thread_token(const char *token);

/* JSON verbs on top of ambd_kube_request. out parameters are new refs
 * (may be NULL when the caller does not want the result). */
int ambd_kube_get(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                  const char *name, json_t **out, struct amb_error *err);
int ambd_kube_create(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                     const json_t *obj, json_t **out, struct amb_error *err);
/* PUT of obj (its metadata.name and resourceVersion); subresource "status"
 * or NULL. */
int ambd_kube_update(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                     const json_t *obj, const char *subresource, json_t **out,
                     struct amb_error *err);
/* JSON merge patch (RFC 7386). */
int ambd_kube_patch(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                    const char *name, const json_t *patch, const char *subresource,
                    json_t **out, struct amb_error *err);
/* propagation: "Background", "Foreground", "Orphan" or NULL. AMB_ENOTFOUND
 * when already gone. */
int ambd_kube_delete(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                     const char *name, const char *propagation, struct amb_error *err);
/* One list request; query like "labelSelector=a%3Db&limit=500". */
int ambd_kube_list(struct ambd_kube *k, const struct amb_resource *res, const char *ns,
                   const char *query, json_t **out, struct amb_error *err);

#endif
