/* langfuse_config.c — the api.live.langfuse group:
 *
 *   langfuse = {
 *     enabled = false;                        # nothing is sent unless true
 *     host = "https://cloud.langfuse.com";    # http:// only for loopback
 *     public_key = "pk-lf-...";
 *     secret_key_file = "/etc/ambient/langfuse/secret";
 *     timeout = 10; delay = 10; max_queue = 1000; retry = 60;
 *     max_tool_calls = 500; max_field = 4096;
 *   };
 *
 * Every key is read whether or not it is enabled, so a disabled group is
 * still checked and none of its keys is reported as unknown. With enabled,
 * public_key and secret_key_file are required, the secret must be readable
 * now (a typo fails the start, not every export), and api.live.listen
 * must be set: the exporter runs in the live service, next to the event
 * log it reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define LF_INGESTION_PATH "/api/public/ingestion"

struct lf_int_key {
    const char *path;
    long long min, max, def;
};

static const struct lf_int_key lf_ints[] = {
    {"live.langfuse.timeout", 1, 300, 10},
    {"live.langfuse.delay", 0, 3600, 10},
    {"live.langfuse.max_queue", 1, 1000000, 1000},
    {"live.langfuse.max_tool_calls", 0, 100000, 500},
    {"live.langfuse.max_field", 256, 1 << 20, 4096},
    {"live.langfuse.retry", 0, 3600, 60},
};

static int lf_bad(struct amb_error *err, const char *key, const char *msg)
{
    char field[64];
    snprintf(field, sizeof field, "api.live.langfuse.%s", key);
    return api_host->error_set(err, AMB_EINVAL, field, "%s", msg);
}

/* "https://host[:port][/prefix]", or http:// to a loopback host; printable,
 * no spaces, no query, no user:password@ (the URL is logged). */
static int host_ok(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 400)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] >= 0x7f || h[i] == '?' ||
            h[i] == '#' || h[i] == '@')
            return 0;
    if (!strncmp(h, "https://", 8))
        return h[8] != '\0' && h[8] != '/';
    static const char *const loopback[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(loopback[i]);
        if (!strncmp(h, loopback[i], l) && (h[l] == '\0' || h[l] == ':' || h[l] == '/'))
            return 1;
    }
    return 0;
}

/* A basic-auth user name: printable ASCII without ':' or spaces. */
static int public_key_ok(const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] <= ' ' || (unsigned char)k[i] >= 0x7f || k[i] == ':')
            return 0;
    return n > 0 && n < 256;
}

static int lf_string(const char *key, const char **out)
{
    char path[64];
    snprintf(path, sizeof path, "live.langfuse.%s", key);
    int rc = api_host->config_string(api_self, path, out);
    return rc == AMB_ENOTFOUND ? AMB_OK : rc;
}

int api_langfuse_config_read(struct api_langfuse_config *c, int live_on, struct amb_error *err)
{
    memset(c, 0, sizeof *c);
    int rc = AMB_OK, r;
    if ((r = api_host->config_bool(api_self, "live.langfuse.enabled", &c->enabled)) != AMB_OK &&
        r != AMB_ENOTFOUND)
        rc = r;
    const char *host = "https://cloud.langfuse.com", *pk = NULL, *sk_file = NULL;
    if ((r = lf_string("host", &host)) != AMB_OK || (r = lf_string("public_key", &pk)) != AMB_OK ||
        (r = lf_string("secret_key_file", &sk_file)) != AMB_OK)
        rc = r;
    long long v[sizeof lf_ints / sizeof lf_ints[0]];
    for (size_t i = 0; i < sizeof lf_ints / sizeof lf_ints[0]; i++) {
        v[i] = lf_ints[i].def;
        r = api_host->config_int(api_self, lf_ints[i].path, &v[i]);
        if (r != AMB_OK && r != AMB_ENOTFOUND) {
            rc = r;
        } else if (v[i] < lf_ints[i].min || v[i] > lf_ints[i].max) {
            char msg[96];
            snprintf(msg, sizeof msg, "must be between %lld and %lld (is %lld)", lf_ints[i].min,
                     lf_ints[i].max, v[i]);
            rc = lf_bad(err, lf_ints[i].path + strlen("live.langfuse."), msg);
        }
    }
    if (!host_ok(host))
        rc = lf_bad(err, "host",
                    "must be https://host[:port][/path] (http:// only to 127.0.0.1, ::1 or "
                    "localhost), without query or user@");
    if (pk && !public_key_ok(pk))
        rc = lf_bad(err, "public_key", "must be 1-255 printable characters without ':'");
    if (rc != AMB_OK || !c->enabled)
        return rc; /* off: checked, nothing kept */
    if (!live_on)
        rc = lf_bad(err, "enabled", "needs api.live.listen: the export reads the event log");
    if (!pk)
        rc = lf_bad(err, "public_key", "is required when enabled");
    if (!sk_file)
        rc = lf_bad(err, "secret_key_file", "is required when enabled");
    FILE *f = sk_file ? fopen(sk_file, "re") : NULL;
    if (sk_file && !f)
        rc = lf_bad(err, "secret_key_file", "cannot be read");
    if (f)
        fclose(f);
    if (rc != AMB_OK)
        return rc;
    size_t host_len = strlen(host);
    while (host_len > 0 && host[host_len - 1] == '/')
        host_len--;
    c->url = malloc(host_len + sizeof LF_INGESTION_PATH);
    c->public_key = strdup(pk);
    c->secret_key_file = strdup(sk_file);
    if (!c->url || !c->public_key || !c->secret_key_file) {
        api_langfuse_config_clear(c);
        return api_host->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    }
    memcpy(c->url, host, host_len);
    memcpy(c->url + host_len, LF_INGESTION_PATH, sizeof LF_INGESTION_PATH);
    c->timeout_s = (unsigned)v[0];
    c->delay_s = (unsigned)v[1];
    c->max_queue = (size_t)v[2];
    c->max_tool_calls = (size_t)v[3];
    c->max_field = (size_t)v[4];
    c->retry_s = (unsigned)v[5];
    return AMB_OK;
}

void api_langfuse_config_clear(struct api_langfuse_config *c)
{
    free(c->url);
    free(c->public_key);
    free(c->secret_key_file);
    memset(c, 0, sizeof *c);
}
