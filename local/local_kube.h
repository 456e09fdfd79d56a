/* local_kube.h — the local Kubernetes API of laptop mode (ambientd --local):
 * an object store on SQLite in a data directory and an HTTP server on
 * loopback that speaks the subset of the Kubernetes REST API the
 * controller, the api plugin, ambient-runner and kubectl use. It runs on
 * its own thread; everything else reaches it over HTTP like any API
 * server. The one header the rest of the project calls. */
#ifndef AMBIENT_LOCAL_KUBE_H
#define AMBIENT_LOCAL_KUBE_H

#include <stddef.h>

struct local_kube;

/* What an outside client may hold; 0 takes the default named beside it
 * (docs/configuration.md, "Local Kubernetes API"). */
struct local_kube_limits {
    size_t max_body;        /* request body bytes, 3 MiB (etcd's object limit) */
    size_t max_headers;     /* request head bytes, 16 KiB */
    size_t max_connections; /* open connections, 512 */
    size_t max_watches;     /* open watch streams, 256 */
    size_t max_list;        /* objects in one list answer, 50,000 */
    size_t max_output;      /* answer bytes waiting for slow clients, all together, 256 MiB */
    unsigned history;       /* watch events kept for resume, 10,000 */
    unsigned idle_timeout_s; /* a connection with no request in flight, 60 */
};

struct local_kube_options {
    const char *data_dir; /* holds store.db and admin-token; must exist */
    const char *crd_dir;  /* CRDs (*.yaml, *.json) applied at every start; NULL: none */
    const char *rbac_dir; /* objects applied at the first start (deploy/rbac); NULL: none */
    const char *host;     /* NULL: 127.0.0.1 */
    int port;             /* plain HTTP; 0: any free port */
    int tls_port;         /* the same API over TLS, for kubectl; 0: any free port */
    struct local_kube_limits limits;
};

/* Opens (or creates) the store in o->data_dir, writes <data_dir>/admin-token
 * (0600) and the TLS certificate at the first start, applies the CRDs,
 * binds both listeners, writes <data_dir>/kubeconfig and starts serving.
 * NULL with a message in err when it cannot: a store that is corrupt or not
 * Ambient's names its file, and the caller should exit 2. */
struct local_kube *local_kube_start(const struct local_kube_options *o, char *err,
                                    size_t err_len);
/* "http://127.0.0.1:PORT", the address actually bound. */
const char *local_kube_url(const struct local_kube *k);
/* "https://127.0.0.1:PORT": the same API over TLS with a self-signed
 * certificate made at the first start (<data_dir>/kube-tls.crt). kubectl
 * sends a token only over TLS. */
const char *local_kube_tls_url(const struct local_kube *k);
/* "<data_dir>/kubeconfig" (0600): the TLS address, that certificate and the
 * admin token file, for KUBECONFIG=... kubectl. Rewritten at each start. */
const char *local_kube_kubeconfig_file(const struct local_kube *k);
/* "<data_dir>/admin-token": the token of user "admin" (group system:masters). */
const char *local_kube_admin_token_file(const struct local_kube *k);
/* Stops serving (open watches end), closes the store and frees k. NULL: no-op. */
void local_kube_stop(struct local_kube *k);

#endif
