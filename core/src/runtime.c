/* runtime.c — loads plugins with dlopen and keeps the ABI promise: the entry
 * symbol must exist, the major must equal ours, the minor must not be newer,
 * names must be valid and unique; init runs with registration open, and
 * anything wrong (init failure, a refused registration, a config key nobody
 * read) fails the load with a message naming the plugin and the reason. */
#include "runtime-internal.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf-internal.h"
#include "log-internal.h"

/* The least descriptor a 1.0 plugin has: everything up to fini. */
#define DESC_SIZE_1_0 (offsetof(struct amb_plugin, fini) + sizeof(void (*)(void *)))
#define MAX_PLUGIN_NAME 63

struct ambd_runtime *ambd_runtime_new(const struct ambd_config *config,
                                      const char *default_plugin_dir)
{
    struct ambd_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->config = config;
    rt->default_plugin_dir = default_plugin_dir ? strdup(default_plugin_dir) : NULL;
    ambd_host_fill(&rt->host);
    return rt;
}

static int is_plugin_name(const char *s)
{
    if (!s || !islower((unsigned char)s[0]) || strlen(s) > MAX_PLUGIN_NAME)
        return 0;
    for (; *s; s++) {
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    }
    return 1;
}

/* Adds "FILE:LINE: plugin "spec": message" to err. */
static int load_error(struct amb_error *err, const struct ambd_runtime *rt,
                      const struct ambd_plugin_spec *spec, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int load_error(struct amb_error *err, const struct ambd_runtime *rt,
                      const struct ambd_plugin_spec *spec, int code, const char *fmt, ...)
{
    char where[1024];
    snprintf(where, sizeof where, "%s:%d: plugin \"%s\"", rt->config->path, spec->line,
             spec->spec);
    va_list ap;
    va_start(ap, fmt);
    ambd_error_vset(err, code, where, fmt, ap);
    va_end(ap);
    return code;
}

static char *plugin_path(const struct ambd_runtime *rt, const char *spec)
{
    if (strchr(spec, '/'))
        return strdup(spec);
    const char *dir = rt->config->plugin_dir ? rt->config->plugin_dir : rt->default_plugin_dir;
    struct ambd_buf b = {0};
    ambd_buf_printf(&b, "%s/%s.so", dir ? dir : ".", spec);
    return ambd_buf_take(&b);
}

static void module_close(struct amb_module *m)
{
    if (!m)
        return;
    if (m->dl)
        dlclose(m->dl);
    ambd_error_clear(&m->problems);
    free(m->path);
    free(m);
}

/* dlopen, find the entry symbol and check the descriptor. */
static int module_open(struct ambd_runtime *rt, const struct ambd_plugin_spec *spec,
                       struct amb_module **out, struct amb_error *err)
{
    if (!strchr(spec->spec, '/') && !is_plugin_name(spec->spec))
        return load_error(err, rt, spec, AMB_EINVAL,
                          "neither a plugin name ([a-z][a-z0-9_-]*) nor a path to a .so");
    struct amb_module *m = calloc(1, sizeof *m);
    if (!m || !(m->path = plugin_path(rt, spec->spec))) {
        free(m);
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    m->rt = rt;
    m->config_line = spec->line;
    int rc;
    struct stat st;
    if (stat(m->path, &st) != 0) {
        rc = load_error(err, rt, spec, AMB_ENOTFOUND, "%s: %s", m->path, strerror(errno));
        goto fail;
    }
    dlerror();
    if (!(m->dl = dlopen(m->path, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        rc = load_error(err, rt, spec, AMB_EINVAL, "%s is not a loadable shared object: %s",
                        m->path, why ? why : "unknown reason");
        goto fail;
    }
    amb_plugin_entry_fn entry;
    *(void **)&entry = dlsym(m->dl, AMB_PLUGIN_ENTRY_NAME);
    if (!entry) {
        rc = load_error(err, rt, spec, AMB_EINVAL,
                        "%s does not export %s(); it is not an Ambient plugin", m->path,
                        AMB_PLUGIN_ENTRY_NAME);
        goto fail;
    }
    const struct amb_plugin *d = entry();
    if (!d) {
        rc = load_error(err, rt, spec, AMB_EINVAL, "%s() returned no descriptor",
                        AMB_PLUGIN_ENTRY_NAME);
        goto fail;
    }
    if (d->abi_major != AMB_ABI_MAJOR) {
        rc = load_error(err, rt, spec, AMB_EUNSUPPORTED,
                        "built for plugin ABI %u.%u, but this ambientd provides ABI %d.%d; the "
                        "major versions must match (rebuild the plugin against this ambientd)",
                        d->abi_major, d->abi_minor, AMB_ABI_MAJOR, AMB_ABI_MINOR);
        goto fail;
    }
    if (d->abi_minor > AMB_ABI_MINOR) {
        rc = load_error(err, rt, spec, AMB_EUNSUPPORTED,
                        "built for plugin ABI %u.%u, newer than this ambientd's ABI %d.%d "
                        "(upgrade ambientd)",
                        d->abi_major, d->abi_minor, AMB_ABI_MAJOR, AMB_ABI_MINOR);
        goto fail;
    }
    if (d->size < DESC_SIZE_1_0 || d->size > sizeof m->desc) {
        rc = load_error(err, rt, spec, AMB_EINVAL,
                        "descriptor size %u is not between %zu and %zu (use AMB_PLUGIN_HEADER)",
                        d->size, DESC_SIZE_1_0, sizeof m->desc);
        goto fail;
    }
    memcpy(&m->desc, d, d->size);
    if (!is_plugin_name(m->desc.name)) {
        rc = load_error(err, rt, spec, AMB_EINVAL,
                        "plugin name \"%s\" is not [a-z][a-z0-9_-]* of at most %d bytes",
                        m->desc.name ? m->desc.name : "", MAX_PLUGIN_NAME);
        goto fail;
    }
    if (!m->desc.init) {
        rc = load_error(err, rt, spec, AMB_EINVAL, "descriptor has no init function");
        goto fail;
    }
    for (size_t i = 0; i < rt->n_modules; i++) {
        const struct amb_module *o = rt->modules[i];
        if (strcmp(o->desc.name, m->desc.name) == 0) {
            rc = load_error(err, rt, spec, AMB_EEXIST,
                            "plugin name \"%s\" is already taken by %s (line %d)", m->desc.name,
                            o->path, o->config_line);
            goto fail;
        }
    }
    *out = m;
    return AMB_OK;
fail:
    module_close(m);
    return rc;
}

/* Unloads one module: its registrations' user data first (the free
 * functions are plugin code), then fini, then dlclose. */
static void module_unload(struct amb_module *m)
{
    ambd_registry_release_owner(&m->rt->registry, m);
    if (m->phase >= AMBD_MODULE_READY && m->desc.fini)
        m->desc.fini(m->state);
    ambd_log("core", AMB_LOG_DEBUG, "plugin unloaded", "plugin", m->desc.name, NULL);
    module_close(m);
}

static int module_init(struct ambd_runtime *rt, struct amb_module *m,
                       const struct ambd_plugin_spec *spec, struct amb_error *err)
{
    struct amb_error why = AMBD_ERROR_INIT;
    m->group = ambd_config_group(rt->config, m->desc.name);
    m->phase = AMBD_MODULE_IN_INIT;
    int rc = m->desc.init(&rt->host, m, &m->state, &why);
    m->phase = rc == AMB_OK ? AMBD_MODULE_READY : AMBD_MODULE_OPENED;
    if (rc == AMB_OK && m->group && !config_setting_is_group(m->group))
        ambd_config_error(&m->problems, rt->config, m->group, "expected a group, found %s",
                          ambd_config_type_name(config_setting_type(m->group)));
    else if (rc == AMB_OK)
        ambd_config_check_unread(rt->config, m->group, &m->problems);
    if (rc != AMB_OK) {
        /* The plugin's own message, else what the host refused, else the code. */
        const struct amb_error *reason = why.n_causes > 0 ? &why : &m->problems;
        char *line = reason->n_causes > 0 ? ambd_error_line(reason) : NULL;
        load_error(err, rt, spec, rc, "init failed: %s", line ? line : ambd_strerror(rc));
        free(line);
    } else if (m->problems.n_causes > 0) {
        char *line = ambd_error_line(&m->problems);
        rc = load_error(err, rt, spec, m->problems.code, "%s", line ? line : "out of memory");
        free(line);
    }
    ambd_error_clear(&why);
    ambd_error_clear(&m->problems);
    return rc;
}

int ambd_runtime_load(struct ambd_runtime *rt, struct amb_error *err)
{
    const struct ambd_config *c = rt->config;
    if (c->n_plugins > 0 && !(rt->modules = calloc(c->n_plugins, sizeof *rt->modules)))
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    for (size_t i = 0; i < c->n_plugins; i++) {
        struct amb_module *m = NULL;
        int rc = module_open(rt, &c->plugins[i], &m, err);
        if (rc != AMB_OK)
            goto fail;
        rc = module_init(rt, m, &c->plugins[i], err);
        rt->modules[rt->n_modules++] = m;
        if (rc != AMB_OK)
            goto fail;
        ambd_log("core", AMB_LOG_INFO, "plugin loaded", "plugin", m->desc.name, "version",
                 m->desc.version ? m->desc.version : "", "path", m->path, NULL);
    }
    const char **names = calloc(rt->n_modules + 1, sizeof *names);
    if (!names) {
        ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        goto fail;
    }
    for (size_t i = 0; i < rt->n_modules; i++)
        names[i] = rt->modules[i]->desc.name;
    int rc = ambd_config_check_top_level(c, names, rt->n_modules, err);
    free(names);
    if (rc != AMB_OK)
        goto fail;
    return AMB_OK;
fail:
    ambd_runtime_unload(rt);
    return err->code != AMB_OK ? err->code : AMB_EINVAL;
}

int ambd_runtime_start(struct ambd_runtime *rt, struct amb_error *err)
{
    for (size_t i = 0; i < rt->n_modules; i++) {
        struct amb_module *m = rt->modules[i];
        if (m->desc.start) {
            struct amb_error why = AMBD_ERROR_INIT;
            int rc = m->desc.start(m->state, &why);
            if (rc != AMB_OK) {
                char *line = ambd_error_line(&why);
                ambd_error_set(err, rc, NULL, "plugin \"%s\": start failed: %s", m->desc.name,
                               line ? line : ambd_strerror(rc));
                free(line);
                ambd_error_clear(&why);
                ambd_runtime_stop(rt);
                return rc;
            }
        }
        m->phase = AMBD_MODULE_STARTED;
    }
    return AMB_OK;
}

void ambd_runtime_stop(struct ambd_runtime *rt)
{
    for (size_t i = rt->n_modules; i-- > 0;) {
        struct amb_module *m = rt->modules[i];
        if (m->phase != AMBD_MODULE_STARTED)
            continue;
        if (m->desc.stop)
            m->desc.stop(m->state);
        m->phase = AMBD_MODULE_READY;
    }
}

void ambd_runtime_unload(struct ambd_runtime *rt)
{
    ambd_runtime_stop(rt);
    for (size_t i = rt->n_modules; i-- > 0;)
        module_unload(rt->modules[i]);
    free(rt->modules);
    rt->modules = NULL;
    rt->n_modules = 0;
}

void ambd_runtime_free(struct ambd_runtime *rt)
{
    if (!rt)
        return;
    ambd_runtime_unload(rt);
    free(rt->default_plugin_dir);
    free(rt);
}

/* <dir of this executable>/../lib/ambient/plugins: the same layout in the
 * build tree and in an installed prefix. */
char *ambd_default_plugin_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *dir = dirname(exe);
    size_t len = strlen(dir) + sizeof "/../" AMBIENT_PLUGIN_SUBDIR;
    char *out = malloc(len);
    if (!out)
        return NULL;
    snprintf(out, len, "%s/../%s", dir, AMBIENT_PLUGIN_SUBDIR);
    char *clean = realpath(out, NULL); /* tidier paths in messages, when it exists */
    if (!clean)
        return out;
    free(out);
    return clean;
}
