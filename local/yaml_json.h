/* yaml_json.h — YAML documents as JSON values (libyaml), for the CRD and
 * RBAC files applied at start and kubectl's apply-patch+yaml bodies. */
#ifndef AMBIENT_LOCAL_YAML_JSON_H
#define AMBIENT_LOCAL_YAML_JSON_H

#include <stddef.h>

#include <jansson.h>

/* Every document of text (len bytes) as a JSON array (empty documents
 * skipped); NULL with a message naming the line in err when it is not
 * YAML, nests deeper than 64, or uses aliases. */
json_t *yaml_to_json(const char *text, size_t len, char *err, size_t err_len);

#endif
