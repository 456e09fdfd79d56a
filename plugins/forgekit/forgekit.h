/* forgekit.h — what the forge plugins (github.so, gitlab.so) share: their
 * configured instances, repository URL parsing and matching, JSON calls
 * over host->http, constant-time comparison and secret files.
 *
 * A static library linked into each forge MODULE (hidden visibility: none
 * of it is exported). The URL functions are pure (no host), so the unit
 * test drives them directly. Every repository URL is untrusted: anything
 * that is not plainly a repository under a configured instance is refused
 * (see fk_url_parse). */
#ifndef AMBIENT_FORGEKIT_H
#define AMBIENT_FORGEKIT_H

#include <stddef.h>

#include <ambient/plugin.h>

#define FK_MAX_URL 2048        /* bytes of a repository or instance URL */
#define FK_MAX_HOST 253        /* a DNS name */
#define FK_MAX_PATH 1024       /* bytes of a repository path (owner/name) */
#define FK_MAX_SEGMENTS 20     /* path segments (GitLab subgroups nest) */
#define FK_MAX_INSTANCES 32    /* entries of a forge's instances list */
#define FK_MAX_SECRET 16384    /* bytes of a secret file (a PEM key fits) */

/* The plugin as the host knows it: every host call goes through these. */
struct fk_env {
    const struct amb_host *host;
    struct amb_module *self;
};

/* ---- URLs ---- */

enum fk_scheme { FK_HTTPS, FK_HTTP, FK_SSH };

/* A URL taken apart: scheme, host, port (0: the scheme's default) and the
 * path without its leading '/', trailing '/' or final ".git". */
struct fk_url {
    enum fk_scheme scheme;
    char host[FK_MAX_HOST + 1]; /* lower-cased */
    unsigned port;
    char path[FK_MAX_PATH + 1];
    size_t n_segments;
    int has_user; /* a user name came before '@' */
};

/* Parses https://host[:port]/path, http://..., ssh://[user@]host[:port]/path
 * and scp-like user@host:path. 0, or -1 with *why saying what is wrong:
 * a password in the userinfo, '%' anywhere (no encoded slashes or dots),
 * '.', '..', '.git' or empty segments, a query or fragment, control characters,
 * bytes outside [A-Za-z0-9._-] in a segment, a segment starting with '-',
 * a host that is not a plain DNS name or IPv4 address. */
int fk_url_parse(const char *url, struct fk_url *out, const char **why);

/* ---- instances ---- */

/* One configured forge instance: repository URLs under url are its own. */
struct fk_instance {
    const char *url;     /* as configured, borrowed from the config */
    char api_url[FK_MAX_URL + 1]; /* no trailing '/' */
    size_t index;        /* in the instances list, for the forge's own keys */
    struct fk_url base;  /* url parsed; base.path is the path prefix ("" for none) */
    char web_base[FK_MAX_URL + 1]; /* scheme://host[:port][/prefix], no trailing '/' */
};

struct fk_instances {
    struct fk_instance *v;
    size_t n;
};

/* Fills inst from url (borrowed for inst's life) and api_url (copied). 0,
 * or -1 with *why. */
int fk_instance_set(struct fk_instance *inst, const char *url, const char *api_url,
                    const char **why);

/* Reads `instances` ({url, api_url} each) of the plugin's group; without
 * the list, one instance of default_url and default_api_url. The forge
 * reads its other keys per instance itself with fk_instance_key. */
int fk_instances_read(const struct fk_env *env, const char *default_url,
                      const char *default_api_url, struct fk_instances *out,
                      struct amb_error *err);
void fk_instances_free(const struct fk_env *env, struct fk_instances *in);

/* "instances.[i].key" for host->config_*; buf of at least 64 bytes. */
const char *fk_instance_key(char *buf, size_t len, size_t i, const char *key);

/* The instance that serves url (a parsed URL): same host; for http(s) the
 * same scheme and port too (ssh may use any port); the path inside the
 * instance's prefix with at least min_segments and at most max_segments
 * after it. rest gets the path after the prefix. NULL when none. */
const struct fk_instance *fk_instance_match(const struct fk_instances *in,
                                            const struct fk_url *url, size_t min_segments,
                                            size_t max_segments, const char **rest);

/* ---- repositories ---- */

/* A repository of an instance: path is "owner/name" (GitLab:
 * "group/sub/name"). */
struct fk_repo {
    const struct fk_instance *inst;
    char path[FK_MAX_PATH + 1];
    char owner[FK_MAX_PATH + 1]; /* every segment but the last */
    char name[FK_MAX_PATH + 1];  /* the last segment */
};

/* Parses url and finds its instance. AMB_EINVAL naming the URL's problem
 * (the URL itself is not echoed: it may carry a user name). */
int fk_repo_from_url(const struct fk_env *env, const struct fk_instances *in, const char *url,
                     size_t min_segments, size_t max_segments, struct fk_repo *out,
                     struct amb_error *err);

/* The same from a repo object a callback was given: its web_url is parsed
 * again, so an edited object cannot point API calls elsewhere. */
int fk_repo_from_json(const struct fk_env *env, const struct fk_instances *in,
                      const json_t *repo, size_t min_segments, size_t max_segments,
                      struct fk_repo *out, struct amb_error *err);

/* {"host","owner","name","path","api_url","web_url","clone_url"} (new ref),
 * clone_url being the https (or http) URL with ".git". NULL on ENOMEM. */
json_t *fk_repo_json(const struct fk_repo *r);

/* ---- JSON calls ---- */

#define FK_MAX_HEADERS 12 /* headers a caller passes to fk_call */

struct fk_call {
    const char *method;
    const char *url;              /* absolute, usually api_url + path */
    const char *const *headers;   /* "Name: value", NULL-ended (auth, Accept); may be NULL */
    const json_t *body;           /* sent as application/json; NULL for none */
    unsigned timeout_ms;          /* per attempt; 0: 30000 */
    size_t max_response;          /* 0: 4 MiB */
    unsigned max_retries;         /* host->http's retries of 429/502-504/transport */
    unsigned max_wait_s;          /* longest Retry-After host->http waits for */
};

struct fk_answer {
    long status;
    json_t *headers; /* lower-case name -> value */
    json_t *json;    /* the body parsed; NULL when empty */
};

/* One call: adds User-Agent and Content-Type, parses the answer's body as
 * JSON. Any status is AMB_OK (the caller judges it); a body that is not
 * JSON is AMB_EIO, transport errors are host->http's. */
int fk_call(const struct fk_env *env, const struct fk_call *call, struct fk_answer *out,
            struct amb_error *err);
void fk_answer_clear(struct fk_answer *a);
/* A header of the answer (lower-case name), NULL when absent. */
const char *fk_answer_header(const struct fk_answer *a, const char *name);
/* The AMB_E* code of an HTTP status: 401 AMB_EUNAUTHORIZED, 403
 * AMB_EFORBIDDEN, 404 AMB_ENOTFOUND, 409 AMB_ECONFLICT, 422 AMB_EINVAL,
 * 429 and 5xx AMB_EUNAVAILABLE, others AMB_EIO. */
int fk_status_code(long status);
/* Sets err from a failed answer: "<what>: HTTP <status>: <the forge's
 * message>" with the message (json "message", at most 300 bytes, control
 * characters replaced) from the body. Returns the code. */
int fk_answer_error(const struct fk_env *env, struct amb_error *err, const struct fk_answer *a,
                    const char *what);
/* The same with another code than the status's. */
int fk_answer_error_as(const struct fk_env *env, struct amb_error *err, int code,
                       const struct fk_answer *a, const char *what);

/* Percent-encodes everything outside [A-Za-z0-9._~-] (for path parts and
 * query values). 0, or -1 when it does not fit. */
int fk_url_escape(const char *s, char *out, size_t len);

/* ---- secrets ---- */

/* 1 if a and b are equal, compared in constant time (over SHA-256 digests,
 * so not even the length is told), 0 if not. */
int fk_secret_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Reads a secret file (at most FK_MAX_SECRET bytes, trailing newlines
 * stripped, not empty), registers it with host->log_secret and hands it
 * back in *out (free with fk_secret_free). Errors name the path and the
 * config key `field`, never the content. */
int fk_secret_read(const struct fk_env *env, const char *path, const char *field, char **out,
                   struct amb_error *err);
/* Wipes and frees what fk_secret_read gave (NULL is fine). */
void fk_secret_free(const struct fk_env *env, char *secret);

#endif /* AMBIENT_FORGEKIT_H */
