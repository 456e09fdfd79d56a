/* names.c — Kubernetes name rules, and the path parameters checked by them
 * before a name reaches a URL (no "..", "/", or upper case gets that far). */
#include <string.h>

#include "api.h"

static int is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

int api_is_dns_label(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return 0;
    }
    return 1;
}

int api_is_dns_subdomain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 253 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' && (s[i - 1] == '.' || s[i - 1] == '-' || s[i + 1] == '-'))
            return 0;
        if (!is_alnum_lower(s[i]) && s[i] != '-' && s[i] != '.')
            return 0;
    }
    return 1;
}

const char *api_project_param(struct api_req *r)
{
    const char *p = api_param(r, "project");
    if (api_is_dns_label(p))
        return p;
    api_reply_field(r, 400, "project", "must be a DNS-1123 label ([a-z0-9-], at most 63 characters)");
    return NULL;
}

const char *api_name_param(struct api_req *r)
{
    const char *n = api_param(r, "name");
    if (api_is_dns_subdomain(n))
        return n;
    api_reply_field(r, 400, "name", "must be a DNS-1123 subdomain ([a-z0-9.-], at most 253 characters)");
    return NULL;
}
