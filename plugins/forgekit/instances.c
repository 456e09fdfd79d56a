/* instances.c — a forge's configured instances (github.com, a GitHub
 * Enterprise, a self-hosted GitLab under a sub-path) and which of them
 * serves a repository URL. */
#include <stdio.h>
#include <string.h>

#include "forgekit.h"

const char *fk_instance_key(char *buf, size_t len, size_t i, const char *key)
{
    snprintf(buf, len, "instances.[%zu].%s", i, key);
    return buf;
}

int fk_instance_set(struct fk_instance *inst, const char *url, const char *api_url,
                    const char **why)
{
    struct fk_url api;
    memset(inst, 0, sizeof *inst);
    if (fk_url_parse(url, &inst->base, why) != 0)
        return -1;
    if (inst->base.scheme == FK_SSH || inst->base.has_user)
        return (*why = "must be an https URL without a user name"), -1;
    if (fk_url_parse(api_url, &api, why) != 0)
        return -1;
    if (api.scheme == FK_SSH || api.has_user)
        return (*why = "api_url must be an https URL without a user name"), -1;
    inst->url = url;
    size_t n = strlen(api_url);
    while (n > 0 && api_url[n - 1] == '/')
        n--;
    memcpy(inst->api_url, api_url, n);
    inst->api_url[n] = '\0';
    char port[16] = "";
    if (inst->base.port)
        snprintf(port, sizeof port, ":%u", inst->base.port);
    snprintf(inst->web_base, sizeof inst->web_base, "%s://%s%s%s%s",
             inst->base.scheme == FK_HTTPS ? "https" : "http", inst->base.host, port,
             inst->base.path[0] ? "/" : "", inst->base.path);
    return 0;
}

int fk_instances_read(const struct fk_env *env, const char *default_url,
                      const char *default_api_url, struct fk_instances *out,
                      struct amb_error *err)
{
    const struct amb_host *h = env->host;
    size_t n = 0;
    int rc = h->config_count(env->self, "instances", &n);
    if (rc == AMB_ENOTFOUND)
        n = 0;
    else if (rc != AMB_OK)
        return h->error_set(err, rc, "instances", "must be a list of {url, api_url}");
    else if (n == 0 || n > FK_MAX_INSTANCES)
        return h->error_set(err, AMB_EINVAL, "instances", "must hold 1 to %d entries",
                            FK_MAX_INSTANCES);
    size_t count = n ? n : 1;
    out->v = h->alloc(count * sizeof *out->v);
    out->n = 0;
    if (!out->v)
        return h->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const char *url = default_url, *api = default_api_url, *why = NULL;
        char key[64], key2[64];
        fk_instance_key(key, sizeof key, i, "url");
        fk_instance_key(key2, sizeof key2, i, "api_url");
        if (n && (h->config_string(env->self, key, &url) != AMB_OK ||
                  h->config_string(env->self, key2, &api) != AMB_OK)) {
            rc = h->error_set(err, AMB_EINVAL, key, "each instance needs url and api_url");
            break;
        }
        if (fk_instance_set(&out->v[i], url, api, &why) != 0) {
            rc = h->error_set(err, AMB_EINVAL, n ? key : "instances", "%s", why);
            break;
        }
        out->v[i].index = i;
        out->n++;
        rc = AMB_OK;
    }
    if (rc != AMB_OK)
        fk_instances_free(env, out);
    return rc;
}

void fk_instances_free(const struct fk_env *env, struct fk_instances *in)
{
    env->host->free(in->v);
    in->v = NULL;
    in->n = 0;
}

static int count_segments(const char *p)
{
    int n = *p ? 1 : 0;
    for (; *p; p++)
        n += *p == '/';
    return n;
}

const struct fk_instance *fk_instance_match(const struct fk_instances *in,
                                            const struct fk_url *url, size_t min_segments,
                                            size_t max_segments, const char **rest)
{
    for (size_t i = 0; i < in->n; i++) {
        const struct fk_instance *inst = &in->v[i];
        const struct fk_url *b = &inst->base;
        if (strcmp(b->host, url->host) != 0)
            continue;
        /* git over ssh reaches the same host on its own port */
        if (url->scheme != FK_SSH && (url->scheme != b->scheme || url->port != b->port))
            continue;
        const char *p = url->path;
        size_t plen = strlen(b->path);
        if (plen) {
            if (strncmp(p, b->path, plen) != 0 || p[plen] != '/')
                continue;
            p += plen + 1;
        }
        size_t segs = (size_t)count_segments(p);
        if (segs < min_segments || segs > max_segments)
            continue;
        *rest = p;
        return inst;
    }
    return NULL;
}
