/* config.c — loads ambient.conf with libconfig and checks the core settings.
 * Each plugin's group is handed to that plugin only (through host.c); a
 * setting's libconfig hook marks it as read, so what no plugin read is
 * reported as an unknown key. */
#include "config-internal.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf-internal.h"
#include "error-internal.h"
#include "log-internal.h"

/* Any non-NULL hook value marks a setting as read. */
static char read_mark;

static const char *const core_keys[] = {"plugin_dir", "plugins", "log", "kube", "controller"};

const char *ambd_config_type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}

const char *ambd_config_where(const struct ambd_config *c, const config_setting_t *s)
{
    static _Thread_local char where[512];
    const char *file = config_setting_source_file(s);
    snprintf(where, sizeof where, "%s:%u", file ? file : c->path,
             (unsigned)config_setting_source_line(s));
    return where;
}

char *ambd_config_setting_path(const config_setting_t *s)
{
    if (!s || config_setting_is_root(s))
        return strdup("");
    char *parent = ambd_config_setting_path(config_setting_parent(s));
    if (!parent)
        return NULL;
    struct ambd_buf b = {0};
    ambd_buf_puts(&b, parent);
    if (config_setting_name(s))
        ambd_buf_printf(&b, "%s%s", parent[0] ? "." : "", config_setting_name(s));
    else
        ambd_buf_printf(&b, "[%d]", config_setting_index(s));
    free(parent);
    return ambd_buf_take(&b);
}

int ambd_config_error(struct amb_error *err, const struct ambd_config *c,
                      const config_setting_t *s, const char *fmt, ...)
{
    char *name = ambd_config_setting_path(s);
    char where[1024];
    snprintf(where, sizeof where, "%s: %s", ambd_config_where(c, s), name ? name : "?");
    free(name);
    va_list ap;
    va_start(ap, fmt);
    ambd_error_vset(err, AMB_EINVAL, where, fmt, ap);
    va_end(ap);
    return AMB_EINVAL;
}

static char *resolve_path(const char *dir, const char *p)
{
    struct ambd_buf b = {0};
    if (p[0] != '/')
        ambd_buf_printf(&b, "%s/", dir);
    ambd_buf_puts(&b, p);
    return ambd_buf_take(&b);
}

static int read_file_checks(const char *path, struct amb_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return ambd_error_set(err, errno == ENOENT ? AMB_ENOTFOUND : AMB_EIO, NULL,
                              "%s: cannot read config: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ambd_error_set(err, AMB_EINVAL, NULL, "%s: config is not a regular file", path);
    if (st.st_size > AMBD_CONFIG_MAX_BYTES)
        return ambd_error_set(err, AMB_ETOOLARGE, NULL,
                              "%s: config is %lld bytes, more than the %d allowed", path,
                              (long long)st.st_size, AMBD_CONFIG_MAX_BYTES);
    return AMB_OK;
}

static int load_plugins_list(struct ambd_config *c, struct amb_error *err)
{
    config_setting_t *list = config_lookup(&c->cfg, "plugins");
    if (!list)
        return AMB_OK;
    config_setting_set_hook(list, &read_mark);
    int type = config_setting_type(list);
    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return ambd_config_error(err, c, list, "expected a list of plugin names or paths, found %s",
                             ambd_config_type_name(type));
    int n = config_setting_length(list);
    c->plugins = calloc((size_t)n + 1, sizeof *c->plugins);
    if (!c->plugins)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        const char *s = config_setting_get_string(e);
        if (!s || !s[0])
            return ambd_config_error(err, c, e, "expected a plugin name or a path to a .so, found %s",
                                 s ? "an empty string" : ambd_config_type_name(config_setting_type(e)));
        c->plugins[i].spec = strchr(s, '/') ? resolve_path(c->dir, s) : strdup(s);
        c->plugins[i].line = (int)config_setting_source_line(e);
        if (!c->plugins[i].spec)
            return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        c->n_plugins++;
    }
    return AMB_OK;
}

static int load_log_group(struct ambd_config *c, struct amb_error *err)
{
    c->log_level = AMB_LOG_INFO;
    c->log_format = AMBD_LOG_JSON;
    config_setting_t *log = config_lookup(&c->cfg, "log");
    if (!log)
        return AMB_OK;
    config_setting_set_hook(log, &read_mark);
    if (!config_setting_is_group(log))
        return ambd_config_error(err, c, log, "expected a group { level; format; }, found %s",
                             ambd_config_type_name(config_setting_type(log)));
    int rc = AMB_OK;
    for (int i = 0; i < config_setting_length(log); i++) {
        config_setting_t *s = config_setting_get_elem(log, (unsigned)i);
        const char *name = config_setting_name(s);
        const char *value = config_setting_get_string(s);
        int parsed;
        if (strcmp(name, "level") == 0) {
            if (!value || (parsed = ambd_log_level_from_name(value)) < 0)
                rc = ambd_config_error(err, c, s, "expected \"error\", \"warn\", \"info\" or \"debug\"");
            else
                c->log_level = parsed;
        } else if (strcmp(name, "format") == 0) {
            if (!value || (parsed = ambd_log_format_from_name(value)) < 0)
                rc = ambd_config_error(err, c, s, "expected \"json\" or \"text\"");
            else
                c->log_format = parsed;
        } else {
            rc = ambd_config_error(err, c, s, "unknown key (log takes level and format)");
        }
    }
    return rc;
}

static int load_core_settings(struct ambd_config *c, struct amb_error *err)
{
    config_setting_t *dir = config_lookup(&c->cfg, "plugin_dir");
    if (dir) {
        config_setting_set_hook(dir, &read_mark);
        const char *s = config_setting_get_string(dir);
        if (!s || !s[0])
            return ambd_config_error(err, c, dir, "expected a directory path");
        if (!(c->plugin_dir = resolve_path(c->dir, s)))
            return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    int rc = load_plugins_list(c, err);
    if (rc == AMB_OK)
        rc = load_log_group(c, err);
    return rc;
}

/* A config with nothing in it yet, its messages naming `path`. */
static struct ambd_config *config_new(const char *path, const char *dir)
{
    struct ambd_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    config_init(&c->cfg);
    c->path = strdup(path);
    c->dir = strdup(dir);
    if (!c->path || !c->dir) {
        ambd_config_free(c);
        return NULL;
    }
    config_set_include_dir(&c->cfg, c->dir);
    return c;
}

int ambd_config_new_empty(const char *name, const char *dir, struct ambd_config **out,
                          struct amb_error *err)
{
    return (*out = config_new(name, dir)) ? AMB_OK : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
}

int ambd_config_read(const char *path, struct ambd_config **out, struct amb_error *err)
{
    *out = NULL;
    int rc = read_file_checks(path, err);
    if (rc != AMB_OK)
        return rc;
    char *copy = strdup(path);
    struct ambd_config *c = copy ? config_new(path, dirname(copy)) : NULL;
    free(copy);
    if (!c)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    if (config_read_file(&c->cfg, path) != CONFIG_TRUE) {
        const char *file = config_error_file(&c->cfg);
        if (config_error_type(&c->cfg) == CONFIG_ERR_FILE_IO)
            rc = ambd_error_set(err, AMB_EIO, NULL, "%s: cannot read config", file ? file : path);
        else
            rc = ambd_error_set(err, AMB_EINVAL, NULL, "%s:%d: %s", file ? file : path,
                                config_error_line(&c->cfg), config_error_text(&c->cfg));
        ambd_config_free(c);
        return rc;
    }
    *out = c;
    return AMB_OK;
}

int ambd_config_load_core(struct ambd_config *c, struct amb_error *err)
{
    return load_core_settings(c, err);
}

int ambd_config_load(const char *path, struct ambd_config **out, struct amb_error *err)
{
    int rc = ambd_config_read(path, out, err);
    if (rc == AMB_OK && (rc = load_core_settings(*out, err)) != AMB_OK) {
        ambd_config_free(*out);
        *out = NULL;
    }
    return rc;
}

void ambd_config_free(struct ambd_config *c)
{
    if (!c)
        return;
    config_destroy(&c->cfg);
    for (size_t i = 0; i < c->n_plugins; i++)
        free(c->plugins[i].spec);
    free(c->plugins);
    free(c->plugin_dir);
    free(c->path);
    free(c->dir);
    free(c);
}

config_setting_t *ambd_config_group(const struct ambd_config *c, const char *name)
{
    config_setting_t *root = config_root_setting(&c->cfg);
    return config_setting_get_member(root, name);
}

int ambd_config_check_top_level(const struct ambd_config *c, const char *const *owners, size_t n,
                                struct amb_error *err)
{
    config_setting_t *root = config_root_setting(&c->cfg);
    int rc = AMB_OK;
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        int known = 0;
        for (size_t k = 0; k < sizeof core_keys / sizeof core_keys[0]; k++)
            known |= strcmp(name, core_keys[k]) == 0;
        for (size_t k = 0; k < n && !known; k++)
            known = strcmp(name, owners[k]) == 0;
        if (!known)
            rc = ambd_config_error(err, c, s,
                               "unknown top-level key (not a core setting, and no loaded plugin is "
                               "named \"%s\")",
                               name);
        else if (!config_setting_is_group(s) && strcmp(name, "plugin_dir") != 0 &&
                 strcmp(name, "plugins") != 0)
            rc = ambd_config_error(err, c, s, "expected a group, found %s",
                               ambd_config_type_name(config_setting_type(s)));
    }
    return rc;
}

/* Parses "[N]" into *index; 0 if seg is not an index segment. */
static int parse_index(const char *seg, size_t len, unsigned *index)
{
    if (len < 3 || seg[0] != '[' || seg[len - 1] != ']')
        return 0;
    unsigned v = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        if (seg[i] < '0' || seg[i] > '9' || v > 100000000u)
            return 0;
        v = v * 10 + (unsigned)(seg[i] - '0');
    }
    *index = v;
    return 1;
}

int ambd_config_lookup(config_setting_t *group, const char *path, config_setting_t **out)
{
    config_setting_t *cur = group;
    const char *p = path;
    if (!cur || !path || !path[0])
        return AMB_ENOTFOUND;
    while (cur) {
        size_t len = strcspn(p, ".");
        unsigned index;
        if (len == 0)
            return AMB_ENOTFOUND;
        if (parse_index(p, len, &index)) {
            cur = config_setting_get_elem(cur, index);
        } else if (config_setting_is_group(cur)) {
            char name[128];
            if (len >= sizeof name)
                return AMB_ENOTFOUND;
            memcpy(name, p, len);
            name[len] = '\0';
            cur = config_setting_get_member(cur, name);
        } else {
            return AMB_ENOTFOUND;
        }
        if (!cur)
            return AMB_ENOTFOUND;
        config_setting_set_hook(cur, &read_mark);
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *out = cur;
    return AMB_OK;
}

int ambd_config_check_unread(const struct ambd_config *c, config_setting_t *group,
                             struct amb_error *err)
{
    int rc = AMB_OK;
    if (!group)
        return rc;
    int aggregate = config_setting_is_aggregate(group);
    for (int i = 0; aggregate && i < config_setting_length(group); i++) {
        config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        int named = config_setting_name(s) != NULL;
        if (named && !config_setting_get_hook(s)) {
            rc = ambd_config_error(err, c, s, "unknown key");
            continue;
        }
        /* A list's unnamed elements are known with the list; groups in them
         * still have their members checked. */
        if (config_setting_is_aggregate(s) && ambd_config_check_unread(c, s, err) != AMB_OK)
            rc = AMB_EINVAL;
    }
    return rc;
}
