/* wording.c — Kubernetes' error messages in Ambient's words.
 *
 * A Kubernetes Status message names objects as the API does
 * (`namespaces "p" not found`, `agenticsessions.vteam.ambient-code "s"
 * already exists`, `Operation cannot be fulfilled on ...`, `... is
 * forbidden: User "u" cannot list resource ...`), and the kube client adds
 * "(HTTP 404 NotFound)", which the reply's status already says. A user of
 * Ambient knows projects and sessions. The forms below are rewritten,
 * keeping every name and the reason; anything else passes as it is (the
 * access review's own 403, reply.c, uses the same nouns). */
#include <stdio.h>
#include <string.h>

#include "api.h"

static const struct {
    const char *resource, *group, *one, *many;
} nouns[] = {
    {"namespaces", "", "project", "projects"},
    {AMB_SESSION_PLURAL, AMB_GROUP, "session", "sessions"},
    {AMB_SETTINGS_PLURAL, AMB_GROUP, "project settings", "project settings"},
    {"rolebindings", "rbac.authorization.k8s.io", "role binding", "role bindings"},
    {"secrets", "", "secret", "secrets"},
};

void api_noun(const char *resource, const char *group, int one, char *out, size_t len)
{
    for (size_t i = 0; i < sizeof nouns / sizeof nouns[0]; i++)
        if (strcmp(nouns[i].resource, resource) == 0 && strcmp(nouns[i].group, group) == 0) {
            snprintf(out, len, "%s", one ? nouns[i].one : nouns[i].many);
            return;
        }
    snprintf(out, len, "%s%s%s", resource, *group ? "." : "", group);
}

/* The noun of "plural[.group]" (n bytes of s). */
static void noun_of(const char *s, size_t n, int one, char *out, size_t len)
{
    char res[128], *dot;
    snprintf(res, sizeof res, "%.*s", (int)(n < sizeof res ? n : sizeof res - 1), s);
    dot = strchr(res, '.');
    if (dot)
        *dot++ = '\0';
    api_noun(res, dot ? dot : "", one, out, len);
}

/* If *p starts with want, moves past it: 1; else 0. */
static int eat(const char **p, const char *want)
{
    size_t n = strlen(want);
    if (strncmp(*p, want, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* A "quoted" word at *p, into out (at most len - 1 bytes); moves past it. */
static int quoted(const char **p, char *out, size_t len)
{
    const char *end;
    if (**p != '"' || !(end = strchr(*p + 1, '"')))
        return 0;
    size_t n = (size_t)(end - *p - 1);
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), *p + 1);
    *p = end + 1;
    return 1;
}

/* `User "u" cannot VERB resource "R" in API group "G" in the namespace
 * "NS"TAIL` (or `at the cluster scope`) as `u cannot VERB <noun> [name ]in
 * project "NS"TAIL`. */
static int forbidden(const char *p, const char *name, char *out, size_t len)
{
    char user[256], verb[32], res[128], group[128], ns[128], noun[160];
    size_t v;
    if (!eat(&p, "User ") || !quoted(&p, user, sizeof user) || !eat(&p, " cannot "))
        return 0;
    v = strcspn(p, " ");
    if (v == 0 || v >= sizeof verb)
        return 0;
    snprintf(verb, sizeof verb, "%.*s", (int)v, p);
    p += v;
    if (!eat(&p, " resource ") || !quoted(&p, res, sizeof res) || !eat(&p, " in API group ") ||
        !quoted(&p, group, sizeof group))
        return 0;
    api_noun(res, group, name != NULL, noun, sizeof noun);
    char named[320] = "";
    if (name)
        snprintf(named, sizeof named, " \"%s\"", name);
    if (eat(&p, " in the namespace ") && quoted(&p, ns, sizeof ns))
        snprintf(out, len, "%s cannot %s %s%s in project \"%s\"%s", user, verb, noun, named, ns,
                 p);
    else if (eat(&p, " at the cluster scope"))
        snprintf(out, len, "%s cannot %s %s%s at cluster scope%s", user, verb, noun, named, p);
    else
        return 0;
    return 1;
}

/* `<plural[.group]> ["name"]<rest>`, `Operation cannot be fulfilled on
 * <res> "name": <why>`, `unable to create new content in namespace NS
 * because it is being terminated`; 0 for anything else. */
static int reword(const char *p, char *out, size_t len)
{
    char name[256], noun[160], ns[128];
    int conflict = eat(&p, "Operation cannot be fulfilled on ");
    if (eat(&p, "unable to create new content in namespace ")) {
        size_t n = strcspn(p, " ");
        snprintf(ns, sizeof ns, "%.*s", (int)(n < sizeof ns ? n : sizeof ns - 1), p);
        p += n;
        if (!eat(&p, " because it is being terminated"))
            return 0;
        snprintf(out, len, "project \"%s\" is being deleted%s", ns, p);
        return 1;
    }
    size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789.-");
    if (n == 0 || p[n] != ' ')
        return 0;
    const char *res = p;
    p += n + 1;
    int has_name = quoted(&p, name, sizeof name);
    noun_of(res, n, has_name, noun, sizeof noun);
    if (conflict) {
        if (!has_name || !eat(&p, ": "))
            return 0;
        if (strstr(p, "has been modified"))
            snprintf(out, len, "%s \"%s\" was changed since it was read: read it again and retry",
                     noun, name);
        else
            snprintf(out, len, "%s \"%s\": %s", noun, name, p);
        return 1;
    }
    if (eat(&p, has_name ? " is forbidden: " : "is forbidden: "))
        return forbidden(p, has_name ? name : NULL, out, len);
    if (!has_name)
        return 0;
    snprintf(out, len, "%s \"%s\"%s", noun, name, p);
    return 1;
}

void api_words(const char *msg, char *out, size_t len)
{
    char text[1024], *tail = NULL;
    snprintf(text, sizeof text, "%s", msg);
    for (char *t = strstr(text, " (HTTP "); t; t = strstr(t + 1, " (HTTP "))
        tail = t;
    size_t n = strlen(text);
    if (tail && text[n - 1] == ')' && !strchr(tail + 2, '('))
        *tail = '\0';
    if (!reword(text, out, len))
        snprintf(out, len, "%s", text);
}
