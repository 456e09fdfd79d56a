/* object_skim.c — see object_skim-internal.h. One walk over the object:
 * kept members are parsed, the others are only checked (by the walk), and
 * metadata is walked member by member so managedFields' place in the text
 * is known without building it. */
#include "object_skim-internal.h"

#include <stdio.h>
#include <string.h>

struct skim_walk {
    const char *const *keep;
    const char *text; /* the object's start: offsets count from here */
    json_t *obj;
    struct ambd_skim *out;
    json_t *into;         /* the member a nested walk builds */
    const char *parent;   /* its key */
    int meta_whole;        /* keep has all of metadata */
    const char *meta_open; /* past metadata's '{' */
    const char *prev_end;  /* where metadata's previous member ended */
};

static int refuse(struct ambd_json_error *err, const char *what, const char *key)
{
    err->offset = 0;
    snprintf(err->text, sizeof err->text, "%s \"%.40s\"", what, key);
    return -1;
}

/* Adds v (stolen) to obj under key, refusing a duplicate: told, as in
 * json_parse.c, by the size not growing (obj is then discarded). */
static int put(json_t *obj, const char *key, json_t *v, struct ambd_json_error *err)
{
    size_t before = json_object_size(obj);
    if (json_object_set_new_nocheck(obj, key, v) != 0)
        return refuse(err, "out of memory at", key);
    if (json_object_size(obj) == before)
        return refuse(err, "duplicate key", key);
    return 0;
}

/* These run for every member of every object sent: a first-byte test
 * spares most string compares. */
static int kept_whole(const char *const *keep, const char *key)
{
    if (!keep || !strcmp(key, "apiVersion") || !strcmp(key, "kind"))
        return 1;
    for (; *keep; keep++) {
        if (**keep == *key && !strcmp(*keep, key))
            return 1;
    }
    return 0;
}

/* keep names "key.child" (any child when child is NULL). */
static int kept_child(const char *const *keep, const char *key, const char *child)
{
    size_t n = strlen(key);
    for (; keep && *keep; keep++) {
        if (**keep == *key && !strncmp(*keep, key, n) && (*keep)[n] == '.' &&
            (!child || !strcmp(*keep + n + 1, child)))
            return 1;
    }
    return 0;
}

static const char *skip_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    return s;
}

/* metadata's members built for every informer; a switch first, as this
 * runs for each member of each object's metadata. */
static int meta_always(const char *key)
{
    switch (key[0]) {
    case 'n':
        return !strcmp(key, "name") || !strcmp(key, "namespace");
    case 'r':
        return !strcmp(key, "resourceVersion");
    default:
        return 0;
    }
}

/* managedFields is skipped, and its member marked for cutting: from the
 * end of the member before it, or, when it comes first, from past the '{'
 * through the comma after it. */
static int on_meta_member(void *ud, const char *key, const char *value, size_t avail,
                          size_t *used, struct ambd_json_error *err)
{
    struct skim_walk *w = ud;
    if (key[0] == 'm' && !strcmp(key, "managedFields")) {
        if (w->out->cut_len)
            return refuse(err, "duplicate key", key);
        if (ambd_json_skip(value, avail, used, err) != 0)
            return -1;
        const char *from = w->prev_end ? w->prev_end : w->meta_open, *to = value + *used;
        if (!w->prev_end) {
            const char *s = skip_ws(to, value + avail);
            if (s < value + avail && *s == ',')
                to = s + 1;
        }
        w->out->cut_at = (size_t)(from - w->text);
        w->out->cut_len = (size_t)(to - from);
    } else if (w->meta_whole || meta_always(key) || kept_child(w->keep, "metadata", key)) {
        json_t *v = ambd_json_parse_prefix(value, avail, used, err);
        if (!v || put(w->into, key, v, err) != 0)
            return -1;
    } else if (ambd_json_skip(value, avail, used, err) != 0) {
        return -1;
    }
    w->prev_end = value + *used;
    return 0;
}

static int on_child_member(void *ud, const char *key, const char *value, size_t avail,
                           size_t *used, struct ambd_json_error *err)
{
    struct skim_walk *w = ud;
    if (!kept_child(w->keep, w->parent, key))
        return 0;
    json_t *v = ambd_json_parse_prefix(value, avail, used, err);
    return v ? put(w->into, key, v, err) : -1;
}

/* Walks the object member at value with fn, building w->into. */
static json_t *nested(struct skim_walk *w, const char *key, const char *value, size_t avail,
                      size_t *used, ambd_json_member_fn fn, struct ambd_json_error *err)
{
    json_t *into = json_object();
    if (!into) {
        refuse(err, "out of memory at", key);
        return NULL;
    }
    w->into = into;
    w->parent = key;
    if (ambd_json_each_member(value, avail, used, fn, w, err) != 0) {
        json_decref(into);
        return NULL;
    }
    return into;
}

static int on_member(void *ud, const char *key, const char *value, size_t avail, size_t *used,
                     struct ambd_json_error *err)
{
    struct skim_walk *w = ud;
    int is_object = avail && *value == '{';
    json_t *v;
    if (!strcmp(key, "metadata") && is_object) {
        if (json_object_get(w->obj, key))
            return refuse(err, "duplicate key", key);
        w->meta_whole = kept_whole(w->keep, key);
        w->meta_open = value + 1;
        w->prev_end = NULL;
        v = nested(w, key, value, avail, used, on_meta_member, err);
    } else if (kept_whole(w->keep, key) || !strcmp(key, "metadata")) {
        v = ambd_json_parse_prefix(value, avail, used, err);
    } else if (is_object && kept_child(w->keep, key, NULL)) {
        v = nested(w, key, value, avail, used, on_child_member, err);
    } else {
        return 0; /* the walk checks it */
    }
    return v ? put(w->obj, key, v, err) : -1;
}

int ambd_skim_object(const char *text, size_t avail, const char *const *keep,
                     struct ambd_skim *out, struct ambd_json_error *err)
{
    *out = (struct ambd_skim){0};
    struct skim_walk w = {.keep = keep, .text = text, .obj = json_object(), .out = out};
    if (!w.obj) {
        refuse(err, "out of memory at", "object");
        return -1;
    }
    if (ambd_json_each_member(text, avail, &out->len, on_member, &w, err) != 0) {
        json_decref(w.obj);
        *out = (struct ambd_skim){0};
        return -1;
    }
    out->obj = w.obj;
    return 0;
}
