/* url.c — repository URLs taken apart, refusing anything that is not
 * plainly scheme://host[:port]/seg/seg (or scp-like user@host:seg/seg):
 * a URL is chosen by whoever writes a session, and what comes out of here
 * decides which forge instance (and token) a request goes to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forgekit.h"

static int fail(const char **why, const char *msg)
{
    *why = msg;
    return -1;
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_segment_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }

/* Whole-URL checks before any splitting: printable ASCII only, and none of
 * the characters that change what a URL means to another parser. */
static int check_bytes(const char *url, const char **why)
{
    size_t n = strlen(url);
    if (n == 0)
        return fail(why, "is empty");
    if (n > FK_MAX_URL)
        return fail(why, "is too long");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(why, "contains a space, control or non-ASCII character");
        if (c == '%')
            return fail(why, "contains '%' (percent-encoding is not accepted)");
        if (c == '?' || c == '#')
            return fail(why, "has a query or fragment");
        if (c == '\\')
            return fail(why, "contains a backslash");
    }
    return 0;
}

/* A user name before '@': letters, digits, '.', '_', '-'; a ':' would
 * start a password, which never belongs in a repository URL. */
static int check_user(const char *s, size_t n, const char **why)
{
    if (n == 0)
        return fail(why, "has an empty user name");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':')
            return fail(why, "carries a password");
        if (!is_segment_char(s[i]))
            return fail(why, "has an invalid user name");
    }
    return 0;
}

/* A DNS name or IPv4 address, lower-cased into out. */
static int set_host(struct fk_url *out, const char *s, size_t n, const char **why)
{
    if (n == 0)
        return fail(why, "has no host");
    if (n > FK_MAX_HOST)
        return fail(why, "has a host name that is too long");
    if (s[0] == '.' || s[n - 1] == '.' || s[0] == '-')
        return fail(why, "has an invalid host name");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alnum(c) && c != '.' && c != '-')
            return fail(why, "has an invalid host name");
        if (c == '.' && s[i + 1] == '.')
            return fail(why, "has an invalid host name");
        out->host[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out->host[n] = '\0';
    return 0;
}

static int set_port(struct fk_url *out, const char *s, size_t n, const char **why)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return fail(why, "has an invalid port");
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(why, "has an invalid port");
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return fail(why, "has an invalid port");
    static const unsigned defaults[] = {[FK_HTTPS] = 443, [FK_HTTP] = 80, [FK_SSH] = 22};
    out->port = v == defaults[out->scheme] ? 0 : (unsigned)v;
    return 0;
}

/* The path: segments of safe characters, none empty, "." or "..", none
 * starting with '-' (git would read it as an option); one trailing '/'
 * and a final ".git" dropped. */
static int set_path(struct fk_url *out, const char *s, const char **why)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '/')
        n--;
    if (n >= 4 && memcmp(s + n - 4, ".git", 4) == 0 && n > 4 && s[n - 5] != '/')
        n -= 4;
    if (n > FK_MAX_PATH)
        return fail(why, "has a path that is too long");
    memcpy(out->path, s, n);
    out->path[n] = '\0';
    out->n_segments = 0;
    if (n == 0)
        return 0;
    const char *p = out->path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return fail(why, "has an empty path segment");
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return fail(why, "has a '.' or '..' path segment");
        if (p[0] == '-')
            return fail(why, "has a path segment starting with '-'");
        if (len == 4 && strncasecmp(p, ".git", 4) == 0)
            return fail(why, "has a '.git' path segment");
        for (size_t i = 0; i < len; i++)
            if (!is_segment_char(p[i]))
                return fail(why, "has a path segment with characters other than letters, "
                                 "digits, '.', '_' and '-'");
        if (++out->n_segments > FK_MAX_SEGMENTS)
            return fail(why, "has too many path segments");
        if (!end)
            break;
        if (end[1] == '\0')
            return fail(why, "has an empty path segment");
        p = end + 1;
    }
    return 0;
}

/* The host part of the n bytes at s ("[user@]host..."), past a checked
 * user name; NULL with *why. */
static const char *skip_user(const char *s, size_t n, struct fk_url *out, const char **why)
{
    const char *at = memchr(s, '@', n);
    if (!at)
        return s;
    if (check_user(s, (size_t)(at - s), why) != 0)
        return NULL;
    out->has_user = 1;
    if (memchr(at + 1, '@', n - (size_t)(at + 1 - s)))
        return fail(why, "has more than one '@'"), NULL;
    return at + 1;
}

/* scheme://[user@]host[:port][/path] */
static int parse_hierarchical(const char *rest, struct fk_url *out, const char **why)
{
    const char *slash = strchr(rest, '/');
    size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *host = skip_user(rest, alen, out, why);
    if (!host)
        return -1;
    size_t hlen = alen - (size_t)(host - rest);
    const char *colon = memchr(host, ':', hlen);
    if (set_host(out, host, colon ? (size_t)(colon - host) : hlen, why) != 0)
        return -1;
    out->port = 0;
    if (colon && set_port(out, colon + 1, hlen - (size_t)(colon + 1 - host), why) != 0)
        return -1;
    return set_path(out, slash ? slash + 1 : "", why);
}

/* [user@]host:path, as git reads it: no '/' before the ':'. */
static int parse_scp(const char *url, struct fk_url *out, const char **why)
{
    const char *colon = strchr(url, ':');
    const char *slash = strchr(url, '/');
    if (!colon || (slash && slash < colon))
        return fail(why, "is not an https, ssh or scp-like (user@host:path) URL");
    const char *host = skip_user(url, (size_t)(colon - url), out, why);
    if (!host)
        return -1;
    out->scheme = FK_SSH;
    out->port = 0;
    if (set_host(out, host, (size_t)(colon - host), why) != 0)
        return -1;
    const char *path = colon + 1;
    if (*path == '/')
        path++;
    if (*path == '\0')
        return fail(why, "has no path");
    return set_path(out, path, why);
}

int fk_url_parse(const char *url, struct fk_url *out, const char **why)
{
    static const struct {
        const char *prefix;
        enum fk_scheme scheme;
    } schemes[] = {{"https://", FK_HTTPS}, {"http://", FK_HTTP}, {"ssh://", FK_SSH}};
    memset(out, 0, sizeof *out);
    if (!url)
        return fail(why, "is missing");
    if (check_bytes(url, why) != 0)
        return -1;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncmp(url, schemes[i].prefix, n) == 0) {
            out->scheme = schemes[i].scheme;
            return parse_hierarchical(url + n, out, why);
        }
    }
    if (strstr(url, "://"))
        return fail(why, "has a scheme other than https, http or ssh");
    return parse_scp(url, out, why);
}

int fk_url_escape(const char *s, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (is_segment_char((char)c) || c == '~') {
            if (o + 1 >= len)
                return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= len)
                return -1;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= len)
        return -1;
    out[o] = '\0';
    return 0;
}
