/* live.h — the live-update service of api.so: the append-only event store
 * of every session, and the streams that read it (WebSocket, SSE), on its
 * own listener (api.live.listen) and loop thread. See live/README.md. */
#ifndef AMBIENT_API_LIVE_H
#define AMBIENT_API_LIVE_H

#include "api.h"

struct live;

/* Binds cfg->live_listen, opens cfg->live_dir, subscribes to the watches
 * of the kinds with an event log (kind_watch.h; start them after) and
 * starts the loop and auth threads. Main thread. */
struct kind_watches;
int live_start(const struct api_config *cfg, struct api_auth *auth,
               struct kind_watches *watches, struct live **out, struct amb_error *err);
/* Stops accepting, ends every stream with a close frame or the end of the
 * SSE response, lets posts in flight finish, joins the threads. */
void live_stop(struct live *l);
void live_free(struct live *l);
/* The "host:port" the live listener is bound to ("" for NULL). */
const char *live_address(const struct live *l);
/* Appends the live service's gauges to a Prometheus text: streams open
 * (ambient_live_subscribers), the event store's bytes and its limit
 * (ambient_live_store_bytes, ambient_live_store_max_bytes). Any thread. */
struct evbuffer;
void live_metrics_render(const struct live *l, struct evbuffer *b);

#endif
