/* webhook.c — the parts of a forge's webhook route that do not depend on
 * the forge: its config group, the trigger command and label, the body
 * limit, and the answer once a trigger is known (docs/forges.md). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trigger.h"

#define COMMAND_MAX 64
#define LABEL_MAX 255
#define BODY_MIN 1024LL
#define BODY_MAX (64LL << 20)

int fk_webhook_config_read(const struct amb_host *host, struct amb_module *self,
                           struct fk_webhook_config *cfg, struct amb_error *err)
{
    long long max_body = FK_WEBHOOK_MAX_BODY;
    cfg->command = FK_WEBHOOK_COMMAND;
    cfg->label = FK_WEBHOOK_LABEL;
    int rc = host->config_string(self, "webhook.command", &cfg->command);
    if (rc != AMB_OK && rc != AMB_ENOTFOUND)
        return host->error_set(err, rc, "webhook.command", "must be a string");
    size_t n = strlen(cfg->command);
    if (n < 2 || n > COMMAND_MAX || cfg->command[0] != '/' ||
        strcspn(cfg->command, " \t\r\n") != n)
        return host->error_set(err, AMB_EINVAL, "webhook.command",
                               "must start with / and hold no space (at most 64 bytes)");
    rc = host->config_string(self, "webhook.label", &cfg->label);
    if (rc != AMB_OK && rc != AMB_ENOTFOUND)
        return host->error_set(err, rc, "webhook.label", "must be a string");
    if (strlen(cfg->label) > LABEL_MAX)
        return host->error_set(err, AMB_EINVAL, "webhook.label", "must be at most 255 bytes");
    if (!*cfg->label)
        cfg->label = NULL;
    rc = host->config_int(self, "webhook.max_body", &max_body);
    if (rc != AMB_OK && rc != AMB_ENOTFOUND)
        return host->error_set(err, rc, "webhook.max_body", "must be an integer");
    if (max_body < BODY_MIN || max_body > BODY_MAX)
        return host->error_set(err, AMB_EINVAL, "webhook.max_body",
                               "must be between 1024 and 67108864 bytes");
    cfg->max_body = (size_t)max_body;
    return AMB_OK;
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int fk_webhook_command(const struct fk_webhook_config *cfg, const char *comment,
                       const char **prompt, size_t *len)
{
    size_t n = strlen(cfg->command);
    if (!comment || strncmp(comment, cfg->command, n) != 0 ||
        (comment[n] != '\0' && !blank(comment[n])))
        return 0;
    const char *p = comment + n;
    while (blank(*p))
        p++;
    size_t l = strlen(p);
    while (l > 0 && blank(p[l - 1]))
        l--;
    *prompt = p;
    *len = l;
    return 1;
}

int fk_webhook_label(const struct fk_webhook_config *cfg, const char *label)
{
    return cfg->label && label && strcasecmp(cfg->label, label) == 0;
}

int fk_webhook_body(const struct amb_host *host, struct amb_request *req,
                    const struct fk_webhook_config *cfg, const char **data, size_t *len)
{
    const struct amb_request_ops *rq = host->request_ops();
    struct amb_error *err = host->error_new();
    int rc = err ? rq->raw_body(req, data, len, err) : AMB_ENOMEM;
    if (rc == AMB_OK && *len > cfg->max_body)
        rc = host->error_set(err, AMB_ETOOLARGE, "body", "a delivery may be at most %zu bytes",
                             cfg->max_body);
    if (rc != AMB_OK)
        rq->respond_error(req, rc, err);
    host->error_free(err);
    return rc;
}

int fk_webhook_accept(const struct amb_host *host, struct amb_request *req,
                      const struct fk_webhook_config *cfg,
                      int (*verify)(void *ud, const json_t *headers, const char *body,
                                    size_t body_len, const char *secret, struct amb_error *err),
                      void *ud, const char *header, const char *secret, const char **data,
                      size_t *len)
{
    const struct amb_request_ops *rq = host->request_ops();
    int rc = fk_webhook_body(host, req, cfg, data, len);
    if (rc != AMB_OK)
        return rc;
    json_t *headers = json_pack("{s:s*}", header, rq->header(req, header));
    struct amb_error *err = host->error_new();
    rc = headers && err ? verify(ud, headers, *data, *len, secret, err)
                        : AMB_ENOMEM;
    json_decref(headers);
    if (rc != AMB_OK)
        rq->respond_error(req, rc, err);
    host->error_free(err);
    return rc;
}

int fk_webhook_fire(const struct amb_host *host, struct amb_module *self,
                    struct amb_request *req, const struct fk_trigger *t)
{
    const struct amb_request_ops *rq = host->request_ops();
    struct amb_error *err = host->error_new();
    json_t *answer = NULL;
    int rc = err ? fk_trigger_sessions(host, self, t, &answer, err) : AMB_ENOMEM;
    if (rc == AMB_OK) {
        rq->respond(req, 202, answer);
    } else if (rc == AMB_EINVAL) {
        /* The payload the trigger came from was malformed: 400, never the
         * 422 a field cause would give. */
        json_t *why = host->error_to_json(err);
        rq->respond(req, 400,
                    json_pack("{s:s,s:O*}", "error", "malformed webhook payload", "details",
                              json_object_get(why, "causes")));
        json_decref(why);
    } else {
        /* The projects could not be listed: 503 makes the forge deliver
         * again later, and nothing was created twice meanwhile. */
        rq->respond_error(req, rc == AMB_ENOMEM ? rc : AMB_EUNAVAILABLE, err);
    }
    host->error_free(err);
    return AMB_OK;
}
