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
 * It accepts exactly RFC 8259 JSON in UTF-8, as jansson does by default:
 * no NUL (\u0000) in strings, no duplicate keys, integers that fit a
 * json_int_t, finite reals, nesting at most AMBD_JSON_MAX_DEPTH deep. */
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

/* Called for each member of an object: its key (decoded, NUL-terminated)
 * and its value's text (validated, without surrounding whitespace). Return
 * 0 to go on, a positive value to stop the walk (which then returns it). */
typedef int (*ambd_json_member_fn)(void *ud, const char *key, const char *value, size_t len);
/* Called for each element of an array, likewise. */
typedef int (*ambd_json_element_fn)(void *ud, const char *value, size_t len);

/* Walk the object (array) text[0..len) holds. Returns 0 when the whole
 * text was valid and walked, the callback's non-zero value when it stopped
 * the walk, or -1 with *err filled when the text is not valid JSON (the
 * callback may have been called for the members before the fault). */
int ambd_json_each_member(const char *text, size_t len, ambd_json_member_fn fn, void *ud,
                          struct ambd_json_error *err);
int ambd_json_each_element(const char *text, size_t len, ambd_json_element_fn fn, void *ud,
                           struct ambd_json_error *err);

#endif
