/* stats.c — the live service's gauges, rendered into the REST /metrics
 * (live.h): what an operator watches to size the event store's volume and
 * to see how many clients follow sessions. */
#include <event2/buffer.h>

#include "live/live_int.h"

void live_metrics_render(const struct live *l, struct evbuffer *b)
{
    evbuffer_add_printf(
        b,
        "# HELP ambient_live_subscribers WebSocket and SSE streams following an object's event log.\n"
        "# TYPE ambient_live_subscribers gauge\n"
        "ambient_live_subscribers %zu\n"
        "# HELP ambient_live_store_bytes Bytes the event store holds.\n"
        "# TYPE ambient_live_store_bytes gauge\n"
        "ambient_live_store_bytes %llu\n"
        "# HELP ambient_live_store_max_bytes The event store's limit (api.live.max_store).\n"
        "# TYPE ambient_live_store_max_bytes gauge\n"
        "ambient_live_store_max_bytes %llu\n",
        atomic_load(&l->subscribers), (unsigned long long)atomic_load(&l->store_bytes),
        (unsigned long long)l->max_store);
    live_langfuse_metrics(l, b);
}
