/* daemon-internal.h — one ambientd run: the config's plugins loaded and
 * started, the controller when configured, the event loop until
 * SIGTERM/SIGINT, then everything stopped in reverse order. SIGHUP re-reads
 * the log group. Used by `ambientd --config` and by laptop mode
 * (local/local_main.c), which hands in a config it built. */
#ifndef AMBD_DAEMON_INTERNAL_H
#define AMBD_DAEMON_INTERNAL_H

#include "config-internal.h"

#define AMBD_EXIT_BAD_CONFIG 2 /* bad usage, config, plugin or data directory */

struct ambd_daemon_hooks {
    /* Called once everything is started, before the loop runs. */
    void (*running)(void *arg);
    void *arg;
};

/* Runs until a stop signal. config_path: the file SIGHUP re-reads (NULL:
 * nothing to re-read). config: the loaded config, consumed (freed here);
 * NULL = load config_path. Returns the exit status: 0 clean, 2 bad config
 * or plugin, 1 failure while running. */
int ambd_daemon_run(const char *config_path, struct ambd_config *config,
                    const struct ambd_daemon_hooks *hooks);

/* --check-config: loads config_path and its plugins, prints one line per
 * plugin, unloads them. Returns 0 or 2. */
int ambd_daemon_check_config(const char *config_path);

#endif
