/* registry-internal.h — what plugins registered: kinds, forges and routes.
 * Entries are deep copies owned by the registry, each with the user data the
 * plugin handed over; later roles (controller, api) read them. */
#ifndef AMBD_REGISTRY_INTERNAL_H
#define AMBD_REGISTRY_INTERNAL_H

#include <stddef.h>

#include "ambient/plugin.h"

struct ambd_owned_data {
    const struct amb_module *owner;
    const char *owner_name; /* borrowed from the module */
    void *user_data;
    void (*free_user_data)(void *);
};

struct ambd_kind_entry {
    struct amb_kind kind; /* strings and owns[] point into this entry */
    struct ambd_owned_data data;
};

struct ambd_forge_entry {
    struct amb_forge forge;
    struct ambd_owned_data data;
};

struct ambd_route_entry {
    struct amb_route route;
    struct ambd_owned_data data;
};

struct ambd_registry {
    struct ambd_kind_entry **kinds;
    size_t n_kinds;
    struct ambd_forge_entry **forges;
    size_t n_forges;
    struct ambd_route_entry **routes;
    size_t n_routes;
};

/* Each add validates and copies the struct. On failure it returns a negative
 * code with the reason in err, and has already called free_user_data. */
int ambd_registry_add_kind(struct ambd_registry *r, struct ambd_owned_data data,
                           const struct amb_kind *kind, struct amb_error *err);
int ambd_registry_add_forge(struct ambd_registry *r, struct ambd_owned_data data,
                            const struct amb_forge *forge, struct amb_error *err);
int ambd_registry_add_route(struct ambd_registry *r, struct ambd_owned_data data,
                            const struct amb_route *route, struct amb_error *err);

/* Removes everything owner registered, freeing its user data (once). */
void ambd_registry_release_owner(struct ambd_registry *r, const struct amb_module *owner);

/* The first forge whose match_url says 1 for url; NULL when none. */
const struct ambd_forge_entry *ambd_registry_forge_for_url(const struct ambd_registry *r,
                                                           const char *url);

const struct ambd_kind_entry *ambd_registry_find_kind(const struct ambd_registry *r,
                                                      const char *group, const char *kind);

#endif
