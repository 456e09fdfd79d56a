/* route.c — which live route a request asks for: the project, the kind
 * whose event log its path addresses (by the kind's REST segment), the
 * object's name and the route for its method. Loop thread only. */
#include <string.h>

#include "live/conn_int.h"

/* ---- routing ---- */

/* "/api/projects/P/<segment>/N/TAIL" into project, the kind whose event
 * log <segment> addresses, name and the route for method; 0, or 404/405
 * (allow set). Invalid names are 404: no such object can exist. */
int conn_route(struct live_conn *c, const char **allow)
{
    const char *p = c->req.path;
    *allow = NULL;
    if (strncmp(p, LIVE_PREFIX, sizeof LIVE_PREFIX - 1) != 0)
        return 404;
    p += sizeof LIVE_PREFIX - 1;
    const char *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= sizeof c->project)
        return 404;
    memcpy(c->project, p, (size_t)(slash - p));
    c->project[slash - p] = '\0';
    p = slash;
    c->kind = NULL;
    for (size_t i = 0; i < c->l->n_kinds && !c->kind; i++) {
        size_t n = strlen(c->l->kinds[i].segment);
        if (strncmp(p + 1, c->l->kinds[i].segment, n) == 0 && p[1 + n] == '/')
            c->kind = &c->l->kinds[i];
    }
    if (!c->kind)
        return 404;
    p += 1 + strlen(c->kind->segment) + 1;
    slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= sizeof c->name)
        return 404;
    memcpy(c->name, p, (size_t)(slash - p));
    c->name[slash - p] = '\0';
    const char *tail = slash + 1;
    if (!amb_is_dns_label(c->project) || !amb_is_dns_subdomain(c->name))
        return 404;
    const char *m = c->req.method;
    if (strcmp(tail, "ws") == 0) {
        *allow = "GET";
        if (strcmp(m, "GET") != 0)
            return 405;
        c->route = LR_WS;
    } else if (strcmp(tail, "events") == 0) {
        *allow = "GET, POST";
        if (strcmp(m, "GET") == 0)
            c->route = LR_SSE;
        else if (strcmp(m, "POST") == 0)
            c->route = LR_POST_EVENTS;
        else
            return 405;
    } else if (strcmp(tail, "messages") == 0) {
        *allow = "GET, POST";
        if (strcmp(m, "GET") == 0)
            c->route = LR_GET_MESSAGES;
        else if (strcmp(m, "POST") == 0)
            c->route = LR_POST_MESSAGE;
        else
            return 405;
    } else {
        return 404;
    }
    return 0;
}
