/* fuzz_json_parse.c — the informer's in-place JSON parser
 * (core/src/json_parse.c) against jansson on the same bytes: what it
 * accepts jansson accepts, as an equal value, and it accepts what jansson
 * does but for nesting past AMBD_JSON_MAX_DEPTH (jansson allows deeper),
 * a NUL byte (jansson takes one as the end of the text) and a duplicate
 * key (jansson keeps the last; this parser refuses); and the member and
 * element walks hand out value texts that parse on their own to what the
 * whole parse holds under that key or index. An object is also skimmed
 * (core/src/object_skim.c) as the informer does: keeping everything it
 * equals the whole parse without metadata.managedFields, and so does the
 * text with the skim's cut taken out; keeping a few members it accepts
 * what the whole parse accepts, and builds those members equal to it. The
 * input is copied into a heap block of its exact size, so a read past its
 * end is an ASan report. */
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "json_parse-internal.h"
#include "object_skim-internal.h"

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

/* The whole parse (an object) next to its skims. */
static void check_skims(const json_t *mine, const char *text, size_t size)
{
    static const char *const keep[] = {"status", "spec.model", "metadata.ownerReferences", NULL};
    json_t *want = json_deep_copy(mine);
    json_t *meta = json_object_get(want, "metadata");
    if (json_is_object(meta))
        json_object_del(meta, "managedFields");
    struct ambd_skim sk;
    struct ambd_json_error err;
    CHECK(ambd_skim_object(text, size, NULL, &sk, &err) == 0);
    CHECK(sk.len <= size && json_equal(sk.obj, want));
    if (sk.cut_len) {
        CHECK(sk.cut_at + sk.cut_len <= sk.len);
        char *rest = malloc(sk.len - sk.cut_len + 1);
        if (rest) {
            memcpy(rest, text, sk.cut_at);
            memcpy(rest + sk.cut_at, text + sk.cut_at + sk.cut_len, sk.len - sk.cut_at - sk.cut_len);
            json_t *again = ambd_json_parse(rest, sk.len - sk.cut_len, NULL);
            CHECK(again && json_equal(again, want));
            json_decref(again);
            free(rest);
        }
    }
    json_decref(sk.obj);
    CHECK(ambd_skim_object(text, size, keep, &sk, &err) == 0);
    const char *k;
    json_t *v;
    json_object_foreach(sk.obj, k, v) {
        json_t *whole = json_object_get(want, k);
        if (!strcmp(k, "metadata") || !strcmp(k, "spec")) {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2) CHECK(json_equal(v2, json_object_get(whole, k2)));
        } else {
            CHECK(json_equal(v, whole));
        }
    }
    json_decref(sk.obj);
    json_decref(want);
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
        if (json_is_object(mine))
            check_skims(mine, text, size);
    } else if (!mine) {
        CHECK(err.offset <= size);
    }
    json_decref(mine);
    json_decref(theirs);
    free(text);
    return 0;
}
