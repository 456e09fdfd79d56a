/* local_config.c — the `local` group and the settings laptop mode adds to
 * a config (local_config.h). */
#include "local_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf-internal.h"
#include "error-internal.h"

#define LOCAL_KEYS "data_dir, listen, max_sessions, runner and runner_env"

void local_settings_clear(struct local_settings *s)
{
    free(s->data_dir);
    free(s->listen);
    free(s->runner);
    for (size_t i = 0; s->runner_env && s->runner_env[i]; i++)
        free(s->runner_env[i]);
    free(s->runner_env);
    memset(s, 0, sizeof *s);
}

static char *resolve(const struct ambd_config *c, const char *p)
{
    struct ambd_buf b = {0};
    if (p[0] != '/')
        ambd_buf_printf(&b, "%s/", c->dir);
    ambd_buf_puts(&b, p);
    return ambd_buf_take(&b);
}

/* NAME=value with a shell-style name and a bounded length. */
static int env_entry_ok(const char *s)
{
    size_t len = strlen(s);
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || len > LOCAL_RUNNER_ENV_BYTES)
        return 0;
    for (const char *p = s; p < eq; p++) {
        int alpha = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_';
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

static int read_runner_env(struct ambd_config *c, config_setting_t *s, struct local_settings *out,
                           struct amb_error *err)
{
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return ambd_config_error(err, c, s, "expected a list of \"NAME=value\" strings, found %s",
                                 ambd_config_type_name(type));
    int n = config_setting_length(s);
    if (n > LOCAL_RUNNER_ENV_MAX)
        return ambd_config_error(err, c, s, "%d entries, more than the %d allowed", n,
                                 LOCAL_RUNNER_ENV_MAX);
    char **env = calloc((size_t)n + 1, sizeof *env);
    if (!env)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    for (size_t i = 0; out->runner_env && out->runner_env[i]; i++)
        free(out->runner_env[i]);
    free(out->runner_env);
    out->runner_env = env;
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_get_string(e);
        if (!v || !env_entry_ok(v))
            return ambd_config_error(err, c, e,
                                     "expected \"NAME=value\" (a variable name, at most %d "
                                     "bytes in all)",
                                     LOCAL_RUNNER_ENV_BYTES);
        if (!(env[i] = strdup(v)))
            return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    return AMB_OK;
}

static int read_path(struct ambd_config *c, config_setting_t *s, char **slot, const char *what,
                     struct amb_error *err)
{
    const char *v = config_setting_get_string(s);
    if (!v || !v[0])
        return ambd_config_error(err, c, s, "expected %s", what);
    free(*slot);
    return (*slot = resolve(c, v)) ? AMB_OK : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
}

static int read_member(struct ambd_config *c, config_setting_t *s, struct local_settings *out,
                       struct amb_error *err)
{
    const char *name = config_setting_name(s);
    if (!strcmp(name, "data_dir"))
        return read_path(c, s, &out->data_dir, "a directory path", err);
    if (!strcmp(name, "runner"))
        return read_path(c, s, &out->runner, "the path of ambient-runner", err);
    if (!strcmp(name, "runner_env"))
        return read_runner_env(c, s, out, err);
    if (!strcmp(name, "listen")) {
        const char *v = config_setting_get_string(s);
        if (!v || !v[0])
            return ambd_config_error(err, c, s, "expected \"host:port\"");
        free(out->listen);
        return (out->listen = strdup(v)) ? AMB_OK : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    if (!strcmp(name, "max_sessions")) {
        int type = config_setting_type(s);
        long long v = config_setting_get_int64(s);
        if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) || v < 0 ||
            v > LOCAL_MAX_SESSIONS_LIMIT)
            return ambd_config_error(err, c, s,
                                     "expected an integer from 0 (the number of cores) to %d",
                                     LOCAL_MAX_SESSIONS_LIMIT);
        out->max_sessions = (unsigned)v;
        return AMB_OK;
    }
    return ambd_config_error(err, c, s, "unknown key (local takes " LOCAL_KEYS ")");
}

int local_settings_read(struct ambd_config *c, const char *data_dir, const char *listen,
                        struct local_settings *out, struct amb_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = AMB_OK;
    config_setting_t *root = config_root_setting(&c->cfg);
    config_setting_t *group = config_setting_get_member(root, "local");
    if (group && !config_setting_is_group(group))
        rc = ambd_config_error(err, c, group, "expected a group { " LOCAL_KEYS " }, found %s",
                               ambd_config_type_name(config_setting_type(group)));
    for (int i = 0; group && config_setting_is_group(group) && i < config_setting_length(group);
         i++) {
        int one = read_member(c, config_setting_get_elem(group, (unsigned)i), out, err);
        if (one != AMB_OK)
            rc = one; /* go on: every bad key is reported */
    }
    if (group)
        config_setting_remove(root, "local");
    if (rc == AMB_OK && data_dir) {
        free(out->data_dir);
        out->data_dir = strdup(data_dir);
    }
    if (rc == AMB_OK && (listen || !out->listen)) {
        free(out->listen);
        out->listen = strdup(listen ? listen : LOCAL_DEFAULT_LISTEN);
    }
    if (rc == AMB_OK && !out->runner_env)
        out->runner_env = calloc(1, sizeof *out->runner_env);
    if (rc == AMB_OK && (!out->listen || !out->runner_env || (data_dir && !out->data_dir)))
        rc = ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    return rc;
}

int local_config_has_tls(const struct ambd_config *c)
{
    config_setting_t *api = ambd_config_group(c, "api");
    return api && config_setting_is_group(api) && config_setting_get_member(api, "tls");
}

/* The group name below parent, made when missing. */
static config_setting_t *group_of(struct ambd_config *c, config_setting_t *parent,
                                  const char *name, struct amb_error *err)
{
    config_setting_t *g = config_setting_get_member(parent, name);
    if (g && !config_setting_is_group(g)) {
        ambd_config_error(err, c, g, "expected a group, found %s",
                          ambd_config_type_name(config_setting_type(g)));
        return NULL;
    }
    if (!g && !(g = config_setting_add(parent, name, CONFIG_TYPE_GROUP)))
        ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    return g;
}

/* Sets name in g unless the config does (override = 0) or refuses a config
 * that does (override = 1: laptop mode decides it). */
static int put(struct ambd_config *c, config_setting_t *g, const char *name, int type,
               const void *value, int mine, struct amb_error *err)
{
    if (!g)
        return AMB_EINVAL;
    config_setting_t *s = config_setting_get_member(g, name);
    if (s && mine)
        return ambd_config_error(err, c, s,
                                 "laptop mode sets this itself (from --listen, local.listen "
                                 "and the local Kubernetes API); remove it");
    if (s)
        return AMB_OK;
    if (!(s = config_setting_add(g, name, type)))
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    int ok = type == CONFIG_TYPE_STRING ? config_setting_set_string(s, value)
                                        : config_setting_set_bool(s, *(const int *)value);
    return ok == CONFIG_TRUE ? AMB_OK : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
}

static int put_plugins(config_setting_t *root, struct amb_error *err)
{
    static const char *const plugins[] = {"projectsettings", "agenticsession", "rfeworkflow", "api"};
    if (config_setting_get_member(root, "plugins"))
        return AMB_OK;
    config_setting_t *list = config_setting_add(root, "plugins", CONFIG_TYPE_LIST);
    for (size_t i = 0; list && i < sizeof plugins / sizeof plugins[0]; i++) {
        if (!config_setting_set_string_elem(list, -1, plugins[i]))
            list = NULL;
    }
    return list ? AMB_OK : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
}

/* api.allowed_origins, unless the config sets it: the web UI this ambientd
 * serves (its REST origin, and localhost for 127.0.0.1), so the UI's
 * WebSocket to the live port passes the live service's Origin check. */
static int put_origins(config_setting_t *api, const struct local_plan *p, struct amb_error *err)
{
    if (!api || config_setting_get_member(api, "allowed_origins"))
        return AMB_OK;
    char origin[2][320];
    int n = 1;
    snprintf(origin[0], sizeof origin[0], "%s://%s", p->scheme, p->api_listen);
    if (strncmp(p->api_listen, "127.0.0.1:", 10) == 0)
        snprintf(origin[n++], sizeof origin[1], "%s://localhost:%s", p->scheme,
                 p->api_listen + 10);
    config_setting_t *list = config_setting_add(api, "allowed_origins", CONFIG_TYPE_ARRAY);
    for (int i = 0; list && i < n; i++)
        if (!config_setting_set_string_elem(list, -1, origin[i]))
            list = NULL;
    return list ? AMB_OK : ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
}

int local_config_fill(struct ambd_config *c, const struct local_plan *p, struct amb_error *err)
{
    static const int yes = 1, no = 0;
    config_setting_t *root = config_root_setting(&c->cfg);
    int rc = put_plugins(root, err);
    config_setting_t *kube = config_setting_get_member(root, "kube");
    if (kube)
        rc |= ambd_config_error(err, c, kube,
                                "laptop mode talks to its own Kubernetes API; remove this group");
    else if ((kube = group_of(c, root, "kube", err))) {
        rc |= put(c, kube, "server", CONFIG_TYPE_STRING, p->kube_server, 1, err);
        rc |= put(c, kube, "token_file", CONFIG_TYPE_STRING, p->token_file, 1, err);
    }
    /* One process on one data directory (the lock): nothing to elect. */
    config_setting_t *ctl = group_of(c, root, "controller", err);
    rc |= put(c, ctl, "enabled", CONFIG_TYPE_BOOL, &yes, 0, err);
    rc |= put(c, ctl, "leader_election", CONFIG_TYPE_BOOL, &no, 0, err);
    rc |= put(c, ctl, "listen", CONFIG_TYPE_STRING, "127.0.0.1:0", 0, err);
    config_setting_t *as = group_of(c, root, "agenticsession", err);
    rc |= put(c, as, "api_url", CONFIG_TYPE_STRING, p->runner_api_url, 0, err);
    config_setting_t *api = group_of(c, root, "api", err);
    rc |= put(c, api, "listen", CONFIG_TYPE_STRING, p->api_listen, 1, err);
    rc |= put_origins(api, p, err);
    config_setting_t *live = api ? group_of(c, api, "live", err) : NULL;
    rc |= put(c, live, "listen", CONFIG_TYPE_STRING, p->live_listen, 1, err);
    rc |= put(c, live, "dir", CONFIG_TYPE_STRING, p->events_dir, 0, err);
    return rc == AMB_OK ? AMB_OK : AMB_EINVAL;
}
