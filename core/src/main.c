/* main.c — ambientd: parses the command line, then runs the daemon on
 * ambient.conf (daemon.c), checks a config, or runs laptop mode
 * (local/local_main.c: the whole platform on one machine).
 * Exit codes: 0 clean, 2 bad usage/config/plugin/data dir, 1 failure while running. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <curl/curl.h>

#include "daemon-internal.h"
#include "local_main.h"
#include "log-internal.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ambientd --config FILE       run until SIGTERM or SIGINT\n"
            "       ambientd --local [--data-dir DIR] [--listen HOST:PORT] [--config FILE]\n"
            "                                    laptop mode: the whole platform on this machine,\n"
            "                                    no Kubernetes (FILE sets or overrides groups)\n"
            "       ambientd --check-config FILE check the config and its plugins, then exit\n"
            "       ambientd --version           print the version and plugin ABI\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'k'},
        {"local", no_argument, NULL, 'L'},
        {"data-dir", required_argument, NULL, 'D'},
        {"listen", required_argument, NULL, 'l'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct local_options local = {0};
    const char *config_path = NULL;
    int mode = 0, is_local = 0, opt;
    /* A peer that hangs up mid-write (an HTTP client, a watch) is an EPIPE
     * for the writer to handle, never a reason for the daemon to die. */
    signal(SIGPIPE, SIG_IGN);
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
        case 'k':
            if (mode) {
                usage(stderr);
                return AMBD_EXIT_BAD_CONFIG;
            }
            mode = opt;
            config_path = optarg;
            break;
        case 'L':
            is_local = 1;
            break;
        case 'D':
            local.data_dir = optarg;
            break;
        case 'l':
            local.listen = optarg;
            break;
        case 'V':
            printf("ambientd %s (plugin ABI %d.%d)\n", AMBIENT_VERSION, AMB_ABI_MAJOR,
                   AMB_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return AMBD_EXIT_BAD_CONFIG;
        }
    }
    /* --local takes an optional --config; --data-dir and --listen only go with --local. */
    int bad = optind != argc ||
              (is_local ? mode == 'k' : !mode || local.data_dir || local.listen);
    if (bad) {
        usage(stderr);
        return AMBD_EXIT_BAD_CONFIG;
    }
    evthread_use_pthreads();
    ambd_log_capture_libevent();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int status;
    if (is_local) {
        local.config_path = config_path;
        status = local_main(&local);
    } else {
        status = mode == 'k' ? ambd_daemon_check_config(config_path)
                             : ambd_daemon_run(config_path, NULL, NULL);
    }
    curl_global_cleanup();
    ambd_log_clear_secrets();
    libevent_global_shutdown();
    return status;
}
