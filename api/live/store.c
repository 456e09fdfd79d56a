/* store.c — the per-session append-only event log (store.h). */
#include "live/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "api.h"

int store_is_uid(const char *uid)
{
    size_t n = uid ? strlen(uid) : 0;
    if (n == 0 || n >= STORE_UID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = uid[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-'))
            return 0;
    }
    return 1;
}

int store_path(const char *dir, const char *project, const char *uid, char *out,
               size_t out_len)
{
    if (!dir || !project || !amb_is_dns_label(project) || !store_is_uid(uid))
        return -1;
    int n = snprintf(out, out_len, "%s/%s/%s.ndjson", dir, project, uid);
    return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

/* Offset of the last '\n' before `before`, or -1 (none), -2 (I/O error). */
static long long prev_newline(int fd, uint64_t before)
{
    char buf[4096];
    uint64_t end = before;
    while (end > 0) {
        size_t n = end < sizeof buf ? (size_t)end : sizeof buf;
        uint64_t start = end - n;
        ssize_t r = pread(fd, buf, n, (off_t)start);
        if (r != (ssize_t)n)
            return -2;
        for (size_t i = n; i > 0; i--)
            if (buf[i - 1] == '\n')
                return (long long)(start + i - 1);
        end = start;
    }
    return -1;
}

static int recover(struct store_log *log)
{
    struct stat st;
    if (fstat(log->fd, &st) != 0)
        return AMB_EIO;
    uint64_t size = (uint64_t)st.st_size;
    log->seq = 0;
    log->size = 0;
    if (size == 0)
        return AMB_OK;
    long long last = prev_newline(log->fd, size);
    if (last == -2)
        return AMB_EIO;
    uint64_t good = last < 0 ? 0 : (uint64_t)last + 1;
    if (good != size && ftruncate(log->fd, (off_t)good) != 0)
        return AMB_EIO; /* a torn last line: the write never completed */
    if (good == 0)
        return AMB_OK;
    long long before = prev_newline(log->fd, good - 1);
    if (before == -2)
        return AMB_EIO;
    uint64_t start = before < 0 ? 0 : (uint64_t)before + 1;
    char head[40];
    size_t n = good - start < sizeof head ? (size_t)(good - start) : sizeof head;
    if (pread(log->fd, head, n, (off_t)start) != (ssize_t)n)
        return AMB_EIO;
    if (store_line_seq(head, n, &log->seq) != 0)
        return AMB_EIO;
    log->size = good;
    return AMB_OK;
}

int store_open(const char *dir, const char *project, const char *uid, int create,
               struct store_log *log)
{
    char path[4096];
    log->fd = -1;
    log->seq = 0;
    log->size = 0;
    if (store_path(dir, project, uid, path, sizeof path) != 0)
        return AMB_EINVAL;
    if (create) {
        char pdir[4096];
        snprintf(pdir, sizeof pdir, "%s/%s", dir, project);
        if (mkdir(pdir, 0700) != 0 && errno != EEXIST)
            return AMB_EIO;
    }
    int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0)
        return errno == ENOENT && !create ? AMB_OK : AMB_EIO;
    log->fd = fd;
    int rc = recover(log);
    if (rc != AMB_OK)
        store_close(log);
    return rc;
}

void store_close(struct store_log *log)
{
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
}

void store_timestamp(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

char *store_line(const json_t *ev, uint64_t seq, const char *ts, const char *source,
                 size_t *len)
{
    json_t *copy = json_copy((json_t *)ev);
    if (!copy)
        return NULL;
    json_object_del(copy, "seq");
    json_object_del(copy, "ts");
    json_object_del(copy, "source");
    char *rest = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (!rest || rest[0] != '{') {
        free(rest);
        return NULL;
    }
    size_t rl = strlen(rest);
    size_t cap = rl + 128;
    char *line = malloc(cap);
    if (!line) {
        free(rest);
        return NULL;
    }
    /* rest is "{}" or "{...}": splice our members in front */
    int n = snprintf(line, cap, "{\"seq\":%llu,\"ts\":\"%.31s\",\"source\":\"%.16s\"%s%s\n",
                     (unsigned long long)seq, ts, source, rl > 2 ? "," : "",
                     rl > 2 ? rest + 1 : "}");
    free(rest);
    if (n < 0 || (size_t)n >= cap) {
        free(line);
        return NULL;
    }
    *len = (size_t)n;
    return line;
}

int store_line_seq(const char *line, size_t len, uint64_t *seq)
{
    static const char pfx[] = "{\"seq\":";
    if (len < sizeof pfx || memcmp(line, pfx, sizeof pfx - 1) != 0)
        return -1;
    uint64_t v = 0;
    size_t i = sizeof pfx - 1, digits = 0;
    for (; i < len && line[i] >= '0' && line[i] <= '9' && digits < 19; i++, digits++)
        v = v * 10 + (uint64_t)(line[i] - '0');
    if (digits == 0 || i >= len || (line[i] != ',' && line[i] != '}'))
        return -1;
    *seq = v;
    return 0;
}

int store_append(struct store_log *log, const char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(log->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* cut back to the last whole line so readers never see a torn one */
            if (ftruncate(log->fd, (off_t)log->size) != 0) {
                /* recovery at the next open trims it */
            }
            return AMB_EIO;
        }
        done += (size_t)w;
    }
    log->size += len;
    return AMB_OK;
}

ssize_t store_pread(int fd, uint64_t off, size_t n, struct evbuffer *buf)
{
    struct evbuffer_iovec v;
    if (n == 0)
        return 0;
    if (evbuffer_reserve_space(buf, (ev_ssize_t)n, &v, 1) < 1)
        return -1;
    if (v.iov_len > n)
        v.iov_len = n;
    ssize_t r;
    do
        r = pread(fd, v.iov_base, v.iov_len, (off_t)off);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    v.iov_len = (size_t)r;
    if (evbuffer_commit_space(buf, &v, 1) != 0)
        return -1;
    return r;
}

/* Offset of the first '\n' at or after from, or size when there is none;
 * -2 on an I/O error. */
static long long next_newline(int fd, uint64_t from, uint64_t size)
{
    char buf[4096];
    while (from < size) {
        size_t n = size - from < sizeof buf ? (size_t)(size - from) : sizeof buf;
        if (pread(fd, buf, n, (off_t)from) != (ssize_t)n)
            return -2;
        const char *nl = memchr(buf, '\n', n);
        if (nl)
            return (long long)(from + (uint64_t)(nl - buf));
        from += n;
    }
    return (long long)size;
}

int store_seek(int fd, uint64_t size, uint64_t after, uint64_t *off)
{
    /* lines starting before lo have seq <= after; lines from hi on, above */
    uint64_t lo = 0, hi = size;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        long long nl = prev_newline(fd, mid); /* stops at lo - 1: lo starts a line */
        if (nl == -2)
            return AMB_EIO;
        uint64_t start = nl < 0 ? 0 : (uint64_t)nl + 1;
        char head[40];
        size_t n = hi - start < sizeof head ? (size_t)(hi - start) : sizeof head;
        uint64_t seq;
        if (pread(fd, head, n, (off_t)start) != (ssize_t)n || store_line_seq(head, n, &seq) != 0)
            return AMB_EIO;
        if (seq > after) {
            hi = start;
            continue;
        }
        long long end = next_newline(fd, mid, hi);
        if (end == -2)
            return AMB_EIO;
        lo = (uint64_t)end < hi ? (uint64_t)end + 1 : hi;
    }
    *off = lo;
    return AMB_OK;
}

int store_page(const char *path, uint64_t after, size_t limit, size_t max_bytes,
               json_t **items, uint64_t *next)
{
    *next = 0;
    *items = json_array();
    if (!*items)
        return AMB_ENOMEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? AMB_OK : AMB_EIO;
    /* seek among whole lines only: the loop may be appending the last one */
    struct stat st;
    long long last_nl = fstat(fd, &st) == 0 ? prev_newline(fd, (uint64_t)st.st_size) : -2;
    uint64_t off = 0, last = 0;
    struct evbuffer *buf = NULL;
    int rc = last_nl == -2 ? AMB_EIO
             : store_seek(fd, last_nl < 0 ? 0 : (uint64_t)last_nl + 1, after, &off);
    if (rc == AMB_OK && !(buf = evbuffer_new()))
        rc = AMB_ENOMEM;
    size_t bytes = 0;
    int eof = 0;
    while (rc == AMB_OK && !eof) {
        ssize_t r = buf ? store_pread(fd, off, STORE_CHUNK, buf) : -1;
        if (r < 0) {
            rc = AMB_EIO;
            break;
        }
        if (r == 0)
            eof = 1; /* a trailing line without '\n' is still being written */
        off += (uint64_t)r;
        for (;;) {
            struct evbuffer_ptr nl = evbuffer_search_eol(buf, NULL, NULL, EVBUFFER_EOL_LF);
            if (nl.pos < 0)
                break;
            size_t ll = (size_t)nl.pos + 1;
            const char *line = (const char *)evbuffer_pullup(buf, (ev_ssize_t)ll);
            uint64_t seq;
            if (!line || store_line_seq(line, ll, &seq) != 0) {
                rc = AMB_EIO;
                break;
            }
            if (seq > after) {
                if (json_array_size(*items) >= limit ||
                    (json_array_size(*items) > 0 && bytes + ll > max_bytes)) {
                    *next = last;
                    eof = 1;
                    break;
                }
                json_t *ev = json_loadb(line, ll, 0, NULL);
                if (!ev || json_array_append_new(*items, ev) != 0) {
                    rc = ev ? AMB_ENOMEM : AMB_EIO;
                    break;
                }
                bytes += ll;
                last = seq;
            }
            evbuffer_drain(buf, ll);
        }
    }
    if (buf)
        evbuffer_free(buf);
    close(fd);
    if (rc != AMB_OK) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}

void store_remove(const char *dir, const char *project, const char *uid, uint64_t *freed)
{
    char path[4096];
    struct stat st;
    *freed = 0;
    if (store_path(dir, project, uid, path, sizeof path) != 0)
        return;
    if (stat(path, &st) == 0 && unlink(path) == 0)
        *freed = (uint64_t)st.st_size;
    snprintf(path, sizeof path, "%s/%s", dir, project);
    rmdir(path); /* only when empty; other sessions' logs keep it */
}

/* Calls each(ud, project, file, st) for every "*.ndjson" of every project
 * directory under dir. */
static void each_log(const char *dir,
                     void (*each)(void *ud, const char *project, const char *file,
                                  const struct stat *st),
                     void *ud)
{
    DIR *top = opendir(dir);
    if (!top)
        return;
    struct dirent *p;
    while ((p = readdir(top)) != NULL) {
        if (!amb_is_dns_label(p->d_name))
            continue; /* ".", "..", ".lock" */
        char pdir[4096];
        snprintf(pdir, sizeof pdir, "%s/%s", dir, p->d_name);
        DIR *d = opendir(pdir);
        struct dirent *f;
        while (d && (f = readdir(d)) != NULL) {
            size_t n = strlen(f->d_name);
            struct stat st;
            if (n > 7 && strcmp(f->d_name + n - 7, ".ndjson") == 0 &&
                fstatat(dirfd(d), f->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                each(ud, p->d_name, f->d_name, &st);
        }
        if (d)
            closedir(d);
    }
    closedir(top);
}

static void add_size(void *ud, const char *project, const char *file, const struct stat *st)
{
    (void)project;
    (void)file;
    *(uint64_t *)ud += (uint64_t)st->st_size;
}

uint64_t store_total_bytes(const char *dir)
{
    uint64_t total = 0;
    each_log(dir, add_size, &total);
    return total;
}

struct sweep {
    int (*keep)(void *ud, const char *uid);
    void *ud;
    long long before;
    char (*found)[64 + STORE_UID_MAX]; /* "project\0uid": removed after the walk */
    size_t n, cap;
};

static void sweep_one(void *ud, const char *project, const char *file, const struct stat *st)
{
    struct sweep *sw = ud;
    char uid[STORE_UID_MAX];
    size_t n = strlen(file) - 7;
    if (n >= sizeof uid)
        return;
    memcpy(uid, file, n);
    uid[n] = '\0';
    if (!store_is_uid(uid) || (long long)st->st_mtime >= sw->before || sw->keep(sw->ud, uid))
        return;
    if (sw->n == sw->cap) {
        size_t cap = sw->cap ? sw->cap * 2 : 64;
        void *grown = realloc(sw->found, cap * sizeof *sw->found);
        if (!grown)
            return; /* the next sweep gets it */
        sw->found = grown;
        sw->cap = cap;
    }
    snprintf(sw->found[sw->n], 64, "%s", project);
    snprintf(sw->found[sw->n] + 64, STORE_UID_MAX, "%s", uid);
    sw->n++;
}

void store_sweep(const char *dir, long long before, int (*keep)(void *ud, const char *uid),
                 void (*gone)(void *ud, const char *project, const char *uid), void *ud)
{
    struct sweep sw = {.keep = keep, .ud = ud, .before = before};
    each_log(dir, sweep_one, &sw);
    for (size_t i = 0; i < sw.n; i++)
        gone(ud, sw.found[i], sw.found[i] + 64);
    free(sw.found);
}
