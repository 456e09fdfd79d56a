/* host_forge.c — the host table's forge members (ABI 1.4): finding the
 * forge that serves a repository URL or has a name, and HTTP for plugins
 * (host_http.c does the exchange). The runner and the api role reach
 * forges only through these. */
#include <string.h>

#include "host-http-internal.h"
#include "registry-internal.h"
#include "runtime-internal.h"

const struct ambd_forge_entry *ambd_registry_forge_for_url(const struct ambd_registry *r,
                                                           const char *url)
{
    for (size_t i = 0; r && url && i < r->n_forges; i++) {
        const struct ambd_forge_entry *f = r->forges[i];
        if (f->forge.match_url(f->data.user_data, url) == 1)
            return f;
    }
    return NULL;
}

static int found(const struct ambd_forge_entry *f, const struct amb_forge **forge,
                 void **user_data)
{
    if (!f)
        return AMB_ENOTFOUND;
    if (forge)
        *forge = &f->forge;
    if (user_data)
        *user_data = f->data.user_data;
    return AMB_OK;
}

static int host_forge_for_url(struct amb_module *self, const char *url,
                              const struct amb_forge **forge, void **user_data)
{
    if (!self || !self->rt || !url)
        return AMB_EINVAL;
    return found(ambd_registry_forge_for_url(&self->rt->registry, url), forge, user_data);
}

static int host_forge_by_name(struct amb_module *self, const char *name,
                              const struct amb_forge **forge, void **user_data)
{
    if (!self || !self->rt || !name)
        return AMB_EINVAL;
    const struct ambd_registry *r = &self->rt->registry;
    for (size_t i = 0; i < r->n_forges; i++)
        if (strcmp(r->forges[i]->forge.name, name) == 0)
            return found(r->forges[i], forge, user_data);
    return AMB_ENOTFOUND;
}

static int host_http(struct amb_module *self, const struct amb_http_request *req,
                     struct amb_http_response **out, struct amb_error *err)
{
    if (!self || !out)
        return AMB_EINVAL;
    return ambd_http_exchange(self->desc.name, req, out, err);
}

void ambd_host_forge_fill(struct amb_host *h)
{
    h->forge_for_url = host_forge_for_url;
    h->forge_by_name = host_forge_by_name;
    h->http = host_http;
    h->http_response_free = ambd_http_response_free;
}
