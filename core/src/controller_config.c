/* controller_config.c — the `kube` and `controller` groups of ambient.conf.
 * Keys are looked up with the same read-tracking as plugin groups, so a
 * misspelt key is an error naming its file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf-internal.h"
#include "controller-internal.h"
#include "error-internal.h"
#include "leader-internal.h"

#define NAMESPACE_FILE "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

struct reader {
    const struct ambd_config *c;
    config_setting_t *group;
    struct amb_error *err;
    int failed;
};

/* Each getter leaves *out alone when the key is absent. */
static void get_string(struct reader *r, const char *key, char **out)
{
    config_setting_t *s;
    if (ambd_config_lookup(r->group, key, &s) != AMB_OK)
        return;
    const char *v = config_setting_get_string(s);
    if (!v || !*v) {
        r->failed = 1;
        ambd_config_error(r->err, r->c, s, "expected a non-empty string");
        return;
    }
    char *copy = strdup(v);
    if (copy) {
        free(*out);
        *out = copy;
    }
}

/* A path relative to the config file's directory. */
static void get_path(struct reader *r, const char *key, char **out)
{
    char *p = NULL;
    get_string(r, key, &p);
    if (!p)
        return;
    struct ambd_buf b = {0};
    if (p[0] != '/')
        ambd_buf_printf(&b, "%s/", r->c->dir);
    ambd_buf_puts(&b, p);
    free(p);
    free(*out);
    *out = ambd_buf_take(&b);
}

static void get_uint(struct reader *r, const char *key, long long min, long long max, unsigned *out)
{
    config_setting_t *s;
    if (ambd_config_lookup(r->group, key, &s) != AMB_OK)
        return;
    int type = config_setting_type(s);
    long long v = config_setting_get_int64(s);
    if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) || v < min || v > max) {
        r->failed = 1;
        ambd_config_error(r->err, r->c, s, "expected an integer from %lld to %lld", min, max);
        return;
    }
    *out = (unsigned)v;
}

static void get_bool(struct reader *r, const char *key, int *out)
{
    config_setting_t *s;
    if (ambd_config_lookup(r->group, key, &s) != AMB_OK)
        return;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        r->failed = 1;
        ambd_config_error(r->err, r->c, s, "expected true or false");
        return;
    }
    *out = config_setting_get_bool(s);
}

static void get_number(struct reader *r, const char *key, double *out)
{
    config_setting_t *s;
    if (ambd_config_lookup(r->group, key, &s) != AMB_OK)
        return;
    int type = config_setting_type(s);
    if (type == CONFIG_TYPE_FLOAT)
        *out = config_setting_get_float(s);
    else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
        *out = (double)config_setting_get_int64(s);
    else {
        r->failed = 1;
        ambd_config_error(r->err, r->c, s, "expected a number");
    }
}

static char *in_cluster_namespace(void)
{
    FILE *f = fopen(NAMESPACE_FILE, "re");
    char buf[256] = "";
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    return strdup(buf[0] ? buf : "default");
}

static void read_kube(struct reader *r, struct ambd_kube_config *k)
{
    get_string(r, "server", &k->server);
    get_path(r, "token_file", &k->token_file);
    get_path(r, "ca_file", &k->ca_file);
    get_number(r, "qps", &k->qps);
    unsigned burst = (unsigned)k->burst, timeout = (unsigned)k->timeout_ms;
    get_uint(r, "burst", 1, 100000, &burst);
    get_uint(r, "timeout_ms", 100, 600000, &timeout);
    k->burst = (int)burst;
    k->timeout_ms = (long)timeout;
}

static void read_controller(struct reader *r, struct ambd_controller_config *cc)
{
    get_bool(r, "enabled", &cc->enabled);
    get_uint(r, "workers", 1, 256, &cc->workers);
    get_uint(r, "list_page_size", 1, 10000, &cc->list_page_size);
    get_bool(r, "leader_election", &cc->leader_election);
    get_string(r, "listen", &cc->listen);
    config_setting_t *s;
    char host[256];
    unsigned short port;
    if (cc->listen && ambd_split_listen(cc->listen, host, sizeof host, &port) != 0 &&
        ambd_config_lookup(r->group, "listen", &s) == AMB_OK) {
        r->failed = 1;
        ambd_config_error(r->err, r->c, s, "\"%s\" is not host:port (e.g. \"0.0.0.0:9090\")",
                          cc->listen);
    }
    get_string(r, "lease.name", &cc->lease_name);
    get_string(r, "lease.namespace", &cc->lease_namespace);
    get_uint(r, "lease.duration", 1, 3600, &cc->lease_duration_s);
    get_uint(r, "lease.renew_deadline", 1, 3600, &cc->renew_deadline_s);
    get_uint(r, "lease.retry_period", 1, 3600, &cc->retry_period_s);
    struct ambd_leader_options lo = {.duration_s = cc->lease_duration_s,
                                     .renew_deadline_s = cc->renew_deadline_s,
                                     .retry_period_s = cc->retry_period_s};
    struct amb_error why = AMBD_ERROR_INIT;
    if (ambd_leader_check(&lo, &why) != AMB_OK) {
        char *line = ambd_error_line(&why);
        if (ambd_config_lookup(r->group, "lease", &s) == AMB_OK)
            ambd_config_error(r->err, r->c, s, "%s", line ? line : "invalid lease timing");
        else
            ambd_error_set(r->err, AMB_EINVAL, NULL, "%s", line ? line : "invalid lease timing");
        free(line);
        r->failed = 1;
    }
    ambd_error_clear(&why);
}

int ambd_controller_config_load(const struct ambd_config *c, struct ambd_controller_config *cc,
                                struct amb_error *err)
{
    memset(cc, 0, sizeof *cc);
    cc->enabled = 1;
    cc->workers = 4;
    cc->list_page_size = 500;
    cc->leader_election = 1;
    cc->lease_duration_s = 15;
    cc->renew_deadline_s = 10;
    cc->retry_period_s = 2;
    cc->kube.qps = 50;
    cc->kube.burst = 100;
    cc->kube.timeout_ms = 30000;
    config_setting_t *ctl = ambd_config_group(c, "controller");
    config_setting_t *kube = ambd_config_group(c, "kube");
    struct reader r = {c, kube, err, 0};
    if (kube) {
        read_kube(&r, &cc->kube);
        if (ambd_config_check_unread(c, kube, err) != AMB_OK)
            r.failed = 1;
    }
    if (!ctl)
        cc->enabled = 0;
    else {
        r.group = ctl;
        read_controller(&r, cc);
        if (ambd_config_check_unread(c, ctl, err) != AMB_OK)
            r.failed = 1;
    }
    if (r.failed)
        return AMB_EINVAL;
    if (!cc->listen && !(cc->listen = strdup("0.0.0.0:9090")))
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    if (!cc->lease_name && !(cc->lease_name = strdup("ambient-controller")))
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    if (!cc->lease_namespace && !(cc->lease_namespace = in_cluster_namespace()))
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    if (!cc->enabled && !kube && !getenv("KUBERNETES_SERVICE_HOST"))
        return AMB_OK;
    if (!cc->kube.server) {
        char *token_file = cc->kube.token_file, *ca_file = cc->kube.ca_file;
        cc->kube.token_file = cc->kube.ca_file = NULL;
        int rc = ambd_kube_config_in_cluster(&cc->kube, NULL, err);
        /* Explicit files win over the in-cluster defaults. */
        if (token_file) {
            free(cc->kube.token_file);
            cc->kube.token_file = token_file;
        }
        if (ca_file) {
            free(cc->kube.ca_file);
            cc->kube.ca_file = ca_file;
        }
        if (rc != AMB_OK)
            return rc;
    }
    int rc = ambd_kube_check_server(cc->kube.server, err);
    cc->kube_ready = rc == AMB_OK;
    return rc;
}

void ambd_controller_config_clear(struct ambd_controller_config *cc)
{
    ambd_kube_config_clear(&cc->kube);
    free(cc->listen);
    free(cc->lease_name);
    free(cc->lease_namespace);
    memset(cc, 0, sizeof *cc);
}
