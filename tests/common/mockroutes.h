/* mockroutes.h — register_route for the mock hosts of the plugins' unit
 * tests: it records each route (method and pattern) as a real host would
 * accept it, and frees the user data at once (the routes are never served
 * here). */
#ifndef TESTS_MOCKROUTES_H
#define TESTS_MOCKROUTES_H

#include <stddef.h>

#include <ambient/plugin.h>

#define MOCK_ROUTES_MAX 32

int mock_register_route(struct amb_module *self, const struct amb_route *route, void *user_data,
                        void (*free_user_data)(void *));
/* Forgets the recorded routes. */
void mock_routes_reset(void);
size_t mock_routes_count(void);
/* "POST /api/projects/:project/..." of route i, or NULL past the end. */
const char *mock_route(size_t i);

#endif
