/* executor_main.c — the local executor on its own, against any API server,
 * for tests/local/test_executor.py (in place of tests/runner/podsim.py):
 *
 *   executor_main --kube-server URL --token-file F --data-dir D --runner PATH
 *                 [--max-sessions N] [--stop-grace S] [--env NAME=VALUE]...
 *
 * Prints "executor running" once started; on SIGTERM or SIGINT it stops the
 * executor and prints "peak N" (the most runners that ran at once), then
 * exits 0. Exit 2 for a bad invocation or a failed start. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "error-internal.h"
#include "executor.h"
#include "log-internal.h"

#define MAX_ENV 64

static int usage(const char *why)
{
    fprintf(stderr, "executor_main: %s\n", why);
    return 2;
}

int main(int argc, char **argv)
{
    struct local_executor_config cfg = {0};
    const char *env[MAX_ENV + 1] = {0};
    size_t n_env = 0;
    unsigned stop_grace = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage("every option takes a value");
        i++;
        if (strcmp(a, "--kube-server") == 0)
            cfg.kube_server = v;
        else if (strcmp(a, "--token-file") == 0)
            cfg.token_file = v;
        else if (strcmp(a, "--data-dir") == 0)
            cfg.data_dir = v;
        else if (strcmp(a, "--runner") == 0)
            cfg.runner_path = v;
        else if (strcmp(a, "--max-sessions") == 0)
            cfg.max_sessions = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--stop-grace") == 0)
            stop_grace = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--env") == 0 && n_env < MAX_ENV)
            env[n_env++] = v;
        else
            return usage("unknown option or too many --env");
    }
    cfg.extra_env = env;
    ambd_log_set_format(AMBD_LOG_JSON);
    evthread_use_pthreads();
    /* Block the stop signals before any thread starts, then wait for one. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct amb_error err = AMBD_ERROR_INIT;
    struct local_executor *ex = NULL;
    if (local_executor_start(&cfg, &ex, &err) != AMB_OK) {
        char *line = ambd_error_line(&err);
        fprintf(stderr, "executor_main: %s\n", line ? line : "cannot start");
        free(line);
        ambd_error_clear(&err);
        return 2;
    }
    printf("executor running\n");
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    local_executor_stop(ex, stop_grace);
    printf("peak %u\n", local_executor_peak(ex));
    fflush(stdout);
    local_executor_free(ex);
    return 0;
}
