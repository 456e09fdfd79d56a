/* secrets.c — the values the runner must never let out: the model API key,
 * forge and git tokens, per-repo tokens and its own service-account token.
 * Each is registered with the log sink, which redacts it from every line;
 * events, status messages and git output go through runner_scrub too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log-internal.h"
#include "runner.h"

extern char **environ;

#define MAX_TOKEN_FILE 16384
#define MAX_KEPT 64

/* Our own list, for searching file contents (the log sink keeps one too,
 * for text). Written once at start, read-only afterwards. */
static char *kept[MAX_KEPT];
static size_t n_kept;

void runner_secret_add(const char *value)
{
    ambd_log_add_secret(value);
    if (strlen(value) >= 8 && n_kept < MAX_KEPT)
        kept[n_kept++] = strdup(value);
}

static int is_secret_name(const char *name, size_t len)
{
    static const char *const names[] = {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                                        "GITHUB_TOKEN",      "GITLAB_TOKEN",
                                        "GIT_TOKEN"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncmp(name, names[i], len) == 0)
            return 1;
    /* AMBIENT_REPO_<i>_TOKEN */
    return len > 19 && strncmp(name, "AMBIENT_REPO_", 13) == 0 &&
           strncmp(name + len - 6, "_TOKEN", 6) == 0;
}

void runner_secrets_register(const struct runner_opts *o)
{
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq && is_secret_name(*e, (size_t)(eq - *e)))
            runner_secret_add(eq + 1);
    }
    FILE *f = o->token_file ? fopen(o->token_file, "r") : NULL;
    if (!f)
        return;
    char buf[MAX_TOKEN_FILE];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    runner_secret_add(buf);
    explicit_bzero(buf, sizeof buf);
}

char *runner_secret_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? strdup(v) : NULL;
}

char *runner_scrub(const char *text)
{
    return ambd_redact(text ? text : "");
}

int runner_contains_secret(const char *data, size_t len)
{
    for (size_t i = 0; i < n_kept; i++)
        if (kept[i] && memmem(data, len, kept[i], strlen(kept[i])))
            return 1;
    return 0;
}

void runner_secrets_forget(void)
{
    for (size_t i = 0; i < n_kept; i++) {
        if (kept[i])
            explicit_bzero(kept[i], strlen(kept[i]));
        free(kept[i]);
        kept[i] = NULL;
    }
    n_kept = 0;
}
