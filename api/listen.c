/* listen.c — what both listeners of api.so (REST and live) are made of: a
 * listening socket for "host:port" (non-blocking, close-on-exec, the
 * address actually bound reported), the server TLS context of api.tls, and
 * a connection's bufferevent, plain or speaking TLS. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "serving.h"

/* ---- listening ---- */

int api_listen_socket(const char *listen_at, const char *key, int *out,
                      char *address, size_t address_len, struct amb_error *err)
{
    char host[256], port_s[8];
    unsigned port;
    if (api_split_hostport(listen_at, host, sizeof host, &port) != 0)
        return api_host->error_set(err, AMB_EINVAL, key, "not host:port");
    snprintf(port_s, sizeof port_s, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, port_s, &hints, &ai);
    if (g != 0)
        return api_host->error_set(err, AMB_EINVAL, key, "cannot resolve %s: %s", host,
                                   gai_strerror(g));
    int fd = -1, saved = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 512) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return api_host->error_set(err, AMB_EIO, key, "cannot listen on %s: %s",
                                   listen_at, strerror(saved));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h[NI_MAXHOST] = "?", p[NI_MAXSERV] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
                     NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(address, address_len, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, p);
    *out = fd;
    return AMB_OK;
}

/* ---- TLS ---- */

struct bufferevent *api_bufferevent(struct event_base *base, int fd, SSL_CTX *ssl)
{
    if (!ssl)
        return bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    SSL *s = SSL_new(ssl);
    if (!s)
        return NULL;
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, fd, s, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(s);
        return NULL;
    }
    /* A client that just closes the socket (no close_notify) is common. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

int api_tls_context(const struct api_config *cfg, SSL_CTX **out, struct amb_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return api_host->error_set(err, AMB_ENOMEM, NULL, "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    const char *what = NULL, *field = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1)
        what = "cannot load the certificate", field = "api.tls.cert_file";
    else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1)
        what = "cannot load the private key", field = "api.tls.key_file";
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "the private key does not match the certificate", field = "api.tls.key_file";
    if (what) {
        char detail[256];
        ERR_error_string_n(ERR_get_error(), detail, sizeof detail);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return api_host->error_set(err, AMB_EINVAL, field, "%s: %s", what, detail);
    }
    *out = ctx;
    return AMB_OK;
}
