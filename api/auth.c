/* auth.c — who the caller is and what they may do, asked of Kubernetes:
 * SelfSubjectAccessReview and SelfSubjectReview with the caller's token,
 * TokenReview (runner tokens) with the daemon's own. Answers are cached for
 * auth_ttl seconds under a key made from the token's SHA-256, so a token is
 * never kept, and a denied or rejected token is not asked about again and
 * again. A rejected token is remembered for a few seconds only
 * (NEGATIVE_TTL_S): enough to absorb a retry storm; an unknown token is
 * usually a new random one, which the rate limit's address bucket stops. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "api.h"
#include "auth_cache.h"

#define NEGATIVE_TTL_S 5

struct api_auth {
    struct auth_cache *cache;
    /* SHA-256 fetched once: OpenSSL 3's SHA256() looks it up in the
     * provider on every call, which cost as much as the hashing. Held
     * here, so it is freed with the rest at api.so's unload. */
    EVP_MD *sha256;
};

static const struct amb_resource ssar_res = {
    "authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", 0};
static const struct amb_resource ssr_res = {
    "authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", 0};
static const struct amb_resource tr_res = {
    "authentication.k8s.io", "v1", "TokenReview", "tokenreviews", 0};

struct api_auth *api_auth_new(unsigned ttl_s, size_t max_entries)
{
    struct api_auth *a = api_host->alloc(sizeof *a);
    if (!a)
        return NULL;
    if (!(a->cache = auth_cache_new(ttl_s, max_entries))) {
        api_host->free(a);
        return NULL;
    }
    a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); /* NULL: SHA256() then */
    return a;
}

struct auth_cache *api_auth_cache(struct api_auth *a)
{
    return a ? a->cache : NULL;
}

void api_auth_free(struct api_auth *a)
{
    if (!a)
        return;
    auth_cache_free(a->cache);
    EVP_MD_free(a->sha256);
    api_host->free(a);
}

/* A token is one HTTP token68-ish word: printable, no spaces, bounded. */
static int plausible_token(const char *t, size_t n)
{
    if (n == 0 || n > 8192)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] <= ' ' || t[i] > '~')
            return 0;
    }
    return 1;
}

const char *api_auth_token(const char *authorization, const char *forwarded)
{
    if (forwarded) {
        while (*forwarded == ' ')
            forwarded++;
        if (plausible_token(forwarded, strlen(forwarded)))
            return forwarded;
    }
    if (authorization && !strncasecmp(authorization, "Bearer ", 7)) {
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        if (plausible_token(t, strlen(t)))
            return t;
    }
    return NULL;
}

void api_token_hash(const struct api_auth *a, const char *token,
                    char out[API_TOKEN_HASH_LEN + 1])
{
    /* Every authenticated request hashes its token: hex by table, since
     * snprintf per byte cost more than the hash. */
    static const char hexdigits[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t n = strlen(token);
    if (!a || !a->sha256 || !EVP_Digest(token, n, d, &len, a->sha256, NULL) ||
        len != SHA256_DIGEST_LENGTH)
        SHA256((const unsigned char *)token, n, d);
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hexdigits[d[i] >> 4];
        out[2 * i + 1] = hexdigits[d[i] & 15];
    }
    out[API_TOKEN_HASH_LEN] = '\0';
}

/* Appends s and a '|' to key (len bytes, used so far), cutting at the end
 * (the parts are checked names, far shorter than the keys): a key is built
 * for every cached request, so no printf. */
static void key_add(char *key, size_t len, size_t *used, const char *s)
{
    size_t n = strlen(s);
    if (*used + 2 > len)
        return;
    if (n > len - *used - 2)
        n = len - *used - 2;
    memcpy(key + *used, s, n);
    *used += n;
    key[(*used)++] = '|';
    key[*used] = '\0';
}

/* "<what>|<hex sha256 of token>|", and returns its length. */
static size_t cache_key(const struct api_auth *a, char *out, size_t len, const char *what,
                        const char *token, const char *token_hash)
{
    char hex[API_TOKEN_HASH_LEN + 1];
    if (!token_hash || !*token_hash) {
        api_token_hash(a, token ? token : "", hex);
        token_hash = hex;
    }
    size_t used = 0;
    key_add(out, len, &used, what);
    key_add(out, len, &used, token_hash);
    return used;
}

/* POSTs a review object (body stolen) with the token's context (NULL: the
 * daemon's) and returns the stored review's status (new ref). */
static int create_review(const char *token, const struct amb_resource *res, json_t *body,
                         json_t **status, struct amb_error *err)
{
    *status = NULL;
    struct amb_ctx *ctx = NULL;
    int rc = body ? api_host->ctx_new(api_self, token, &ctx, err) : AMB_ENOMEM;
    json_t *out = NULL;
    if (rc == AMB_OK)
        rc = api_host->kube_create(ctx, res, "", body, &out, err);
    api_host->ctx_free(ctx);
    json_decref(body);
    if (rc == AMB_OK) {
        *status = json_incref(json_object_get(out, "status"));
        if (!*status)
            rc = api_host->error_set(err, AMB_EIO, NULL, "%s came back without a status",
                                     res->kind);
    }
    json_decref(out);
    return rc;
}

/* A review; unless the caller knows the token's identity is cached as
 * good (identified), a token rejected a moment ago is refused without one. */
static int access_review(struct api_auth *a, const char *token, const char *token_hash,
                         const struct api_access *w, int identified, int *allowed, char *reason,
                         size_t reason_len, struct amb_error *err)
{
    *allowed = 0;
    if (reason_len)
        reason[0] = '\0';
    if (!token)
        return api_host->error_set(err, AMB_EUNAUTHORIZED, NULL, "no bearer token");
    char key[1024], who[128];
    size_t used = cache_key(a, key, sizeof key, "ssar", token, token_hash);
    const char *const parts[] = {w->verb, w->group ? w->group : "", w->resource,
                                 w->subresource ? w->subresource : "", w->ns ? w->ns : "",
                                 w->name ? w->name : ""};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        key_add(key, sizeof key, &used, parts[i]);
    cache_key(a, who, sizeof who, "who", token, token_hash);
    struct auth_answer ans;
    if (!identified && auth_cache_get(a->cache, who, &ans) && !ans.allowed)
        return api_host->error_set(err, AMB_EUNAUTHORIZED, NULL, "the token was rejected");
    if (!auth_cache_get(a->cache, key, &ans)) {
        json_t *attrs = json_pack("{s:s, s:s, s:s}", "verb", w->verb, "group",
                                  w->group ? w->group : "", "resource", w->resource);
        if (attrs && w->subresource)
            json_object_set_new(attrs, "subresource", json_string(w->subresource));
        if (attrs && w->ns && *w->ns)
            json_object_set_new(attrs, "namespace", json_string(w->ns));
        if (attrs && w->name)
            json_object_set_new(attrs, "name", json_string(w->name));
        json_t *body = attrs ? json_pack("{s:s, s:s, s:{s:o}}", "apiVersion",
                                         "authorization.k8s.io/v1", "kind",
                                         "SelfSubjectAccessReview", "spec",
                                         "resourceAttributes", attrs)
                             : NULL;
        json_t *status = NULL;
        int rc = create_review(token, &ssar_res, body, &status, err);
        if (rc == AMB_EUNAUTHORIZED) {
            struct auth_answer rejected = {0, ""};
            auth_cache_put_for(a->cache, who, &rejected, NEGATIVE_TTL_S);
        }
        if (rc != AMB_OK)
            return rc;
        memset(&ans, 0, sizeof ans);
        ans.allowed = json_is_true(json_object_get(status, "allowed"));
        const char *why = json_string_value(json_object_get(status, "reason"));
        snprintf(ans.text, sizeof ans.text, "%s", why ? why : "");
        json_decref(status);
        auth_cache_put(a->cache, key, &ans);
    }
    *allowed = ans.allowed;
    if (reason_len)
        snprintf(reason, reason_len, "%s", ans.text);
    return AMB_OK;
}

int api_auth_review(struct api_auth *a, const char *token, const char *token_hash,
                    const struct api_access *w, int *allowed, char *reason, size_t reason_len,
                    struct amb_error *err)
{
    return access_review(a, token, token_hash, w, 0, allowed, reason, reason_len, err);
}

int api_auth_review_identified(struct api_auth *a, const char *token, const char *token_hash,
                               const struct api_access *w, int *allowed, char *reason,
                               size_t reason_len, struct amb_error *err)
{
    return access_review(a, token, token_hash, w, 1, allowed, reason, reason_len, err);
}

/* An identity answer: from the cache, or asked with review() and cached. */
static int identity(struct api_auth *a, const char *what, const char *token,
                    const char *token_hash, char *user, size_t user_len,
                    int (*review)(const char *, struct auth_answer *, struct amb_error *),
                    struct amb_error *err)
{
    if (user_len)
        user[0] = '\0';
    if (!token)
        return api_host->error_set(err, AMB_EUNAUTHORIZED, NULL, "no bearer token");
    char key[128];
    cache_key(a, key, sizeof key, what, token, token_hash);
    struct auth_answer ans;
    if (!auth_cache_get(a->cache, key, &ans)) {
        memset(&ans, 0, sizeof ans);
        int rc = review(token, &ans, err);
        if (rc != AMB_OK && rc != AMB_EUNAUTHORIZED)
            return rc; /* transient: not cached */
        auth_cache_put_for(a->cache, key, &ans, ans.allowed ? UINT32_MAX : NEGATIVE_TTL_S);
    }
    if (!ans.allowed)
        return api_host->error_set(err, AMB_EUNAUTHORIZED, NULL, "the token was rejected%s%s",
                                   ans.text[0] ? ": " : "", ans.text);
    snprintf(user, user_len, "%s", ans.text);
    return AMB_OK;
}

static int self_review(const char *token, struct auth_answer *ans, struct amb_error *err)
{
    json_t *body = json_pack("{s:s, s:s}", "apiVersion", "authentication.k8s.io/v1", "kind",
                             "SelfSubjectReview");
    json_t *status = NULL;
    int rc = create_review(token, &ssr_res, body, &status, err);
    if (rc != AMB_OK)
        return rc;
    const char *name = json_string_value(
        json_object_get(json_object_get(status, "userInfo"), "username"));
    ans->allowed = name && *name;
    snprintf(ans->text, sizeof ans->text, "%s", name ? name : "");
    json_decref(status);
    return AMB_OK;
}

static int token_review(const char *token, struct auth_answer *ans, struct amb_error *err)
{
    json_t *body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "authentication.k8s.io/v1",
                             "kind", "TokenReview", "spec", "token", token);
    json_t *status = NULL;
    int rc = create_review(NULL, &tr_res, body, &status, err);
    if (rc != AMB_OK)
        return rc;
    const char *name = json_string_value(
        json_object_get(json_object_get(status, "user"), "username"));
    ans->allowed = json_is_true(json_object_get(status, "authenticated")) && name && *name;
    const char *why = json_string_value(json_object_get(status, "error"));
    snprintf(ans->text, sizeof ans->text, "%s", ans->allowed ? name : why ? why : "");
    json_decref(status);
    return AMB_OK;
}

int api_auth_known(struct api_auth *a, const char *token_hash, char *user, size_t user_len)
{
    char key[128];
    struct auth_answer ans;
    if (!token_hash || !*token_hash)
        return 0;
    cache_key(a, key, sizeof key, "who", NULL, token_hash);
    if (!auth_cache_get(a->cache, key, &ans) || !ans.allowed)
        return 0;
    if (user_len)
        snprintf(user, user_len, "%s", ans.text);
    return 1;
}

int api_auth_whoami(struct api_auth *a, const char *token, const char *token_hash, char *user,
                    size_t user_len, struct amb_error *err)
{
    return identity(a, "who", token, token_hash, user, user_len, self_review, err);
}

int api_auth_token_review(struct api_auth *a, const char *token, const char *token_hash,
                          char *user, size_t user_len, struct amb_error *err)
{
    return identity(a, "tr", token, token_hash, user, user_len, token_review, err);
}
