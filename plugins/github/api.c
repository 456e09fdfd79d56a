/* api.c — GitHub's REST v3 as github.so calls it: the headers GitHub asks
 * for, its rate limits waited out within a bound (a 403 or 429 with
 * X-RateLimit-Remaining: 0 or Retry-After), an App token refreshed after a
 * 401, and lists followed through their Link headers. 5xx and transport
 * errors are retried by host->http with backoff. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "github.h"

#define API_RETRIES 3        /* host->http's retries of 5xx and transport errors */
#define RATE_LIMIT_ROUNDS 5  /* rate-limited answers waited out per call */

static void sleep_s(unsigned s)
{
    struct timespec t = {(time_t)s, 0};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* Seconds GitHub asks us to wait, or -1 when the answer is no rate limit. */
static long rate_limit_wait(const struct fk_answer *a)
{
    if (a->status != 403 && a->status != 429)
        return -1;
    const char *retry = fk_answer_header(a, "retry-after");
    const char *remaining = fk_answer_header(a, "x-ratelimit-remaining");
    const char *reset = fk_answer_header(a, "x-ratelimit-reset");
    if (retry)
        return atol(retry) > 0 ? atol(retry) : 1;
    if (!remaining || strcmp(remaining, "0") != 0)
        return -1; /* a plain 403: no permission */
    long wait = reset ? atol(reset) - (long)time(NULL) : 60;
    return wait > 0 ? wait : 1;
}

int gh_call_bearer(struct gh *g, const char *bearer, const char *method, const char *url,
                   const json_t *body, struct fk_answer *out, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    size_t alen = strlen(bearer) + sizeof "Authorization: Bearer ";
    char *auth = h->alloc(alen);
    if (!auth)
        return h->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    snprintf(auth, alen, "Authorization: Bearer %s", bearer);
    const char *headers[] = {auth, "Accept: application/vnd.github+json",
                             "X-GitHub-Api-Version: 2022-11-28", NULL};
    struct fk_call call = {.method = method, .url = url, .headers = headers, .body = body,
                           .max_retries = API_RETRIES, .max_wait_s = g->rate_limit_wait_s};
    unsigned waited = 0;
    int rc = AMB_OK;
    for (int round = 0;; round++) {
        rc = fk_call(&g->env, &call, out, err);
        long wait = rc == AMB_OK ? rate_limit_wait(out) : -1;
        if (wait < 0)
            break;
        if (round == RATE_LIMIT_ROUNDS || waited + (unsigned long)wait > g->rate_limit_wait_s) {
            fk_answer_clear(out);
            rc = h->error_set(err, AMB_EUNAVAILABLE, NULL,
                              "GitHub's rate limit is exhausted for %s %s: it asks for %ld s "
                              "more, beyond github.rate_limit_wait (%u s in all); try again "
                              "later",
                              method, url, wait, g->rate_limit_wait_s);
            break;
        }
        h->logf(g->env.self, AMB_LOG_INFO, "GitHub rate limit: waiting %ld s", wait);
        fk_answer_clear(out);
        sleep_s((unsigned)wait);
        waited += (unsigned)wait;
    }
    OPENSSL_cleanse(auth, alen);
    h->free(auth);
    return rc;
}

int gh_call(struct gh *g, const struct gh_auth *auth, const char *method, const char *path,
            const json_t *body, struct fk_answer *out, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    const struct fk_instance *inst = auth->repo->inst;
    char target[FK_MAX_URL * 2 + 2];
    snprintf(target, sizeof target, "%s%s", inst->api_url, path);
    if (auth->token && *auth->token)
        return gh_call_bearer(g, auth->token, method, target, body, out, err);
    int rc = AMB_OK;
    for (int refreshed = 0; refreshed < 2; refreshed++) {
        char *token = NULL;
        rc = gh_app_token(g, auth->repo, &token, err);
        if (rc != AMB_OK)
            return rc;
        rc = gh_call_bearer(g, token, method, target, body, out, err);
        gh_token_free(g, token);
        if (rc != AMB_OK || out->status != 401 || refreshed)
            break;
        /* revoked or expired before GitHub said it would: a new one, once */
        h->logf(g->env.self, AMB_LOG_INFO, "GitHub refused the App's installation token for "
                "%s (401): getting a new one", auth->repo->owner);
        gh_app_forget(g, auth->repo);
        fk_answer_clear(out);
    }
    return rc;
}

int gh_link_next(const char *link, char *out, size_t len)
{
    /* <https://api.github.com/...&page=2>; rel="next", <...>; rel="last" */
    const char *p = link;
    while (p && (p = strchr(p, '<')) != NULL) {
        const char *end = strchr(p, '>');
        if (!end)
            return -1;
        const char *next = strchr(end, ',');
        const char *rel = strstr(end, "rel=\"next\"");
        if (rel && (!next || rel < next)) {
            size_t n = (size_t)(end - p - 1);
            if (n + 1 > len)
                return -1;
            memcpy(out, p + 1, n);
            out[n] = '\0';
            return 0;
        }
        p = next;
    }
    return -1;
}

int gh_list(struct gh *g, const struct gh_auth *auth, const char *path, int max_pages,
            int (*each)(void *ud, const json_t *item), void *ud, struct amb_error *err)
{
    const struct amb_host *h = g->env.host;
    const char *api = auth->repo->inst->api_url;
    size_t api_len = strlen(api);
    char url[FK_MAX_URL * 2 + 2];
    snprintf(url, sizeof url, "%s%s", api, path);
    for (int page = 0; page < max_pages; page++) {
        struct fk_answer a;
        int rc = gh_call(g, auth, "GET", url + api_len, NULL, &a, err);
        if (rc != AMB_OK)
            return rc;
        if (a.status != 200 || !json_is_array(a.json)) {
            rc = a.status == 200
                     ? h->error_set(err, AMB_EIO, NULL, "GET %s: the answer is not a list", path)
                     : fk_answer_error(&g->env, err, &a, "GitHub list");
            fk_answer_clear(&a);
            return rc;
        }
        size_t i;
        json_t *item;
        int stop = 0;
        json_array_foreach(a.json, i, item)
            if (!stop)
                stop = each(ud, item);
        const char *link = fk_answer_header(&a, "link");
        /* only pages of the same API: the token must not go elsewhere */
        int more = !stop && link && gh_link_next(link, url, sizeof url) == 0 &&
                   strncmp(url, api, api_len) == 0 && url[api_len] == '/';
        fk_answer_clear(&a);
        if (!more)
            return AMB_OK;
    }
    return AMB_OK;
}
