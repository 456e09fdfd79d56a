/* git.c — clone, commit and push with real git, never letting a token out.
 *
 * Credentials reach git only through a credential helper defined in the
 * child's environment (GIT_CONFIG_COUNT/KEY/VALUE) and scoped to the
 * repository's scheme://host:port, reading the password from a variable
 * of that child alone: never in a URL, argv, .git/config or a log. The
 * user's and system's git config are not read (GIT_CONFIG_GLOBAL=/dev/null,
 * GIT_CONFIG_NOSYSTEM), hooks never run (core.hooksPath=/dev/null), and
 * .git/config is restored to what the clone wrote before the runner
 * commits and pushes: the agent could have added a helper, an insteadOf or
 * an fsmonitor to it. No commit that carries one of the session's secrets
 * is pushed. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "as_names.h"
#include "registry-internal.h"
#include "runner.h"

#define GIT_OUTPUT_CAP (64u * 1024)
#define MAX_CONFIG_BYTES (1024u * 1024)
#define MAX_SCANNED_FILE (64u * 1024 * 1024)
#define CREDENTIAL_HELPER                                                                  \
    "!f() { test \"$1\" = get || return 0; echo \"username=${AMBIENT_GIT_USERNAME}\"; "    \
    "echo \"password=${AMBIENT_GIT_PASSWORD}\"; }; f"

/* scheme://host[:port] of an http(s) URL, for scoping the helper; NULL for
 * anything else (ssh, scp-like). */
static char *credential_scope(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        (strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0)) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        struct ambd_buf b = {0};
        ambd_buf_printf(&b, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
        out = ambd_buf_take(&b);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

static int credential_scope_ok(const char *url)
{
    char *s = credential_scope(url);
    free(s);
    return s != NULL;
}

/* The environment of every git child: nothing of the runner's own. */
static void base_env(struct runner_env *e, const struct runner_git *g,
                     const struct runner_repo *r, int with_credentials)
{
    static const char *const passed[] = {"PATH", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
                                         "GIT_SSL_CAINFO", "https_proxy", "HTTPS_PROXY",
                                         "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"};
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++)
        runner_env_pass(e, passed[i]);
    runner_env_set(e, "HOME", g->workspace);
    runner_env_set(e, "LC_ALL", "C");
    runner_env_set(e, "GIT_CONFIG_NOSYSTEM", "1");
    runner_env_set(e, "GIT_CONFIG_GLOBAL", "/dev/null");
    runner_env_set(e, "GIT_TERMINAL_PROMPT", "0");
    char *scope = with_credentials && r && r->password ? credential_scope(r->push_url
                                                                             ? r->push_url
                                                                             : r->url)
                                                       : NULL;
    /* An empty credential.helper empties the list any other config built. */
    const char *keys[] = {"core.hooksPath", "core.fsmonitor", "credential.helper", NULL};
    const char *values[] = {"/dev/null", "false", "", NULL};
    struct ambd_buf key = {0};
    size_t n = 3;
    if (scope) {
        ambd_buf_printf(&key, "credential.%s.helper", scope);
        keys[3] = key.data;
        values[3] = CREDENTIAL_HELPER;
        n = 4;
        runner_env_set(e, "AMBIENT_GIT_USERNAME", r->username);
        runner_env_set(e, "AMBIENT_GIT_PASSWORD", r->password);
    }
    char name[32], count[16];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "GIT_CONFIG_KEY_%zu", i);
        runner_env_set(e, name, keys[i]);
        snprintf(name, sizeof name, "GIT_CONFIG_VALUE_%zu", i);
        runner_env_set(e, name, values[i]);
    }
    snprintf(count, sizeof count, "%zu", n);
    runner_env_set(e, "GIT_CONFIG_COUNT", count);
    ambd_buf_release(&key);
    free(scope);
}

/* Runs git with argv after "git"; *out (may be NULL) gets its output,
 * scrubbed of secrets. Returns git's exit status, or -1. */
static int git_run(const struct runner_git *g, const struct runner_repo *r, const char *cwd,
                   int with_credentials, long timeout_ms, char **out, ...)
{
    const char *argv[32] = {"git"};
    size_t n = 1;
    va_list ap;
    va_start(ap, out);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < sizeof argv / sizeof argv[0] - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    struct runner_env e = {0};
    base_env(&e, g, r, with_credentials);
    char *raw = NULL;
    int st = e.failed ? -1
                      : runner_run((char *const *)argv, e.v, cwd, GIT_OUTPUT_CAP, timeout_ms,
                                   &raw);
    runner_env_clear(&e);
    if (out)
        *out = runner_scrub(raw);
    free(raw);
    return st;
}

/* The last non-empty lines of git's output (where it says what failed),
 * at most n bytes, into an error. */
static int git_error(struct amb_error *err, int code, const char *what, const char *output)
{
    const char *s = output ? output : "";
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
        len--;
    size_t start = len > 600 ? len - 600 : 0;
    struct ambd_buf b = {0};
    for (size_t i = start; i < len; i++)
        ambd_buf_putc(&b, s[i] == '\n' ? ' ' : s[i]);
    char *tail = ambd_buf_take(&b);
    int rc = ambd_error_set(err, code, NULL, "%s: %s", what,
                            tail && *tail ? tail : "git failed without a message");
    free(tail);
    return rc;
}

static char *path_join(const char *a, const char *b)
{
    struct ambd_buf p = {0};
    ambd_buf_printf(&p, "%s/%s", a, b);
    return ambd_buf_take(&p);
}

static char *trimmed(char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    return s;
}

/* ---- credentials ---- */

/* GITHUB_TOKEN for the forge "github", and so on. */
static char *forge_token(const char *forge_name)
{
    char name[80];
    size_t i = 0;
    for (; forge_name[i] && i < sizeof name - 7; i++) {
        char c = forge_name[i];
        name[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : (c == '-' ? '_' : c));
    }
    memcpy(name + i, "_TOKEN", 7);
    return runner_secret_env(name);
}

int runner_git_credentials(const struct runner_git *g, struct runner_repo *r,
                           struct amb_error *err)
{
    char var[48];
    snprintf(var, sizeof var, "AMBIENT_REPO_%zu_TOKEN", r->index);
    char *token = runner_secret_env(var);
    const struct ambd_forge_entry *f = ambd_registry_forge_for_url(g->registry, r->url);
    if (f) {
        r->forge = &f->forge;
        r->forge_ud = f->data.user_data;
        if (!token)
            token = forge_token(f->forge.name);
        json_t *repo = NULL, *cred = NULL;
        int rc = f->forge.parse_repo ? f->forge.parse_repo(r->forge_ud, NULL, r->url, &repo, err)
                                     : AMB_EUNSUPPORTED;
        /* without a token the forge may still have credentials of its own
         * (a GitHub App); AMB_EUNAUTHORIZED: it has none, clone anonymously */
        if (rc == AMB_OK && f->forge.clone_credentials) {
            rc = f->forge.clone_credentials(r->forge_ud, NULL, repo, token, &cred, err);
            if (rc == AMB_EUNAUTHORIZED && !token) {
                ambd_error_clear(err);
                rc = AMB_OK;
            }
            r->forge_auth = rc == AMB_OK && cred;
        }
        if (rc == AMB_OK && cred) {
            const char *u = json_string_value(json_object_get(cred, "username"));
            const char *p = json_string_value(json_object_get(cred, "password"));
            r->username = u ? strdup(u) : NULL;
            r->password = p ? strdup(p) : NULL;
            if (p)
                runner_secret_add(p);
        }
        r->forge_repo = repo;
        r->token = token; /* the forge's API needs it again to fork and open the request */
        json_decref(cred);
        if (rc != AMB_OK && rc != AMB_EUNSUPPORTED)
            return rc;
        return AMB_OK;
    }
    if (!token)
        token = runner_secret_env("GIT_TOKEN");
    if (token) {
        const char *user = getenv("GIT_USERNAME");
        r->username = strdup(user && *user ? user : "x-access-token");
        r->password = token;
    }
    return AMB_OK;
}

/* ---- clone ---- */

/* The config git wrote at clone time, kept so it can be put back. */
static int save_config(struct runner_repo *r, const char *path)
{
    char *file = path_join(path, ".git/config");
    FILE *f = file ? fopen(file, "rb") : NULL;
    free(file);
    if (!f)
        return -1;
    char *buf = malloc(MAX_CONFIG_BYTES);
    size_t n = buf ? fread(buf, 1, MAX_CONFIG_BYTES, f) : 0;
    fclose(f);
    if (!buf || n == MAX_CONFIG_BYTES) {
        free(buf);
        return -1;
    }
    free(r->saved_config);
    r->saved_config = buf;
    r->saved_config_len = n;
    return 0;
}

static int restore_config(const struct runner_repo *r, const char *path)
{
    char *file = path_join(path, ".git/config");
    char *tmp = path_join(path, ".git/config.ambient");
    int ok = 0;
    if (file && tmp && r->saved_config) {
        unlink(tmp);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        ok = fd >= 0 && write(fd, r->saved_config, r->saved_config_len) ==
                            (ssize_t)r->saved_config_len;
        if (fd >= 0)
            close(fd);
        /* rename replaces a symlink the agent may have put there, never its target */
        ok = ok && rename(tmp, file) == 0;
    }
    free(file);
    free(tmp);
    return ok ? 0 : -1;
}

static int is_git_dir(const char *path)
{
    char *dotgit = path_join(path, ".git");
    struct stat st;
    int yes = dotgit && lstat(dotgit, &st) == 0 && S_ISDIR(st.st_mode);
    free(dotgit);
    return yes;
}

int runner_git_clone(const struct runner_git *g, struct runner_repo *r, struct amb_error *err)
{
    char *path = path_join(g->workspace, r->dir);
    char *out = NULL;
    int rc = AMB_OK;
    if (!path)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    if (!credential_scope_ok(r->url)) {
        rc = ambd_error_set(err, AMB_EUNSUPPORTED, NULL,
                            "%s: only http(s) repositories can be cloned (the runner holds no "
                            "ssh key); use the https URL",
                            r->url);
        goto out;
    }
    if (is_git_dir(path)) {
        /* An earlier run of this session cloned it: keep its work. */
        if (git_run(g, r, path, 0, g->short_ms, &out, "remote", "get-url", "origin", NULL) != 0 ||
            strcmp(trimmed(out), r->url) != 0) {
            rc = ambd_error_set(err, AMB_EEXIST, NULL,
                                "the workspace already holds another repository at %s", r->dir);
            goto out;
        }
        free(out);
        out = NULL;
        if (git_run(g, r, path, 1, g->long_ms, &out, "fetch", "--quiet", "origin", NULL) != 0) {
            rc = git_error(err, AMB_EIO, "fetch failed", out);
            goto out;
        }
    } else if (r->branch_given) {
        if (git_run(g, r, g->workspace, 1, g->long_ms, &out, "clone", "--quiet", "--branch",
                    r->branch, "--", r->url, r->dir, NULL) != 0) {
            rc = git_error(err, AMB_EIO, "clone failed", out);
            goto out;
        }
    } else if (git_run(g, r, g->workspace, 1, g->long_ms, &out, "clone", "--quiet", "--", r->url,
                       r->dir, NULL) != 0) {
        rc = git_error(err, AMB_EIO, "clone failed", out);
        goto out;
    }
    free(out);
    out = NULL;
    if (!r->saved_config && save_config(r, path) != 0) {
        rc = ambd_error_set(err, AMB_EIO, NULL, "cannot read %s/.git/config", r->dir);
        goto out;
    }
    if (!r->branch_given) {
        /* The remote's default branch, as the clone checked it out: asked of
         * the remote, never assumed to be "main". */
        if (git_run(g, r, path, 0, g->short_ms, &out, "symbolic-ref", "--short",
                    "refs/remotes/origin/HEAD", NULL) == 0 &&
            strncmp(trimmed(out), "origin/", 7) == 0) {
            r->branch = strdup(out + 7);
        } else {
            free(out);
            out = NULL;
            if (git_run(g, r, path, 0, g->short_ms, &out, "symbolic-ref", "--short", "HEAD",
                        NULL) == 0)
                r->branch = strdup(trimmed(out));
        }
        free(out);
        out = NULL;
    }
    /* The work branch: the one an earlier run left, else the remote's
     * target branch if it exists, else a new one from the input branch. */
    char remote_ref[320];
    snprintf(remote_ref, sizeof remote_ref, "refs/remotes/origin/%s", r->target_branch);
    char local_ref[320];
    snprintf(local_ref, sizeof local_ref, "refs/heads/%s", r->target_branch);
    int st;
    if (git_run(g, r, path, 0, g->short_ms, NULL, "show-ref", "--verify", "--quiet", local_ref,
                NULL) == 0)
        st = git_run(g, r, path, 0, g->short_ms, &out, "checkout", "--quiet", r->target_branch,
                     NULL);
    else if (git_run(g, r, path, 0, g->short_ms, NULL, "show-ref", "--verify", "--quiet",
                     remote_ref, NULL) == 0)
        st = git_run(g, r, path, 0, g->short_ms, &out, "checkout", "--quiet", "-b",
                     r->target_branch, remote_ref + 13, NULL);
    else
        st = git_run(g, r, path, 0, g->short_ms, &out, "checkout", "--quiet", "-b",
                     r->target_branch, NULL);
    if (st != 0) {
        rc = git_error(err, AMB_EIO, "cannot check out the work branch", out);
        goto out;
    }
    free(out);
    out = NULL;
    if (git_run(g, r, path, 0, g->short_ms, &out, "rev-parse", "--verify", "--quiet", "HEAD",
                NULL) == 0)
        r->base_sha = strdup(trimmed(out));
out:
    free(out);
    free(path);
    return rc;
}

/* ---- deliver ---- */

/* Looks for the session's secrets in a stream, across chunk boundaries. */
struct scan {
    char *window; /* the tail of what came before, then the new chunk */
    size_t keep;  /* how much tail to carry: the longest secret */
    size_t len;
    int found;
};

static void scan_chunk(void *ud, const char *data, size_t n)
{
    struct scan *s = ud;
    if (s->found || !s->window)
        return;
    while (n > 0) {
        size_t take = n > 65536 ? 65536 : n;
        memcpy(s->window + s->len, data, take);
        s->len += take;
        if (runner_contains_secret(s->window, s->len)) {
            s->found = 1;
            return;
        }
        size_t tail = s->len < s->keep ? s->len : s->keep;
        memmove(s->window, s->window + s->len - tail, tail);
        s->len = tail;
        data += take;
        n -= take;
    }
}

/* 1 if what would be pushed (every commit's patch and message, binary
 * files as raw bytes) holds a secret, 0 if not, -1 if it cannot be read. */
static int pushes_secret(const struct runner_git *g, const struct runner_repo *r,
                         const char *path)
{
    char range[200];
    if (r->base_sha)
        snprintf(range, sizeof range, "%s..HEAD", r->base_sha);
    else
        snprintf(range, sizeof range, "HEAD");
    const char *argv[] = {"git", "log", "-p", "--text", "--no-color", "--no-ext-diff",
                          "--no-textconv", range, "--", NULL};
    struct scan s = {malloc(65536 + 8192), 8192, 0, 0};
    struct runner_env e = {0};
    base_env(&e, g, r, 0);
    int st = s.window && !e.failed
                 ? runner_run_stream((char *const *)argv, e.v, path, g->long_ms, scan_chunk, &s)
                 : -1;
    runner_env_clear(&e);
    free(s.window);
    if (s.found)
        return 1;
    return st == 0 ? 0 : -1;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

/* The URL to push to: the input repository, the configured fork, or the
 * fork the forge finds or makes. */
static int push_target(const struct runner_git *g, struct runner_repo *r, struct amb_error *err)
{
    (void)g;
    if (r->push_to == PUSH_SAME)
        return (r->push_url = strdup(r->url)) ? AMB_OK : AMB_ENOMEM;
    if (r->target_repo)
        return (r->push_url = strdup(r->target_repo)) ? AMB_OK : AMB_ENOMEM;
    if (!r->forge || !r->forge->fork)
        return ambd_error_set(err, AMB_EUNSUPPORTED, NULL,
                              "pushTo fork needs a forge plugin serving %s (none of the loaded "
                              "plugins does), or output.targetRepo",
                              r->url);
    if (!r->token && !r->forge_auth)
        return ambd_error_set(err, AMB_EUNAUTHORIZED, NULL,
                              "pushTo fork needs a token for the %s forge", r->forge->name);
    json_t *fork = NULL;
    int rc = r->forge->fork(r->forge_ud, NULL, r->forge_repo, r->token, &fork, err);
    if (rc != AMB_OK)
        return rc;
    const char *url = json_string_value(json_object_get(fork, "clone_url"));
    if (!url)
        url = json_string_value(json_object_get(fork, "web_url"));
    if (!url || !as_valid_git_url(url)) {
        json_decref(fork);
        return ambd_error_set(err, AMB_EINTERNAL, NULL,
                              "the %s forge answered the fork without a usable URL",
                              r->forge->name);
    }
    r->push_url = strdup(url);
    json_decref(r->fork_repo);
    r->fork_repo = fork;
    return r->push_url ? AMB_OK : AMB_ENOMEM;
}

static int open_pull_request(const struct runner_git *g, struct runner_repo *r,
                             struct amb_error *err)
{
    char head[400];
    const char *fork_owner = json_string_value(json_object_get(r->fork_repo, "owner"));
    if (fork_owner)
        snprintf(head, sizeof head, "%s:%s", fork_owner, r->target_branch);
    else
        snprintf(head, sizeof head, "%s", r->target_branch);
    json_t *req = json_pack("{s:O, s:s, s:s, s:s, s:s}", "repo", r->forge_repo, "head", head,
                            "base", r->branch ? r->branch : "", "title", g->pr_title, "body",
                            g->pr_body);
    json_t *out = NULL;
    int rc = req ? r->forge->open_pull_request(r->forge_ud, NULL, req, r->token, &out, err)
                 : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    json_decref(req);
    if (rc == AMB_OK)
        set_str(r->status, "pullRequestURL", json_string_value(json_object_get(out, "url")));
    json_decref(out);
    return rc;
}

static int fail_repo(struct runner_repo *r, struct amb_error *err, int code, const char *fmt,
                     const char *arg)
{
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    char *clean = runner_scrub(msg);
    json_object_set_new(r->status, "status", json_string("failed"));
    json_object_set_new(r->status, "error", json_string(clean ? clean : "failed"));
    ambd_error_set(err, code, NULL, "repository %zu (%s): %s", r->index, r->dir,
                   clean ? clean : "failed");
    free(clean);
    return code;
}

int runner_git_deliver(const struct runner_git *g, struct runner_repo *r, int partial,
                       struct amb_error *err)
{
    if (r->push_to == PUSH_NONE)
        return AMB_OK;
    json_decref(r->status);
    r->status = json_pack("{s:I, s:s, s:s}", "repoIndex", (json_int_t)r->index, "status",
                          "abandoned", "branch", r->target_branch);
    if (!r->status)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    char *path = path_join(g->workspace, r->dir);
    char *out = NULL;
    int rc = AMB_OK;
    if (!path || !is_git_dir(path) || restore_config(r, path) != 0) {
        rc = fail_repo(r, err, AMB_EIO, "the repository's .git is gone or unwritable%s", NULL);
        goto out;
    }
    if (git_run(g, r, path, 0, g->long_ms, &out, "add", "--all", NULL) != 0) {
        rc = fail_repo(r, err, AMB_EIO, "git add failed: %s", trimmed(out));
        goto out;
    }
    free(out);
    out = NULL;
    int staged = git_run(g, r, path, 0, g->short_ms, NULL, "diff", "--cached", "--quiet", NULL);
    if (staged == 1) {
        char author[600];
        snprintf(author, sizeof author, "%s <%s>", g->author_name, g->author_email);
        char name_cfg[300], email_cfg[300];
        snprintf(name_cfg, sizeof name_cfg, "user.name=%s", g->opts->git_name);
        snprintf(email_cfg, sizeof email_cfg, "user.email=%s", g->opts->git_email);
        if (git_run(g, r, path, 0, g->long_ms, &out, "-c", name_cfg, "-c", email_cfg, "commit",
                    "--quiet", "--no-verify", "--no-gpg-sign", "--author", author, "-m",
                    g->commit_subject, "-m", g->commit_body, NULL) != 0) {
            rc = fail_repo(r, err, AMB_EIO, "git commit failed: %s", trimmed(out));
            goto out;
        }
        free(out);
        out = NULL;
    } else if (staged != 0) {
        rc = fail_repo(r, err, AMB_EIO, "cannot tell what changed (git diff failed)%s", NULL);
        goto out;
    }
    char range[200];
    snprintf(range, sizeof range, "%s..HEAD", r->base_sha ? r->base_sha : "");
    if (git_run(g, r, path, 0, g->short_ms, &out, "rev-list", "--count",
                r->base_sha ? range : "HEAD", NULL) != 0) {
        /* an empty repository the agent left empty: nothing to push */
        free(out);
        out = NULL;
        json_object_set_new(r->status, "message", json_string("no changes"));
        goto out;
    }
    if (atoll(out) == 0) {
        json_object_set_new(r->status, "message", json_string("no changes"));
        goto out;
    }
    free(out);
    out = NULL;
    int leak = pushes_secret(g, r, path);
    if (leak != 0) {
        rc = fail_repo(r, err, AMB_EFORBIDDEN,
                       leak > 0 ? "not pushed: the changes contain one of the session's "
                                  "secrets (a token or API key)%s"
                                : "not pushed: the changes could not be checked for secrets%s",
                       NULL);
        goto out;
    }
    if ((rc = push_target(g, r, err)) != AMB_OK) {
        char *line = ambd_error_line(err);
        ambd_error_clear(err);
        rc = fail_repo(r, err, rc, "%s", line);
        free(line);
        goto out;
    }
    char refspec[320];
    snprintf(refspec, sizeof refspec, "HEAD:refs/heads/%s", r->target_branch);
    if (git_run(g, r, path, 1, g->long_ms, &out, "push", "--quiet", "--porcelain", "--",
                r->push_url, refspec, NULL) != 0) {
        rc = fail_repo(r, err, AMB_EIO, "push rejected: %s", trimmed(out));
        goto out;
    }
    free(out);
    out = NULL;
    if (git_run(g, r, path, 0, g->short_ms, &out, "rev-parse", "HEAD", NULL) == 0)
        set_str(r->status, "commitSHA", trimmed(out));
    json_object_set_new(r->status, "status", json_string("pushed"));
    set_str(r->status, "targetRepo", r->push_url);
    if (partial)
        json_object_set_new(r->status, "message",
                            json_string("partial work: the agent did not finish"));
    else if (r->forge && r->forge->open_pull_request && (r->token || r->forge_auth) &&
             (rc = open_pull_request(g, r, err)) != AMB_OK) {
        char *line = ambd_error_line(err);
        char *clean = runner_scrub(line);
        if (rc == AMB_EINVAL) {
            /* the forge found nothing to review (no commits between base and head) */
            json_object_set_new(r->status, "status", json_string("abandoned"));
            json_object_set_new(r->status, "message", json_string(clean ? clean : "abandoned"));
            ambd_error_clear(err);
            rc = AMB_OK;
        } else {
            json_object_set_new(r->status, "error", json_string(clean ? clean : "failed"));
        }
        free(clean);
        free(line);
    }
out:
    free(out);
    free(path);
    return rc;
}
