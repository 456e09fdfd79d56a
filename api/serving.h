/* serving.h — internals of the REST serving layer of api.so shared by
 * plugin.c, server.c, router.c, reply.c and routes_health.c (not by the
 * route files, which see api.h only). */
#ifndef AMBIENT_API_SERVING_H
#define AMBIENT_API_SERVING_H

#include <stddef.h>

#include "api.h"

/* Longest request path (decoded) we route; longer gets 414. */
#define API_MAX_PATH 4096

/* ---- server.c ---- */
/* Binds api->cfg.listen and starts cfg.threads loop threads serving
 * api->router; every request carries api (which must outlive the server).
 * Main thread. */
int api_server_start(struct api *api, struct api_server **out, struct amb_error *err);
/* Stops accepting, lets requests in flight finish (bounded), joins the
 * threads. Main thread; idempotent. */
void api_server_stop(struct api_server *s);
void api_server_free(struct api_server *s);
/* "127.0.0.1:PORT" actually bound. */
const char *api_server_address(const struct api_server *s);
/* Adds the headers every reply of r carries (CORS, Connection: close while
 * stopping). Called by reply.c just before a reply is sent. */
void api_server_decorate(struct api_req *r);
/* Sends r's reply (evhttp_send_reply) and writes it out at once. */
void api_server_send(struct api_req *r, int status, struct evbuffer *body);

/* ---- path.c ---- */
/* Strict percent-decoding of a request path: rejects a bad or truncated %
 * escape, an encoded NUL or '/', a raw NUL, "//", and any ".." segment or
 * "..". Writes at most out_len bytes including the NUL. Returns 0, or -1
 * with *why set to a static reason. */
int api_path_decode(const char *raw, char *out, size_t out_len, const char **why);

/* Splits "host:port" or "[v6]:port" into host (brackets removed) and port.
 * Returns 0 or -1. */
int api_split_hostport(const char *s, char *host, size_t host_len, unsigned *port);

/* The plugin's version string (its descriptor, /api/version). */
#define API_PLUGIN_VERSION "0.1.0"

/* ---- route_metrics.c: the api's own metrics (any thread) ---- */
void api_metrics_in_flight(int delta);
/* route: the matched route's pattern, NULL when none matched. */
void api_metrics_record(const char *method, const char *route, int status, double seconds);
void api_metrics_render(struct evbuffer *b);

/* ---- reply.c ---- */
/* Sends r's reply with body (may be NULL) and content type (NULL: none).
 * Only the first reply counts. Used for non-JSON replies. */
void api_reply_raw(struct api_req *r, int status, const char *content_type, const char *body,
                   size_t len);

#endif
