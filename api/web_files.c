/* web_files.c — loads the web UI's directory into memory (web_files.h).
 * The walk goes through directory descriptors (openat, O_NOFOLLOW), so a
 * symbolic link swapped in while it runs is refused rather than followed. */
#include "web_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct web_files {
    struct web_file *files; /* sorted by path */
    size_t n, cap;
    size_t total;           /* bytes of data */
};

struct walk {
    struct web_files *f;
    size_t *skipped;
    char *why;
    size_t why_len;
};

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *web_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int fail(struct walk *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, w->why_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* 1 if name may be served: no dot first (dotfiles, "." and ".."), only
 * bytes a URL path carries as they are. */
static int name_ok(const char *name)
{
    return name[0] != '.' && name[0] && strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                     "0123456789._-") == strlen(name);
}

static int read_all(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int add_file(struct walk *w, int dir, const char *name, const char *path)
{
    struct web_files *f = w->f;
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > WEB_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        (*w->skipped)++;
        return 0;
    }
    size_t len = (size_t)st.st_size;
    if (f->n >= WEB_FILES_MAX || f->total + len > WEB_TOTAL_MAX) {
        close(fd);
        return fail(w, "more than %d files or %u bytes", WEB_FILES_MAX, WEB_TOTAL_MAX);
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        struct web_file *g = realloc(f->files, cap * sizeof *g);
        if (!g) {
            close(fd);
            return fail(w, "out of memory");
        }
        f->files = g;
        f->cap = cap;
    }
    struct web_file wf = {.path = strdup(path), .data = malloc(len ? len : 1), .len = len,
                          .type = web_content_type(name)};
    int bad = !wf.path || !wf.data || read_all(fd, wf.data, len) != 0;
    close(fd);
    if (bad) {
        free(wf.path);
        free(wf.data);
        return fail(w, "cannot read %s", path);
    }
    f->files[f->n++] = wf;
    f->total += len;
    return 0;
}

/* Walks the directory open on dir (closed here); prefix is its path below
 * the root ("" for the root). */
static int walk_dir(struct walk *w, int dir, const char *prefix, int depth)
{
    DIR *d = fdopendir(dir);
    if (!d) {
        close(dir);
        return fail(w, "cannot read the directory %s/", prefix);
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (!name_ok(e->d_name)) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                (*w->skipped)++;
            continue;
        }
        char path[WEB_PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", prefix, e->d_name) >= sizeof path ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            (*w->skipped)++;
            continue;
        }
        if (S_ISREG(st.st_mode)) {
            rc = add_file(w, dirfd(d), e->d_name, path);
        } else if (S_ISDIR(st.st_mode) && depth < WEB_DEPTH_MAX) {
            int sub = openat(dirfd(d), e->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                rc = walk_dir(w, sub, path, depth + 1);
            else
                (*w->skipped)++;
        } else {
            (*w->skipped)++; /* links, devices, fifos, too deep */
        }
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct web_file *)a)->path, ((const struct web_file *)b)->path);
}

int web_files_load(const char *root, struct web_files **out, size_t *skipped, char *why,
                   size_t why_len)
{
    *out = NULL;
    *skipped = 0;
    struct web_files *f = calloc(1, sizeof *f);
    struct walk w = {f, skipped, why, why_len};
    if (!f)
        return fail(&w, "out of memory");
    char real[PATH_MAX];
    int dir = realpath(root, real) ? open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dir < 0) {
        fail(&w, "%s: %s", root, strerror(errno));
        web_files_free(f);
        return -1;
    }
    if (walk_dir(&w, dir, "", 0) != 0) {
        web_files_free(f);
        return -1;
    }
    if (f->n)
        qsort(f->files, f->n, sizeof *f->files, by_path);
    *out = f;
    return 0;
}

const struct web_file *web_files_find(const struct web_files *f, const char *path)
{
    if (!f || !f->n || !path)
        return NULL;
    struct web_file key = {.path = (char *)path};
    return bsearch(&key, f->files, f->n, sizeof *f->files, by_path);
}

size_t web_files_count(const struct web_files *f)
{
    return f ? f->n : 0;
}

void web_files_free(struct web_files *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->files[i].path);
        free(f->files[i].data);
    }
    free(f->files);
    free(f);
}
