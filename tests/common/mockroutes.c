/* mockroutes.c — see mockroutes.h. */
#include "mockroutes.h"

#include <stdio.h>

static char routes[MOCK_ROUTES_MAX][256];
static size_t n_routes;

int mock_register_route(struct amb_module *self, const struct amb_route *route, void *user_data,
                        void (*free_user_data)(void *))
{
    (void)self;
    if (free_user_data)
        free_user_data(user_data);
    if (!route || route->size < sizeof *route || !route->method || !route->pattern ||
        !route->handler)
        return AMB_EINVAL;
    if (n_routes == MOCK_ROUTES_MAX)
        return AMB_ETOOLARGE;
    snprintf(routes[n_routes++], sizeof routes[0], "%s %s", route->method, route->pattern);
    return AMB_OK;
}

void mock_routes_reset(void) { n_routes = 0; }

size_t mock_routes_count(void) { return n_routes; }

const char *mock_route(size_t i) { return i < n_routes ? routes[i] : NULL; }
