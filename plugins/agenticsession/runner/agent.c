/* agent.c — runs the Claude Code CLI and follows it to its end.
 *
 * The CLI runs in its own process group with an environment built from
 * nothing (the model key and endpoint, PATH, HOME; never a forge or git
 * token), in stream-json mode. Its stdout is read line by line with a bound
 * on a line's length; each line is forwarded as an event. For interactive
 * sessions user messages from the live service are written to its stdin,
 * which is closed when the user ends the session. One poll loop watches
 * the CLI's output, its stdin, the inbox, the runner's signals and the
 * deadline, so nothing here blocks on the agent or the network. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "as_options.h"
#include "buf-internal.h"
#include "log-internal.h"
#include "runner.h"

#define MAX_LINE (8u * 1024 * 1024) /* longer lines are dropped (the events bound is 1 MiB) */
#define MAX_STDERR_LINE 4096
#define STOP_GRACE_MS 5000
#define EXIT_WAIT_MS 10000
#define MAX_NOTED_BAD_LINES 20 /* after that, bad lines are only counted */

void runner_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

char **runner_agent_argv(const struct runner_agent *a)
{
    size_t cap = 24 + 2 * a->n_add_dirs + 2 * AS_OPTION_MAX_TOOLS;
    char **v = calloc(cap, sizeof *v);
    size_t n = 0;
    int failed = !v;
#define ARG(s)                                          \
    do {                                                \
        if (!failed && !(v[n++] = strdup(s)))           \
            failed = 1;                                 \
    } while (0)
    ARG(a->opts->claude);
    ARG("-p");
    ARG("--output-format");
    ARG("stream-json");
    ARG("--verbose");
    if (a->interactive) {
        ARG("--input-format");
        ARG("stream-json");
    }
    if (a->model) {
        ARG("--model");
        ARG(a->model);
    }
    const json_t *o = a->options;
    const char *mode = json_string_value(json_object_get(o, AS_OPT_PERMISSION_MODE));
    ARG("--permission-mode");
    ARG(mode ? mode : AS_DEFAULT_PERMISSION_MODE);
    for (size_t i = 0; i < a->n_add_dirs; i++) {
        ARG("--add-dir");
        ARG(a->add_dirs[i]);
    }
    const char *lists[] = {AS_OPT_ALLOWED_TOOLS, AS_OPT_DISALLOWED_TOOLS};
    const char *flags[] = {"--allowedTools", "--disallowedTools"};
    for (size_t k = 0; k < 2; k++) {
        size_t i;
        const json_t *t;
        json_array_foreach(json_object_get(o, lists[k]), i, t)
        {
            ARG(flags[k]);
            ARG(json_string_value(t));
        }
    }
    const json_t *turns = json_object_get(o, AS_OPT_MAX_TURNS);
    if (json_is_integer(turns)) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(turns));
        ARG("--max-turns");
        ARG(num);
    }
    const char *append = json_string_value(json_object_get(o, AS_OPT_APPEND_SYSTEM_PROMPT));
    if (append) {
        ARG("--append-system-prompt");
        ARG(append);
    }
#undef ARG
    if (failed) {
        runner_argv_free(v);
        return NULL;
    }
    return v;
}

static void agent_env(struct runner_env *e, const struct runner_agent *a)
{
    static const char *const passed[] = {
        "PATH",       "HOME",        "TMPDIR",      "LANG",        "TERM",
        "https_proxy", "HTTPS_PROXY", "http_proxy",  "HTTP_PROXY",  "no_proxy",
        "NO_PROXY",   "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "CLAUDE_CONFIG_DIR",
        "CLAUDE_CODE_MAX_RETRIES", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"};
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++)
        runner_env_pass(e, passed[i]);
    runner_env_set(e, "ANTHROPIC_BASE_URL", a->opts->model_api_url);
    /* The pod talks to the model API and nothing else: no telemetry, no
     * title requests, no self-update. */
    runner_env_set(e, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
    runner_env_set(e, "DISABLE_AUTOUPDATER", "1");
    /* As root the CLI refuses bypassPermissions unless told it is in a
     * sandbox: the runner's pod is one. */
    if (geteuid() == 0)
        runner_env_set(e, "IS_SANDBOX", "1");
}

/* ---- the loop's state ---- */

struct loop {
    const struct runner_agent *a;
    struct runner_agent_result *res;
    struct ambd_buf pending; /* bytes waiting for the CLI's stdin */
    size_t written;
    int close_stdin;         /* once pending is written */
};

static void on_line(void *ud, char *line, size_t len)
{
    struct loop *l = ud;
    struct runner_agent_result *res = l->res;
    if (len == 0)
        return;
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, 0, &jerr);
    if (!json_is_object(obj)) {
        json_decref(obj);
        if (res->bad_lines++ < MAX_NOTED_BAD_LINES) {
            char head[201];
            snprintf(head, sizeof head, "%.200s", line);
            json_t *x = json_pack("{s:s, s:I}", "text", head, "bytes", (json_int_t)len);
            runner_events_note(l->a->events, "invalid_output",
                               "the agent printed a line that is not a JSON object", x);
            json_decref(x);
        }
        return;
    }
    const char *type = json_string_value(json_object_get(obj, "type"));
    const char *sid = json_string_value(json_object_get(obj, "session_id"));
    if (sid && !res->session_id[0])
        snprintf(res->session_id, sizeof res->session_id, "%s", sid);
    if (type && strcmp(type, "result") == 0) {
        json_decref(res->result);
        res->result = json_incref(obj);
        res->have_result = 1;
        res->is_error = json_is_true(json_object_get(obj, "is_error"));
    } else if (type && strcmp(type, "assistant") == 0) {
        size_t i;
        const json_t *block;
        json_array_foreach(json_object_get(json_object_get(obj, "message"), "content"), i, block)
        {
            const char *text = json_string_value(json_object_get(block, "text"));
            if (text && *text)
                snprintf(res->last_text, sizeof res->last_text, "%s", text);
        }
    }
    runner_events_post(l->a->events, obj);
}

static void on_long(void *ud, size_t bytes)
{
    struct loop *l = ud;
    l->res->long_lines++;
    json_t *x = json_pack("{s:I}", "bytes", (json_int_t)bytes);
    runner_events_note(l->a->events, "oversized_output",
                       "the agent printed a line longer than the runner keeps; it was dropped", x);
    json_decref(x);
}

static void on_stderr_line(void *ud, char *line, size_t len)
{
    struct loop *l = ud;
    if (len == 0)
        return;
    char *clean = runner_scrub(line);
    ambd_log("runner", AMB_LOG_INFO, "agent stderr", "line", clean ? clean : "", NULL);
    snprintf(l->res->last_stderr, sizeof l->res->last_stderr, "%s", clean ? clean : "");
    free(clean);
}

static void on_stderr_long(void *ud, size_t bytes)
{
    (void)ud;
    (void)bytes;
}

/* Reaps what the agent left behind and the kernel reparented to us (the
 * runner is a subreaper), leaving the CLI itself for runner_wait_child. */
static void reap_orphans(pid_t cli)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0 ||
            si.si_pid == cli)
            return;
        waitpid(si.si_pid, NULL, 0);
    }
}

/* Queues one user message for the CLI's stdin, as stream-json input. */
static void queue_message(struct loop *l, const char *content)
{
    json_t *m = json_pack("{s:s, s:{s:s, s:s}}", "type", "user", "message", "role", "user",
                          "content", content);
    char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (s) {
        ambd_buf_puts(&l->pending, s);
        ambd_buf_putc(&l->pending, '\n');
    }
    free(s);
}

/* Writes what is pending without blocking; closes stdin when asked and
 * done. */
static void feed_stdin(struct loop *l, struct runner_child *c)
{
    while (c->in_fd >= 0 && l->written < l->pending.len) {
        ssize_t w = write(c->in_fd, l->pending.data + l->written, l->pending.len - l->written);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w < 0) { /* the CLI closed its stdin: nothing more to say */
            close(c->in_fd);
            c->in_fd = -1;
            return;
        }
        l->written += (size_t)w;
    }
    if (l->written == l->pending.len) {
        l->pending.len = 0;
        l->written = 0;
        if (l->close_stdin && c->in_fd >= 0) {
            close(c->in_fd);
            c->in_fd = -1;
        }
    }
}

static void take_inbox(struct loop *l)
{
    char *content = NULL;
    int r;
    while ((r = runner_inbox_take(l->a->inbox, &content)) != 0) {
        if (r == 2) {
            l->close_stdin = 1;
            runner_events_note(l->a->events, "input_closed",
                               "the session was ended; the agent finishes its turn", NULL);
        } else if (!l->close_stdin) {
            queue_message(l, content);
        }
        free(content);
        content = NULL;
    }
}

int runner_agent_run(const struct runner_agent *a, struct runner_agent_result *res)
{
    struct loop l = {.a = a, .res = res};
    struct runner_child c = {-1, -1, -1};
    struct linebuf out, err;
    int errp[2] = {-1, -1};
    char **argv = runner_agent_argv(a);
    struct runner_env env = {0};
    agent_env(&env, a);
    memset(res, 0, sizeof *res);
    linebuf_init(&out, MAX_LINE);
    linebuf_init(&err, MAX_STDERR_LINE);
    if (!argv || env.failed || pipe2(errp, O_CLOEXEC) != 0 ||
        runner_spawn(argv, env.v, a->cwd, 1, 1, errp[1], &c) != 0) {
        res->spawn_failed = errno ? errno : ENOMEM;
        goto out;
    }
    close(errp[1]);
    errp[1] = -1;
    fcntl(c.in_fd, F_SETFL, fcntl(c.in_fd, F_GETFL) | O_NONBLOCK);
    if (a->prompt && *a->prompt) {
        if (a->interactive) {
            queue_message(&l, a->prompt);
        } else {
            ambd_buf_puts(&l.pending, a->prompt);
        }
    }
    l.close_stdin = !a->interactive;
    feed_stdin(&l, &c);

    int out_open = 1, err_open = 1;
    while (out_open) {
        struct pollfd p[5];
        nfds_t n = 0;
        p[n++] = (struct pollfd){c.out_fd, POLLIN, 0};
        p[n++] = (struct pollfd){errp[0], err_open ? POLLIN : 0, 0};
        p[n++] = (struct pollfd){a->signal_fd, POLLIN, 0};
        p[n++] = (struct pollfd){a->inbox ? runner_inbox_fd(a->inbox) : -1, POLLIN, 0};
        p[n++] = (struct pollfd){c.in_fd, l.pending.len > l.written ? POLLOUT : 0, 0};
        long long left = a->deadline_ms ? a->deadline_ms - runner_now_ms() : 1000;
        if (a->deadline_ms && left <= 0) {
            res->timed_out = 1;
            break;
        }
        int r = poll(p, n, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(a->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                    res->terminated = 1;
                else if (si.ssi_signo == SIGCHLD)
                    reap_orphans(c.pid);
            }
            if (res->terminated)
                break;
        }
        if (p[3].revents & POLLIN)
            take_inbox(&l);
        if (c.in_fd >= 0)
            feed_stdin(&l, &c);
        if (p[1].revents & (POLLIN | POLLHUP)) {
            char buf[4096];
            ssize_t got = read(errp[0], buf, sizeof buf);
            if (got > 0)
                linebuf_feed(&err, buf, (size_t)got, on_stderr_line, on_stderr_long, &l);
            else if (got == 0 || errno != EINTR)
                err_open = 0;
        }
        if (p[0].revents & (POLLIN | POLLHUP)) {
            char buf[65536];
            ssize_t got = read(c.out_fd, buf, sizeof buf);
            if (got > 0) {
                if (linebuf_feed(&out, buf, (size_t)got, on_line, on_long, &l) != 0)
                    break;
            } else if (got == 0 || errno != EINTR) {
                out_open = 0;
            }
        }
    }
    linebuf_finish(&out, on_line, on_long, &l);
    /* Let the CLI exit by itself if its output ended; else stop its group. */
    if (out_open || runner_wait_child(&c, EXIT_WAIT_MS, &res->exit_status) != 0)
        res->exit_status = runner_stop_child(&c, STOP_GRACE_MS);
    if (err_open) {
        char buf[4096];
        ssize_t got;
        fcntl(errp[0], F_SETFL, fcntl(errp[0], F_GETFL) | O_NONBLOCK);
        while ((got = read(errp[0], buf, sizeof buf)) > 0)
            linebuf_feed(&err, buf, (size_t)got, on_stderr_line, on_stderr_long, &l);
    }
    linebuf_finish(&err, on_stderr_line, on_stderr_long, &l);
out:
    runner_stop_child(&c, STOP_GRACE_MS);
    if (errp[0] >= 0)
        close(errp[0]);
    if (errp[1] >= 0)
        close(errp[1]);
    linebuf_free(&out);
    linebuf_free(&err);
    ambd_buf_release(&l.pending);
    runner_env_clear(&env);
    runner_argv_free(argv);
    return res->spawn_failed ? -1 : 0;
}

void runner_agent_result_clear(struct runner_agent_result *res)
{
    json_decref(res->result);
    res->result = NULL;
}
