/* merge_request.c — open a merge request from the work branch (in the
 * project itself, or in the fork "namespace:branch" names) into the base
 * branch; an open one for the same source branch is reused. */
#include <stdio.h>
#include <string.h>

#include "gitlab.h"

#define MAX_BRANCH 255 /* bytes of a branch name */

struct mr_match {
    json_int_t source_id;
};

static int same_source(void *ud, const json_t *mr)
{
    const struct mr_match *m = ud;
    return gl_int(mr, "source_project_id") == m->source_id;
}

/* The open merge request from branch of source into target (409 said it
 * exists). */
static int find_open(const struct gitlab *g, const struct fk_instance *inst, json_int_t target,
                     json_int_t source, const char *branch, const char *token, json_t **out,
                     struct amb_error *err)
{
    char enc[3 * MAX_BRANCH + 1], path[3 * MAX_BRANCH + 96];
    if (fk_url_escape(branch, enc, sizeof enc) != 0)
        return g->env.host->error_set(err, AMB_EINVAL, "head", "branch name too long");
    snprintf(path, sizeof path, "/projects/%lld/merge_requests?state=opened&source_branch=%s",
             (long long)target, enc);
    struct mr_match m = {source};
    int rc = gl_find(g, inst, path, token, same_source, &m, out, err);
    if (rc == AMB_OK && !*out)
        rc = g->env.host->error_set(err, AMB_ECONFLICT, NULL,
                                    "GitLab says a merge request for %.255s is open already, "
                                    "but lists none",
                                    branch);
    return rc;
}

static int post_mr(const struct gitlab *g, const struct fk_instance *inst, const json_t *target,
                   json_int_t source, const char *branch, const char *base, const json_t *req,
                   const char *token, json_t **out, struct amb_error *err)
{
    json_int_t target_id = gl_int(target, "id");
    const char *title = json_string_value(json_object_get(req, "title"));
    const char *text = json_string_value(json_object_get(req, "body"));
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:I}", "source_branch", branch,
                             "target_branch", base, "title", title && *title ? title : branch,
                             "description", text ? text : "", "target_project_id", target_id);
    char path[64];
    snprintf(path, sizeof path, "/projects/%lld/merge_requests", (long long)source);
    struct fk_answer a = {0};
    int rc = body ? gl_call(g, inst, "POST", path, token, body, &a, err) : AMB_ENOMEM;
    json_decref(body);
    if (rc == AMB_OK && a.status == 201 && json_is_object(a.json))
        *out = json_incref(a.json);
    else if (rc == AMB_OK && a.status == 409)
        rc = find_open(g, inst, target_id, source, branch, token, out, err);
    else if (rc == AMB_OK) {
        char what[MAX_BRANCH + 64];
        snprintf(what, sizeof what, "opening a merge request from %s", branch);
        rc = gl_fail(g, &a, what, err);
    }
    fk_answer_clear(&a);
    return rc;
}

int gl_open_merge_request(void *ud, struct amb_ctx *ctx, const json_t *req, const char *token,
                          json_t **out, struct amb_error *err)
{
    (void)ctx;
    const struct gitlab *g = ud;
    const struct amb_host *h = g->env.host;
    const char *head = json_string_value(json_object_get(req, "head"));
    const char *base = json_string_value(json_object_get(req, "base"));
    if (!head || !*head || strlen(head) > FK_MAX_PATH + MAX_BRANCH)
        return h->error_set(err, AMB_EINVAL, "head", "must be a branch or namespace:branch");
    /* "namespace:branch" is a fork's branch (':' is never in either). */
    const char *colon = strchr(head, ':');
    const char *branch = colon ? colon + 1 : head;
    char ns[FK_MAX_PATH + 1] = "";
    if (colon)
        snprintf(ns, sizeof ns, "%.*s", (int)(colon - head), head);
    if (!*branch || strlen(branch) > MAX_BRANCH || (colon && !*ns))
        return h->error_set(err, AMB_EINVAL, "head", "must be a branch or namespace:branch");
    struct fk_repo r;
    json_t *target = NULL, *fork = NULL, *mr = NULL;
    int rc = fk_repo_from_json(&g->env, &g->instances, json_object_get(req, "repo"),
                               GL_MIN_SEGMENTS, FK_MAX_SEGMENTS, &r, err);
    if (rc == AMB_OK)
        rc = gl_project(g, r.inst, r.path, token, 0, &target, err);
    json_int_t source = gl_int(target, "id");
    if (rc == AMB_OK && colon) {
        rc = gl_find_fork(g, r.inst, source, r.name, ns, token, &fork, err);
        if (rc == AMB_OK && !fork)
            rc = h->error_set(err, AMB_ENOTFOUND, "head", "no fork of %.300s in %.300s", r.path,
                              ns);
        source = gl_int(fork, "id");
    }
    /* No base given: the target's default branch. */
    if (!base || !*base)
        base = json_string_value(json_object_get(target, "default_branch"));
    if (rc == AMB_OK && (!base || strlen(base) > MAX_BRANCH))
        rc = h->error_set(err, AMB_EINVAL, "base", "no base branch, and the project has no "
                                                   "default branch");
    if (rc == AMB_OK)
        rc = post_mr(g, r.inst, target, source, branch, base, req, token, &mr, err);
    const char *url = json_string_value(json_object_get(mr, "web_url"));
    json_int_t iid = gl_int(mr, "iid");
    if (rc == AMB_OK && (!url || strlen(url) > FK_MAX_URL || iid < 0))
        rc = h->error_set(err, AMB_EIO, NULL, "GitLab answered a merge request without web_url "
                                              "or iid");
    if (rc == AMB_OK && !(*out = json_pack("{s:s, s:I}", "url", url, "number", iid)))
        rc = AMB_ENOMEM;
    json_decref(target);
    json_decref(fork);
    json_decref(mr);
    return rc;
}
