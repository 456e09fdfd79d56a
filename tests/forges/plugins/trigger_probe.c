/* trigger_probe.c — a stand-in forge's webhook route for the trigger tests:
 * POST /api/trigger-probe (public) takes the fields a forge plugin would
 * have parsed and authenticated, as JSON, and runs the shared route parts
 * on them exactly as github.so and gitlab.so do: the body limit, the
 * command or label trigger of its `webhook` group, fk_webhook_fire.
 *   {"forge", "repo_url", "delivery", "author", "issue_url"?, "number"?,
 *    and one of "prompt" | "comment" (the command is looked for) |
 *    "label" (with "prompt": the issue's text)}
 * A comment or label that is no trigger is 202 {"ignored": true}. */
#include <string.h>

#include <ambient/plugin.h>

#include "trigger.h"

static const struct amb_host *host;
static struct amb_module *module;
static struct fk_webhook_config config;

static const char *text(const json_t *body, const char *key)
{
    return json_string_value(json_object_get(body, key));
}

static int probe(void *ud, struct amb_request *req)
{
    (void)ud;
    const struct amb_request_ops *rq = host->request_ops();
    const char *data;
    size_t len;
    if (fk_webhook_body(host, req, &config, &data, &len) != AMB_OK)
        return AMB_OK;
    json_t *body = json_loadb(data, len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return rq->respond(req, 400, json_pack("{s:s}", "error", "malformed webhook payload"));
    }
    struct fk_trigger t = {
        .forge = text(body, "forge"),
        .repo_url = text(body, "repo_url"),
        .delivery_id = text(body, "delivery"),
        .prompt = text(body, "prompt"),
        .prompt_len = json_string_length(json_object_get(body, "prompt")),
        .author = text(body, "author"),
        .issue_url = text(body, "issue_url"),
        .number = json_integer_value(json_object_get(body, "number")),
    };
    int fire = 1;
    if (json_object_get(body, "comment"))
        fire = fk_webhook_command(&config, text(body, "comment"), &t.prompt, &t.prompt_len);
    else if (json_object_get(body, "label"))
        fire = fk_webhook_label(&config, text(body, "label"));
    if (fire)
        fk_webhook_fire(host, module, req, &t);
    else
        rq->respond(req, 202, json_pack("{s:b}", "ignored", 1));
    json_decref(body);
    return AMB_OK;
}

static int init(const struct amb_host *h, struct amb_module *self, void **state,
                struct amb_error *err)
{
    (void)state;
    host = h;
    module = self;
    int rc = fk_webhook_config_read(h, self, &config, err);
    if (rc != AMB_OK)
        return rc;
    const struct amb_route route = {sizeof route, "POST", "/api/trigger-probe", probe,
                                    AMB_ROUTE_PUBLIC};
    return h->register_route(self, &route, NULL, NULL);
}

static const struct amb_plugin plugin = {
    AMB_PLUGIN_HEADER, "trigger_probe", "1.0", "the webhook trigger, for its tests",
    init, NULL, NULL, NULL,
};

AMB_DEFINE_PLUGIN(plugin)
