/* object_skim-internal.h — what an informer reads of each object it is
 * sent: the whole text is checked (strict JSON, as json_parse-internal.h),
 * but only the members its event handlers use are built into a tree.
 *
 * Why: building each object's whole tree on the loop thread, for a worker
 * to free, was most of a watch backlog's cost (perf: malloc and free of
 * the trees, across threads, about half the loop thread's time; a large
 * spec string is one big allocation per event). The cache keeps the text,
 * and a reconcile parses its own copy on its worker, where the memory is
 * allocated and freed by one thread. */
#ifndef AMBD_OBJECT_SKIM_INTERNAL_H
#define AMBD_OBJECT_SKIM_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "json_parse-internal.h"

struct ambd_skim {
    json_t *obj;    /* the members built (new reference) */
    size_t len;     /* the object's text length */
    /* metadata.managedFields' member with one comma next to it, at
     * text[cut_at, cut_at + cut_len), for the cache to leave out; cut_len
     * 0 when there is none. It is never in obj. */
    size_t cut_at, cut_len;
};

/* Reads the object at the start of text[0..avail). keep names the members
 * to build besides apiVersion, kind and metadata's name, namespace and
 * resourceVersion (always built): "status" for a top-level member,
 * "spec.model" or "metadata.ownerReferences" for one member of an object
 * member; NULL builds every member. Returns 0 with *out filled, or -1 with
 * *err filled when the text is not a valid JSON object. Members not built
 * are checked for syntax, not for duplicate keys. */
int ambd_skim_object(const char *text, size_t avail, const char *const *keep,
                     struct ambd_skim *out, struct ambd_json_error *err);

#endif
