/* repo.c — a repository of a forge instance, from a URL or from the repo
 * object a forge callback is handed back, and that object built. */
#include <string.h>

#include "forgekit.h"

int fk_repo_from_url(const struct fk_env *env, const struct fk_instances *in, const char *url,
                     size_t min_segments, size_t max_segments, struct fk_repo *out,
                     struct amb_error *err)
{
    struct fk_url u;
    const char *why = NULL, *rest = NULL;
    if (fk_url_parse(url, &u, &why) != 0)
        return env->host->error_set(err, AMB_EINVAL, "url", "the repository URL %s", why);
    /* owner and name at least */
    const struct fk_instance *inst =
        fk_instance_match(in, &u, min_segments < 2 ? 2 : min_segments, max_segments, &rest);
    if (!inst)
        return env->host->error_set(err, AMB_EINVAL, "url",
                                    "the repository URL is not a repository of a configured "
                                    "instance (host %s)",
                                    u.host);
    memset(out, 0, sizeof *out);
    out->inst = inst;
    strcpy(out->path, rest); /* both FK_MAX_PATH + 1 */
    const char *slash = strrchr(out->path, '/');
    size_t olen = (size_t)(slash - out->path); /* two segments at least: a '/' */
    memcpy(out->owner, out->path, olen);
    out->owner[olen] = '\0';
    strcpy(out->name, slash + 1);
    return AMB_OK;
}

int fk_repo_from_json(const struct fk_env *env, const struct fk_instances *in,
                      const json_t *repo, size_t min_segments, size_t max_segments,
                      struct fk_repo *out, struct amb_error *err)
{
    const char *web = json_string_value(json_object_get(repo, "web_url"));
    if (!web)
        return env->host->error_set(err, AMB_EINVAL, "repo.web_url", "is missing");
    return fk_repo_from_url(env, in, web, min_segments, max_segments, out, err);
}

json_t *fk_repo_json(const struct fk_repo *r)
{
    char web[FK_MAX_URL + FK_MAX_PATH + 8], clone[sizeof web + 4];
    strcpy(web, r->inst->web_base);
    strcat(web, "/");
    strcat(web, r->path);
    strcpy(clone, web);
    strcat(clone, ".git");
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "host", r->inst->base.host,
                     "owner", r->owner, "name", r->name, "path", r->path, "api_url",
                     r->inst->api_url, "web_url", web, "clone_url", clone);
}
