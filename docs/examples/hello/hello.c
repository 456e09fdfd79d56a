/* hello.c — the smallest useful Ambient plugin, built out of tree:
 *
 *   cc -shared -o hello.so hello.c $(pkg-config --cflags --libs ambient-plugin)
 *
 * It reads its "hello" group of ambient.conf, registers one route (served
 * when the api plugin runs too), and logs a greeting when ambientd starts. */
#include <ambient/plugin.h>

struct hello {
    const struct amb_host *host;
    struct amb_module *self;
    const char *greeting; /* borrowed from the config until unload */
};

/* GET /api/hello?name=x, served by the api plugin (ABI 1.3 hands out the
 * request's accessors): {"greeting": ..., "name": ...}. */
static int say_hello(void *user_data, struct amb_request *req)
{
    const struct hello *h = user_data;
    const struct amb_request_ops *rq =
        AMB_HAS(h->host, request_ops) ? h->host->request_ops() : NULL;
    if (!rq)
        return AMB_EUNSUPPORTED;
    const char *name = rq->query(req, "name");
    return rq->respond(req, 200, json_pack("{s:s, s:s}", "greeting", h->greeting, "name",
                                           name ? name : "world"));
}

static int hello_init(const struct amb_host *host, struct amb_module *self, void **state,
                      struct amb_error *err)
{
    struct hello *h = host->alloc(sizeof *h);
    if (!h)
        return host->error_set(err, AMB_ENOMEM, NULL, "no memory for the plugin state");
    h->host = host;
    h->self = self;
    h->greeting = "hello";
    int rc = host->config_string(self, "greeting", &h->greeting);
    if (rc != AMB_OK && rc != AMB_ENOTFOUND) {
        host->free(h);
        return host->error_set(err, rc, "hello.greeting", "must be a string");
    }
    struct amb_route route = {
        .size = sizeof route,
        .method = "GET",
        .pattern = "/api/hello",
        .handler = say_hello,
        .flags = AMB_ROUTE_PUBLIC,
    };
    /* The state outlives the route (fini runs after unload): nothing to free. */
    if ((rc = host->register_route(self, &route, h, NULL)) != AMB_OK) {
        host->free(h);
        return rc;
    }
    *state = h;
    return AMB_OK;
}

static int hello_start(void *state, struct amb_error *err)
{
    (void)err;
    struct hello *h = state;
    h->host->log(h->self, AMB_LOG_INFO, "started", "greeting", h->greeting, NULL);
    return AMB_OK;
}

static void hello_fini(void *state)
{
    struct hello *h = state;
    h->host->free(h);
}

static const struct amb_plugin hello_plugin = {
    AMB_PLUGIN_HEADER,
    .name = "hello",
    .version = "0.1.0",
    .description = "example out-of-tree plugin",
    .init = hello_init,
    .start = hello_start,
    .fini = hello_fini,
};

AMB_DEFINE_PLUGIN(hello_plugin)
