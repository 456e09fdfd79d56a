/* local_config.h — the config of laptop mode: the `local` group (where the
 * data lives, where to listen, how many sessions run at once, the runner),
 * and the settings laptop mode adds to the rest so the normal runtime runs
 * against the local Kubernetes API. A --config file sets or overrides
 * every plugin group; only what laptop mode must decide itself (kube,
 * api.listen, api.live.listen) is refused there. */
#ifndef AMBIENT_LOCAL_CONFIG_H
#define AMBIENT_LOCAL_CONFIG_H

#include "config-internal.h"

#define LOCAL_DEFAULT_LISTEN "127.0.0.1:8080"
#define LOCAL_MAX_SESSIONS_LIMIT 1024
#define LOCAL_RUNNER_ENV_MAX 64      /* entries of local.runner_env */
#define LOCAL_RUNNER_ENV_BYTES 4096  /* bytes of one entry */

struct local_settings {
    char *data_dir;      /* NULL: the default (local_datadir_default) */
    char *listen;        /* "host:port" of REST; live and kube on the next ports */
    unsigned max_sessions; /* 0: the number of cores */
    char *runner;        /* ambient-runner; NULL: beside ambientd */
    char **runner_env;   /* "NAME=value", NULL-terminated (never NULL itself) */
};

/* Reads the `local` group of c (paths relative to the config's directory)
 * and removes it, so the runtime never sees it; then the command line's
 * data_dir and listen (either may be NULL) override it. */
int local_settings_read(struct ambd_config *c, const char *data_dir, const char *listen,
                        struct local_settings *out, struct amb_error *err);
void local_settings_clear(struct local_settings *s);

/* What laptop mode decided, for the settings it adds. */
struct local_plan {
    const char *scheme;      /* "http", or "https" when api.tls is set */
    const char *api_listen;  /* "host:port" */
    const char *live_listen;
    const char *runner_api_url; /* agenticsession.api_url: the live listener */
    const char *kube_server;
    const char *token_file;
    const char *events_dir;
};

/* 1 when c has api.tls (the listeners serve https). */
int local_config_has_tls(const struct ambd_config *c);

/* Adds laptop mode's settings to c where c does not set them (plugins,
 * controller, agenticsession.api_url, api.live.dir, ...), and the ones only
 * it may set (kube, api.listen, api.live.listen), refusing a c that sets
 * those with its file and line. */
int local_config_fill(struct ambd_config *c, const struct local_plan *p, struct amb_error *err);

#endif
