/* local_main.h — `ambientd --local`: the whole platform on one machine.
 * It takes the data directory (made 0700, locked against a second
 * ambientd), starts the local Kubernetes API (local_kube.h) on it and the
 * local executor (executor.h) that runs sessions as processes, then the
 * normal runtime (projectsettings, agenticsession, api) pointed at that API,
 * prints where everything is, and on SIGTERM stops the runtime, the
 * executor and the API, in that order. docs/local.md tells the whole story. */
#ifndef AMBIENT_LOCAL_MAIN_H
#define AMBIENT_LOCAL_MAIN_H

struct local_options {
    const char *data_dir;    /* --data-dir, or NULL */
    const char *listen;      /* --listen, or NULL */
    const char *config_path; /* --config, or NULL: it sets or overrides groups */
};

/* Runs until SIGTERM/SIGINT; the exit status (0, 1 failure while running,
 * 2 bad usage, config or data directory). */
int local_main(const struct local_options *o);

#endif
