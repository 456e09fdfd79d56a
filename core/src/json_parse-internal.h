/* json_parse-internal.h — a strict JSON parser that reads straight from a
 * byte buffer into jansson values, and walks the members of an object or
 * the elements of an array handing out each value's own text.
 *
 * Why not json_loadb: jansson reads through a character stream with a
 * per-character UTF-8 state machine and string buffer, which made parsing
 * most of what the informer and the workers spent (perf: 64% of ambientd's
 * time on a 10,000-object sync and a 5,000-event backlog). This parser scans
 * strings in place and copies each once, and the walkers let the cache keep
 * the server's own text of each object instead of serialising it again.
 *
 * It accepts RFC 8259 JSON in UTF-8 as jansson does by default (no NUL,
 * \u0000, in strings, integers that fit a json_int_t, finite reals), nests
 * at most AMBD_JSON_MAX_DEPTH deep, and refuses duplicate keys, where
 * jansson would keep the last: one object, one meaning. */
#ifndef AMBD_JSON_PARSE_INTERNAL_H
#define AMBD_JSON_PARSE_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#define AMBD_JSON_MAX_DEPTH 256

/* Where and why a text was refused. */
struct ambd_json_error {
    size_t offset;
    char text[96];
};

/* The value text[0..len) holds (whitespace around it allowed), as a new
 * reference; NULL with *err filled (err may be NULL) when it is not valid. */
json_t *ambd_json_parse(const char *text, size_t len, struct ambd_json_error *err);

/* The value at the start of text[0..len) (whitespace before it allowed,
 * anything after it left alone), as a new reference, with *used set to
 * where it ends; NULL with *err filled when it is not valid. */
json_t *ambd_json_parse_prefix(const char *text, size_t len, size_t *used,
                               struct ambd_json_error *err);

/* Checks the value at the start of text[0..len) as ambd_json_parse_prefix
 * does, building nothing: 0 with *used set to where it ends, or -1 with
 * *err filled. */
int ambd_json_skip(const char *text, size_t len, size_t *used, struct ambd_json_error *err);

/* The walks hand each member of an object (element of an array) to a
 * callback with its key (decoded, NUL-terminated) and the text from its
 * value on, value[0..avail). The callback either reads the value itself
 * (ambd_json_parse_prefix, or a nested walk) and sets *used to its length,
 * or leaves *used at 0 for the walk to skip it (validating it). It returns
 * 0 to go on, or a positive value to stop the walk, which returns it;
 * -1 reports an error it put in err. So each byte is scanned once. */
typedef int (*ambd_json_member_fn)(void *ud, const char *key, const char *value, size_t avail,
                                   size_t *used, struct ambd_json_error *err);
typedef int (*ambd_json_element_fn)(void *ud, const char *value, size_t avail, size_t *used,
                                    struct ambd_json_error *err);

/* Walk the object (array) at the start of text[0..len). With used NULL the
 * text must hold nothing else; otherwise *used gets where it ends. Returns
 * 0 when it was valid and walked, the callback's positive value when it
 * stopped, or -1 with *err filled when the text is not valid JSON (the
 * callback may have seen members before the fault). */
int ambd_json_each_member(const char *text, size_t len, size_t *used, ambd_json_member_fn fn,
                          void *ud, struct ambd_json_error *err);
int ambd_json_each_element(const char *text, size_t len, size_t *used, ambd_json_element_fn fn,
                           void *ud, struct ambd_json_error *err);

#endif
