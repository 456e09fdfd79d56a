/* local_listen.c — laptop mode's ports (local_listen.h). */
#include "local_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "controller-internal.h" /* ambd_split_listen */

static int is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (!strcmp(host, "localhost"))
        return 1;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* A port free on host right now. */
static int free_port(const char *host, unsigned short *out, char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, "0", &hints, &ai);
    if (g != 0) {
        snprintf(err, err_len, "--listen: cannot resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int ok = fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
             getsockname(fd, (struct sockaddr *)&ss, &len) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    if (!ok) {
        snprintf(err, err_len, "--listen: cannot bind %s: %s", host, strerror(saved));
        return -1;
    }
    *out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

int local_ports_resolve(const char *listen, struct local_ports *out, char *err, size_t err_len)
{
    unsigned short port;
    memset(out, 0, sizeof *out);
    if (ambd_split_listen(listen, out->host, sizeof out->host, &port) != 0) {
        snprintf(err, err_len, "--listen: \"%s\" is not host:port (e.g. 127.0.0.1:8080)", listen);
        return -1;
    }
    out->loopback = is_loopback(out->host);
    if (port == 0) {
        if (free_port(out->host, &out->api, err, err_len) != 0)
            return -1;
        /* The kernel may hand out the port just closed again. */
        for (int tries = 0; tries < 8 && (!out->live || out->live == out->api); tries++) {
            if (free_port(out->host, &out->live, err, err_len) != 0)
                return -1;
        }
        return out->live != out->api ? 0 : (snprintf(err, err_len, "--listen: no second free port"), -1);
    }
    if (port > 65535 - 2) {
        snprintf(err, err_len, "--listen: port %u leaves no room for the live and Kubernetes "
                               "ports after it (at most 65533)", port);
        return -1;
    }
    out->api = port;
    out->live = (unsigned short)(port + 1);
    out->kube = (unsigned short)(port + 2);
    return 0;
}

void local_ports_format(const char *host, unsigned short port, char *buf, size_t len)
{
    snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}
