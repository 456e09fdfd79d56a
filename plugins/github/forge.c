/* forge.c — github.so's forge callbacks: which URLs are GitHub's, the repo
 * object, git credentials, forks (made or reused, then waited for until
 * they answer) and pull requests (a duplicate found and reused; "No
 * commits between" is AMB_EINVAL: nothing to review). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "github.h"

#define OWNER_NAME 2          /* GitHub paths are owner/name */
#define MAX_HEAD 512          /* bytes of "user:branch" */
#define MAX_BRANCH 255
#define MAX_TITLE 1024
#define MAX_BODY 65536
#define FORK_POLL_FIRST_S 1
#define FORK_POLL_MAX_S 15
#define PULL_PAGES 10

int gh_match_url(void *ud, const char *url)
{
    struct gh *g = ud;
    struct fk_url u;
    const char *why, *rest;
    return fk_url_parse(url, &u, &why) == 0 &&
           fk_instance_match(&g->in, &u, OWNER_NAME, OWNER_NAME, &rest) != NULL;
}

static int repo_out(struct gh *g, const struct fk_repo *r, json_t **out, struct amb_error *err)
{
    *out = fk_repo_json(r);
    return *out ? AMB_OK : g->env.host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
}

static int parse_repo(void *ud, struct amb_ctx *ctx, const char *url, json_t **out,
                      struct amb_error *err)
{
    (void)ctx;
    struct gh *g = ud;
    struct fk_repo r;
    int rc = fk_repo_from_url(&g->env, &g->in, url, OWNER_NAME, OWNER_NAME, &r, err);
    return rc == AMB_OK ? repo_out(g, &r, out, err) : rc;
}

static int clone_credentials(void *ud, struct amb_ctx *ctx, const json_t *repo,
                             const char *token, json_t **out, struct amb_error *err)
{
    (void)ctx;
    struct gh *g = ud;
    struct fk_repo r;
    int rc = fk_repo_from_json(&g->env, &g->in, repo, OWNER_NAME, OWNER_NAME, &r, err);
    if (rc != AMB_OK)
        return rc;
    if (token && *token) {
        *out = json_pack("{s:s, s:s}", "username", "x-access-token", "password", token);
    } else {
        char *app_token = NULL;
        if ((rc = gh_app_token(g, &r, &app_token, err)) != AMB_OK)
            return rc;
        *out = json_pack("{s:s, s:s}", "username", "x-access-token", "password", app_token);
        gh_token_free(g, app_token);
    }
    return *out ? AMB_OK : g->env.host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
}

static void sleep_s(unsigned s)
{
    struct timespec t = {(time_t)s, 0};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* Polls the fork until GitHub answers 200 for it (a new fork can take
 * minutes), with backoff, for at most fork_wait_s. */
static int wait_for_fork(struct gh *g, const struct gh_auth *auth, const struct fk_repo *fork,
                         struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    char path[GH_API_PATH];
    snprintf(path, sizeof path, "/repos/%s", fork->path);
    time_t deadline = time(NULL) + g->fork_wait_s;
    unsigned pause = FORK_POLL_FIRST_S;
    for (;;) {
        struct fk_answer a;
        int rc = gh_call(g, auth, "GET", path, NULL, &a, err);
        long status = rc == AMB_OK ? a.status : 0;
        if (rc == AMB_OK && status != 200 && status != 404)
            rc = fk_answer_error(&g->env, err, &a, "GitHub fork");
        fk_answer_clear(&a);
        if (rc != AMB_OK || status == 200)
            return rc;
        time_t now = time(NULL);
        if (now >= deadline)
            return h->error_set(err, AMB_ETIMEDOUT, NULL,
                                "the fork %s did not become ready within %u s "
                                "(github.fork_wait)",
                                fork->path, g->fork_wait_s);
        if ((time_t)pause > deadline - now)
            pause = (unsigned)(deadline - now);
        sleep_s(pause);
        pause = pause * 2 > FORK_POLL_MAX_S ? FORK_POLL_MAX_S : pause * 2;
    }
}

/* POST /repos/{o}/{r}/forks answers the fork, a new one or the one the
 * account already has; it is ready once a GET on it answers. */
static int fork_repo(void *ud, struct amb_ctx *ctx, const json_t *repo, const char *token,
                     json_t **out, struct amb_error *err)
{
    (void)ctx;
    struct gh *g = ud;
    const struct amb_host *h = g->env.host;
    struct fk_repo r, fork;
    int rc = fk_repo_from_json(&g->env, &g->in, repo, OWNER_NAME, OWNER_NAME, &r, err);
    if (rc != AMB_OK)
        return rc;
    struct gh_auth auth = {token, &r};
    char path[GH_API_PATH];
    snprintf(path, sizeof path, "/repos/%s/forks", r.path);
    json_t *body = json_object();
    struct fk_answer a;
    rc = body ? gh_call(g, &auth, "POST", path, body, &a, err)
              : h->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    json_decref(body);
    if (rc != AMB_OK)
        return rc;
    const char *login = json_string_value(json_object_get(json_object_get(a.json, "owner"),
                                                          "login"));
    const char *name = json_string_value(json_object_get(a.json, "name"));
    if (a.status != 202 && a.status != 200)
        rc = fk_answer_error(&g->env, err, &a, "GitHub fork");
    else if (!login || !name)
        rc = h->error_set(err, AMB_EIO, NULL, "GitHub answered the fork of %s without its "
                          "owner and name", r.path);
    char url[FK_MAX_URL * 2 + 4];
    if (rc == AMB_OK) {
        /* parsed like any URL: GitHub's answer is checked like a user's */
        snprintf(url, sizeof url, "%s/%s/%s", r.inst->web_base, login, name);
        rc = fk_repo_from_url(&g->env, &g->in, url, OWNER_NAME, OWNER_NAME, &fork, err);
    }
    fk_answer_clear(&a);
    if (rc == AMB_OK)
        rc = wait_for_fork(g, &auth, &fork, err);
    return rc == AMB_OK ? repo_out(g, &fork, out, err) : rc;
}

/* A string of req, present and at most max bytes, no control characters. */
static const char *req_string(struct gh *g, const json_t *req, const char *key, size_t max,
                              int *rc, struct amb_error *err)
{
    const char *s = json_string_value(json_object_get(req, key));
    size_t n = s ? strlen(s) : 0;
    int bad = !s || n > max;
    for (size_t i = 0; !bad && i < n; i++)
        bad = (unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\r' && s[i] != '\t';
    if (bad && *rc == AMB_OK)
        *rc = g->env.host->error_set(err, AMB_EINVAL, key,
                                     "must be a string of at most %zu bytes without control "
                                     "characters",
                                     max);
    return bad ? NULL : s;
}

static int default_branch(struct gh *g, const struct gh_auth *auth, char *out, size_t len,
                          struct amb_error *err)
{
    char path[GH_API_PATH];
    snprintf(path, sizeof path, "/repos/%s", auth->repo->path);
    struct fk_answer a;
    int rc = gh_call(g, auth, "GET", path, NULL, &a, err);
    if (rc != AMB_OK)
        return rc;
    const char *b = json_string_value(json_object_get(a.json, "default_branch"));
    if (a.status != 200)
        rc = fk_answer_error(&g->env, err, &a, "GitHub repository");
    else if (!b || !*b || strlen(b) >= len)
        rc = g->env.host->error_set(err, AMB_EIO, NULL, "GitHub answered %s without a usable "
                                    "default_branch", auth->repo->path);
    else
        strcpy(out, b);
    fk_answer_clear(&a);
    return rc;
}

/* The words of a 422: its message and every errors[].message. */
static int says(const struct fk_answer *a, const char *words)
{
    const char *m = json_string_value(json_object_get(a->json, "message"));
    if (m && strstr(m, words))
        return 1;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(a->json, "errors"), i, e) {
        m = json_string_value(json_object_get(e, "message"));
        if (m && strstr(m, words))
            return 1;
    }
    return 0;
}

static int pull_out(struct gh *g, const json_t *pr, json_t **out, struct amb_error *err)
{
    const char *url = json_string_value(json_object_get(pr, "html_url"));
    json_int_t number = json_integer_value(json_object_get(pr, "number"));
    if (!url || number <= 0)
        return g->env.host->error_set(err, AMB_EIO, NULL,
                                      "GitHub answered the pull request without html_url and "
                                      "number");
    *out = json_pack("{s:s, s:I}", "url", url, "number", number);
    return *out ? AMB_OK : g->env.host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
}

/* The open pull request into base among a page of those from a head. */
struct pull_search {
    const char *base;
    json_t *found;
};

static int same_base(void *ud, const json_t *item)
{
    struct pull_search *s = ud;
    const char *base = json_string_value(json_object_get(json_object_get(item, "base"), "ref"));
    if (!base || strcmp(base, s->base) != 0)
        return 0;
    s->found = json_incref((json_t *)item);
    return 1;
}

/* The open pull request from head ("user:branch") into base that GitHub
 * says exists (the same head may have others open into other bases). */
static int existing_pull(struct gh *g, const struct gh_auth *auth, const char *head,
                         const char *base, json_t **out, struct amb_error *err)
{
    char qualified[MAX_HEAD + FK_MAX_PATH + 2], escaped[3 * sizeof qualified];
    char path[sizeof escaped + FK_MAX_PATH + 64];
    if (strchr(head, ':'))
        snprintf(qualified, sizeof qualified, "%s", head);
    else
        snprintf(qualified, sizeof qualified, "%s:%s", auth->repo->owner, head);
    fk_url_escape(qualified, escaped, sizeof escaped);
    snprintf(path, sizeof path, "/repos/%s/pulls?head=%s&state=open&per_page=100",
             auth->repo->path, escaped);
    struct pull_search s = {base, NULL};
    int rc = gh_list(g, auth, path, PULL_PAGES, same_base, &s, err);
    if (rc == AMB_OK && !s.found)
        rc = g->env.host->error_set(err, AMB_EIO, NULL,
                                    "GitHub says a pull request from %s exists but lists none "
                                    "open into %s",
                                    qualified, base);
    if (rc == AMB_OK)
        rc = pull_out(g, s.found, out, err);
    json_decref(s.found);
    return rc;
}

static int open_pull_request(void *ud, struct amb_ctx *ctx, const json_t *req,
                             const char *token, json_t **out, struct amb_error *err)
{
    (void)ctx;
    struct gh *g = ud;
    struct fk_repo r;
    int rc = fk_repo_from_json(&g->env, &g->in, json_object_get(req, "repo"), OWNER_NAME,
                               OWNER_NAME, &r, err);
    const char *head = req_string(g, req, "head", MAX_HEAD, &rc, err);
    const char *title = req_string(g, req, "title", MAX_TITLE, &rc, err);
    const char *body = json_object_get(req, "body") ? req_string(g, req, "body", MAX_BODY, &rc,
                                                                 err)
                                                    : "";
    const char *base = json_object_get(req, "base") ? req_string(g, req, "base", MAX_BRANCH, &rc,
                                                                 err)
                                                    : "";
    if (rc != AMB_OK)
        return rc;
    if (!*head || !*title)
        return g->env.host->error_set(err, AMB_EINVAL, *head ? "title" : "head", "is empty");
    struct gh_auth auth = {token, &r};
    char branch[MAX_BRANCH + 1];
    if (!*base) {
        if ((rc = default_branch(g, &auth, branch, sizeof branch, err)) != AMB_OK)
            return rc;
        base = branch;
    }
    json_t *pr = json_pack("{s:s, s:s, s:s, s:s}", "title", title, "head", head, "base", base,
                           "body", body);
    char path[GH_API_PATH];
    snprintf(path, sizeof path, "/repos/%s/pulls", r.path);
    struct fk_answer a;
    rc = pr ? gh_call(g, &auth, "POST", path, pr, &a, err)
            : g->env.host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    json_decref(pr);
    if (rc != AMB_OK)
        return rc;
    if (a.status == 201)
        rc = pull_out(g, a.json, out, err);
    else if (a.status == 422 && says(&a, "A pull request already exists"))
        rc = existing_pull(g, &auth, head, base, out, err);
    else if (a.status == 422 && says(&a, "No commits between"))
        rc = g->env.host->error_set(err, AMB_EINVAL, NULL,
                                    "no commits between %s and %s: nothing to review", base,
                                    head);
    else /* AMB_EINVAL is kept for "nothing to review" */
        rc = fk_answer_error_as(&g->env, err, a.status == 422 ? AMB_EIO : fk_status_code(a.status),
                                &a, "GitHub pull request");
    fk_answer_clear(&a);
    return rc;
}

void gh_forge_fill(struct amb_forge *forge)
{
    *forge = (struct amb_forge){
        .size = sizeof *forge, .name = "github", .match_url = gh_match_url,
        .parse_repo = parse_repo, .clone_credentials = clone_credentials, .fork = fork_repo,
        .open_pull_request = open_pull_request, .verify_webhook = gh_verify_webhook,
    };
}
