/* local_main.c — `ambientd --local` (local_main.h): the data directory,
 * the local Kubernetes API, the executor, then the normal runtime with the
 * settings laptop mode adds; printed addresses; stop in reverse order. */
#include "local_main.h"

#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "error-internal.h"
#include "executor.h"
#include "local_config.h"
#include "local_datadir.h"
#include "local_kube.h"
#include "local_listen.h"
#include "log-internal.h"

/* Seconds runners get to stop when ambientd stops (their ends are written
 * as any exit's, most often the Job Failed), before SIGKILL. */
#define RUNNER_STOP_GRACE_S 10

struct local_run {
    struct local_settings settings;
    struct local_datadir data;
    struct local_ports ports;
    struct local_kube *kube;
    struct local_executor *executor;
    const char *scheme;
    char api[300], live[300];   /* host:port as bound */
    char runner_api_url[320];
    char events_dir[PATH_MAX];
};

static int say(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ambientd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static int say_error(struct amb_error *err)
{
    char *line = ambd_error_line(err);
    say(AMBD_EXIT_BAD_CONFIG, "%s", line ? line : "out of memory");
    free(line);
    ambd_error_clear(err);
    return AMBD_EXIT_BAD_CONFIG;
}

/* <directory of ambientd>/rel, tidied when it exists; NULL when unknown. */
static char *beside_exe(const char *rel)
{
    char exe[PATH_MAX], path[PATH_MAX * 2];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    snprintf(path, sizeof path, "%s/%s", dirname(exe), rel);
    char *clean = realpath(path, NULL);
    return clean ? clean : strdup(path);
}

static int read_config(const struct local_options *o, struct ambd_config **out,
                       struct amb_error *err)
{
    if (o->config_path)
        return ambd_config_read(o->config_path, out, err);
    char cwd[PATH_MAX];
    return ambd_config_new_empty("ambientd --local", getcwd(cwd, sizeof cwd) ? cwd : "/", out,
                                 err);
}

static int open_data_dir(struct local_run *r)
{
    char err[1024];
    char *dir = r->settings.data_dir ? strdup(r->settings.data_dir)
                                     : local_datadir_default(err, sizeof err);
    if (!dir)
        return say(AMBD_EXIT_BAD_CONFIG, "%s", r->settings.data_dir ? "out of memory" : err);
    int rc = local_datadir_open(dir, &r->data, err, sizeof err);
    free(dir);
    return rc == 0 ? 0 : say(AMBD_EXIT_BAD_CONFIG, "%s", err);
}

/* The ports, and the addresses that follow from them. */
static int plan_listeners(struct local_run *r, const struct ambd_config *c)
{
    char err[512];
    if (local_ports_resolve(r->settings.listen, &r->ports, err, sizeof err) != 0)
        return say(AMBD_EXIT_BAD_CONFIG, "%s", err);
    int tls = local_config_has_tls(c);
    if (!r->ports.loopback && !tls)
        return say(AMBD_EXIT_BAD_CONFIG,
                   "--listen: %s is not a loopback address; serving beyond this machine needs "
                   "TLS: api.tls = { cert_file; key_file; } in the --config file",
                   r->ports.host);
    r->scheme = tls ? "https" : "http";
    local_ports_format(r->ports.host, r->ports.api, r->api, sizeof r->api);
    local_ports_format(r->ports.host, r->ports.live, r->live, sizeof r->live);
    /* The runner runs here: an address that listens on every interface is
     * reached through loopback. */
    const char *h = r->ports.host;
    char runner_live[300];
    if (!strcmp(h, "0.0.0.0") || !strcmp(h, "::"))
        local_ports_format(h[0] == ':' ? "::1" : "127.0.0.1", r->ports.live, runner_live,
                           sizeof runner_live);
    else
        snprintf(runner_live, sizeof runner_live, "%s", r->live);
    snprintf(r->runner_api_url, sizeof r->runner_api_url, "%s://%s", r->scheme, runner_live);
    snprintf(r->events_dir, sizeof r->events_dir, "%s/events", r->data.path);
    return 0;
}

static int start_kube(struct local_run *r)
{
    char err[1024];
    char *crds = beside_exe("../share/ambient/crds");
    char *rbac = beside_exe("../share/ambient/rbac");
    struct local_kube_options ko = {.data_dir = r->data.path, .crd_dir = crds, .rbac_dir = rbac,
                                    .host = "127.0.0.1", .port = r->ports.kube};
    r->kube = crds && rbac ? local_kube_start(&ko, err, sizeof err) : NULL;
    free(crds);
    free(rbac);
    if (!r->kube)
        return say(AMBD_EXIT_BAD_CONFIG, "%s", crds && rbac ? err : "out of memory");
    return 0;
}

static int start_executor(struct local_run *r)
{
    struct amb_error err = AMBD_ERROR_INIT;
    char *runner = r->settings.runner ? strdup(r->settings.runner) : beside_exe("ambient-runner");
    if (runner && access(runner, X_OK) != 0) {
        int status = say(AMBD_EXIT_BAD_CONFIG,
                         "%s: ambient-runner is not there (or not executable); set local.runner",
                         runner);
        free(runner);
        return status;
    }
    struct local_executor_config ec = {
        .kube_server = local_kube_url(r->kube),
        .token_file = local_kube_admin_token_file(r->kube),
        .data_dir = r->data.path,
        .runner_path = runner,
        .extra_env = (const char *const *)r->settings.runner_env,
        .max_sessions = r->settings.max_sessions,
    };
    int rc = runner ? local_executor_start(&ec, &r->executor, &err)
                    : ambd_error_set(&err, AMB_ENOMEM, NULL, NULL);
    free(runner);
    return rc == AMB_OK ? 0 : say_error(&err);
}

static void print_addresses(void *arg)
{
    struct local_run *r = arg;
    printf("api %s://%s\nlive %s://%s\nkube %s\ntoken %s\nkubeconfig %s\n", r->scheme, r->api,
           r->scheme, r->live, local_kube_url(r->kube), local_kube_admin_token_file(r->kube),
           local_kube_kubeconfig_file(r->kube));
    fflush(stdout);
    ambd_log("local", AMB_LOG_INFO, "laptop mode running", "data_dir", r->data.path, "kube",
             local_kube_url(r->kube), NULL);
}

/* Everything is set up: the runtime, with laptop mode's settings added. */
static int run_runtime(struct local_run *r, const struct local_options *o,
                       struct ambd_config *c)
{
    struct amb_error err = AMBD_ERROR_INIT;
    struct local_plan plan = {
        .scheme = r->scheme,
        .api_listen = r->api,
        .live_listen = r->live,
        .runner_api_url = r->runner_api_url,
        .kube_server = local_kube_url(r->kube),
        .token_file = local_kube_admin_token_file(r->kube),
        .events_dir = r->events_dir,
    };
    if (local_config_fill(c, &plan, &err) != AMB_OK || ambd_config_load_core(c, &err) != AMB_OK) {
        ambd_config_free(c);
        return say_error(&err);
    }
    struct ambd_daemon_hooks hooks = {.running = print_addresses, .arg = r};
    return ambd_daemon_run(o->config_path, c, &hooks);
}

int local_main(const struct local_options *o)
{
    struct local_run r = {.data.lock_fd = -1};
    struct amb_error err = AMBD_ERROR_INIT;
    struct ambd_config *c = NULL;
    int status;
    if (read_config(o, &c, &err) != AMB_OK ||
        local_settings_read(c, o->data_dir, o->listen, &r.settings, &err) != AMB_OK) {
        status = say_error(&err);
        goto out;
    }
    if ((status = open_data_dir(&r)) || (status = plan_listeners(&r, c)) ||
        (status = start_kube(&r)) || (status = start_executor(&r)))
        goto out;
    status = run_runtime(&r, o, c);
    c = NULL; /* the runtime's now */
    /* The runtime has stopped: no new Jobs; then the runners, then the API
     * they and the runtime talked to. */
out:
    if (r.executor)
        local_executor_stop(r.executor, RUNNER_STOP_GRACE_S);
    local_executor_free(r.executor);
    local_kube_stop(r.kube);
    local_datadir_close(&r.data);
    local_settings_clear(&r.settings);
    ambd_config_free(c);
    return status;
}
