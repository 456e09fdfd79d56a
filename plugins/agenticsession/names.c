/* names.c — pure checks of the names a session carries: git URLs, branch
 * names and Secret keys. Shared by the plugin's validation and by
 * ambient-runner, which checks again what it is about to hand to git. */
#include <string.h>

#include "as_names.h"

static int is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

/* Nothing a shell, git's option parser or a URL transport could misread. */
static int clean(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == 0x7f || c == '\\' || c == '"' || c == '\'' || c == '`')
            return 0;
    }
    return 1;
}

/* host[:port] followed by '/' and a non-empty path. */
static int host_and_path(const char *s)
{
    const char *at = strchr(s, '@');
    const char *slash = strchr(s, '/');
    if (at && (!slash || at < slash)) {
        /* user@ only: a password in a URL would sit in the spec for every
         * viewer to read; tokens belong in the project's runner Secret. */
        if (memchr(s, ':', (size_t)(at - s)))
            return 0;
        s = at + 1;
    }
    size_t h = 0;
    while (is_host_char(s[h]))
        h++;
    if (h == 0 || s[0] == '-' || s[0] == '.')
        return 0;
    s += h;
    if (*s == ':') {
        size_t d = 0;
        while (s[1 + d] >= '0' && s[1 + d] <= '9')
            d++;
        if (d == 0 || d > 5)
            return 0;
        s += 1 + d;
    }
    return s[0] == '/' && s[1] != '\0' && s[1] != '/';
}

int as_valid_git_url(const char *url)
{
    if (!url || !*url || strlen(url) > 2048 || !clean(url) || url[0] == '-')
        return 0;
    if (strncmp(url, "https://", 8) == 0)
        return host_and_path(url + 8);
    if (strncmp(url, "http://", 7) == 0)
        return host_and_path(url + 7);
    if (strncmp(url, "ssh://", 6) == 0)
        return host_and_path(url + 6);
    /* scp-like: user@host:path, as git accepts for ssh (no "://"). */
    const char *at = strchr(url, '@');
    const char *colon = strchr(url, ':');
    if (!at || !colon || colon < at || strstr(url, "://") || at == url)
        return 0;
    for (const char *c = url; c < at; c++)
        if (!is_host_char(*c))
            return 0;
    if (colon == at + 1 || colon[1] == '\0' || colon[1] == '-')
        return 0;
    for (const char *c = at + 1; c < colon; c++)
        if (!is_host_char(*c))
            return 0;
    return 1;
}

/* git check-ref-format's rules that matter for a branch name. */
int as_valid_branch(const char *b)
{
    size_t n = strlen(b);
    if (n == 0 || n > 255 || !clean(b) || b[0] == '-' || b[0] == '/' || b[n - 1] == '/' ||
        b[n - 1] == '.' || strstr(b, "..") || strstr(b, "//") || strstr(b, "@{") ||
        (n >= 5 && strcmp(b + n - 5, ".lock") == 0) || strcmp(b, "@") == 0)
        return 0;
    return strpbrk(b, "~^:?*[") == NULL;
}

/* A key of a Secret: [-._a-zA-Z0-9]+, at most 253. */
int as_valid_secret_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 253)
        return 0;
    for (; *k; k++)
        if (!is_host_char(*k))
            return 0;
    return 1;
}
