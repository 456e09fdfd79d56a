/* executor_proc.c — the runner as a process: spawned as the leader of its
 * own session (so its process group, and whatever the agent starts in
 * other groups, can be found and killed as a kubelet kills a cgroup),
 * watched through a pidfd and reaped by its pid alone (never waitpid(-1):
 * other parts of the process keep their children), and recorded in
 * runner.pid so a later start can find it after ambientd was killed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error-internal.h"
#include "executor-internal.h"

#define STAT_MAX 1024

/* Fields of /proc/<pid>/stat after the command: (3) state ... (6) session
 * ... (22) starttime. 0 when the process is gone or a zombie. */
static int proc_stat(pid_t pid, pid_t *session, unsigned long long *start)
{
    char path[64], buf[STAT_MAX];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command may hold anything but ends at the last ')' */
    char state;
    int ppid, pgrp, sid;
    if (!p || sscanf(p + 1, " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                            "%*d %*d %llu", &state, &ppid, &pgrp, &sid, start) != 5 ||
        state == 'Z' || state == 'X')
        return 0;
    *session = sid;
    return 1;
}

static int open_log(const char *dir, const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return -1;
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static void record(const char *dir, pid_t pid)
{
    pid_t sid;
    unsigned long long start;
    char path[4096], tmp[4096];
    if (!proc_stat(pid, &sid, &start) ||
        snprintf(path, sizeof path, "%s/runner.pid", dir) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s/runner.pid.tmp", dir) >= (int)sizeof tmp)
        return;
    FILE *f = fopen(tmp, "we");
    if (!f)
        return;
    int ok = fprintf(f, "%d %llu\n", (int)pid, start) > 0;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) == 0 && ok)
        rename(tmp, path);
}

int lx_proc_spawn(const char *path, char *const env[], const char *dir, pid_t *pid, int *pidfd,
                  struct amb_error *err)
{
    int out = open_log(dir, "runner.out"), log = open_log(dir, "runner.log");
    if (out < 0 || log < 0) {
        int e = errno;
        if (out >= 0)
            close(out);
        if (log >= 0)
            close(log);
        return ambd_error_set(err, AMB_EIO, NULL, "cannot open the runner's logs in %s: %s", dir,
                              strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, log, 2);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    /* The child starts with no signal blocked or ignored, whatever this
     * process's threads do with theirs. */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    char *const argv[] = {(char *)path, NULL};
    int e = posix_spawn(pid, path, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(out);
    close(log);
    if (e != 0)
        return ambd_error_set(err, AMB_EIO, NULL, "cannot start %s: %s", path, strerror(e));
    *pidfd = pidfd_open(*pid, 0);
    if (*pidfd < 0) {
        e = errno;
        lx_proc_signal(*pid, SIGKILL);
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return ambd_error_set(err, AMB_EIO, NULL, "pidfd_open: %s", strerror(e));
    }
    record(dir, *pid);
    return AMB_OK;
}

int lx_proc_reap(pid_t pid, int *exit_code, int *sig)
{
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return 0;
    *sig = 0;
    if (r < 0) /* not ours to reap after all (SIGCHLD ignored): no status to tell */
        *exit_code = 255;
    else if (WIFEXITED(status))
        *exit_code = WEXITSTATUS(status);
    else {
        *sig = WTERMSIG(status);
        *exit_code = 128 + *sig;
    }
    return 1;
}

/* SIGKILL to every process of session sid (sid is the runner's pid). */
static void kill_session(pid_t sid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long p = strtol(de->d_name, &end, 10);
        pid_t s;
        unsigned long long start;
        if (*end || p <= 0 || p == sid || !proc_stat((pid_t)p, &s, &start) || s != sid)
            continue;
        kill((pid_t)p, SIGKILL);
    }
    closedir(d);
}

void lx_proc_signal(pid_t pid, int sig)
{
    /* Until it is reaped the pid is ours, so the group and session are. */
    kill(-pid, sig);
    if (sig == SIGKILL)
        kill_session(pid);
}

int lx_proc_kill_recorded(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/runner.pid", dir) >= (int)sizeof path)
        return 0;
    FILE *f = fopen(path, "re");
    int pid = 0;
    unsigned long long want = 0, start = 0;
    pid_t sid = 0;
    int ran = f && fscanf(f, "%d %llu", &pid, &want) == 2 && pid > 1 &&
              proc_stat(pid, &sid, &start) && start == want && sid == pid;
    if (f)
        fclose(f);
    if (ran) {
        /* Not our child: it is reaped by whoever adopted it. */
        kill(-pid, SIGKILL);
        kill_session(pid);
    }
    unlink(path);
    return ran;
}

void lx_proc_forget(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/runner.pid", dir) < (int)sizeof path)
        unlink(path);
}

int lx_mkdirs(const char *path, struct amb_error *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return ambd_error_set(err, AMB_EINVAL, NULL, "path too long: %.80s...", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return ambd_error_set(err, AMB_EIO, NULL, "cannot create %s: %s", buf,
                                  strerror(errno));
        *p = c;
        if (c == '\0')
            return AMB_OK;
    }
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void lx_remove_volumes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[4096];
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
            continue;
        lx_remove_tree(path);
    }
    closedir(d);
}

int lx_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
