/* stub_api.c — stand-ins for the parts of api.so a fuzz target does not
 * link (auth.c, reply.c, ratelimit.c, routes_health.c, project_gate.c,
 * live.c, feed.c, web_static.c): server.c, names.c and live/jobs.c reference them from code the
 * targets never run (handlers, access reviews, the event loop). Each
 * answers "unavailable", so a path that did reach one would fail safe, not
 * pretend success. */
#include <stdlib.h>

#include "live/live_int.h"
#include "ratelimit.h"
#include "serving.h"
#include "web_static.h"

/* auth.c */
const char *api_auth_token(const char *authorization, const char *forwarded)
{
    (void)authorization;
    (void)forwarded;
    return NULL;
}

int api_auth_review(struct api_auth *a, const char *token, const char *token_hash,
                    const struct api_access *what, int *allowed, char *reason,
                    size_t reason_len, struct amb_error *err)
{
    (void)a;
    (void)token;
    (void)token_hash;
    (void)what;
    (void)err;
    *allowed = 0;
    if (reason_len)
        reason[0] = '\0';
    return AMB_EUNAVAILABLE;
}

int api_auth_whoami(struct api_auth *a, const char *token, const char *token_hash, char *user,
                    size_t user_len, struct amb_error *err)
{
    (void)a;
    (void)token;
    (void)token_hash;
    (void)err;
    if (user_len)
        user[0] = '\0';
    return AMB_EUNAVAILABLE;
}

int api_auth_known(struct api_auth *a, const char *token_hash, char *user, size_t user_len)
{
    (void)a;
    (void)token_hash;
    (void)user;
    (void)user_len;
    return 0;
}

int api_auth_token_review(struct api_auth *a, const char *token, const char *token_hash,
                          char *user, size_t user_len, struct amb_error *err)
{
    return api_auth_whoami(a, token, token_hash, user, user_len, err);
}

void api_token_hash(const struct api_auth *a, const char *token,
                    char out[API_TOKEN_HASH_LEN + 1])
{
    (void)a;
    (void)token;
    out[0] = '\0';
}

/* reply.c, routes_health.c */
const char *api_header(const struct api_req *r, const char *name)
{
    (void)r;
    (void)name;
    return NULL;
}

const char *api_param(const struct api_req *r, const char *name)
{
    (void)r;
    (void)name;
    return NULL;
}

void api_reply_error(struct api_req *r, int status, const char *message, json_t *details)
{
    (void)message;
    json_decref(details);
    if (r && !r->replied) {
        r->replied = 1;
        r->status = status;
    }
}

void api_reply_field(struct api_req *r, int status, const char *field, const char *message)
{
    (void)field;
    api_reply_error(r, status, message, NULL);
}

void api_reply_raw(struct api_req *r, int status, const char *content_type, const char *body,
                   size_t len)
{
    (void)content_type;
    (void)body;
    (void)len;
    api_reply_error(r, status, NULL, NULL);
}

void api_add_retry_after(struct api_req *r, unsigned seconds)
{
    (void)r;
    (void)seconds;
}

void api_metrics_in_flight(int delta) { (void)delta; }

void api_metrics_record(const char *method, const char *route, int status, double seconds)
{
    (void)method;
    (void)route;
    (void)status;
    (void)seconds;
}

/* ratelimit.c */
struct ratelimit *ratelimit_new(double rate, double burst, size_t max_callers)
{
    (void)rate;
    (void)burst;
    (void)max_callers;
    return NULL;
}

void ratelimit_free(struct ratelimit *rl) { (void)rl; }

int ratelimit_take(struct ratelimit *rl, const char *key, double now, unsigned *retry_after_s)
{
    (void)rl;
    (void)key;
    (void)now;
    *retry_after_s = 1;
    return 1;
}

int ratelimit_peek(struct ratelimit *rl, const char *key, double now, unsigned *retry_after_s)
{
    return ratelimit_take(rl, key, now, retry_after_s);
}

/* project_gate.c */
void api_gate_arm(struct api_req *r) { (void)r; }

/* web_static.c: no UI, so a GET no route took stays a 404 */
int api_web_serve(struct api_req *r)
{
    (void)r;
    return 0;
}

int api_project_lookup(struct api_auth *auth, const char *project, int *managed,
                       struct amb_error *err)
{
    (void)auth;
    (void)project;
    (void)err;
    *managed = 0;
    return AMB_EUNAVAILABLE;
}

/* live.c */
void live_wake(struct live *l) { (void)l; }

/* feed.c */
int live_feed_uid(struct live *l, const struct live_kind *kind, const char *project,
                  const char *name, char uid[STORE_UID_MAX])
{
    (void)l;
    (void)kind;
    (void)project;
    (void)name;
    (void)uid;
    return 0;
}
