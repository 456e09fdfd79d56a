/* host.c — the host table (struct amb_host) every plugin receives. Each
 * function maps a plugin's call onto the log sink, its config group, the
 * registry or the error helpers, and enforces when it may be called. */
#include <stdlib.h>
#include <string.h>

#include "controller-internal.h"
#include "host-ctx-internal.h"
#include "log-internal.h"
#include "runtime-internal.h"

static const char *module_name(const struct amb_module *m)
{
    return m && m->desc.name ? m->desc.name : "plugin";
}

static void host_log(struct amb_module *self, int level, const char *msg, ...)
{
    va_list kv;
    va_start(kv, msg);
    ambd_vlog(module_name(self), level, msg, kv);
    va_end(kv);
}

static void host_logf(struct amb_module *self, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ambd_vlogf(module_name(self), level, fmt, ap);
    va_end(ap);
}

static int host_log_enabled(struct amb_module *self, int level)
{
    (void)self;
    return level <= ambd_log_get_level();
}

static void host_log_secret(struct amb_module *self, const char *value)
{
    (void)self;
    ambd_log_add_user_secret(value);
}

static void *host_alloc(size_t n) { return calloc(1, n ? n : 1); }
static void *host_realloc(void *p, size_t n) { return realloc(p, n ? n : 1); }
static void host_free(void *p) { free(p); }
static char *host_strdup(const char *s) { return s ? strdup(s) : NULL; }

/* Finds path in the module's group; a wrong type is recorded as a load
 * problem naming the file and line. */
static int config_find(struct amb_module *self, const char *path, int ok_types,
                       const char *expected, config_setting_t **out)
{
    if (!self || self->phase != AMBD_MODULE_IN_INIT)
        return AMB_ESTATE;
    config_setting_t *s = NULL;
    int rc = ambd_config_lookup(self->group, path, &s);
    if (rc != AMB_OK)
        return rc;
    int type = config_setting_type(s);
    if (!(ok_types & (1 << type)))
        return ambd_config_error(&self->problems, self->rt->config, s, "expected %s, found %s",
                                 expected, ambd_config_type_name(type));
    *out = s;
    return AMB_OK;
}

static int host_config_string(struct amb_module *self, const char *path, const char **out)
{
    config_setting_t *s = NULL;
    int rc = config_find(self, path, 1 << CONFIG_TYPE_STRING, "a string", &s);
    if (rc == AMB_OK)
        *out = config_setting_get_string(s);
    return rc;
}

static int host_config_int(struct amb_module *self, const char *path, long long *out)
{
    config_setting_t *s = NULL;
    int rc = config_find(self, path, 1 << CONFIG_TYPE_INT | 1 << CONFIG_TYPE_INT64, "an integer",
                         &s);
    if (rc == AMB_OK)
        *out = config_setting_get_int64(s);
    return rc;
}

static int host_config_bool(struct amb_module *self, const char *path, int *out)
{
    config_setting_t *s = NULL;
    int rc = config_find(self, path, 1 << CONFIG_TYPE_BOOL, "true or false", &s);
    if (rc == AMB_OK)
        *out = config_setting_get_bool(s) ? 1 : 0;
    return rc;
}

static int host_config_double(struct amb_module *self, const char *path, double *out)
{
    config_setting_t *s = NULL;
    int rc = config_find(self, path,
                         1 << CONFIG_TYPE_FLOAT | 1 << CONFIG_TYPE_INT | 1 << CONFIG_TYPE_INT64,
                         "a number", &s);
    if (rc != AMB_OK)
        return rc;
    *out = config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                                       : (double)config_setting_get_int64(s);
    return AMB_OK;
}

static int host_config_count(struct amb_module *self, const char *path, size_t *out)
{
    config_setting_t *s = NULL;
    int rc = config_find(self, path,
                         1 << CONFIG_TYPE_GROUP | 1 << CONFIG_TYPE_LIST | 1 << CONFIG_TYPE_ARRAY,
                         "a list, array or group", &s);
    if (rc == AMB_OK)
        *out = (size_t)config_setting_length(s);
    return rc;
}

/* Registration is allowed only inside init. A refusal frees the user data,
 * logs, and (inside init) becomes a load problem. */
static int registration_allowed(struct amb_module *self, const char *what, void *user_data,
                                void (*free_user_data)(void *))
{
    if (self && self->phase == AMBD_MODULE_IN_INIT)
        return 1;
    if (free_user_data)
        free_user_data(user_data);
    ambd_log("core", AMB_LOG_ERROR, "registration refused: plugins register only inside init",
             "plugin", module_name(self), "call", what, NULL);
    return 0;
}

static int record_registration(struct amb_module *self, const char *what, int rc,
                               struct amb_error *why)
{
    if (rc != AMB_OK) {
        char *line = ambd_error_line(why);
        ambd_error_set(&self->problems, rc, NULL, "%s: %s", what, line ? line : "out of memory");
        free(line);
    }
    ambd_error_clear(why);
    return rc;
}

static struct ambd_owned_data owned(struct amb_module *self, void *ud, void (*free_ud)(void *))
{
    struct ambd_owned_data d = {self, module_name(self), ud, free_ud};
    return d;
}

static int host_register_kind(struct amb_module *self, const struct amb_kind *kind, void *ud,
                              void (*free_ud)(void *))
{
    if (!registration_allowed(self, "register_kind", ud, free_ud))
        return AMB_ESTATE;
    struct amb_error why = AMBD_ERROR_INIT;
    int rc = ambd_registry_add_kind(&self->rt->registry, owned(self, ud, free_ud), kind, &why);
    return record_registration(self, "register_kind", rc, &why);
}

static int host_register_forge(struct amb_module *self, const struct amb_forge *forge, void *ud,
                               void (*free_ud)(void *))
{
    if (!registration_allowed(self, "register_forge", ud, free_ud))
        return AMB_ESTATE;
    struct amb_error why = AMBD_ERROR_INIT;
    int rc = ambd_registry_add_forge(&self->rt->registry, owned(self, ud, free_ud), forge, &why);
    return record_registration(self, "register_forge", rc, &why);
}

static int host_register_route(struct amb_module *self, const struct amb_route *route, void *ud,
                               void (*free_ud)(void *))
{
    if (!registration_allowed(self, "register_route", ud, free_ud))
        return AMB_ESTATE;
    struct amb_error why = AMBD_ERROR_INIT;
    int rc = ambd_registry_add_route(&self->rt->registry, owned(self, ud, free_ud), route, &why);
    return record_registration(self, "register_route", rc, &why);
}

static int host_error_set(struct amb_error *err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ambd_error_vset(err, code, field, fmt, ap);
    va_end(ap);
    return code;
}

void ambd_host_fill(struct amb_host *h)
{
    memset(h, 0, sizeof *h);
    h->abi_major = AMB_ABI_MAJOR;
    h->abi_minor = AMB_ABI_MINOR;
    h->size = sizeof *h;
    h->log = host_log;
    h->logf = host_logf;
    h->log_enabled = host_log_enabled;
    h->log_secret = host_log_secret;
    h->alloc = host_alloc;
    h->realloc = host_realloc;
    h->free = host_free;
    h->strdup = host_strdup;
    h->config_string = host_config_string;
    h->config_int = host_config_int;
    h->config_bool = host_config_bool;
    h->config_double = host_config_double;
    h->config_count = host_config_count;
    h->register_kind = host_register_kind;
    h->register_forge = host_register_forge;
    h->register_route = host_register_route;
    h->error_set = host_error_set;
    h->strerror = ambd_strerror;
    ambd_controller_fill_host(h);
    ambd_host_ctx_fill(h);
    ambd_host_forge_fill(h);
}
