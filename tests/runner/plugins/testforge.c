/* testforge.c — a forge plugin for ambient-runner's tests: it serves the
 * repositories of tests/githttp (whose bare repositories it can reach on
 * disk), so the runner's whole forge path — choosing the forge by URL,
 * credentials from it, fork, pull request — runs against real git.
 *
 *   testforge = { url = "http://127.0.0.1:PORT/"; root = "/githttp/root";
 *                 user = "forker"; };
 *
 * match_url: URLs under url. parse_repo: {host, owner, name, web_url,
 * clone_url}. clone_credentials: the token as password. fork: a bare copy of
 * the repository under root/<user>/ (made once, then reused). open_pull_request:
 * appends the request to root/pulls.ndjson and answers {url, number}. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ambient/plugin.h>

static const struct amb_host *host;

struct forge {
    const char *url, *root, *user;
};

static int match_url(void *ud, const char *url)
{
    struct forge *f = ud;
    return strncmp(url, f->url, strlen(f->url)) == 0;
}

static int parse_repo(void *ud, struct amb_ctx *ctx, const char *url, json_t **out,
                      struct amb_error *err)
{
    (void)ctx;
    struct forge *f = ud;
    char owner[128], name[128];
    const char *path = url + strlen(f->url);
    if (!match_url(ud, url) || sscanf(path, "%127[^/]/%127[^/]", owner, name) != 2)
        return host->error_set(err, AMB_EINVAL, NULL, "not a testforge URL: %s", url);
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".git") == 0)
        name[n - 4] = '\0';
    char web[512];
    snprintf(web, sizeof web, "%s%s/%s", f->url, owner, name);
    *out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "host", "testforge", "owner", owner, "name",
                     name, "web_url", web, "clone_url", url);
    return *out ? AMB_OK : AMB_ENOMEM;
}

static int clone_credentials(void *ud, struct amb_ctx *ctx, const json_t *repo,
                             const char *token, json_t **out, struct amb_error *err)
{
    (void)ud;
    (void)ctx;
    (void)repo;
    if (!token)
        return host->error_set(err, AMB_EUNAUTHORIZED, NULL, "testforge needs a token");
    *out = json_pack("{s:s, s:s}", "username", "forge-user", "password", token);
    return *out ? AMB_OK : AMB_ENOMEM;
}

static int fork_repo(void *ud, struct amb_ctx *ctx, const json_t *repo, const char *token,
                     json_t **out, struct amb_error *err)
{
    (void)ctx;
    (void)token;
    struct forge *f = ud;
    const char *owner = json_string_value(json_object_get(repo, "owner"));
    const char *name = json_string_value(json_object_get(repo, "name"));
    char src[1024], dir[1024], dst[2048], url[1024];
    snprintf(src, sizeof src, "%s/%s/%s.git", f->root, owner, name);
    snprintf(dir, sizeof dir, "%s/%s", f->root, f->user);
    snprintf(dst, sizeof dst, "%s/%s.git", dir, name);
    mkdir(dir, 0755);
    struct stat st;
    if (stat(dst, &st) != 0) { /* an existing fork is reused */
        pid_t pid = fork();
        if (pid == 0) {
            execlp("git", "git", "clone", "--quiet", "--bare", src, dst, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            return host->error_set(err, AMB_EIO, NULL, "fork of %s/%s failed", owner, name);
    }
    snprintf(url, sizeof url, "%s%s/%s.git", f->url, f->user, name);
    return parse_repo(ud, NULL, url, out, err);
}

static int open_pull_request(void *ud, struct amb_ctx *ctx, const json_t *req, const char *token,
                             json_t **out, struct amb_error *err)
{
    (void)ctx;
    struct forge *f = ud;
    char path[1024];
    snprintf(path, sizeof path, "%s/pulls.ndjson", f->root);
    FILE *fp = fopen(path, "a+");
    if (!fp)
        return host->error_set(err, AMB_EIO, NULL, "cannot record the pull request");
    int number = 1;
    for (int c; (c = fgetc(fp)) != EOF;)
        number += c == '\n';
    json_t *rec = json_deep_copy(req);
    json_object_set_new(rec, "number", json_integer(number));
    json_object_set_new(rec, "token_given", json_boolean(token && *token));
    char *line = json_dumps(rec, JSON_COMPACT);
    fprintf(fp, "%s\n", line ? line : "{}");
    free(line);
    json_decref(rec);
    fclose(fp);
    char url[512];
    snprintf(url, sizeof url, "%spulls/%d", f->url, number);
    *out = json_pack("{s:s, s:i}", "url", url, "number", number);
    return *out ? AMB_OK : AMB_ENOMEM;
}

static int init(const struct amb_host *h, struct amb_module *self, void **state,
                struct amb_error *err)
{
    (void)state;
    host = h;
    struct forge *f = h->alloc(sizeof *f);
    if (!f)
        return AMB_ENOMEM;
    if (h->config_string(self, "url", &f->url) != AMB_OK ||
        h->config_string(self, "root", &f->root) != AMB_OK ||
        h->config_string(self, "user", &f->user) != AMB_OK) {
        h->free(f);
        return h->error_set(err, AMB_EINVAL, NULL, "testforge needs url, root and user");
    }
    struct amb_forge forge = {
        .size = sizeof forge, .name = "testforge", .match_url = match_url,
        .parse_repo = parse_repo, .clone_credentials = clone_credentials, .fork = fork_repo,
        .open_pull_request = open_pull_request,
    };
    return h->register_forge(self, &forge, f, h->free);
}

static const struct amb_plugin plugin = {
    AMB_PLUGIN_HEADER, .name = "testforge", .version = "0.1.0",
    .description = "a forge over tests/githttp, for the runner's tests", .init = init,
};
AMB_DEFINE_PLUGIN(plugin)
