/* fork.c — fork a project into the token owner's namespace: POST
 * /projects/:id/fork, or the fork already there (409), then wait until
 * GitLab has finished copying the repository (import_status), polling with
 * backoff up to fork_wait. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gitlab.h"

#define POLL_FIRST_MS 250
#define POLL_MAX_MS 4000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The fork as GitLab shows it once its import is finished ("none": a
 * project that was never imported, an old fork). */
static int wait_ready(const struct gitlab *g, const struct fk_instance *inst, json_t **fork,
                      const char *token, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    double deadline = now_s() + (double)g->fork_wait_s;
    long wait_ms = POLL_FIRST_MS;
    for (;;) {
        const char *st = json_string_value(json_object_get(*fork, "import_status"));
        const char *path = json_string_value(json_object_get(*fork, "path_with_namespace"));
        if (!st || strcmp(st, "finished") == 0 || strcmp(st, "none") == 0)
            return AMB_OK;
        const char *why = json_string_value(json_object_get(*fork, "import_error"));
        if (strcmp(st, "failed") == 0)
            return h->error_set(err, AMB_EIO, NULL, "GitLab could not copy the fork %.300s: %.300s",
                                path ? path : "?", why ? why : "import failed");
        if (now_s() + (double)wait_ms / 1000 > deadline)
            return h->error_set(err, AMB_ETIMEDOUT, NULL,
                                "the fork %.300s was not ready after %ld s (import_status "
                                "%.40s; gitlab.fork_wait)",
                                path ? path : "?", g->fork_wait_s, st);
        sleep_ms(wait_ms);
        wait_ms = wait_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : wait_ms * 2;
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)gl_int(*fork, "id"));
        json_t *again = NULL;
        int rc = gl_project(g, inst, id, token, 0, &again, err);
        if (rc != AMB_OK)
            return rc;
        json_decref(*fork);
        *fork = again;
    }
}

/* POST /fork; on 409 (a project of that name is in the namespace already)
 * the existing fork. */
static int make_fork(const struct gitlab *g, const struct fk_instance *inst, const json_t *src,
                     const char *user, const char *token, json_t **out, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    json_int_t id = gl_int(src, "id");
    const char *name = json_string_value(json_object_get(src, "path"));
    const char *src_path = json_string_value(json_object_get(src, "path_with_namespace"));
    if (id < 0 || !name || !src_path)
        return h->error_set(err, AMB_EIO, NULL, "GitLab answered a project without id or path");
    char path[64];
    snprintf(path, sizeof path, "/projects/%lld/fork", (long long)id);
    json_t *body = json_object();
    struct fk_answer a = {0};
    int rc = body ? gl_call(g, inst, "POST", path, token, body, &a, err) : AMB_ENOMEM;
    json_decref(body);
    if (rc == AMB_OK && (a.status == 201 || a.status == 200) && json_is_object(a.json)) {
        *out = json_incref(a.json);
    } else if (rc == AMB_OK && a.status == 409) {
        rc = gl_find_fork(g, inst, id, name, user, token, out, err);
        if (rc == AMB_OK && !*out)
            rc = h->error_set(err, AMB_EEXIST, NULL,
                              "GitLab refused to fork %.300s (HTTP 409): %.100s/%.300s exists "
                              "and is not a fork of it; rename or delete it",
                              src_path, user, name);
    } else if (rc == AMB_OK) {
        char what[FK_MAX_PATH + 32];
        snprintf(what, sizeof what, "forking %s", src_path);
        rc = gl_fail(g, &a, what, err);
    }
    fk_answer_clear(&a);
    return rc;
}

int gl_fork(void *ud, struct amb_ctx *ctx, const json_t *repo, const char *token, json_t **out,
            struct amb_error *err)
{
    (void)ctx;
    const struct gitlab *g = ud;
    struct fk_repo r, fr;
    json_t *src = NULL, *user = NULL, *fork = NULL;
    int rc = fk_repo_from_json(&g->env, &g->instances, repo, GL_MIN_SEGMENTS, FK_MAX_SEGMENTS,
                               &r, err);
    if (rc == AMB_OK)
        rc = gl_project(g, r.inst, r.path, token, 0, &src, err);
    if (rc == AMB_OK)
        rc = gl_get_object(g, r.inst, "/user", token, "GitLab user of the token", 0, &user, err);
    const char *username = json_string_value(json_object_get(user, "username"));
    if (rc == AMB_OK && !username)
        rc = g->env.host->error_set(err, AMB_EIO, NULL, "GitLab's /user has no username");
    if (rc == AMB_OK)
        rc = make_fork(g, r.inst, src, username, token, &fork, err);
    if (rc == AMB_OK)
        rc = wait_ready(g, r.inst, &fork, token, err);
    /* The fork's URL is GitLab's answer: parsed again, so it must be a
     * repository of the same configured instance. */
    const char *clone = json_string_value(json_object_get(fork, "http_url_to_repo"));
    if (rc == AMB_OK)
        rc = fk_repo_from_url(&g->env, &g->instances, clone ? clone : "", GL_MIN_SEGMENTS,
                              FK_MAX_SEGMENTS, &fr, err);
    if (rc == AMB_OK && fr.inst != r.inst)
        rc = g->env.host->error_set(err, AMB_EIO, NULL,
                                    "GitLab answered a fork on another instance");
    if (rc == AMB_OK && !(*out = fk_repo_json(&fr)))
        rc = AMB_ENOMEM;
    json_decref(src);
    json_decref(user);
    json_decref(fork);
    return rc;
}
