/* github.h — github.so's parts: the REST v3 calls (auth, rate limits,
 * pagination), the GitHub App's installation tokens, the forge callbacks
 * and the webhook. See README.md next to this file. */
#ifndef AMBIENT_GITHUB_H
#define AMBIENT_GITHUB_H

#include <pthread.h>
#include <time.h>

#include <openssl/evp.h>

#include "forgekit.h"
#include "trigger.h"

#define GH_MAX_INSTALLATIONS 64 /* cached installation tokens */
/* An API path made of a repository's path ("/repos/o/r/pulls"); sized by
 * the whole struct, which is what the compiler can bound. */
#define GH_API_PATH (sizeof(struct fk_repo) + 64)

/* An App installation's token for one account of one instance. */
struct gh_installation {
    size_t instance;            /* index in gh.in; meaningful when token is set */
    char owner[FK_MAX_PATH + 1];
    char *token;                /* NULL: free slot */
    time_t use_until;           /* 5 minutes before GitHub's expires_at */
};

struct gh {
    struct fk_env env;
    struct fk_instances in;
    long long *app_ids;         /* per instance; 0: no App */
    EVP_PKEY **app_keys;        /* per instance; NULL: no App */
    unsigned rate_limit_wait_s; /* longest total wait for a rate limit */
    unsigned fork_wait_s;       /* longest wait for a new fork to answer */
    char *webhook_secret;       /* NULL: no webhook route */
    struct fk_webhook_config webhook;
    pthread_mutex_t lock;       /* installations */
    struct gh_installation installations[GH_MAX_INSTALLATIONS];
};

/* Whose token a call carries: the session's own, else the App's
 * installation token for repo's account. */
struct gh_auth {
    const char *token;          /* NULL or "": the App's */
    const struct fk_repo *repo;
};

/* ---- api.c ---- */
/* One REST call to the repo's instance: api_url + path (path starts with
 * '/' and may carry a query). Rate limits are waited
 * out (at most rate_limit_wait_s in all); an App token refused with 401 is
 * refreshed once. Any answer is AMB_OK; the caller judges the status. */
int gh_call(struct gh *g, const struct gh_auth *auth, const char *method, const char *path,
            const json_t *body, struct fk_answer *out, struct amb_error *err);
/* Like gh_call with a bearer token of its own (the App's JWT). */
int gh_call_bearer(struct gh *g, const char *bearer, const char *method, const char *url,
                   const json_t *body, struct fk_answer *out, struct amb_error *err);
/* Every item of a list (GET path), following Link rel="next" within the
 * same API for at most max_pages pages; each(ud, item) returning 1 stops.
 * AMB_OK, or the error of a failed page. */
int gh_list(struct gh *g, const struct gh_auth *auth, const char *path, int max_pages,
            int (*each)(void *ud, const json_t *item), void *ud, struct amb_error *err);
/* The URL of rel="next" in a Link header value, copied into out; 0, or -1
 * when there is none or it does not fit. */
int gh_link_next(const char *link, char *out, size_t len);

/* ---- app.c ---- */
/* Reads app_id and private_key_file of instance i (both or neither). */
int gh_app_config(struct gh *g, size_t i, struct amb_error *err);
/* A copy of the installation token for repo's account (free with
 * gh_token_free, which wipes it). */
int gh_app_token(struct gh *g, const struct fk_repo *repo, char **out, struct amb_error *err);
/* Drops the cached token of repo's account (after a 401). */
void gh_app_forget(struct gh *g, const struct fk_repo *repo);
void gh_token_free(struct gh *g, char *token);
void gh_app_clear(struct gh *g);

/* ---- forge.c ---- */
void gh_forge_fill(struct amb_forge *forge);
/* 1 if url is a repository (owner/name) of a configured instance. */
int gh_match_url(void *ud, const char *url);

/* ---- webhook.c ---- */
int gh_verify_webhook(void *ud, const json_t *headers, const char *body, size_t body_len,
                      const char *secret, struct amb_error *err);
int gh_webhook_route(void *ud, struct amb_request *req);

#endif /* AMBIENT_GITHUB_H */
