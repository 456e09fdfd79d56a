/* probe.c — a tiny shared library with one exported function per public type
 * of ambient/plugin.h, so abidw records each type's layout. check_abi.sh
 * compares it with the recorded baselines. A new public type gets a new
 * probe function (an added function is a compatible change). */
#include <ambient/plugin.h>

#define PROBE(name, type)                    \
    AMB_EXPORT void amb_abi_probe_##name(type); \
    AMB_EXPORT void amb_abi_probe_##name(type v) { (void)v; }

PROBE(host, const struct amb_host *)
PROBE(plugin, const struct amb_plugin *)
PROBE(resource, const struct amb_resource *)
PROBE(kind, const struct amb_kind *)
PROBE(forge, const struct amb_forge *)
PROBE(route, const struct amb_route *)
PROBE(status, enum amb_status)
PROBE(log_level, enum amb_log_level)
PROBE(route_flags, enum amb_route_flags)
PROBE(entry, amb_plugin_entry_fn)
PROBE(http_request, const struct amb_http_request *)
PROBE(http_response, const struct amb_http_response *)
PROBE(kind_flags, enum amb_kind_flags)
PROBE(create_shape, const struct amb_create_shape *)
