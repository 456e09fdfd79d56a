/* gitlab.h — gitlab.so: GitLab (gitlab.com and self-hosted instances) as a
 * forge. What the files share: the plugin's state and its API calls. Every
 * API call goes through host->http (forgekit's fk_call) with the token in
 * PRIVATE-TOKEN; project paths are URL-encoded into one path segment. */
#ifndef AMBIENT_GITLAB_H
#define AMBIENT_GITLAB_H

#include <ambient/plugin.h>

#include "forgekit.h"
#include "trigger.h"

#define GL_MAX_TOKEN 1024     /* bytes of a token (GitLab's are about 50) */
#define GL_MAX_PAGES 50       /* pages of 100 followed when looking for one item */
#define GL_FORK_WAIT_S 300 /* default fork_wait: wait for a fork's import */
/* Projects nest in subgroups: owner/name at least, at most forgekit's bound. */
#define GL_MIN_SEGMENTS 2

struct gitlab {
    struct fk_env env;
    struct fk_instances instances;
    char *webhook_secret; /* NULL when webhook_secret_file is not set */
    char **tokens;        /* per instance, from its token_file; NULL entries when unset */
    struct fk_webhook_config webhook;
    long fork_wait_s;
};

/* One API call: method on api_url + path (path already escaped, starting
 * with '/'), JSON body or NULL. *out holds any answer; the caller judges
 * its status. A token that cannot go into a header is AMB_EINVAL. */
int gl_call(const struct gitlab *g, const struct fk_instance *inst, const char *method,
            const char *path, const char *token, const json_t *body, struct fk_answer *out,
            struct amb_error *err);

/* GET path and expect 200 with a JSON object: *out (new ref). With
 * missing_ok a 404 is AMB_OK and *out NULL. Other answers become errors
 * via gl_fail; what names the call for them. */
int gl_get_object(const struct gitlab *g, const struct fk_instance *inst, const char *path,
                  const char *token, const char *what, int missing_ok, json_t **out,
                  struct amb_error *err);

/* An error from a failed answer, saying what the user can do about 401,
 * 403 and a rate limit still in force. Never names the token. */
int gl_fail(const struct gitlab *g, const struct fk_answer *a, const char *what,
            struct amb_error *err);

/* The project at path ("group/sub/name") or numeric id (as gl_get_object). */
int gl_project(const struct gitlab *g, const struct fk_instance *inst, const char *path_or_id,
               const char *token, int missing_ok, json_t **out, struct amb_error *err);

/* The first item of the list at path (which has a query already) for which
 * match(ud, item) is 1, following X-Next-Page for at most GL_MAX_PAGES
 * pages. *found is a new ref, or NULL when no item matched. */
int gl_find(const struct gitlab *g, const struct fk_instance *inst, const char *path,
            const char *token, int (*match)(void *ud, const json_t *item), void *ud,
            json_t **found, struct amb_error *err);

/* The fork of project src_id in namespace ns: <ns>/<name> when that is one,
 * else the token owner's forks of src_id (paged). *out NULL when none. */
int gl_find_fork(const struct gitlab *g, const struct fk_instance *inst, json_int_t src_id,
                 const char *name, const char *ns, const char *token, json_t **out,
                 struct amb_error *err);

/* A JSON integer member, -1 when it is not one. */
json_int_t gl_int(const json_t *o, const char *key);

/* The forge callbacks (fork.c, merge_request.c, webhook.c). */
int gl_fork(void *ud, struct amb_ctx *ctx, const json_t *repo, const char *token, json_t **out,
            struct amb_error *err);
int gl_open_merge_request(void *ud, struct amb_ctx *ctx, const json_t *req, const char *token,
                          json_t **out, struct amb_error *err);
int gl_verify_webhook(void *ud, const json_t *headers, const char *body, size_t body_len,
                      const char *secret, struct amb_error *err);
/* POST /api/webhooks/gitlab (hook.c), registered when there is a secret. */
int gl_webhook_route(void *ud, struct amb_request *req);

#endif /* AMBIENT_GITLAB_H */
