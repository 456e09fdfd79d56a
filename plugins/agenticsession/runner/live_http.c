/* live_http.c — what the runner's two conversations with the live service
 * (posting events, following user messages) share: the session token as a
 * bearer header, re-read when it rotates and wiped after use, and the
 * transfer options (TLS with the live service's CA, http(s) only, no
 * signals, a connect timeout), and the session's URLs there. */
#include <stdlib.h>
#include <string.h>

#include "buf-internal.h"
#include "kube-internal.h"
#include "runner.h"

char *runner_live_url(const struct runner_opts *o, const char *suffix)
{
    struct ambd_buf b = {0};
    size_t n = strlen(o->api_url);
    ambd_buf_printf(&b, "%.*s/api/projects/%s/agentic-sessions/%s/%s",
                    (int)(n && o->api_url[n - 1] == '/' ? n - 1 : n), o->api_url, o->ns, o->name,
                    suffix);
    return ambd_buf_take(&b);
}

struct curl_slist *runner_live_headers(struct ambd_kube *kube, const char *header)
{
    char *token = ambd_kube_token(kube);
    struct ambd_buf b = {0};
    ambd_buf_printf(&b, "Authorization: Bearer %s", token ? token : "");
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    char *line = ambd_buf_take(&b);
    struct curl_slist *h = curl_slist_append(NULL, header);
    h = curl_slist_append(h, line ? line : "");
    if (line) {
        explicit_bzero(line, strlen(line));
        free(line);
    }
    return h;
}

void runner_live_setup(CURL *h, const char *url, struct curl_slist *hdrs, const char *ca_file)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
}
