/* webhook.c — a GitLab webhook delivery is authentic when its
 * X-Gitlab-Token header equals the secret configured for the hook
 * (GitLab signs nothing: the token is the whole proof), compared in
 * constant time. */
#include <string.h>

#include "gitlab.h"

int gl_verify_webhook(void *ud, const json_t *headers, const char *body, size_t body_len,
                      const char *secret, struct amb_error *err)
{
    (void)body;
    (void)body_len;
    const struct gitlab *g = ud;
    const struct amb_host *h = g->env.host;
    if (!secret)
        secret = g->webhook_secret;
    if (!secret || !*secret)
        return h->error_set(err, AMB_EUNAUTHORIZED, "X-Gitlab-Token",
                            "cannot be checked: no gitlab.webhook_secret_file");
    const char *token = json_string_value(json_object_get(headers, "x-gitlab-token"));
    if (!token)
        return h->error_set(err, AMB_EUNAUTHORIZED, "X-Gitlab-Token", "is missing");
    if (!fk_secret_equal(token, strlen(token), secret, strlen(secret)))
        return h->error_set(err, AMB_EUNAUTHORIZED, "X-Gitlab-Token",
                            "does not match the webhook secret");
    return AMB_OK;
}
