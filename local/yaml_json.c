/* yaml_json.c — YAML to JSON with libyaml's document loader. Plain scalars
 * resolve as the YAML 1.2 core schema does (null, booleans, integers,
 * floats); quoted ones stay strings. */
#include "yaml_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define MAX_DEPTH 64

static json_t *scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(v, len);
    if (len == 0 || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
        !strcmp(v, "NULL"))
        return json_null();
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        return json_true();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        return json_false();
    char *end = NULL;
    errno = 0;
    long long i = strtoll(v, &end, 10);
    if (end && end != v && *end == '\0' && errno == 0)
        return json_integer(i);
    double d = strtod(v, &end);
    if (end && end != v && *end == '\0' && strspn(v, "0123456789.eE+-") == len)
        return json_real(d);
    return json_stringn(v, len);
}

static json_t *convert(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    if (!n || depth > MAX_DEPTH)
        return NULL;
    if (n->type == YAML_SCALAR_NODE)
        return scalar(n);
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *arr = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             arr && it < n->data.sequence.items.top; it++) {
            json_t *v = convert(doc, yaml_document_get_node(doc, *it), depth + 1);
            if (!v || json_array_append_new(arr, v)) {
                json_decref(arr);
                return NULL;
            }
        }
        return arr;
    }
    json_t *obj = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         obj && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        json_t *v = convert(doc, yaml_document_get_node(doc, p->value), depth + 1);
        if (!k || k->type != YAML_SCALAR_NODE || !v) {
            json_decref(v);
            json_decref(obj);
            return NULL;
        }
        if (json_object_set_new(obj, (const char *)k->data.scalar.value, v)) {
            json_decref(obj); /* set_new took v either way */
            return NULL;
        }
    }
    return obj;
}

/* Aliases could make a small text expand without bound; none is needed. */
static int has_alias(const char *text, size_t len, char *err, size_t err_len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int found = 0, done = 0;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done && !found && yaml_parser_parse(&p, &ev)) {
        found = ev.type == YAML_ALIAS_EVENT;
        if (found)
            snprintf(err, err_len, "line %zu: YAML aliases are not accepted",
                     ev.start_mark.line + 1);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return found;
}

json_t *yaml_to_json(const char *text, size_t len, char *err, size_t err_len)
{
    if (has_alias(text, len, err, err_len))
        return NULL;
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    json_t *docs = json_array();
    while (docs) {
        yaml_document_t doc;
        if (!yaml_parser_load(&p, &doc)) {
            snprintf(err, err_len, "line %zu: %s", p.problem_mark.line + 1,
                     p.problem ? p.problem : "not YAML");
            json_decref(docs);
            docs = NULL;
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            yaml_document_delete(&doc);
            break; /* the end of the stream */
        }
        json_t *v = convert(&doc, root, 0);
        yaml_document_delete(&doc);
        if (!v) {
            snprintf(err, err_len, "nested deeper than %d levels, or a key is not a string",
                     MAX_DEPTH);
            json_decref(docs);
            docs = NULL;
        } else if (json_is_null(v)) {
            json_decref(v);
        } else {
            json_array_append_new(docs, v);
        }
    }
    yaml_parser_delete(&p);
    return docs;
}
