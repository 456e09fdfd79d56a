/* config-internal.h — ambient.conf: the core settings (plugin_dir, plugins,
 * log) and access to each plugin's own group, with tracking of which keys a
 * plugin read so unknown keys are reported with their file and line. */
#ifndef AMBD_CONFIG_INTERNAL_H
#define AMBD_CONFIG_INTERNAL_H

#include <stddef.h>

#include <libconfig.h>

#include "ambient/plugin.h"

#define AMBD_CONFIG_MAX_BYTES (1024 * 1024)

struct ambd_plugin_spec {
    char *spec; /* "name" or a path to a .so */
    int line;
};

struct ambd_config {
    config_t cfg;
    char *path; /* the file as given */
    char *dir;  /* its directory: base of relative paths in it */
    char *plugin_dir; /* absolute, or NULL for the default */
    struct ambd_plugin_spec *plugins;
    size_t n_plugins;
    int log_level;  /* AMB_LOG_* */
    int log_format; /* AMBD_LOG_* */
};

/* Parses path and the core settings. On error fills err with
 * "FILE:LINE: message" causes and returns AMB_EINVAL (or AMB_ENOTFOUND /
 * AMB_ETOOLARGE / AMB_EIO for an unreadable file). */
int ambd_config_load(const char *path, struct ambd_config **out, struct amb_error *err);

/* ambd_config_load in two steps, for laptop mode, which adds its own
 * settings in between: read (parse only; errors as above), or start from
 * an empty config whose messages name `name` and whose relative paths are
 * relative to dir; then the core settings. */
int ambd_config_read(const char *path, struct ambd_config **out, struct amb_error *err);
int ambd_config_new_empty(const char *name, const char *dir, struct ambd_config **out,
                          struct amb_error *err);
int ambd_config_load_core(struct ambd_config *c, struct amb_error *err);
void ambd_config_free(struct ambd_config *c);

/* The top-level group called name, or NULL. */
config_setting_t *ambd_config_group(const struct ambd_config *c, const char *name);

/* Reports every top-level key that is neither a core setting nor one of
 * owners[0..n) (the loaded plugins' names) as unknown. */
int ambd_config_check_top_level(const struct ambd_config *c, const char *const *owners, size_t n,
                                struct amb_error *err);

/* Finds path ("a.b", "list.[2]") below group and marks it and every setting
 * on the way as read. AMB_ENOTFOUND if absent (or group is NULL). */
int ambd_config_lookup(config_setting_t *group, const char *path, config_setting_t **out);

/* Reports each setting below group that was never looked up. */
int ambd_config_check_unread(const struct ambd_config *c, config_setting_t *group,
                             struct amb_error *err);

/* "FILE:LINE" of a setting, for messages (static buffer per thread). */
const char *ambd_config_where(const struct ambd_config *c, const config_setting_t *s);

/* Dotted name of a setting from the root ("api.tls.cert_file"); caller frees. */
char *ambd_config_setting_path(const config_setting_t *s);

const char *ambd_config_type_name(int libconfig_type);

/* Adds "FILE:LINE: path.to.key: message" to err; returns AMB_EINVAL. */
int ambd_config_error(struct amb_error *err, const struct ambd_config *c,
                      const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
