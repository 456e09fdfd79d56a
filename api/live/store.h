/* store.h — the append-only event log of one session: a file
 * <dir>/<project>/<uid>.ndjson, keyed by the AgenticSession's uid so a
 * session made later under the same name never sees it; one JSON object a
 * line, each stamped with "seq" (1, 2, ... per session), "ts" (RFC 3339)
 * and "source" (who posted it) as its first members.
 * The loop thread appends and reads at offsets; worker threads read whole
 * pages through their own descriptors. See live/README.md for the choices
 * (no fsync per event, seq recovered from the last line). */
#ifndef AMBIENT_API_LIVE_STORE_H
#define AMBIENT_API_LIVE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct evbuffer;

#define STORE_CHUNK (64 * 1024) /* bytes read from disk at a time */

struct store_log {
    int fd;        /* -1 when the file does not exist yet */
    uint64_t seq;  /* seq of the last stored event (0: none) */
    uint64_t size; /* bytes of complete lines in the file */
};

#define STORE_UID_MAX 64 /* bytes of a uid, with its NUL */

/* 1 when uid can be a Kubernetes uid (letters, digits, '-'; 1..63). */
int store_is_uid(const char *uid);
/* "<dir>/<project>/<uid>.ndjson" into out. -1 when project is not a DNS
 * label, uid not a uid, or out is too short. */
int store_path(const char *dir, const char *project, const char *uid, char *out,
               size_t out_len);
/* Opens the log (creating <dir>/<project>/ and the file when create) and
 * recovers seq and size from its last line; a torn last line (a crash in
 * the middle of a write) is cut off. Without create, a missing file gives
 * AMB_OK with log->fd -1. AMB_EIO when the last line is not ours. */
int store_open(const char *dir, const char *project, const char *uid, int create,
               struct store_log *log);
void store_close(struct store_log *log);

/* The line stored for ev (borrowed; its own "seq"/"ts"/"source" are
 * dropped): {"seq":N,"ts":"...","source":"...",...}\n, malloc'd, *len its
 * bytes. NULL on failure. */
char *store_line(const json_t *ev, uint64_t seq, const char *ts, const char *source,
                 size_t *len);
/* The seq a stored line starts with: 0, or -1 when it does not. */
int store_line_seq(const char *line, size_t len, uint64_t *seq);
/* Now as RFC 3339 UTC with milliseconds. */
void store_timestamp(char out[32]);

/* Appends whole lines with one write; on a short write the file is cut
 * back so no torn line stays. Updates size (not seq: the caller owns the
 * numbering). 0 or AMB_EIO. */
int store_append(struct store_log *log, const char *data, size_t len);
/* Reads up to n bytes at off into buf. Bytes read, or -1. */
ssize_t store_pread(int fd, uint64_t off, size_t n, struct evbuffer *buf);

/* The offset of the first line with a seq above after in a log of size
 * bytes (size when there is none): a binary search over byte offsets, each
 * probe reading only the line it lands in, since seqs grow line by line.
 * So a reader from ?after= costs O(log(size) x line), never a scan of what
 * comes before. 0 or AMB_EIO (a line that is not ours). Any thread. */
int store_seek(int fd, uint64_t size, uint64_t after, uint64_t *off);

/* Removes the log of uid in project (and the project's directory once it is
 * empty); *freed: the bytes it held. A missing file frees 0. */
void store_remove(const char *dir, const char *project, const char *uid, uint64_t *freed);
/* Bytes of every log under dir (for api.live.max_store at start). */
uint64_t store_total_bytes(const char *dir);
/* Calls gone(ud, project, uid) for each log under dir whose uid keep(ud,
 * uid) does not know and that was last written before `before` (seconds,
 * CLOCK_REALTIME): what was deleted while nobody watched. */
void store_sweep(const char *dir, long long before, int (*keep)(void *ud, const char *uid),
                 void (*gone)(void *ud, const char *project, const char *uid), void *ud);

/* One page of the transcript at path: items (new ref) with seq > after, at
 * most limit of them and about max_bytes of text (always at least one);
 * *next is the seq of the last item when more follow, else 0. A missing
 * file is an empty page. Reads in STORE_CHUNK pieces, never the whole file.
 * 0 or AMB_EIO / AMB_ENOMEM. Any thread. */
int store_page(const char *path, uint64_t after, size_t limit, size_t max_bytes,
               json_t **items, uint64_t *next);

#endif
