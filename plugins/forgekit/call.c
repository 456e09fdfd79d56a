/* call.c — one JSON exchange with a forge's API over host->http, and the
 * error a failed answer makes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forgekit.h"

#define DEFAULT_MAX_RESPONSE (4u << 20)
#define MAX_FORGE_MESSAGE 300

int fk_call(const struct fk_env *env, const struct fk_call *call, struct fk_answer *out,
            struct amb_error *err)
{
    const struct amb_host *h = env->host;
    const char *headers[FK_MAX_HEADERS + 3];
    size_t n = 0;
    memset(out, 0, sizeof *out);
    for (; call->headers && call->headers[n]; n++) {
        if (n == FK_MAX_HEADERS)
            return h->error_set(err, AMB_EINTERNAL, NULL, "more than %d headers",
                                FK_MAX_HEADERS);
        headers[n] = call->headers[n];
    }
    /* GitHub refuses requests without a User-Agent; libcurl sends none */
    headers[n++] = "User-Agent: ambient";
    char *body = NULL;
    if (call->body) {
        headers[n++] = "Content-Type: application/json";
        body = json_dumps(call->body, JSON_COMPACT);
        if (!body)
            return h->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    }
    headers[n] = NULL;
    struct amb_http_request req = {
        .size = sizeof req, .method = call->method, .url = call->url, .headers = headers,
        .body = body, .body_len = body ? strlen(body) : 0, .timeout_ms = call->timeout_ms,
        .max_response = call->max_response ? call->max_response : DEFAULT_MAX_RESPONSE,
        .max_retries = call->max_retries, .max_wait_s = call->max_wait_s,
    };
    struct amb_http_response *resp = NULL;
    int rc = h->http(env->self, &req, &resp, err);
    free(body);
    if (rc != AMB_OK)
        return rc;
    out->status = resp->status;
    out->headers = json_incref(resp->headers);
    if (resp->body_len > 0) {
        json_error_t jerr;
        out->json = json_loadb(resp->body, resp->body_len, JSON_DECODE_ANY, &jerr);
        if (!out->json)
            rc = h->error_set(err, AMB_EIO, NULL, "%s %s answered HTTP %ld with a body that "
                              "is not JSON", call->method, call->url, resp->status);
    }
    h->http_response_free(resp);
    if (rc != AMB_OK)
        fk_answer_clear(out);
    return rc;
}

void fk_answer_clear(struct fk_answer *a)
{
    json_decref(a->headers);
    json_decref(a->json);
    memset(a, 0, sizeof *a);
}

const char *fk_answer_header(const struct fk_answer *a, const char *name)
{
    return json_string_value(json_object_get(a->headers, name));
}

int fk_status_code(long status)
{
    switch (status) {
    case 401: return AMB_EUNAUTHORIZED;
    case 403: return AMB_EFORBIDDEN;
    case 404: return AMB_ENOTFOUND;
    case 409: return AMB_ECONFLICT;
    case 422: return AMB_EINVAL;
    case 429: return AMB_EUNAVAILABLE;
    default: return status >= 500 ? AMB_EUNAVAILABLE : AMB_EIO;
    }
}

int fk_answer_error(const struct fk_env *env, struct amb_error *err, const struct fk_answer *a,
                    const char *what)
{
    return fk_answer_error_as(env, err, fk_status_code(a->status), a, what);
}

int fk_answer_error_as(const struct fk_env *env, struct amb_error *err, int code,
                       const struct fk_answer *a, const char *what)
{
    char msg[MAX_FORGE_MESSAGE + 1] = "";
    const char *m = json_string_value(json_object_get(a->json, "message"));
    if (!m)
        m = json_string_value(json_object_get(a->json, "error"));
    if (m) {
        snprintf(msg, sizeof msg, "%s", m);
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    }
    return env->host->error_set(err, code, NULL, "%s: HTTP %ld%s%s", what,
                                a->status, msg[0] ? ": " : "", msg);
}
