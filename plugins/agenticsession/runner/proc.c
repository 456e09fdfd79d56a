/* proc.c — the runner's children (git, the agent CLI). Each runs in a
 * process group of its own, so stopping it stops everything it started;
 * the runner is a child subreaper, so what escapes a group (a daemonised
 * tool) is reparented to it and killed before it exits. posix_spawn keeps
 * this safe in a process with threads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

#define RUN_GRACE_MS 2000

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int runner_spawn(char *const argv[], char *const env[], const char *cwd, int want_in,
                 int want_out, int err_fd, struct runner_child *out)
{
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none;
    int rc = -1;
    out->pid = -1;
    out->in_fd = out->out_fd = -1;
    if ((want_in && pipe2(in, O_CLOEXEC) != 0) || (want_out && pipe2(outp, O_CLOEXEC) != 0)) {
        close_fd(&in[0]);
        close_fd(&in[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none); /* the runner blocks SIGTERM for its signalfd */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE); /* ignored by the runner; children get the default */
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    posix_spawnattr_setsigdefault(&at, &def);
    if (want_in)
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (want_out)
        posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (err_fd == RUNNER_ERR_TO_OUT && want_out)
        posix_spawn_file_actions_adddup2(&fa, outp[1], 2);
    else if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    else
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close_fd(&in[0]);
    close_fd(&outp[1]);
    if (e != 0) {
        close_fd(&in[1]);
        close_fd(&outp[0]);
        errno = e;
        return -1;
    }
    out->pid = pid;
    out->in_fd = in[1];
    out->out_fd = outp[0];
    rc = 0;
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int runner_wait_child(struct runner_child *c, long long ms, int *status)
{
    long long until = runner_now_ms() + (ms > 0 ? ms : 0);
    long nap = 1; /* most children are already gone: look again soon, then less often */
    for (;;) {
        pid_t r = waitpid(c->pid, status, WNOHANG);
        if (r == c->pid) {
            kill(-c->pid, SIGKILL); /* whatever of its group is left */
            c->pid = -1;
            return 0;
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (runner_now_ms() >= until)
            return -1;
        sleep_ms(nap);
        nap = nap < 20 ? nap * 2 : 20;
    }
}

int runner_stop_child(struct runner_child *c, int grace_ms)
{
    int status = 0;
    close_fd(&c->in_fd);
    close_fd(&c->out_fd);
    if (c->pid <= 0)
        return 0;
    kill(-c->pid, SIGTERM);
    long long until = runner_now_ms() + grace_ms;
    pid_t r;
    while ((r = waitpid(c->pid, &status, WNOHANG)) == 0 && runner_now_ms() < until)
        sleep_ms(20);
    if (r == 0) {
        kill(-c->pid, SIGKILL);
        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    kill(-c->pid, SIGKILL); /* whatever of its group is left */
    c->pid = -1;
    return status;
}

/* Pids whose parent is the runner, from /proc. */
static size_t our_children(pid_t *out, size_t max)
{
    DIR *d = opendir("/proc");
    size_t n = 0;
    if (!d)
        return 0;
    pid_t self = getpid();
    struct dirent *de;
    while (n < max && (de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        /* "pid (comm) state ppid ...": comm may hold spaces and parens */
        char *rp = strrchr(buf, ')');
        char state;
        long ppid;
        if (rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 && ppid == self)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

void runner_kill_orphans(void)
{
    pid_t pids[256];
    for (int round = 0; round < 10; round++) {
        size_t n = our_children(pids, sizeof pids / sizeof pids[0]);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        for (size_t i = 0; i < n; i++)
            while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
                ;
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int runner_run_stream(char *const argv[], char *const env[], const char *cwd, long timeout_ms,
                      void (*on_data)(void *ud, const char *data, size_t n), void *ud)
{
    struct runner_child c;
    if (runner_spawn(argv, env, cwd, 0, 1, RUNNER_ERR_TO_OUT, &c) != 0)
        return -1;
    long long until = runner_now_ms() + timeout_ms;
    int timed_out = 0;
    for (;;) {
        long long left = until - runner_now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {c.out_fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        char chunk[16384];
        ssize_t got = read(c.out_fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        on_data(ud, chunk, (size_t)got);
    }
    int status = 0;
    /* Output ended: the child is exiting; give it until the deadline. */
    if (!timed_out && runner_wait_child(&c, until - runner_now_ms(), &status) != 0)
        timed_out = 1;
    if (timed_out)
        status = runner_stop_child(&c, RUN_GRACE_MS);
    close_fd(&c.out_fd);
    if (timed_out)
        return 128 + SIGKILL;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

struct capture {
    char *buf;
    size_t len, cap;
};

static void capture(void *ud, const char *data, size_t n)
{
    struct capture *c = ud;
    size_t keep = c->buf && c->len < c->cap ? n : 0;
    if (keep > c->cap - c->len)
        keep = c->cap - c->len;
    memcpy(c->buf + c->len, data, keep);
    c->len += keep;
}

int runner_run(char *const argv[], char *const env[], const char *cwd, size_t cap,
               long timeout_ms, char **output)
{
    struct capture c = {malloc(cap + 1), 0, cap};
    int st = runner_run_stream(argv, env, cwd, timeout_ms, capture, &c);
    if (c.buf)
        c.buf[c.len] = '\0';
    *output = c.buf;
    return st;
}
