/* hook.c — POST /api/webhooks/gitlab: a GitLab webhook delivery becomes
 * sessions when it is a trigger by someone who may write to the project.
 *
 * Authentic: X-Gitlab-Token equals webhook_secret_file's secret (401
 * otherwise). Triggers: a "Note Hook" on an issue or merge request whose
 * comment starts with webhook.command (the rest is the prompt; the issue's
 * text when nothing follows), or an "Issue Hook" that adds webhook.label.
 * The author's access level to the project, asked of GitLab with the
 * instance's token_file token, must be at least Developer (30). The
 * delivery id is X-Gitlab-Event-UUID. Everything else is 202 with nothing
 * done; forgekit's trigger makes the sessions (trigger.h). */
#include <stdio.h>
#include <string.h>

#include "gitlab.h"

#define DEVELOPER_ACCESS 30

struct delivery {
    const char *event;
    json_t *body;
    const char *prompt;
    size_t prompt_len;
    const json_t *user; /* who commented or labelled: {id, username} */
    const char *issue_url;
    long long number;
};

static int ignore(const struct gitlab *g, struct amb_request *req, const char *why)
{
    const struct amb_request_ops *rq = g->env.host->request_ops();
    rq->respond(req, 202, json_pack("{s:s}", "ignored", why));
    return AMB_OK;
}

static int malformed(const struct gitlab *g, struct amb_request *req, const char *why)
{
    const struct amb_request_ops *rq = g->env.host->request_ops();
    rq->respond(req, 400, json_pack("{s:s, s:s}", "error", "malformed webhook payload",
                                    "details", why));
    return AMB_OK;
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
    return json_string_value(json_object_get(b ? json_object_get(o, a) : o, b ? b : a));
}

/* The issue's or merge request's own text: the prompt when the comment
 * holds only the command, and what a label asks for. */
static void issue_text(const json_t *issue, struct delivery *d)
{
    const char *text = str_at(issue, "description", NULL);
    if (!text || !*text)
        text = str_at(issue, "title", NULL);
    d->prompt = text;
    d->prompt_len = text ? strlen(text) : 0;
}

/* 1 and d filled for a comment that is a trigger, 0 for none. */
static int note_trigger(const struct gitlab *g, struct delivery *d)
{
    const json_t *attrs = json_object_get(d->body, "object_attributes");
    const char *type = str_at(attrs, "noteable_type", NULL);
    const char *what = type && strcmp(type, "Issue") == 0          ? "issue"
                       : type && strcmp(type, "MergeRequest") == 0 ? "merge_request"
                                                                   : NULL;
    const json_t *issue = what ? json_object_get(d->body, what) : NULL;
    if (!issue || !fk_webhook_command(&g->webhook, str_at(attrs, "note", NULL), &d->prompt,
                                      &d->prompt_len))
        return 0;
    if (d->prompt_len == 0)
        issue_text(issue, d);
    d->issue_url = str_at(issue, "url", NULL);
    d->number = gl_int(issue, "iid");
    return 1;
}

/* 1 when the label was added by this change (or the issue opened with it). */
static int label_trigger(const struct gitlab *g, struct delivery *d)
{
    const json_t *attrs = json_object_get(d->body, "object_attributes");
    const json_t *change = json_object_get(json_object_get(d->body, "changes"), "labels");
    const json_t *now = change ? json_object_get(change, "current")
                               : json_object_get(d->body, "labels");
    const json_t *before = json_object_get(change, "previous");
    const char *action = str_at(attrs, "action", NULL);
    if (!change && !(action && strcmp(action, "open") == 0))
        return 0;
    size_t i, j;
    const json_t *l, *p;
    json_array_foreach(now, i, l) {
        if (!fk_webhook_label(&g->webhook, str_at(l, "title", NULL)))
            continue;
        int had = 0;
        json_array_foreach(before, j, p)
            had |= fk_webhook_label(&g->webhook, str_at(p, "title", NULL));
        if (had)
            return 0;
        issue_text(attrs, d);
        d->issue_url = str_at(attrs, "url", NULL);
        d->number = gl_int(attrs, "iid");
        return 1;
    }
    return 0;
}

/* 1 if user_id's access level to the project is Developer or more, 0 if
 * not (or not a member), < 0 when GitLab could not tell. */
static int may_write(const struct gitlab *g, const struct fk_repo *r, json_int_t user_id)
{
    const struct amb_host *h = g->env.host;
    const char *token = g->tokens[r->inst->index];
    char enc[3 * FK_MAX_PATH + 1], path[3 * FK_MAX_PATH + 64];
    if (user_id < 0 || fk_url_escape(r->path, enc, sizeof enc) != 0)
        return 0;
    snprintf(path, sizeof path, "/projects/%s/members/all/%lld", enc, (long long)user_id);
    struct amb_error *err = h->error_new();
    json_t *m = NULL;
    int rc = err ? gl_get_object(g, r->inst, path, token, "GitLab membership", 1, &m, err)
                 : AMB_ENOMEM;
    if (rc != AMB_OK) {
        json_t *why = h->error_to_json(err);
        h->log(g->env.self, AMB_LOG_WARN, "webhook: cannot check the author's access", "error",
               json_string_value(json_object_get(why, "message")), NULL);
        json_decref(why);
    }
    h->error_free(err);
    int yes = rc == AMB_OK && gl_int(m, "access_level") >= DEVELOPER_ACCESS;
    json_decref(m);
    return rc == AMB_OK ? yes : -1;
}

static int handle(const struct gitlab *g, struct amb_request *req, struct delivery *d)
{
    const struct amb_host *h = g->env.host;
    const struct amb_request_ops *rq = h->request_ops();
    const char *delivery = rq->header(req, "X-Gitlab-Event-UUID");
    int is_note = strcmp(d->event, "Note Hook") == 0;
    if (!is_note && strcmp(d->event, "Issue Hook") != 0)
        return ignore(g, req, "event");
    if (!json_is_object(d->body))
        return malformed(g, req, "the body is not a JSON object");
    if (!delivery || !*delivery)
        return malformed(g, req, "X-Gitlab-Event-UUID is missing");
    if (!(is_note ? note_trigger(g, d) : label_trigger(g, d)))
        return ignore(g, req, "not a trigger");
    d->user = json_object_get(d->body, "user");
    const char *author = str_at(d->user, "username", NULL);
    const char *url = str_at(d->body, "project", "git_http_url");
    struct fk_repo r;
    struct amb_error *err = h->error_new();
    int rc = err && author && url ? fk_repo_from_url(&g->env, &g->instances, url,
                                                     GL_MIN_SEGMENTS, FK_MAX_SEGMENTS, &r, err)
                                  : AMB_EINVAL;
    h->error_free(err);
    if (rc != AMB_OK)
        return malformed(g, req, "user.username or project.git_http_url is missing, or the "
                                 "project is not on a configured GitLab instance");
    int ok = may_write(g, &r, gl_int(d->user, "id"));
    if (ok < 0)
        return rq->respond(req, 503, json_pack("{s:s}", "error",
                                               "GitLab could not tell the author's access "
                                               "level; deliver again later"));
    if (!ok)
        return ignore(g, req, "the author may not write to the project");
    struct fk_trigger t = {.forge = "gitlab", .repo_url = url, .delivery_id = delivery,
                           .prompt = d->prompt, .prompt_len = d->prompt_len, .author = author,
                           .issue_url = d->issue_url, .number = d->number > 0 ? d->number : 0};
    return fk_webhook_fire(h, g->env.self, req, &t);
}

int gl_webhook_route(void *ud, struct amb_request *req)
{
    const struct gitlab *g = ud;
    const struct amb_host *h = g->env.host;
    const struct amb_request_ops *rq = h->request_ops();
    const char *data;
    size_t len;
    if (fk_webhook_accept(h, req, &g->webhook, gl_verify_webhook, ud, "x-gitlab-token",
                          g->webhook_secret, &data, &len) != AMB_OK)
        return AMB_OK; /* answered: 413, 401 */
    struct delivery d = {.event = rq->header(req, "X-Gitlab-Event")};
    if (!d.event)
        return malformed(g, req, "X-Gitlab-Event is missing");
    d.body = json_loadb(data, len, 0, NULL);
    int rc = handle(g, req, &d);
    json_decref(d.body);
    return rc;
}
