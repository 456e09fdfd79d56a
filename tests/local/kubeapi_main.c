/* kubeapi_main.c — the local Kubernetes API on its own, for the tests:
 *   kubeapi_main --data-dir DIR [--crd-dir D] [--rbac-dir D] [--port N] [--tls-port N]
 *                [--max-connections N] [--max-watches N] [--history N]
 *                [--max-body N] [--max-output N]
 * prints "kube URL", "kube-tls URL", "kubeconfig FILE" and "token FILE", serves until SIGTERM or SIGINT
 * (exit 0); a store it cannot use is exit 2 with the message on stderr. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_kube.h"

int main(int argc, char **argv)
{
    struct local_kube_options o = {0};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--data-dir"))
            o.data_dir = v;
        else if (!strcmp(k, "--crd-dir"))
            o.crd_dir = v;
        else if (!strcmp(k, "--rbac-dir"))
            o.rbac_dir = v;
        else if (!strcmp(k, "--port"))
            o.port = atoi(v);
        else if (!strcmp(k, "--tls-port"))
            o.tls_port = atoi(v);
        else if (!strcmp(k, "--max-connections"))
            o.limits.max_connections = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--max-watches"))
            o.limits.max_watches = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--history"))
            o.limits.history = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--max-output"))
            o.limits.max_output = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--max-body"))
            o.limits.max_body = strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "kubeapi_main: unknown option %s\n", k);
            return 2;
        }
    }
    if (!o.data_dir) {
        fprintf(stderr, "kubeapi_main: --data-dir is required\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    char err[1024] = "";
    struct local_kube *k = local_kube_start(&o, err, sizeof err);
    if (!k) {
        fprintf(stderr, "kubeapi_main: %s\n", err);
        return 2;
    }
    printf("kube %s\nkube-tls %s\nkubeconfig %s\ntoken %s\n", local_kube_url(k),
           local_kube_tls_url(k), local_kube_kubeconfig_file(k), local_kube_admin_token_file(k));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    local_kube_stop(k);
    return 0;
}
