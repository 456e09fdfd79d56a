/* kubeapi_reply.c — answers of the local API: JSON bodies, Status failures
 * worded as apimachinery's errors, the request body, ids and times. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "kubeapi.h"
#include "yaml_json.h"

void kapi_reply(struct kreq *r, int code, json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!buf || !text) {
        free(text);
        if (buf)
            evbuffer_free(buf);
        evhttp_send_error(r->ev, 500, "out of memory");
        return;
    }
    evbuffer_add(buf, text, strlen(text));
    evbuffer_add(buf, "\n", 1);
    free(text);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-cache, private");
    evhttp_send_reply(r->ev, code, code < 300 ? "OK" : "Failure", buf);
    evbuffer_free(buf);
}

void kapi_qualified(const struct ktype *t, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s", t->plural, t->group[0] ? "." : "", t->group);
}

void kapi_fail(struct kreq *r, int code, const char *reason, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s}", "kind", "Status", "apiVersion",
                             "v1", "metadata", "status", "Failure", "message", msg, "reason",
                             reason);
    if (body && r->t && code != 401 && code != 500 && code != 503 && code != 507) {
        json_t *d = json_object();
        if (r->name[0])
            json_object_set_new(d, "name", json_string(r->name));
        if (r->t->group[0])
            json_object_set_new(d, "group", json_string(r->t->group));
        json_object_set_new(d, "kind", json_string(r->t->plural));
        json_object_set_new(body, "details", d);
    }
    if (body)
        json_object_set_new(body, "code", json_integer(code));
    kapi_reply(r, code, body);
}

void kapi_fail_store(struct kreq *r, int rc)
{
    if (rc == KSTORE_FULL)
        kapi_fail(r, 507, "InsufficientStorage",
                  "the store's disk is full: nothing was written (%s)",
                  kstore_errmsg(r->api->store));
    else
        kapi_fail(r, 503, "ServiceUnavailable", "the store failed: %s",
                  kstore_errmsg(r->api->store));
}

const char *kapi_query(const struct kreq *r, const char *key)
{
    return evhttp_find_header(&((struct kreq *)r)->query, key);
}

static int media_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

json_t *kapi_body(struct kreq *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t len = evbuffer_get_length(in);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
    const char *text = (const char *)evbuffer_pullup(in, -1);
    if (len == 0 || !text) {
        kapi_fail(r, 400, "BadRequest", "the request needs a body");
        return NULL;
    }
    json_t *v = NULL;
    char why[200] = "";
    if (media_is(ct, "application/vnd.kubernetes.protobuf")) {
        /* kubectl's typed commands (create namespace, create token, auth
         * can-i) send protobuf. */
        v = kapi_protobuf_decode(text, len, why, sizeof why);
        if (!v) {
            kapi_fail(r, 415, "UnsupportedMediaType", "%s", why);
            return NULL;
        }
    } else if (media_is(ct, "application/apply-patch+yaml") || media_is(ct, "application/yaml")) {
        json_t *docs = yaml_to_json(text, len, why, sizeof why);
        if (docs && json_array_size(docs) == 1)
            v = json_incref(json_array_get(docs, 0));
        else if (docs)
            snprintf(why, sizeof why, "the body must hold exactly one YAML document");
        json_decref(docs);
    } else {
        json_error_t e;
        v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
        if (!v)
            snprintf(why, sizeof why, "line %d: %s", e.line, e.text);
    }
    if (v && !json_is_object(v) && !json_is_array(v)) {
        json_decref(v);
        v = NULL;
        snprintf(why, sizeof why, "the body must be a JSON object");
    }
    if (!v)
        kapi_fail(r, 400, "BadRequest", "the request body is not valid: %s", why);
    return v;
}

void kapi_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int kapi_random(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

void kapi_uuid(char *buf, size_t n)
{
    unsigned char b[16] = {0};
    kapi_random(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

void kapi_sha256_hex(const char *text, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
