/* api.c — calls to GitLab's REST API v4: the token header, errors a user
 * can act on, project lookups and X-Next-Page pagination. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gitlab.h"

#define CALL_TIMEOUT_MS 30000u
#define CALL_RETRIES 3u     /* host->http's retries of 429, 502-504, transport */
#define CALL_MAX_WAIT_S 60u /* longest Retry-After waited for per attempt */

json_int_t gl_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static int token_ok(const struct gitlab *g, const char *token, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    size_t n = token ? strlen(token) : 0;
    if (n == 0)
        return h->error_set(err, AMB_EUNAUTHORIZED, "token",
                            "no GitLab token (GITLAB_TOKEN in the runner Secret)");
    if (n > GL_MAX_TOKEN)
        return h->error_set(err, AMB_EINVAL, "token", "the GitLab token is longer than %d bytes",
                            GL_MAX_TOKEN);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)token[i] < 0x21 || token[i] == 0x7f)
            return h->error_set(err, AMB_EINVAL, "token",
                                "the GitLab token holds spaces or control characters");
    return AMB_OK;
}

int gl_call(const struct gitlab *g, const struct fk_instance *inst, const char *method,
            const char *path, const char *token, const json_t *body, struct fk_answer *out,
            struct amb_error *err)
{
    int rc = token_ok(g, token, err);
    if (rc != AMB_OK)
        return rc;
    g->env.host->log_secret(g->env.self, token);
    char url[2 * FK_MAX_URL + 2];
    if ((size_t)snprintf(url, sizeof url, "%s%s", inst->api_url, path) >= sizeof url)
        return g->env.host->error_set(err, AMB_EINVAL, "url", "GitLab API URL too long");
    char auth[GL_MAX_TOKEN + 32];
    snprintf(auth, sizeof auth, "PRIVATE-TOKEN: %s", token);
    const char *headers[] = {auth, "Accept: application/json", NULL};
    struct fk_call call = {.method = method, .url = url, .headers = headers, .body = body,
                           .timeout_ms = CALL_TIMEOUT_MS, .max_retries = CALL_RETRIES,
                           .max_wait_s = CALL_MAX_WAIT_S};
    rc = fk_call(&g->env, &call, out, err);
    memset(auth, 0, sizeof auth);
    return rc;
}

int gl_fail(const struct gitlab *g, const struct fk_answer *a, const char *what,
            struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    if (a->status == 401)
        return h->error_set(err, AMB_EUNAUTHORIZED, NULL,
                            "%s: GitLab refused the token (HTTP 401): GITLAB_TOKEN in the "
                            "project's runner Secret is missing, expired or revoked",
                            what);
    const char *insufficient = json_string_value(json_object_get(a->json, "error"));
    if (a->status == 403 && insufficient && strcmp(insufficient, "insufficient_scope") == 0)
        return h->error_set(err, AMB_EFORBIDDEN, NULL,
                            "%s: the GitLab token lacks the api scope (HTTP 403): create one "
                            "with the api scope",
                            what);
    const char *retry = fk_answer_header(a, "retry-after");
    if (a->status == 429)
        return h->error_set(err, AMB_EUNAVAILABLE, NULL,
                            "%s: GitLab's rate limit is still in force after %u retries "
                            "(HTTP 429, retry after %.20s s)",
                            what, CALL_RETRIES, retry ? retry : "?");
    return fk_answer_error(&g->env, err, a, what);
}

int gl_get_object(const struct gitlab *g, const struct fk_instance *inst, const char *path,
                  const char *token, const char *what, int missing_ok, json_t **out,
                  struct amb_error *err)
{
    struct fk_answer a = {0};
    *out = NULL;
    int rc = gl_call(g, inst, "GET", path, token, NULL, &a, err);
    if (rc == AMB_OK && a.status == 404 && missing_ok) {
        fk_answer_clear(&a);
        return AMB_OK;
    }
    if (rc == AMB_OK && a.status != 200)
        rc = gl_fail(g, &a, what, err);
    else if (rc == AMB_OK && !json_is_object(a.json))
        rc = g->env.host->error_set(err, AMB_EIO, NULL, "%s: GitLab answered without an object",
                                    what);
    if (rc == AMB_OK)
        *out = json_incref(a.json);
    fk_answer_clear(&a);
    return rc;
}

int gl_project(const struct gitlab *g, const struct fk_instance *inst, const char *path_or_id,
               const char *token, int missing_ok, json_t **out, struct amb_error *err)
{
    char enc[3 * FK_MAX_PATH + 1], path[3 * FK_MAX_PATH + 16], what[FK_MAX_PATH + 32];
    if (fk_url_escape(path_or_id, enc, sizeof enc) != 0)
        return g->env.host->error_set(err, AMB_EINVAL, "repo", "project path too long");
    snprintf(path, sizeof path, "/projects/%s", enc);
    snprintf(what, sizeof what, "GitLab project %.*s", FK_MAX_PATH, path_or_id);
    return gl_get_object(g, inst, path, token, what, missing_ok, out, err);
}

int gl_find(const struct gitlab *g, const struct fk_instance *inst, const char *path,
            const char *token, int (*match)(void *ud, const json_t *item), void *ud,
            json_t **found, struct amb_error *err)
{
    *found = NULL;
    char page[16] = "1", url[3 * FK_MAX_PATH + 128];
    for (int n = 0; n < GL_MAX_PAGES; n++) {
        if ((size_t)snprintf(url, sizeof url, "%s&per_page=100&page=%s", path, page) >=
            sizeof url)
            return g->env.host->error_set(err, AMB_EINVAL, NULL, "GitLab list path too long");
        struct fk_answer a = {0};
        int rc = gl_call(g, inst, "GET", url, token, NULL, &a, err);
        if (rc == AMB_OK && a.status != 200)
            rc = gl_fail(g, &a, "GitLab list", err);
        else if (rc == AMB_OK && !json_is_array(a.json))
            rc = g->env.host->error_set(err, AMB_EIO, NULL, "GitLab answered a list without "
                                                            "an array");
        size_t i;
        json_t *item;
        json_array_foreach(rc == AMB_OK ? a.json : NULL, i, item)
        {
            if (match(ud, item)) {
                *found = json_incref(item);
                break;
            }
        }
        /* X-Next-Page is empty on the last page; only digits are followed. */
        const char *next = rc == AMB_OK ? fk_answer_header(&a, "x-next-page") : NULL;
        size_t len = next ? strlen(next) : 0;
        int more = !*found && len > 0 && len < sizeof page && strspn(next, "0123456789") == len;
        if (more)
            memcpy(page, next, len + 1);
        fk_answer_clear(&a);
        if (rc != AMB_OK || !more)
            return rc;
    }
    return g->env.host->error_set(err, AMB_EUNAVAILABLE, NULL,
                                  "GitLab list longer than %d pages; not searched further",
                                  GL_MAX_PAGES);
}

struct fork_match {
    json_int_t src_id;
    const char *ns;
};

static int is_fork_in(void *ud, const json_t *p)
{
    const struct fork_match *m = ud;
    const json_t *from = json_object_get(p, "forked_from_project");
    const char *ns = json_string_value(json_object_get(json_object_get(p, "namespace"),
                                                       "full_path"));
    return gl_int(from, "id") == m->src_id && ns && strcasecmp(ns, m->ns) == 0;
}

int gl_find_fork(const struct gitlab *g, const struct fk_instance *inst, json_int_t src_id,
                 const char *name, const char *ns, const char *token, json_t **out,
                 struct amb_error *err)
{
    *out = NULL;
    struct fork_match m = {src_id, ns};
    char path[2 * FK_MAX_PATH + 2];
    json_t *p = NULL;
    snprintf(path, sizeof path, "%s/%s", ns, name);
    int rc = gl_project(g, inst, path, token, 1, &p, err);
    if (rc != AMB_OK || (p && is_fork_in(&m, p))) {
        *out = p;
        return rc;
    }
    json_decref(p);
    /* A fork renamed after it was made: look through the forks. */
    char list[64];
    snprintf(list, sizeof list, "/projects/%lld/forks?owned=true", (long long)src_id);
    return gl_find(g, inst, list, token, is_fork_in, &m, out, err);
}
