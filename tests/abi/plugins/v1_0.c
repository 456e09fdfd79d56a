/* v1_0.c — a plugin built against the frozen ABI 1.0 header in
 * tests/abi/v1.0. Every later 1.x ambientd must load it. */
#include <ambient/plugin.h>

static int old_init(const struct amb_host *host, struct amb_module *self, void **state,
                    struct amb_error *err)
{
    (void)state;
    (void)err;
    if (host->abi_major != 1 || !AMB_HAS(host, error_set))
        return AMB_EUNSUPPORTED;
    host->log(self, AMB_LOG_INFO, "built against ABI 1.0", NULL);
    struct amb_kind kind = {
        .size = sizeof kind,
        .resource = {"old.ambient-code", "v1", "Relic", "relics", 1},
    };
    return host->register_kind(self, &kind, NULL, NULL);
}

static const struct amb_plugin descriptor = {
    AMB_PLUGIN_HEADER,
    .name = "v1-0",
    .version = "1.0.0",
    .init = old_init,
};

AMB_DEFINE_PLUGIN(descriptor)
