/* sample.c — a well-behaved test plugin. It reads every kind of config value,
 * registers a kind, a forge and a route, and logs each lifecycle step so the
 * tests can check order and that user data is freed exactly once.
 * SAMPLE_NAME (default "sample") and SAMPLE_KIND (default "Widget") let the
 * build make a second, differently named copy. */
#include <ambient/plugin.h>
#include <stdio.h>
#include <string.h>

#ifndef SAMPLE_NAME
#define SAMPLE_NAME "sample"
#endif
#ifndef SAMPLE_KIND
#define SAMPLE_KIND "Widget"
#endif
#ifndef SAMPLE_PLURAL
#define SAMPLE_PLURAL "widgets"
#endif

static const struct amb_host *host;
static struct amb_module *self;

struct tag {
    char name[32];
};

static void free_tag(void *p)
{
    struct tag *t = p;
    host->log(self, AMB_LOG_INFO, "freed user data", "tag", t->name, NULL);
    host->free(t);
}

static struct tag *new_tag(const char *name)
{
    struct tag *t = host->alloc(sizeof *t);
    if (t)
        snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

/* Tries to register after init: the host must refuse with AMB_ESTATE. */
static int late_register(void *ud, struct amb_ctx *ctx, const json_t *obj, const json_t *old,
                         struct amb_error *err)
{
    (void)ud;
    (void)ctx;
    (void)obj;
    (void)old;
    struct amb_route late = {sizeof late, "GET", "/late", NULL, 0};
    int rc = host->register_route(self, &late, new_tag("late"), free_tag);
    return host->error_set(err, rc, "late", "register_route after init returned %d", rc);
}

static int handle(void *ud, struct amb_request *req)
{
    (void)ud;
    (void)req;
    return AMB_OK;
}

static int match_url(void *ud, const char *url)
{
    (void)ud;
    return strncmp(url, "https://forge.test/", 19) == 0;
}

static void log_config(void)
{
    const char *greeting = "(unset)", *cert = "(unset)";
    long long count = -1;
    int enabled = -1;
    double ratio = -1;
    size_t n_hosts = 0;
    char buf[64];
    host->config_string(self, "greeting", &greeting);
    host->config_int(self, "count", &count);
    host->config_bool(self, "enabled", &enabled);
    host->config_double(self, "ratio", &ratio);
    host->config_string(self, "tls.cert_file", &cert);
    host->config_count(self, "hosts", &n_hosts);
    for (size_t i = 0; i < n_hosts; i++) {
        const char *h = NULL;
        snprintf(buf, sizeof buf, "hosts.[%zu]", i);
        if (host->config_string(self, buf, &h) == AMB_OK)
            host->log(self, AMB_LOG_INFO, "config host", "host", h, NULL);
    }
    host->logf(self, AMB_LOG_INFO, "config greeting=%s count=%lld enabled=%d ratio=%.2f cert=%s",
               greeting, count, enabled, ratio, cert);
}

static int sample_init(const struct amb_host *h, struct amb_module *s, void **state,
                       struct amb_error *err)
{
    (void)err;
    host = h;
    self = s;
    *state = new_tag("state");
    host->log(self, AMB_LOG_INFO, "init", NULL);
    log_config();

    /* Registered from a buffer that is overwritten afterwards: the host
     * must have copied it. */
    char kind_name[32];
    snprintf(kind_name, sizeof kind_name, "%s", SAMPLE_KIND);
    static const struct amb_resource owns[] = {
        {"batch", "v1", "Job", "jobs", 1},
        {"", "v1", "Pod", "pods", 1},
    };
    struct amb_kind kind = {
        .size = sizeof kind,
        .resource = {"test.ambient-code", "v1", kind_name, SAMPLE_PLURAL, 1},
        .owns = owns,
        .n_owns = 2,
        .validate = late_register,
    };
    int rc = host->register_kind(self, &kind, new_tag("kind"), free_tag);
    memset(kind_name, 'X', sizeof kind_name - 1);
    if (rc != AMB_OK)
        return rc;
    struct amb_forge forge = {.size = sizeof forge, .name = SAMPLE_NAME "forge",
                              .match_url = match_url};
    if ((rc = host->register_forge(self, &forge, new_tag("forge"), free_tag)) != AMB_OK)
        return rc;
    struct amb_route route = {sizeof route, "GET", "/api/" SAMPLE_NAME "/:id", handle, 0};
    return host->register_route(self, &route, new_tag("route"), free_tag);
}

static int sample_start(void *state, struct amb_error *err)
{
    (void)err;
    host->log(self, AMB_LOG_INFO, "start", "state", ((struct tag *)state)->name, NULL);
    return AMB_OK;
}

static void sample_stop(void *state)
{
    (void)state;
    host->log(self, AMB_LOG_INFO, "stop", NULL);
}

static void sample_fini(void *state)
{
    host->log(self, AMB_LOG_INFO, "fini", NULL);
    host->free(state);
}

static const struct amb_plugin descriptor = {
    AMB_PLUGIN_HEADER,
    .name = SAMPLE_NAME,
    .version = "1.2.3",
    .description = "test plugin that registers one of everything",
    .init = sample_init,
    .start = sample_start,
    .stop = sample_stop,
    .fini = sample_fini,
};

AMB_DEFINE_PLUGIN(descriptor)
