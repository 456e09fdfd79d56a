/* test_host_http.c — host->http (ABI 1.4) against a scripted HTTP server on
 * 127.0.0.1 in a thread: what is refused before any connection, retries of
 * 503 and 429 (Retry-After honoured, or handed back when it is too long),
 * the response size limit, deadlines, and headers as the plugin reads them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "error-internal.h"
#include "host-http-internal.h"
#include "testutil.h"

#define MAX_SCRIPT 4

/* Answers the i-th connection with script[i] (NULL: read, then never
 * answer until the client gives up), one request per connection. */
struct server {
    int fd;
    unsigned short port;
    const char *script[MAX_SCRIPT];
    int n_script;
    int served;
    char last_request[4096];
    pthread_t tid;
};

static void *serve(void *ud)
{
    struct server *s = ud;
    for (int i = 0; i < s->n_script; i++) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        struct timeval tv = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = recv(c, s->last_request, sizeof s->last_request - 1, 0);
        s->last_request[n > 0 ? n : 0] = '\0';
        s->served++;
        if (s->script[i])
            send(c, s->script[i], strlen(s->script[i]), MSG_NOSIGNAL);
        else
            recv(c, s->last_request + (n > 0 ? n : 0), 1, 0); /* until the client closes */
        close(c);
    }
    return NULL;
}

static void server_start(struct server *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(pthread_create(&s->tid, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->tid, NULL);
    close(s->fd);
}

static int call(const char *method, const char *url, const char *const *headers, unsigned retries,
                unsigned max_wait_s, size_t max_response, unsigned timeout_ms,
                struct amb_http_response **out, struct amb_error *err)
{
    struct amb_http_request req = {
        .size = sizeof req, .method = method, .url = url, .headers = headers,
        .body = strcmp(method, "POST") == 0 ? "{\"a\":1}" : NULL,
        .body_len = strcmp(method, "POST") == 0 ? 7 : 0, .timeout_ms = timeout_ms,
        .max_response = max_response, .max_retries = retries, .max_wait_s = max_wait_s};
    return ambd_http_exchange("test", &req, out, err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void refused_before_connecting(void **state)
{
    (void)state;
    const char *const crlf[] = {"X-A: b\r\nX-Injected: 1", NULL};
    struct {
        const char *method, *url;
        const char *const *headers;
        const char *field;
    } cases[] = {
        {"GET", "http://example.com/x", NULL, "url"},       /* plain http off loopback */
        {"GET", "ftp://127.0.0.1/x", NULL, "url"},
        {"GET", "https://u:pw@127.0.0.1/x", NULL, "url"},   /* credentials in the URL */
        {"GET", "not a url", NULL, "url"},
        {"BREW", "https://127.0.0.1/x", NULL, "method"},
        {"GET", "http://127.0.0.1:1/x", crlf, "headers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct amb_error err = AMBD_ERROR_INIT;
        struct amb_http_response *resp = (void *)1;
        int rc = call(cases[i].method, cases[i].url, cases[i].headers, 0, 0, 0, 0, &resp, &err);
        assert_int_equal(rc, AMB_EINVAL);
        assert_null(resp);
        assert_int_equal(err.n_causes, 1);
        assert_string_equal(err.causes[0].field, cases[i].field);
        ambd_error_clear(&err);
    }
}

static void answer_with_headers_and_body(void **state)
{
    (void)state;
    struct server s = {.n_script = 1,
                       .script = {"HTTP/1.1 201 Created\r\nX-Next-Page: 2\r\nContent-Length: 11\r\n"
                                  "Connection: close\r\n\r\n{\"id\": 42}\n"}};
    server_start(&s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v4/projects", s.port);
    const char *const headers[] = {"PRIVATE-TOKEN: glpat-secret-value-1", NULL};
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_http_response *resp = NULL;
    assert_int_equal(call("POST", url, headers, 0, 0, 0, 0, &resp, &err), AMB_OK);
    assert_int_equal(resp->status, 201);
    assert_string_equal(json_string_value(json_object_get(resp->headers, "x-next-page")), "2");
    assert_int_equal(resp->body_len, 11);
    assert_string_equal(resp->body, "{\"id\": 42}\n");
    assert_non_null(strstr(s.last_request, "POST /api/v4/projects HTTP/1.1"));
    assert_non_null(strstr(s.last_request, "PRIVATE-TOKEN: glpat-secret-value-1"));
    assert_non_null(strstr(s.last_request, "{\"a\":1}"));
    ambd_http_response_free(resp);
    server_stop(&s);
}

static void unavailable_then_ok_is_retried(void **state)
{
    (void)state;
    struct server s = {.n_script = 2,
                       .script = {"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n",
                                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}};
    server_start(&s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", s.port);
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_http_response *resp = NULL;
    assert_int_equal(call("GET", url, NULL, 2, 0, 0, 0, &resp, &err), AMB_OK);
    assert_int_equal(resp->status, 200);
    assert_int_equal(s.served, 2);
    ambd_http_response_free(resp);
    server_stop(&s);
}

static void retry_after_is_honoured_or_handed_back(void **state)
{
    (void)state;
    struct server s = {.n_script = 3,
                       .script = {"HTTP/1.1 429 Slow down\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
                                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                                  "HTTP/1.1 429 Slow down\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n"}};
    server_start(&s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", s.port);
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_http_response *resp = NULL;
    double t0 = now_s();
    assert_int_equal(call("GET", url, NULL, 3, 5, 0, 0, &resp, &err), AMB_OK);
    assert_int_equal(resp->status, 200);
    assert_true(now_s() - t0 >= 0.9); /* waited as asked */
    ambd_http_response_free(resp);
    /* Longer than the caller will wait: the 429 comes back at once. */
    t0 = now_s();
    assert_int_equal(call("GET", url, NULL, 3, 5, 0, 0, &resp, &err), AMB_OK);
    assert_int_equal(resp->status, 429);
    assert_string_equal(json_string_value(json_object_get(resp->headers, "retry-after")), "120");
    assert_true(now_s() - t0 < 5);
    assert_int_equal(s.served, 3);
    ambd_http_response_free(resp);
    server_stop(&s);
}

static void too_large_and_too_slow_are_errors(void **state)
{
    (void)state;
    struct server s = {.n_script = 2,
                       .script = {"HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n", NULL}};
    static char big[2200];
    memset(big, 0, sizeof big);
    strcpy(big, s.script[0]);
    memset(big + strlen(big), 'x', 2048);
    s.script[0] = big;
    server_start(&s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", s.port);
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_http_response *resp = NULL;
    assert_int_equal(call("GET", url, NULL, 0, 0, 1024, 0, &resp, &err), AMB_ETOOLARGE);
    assert_null(resp);
    ambd_error_clear(&err);
    double t0 = now_s();
    assert_int_equal(call("GET", url, NULL, 0, 0, 0, 300, &resp, &err), AMB_ETIMEDOUT);
    assert_true(now_s() - t0 < 2);
    ambd_error_clear(&err);
    server_stop(&s);
}

static void nobody_listening_is_unavailable(void **state)
{
    (void)state;
    struct server s = {.n_script = 0};
    server_start(&s);
    unsigned short port = s.port;
    server_stop(&s); /* the port is free again: nothing answers */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
    struct amb_error err = AMBD_ERROR_INIT;
    struct amb_http_response *resp = NULL;
    assert_int_equal(call("GET", url, NULL, 1, 0, 0, 0, &resp, &err), AMB_EUNAVAILABLE);
    assert_null(resp);
    ambd_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_before_connecting),
        cmocka_unit_test(answer_with_headers_and_body),
        cmocka_unit_test(unavailable_then_ok_is_retried),
        cmocka_unit_test(retry_after_is_honoured_or_handed_back),
        cmocka_unit_test(too_large_and_too_slow_are_errors),
        cmocka_unit_test(nobody_listening_is_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
