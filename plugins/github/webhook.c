/* webhook.c — GitHub's webhook deliveries: X-Hub-Signature-256 checked in
 * constant time over the exact body bytes, then POST /api/webhooks/github
 * turns a trigger into sessions (forgekit/trigger.h): an issue or review
 * comment starting with the command by an OWNER, MEMBER or COLLABORATOR,
 * or the trigger label added to an issue (adding labels takes triage or
 * write access on GitHub). Anything else is answered 202 and does
 * nothing. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "github.h"

#define SIGNATURE_PREFIX "sha256="

int gh_verify_webhook(void *ud, const json_t *headers, const char *body, size_t body_len,
                      const char *secret, struct amb_error *err)
{
    struct gh *g = ud;
    const struct amb_host *h = g->env.host;
    const char *sig = json_string_value(json_object_get(headers, "x-hub-signature-256"));
    if (!secret || !*secret)
        return h->error_set(err, AMB_EUNAUTHORIZED, NULL, "no webhook secret is configured");
    if (!sig)
        return h->error_set(err, AMB_EUNAUTHORIZED, "X-Hub-Signature-256", "is missing");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, body_len,
              mac, &mac_len))
        return h->error_set(err, AMB_EINTERNAL, NULL, "HMAC-SHA256 failed");
    char want[sizeof SIGNATURE_PREFIX + 2 * EVP_MAX_MD_SIZE];
    size_t n = (size_t)snprintf(want, sizeof want, "%s", SIGNATURE_PREFIX);
    for (unsigned i = 0; i < mac_len; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, "%02x", mac[i]);
    if (!fk_secret_equal(want, n, sig, strlen(sig)))
        return h->error_set(err, AMB_EUNAUTHORIZED, "X-Hub-Signature-256",
                            "does not match the body");
    return AMB_OK;
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

static int may_write(const char *association)
{
    return association && (strcmp(association, "OWNER") == 0 ||
                           strcmp(association, "MEMBER") == 0 ||
                           strcmp(association, "COLLABORATOR") == 0);
}

/* What a delivery asks for, borrowed from its payload. */
struct delivery {
    const char *comment;   /* NULL for a label trigger */
    const char *author;
    const char *issue_url;
    json_int_t number;
    const json_t *issue;   /* whose title and body stand in for an empty prompt */
};

/* 1 and d filled for a trigger event, 0 for any other (why says which). */
static int triggering(struct gh *g, const char *event, const json_t *p, struct delivery *d,
                      const char **why)
{
    const char *action = str_at(p, "action", NULL);
    memset(d, 0, sizeof *d);
    if (strcmp(event, "issue_comment") == 0 || strcmp(event, "pull_request_review_comment") == 0) {
        const json_t *on = json_object_get(p, event[0] == 'i' ? "issue" : "pull_request");
        if (!action || strcmp(action, "created") != 0)
            return (*why = "not a new comment"), 0;
        const char *prompt;
        size_t len;
        d->comment = str_at(p, "comment", "body");
        if (!fk_webhook_command(&g->webhook, d->comment, &prompt, &len))
            return (*why = "the comment does not start with the command"), 0;
        if (!may_write(str_at(p, "comment", "author_association")))
            return (*why = "the comment's author has no write access"), 0;
        d->author = str_at(json_object_get(p, "comment"), "user", "login");
        d->issue_url = str_at(on, "html_url", NULL);
        d->number = json_integer_value(json_object_get(on, "number"));
        d->issue = on;
        return 1;
    }
    if (strcmp(event, "issues") == 0 && action && strcmp(action, "labeled") == 0) {
        if (!fk_webhook_label(&g->webhook, str_at(p, "label", "name")))
            return (*why = "not the trigger label"), 0;
        d->author = str_at(p, "sender", "login");
        d->issue = json_object_get(p, "issue");
        d->issue_url = str_at(d->issue, "html_url", NULL);
        d->number = json_integer_value(json_object_get(d->issue, "number"));
        return 1;
    }
    return (*why = "not a trigger event"), 0;
}

/* The prompt: the comment after the command, else the issue's title and
 * body. Written into buf (FK_PROMPT_MAX + 1 bytes). */
static size_t prompt_of(struct gh *g, const struct delivery *d, char *buf)
{
    const char *p = NULL;
    size_t len = 0;
    if (d->comment && fk_webhook_command(&g->webhook, d->comment, &p, &len) && len > 0) {
        len = len > FK_PROMPT_MAX ? FK_PROMPT_MAX : len;
        memcpy(buf, p, len);
    } else {
        const char *title = str_at(d->issue, "title", NULL);
        const char *body = str_at(d->issue, "body", NULL);
        int n = snprintf(buf, FK_PROMPT_MAX + 1, "%s%s%s", title ? title : "",
                         title && body ? "\n\n" : "", body ? body : "");
        len = n < 0 ? 0 : (size_t)n > FK_PROMPT_MAX ? FK_PROMPT_MAX : (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

static int answer(struct gh *g, struct amb_request *req, int status, const char *key,
                  const char *why)
{
    const struct amb_request_ops *rq = g->env.host->request_ops();
    return rq->respond(req, status, json_pack("{s:s}", key, why));
}

int gh_webhook_route(void *ud, struct amb_request *req)
{
    struct gh *g = ud;
    const struct amb_host *h = g->env.host;
    const struct amb_request_ops *rq = h->request_ops();
    const char *data = NULL;
    size_t len = 0;
    if (fk_webhook_accept(h, req, &g->webhook, gh_verify_webhook, g, "x-hub-signature-256",
                          g->webhook_secret, &data, &len) != AMB_OK)
        return AMB_OK; /* answered: 413, 401 */
    const char *event = rq->header(req, "X-GitHub-Event");
    const char *delivery = rq->header(req, "X-GitHub-Delivery");
    json_error_t jerr;
    json_t *payload = json_loadb(data, len, 0, &jerr);
    struct delivery d;
    const char *why = NULL;
    int rc;
    if (!event || !delivery || !*delivery || !json_is_object(payload)) {
        rc = answer(g, req, 400, "error", "a GitHub delivery needs X-GitHub-Event, "
                    "X-GitHub-Delivery and a JSON object body");
    } else if (!triggering(g, event, payload, &d, &why)) {
        rc = answer(g, req, 202, "ignored", why);
    } else {
        const char *repo_url = str_at(payload, "repository", "clone_url");
        char *prompt = h->alloc(FK_PROMPT_MAX + 1);
        struct fk_trigger t = {
            .forge = "github", .repo_url = repo_url, .delivery_id = delivery,
            .prompt = prompt, .author = d.author, .issue_url = d.issue_url,
            .number = d.number,
        };
        if (!prompt)
            rc = rq->respond_error(req, AMB_ENOMEM, NULL);
        else if (!repo_url || !gh_match_url(g, repo_url))
            rc = answer(g, req, 202, "ignored", "not a repository of a configured instance");
        else if ((t.prompt_len = prompt_of(g, &d, prompt)) == 0)
            rc = answer(g, req, 202, "ignored", "the trigger has no prompt");
        else
            rc = fk_webhook_fire(h, g->env.self, req, &t);
        h->free(prompt);
    }
    json_decref(payload);
    return rc;
}
