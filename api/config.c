/* config.c — the `api` group of ambient.conf:
 *
 *   api = {
 *     listen = "0.0.0.0:8080";          # REST; absent: REST off
 *     tls = { cert_file = "..."; key_file = "..."; };   # both or neither
 *     max_body = 1048576; max_headers = 16384; timeout = 30; threads = 4;
 *     head_timeout = 10; body_timeout = 30;       # deadlines, both listeners
 *     max_connections = 4096; max_connections_per_client = 1024;
 *     max_bodies = 67108864; max_bodies_per_client = 16777216;  # bytes being read
 *     allowed_origins = ["https://ui.example"];  # browsers (CORS, WebSocket)
 *     auth_ttl = 30; auth_cache_size = 10000;
 *     rate_limit = { requests_per_second = 50; burst = 100; };  # per caller; 0: off
 *     live = { listen = "0.0.0.0:8081"; dir = "/var/lib/ambient/events";
 *              max_event = 1048576; max_session = 67108864;
 *              max_store = 17179869184;
 *              max_client_buffer = 4194304; auth_threads = 2;
 *              max_connections = 8192; max_connections_per_client = 1024;
 *              session_status = true;
 *              langfuse = { enabled = false; ... }; };  # live/langfuse_config.c
 *     read_cache = { enabled = true; max_objects = 100000; max_bytes = 268435456; };
 *   };
 *
 * Every key is optional. Errors name the key ("api.max_body"). Port 0 in a
 * listen address picks a free port (tests). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serving.h"

struct int_key {
    const char *path;  /* in the group */
    long long min, max;
    long long def;
};

static const struct int_key int_keys[] = {
    {"max_body", 1024, 1LL << 30, 1048576},
    {"max_headers", 1024, 1 << 20, 16384},
    {"timeout", 1, 3600, 30},
    {"threads", 1, 64, 4},
    {"auth_ttl", 0, 3600, 30},
    {"auth_cache_size", 16, 1000000, 10000},
    {"live.max_event", 1024, 64LL << 20, 1048576},
    {"live.max_session", 1024, 64LL << 30, 64LL << 20},
    {"live.max_store", 1 << 20, 1LL << 50, 16LL << 30},
    {"live.max_client_buffer", 4096, 1LL << 30, 4LL << 20},
    {"live.auth_threads", 1, 32, 2},
    {"rate_limit.requests_per_second", 0, 1000000, 50},
    {"rate_limit.burst", 1, 1000000, 100},
    {"head_timeout", 1, 3600, 10},
    {"body_timeout", 1, 3600, 30},
    {"max_connections", 1, 1000000, 4096},
    {"max_connections_per_client", 1, 1000000, 1024},
    {"live.max_connections", 1, 1000000, 8192},
    {"live.max_connections_per_client", 1, 1000000, 1024},
    {"max_bodies", 1024, 1LL << 40, 64LL << 20},
    {"max_bodies_per_client", 1024, 1LL << 40, 16LL << 20},
    {"read_cache.max_objects", 0, 100000000, 100000},
    {"read_cache.max_bytes", 0, 1LL << 40, 256LL << 20},
};
enum { K_BODY, K_HEADERS, K_TIMEOUT, K_THREADS, K_TTL, K_CACHE, K_EVENT, K_SESSION, K_STORE,
       K_CLIENT_BUF, K_AUTH_THREADS, K_RATE, K_BURST, K_HEAD_TIMEOUT, K_BODY_TIMEOUT,
       K_CONNS, K_CONNS_CLIENT, K_LIVE_CONNS, K_LIVE_CONNS_CLIENT, K_BODIES, K_BODIES_CLIENT,
       K_RC_OBJECTS, K_RC_BYTES, K_N };

int api_split_hostport(const char *s, char *host, size_t host_len, unsigned *port)
{
    if (!s)
        return -1;
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl)) {
        return -1; /* a v6 address needs brackets */
    }
    if (hl == 0 || hl >= host_len)
        return -1;
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
        return -1;
    long v = strtol(p, NULL, 10);
    if (v > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)v;
    return 0;
}

/* Records an AMB_EINVAL cause naming api.<path>. */
AMB_PRINTF(3, 4) static int bad(struct amb_error *err, const char *path, const char *fmt, ...)
{
    char field[64], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(field, sizeof field, "api.%s", path);
    return api_host->error_set(err, AMB_EINVAL, field, "%s", msg);
}

/* Reads a string key: AMB_OK with *out a copy (or untouched if absent). */
static int read_string(const char *path, char **out, struct amb_error *err)
{
    const char *v = NULL;
    int rc = api_host->config_string(api_self, path, &v);
    if (rc == AMB_ENOTFOUND)
        return AMB_OK;
    if (rc != AMB_OK)
        return rc; /* the host names the file and line */
    if (!*v)
        return bad(err, path, "must not be empty");
    char *copy = strdup(v);
    if (!copy)
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    free(*out);
    *out = copy;
    return AMB_OK;
}

static int read_ints(long long *v, struct amb_error *err)
{
    int rc = AMB_OK;
    for (size_t i = 0; i < K_N; i++) {
        const struct int_key *k = &int_keys[i];
        v[i] = k->def;
        int r = api_host->config_int(api_self, k->path, &v[i]);
        if (r == AMB_ENOTFOUND)
            continue;
        if (r != AMB_OK) {
            rc = r;
            continue;
        }
        if (v[i] < k->min || v[i] > k->max)
            rc = bad(err, k->path, "must be between %lld and %lld (is %lld)", k->min, k->max,
                     v[i]);
    }
    if (rc == AMB_OK && v[K_SESSION] < v[K_EVENT])
        rc = bad(err, "live.max_session", "must be at least api.live.max_event");
    if (rc == AMB_OK && v[K_CLIENT_BUF] < v[K_EVENT])
        rc = bad(err, "live.max_client_buffer", "must be at least api.live.max_event");
    if (rc == AMB_OK && v[K_CONNS_CLIENT] > v[K_CONNS])
        rc = bad(err, "max_connections_per_client", "must be at most api.max_connections");
    if (rc == AMB_OK && v[K_BODIES_CLIENT] > v[K_BODIES])
        rc = bad(err, "max_bodies_per_client", "must be at most api.max_bodies");
    if (rc == AMB_OK && v[K_BODIES_CLIENT] < v[K_BODY])
        rc = bad(err, "max_bodies_per_client", "must be at least api.max_body");
    if (rc == AMB_OK && v[K_LIVE_CONNS_CLIENT] > v[K_LIVE_CONNS])
        rc = bad(err, "live.max_connections_per_client",
                 "must be at most api.live.max_connections");
    return rc;
}

/* An origin is "*" or scheme://host[:port] with no path. */
static int origin_ok(const char *o)
{
    if (strcmp(o, "*") == 0)
        return 1;
    const char *rest = strncmp(o, "https://", 8) == 0 ? o + 8
                       : strncmp(o, "http://", 7) == 0 ? o + 7 : NULL;
    return rest && *rest && !strchr(rest, '/') && strlen(o) < 256;
}

static int read_origins(struct api_config *c, struct amb_error *err)
{
    size_t n = 0;
    int rc = api_host->config_count(api_self, "allowed_origins", &n);
    if (rc == AMB_ENOTFOUND)
        return AMB_OK;
    if (rc != AMB_OK)
        return rc;
    if (n > 64)
        return bad(err, "allowed_origins", "has more than 64 entries");
    c->allowed_origins = calloc(n ? n : 1, sizeof(char *));
    if (!c->allowed_origins)
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char path[48];
        const char *v = NULL;
        snprintf(path, sizeof path, "allowed_origins.[%zu]", i);
        if ((rc = api_host->config_string(api_self, path, &v)) != AMB_OK)
            return rc == AMB_ENOTFOUND ? AMB_EINVAL : rc;
        if (!origin_ok(v))
            return bad(err, "allowed_origins", "\"%s\" is not \"*\" or scheme://host[:port]",
                       v);
        if (!(c->allowed_origins[i] = strdup(v)))
            return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
        c->n_allowed_origins++;
    }
    return AMB_OK;
}

static int check_listen(const char *key, const char *v, struct amb_error *err)
{
    char host[256];
    unsigned port;
    if (v && api_split_hostport(v, host, sizeof host, &port) != 0)
        return bad(err, key, "must be \"host:port\" or \"[v6]:port\" (is \"%s\")", v);
    return AMB_OK;
}

int api_config_read(struct api_config *c, struct amb_error *err)
{
    memset(c, 0, sizeof *c);
    int rc = AMB_OK, r;
    struct { const char *path; char **slot; } strs[] = {
        {"listen", &c->listen},
        {"tls.cert_file", &c->tls_cert_file},
        {"tls.key_file", &c->tls_key_file},
        {"live.listen", &c->live_listen},
        {"live.dir", &c->live_dir},
    };
    /* Read every key before giving up, so the host reports all of them. */
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if ((r = read_string(strs[i].path, strs[i].slot, err)) != AMB_OK)
            rc = r;
    long long v[K_N];
    if ((r = read_ints(v, err)) != AMB_OK)
        rc = r;
    c->live_session_status = 1;
    if ((r = api_host->config_bool(api_self, "live.session_status", &c->live_session_status)) !=
            AMB_OK && r != AMB_ENOTFOUND)
        rc = r;
    c->read_cache_enabled = 1;
    if ((r = api_host->config_bool(api_self, "read_cache.enabled", &c->read_cache_enabled)) !=
            AMB_OK && r != AMB_ENOTFOUND)
        rc = r;
    if ((r = read_origins(c, err)) != AMB_OK)
        rc = r;
    if ((r = api_langfuse_config_read(&c->langfuse, c->live_listen != NULL, err)) != AMB_OK)
        rc = r;
    /* Report every problem at once, not one per run. */
    if (!c->tls_cert_file != !c->tls_key_file)
        rc = bad(err, c->tls_cert_file ? "tls.key_file" : "tls.cert_file",
                 "api.tls needs both cert_file and key_file");
    if ((r = check_listen("listen", c->listen, err)) != AMB_OK)
        rc = r;
    if ((r = check_listen("live.listen", c->live_listen, err)) != AMB_OK)
        rc = r;
    if (rc != AMB_OK)
        goto fail;
    if (!c->live_dir && !(c->live_dir = strdup("/var/lib/ambient/events"))) {
        rc = api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    c->max_body = (size_t)v[K_BODY];
    c->max_headers = (size_t)v[K_HEADERS];
    c->timeout_s = (unsigned)v[K_TIMEOUT];
    c->threads = (unsigned)v[K_THREADS];
    c->auth_ttl_s = (unsigned)v[K_TTL];
    c->auth_cache_size = (size_t)v[K_CACHE];
    c->live_max_event = (size_t)v[K_EVENT];
    c->live_max_session = (size_t)v[K_SESSION];
    c->live_max_store = (unsigned long long)v[K_STORE];
    c->live_max_client_buffer = (size_t)v[K_CLIENT_BUF];
    c->live_auth_threads = (unsigned)v[K_AUTH_THREADS];
    c->rate_per_s = (unsigned)v[K_RATE];
    c->rate_burst = (unsigned)v[K_BURST];
    c->head_timeout_s = (unsigned)v[K_HEAD_TIMEOUT];
    c->body_timeout_s = (unsigned)v[K_BODY_TIMEOUT];
    c->max_connections = (size_t)v[K_CONNS];
    c->max_connections_per_client = (size_t)v[K_CONNS_CLIENT];
    c->live_max_connections = (size_t)v[K_LIVE_CONNS];
    c->live_max_connections_per_client = (size_t)v[K_LIVE_CONNS_CLIENT];
    c->max_bodies = (size_t)v[K_BODIES];
    c->max_bodies_per_client = (size_t)v[K_BODIES_CLIENT];
    c->read_cache_max_objects = (size_t)v[K_RC_OBJECTS];
    c->read_cache_max_bytes = (size_t)v[K_RC_BYTES];
    return AMB_OK;
fail:
    api_config_clear(c);
    return rc;
}

void api_config_clear(struct api_config *c)
{
    if (!c)
        return;
    free(c->listen);
    free(c->tls_cert_file);
    free(c->tls_key_file);
    free(c->live_listen);
    free(c->live_dir);
    for (size_t i = 0; i < c->n_allowed_origins; i++)
        free(c->allowed_origins[i]);
    free(c->allowed_origins);
    api_langfuse_config_clear(&c->langfuse);
    memset(c, 0, sizeof *c);
}
