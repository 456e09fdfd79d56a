/* daemon.c — one ambientd run (daemon-internal.h): load the plugins, start
 * them and the controller, dispatch the event loop until SIGTERM/SIGINT,
 * then stop and unload in reverse order. SIGHUP re-reads the log settings. */
#include "daemon-internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "controller-internal.h"
#include "host-ctx-internal.h"
#include "log-internal.h"
#include "report-internal.h"
#include "runtime-internal.h"

struct daemon {
    const char *config_path;
    struct ambd_config *config;
    struct ambd_runtime *rt;
    struct ambd_controller_config controller_config;
    struct ambd_controller *controller;
    struct ambd_kube *direct_kube; /* the api role's client (ctx_new) */
    struct event_base *base;
    int quiet; /* --check-config: only warnings and errors go to stderr */
};

/* Prints one line naming what is wrong and returns the exit code. */
static int fail_line(const struct amb_error *err)
{
    char *line = ambd_error_line(err);
    fprintf(stderr, "ambientd: %s\n", line ? line : "out of memory");
    free(line);
    return AMBD_EXIT_BAD_CONFIG;
}

static void apply_log_settings(const struct ambd_config *c, int quiet)
{
    ambd_log_set_level(quiet && c->log_level > AMB_LOG_WARN ? AMB_LOG_WARN : c->log_level);
    ambd_log_set_format((enum ambd_log_format)c->log_format);
}

/* d->config is either handed in or read from d->config_path here. */
static int load(struct daemon *d, struct amb_error *err)
{
    int rc = d->config ? AMB_OK : ambd_config_load(d->config_path, &d->config, err);
    if (rc != AMB_OK)
        return rc;
    apply_log_settings(d->config, d->quiet);
    char *dir = ambd_default_plugin_dir();
    d->rt = ambd_runtime_new(d->config, dir);
    free(dir);
    if (!d->rt)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    rc = ambd_runtime_load(d->rt, err);
    if (rc == AMB_OK)
        rc = ambd_controller_config_load(d->config, &d->controller_config, err);
    return rc;
}

static void unload(struct daemon *d)
{
    /* Workers call plugin code: they stop before the plugins go. */
    ambd_controller_stop(d->controller);
    d->controller = NULL;
    if (d->rt)
        ambd_runtime_stop(d->rt); /* plugins' threads end before their client goes */
    ambd_host_ctx_set_kube(NULL);
    ambd_host_ctx_reset_routes(); /* the server's ops go with its plugin */
    ambd_kube_free(d->direct_kube);
    d->direct_kube = NULL;
    ambd_controller_config_clear(&d->controller_config);
    ambd_runtime_free(d->rt);
    ambd_config_free(d->config);
    d->rt = NULL;
    d->config = NULL;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *d = arg;
    ambd_log("core", AMB_LOG_INFO, "shutting down", "signal", strsignal((int)sig), NULL);
    event_base_loopbreak(d->base);
}

/* Only the log group is re-read: plugins keep the config they started with. */
static void on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct daemon *d = arg;
    struct ambd_config *fresh;
    struct amb_error err = AMBD_ERROR_INIT;
    if (!d->config_path) {
        ambd_log("core", AMB_LOG_INFO, "no config file to re-read", NULL);
        return;
    }
    if (ambd_config_load(d->config_path, &fresh, &err) != AMB_OK) {
        char *line = ambd_error_line(&err);
        ambd_log("core", AMB_LOG_ERROR, "reload failed; keeping the log settings", "error",
                 line ? line : "out of memory", NULL);
        free(line);
        ambd_error_clear(&err);
        return;
    }
    apply_log_settings(fresh, 0);
    ambd_log("core", AMB_LOG_INFO, "log settings reloaded", "log_level",
             ambd_log_level_name(fresh->log_level), NULL);
    ambd_config_free(fresh);
}

static int run(struct daemon *d, const struct ambd_daemon_hooks *hooks)
{
    struct amb_error err = AMBD_ERROR_INIT;
    int status = 0;
    struct event *sigs[3] = {NULL, NULL, NULL};
    if (load(d, &err) != AMB_OK) {
        status = fail_line(&err);
        goto out;
    }
    /* A precise clock for timers: libevent otherwise reads the coarse one
     * (a tick, 1-4 ms, of error), and a wait the API server asked for
     * (Retry-After) could end that much before its time. */
    struct event_config *cfg = event_config_new();
    if (cfg)
        event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    d->base = cfg ? event_base_new_with_config(cfg) : NULL;
    if (cfg)
        event_config_free(cfg);
    if (!d->base) {
        ambd_log("core", AMB_LOG_ERROR, "cannot create the event loop", NULL);
        status = 1;
        goto out;
    }
    sigs[0] = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
    sigs[1] = evsignal_new(d->base, SIGINT, on_stop_signal, d);
    sigs[2] = evsignal_new(d->base, SIGHUP, on_reload_signal, d);
    for (size_t i = 0; i < 3; i++) {
        if (!sigs[i] || event_add(sigs[i], NULL) != 0) {
            ambd_log("core", AMB_LOG_ERROR, "cannot install signal handlers", NULL);
            status = 1;
            goto out;
        }
    }
    if (d->controller_config.kube_ready) {
        if (ambd_kube_new(&d->controller_config.kube, &d->direct_kube, &err) != AMB_OK) {
            status = fail_line(&err);
            goto out;
        }
        ambd_host_ctx_set_kube(d->direct_kube);
    }
    if (ambd_runtime_start(d->rt, &err) != AMB_OK) {
        char *line = ambd_error_line(&err);
        ambd_log("core", AMB_LOG_ERROR, "start failed", "error", line ? line : "", NULL);
        free(line);
        status = 1;
        goto out;
    }
    if (d->controller_config.enabled &&
        ambd_controller_start(d->base, &d->controller_config, &d->rt->registry, &d->controller,
                              &err) != AMB_OK) {
        char *line = ambd_error_line(&err);
        ambd_log("core", AMB_LOG_ERROR, "controller failed to start", "error", line ? line : "",
                 NULL);
        free(line);
        status = 1;
        goto out;
    }
    char count[32];
    snprintf(count, sizeof count, "%zu", d->rt->n_modules);
    ambd_log("core", AMB_LOG_INFO, "ambientd running", "version", AMBIENT_VERSION, "plugins",
             count, "config", d->config->path, NULL);
    if (hooks && hooks->running)
        hooks->running(hooks->arg);
    event_base_dispatch(d->base);
    if (ambd_controller_failed(d->controller))
        status = 1;
out:
    for (size_t i = 0; i < 3; i++) {
        if (sigs[i])
            event_free(sigs[i]);
    }
    /* Already stopping: a second SIGTERM (a supervisor's, after a failed
     * start or a lost lease) must not kill the teardown, which releases the
     * lease and lets requests in flight finish. SIGKILL still ends it. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    unload(d);
    if (d->base)
        event_base_free(d->base);
    ambd_error_clear(&err);
    if (status == 0)
        ambd_log("core", AMB_LOG_INFO, "ambientd stopped", NULL);
    return status;
}

int ambd_daemon_run(const char *config_path, struct ambd_config *config,
                    const struct ambd_daemon_hooks *hooks)
{
    struct daemon d = {.config_path = config_path, .config = config};
    return run(&d, hooks);
}

int ambd_daemon_check_config(const char *config_path)
{
    struct daemon d = {.config_path = config_path, .quiet = 1};
    struct amb_error err = AMBD_ERROR_INIT;
    int status = 0;
    if (load(&d, &err) != AMB_OK)
        status = fail_line(&err);
    else
        ambd_report_plugins(stdout, d.rt);
    unload(&d);
    ambd_error_clear(&err);
    return status;
}
