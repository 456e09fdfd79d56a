/* faulty.c — test plugins that each break one rule of the ABI. The build
 * compiles this file once per FAULT_* macro; the loader must refuse each with
 * a message naming the plugin and the reason. */
#include <ambient/plugin.h>

static const struct amb_host *host;
static struct amb_module *self;

#if defined(FAULT_EMPTY_KIND) || defined(FAULT_DUP_KIND)
static void free_nothing(void *p) { (void)p; }
#endif

static int faulty_init(const struct amb_host *h, struct amb_module *s, void **state,
                       struct amb_error *err)
{
    (void)state;
    host = h;
    self = s;
#if defined(FAULT_INIT_FAIL)
    return host->error_set(err, AMB_ENOTFOUND, "token_file", "cannot read /nonexistent/token");
#elif defined(FAULT_EMPTY_KIND) || defined(FAULT_DUP_KIND)
    struct amb_kind kind = {
        .size = sizeof kind,
#if defined(FAULT_EMPTY_KIND)
        .resource = {"test.ambient-code", "v1", "", "things", 1},
#else
        .resource = {"test.ambient-code", "v1", "Thing", "things", 1},
#endif
    };
    int rc = host->register_kind(self, &kind, NULL, free_nothing);
#if defined(FAULT_DUP_KIND)
    if (rc == AMB_OK)
        rc = host->register_kind(self, &kind, NULL, free_nothing);
#endif
    (void)err;
    return rc;
#elif defined(FAULT_BAD_CONFIG_TYPE)
    const char *s_value;
    (void)err;
    host->config_string(self, "listen", &s_value);
    return AMB_OK; /* the host fails the load anyway */
#else
    (void)err;
    return AMB_OK;
#endif
}

#if !defined(FAULT_NO_ENTRY)
static const struct amb_plugin descriptor = {
#if defined(FAULT_MAJOR_NEW)
    AMB_ABI_MAJOR + 1, 0, sizeof(struct amb_plugin),
#elif defined(FAULT_MAJOR_OLD)
    AMB_ABI_MAJOR - 1, 7, sizeof(struct amb_plugin),
#elif defined(FAULT_MINOR_NEW)
    AMB_ABI_MAJOR, AMB_ABI_MINOR + 1, sizeof(struct amb_plugin),
#else
    AMB_PLUGIN_HEADER,
#endif
#if defined(FAULT_BAD_NAME)
    .name = "Bad Name",
#else
    .name = FAULT_NAME,
#endif
    .version = "0.0.1",
    .init = faulty_init,
};

#if defined(FAULT_NULL_DESC)
AMB_EXPORT const struct amb_plugin *amb_plugin_entry(void);
AMB_EXPORT const struct amb_plugin *amb_plugin_entry(void) { return (void)descriptor, NULL; }
#else
AMB_DEFINE_PLUGIN(descriptor)
#endif
#else
/* No entry symbol: only an unrelated exported function. */
AMB_EXPORT int not_an_entry(void);
AMB_EXPORT int not_an_entry(void) { return faulty_init(0, 0, 0, 0); }
#endif
