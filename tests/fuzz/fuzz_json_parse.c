/* fuzz_json_parse.c — the informer's in-place JSON parser
 * (core/src/json_parse.c) against jansson on the same bytes: what it
 * accepts jansson accepts, as an equal value, and it accepts what jansson
 * does but for nesting past AMBD_JSON_MAX_DEPTH (jansson allows deeper),
 * a NUL byte (jansson takes one as the end of the text) and a duplicate
 * key (jansson keeps the last; this parser refuses); and the member and
 * element walks hand out value texts that parse on their own to what the
 * whole parse holds under that key or index. The input is copied into a
 * heap block of its exact size, so a read past its end is an ASan report. */
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "json_parse-internal.h"

static size_t depth_of(const json_t *v)
{
    size_t deepest = 0, i;
    const char *k;
    json_t *x;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) {
            size_t d = depth_of(x);
            deepest = d > deepest ? d : deepest;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            size_t d = depth_of(x);
            deepest = d > deepest ? d : deepest;
        }
    } else {
        return 0;
    }
    return deepest + 1;
}

struct walk {
    const json_t *whole;
    size_t index;
};

static void check_part(const json_t *want, const char *text, size_t len)
{
    json_t *part = ambd_json_parse(text, len, NULL);
    CHECK(part && json_equal(part, want));
    json_decref(part);
}

static int on_member(void *ud, const char *key, const char *value, size_t avail, size_t *used,
                     struct ambd_json_error *err)
{
    struct walk *w = ud;
    json_t *v = ambd_json_parse_prefix(value, avail, used, err);
    CHECK(v && json_equal(v, json_object_get(w->whole, key)));
    check_part(v, value, *used);
    json_decref(v);
    return 0;
}

static int on_element(void *ud, const char *value, size_t avail, size_t *used,
                      struct ambd_json_error *err)
{
    struct walk *w = ud;
    json_t *v = ambd_json_parse_prefix(value, avail, used, err);
    CHECK(v && json_equal(v, json_array_get(w->whole, w->index++)));
    json_decref(v);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    struct ambd_json_error err;
    json_t *mine = ambd_json_parse(text, size, &err);
    json_t *theirs = json_loadb(text, size, JSON_DECODE_ANY, NULL);
    if (mine)
        CHECK(theirs && json_equal(mine, theirs));
    int duplicate = !mine && strncmp(err.text, "duplicate key", 13) == 0;
    if (theirs && depth_of(theirs) <= AMBD_JSON_MAX_DEPTH && !memchr(text, '\0', size) &&
        !duplicate) {
        CHECK(mine);
        struct walk w = {theirs, 0};
        int rc = json_is_object(theirs)
                     ? ambd_json_each_member(text, size, NULL, on_member, &w, &err)
                 : json_is_array(theirs)
                     ? ambd_json_each_element(text, size, NULL, on_element, &w, &err)
                     : 0;
        CHECK(rc == 0);
    } else if (!mine) {
        CHECK(err.offset <= size);
    }
    json_decref(mine);
    json_decref(theirs);
    free(text);
    return 0;
}
