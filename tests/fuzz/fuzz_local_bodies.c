/* fuzz_local_bodies.c — what the local Kubernetes API (local/) parses from
 * a client before anything is stored: protobuf bodies of kubectl's typed
 * commands (protobuf.c), YAML bodies and files (yaml_json.c), label and
 * field selectors (kubeapi_select.c) and JSON patches (merge_patch.c).
 *
 * Promises checked: a decoded protobuf body is an object with a kind; YAML
 * gives an array or NULL with a message; a selector that parses can be
 * matched; a JSON patch leaves a value or fails, never half a value.
 *
 * Input: byte 0 picks the parser; the rest is its input (for a JSON patch:
 * the document, a newline, the operations). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kubeapi.h"
#include "yaml_json.h"

static void protobuf(const char *d, size_t n)
{
    char why[200];
    json_t *obj = kapi_protobuf_decode(d, n, why, sizeof why);
    CHECK(obj ? json_is_object(obj) && json_is_string(json_object_get(obj, "kind")) : why[0]);
    json_decref(obj);
}

static void yaml(const char *d, size_t n)
{
    char why[200] = "";
    json_t *docs = yaml_to_json(d, n, why, sizeof why);
    CHECK(docs ? json_is_array(docs) : why[0] != '\0');
    json_decref(docs);
}

static void selector(const char *d, size_t n)
{
    /* not strndup: with strict_string_checks ASan reads the source as a
     * NUL-terminated string, which fuzz input is not */
    char *text = malloc(n + 1);
    if (!text)
        return;
    memcpy(text, d, n);
    text[n] = '\0';
    const char *nl = strchr(text, '\n');
    const char *problem = NULL;
    char *fields = nl ? text + (nl - text) + 1 : NULL;
    if (nl)
        text[nl - text] = '\0';
    struct kselector *s = kapi_selector_parse(text, fields, &problem);
    CHECK(s || problem);
    json_t *obj = json_pack("{s:{s:s, s:s, s:{s:s, s:s}}, s:{s:s}}", "metadata", "name", "a",
                            "namespace", "b", "labels", "app", "x", "n", "5", "status", "phase",
                            "Running");
    kapi_selector_match(s, obj);
    json_decref(obj);
    kapi_selector_free(s);
    free(text);
}

static void json_patch(const char *d, size_t n)
{
    const char *nl = memchr(d, '\n', n);
    if (!nl)
        return;
    json_t *doc = json_loadb(d, (size_t)(nl - d), JSON_DECODE_ANY, NULL);
    json_t *ops = json_loadb(nl + 1, n - (size_t)(nl - d) - 1, 0, NULL);
    const char *problem = NULL;
    if (doc && ops) {
        int rc = kapi_json_patch(&doc, ops, &problem);
        CHECK(doc && (rc == 0 || problem));
        if (json_is_object(doc) && json_is_object(ops))
            kapi_merge_patch(doc, ops);
    }
    json_decref(doc);
    json_decref(ops);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
        protobuf(d, n);
        break;
    case 1:
        yaml(d, n);
        break;
    case 2:
        selector(d, n);
        break;
    default:
        json_patch(d, n);
        break;
    }
    return 0;
}
