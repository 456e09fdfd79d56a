/* repos.c — the rules of a session-shaped repos[] list: each entry's input
 * (a git URL, a branch, the name of a Secret key) and output (where the
 * work is pushed). AgenticSession and RFEWorkflow both carry one, so both
 * plugins compile this file. Pure. */
#include <stdio.h>
#include <string.h>

#include "as_names.h"
#include "as_problems.h"

static void check_output(const json_t *out, const char *base, struct as_problems *p)
{
    char f[128]; /* base is at most 95 bytes */
    if (!json_is_object(out)) {
        as_problem_add(p, base, "must be an object");
        return;
    }
    const json_t *push = json_object_get(out, "pushTo");
    snprintf(f, sizeof f, "%s.pushTo", base);
    if (push && !(json_is_string(push) && (strcmp(json_string_value(push), "fork") == 0 ||
                                          strcmp(json_string_value(push), "same") == 0 ||
                                          strcmp(json_string_value(push), "none") == 0)))
        as_problem_add(p, f, "must be one of fork, same, none");
    const json_t *tb = json_object_get(out, "targetBranch");
    snprintf(f, sizeof f, "%s.targetBranch", base);
    if (tb && !(json_is_string(tb) && as_valid_branch(json_string_value(tb))))
        as_problem_add(p, f, "must be a valid git branch name");
    const json_t *tr = json_object_get(out, "targetRepo");
    snprintf(f, sizeof f, "%s.targetRepo", base);
    if (tr && !(json_is_string(tr) && as_valid_git_url(json_string_value(tr))))
        as_problem_add(p, f, "must be an http(s) or ssh git URL");
}

static void check_input(const json_t *in, const char *base, struct as_problems *p)
{
    char f[128]; /* base is at most 95 bytes */
    if (!json_is_object(in)) {
        as_problem_add(p, base, "is required and must be an object");
        return;
    }
    const json_t *url = json_object_get(in, "url");
    snprintf(f, sizeof f, "%s.url", base);
    if (!url)
        as_problem_add(p, f, "is required");
    else if (!json_is_string(url) || !as_valid_git_url(json_string_value(url)))
        as_problem_add(p, f, "must be an http(s) or ssh git URL (https://host/owner/repo, "
                             "ssh://git@host/owner/repo or git@host:owner/repo)");
    const json_t *br = json_object_get(in, "branch");
    snprintf(f, sizeof f, "%s.branch", base);
    if (br && !(json_is_string(br) &&
                (json_string_length(br) == 0 || as_valid_branch(json_string_value(br)))))
        as_problem_add(p, f, "must be a valid git branch name (omit it for the default branch)");
    const json_t *tok = json_object_get(in, "token");
    snprintf(f, sizeof f, "%s.token", base);
    if (tok && !(json_is_string(tok) && as_valid_secret_key(json_string_value(tok))))
        as_problem_add(p, f, "must name a key of the project's runner Secret ([-._a-zA-Z0-9]+), "
                             "not hold a token");
}

size_t as_check_repos(const json_t *repos, const char *base, struct as_problems *p)
{
    if (!repos)
        return 0;
    if (!json_is_array(repos)) {
        as_problem_add(p, base, "must be a list");
        return 0;
    }
    size_t i;
    const json_t *repo;
    json_array_foreach(repos, i, repo)
    {
        char at[64], f[96];
        snprintf(at, sizeof at, "%.40s[%zu]", base, i);
        if (!json_is_object(repo)) {
            as_problem_add(p, at, "must be an object");
            continue;
        }
        snprintf(f, sizeof f, "%s.input", at);
        check_input(json_object_get(repo, "input"), f, p);
        const json_t *out = json_object_get(repo, "output");
        snprintf(f, sizeof f, "%s.output", at);
        if (out)
            check_output(out, f, p);
    }
    return json_array_size(repos);
}

void as_unknown_repo_fields(const json_t *repos, const char *base, struct as_problems *p)
{
    static const char *const repo_fields[] = {"input", "output", NULL};
    static const char *const input_fields[] = {"url", "branch", "token", NULL};
    static const char *const output_fields[] = {"pushTo", "targetBranch", "targetRepo", NULL};
    for (size_t i = 0; json_is_array(repos) && i < json_array_size(repos); i++) {
        const json_t *repo = json_array_get(repos, i);
        char at[64], sub[96];
        snprintf(at, sizeof at, "%.30s[%zu]", base, i);
        as_unknown_in(repo, repo_fields, at, p);
        snprintf(sub, sizeof sub, "%s.input", at);
        as_unknown_in(json_object_get(repo, "input"), input_fields, sub, p);
        snprintf(sub, sizeof sub, "%s.output", at);
        as_unknown_in(json_object_get(repo, "output"), output_fields, sub, p);
    }
}
