/* local_datadir.c — the data directory of laptop mode (local_datadir.h).
 * Never repairs or resets anything: what is not plainly ours is refused
 * with a message naming it. */
#include "local_datadir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error-internal.h"
#include "executor-internal.h" /* lx_mkdirs */

#define MARKER_TEXT "Ambient data directory (ambientd --local), format 1\n"
#define LOCK_FILE "lock"

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

char *local_datadir_default(char *err, size_t err_len)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char buf[PATH_MAX];
    int n;
    /* The XDG spec ignores a relative XDG_DATA_HOME. */
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, sizeof buf, "%s/ambient", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, sizeof buf, "%s/.local/share/ambient", home);
    else {
        fail(err, err_len, "neither XDG_DATA_HOME nor HOME is set to an absolute path; "
                           "give --data-dir");
        return NULL;
    }
    if (n < 0 || (size_t)n >= sizeof buf) {
        fail(err, err_len, "the default data directory's path is too long; give --data-dir");
        return NULL;
    }
    return strdup(buf);
}

/* 1 when dir has no entries, 0 when it has, -1 on error. */
static int is_empty(const char *dir, char *err, size_t err_len)
{
    DIR *d = opendir(dir);
    if (!d)
        return fail(err, err_len, "%s: cannot read the data directory: %s", dir, strerror(errno));
    int empty = 1;
    struct dirent *e;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

static int write_marker(const char *marker, char *err, size_t err_len)
{
    int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 /* a concurrent first start made it */
                               : fail(err, err_len, "%s: cannot create: %s", marker,
                                      strerror(errno));
    ssize_t w = write(fd, MARKER_TEXT, strlen(MARKER_TEXT));
    int saved = errno;
    if (fsync(fd) != 0 && w >= 0)
        saved = errno, w = -1;
    close(fd);
    if (w != (ssize_t)strlen(MARKER_TEXT))
        return fail(err, err_len, "%s: cannot write: %s", marker,
                    w < 0 ? strerror(saved) : "short write");
    return 0;
}

static int check_marker(const char *dir, const char *marker, char *err, size_t err_len)
{
    char buf[256] = "";
    int fd = open(marker, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail(err, err_len,
                    "%s: not an Ambient data directory (it has files but no %s); give "
                    "--data-dir a new or empty directory",
                    dir, LOCAL_DATADIR_MARKER);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0 || strncmp(buf, MARKER_TEXT, strlen(MARKER_TEXT)) != 0)
        return fail(err, err_len,
                    "%s: not a data directory this ambientd knows (unexpected contents); "
                    "nothing was changed",
                    marker);
    return 0;
}

static int check_owner(const char *dir, char *err, size_t err_len)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return fail(err, err_len, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail(err, err_len, "%s: not a directory", dir);
    if (st.st_uid != geteuid())
        return fail(err, err_len, "%s: owned by uid %u, not by this user (uid %u)", dir,
                    (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return fail(err, err_len,
                    "%s: writable by other users (mode %04o); it holds the admin token: "
                    "chmod 700 it",
                    dir, (unsigned)(st.st_mode & 07777));
    return 0;
}

static int take_lock(const char *dir, int *out, char *err, size_t err_len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        if (saved != EWOULDBLOCK)
            return fail(err, err_len, "%s: cannot lock: %s", path, strerror(saved));
        pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
        return fail(err, err_len,
                    "%s is in use by another ambientd (pid %s); stop it first, or give "
                    "--data-dir another directory",
                    dir, pid[0] ? pid : "unknown");
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int saved = errno;
        close(fd);
        return fail(err, err_len, "%s: cannot write: %s", path, strerror(saved));
    }
    *out = fd;
    return 0;
}

int local_datadir_open(const char *path, struct local_datadir *out, char *err, size_t err_len)
{
    out->path = NULL;
    out->lock_fd = -1;
    if (!path[0])
        return fail(err, err_len, "the data directory's path is empty");
    struct amb_error made = AMBD_ERROR_INIT;
    if (lx_mkdirs(path, &made) != AMB_OK) {
        char *line = ambd_error_line(&made);
        fail(err, err_len, "the data directory: %s", line ? line : "out of memory");
        free(line);
        ambd_error_clear(&made);
        return -1;
    }
    char *abs = realpath(path, NULL);
    if (!abs)
        return fail(err, err_len, "%s: %s", path, strerror(errno));
    char marker[PATH_MAX];
    int empty;
    if (snprintf(marker, sizeof marker, "%s/%s", abs, LOCAL_DATADIR_MARKER) >= (int)sizeof marker)
        goto too_long;
    /* Ours before anything is written into it: a foreign directory is left
     * exactly as it was. */
    if (check_owner(abs, err, err_len) != 0 || (empty = is_empty(abs, err, err_len)) < 0)
        goto fail;
    if (empty ? write_marker(marker, err, err_len) : check_marker(abs, marker, err, err_len))
        goto fail;
    if (take_lock(abs, &out->lock_fd, err, err_len) != 0)
        goto fail;
    out->path = abs;
    return 0;
too_long:
    fail(err, err_len, "%s: path too long", abs);
fail:
    free(abs);
    return -1;
}

void local_datadir_close(struct local_datadir *d)
{
    /* Releases the flock. The stale pid in the file is never shown: it is
     * read only while someone holds the lock, who wrote their own. */
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    d->lock_fd = -1;
    free(d->path);
    d->path = NULL;
}
