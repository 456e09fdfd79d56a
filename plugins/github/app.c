/* app.c — a GitHub App's installation tokens: a JWT signed RS256 with the
 * App's key (OpenSSL EVP), the repository's installation, and a token for
 * it, cached per account until 5 minutes before it expires. Every secret
 * (key, JWT, token) is registered with host->log_secret and never put in
 * an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "github.h"

#define JWT_BACKDATE_S 60   /* GitHub's advice against clock drift */
#define JWT_LIFETIME_S 540  /* GitHub allows at most 10 minutes */
#define TOKEN_MARGIN_S 300  /* stop using a token this long before it expires */
#define MAX_TOKEN 1024

int gh_app_config(struct gh *g, size_t i, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    char kid[64], kkey[64];
    long long app_id = 0;
    const char *key_file = NULL;
    int has_id = h->config_int(g->env.self, fk_instance_key(kid, sizeof kid, i, "app_id"),
                               &app_id);
    int has_key = h->config_string(g->env.self,
                                   fk_instance_key(kkey, sizeof kkey, i, "private_key_file"),
                                   &key_file);
    if (has_id == AMB_ENOTFOUND && has_key == AMB_ENOTFOUND)
        return AMB_OK;
    if (has_id != AMB_OK || has_key != AMB_OK || app_id <= 0)
        return h->error_set(err, AMB_EINVAL, has_id != AMB_OK || app_id <= 0 ? kid : kkey,
                            "a GitHub App needs both app_id (a positive integer) and "
                            "private_key_file");
    char *pem = NULL;
    int rc = fk_secret_read(&g->env, key_file, kkey, &pem, err);
    if (rc != AMB_OK)
        return rc;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    fk_secret_free(&g->env, pem);
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        return h->error_set(err, AMB_EINVAL, kkey, "%s holds no RSA private key in PEM form",
                            key_file);
    }
    g->app_ids[i] = app_id;
    g->app_keys[i] = key;
    return AMB_OK;
}

/* base64url without padding, as JWT wants it. */
static char *b64url(const unsigned char *data, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    int len = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* The App's JWT: iat a minute back, exp 9 minutes on, iss the App id. */
static char *app_jwt(struct gh *g, size_t i)
{
    char payload[128];
    long long now = (long long)time(NULL);
    snprintf(payload, sizeof payload, "{\"iat\":%lld,\"exp\":%lld,\"iss\":\"%lld\"}",
             now - JWT_BACKDATE_S, now + JWT_LIFETIME_S, g->app_ids[i]);
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    char *h64 = b64url((const unsigned char *)header, strlen(header));
    char *p64 = b64url((const unsigned char *)payload, strlen(payload));
    char *input = NULL, *jwt = NULL, *s64 = NULL;
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (h64 && p64 && md && (input = malloc(strlen(h64) + strlen(p64) + 2)) != NULL) {
        sprintf(input, "%s.%s", h64, p64);
        if (EVP_PKEY_get_size(g->app_keys[i]) <= (int)sizeof sig &&
            EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, g->app_keys[i]) == 1 &&
            EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) == 1 &&
            (s64 = b64url(sig, siglen)) != NULL &&
            (jwt = malloc(strlen(input) + strlen(s64) + 2)) != NULL)
            sprintf(jwt, "%s.%s", input, s64);
    }
    EVP_MD_CTX_free(md);
    free(h64);
    free(p64);
    free(input);
    free(s64);
    if (jwt)
        g->env.host->log_secret(g->env.self, jwt);
    return jwt;
}

/* "2026-01-02T03:04:05Z" as a time; 0 when it is not that. */
static time_t parse_time(const char *s)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    return end && *end == '\0' ? timegm(&tm) : 0;
}

static struct gh_installation *find(struct gh *g, const struct fk_repo *repo)
{
    for (size_t i = 0; i < GH_MAX_INSTALLATIONS; i++) {
        struct gh_installation *e = &g->installations[i];
        if (e->token && e->instance == repo->inst->index && strcmp(e->owner, repo->owner) == 0)
            return e;
    }
    return NULL;
}

void gh_token_free(struct gh *g, char *token)
{
    if (token)
        OPENSSL_cleanse(token, strlen(token));
    g->env.host->free(token);
}

static void drop(struct gh *g, struct gh_installation *e)
{
    gh_token_free(g, e->token);
    e->token = NULL;
}

static int cached(struct gh *g, const struct fk_repo *repo, char **out)
{
    pthread_mutex_lock(&g->lock);
    struct gh_installation *e = find(g, repo);
    if (e && time(NULL) >= e->use_until) {
        drop(g, e);
        e = NULL;
    }
    *out = e ? g->env.host->strdup(e->token) : NULL;
    pthread_mutex_unlock(&g->lock);
    return *out != NULL;
}

/* Keeps token for repo's account: in its old slot, a free one, or the one
 * that expires first. */
static void remember(struct gh *g, const struct fk_repo *repo, const char *token,
                     time_t use_until)
{
    pthread_mutex_lock(&g->lock);
    struct gh_installation *e = find(g, repo);
    for (size_t i = 0; !e && i < GH_MAX_INSTALLATIONS; i++)
        if (!g->installations[i].token)
            e = &g->installations[i];
    for (size_t i = 0; !e && i < GH_MAX_INSTALLATIONS; i++)
        if (!e || g->installations[i].use_until < e->use_until)
            e = &g->installations[i];
    drop(g, e);
    e->token = g->env.host->strdup(token);
    if (e->token) {
        e->instance = repo->inst->index;
        strcpy(e->owner, repo->owner); /* both FK_MAX_PATH + 1 */
        e->use_until = use_until;
    }
    pthread_mutex_unlock(&g->lock);
}

void gh_app_forget(struct gh *g, const struct fk_repo *repo)
{
    pthread_mutex_lock(&g->lock);
    struct gh_installation *e = find(g, repo);
    if (e)
        drop(g, e);
    pthread_mutex_unlock(&g->lock);
}

/* The installation of repo's account, then a new token for it. */
static int new_token(struct gh *g, size_t i, const struct fk_repo *repo, char **out,
                     time_t *expires, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    char *jwt = app_jwt(g, i);
    if (!jwt)
        return h->error_set(err, AMB_EINTERNAL, NULL, "cannot sign the GitHub App's JWT");
    char url[FK_MAX_URL * 2 + 64];
    struct fk_answer a = {0};
    snprintf(url, sizeof url, "%s/repos/%s/installation", repo->inst->api_url, repo->path);
    int rc = gh_call_bearer(g, jwt, "GET", url, NULL, &a, err);
    json_int_t id = json_integer_value(json_object_get(a.json, "id"));
    if (rc == AMB_OK && a.status == 404)
        rc = h->error_set(err, AMB_ENOTFOUND, NULL, "the GitHub App %lld is not installed on %s",
                          g->app_ids[i], repo->path);
    else if (rc == AMB_OK && (a.status != 200 || id <= 0))
        rc = fk_answer_error(&g->env, err, &a, "GitHub App installation");
    fk_answer_clear(&a);
    if (rc == AMB_OK) {
        snprintf(url, sizeof url, "%s/app/installations/%lld/access_tokens",
                 repo->inst->api_url, (long long)id);
        rc = gh_call_bearer(g, jwt, "POST", url, NULL, &a, err);
    }
    const char *token = json_string_value(json_object_get(a.json, "token"));
    if (rc == AMB_OK && (a.status != 201 || !token || !*token || strlen(token) > MAX_TOKEN))
        rc = fk_answer_error(&g->env, err, &a, "GitHub App installation token");
    if (rc == AMB_OK) {
        h->log_secret(g->env.self, token);
        *expires = parse_time(json_string_value(json_object_get(a.json, "expires_at")));
        *out = h->strdup(token);
        if (!*out)
            rc = h->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    }
    fk_answer_clear(&a);
    OPENSSL_cleanse(jwt, strlen(jwt));
    free(jwt);
    return rc;
}

int gh_app_token(struct gh *g, const struct fk_repo *repo, char **out, struct amb_error *err)
{
    size_t i = repo->inst->index;
    if (!g->app_keys[i])
        return g->env.host->error_set(
            err, AMB_EUNAUTHORIZED, NULL,
            "no GitHub token: the session has none (GITHUB_TOKEN) and the instance %s has no "
            "GitHub App (app_id, private_key_file)",
            repo->inst->url);
    if (cached(g, repo, out))
        return AMB_OK;
    time_t expires = 0;
    int rc = new_token(g, i, repo, out, &expires, err);
    if (rc == AMB_OK && expires - TOKEN_MARGIN_S > time(NULL))
        remember(g, repo, *out, expires - TOKEN_MARGIN_S);
    return rc;
}

void gh_app_clear(struct gh *g)
{
    for (size_t i = 0; i < GH_MAX_INSTALLATIONS; i++)
        drop(g, &g->installations[i]);
    for (size_t i = 0; g->app_keys && i < g->in.n; i++)
        EVP_PKEY_free(g->app_keys[i]);
}
