/* trigger.c — one authenticated webhook trigger becomes one AgenticSession
 * in every project whose ProjectSettings lists the repository.
 *
 * Nobody's token comes with a delivery, so the daemon's own credentials act
 * (deploy/rbac/api.yaml: list ProjectSettings, create sessions); the forge
 * plugin has already checked the signature and that the author may write
 * to the repository, and the project's admins chose to list it. The
 * session's name is a hash of the delivery id: a replay, even after a
 * restart, meets the session already there (AlreadyExists) and makes none. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "forgekit.h"
#include "trigger.h"

#define GROUP "vteam.ambient-code"
#define VERSION "v1alpha1"
#define MANAGED_LABEL "ambient-code.io/managed"
#define KEY_MAX 2048

static const struct amb_resource res_settings = {GROUP, VERSION, "ProjectSettings",
                                                 "projectsettings", 1};
static const struct amb_resource res_sessions = {GROUP, VERSION, "AgenticSession",
                                                 "agenticsessions", 1};
static const struct amb_resource res_namespaces = {"", "v1", "Namespace", "namespaces", 0};

/* ------------------------------------------------------------------------
 * Repository URLs compared canonically
 * ------------------------------------------------------------------------ */

int fk_repo_key(const char *url, char *out, size_t n)
{
    struct fk_url u;
    const char *why;
    if (!url || !out || fk_url_parse(url, &u, &why) != 0 || u.n_segments == 0)
        return -1;
    unsigned own = u.scheme == FK_HTTPS ? 443 : u.scheme == FK_HTTP ? 80 : 0;
    int len = u.port && u.scheme != FK_SSH && u.port != own
                  ? snprintf(out, n, "%s:%u/%s", u.host, u.port, u.path)
                  : snprintf(out, n, "%s/%s", u.host, u.path);
    return len > 0 && (size_t)len < n ? 0 : -1;
}

/* An https clone URL, or http to a loopback host (tests, laptop mode):
 * sessions clone what the trigger names. */
static int clone_url_ok(const char *url)
{
    struct fk_url u;
    const char *why;
    if (!url || fk_url_parse(url, &u, &why) != 0)
        return 0;
    return u.scheme == FK_HTTPS ||
           (u.scheme == FK_HTTP && (strcmp(u.host, "127.0.0.1") == 0 ||
                                    strcmp(u.host, "localhost") == 0));
}

/* ------------------------------------------------------------------------
 * The trigger checked again: it comes from a payload
 * ------------------------------------------------------------------------ */

/* 1 if s holds no control character (UTF-8 is fine). */
static int printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
            return 0;
    return 1;
}

static int check_text(const struct amb_host *host, const char *v, size_t max, const char *field,
                      int required, struct amb_error *err)
{
    if (!v || !*v)
        return required ? host->error_set(err, AMB_EINVAL, field, "is required") : AMB_OK;
    size_t len = strnlen(v, max + 1);
    if (len > max)
        return host->error_set(err, AMB_EINVAL, field, "must be at most %zu bytes", max);
    if (!printable(v, len))
        return host->error_set(err, AMB_EINVAL, field, "must not hold control characters");
    return AMB_OK;
}

static int check_trigger(const struct amb_host *host, const struct fk_trigger *t,
                         struct amb_error *err)
{
    char key[KEY_MAX];
    int bad = 0;
    const char *f = t->forge;
    size_t fl = f ? strlen(f) : 0;
    if (fl == 0 || fl > 63 || !islower((unsigned char)f[0]) ||
        !isalnum((unsigned char)f[fl - 1]) ||
        strspn(f, "abcdefghijklmnopqrstuvwxyz0123456789_-") != fl)
        bad |= host->error_set(err, AMB_EINVAL, "forge",
                               "must be a forge name ([a-z][a-z0-9_-]*, also a label value)");
    if (!clone_url_ok(t->repo_url) || fk_repo_key(t->repo_url, key, sizeof key) != 0)
        bad |= host->error_set(err, AMB_EINVAL, "repository",
                               "must be an https clone URL (http only to a loopback host)");
    bad |= check_text(host, t->delivery_id, FK_DELIVERY_MAX, "delivery", 1, err);
    bad |= check_text(host, t->author, FK_AUTHOR_MAX, "author", 1, err);
    bad |= check_text(host, t->issue_url, FK_LINK_MAX, "issue_url", 0, err);
    if (t->issue_url && *t->issue_url && strncmp(t->issue_url, "https://", 8) != 0 &&
        strncmp(t->issue_url, "http://", 7) != 0)
        bad |= host->error_set(err, AMB_EINVAL, "issue_url", "must be an http(s) URL");
    if (t->number < 0)
        bad |= host->error_set(err, AMB_EINVAL, "number", "must not be negative");
    if (!t->prompt || t->prompt_len == 0)
        bad |= host->error_set(err, AMB_EINVAL, "prompt", "is required");
    else if (t->prompt_len > FK_PROMPT_MAX)
        bad |= host->error_set(err, AMB_EINVAL, "prompt", "must be at most %d bytes",
                               FK_PROMPT_MAX);
    else if (memchr(t->prompt, '\0', t->prompt_len))
        bad |= host->error_set(err, AMB_EINVAL, "prompt", "must not hold NUL bytes");
    return bad ? AMB_EINVAL : AMB_OK;
}

/* ------------------------------------------------------------------------
 * The session
 * ------------------------------------------------------------------------ */

/* FK_SESSION_PREFIX and 16 hex digits of SHA-256(forge "\n" delivery). */
static int session_name(const struct fk_trigger *t, char *out, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(c, t->forge, strlen(t->forge)) && EVP_DigestUpdate(c, "\n", 1) &&
             EVP_DigestUpdate(c, t->delivery_id, strlen(t->delivery_id)) &&
             EVP_DigestFinal_ex(c, md, &md_len) && md_len >= 8;
    EVP_MD_CTX_free(c);
    if (!ok || n < sizeof FK_SESSION_PREFIX + 16)
        return -1;
    int w = snprintf(out, n, FK_SESSION_PREFIX);
    for (int i = 0; i < 8; i++)
        w += snprintf(out + w, n - (size_t)w, "%02x", md[i]);
    return 0;
}

/* The AgenticSession to create in ns (new ref, NULL on ENOMEM): the prompt,
 * the repository pushed to a branch of its own with a pull request, and
 * who asked, from which delivery, about which issue. */
static json_t *session_object(const struct fk_trigger *t, const char *name, const char *ns)
{
    char creator[FK_AUTHOR_MAX + 72], number[24];
    snprintf(creator, sizeof creator, "%s:%s", t->forge, t->author);
    snprintf(number, sizeof number, "%lld", t->number);
    json_t *ann = json_pack("{s:s,s:s}", AMB_CREATED_BY_ANNOTATION, creator, FK_ANN_DELIVERY,
                            t->delivery_id);
    if (ann && t->issue_url && *t->issue_url)
        json_object_set_new(ann, FK_ANN_ISSUE_URL, json_string(t->issue_url));
    if (ann && t->number > 0)
        json_object_set_new(ann, FK_ANN_ISSUE_NUMBER, json_string(number));
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s},s:o*},s:{s:s%,s:[{s:{s:s},s:{s:s}}]}}",
                     "apiVersion", GROUP "/" VERSION, "kind", "AgenticSession", "metadata",
                     "name", name, "namespace", ns, "labels", FK_LABEL_FORGE, t->forge,
                     "annotations", ann, "spec", "prompt", t->prompt, t->prompt_len, "repos",
                     "input", "url", t->repo_url, "output", "pushTo", "same");
}

/* The AgenticSession kind as its plugin registered it, or NULL when it is
 * not loaded here (then Kubernetes' schema is the only check). */
static const struct amb_kind *sessions_kind(const struct amb_host *host, struct amb_module *self,
                                            void **ud)
{
    const struct amb_kind *k;
    for (size_t i = 0; host->kind_at(self, i, &k, ud) == AMB_OK; i++)
        if (k->resource.group && k->resource.plural && strcmp(k->resource.group, GROUP) == 0 &&
            strcmp(k->resource.plural, res_sessions.plural) == 0)
            return k;
    return NULL;
}

/* ------------------------------------------------------------------------
 * The projects
 * ------------------------------------------------------------------------ */

/* 1 if ps's spec.repositories has an entry with key. */
static int lists_repo(const json_t *ps, const char *key)
{
    const json_t *repos = json_object_get(json_object_get(ps, "spec"), "repositories");
    const json_t *e;
    size_t i;
    char k[KEY_MAX];
    json_array_foreach(repos, i, e) {
        if (json_is_string(e) && fk_repo_key(json_string_value(e), k, sizeof k) == 0 &&
            strcmp(k, key) == 0)
            return 1;
    }
    return 0;
}

/* 1 if ns is a project (labelled managed); a namespace we cannot read is
 * none. */
static int is_project(const struct amb_host *host, struct amb_ctx *ctx, const char *ns)
{
    json_t *obj = NULL;
    struct amb_error *err = host->error_new();
    int ok = err && host->kube_get(ctx, &res_namespaces, "", ns, &obj, err) == AMB_OK;
    const char *v = json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"),
                        MANAGED_LABEL));
    ok = ok && v && strcmp(v, "true") == 0;
    json_decref(obj);
    host->error_free(err);
    return ok;
}

struct outcome {
    json_t *created, *replayed, *failed;
};

/* err's causes as "field: message; ...", for the answer and the log. */
static void error_text(const struct amb_host *host, const struct amb_error *err, char *buf,
                       size_t n)
{
    json_t *j = host->error_to_json(err);
    const json_t *c;
    size_t i, used = 0;
    buf[0] = '\0';
    json_array_foreach(json_object_get(j, "causes"), i, c) {
        const char *f = json_string_value(json_object_get(c, "field"));
        const char *m = json_string_value(json_object_get(c, "message"));
        int w = snprintf(buf + used, n - used, "%s%s%s%s", i ? "; " : "", f ? f : "",
                         f ? ": " : "", m ? m : "");
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, n, "failed");
    json_decref(j);
}

/* set_defaults and validate of the kind, then the create. */
static int create_in(const struct amb_host *host, struct amb_module *self, struct amb_ctx *ctx,
                     json_t *obj, const char *ns, struct amb_error *err)
{
    void *ud = NULL;
    const struct amb_kind *k = sessions_kind(host, self, &ud);
    int rc = AMB_OK;
    if (k && k->set_defaults)
        rc = k->set_defaults(ud, ctx, obj, err);
    if (rc == AMB_OK && k && k->validate)
        rc = k->validate(ud, ctx, obj, NULL, err);
    if (rc == AMB_OK)
        rc = host->kube_create(ctx, &res_sessions, ns, obj, NULL, err);
    return rc;
}

static void record(const struct amb_host *host, struct amb_module *self, struct outcome *o,
                   const struct fk_trigger *t, const char *ns, const char *name, int rc,
                   const struct amb_error *err)
{
    char why[512];
    if (rc == AMB_OK || rc == AMB_EEXIST) {
        json_array_append_new(rc == AMB_OK ? o->created : o->replayed,
                              json_pack("{s:s,s:s}", "project", ns, "name", name));
        host->log(self, AMB_LOG_INFO,
                  rc == AMB_OK ? "webhook session created" : "webhook delivery replayed",
                  "project", ns, "session", name, "forge", t->forge, "delivery", t->delivery_id,
                  "author", t->author, NULL);
        return;
    }
    error_text(host, err, why, sizeof why);
    json_array_append_new(o->failed, json_pack("{s:s,s:s}", "project", ns, "error", why));
    host->log(self, AMB_LOG_WARN, "webhook session not created", "project", ns, "forge",
              t->forge, "delivery", t->delivery_id, "error", why, NULL);
}

static void trigger_project(const struct amb_host *host, struct amb_module *self,
                            struct amb_ctx *ctx, const struct fk_trigger *t, const char *name,
                            const char *ns, struct outcome *o)
{
    struct amb_error *err = host->error_new();
    json_t *obj = session_object(t, name, ns);
    int rc = !err || !obj ? AMB_ENOMEM : create_in(host, self, ctx, obj, ns, err);
    if (err)
        record(host, self, o, t, ns, name, rc, err);
    json_decref(obj);
    host->error_free(err);
}

int fk_trigger_sessions(const struct amb_host *host, struct amb_module *self,
                        const struct fk_trigger *t, json_t **out, struct amb_error *err)
{
    char key[KEY_MAX], name[sizeof FK_SESSION_PREFIX + 16];
    struct amb_ctx *ctx = NULL;
    json_t *all = NULL, *ps;
    size_t i;
    *out = NULL;
    if (check_trigger(host, t, err) != AMB_OK)
        return AMB_EINVAL;
    if (fk_repo_key(t->repo_url, key, sizeof key) != 0 || session_name(t, name, sizeof name) != 0)
        return host->error_set(err, AMB_EINTERNAL, NULL, "cannot name the session");
    int rc = host->ctx_new(self, NULL, &ctx, err);
    if (rc == AMB_OK)
        rc = host->kube_list(ctx, &res_settings, "", NULL, &all, err);
    struct outcome o = {json_array(), json_array(), json_array()};
    if (rc == AMB_OK && (!o.created || !o.replayed || !o.failed))
        rc = host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    json_array_foreach(rc == AMB_OK ? all : NULL, i, ps) {
        const char *ns = json_string_value(
            json_object_get(json_object_get(ps, "metadata"), "namespace"));
        if (ns && lists_repo(ps, key) && is_project(host, ctx, ns))
            trigger_project(host, self, ctx, t, name, ns, &o);
    }
    if (rc == AMB_OK)
        *out = json_pack("{s:O,s:O,s:O}", "created", o.created, "replayed", o.replayed,
                         "failed", o.failed);
    if (rc == AMB_OK && !*out)
        rc = host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    json_decref(o.created);
    json_decref(o.replayed);
    json_decref(o.failed);
    json_decref(all);
    host->ctx_free(ctx);
    return rc;
}
