/* runtime-internal.h — the loaded plugins of one ambientd: loading in config
 * order (with every check of the ABI promise), start, stop and unloading in
 * reverse order. */
#ifndef AMBD_RUNTIME_INTERNAL_H
#define AMBD_RUNTIME_INTERNAL_H

#include <stddef.h>

#include <libconfig.h>

#include "ambient/plugin.h"
#include "config-internal.h"
#include "error-internal.h"
#include "registry-internal.h"

enum ambd_module_phase {
    AMBD_MODULE_OPENED,  /* dlopen'ed and checked, init not called */
    AMBD_MODULE_IN_INIT, /* inside init: registration and config allowed */
    AMBD_MODULE_READY,   /* init succeeded */
    AMBD_MODULE_STARTED, /* start succeeded */
};

struct ambd_runtime;

struct amb_module {
    struct ambd_runtime *rt;
    char *path;
    int config_line; /* line of its entry in the plugins list */
    void *dl;
    struct amb_plugin desc; /* copy; members the plugin lacks are zero */
    config_setting_t *group; /* its config group, or NULL */
    void *state;
    enum ambd_module_phase phase;
    struct amb_error problems; /* bad config or registrations found in init */
};

struct ambd_runtime {
    const struct ambd_config *config; /* borrowed */
    char *default_plugin_dir;
    struct amb_module **modules;
    size_t n_modules;
    struct ambd_registry registry;
    struct amb_host host;
};

/* default_plugin_dir is used when the config has no plugin_dir. */
struct ambd_runtime *ambd_runtime_new(const struct ambd_config *config,
                                      const char *default_plugin_dir);
/* Loads and initialises every plugin of the config, then checks the config
 * for keys nobody read. On failure err says why (one cause per problem) and
 * whatever was loaded is unloaded again. */
int ambd_runtime_load(struct ambd_runtime *rt, struct amb_error *err);
int ambd_runtime_start(struct ambd_runtime *rt, struct amb_error *err);
void ambd_runtime_stop(struct ambd_runtime *rt);
/* Frees registrations' user data, calls fini and dlcloses, in reverse order. */
void ambd_runtime_unload(struct ambd_runtime *rt);
void ambd_runtime_free(struct ambd_runtime *rt);

/* <dir of the running executable>/../lib/ambient/plugins, where ambientd
 * and ambient-runner find plugins named without a path; caller frees. */
char *ambd_default_plugin_dir(void);

/* Fills the host table handed to plugins (host.c). */
void ambd_host_fill(struct amb_host *host);
/* The forge members of ABI 1.4 (host_forge.c). */
void ambd_host_forge_fill(struct amb_host *host);

#endif
