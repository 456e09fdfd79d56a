/* host-http-internal.h — HTTP for plugins (host->http, ABI 1.4). */
#ifndef AMBD_HOST_HTTP_INTERNAL_H
#define AMBD_HOST_HTTP_INTERNAL_H

#include "ambient/plugin.h"
#include "metrics-internal.h"

/* One exchange as host->http documents it; plugin names the caller in
 * the log and the metric. Any thread. */
int ambd_http_exchange(const char *plugin, const struct amb_http_request *req,
                       struct amb_http_response **out, struct amb_error *err);
void ambd_http_response_free(struct amb_http_response *resp);
/* The counter answers are counted in ({plugin, code}); NULL: none. */
void ambd_host_http_set_metric(struct ambd_metric *requests);

#endif
