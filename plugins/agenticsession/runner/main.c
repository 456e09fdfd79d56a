/* main.c — ambient-runner's process: settings, secrets, signals, the
 * forge plugins of its config, the Kubernetes client, then one session
 * (run.c). Exit status 0 when the session Completed, 1 when it failed or
 * was stopped, 2 when the invocation was wrong. */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config-internal.h"
#include "error-internal.h"
#include "kube-internal.h"
#include "log-internal.h"
#include "runner.h"
#include "runtime-internal.h"

static int fail_usage(const struct amb_error *err)
{
    char *line = ambd_error_line(err);
    fprintf(stderr, "ambient-runner: %s\n", line ? line : "out of memory");
    free(line);
    return RUNNER_EXIT_USAGE;
}

/* The forge plugins (and log settings) of --config, loaded as ambientd
 * loads plugins. */
static int load_config(const struct runner_opts *o, struct ambd_config **cfg,
                       struct ambd_runtime **rt, struct amb_error *err)
{
    if (!o->config)
        return AMB_OK;
    int rc = ambd_config_load(o->config, cfg, err);
    if (rc != AMB_OK)
        return rc;
    ambd_log_set_level((*cfg)->log_level);
    ambd_log_set_format((enum ambd_log_format)(*cfg)->log_format);
    char *dir = ambd_default_plugin_dir();
    *rt = ambd_runtime_new(*cfg, dir);
    free(dir);
    if (!*rt)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    rc = ambd_runtime_load(*rt, err);
    return rc == AMB_OK ? ambd_runtime_start(*rt, err) : rc;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* --kube-server, or the cluster's service address. The token is always
 * the session's own (the Job mounts no pod service-account token); the CA
 * is --ca-file, else the ca.crt next to that token, else the pod's. */
static int kube_config(const struct runner_opts *o, struct ambd_kube_config *kc,
                       struct amb_error *err)
{
    memset(kc, 0, sizeof *kc);
    int rc = o->kube_server ? AMB_OK : ambd_kube_config_in_cluster(kc, NULL, err);
    if (rc != AMB_OK)
        return rc;
    if (o->kube_server) {
        kc->server = strdup(o->kube_server);
    } else if (!o->ca_file) {
        char *copy = strdup(o->token_file);
        char ca[4096];
        snprintf(ca, sizeof ca, "%s/ca.crt", copy ? dirname(copy) : ".");
        free(copy);
        if (file_exists(ca)) {
            free(kc->ca_file);
            kc->ca_file = strdup(ca);
        }
    }
    if (o->ca_file) {
        free(kc->ca_file);
        kc->ca_file = strdup(o->ca_file);
    }
    free(kc->token_file);
    kc->token_file = strdup(o->token_file);
    kc->timeout_ms = 30000; /* qps 0: a handful of calls per session, no limiter */
    if (!kc->server || !kc->token_file)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    return AMB_OK;
}

/* SIGTERM and SIGINT become readable on a descriptor the agent loop polls;
 * SIGCHLD too, to reap what the agent leaves behind. Threads started later
 * inherit the mask, so the signals are never delivered elsewhere. */
static int signal_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int main(int argc, char **argv)
{
    struct runner_opts o;
    int status = runner_opts_parse(&o, argc, argv);
    if (status >= 0) {
        runner_opts_clear(&o);
        return status;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Nothing the agent runs may read our environment or memory through
     * /proc (same user), and whatever it leaves behind is reparented to us
     * so we can stop it. */
    prctl(PR_SET_DUMPABLE, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    runner_secrets_register(&o);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct amb_error err = AMBD_ERROR_INIT;
    struct ambd_config *cfg = NULL;
    struct ambd_runtime *rt = NULL;
    struct ambd_kube_config kc;
    struct ambd_kube *kube = NULL;
    struct runner_run run = {.opts = &o};
    run.signal_fd = signal_fd();
    if (run.signal_fd < 0) {
        fprintf(stderr, "ambient-runner: cannot set up signal handling: %s\n", strerror(errno));
        status = RUNNER_EXIT_FAILED;
        goto out;
    }
    if (load_config(&o, &cfg, &rt, &err) != AMB_OK) {
        status = fail_usage(&err);
        goto out;
    }
    if (kube_config(&o, &kc, &err) != AMB_OK || ambd_kube_new(&kc, &kube, &err) != AMB_OK) {
        ambd_kube_config_clear(&kc);
        status = fail_usage(&err);
        goto out;
    }
    ambd_kube_config_clear(&kc);
    run.kube = kube;
    run.registry = rt ? &rt->registry : NULL;
    ambd_host_fill(&run.host);
    status = runner_run_session(&run);
out:
    if (run.signal_fd >= 0)
        close(run.signal_fd);
    runner_kill_orphans();
    ambd_runtime_free(rt); /* stops and unloads the plugins */
    ambd_config_free(cfg);
    ambd_kube_free(kube);
    ambd_error_clear(&err);
    runner_opts_clear(&o);
    runner_secrets_forget();
    curl_global_cleanup();
    ambd_log_clear_secrets();
    return status;
}
