/* names.c — the path parameters checked by Kubernetes' name rules
 * (ambient/names.h) before a name reaches a URL (no "..", "/", or upper
 * case gets that far). */

#include "api.h"

const char *api_project_param(struct api_req *r)
{
    const char *p = api_param(r, "project");
    if (amb_is_dns_label(p))
        return p;
    api_reply_field(r, 400, "project", "must be a DNS-1123 label ([a-z0-9-], at most 63 characters)");
    return NULL;
}

const char *api_checked_name(struct api_req *r, const char *param)
{
    const char *n = api_param(r, param);
    if (amb_is_dns_subdomain(n))
        return n;
    api_reply_field(r, 400, param, "must be a DNS-1123 subdomain ([a-z0-9.-], at most 253 characters)");
    return NULL;
}

const char *api_name_param(struct api_req *r)
{
    return api_checked_name(r, "name");
}
