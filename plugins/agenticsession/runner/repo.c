/* repo.c — the session's repositories as the runner works on them: where
 * each comes from, which branch the work goes to, where its changes are
 * pushed, and the directory it is cloned into. The spec is checked again
 * here with the plugin's own rules (kubectl writes skip the REST layer's
 * validation), since these strings go to git. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as_names.h"
#include "buf-internal.h"
#include "error-internal.h"
#include "runner.h"

#define MAX_REPOS 32

/* The last path segment of url without ".git", reduced to [A-Za-z0-9._-],
 * never empty or starting with '.'. */
static char *dir_name(const char *url)
{
    const char *end = url + strlen(url);
    while (end > url && end[-1] == '/')
        end--;
    const char *start = end;
    while (start > url && start[-1] != '/' && start[-1] != ':')
        start--;
    size_t n = (size_t)(end - start);
    if (n > 4 && strncmp(end - 4, ".git", 4) == 0)
        n -= 4;
    struct ambd_buf b = {0};
    for (size_t i = 0; i < n && i < 100; i++) {
        char c = start[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && b.len > 0);
        ambd_buf_putc(&b, ok ? c : '_');
    }
    if (b.len == 0)
        ambd_buf_puts(&b, "repo");
    return ambd_buf_take(&b);
}

static int parse_one(const json_t *repo, size_t i, const char *session_name,
                     struct runner_repo *r, struct amb_error *err)
{
    char field[64];
    const json_t *in = json_object_get(repo, "input");
    const char *url = json_string_value(json_object_get(in, "url"));
    snprintf(field, sizeof field, "spec.repos[%zu].input.url", i);
    if (!url || !as_valid_git_url(url))
        return ambd_error_set(err, AMB_EINVAL, field, "must be an http(s) or ssh git URL");
    const char *branch = json_string_value(json_object_get(in, "branch"));
    snprintf(field, sizeof field, "spec.repos[%zu].input.branch", i);
    if (branch && *branch && !as_valid_branch(branch))
        return ambd_error_set(err, AMB_EINVAL, field, "must be a valid git branch name");
    r->index = i;
    r->url = strdup(url);
    r->branch_given = branch && *branch;
    r->branch = r->branch_given ? strdup(branch) : NULL;

    const json_t *out = json_object_get(repo, "output");
    const char *push = json_string_value(json_object_get(out, "pushTo"));
    /* No output: nothing is pushed. An output without pushTo: the CRD's
     * default, fork. */
    r->push_to = !out ? PUSH_NONE
                 : !push || strcmp(push, "fork") == 0 ? PUSH_FORK
                 : strcmp(push, "same") == 0 ? PUSH_SAME
                                             : PUSH_NONE;
    snprintf(field, sizeof field, "spec.repos[%zu].output.pushTo", i);
    if (push && strcmp(push, "fork") != 0 && strcmp(push, "same") != 0 &&
        strcmp(push, "none") != 0)
        return ambd_error_set(err, AMB_EINVAL, field, "must be one of fork, same, none");
    const char *tb = json_string_value(json_object_get(out, "targetBranch"));
    snprintf(field, sizeof field, "spec.repos[%zu].output.targetBranch", i);
    if (tb && *tb && !as_valid_branch(tb))
        return ambd_error_set(err, AMB_EINVAL, field, "must be a valid git branch name");
    if (tb && *tb) {
        r->target_branch = strdup(tb);
    } else {
        struct ambd_buf b = {0};
        ambd_buf_printf(&b, "ambient/%s", session_name);
        r->target_branch = ambd_buf_take(&b);
    }
    const char *tr = json_string_value(json_object_get(out, "targetRepo"));
    snprintf(field, sizeof field, "spec.repos[%zu].output.targetRepo", i);
    if (tr && *tr && !as_valid_git_url(tr))
        return ambd_error_set(err, AMB_EINVAL, field, "must be an http(s) or ssh git URL");
    r->target_repo = tr && *tr ? strdup(tr) : NULL;
    r->dir = dir_name(url);
    if (!r->url || (r->branch_given && !r->branch) || !r->target_branch ||
        (tr && *tr && !r->target_repo) || !r->dir)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    return AMB_OK;
}

/* Two repositories with the same last segment get "-<index>" appended. */
static int unique_dirs(struct runner_repo *repos, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(repos[i].dir, repos[j].dir) != 0)
                continue;
            struct ambd_buf b = {0};
            ambd_buf_printf(&b, "%s-%zu", repos[i].dir, i);
            char *d = ambd_buf_take(&b);
            if (!d)
                return AMB_ENOMEM;
            free(repos[i].dir);
            repos[i].dir = d;
            j = (size_t)-1; /* check the new name against all again */
        }
    }
    return AMB_OK;
}

int runner_repos_from_spec(const json_t *spec, const char *session_name,
                           struct runner_repo **repos, size_t *n, struct amb_error *err)
{
    const json_t *list = json_object_get(spec, "repos");
    size_t count = json_array_size(list);
    *repos = NULL;
    *n = 0;
    if (count == 0)
        return AMB_OK;
    if (count > MAX_REPOS)
        return ambd_error_set(err, AMB_EINVAL, "spec.repos", "at most %d repositories",
                              MAX_REPOS);
    struct runner_repo *r = calloc(count, sizeof *r);
    if (!r)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    int rc = AMB_OK;
    for (size_t i = 0; i < count && rc == AMB_OK; i++)
        rc = parse_one(json_array_get(list, i), i, session_name, &r[i], err);
    if (rc == AMB_OK && unique_dirs(r, count) != AMB_OK)
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    if (rc != AMB_OK) {
        runner_repos_free(r, count);
        return rc;
    }
    *repos = r;
    *n = count;
    return AMB_OK;
}

void runner_repos_free(struct runner_repo *repos, size_t n)
{
    for (size_t i = 0; repos && i < n; i++) {
        struct runner_repo *r = &repos[i];
        free(r->url);
        free(r->branch);
        free(r->target_branch);
        free(r->target_repo);
        free(r->dir);
        free(r->base_sha);
        free(r->push_url);
        free(r->saved_config);
        free(r->username);
        char *secret[] = {r->password, r->token};
        for (size_t k = 0; k < 2; k++) {
            if (secret[k])
                explicit_bzero(secret[k], strlen(secret[k]));
            free(secret[k]);
        }
        json_decref(r->forge_repo);
        json_decref(r->fork_repo);
        json_decref(r->status);
    }
    free(repos);
}
