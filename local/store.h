/* store.h — the local API's objects on SQLite (WAL, synchronous=FULL):
 * one row per object keyed by resource ("group/plural"), namespace and
 * name; one global resourceVersion; the watch history (the last N
 * events, for resume); owner references (for cascading delete); minted
 * service-account tokens (hashed). One thread only (the server's). */
#ifndef AMBIENT_LOCAL_STORE_H
#define AMBIENT_LOCAL_STORE_H

#include <stdint.h>

#include <jansson.h>

struct kstore;

enum kstore_rc {
    KSTORE_OK = 0,
    KSTORE_FULL = -1, /* the disk (or the file's size limit) is full */
    KSTORE_IO = -2,   /* any other failure of the database */
};

/* Opens path, creating it, and holds it locked until kstore_close; NULL
 * with a message naming path in err when the file is corrupt, not
 * Ambient's, in use by another process, or cannot be opened. history: watch events
 * kept. fresh: set to 1 when the store was just created. */
struct kstore *kstore_open(const char *path, unsigned history, int *fresh, char *err,
                           size_t err_len);
void kstore_close(struct kstore *s);
const char *kstore_errmsg(const struct kstore *s);

/* The current resourceVersion, and the oldest one a watch may resume from. */
int64_t kstore_rv(const struct kstore *s);
int64_t kstore_floor(const struct kstore *s);

/* Writes happen inside begin/commit. Each put/remove takes the next
 * resourceVersion (written into the object's metadata) and queues a watch
 * event; commit makes them durable and hands the events over (an array of
 * {"type","res","ns","object"}, owned by the caller); rollback forgets them. */
int kstore_begin(struct kstore *s);
int kstore_commit(struct kstore *s, json_t **events);
void kstore_rollback(struct kstore *s);

/* The stored object (new reference) or NULL when absent; *rc set on errors. */
json_t *kstore_get(struct kstore *s, const char *res, const char *ns, const char *name,
                   int *rc);
/* type: "ADDED" or "MODIFIED". obj keeps its reference; its
 * metadata.resourceVersion is set. prev (or NULL): the state it replaces,
 * handed to the live watches with the event (as "prev") so a selector
 * can see an object start or stop matching; it is not kept in the history. */
int kstore_put(struct kstore *s, const char *res, const char *ns, const char *name,
               json_t *obj, const char *type, const json_t *prev);
/* Removes it; last (the final state) gets the deletion's resourceVersion. */
int kstore_remove(struct kstore *s, const char *res, const char *ns, const char *name,
                  json_t *last);

/* Visits objects in (namespace, name) order after (after_ns, after_name)
 * (NULL: from the start); res NULL: every resource, ns NULL: every
 * namespace. visit returns nonzero to stop. */
typedef int (*kstore_visit)(const char *res, const char *ns, const char *name,
                            const char *body, void *arg);
int kstore_scan(struct kstore *s, const char *res, const char *ns, const char *after_ns,
                const char *after_name, kstore_visit visit, void *arg);
/* Objects with an ownerReference to uid. */
int kstore_dependents(struct kstore *s, const char *uid, kstore_visit visit, void *arg);
/* Events after rv, oldest first; body is {"type","res","ns","object"}. */
int kstore_events_after(struct kstore *s, int64_t rv, kstore_visit visit, void *arg);

/* Minted tokens, by the SHA-256 of the token (hex). info is kept as JSON. */
int kstore_token_put(struct kstore *s, const char *hash, const json_t *info, int64_t exp);
json_t *kstore_token_get(struct kstore *s, const char *hash);

#endif
