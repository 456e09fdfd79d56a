/* local_listen.h — the three ports of laptop mode from one --listen: REST
 * on it, the live service on the next port, the local Kubernetes API on the
 * one after (port 0: each on any free port). */
#ifndef AMBIENT_LOCAL_LISTEN_H
#define AMBIENT_LOCAL_LISTEN_H

#include <stddef.h>

struct local_ports {
    char host[256];        /* as given, without brackets */
    unsigned short api;    /* never 0 once resolved */
    unsigned short live;   /* never 0 once resolved */
    unsigned short kube;   /* 0: the local Kubernetes API picks one */
    int loopback;          /* host is 127.0.0.0/8, ::1 or localhost */
};

/* Parses listen ("host:port", "[v6]:port") and picks the ports. With port
 * 0 the REST and live ports are found free now (the api plugin binds them
 * a moment later: agenticsession.api_url must name the live port before
 * it starts). 0, or -1 with a message in err. */
int local_ports_resolve(const char *listen, struct local_ports *out, char *err, size_t err_len);

/* "host:port" with brackets around an IPv6 host, into buf. */
void local_ports_format(const char *host, unsigned short port, char *buf, size_t len);

#endif
