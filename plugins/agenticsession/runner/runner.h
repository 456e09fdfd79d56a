/* runner.h — ambient-runner's parts and what they share. The runner reads
 * one AgenticSession, clones its repositories, runs the Claude Code CLI on
 * them, forwards every event to the live service, pushes the results and
 * writes the session's status (README.md next to this file). Each part has
 * its own file; this header is their whole interface to each other. */
#ifndef RUNNER_H
#define RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ambient/plugin.h"

struct ambd_kube;
struct ambd_registry;

/* Exit codes: the session Completed, it Failed (or was stopped), or the
 * runner was started wrongly (nothing was touched). */
enum { RUNNER_EXIT_COMPLETED = 0, RUNNER_EXIT_FAILED = 1, RUNNER_EXIT_USAGE = 2 };

/* ---- opts.c: every setting, from flags first, then the environment ---- */
struct runner_opts {
    char *ns, *name;          /* the session */
    char *kube_server;        /* NULL: in-cluster (KUBERNETES_SERVICE_HOST) */
    char *token_file;         /* the session's own token */
    char *ca_file;
    char *api_url;            /* the live service; NULL: events go to stdout */
    char *api_ca_file;        /* CA of the live service's certificate; NULL: system */
    char *workspace;
    char *config;             /* an ambient.conf naming forge plugins; may be NULL */
    char *claude;             /* the CLI; "claude" from PATH by default */
    char *model;              /* NULL: the session's spec.model, else the CLI's own */
    long long timeout_s;      /* <= 0: the session's spec.timeout */
    long long run;            /* 0: unknown (the runner does not check it) */
    char *model_api_url;      /* ANTHROPIC_BASE_URL for the CLI, or NULL */
    char *git_name, *git_email; /* the committer (a bot identity) */
};

/* Fills o from argv and the environment. On a bad invocation prints one line
 * saying what is wrong (or the usage for --help) and returns
 * RUNNER_EXIT_USAGE; returns -1 to go on. */
int runner_opts_parse(struct runner_opts *o, int argc, char **argv);
void runner_opts_clear(struct runner_opts *o);

/* ---- secrets.c: the values that must never leave the runner ---- */
/* Registers every secret of the environment (and the token file's content)
 * with the log sink, and returns a copy of the named variable for a child's
 * environment; NULL when unset or empty. Caller frees. */
void runner_secrets_register(const struct runner_opts *o);
char *runner_secret_env(const char *name);
/* Replaces every registered secret and credential shape in text with
 * "[REDACTED]": a new string (NULL on OOM). */
char *runner_scrub(const char *text);
/* Registers one more secret (a credential a forge minted): redacted from
 * logs, and searched for in what is pushed when 8 bytes or longer. */
void runner_secret_add(const char *value);
/* 1 if data holds one of the registered secrets (8 bytes or longer). */
int runner_contains_secret(const char *data, size_t len);
void runner_secrets_forget(void);

/* ---- proc.c: children ---- */
struct runner_child {
    pid_t pid;
    int in_fd;  /* our end of its stdin, or -1 */
    int out_fd; /* our end of its stdout, or -1 */
};

#define RUNNER_ERR_TO_OUT (-2) /* err_fd: stderr goes where stdout goes */
/* Starts argv[0] (looked up in PATH when it has no '/') in cwd with exactly
 * env (NULL-terminated "K=V" list), in a process group of its own, with its
 * stdin and/or stdout as pipes when asked (else /dev/null), stderr to
 * err_fd (-1: /dev/null). Signals are unblocked in the child. */
int runner_spawn(char *const argv[], char *const env[], const char *cwd, int want_in,
                 int want_out, int err_fd, struct runner_child *out);
/* Waits up to ms for the child to exit on its own: 0 with its wait status
 * (the rest of its group is killed), -1 if it still runs. */
int runner_wait_child(struct runner_child *c, long long ms, int *status);
/* SIGTERM to the child's group, SIGKILL after grace_ms; reaps it. Returns its
 * wait status. */
int runner_stop_child(struct runner_child *c, int grace_ms);
/* Kills (SIGKILL) every process left that was reparented to the runner (it
 * is a subreaper) and reaps them: no agent process outlives the runner. */
void runner_kill_orphans(void);

/* Runs argv to completion with env in cwd, collecting at most cap bytes of
 * its stdout and stderr together (the rest is discarded but drained), and
 * kills its group after timeout_ms. *output is NUL-terminated, caller frees.
 * Returns the exit status (0..255), 128+signal, or -1 if it could not start. */
int runner_run(char *const argv[], char *const env[], const char *cwd, size_t cap,
               long timeout_ms, char **output);
/* The same, handing the output to on_data as it comes. */
int runner_run_stream(char *const argv[], char *const env[], const char *cwd, long timeout_ms,
                      void (*on_data)(void *ud, const char *data, size_t n), void *ud);

/* ---- env.c: environments for children ---- */
struct runner_env {
    char **v;
    size_t n, cap;
    int failed;
};
void runner_env_set(struct runner_env *e, const char *name, const char *value);
/* Copies name from our own environment when set. */
void runner_env_pass(struct runner_env *e, const char *name);
void runner_env_clear(struct runner_env *e);

/* ---- linebuf.c: a bounded line splitter (pure) ---- */
struct linebuf {
    char *buf;
    size_t len, cap, max;
    size_t skipping; /* > 0: inside an over-long line, bytes dropped so far */
};
/* max: the longest line kept, in bytes. */
void linebuf_init(struct linebuf *lb, size_t max);
void linebuf_free(struct linebuf *lb);
/* Feeds bytes; calls on_line(ud, line, len) for each whole line (without
 * its newline, NUL-terminated in place) and on_long(ud, bytes) once for each
 * line longer than max, which is dropped. Returns -1 on OOM. */
int linebuf_feed(struct linebuf *lb, const char *data, size_t n,
                 void (*on_line)(void *ud, char *line, size_t len),
                 void (*on_long)(void *ud, size_t bytes), void *ud);
/* The unterminated rest at end of input, as one last line. */
void linebuf_finish(struct linebuf *lb, void (*on_line)(void *ud, char *line, size_t len),
                    void (*on_long)(void *ud, size_t bytes), void *ud);

/* ---- events.c: the event stream to the live service ---- */
struct runner_events;
/* api_url NULL: events are written to stdout, one line each. */
int runner_events_start(const struct runner_opts *o, struct ambd_kube *kube,
                        struct runner_events **out, struct amb_error *err);
/* Queues one event (stolen: scrubbed of secrets and shrunk to fit in
 * place, then serialised). Never blocks: past the backlog bound the event is
 * counted as dropped. */
void runner_events_post(struct runner_events *ev, json_t *event);
/* A runner event: {"type":"runner","subtype":subtype,"message":message} plus
 * the members of extra (borrowed, may be NULL). */
void runner_events_note(struct runner_events *ev, const char *subtype, const char *message,
                        const json_t *extra);
/* Waits until everything queued was delivered or timeout_ms passed, then
 * stops the sender. Returns the number of events never delivered. */
size_t runner_events_finish(struct runner_events *ev, long timeout_ms);
void runner_events_free(struct runner_events *ev);
/* Largest serialised event we send (the live service's default limit is
 * 1 MiB per event and per post, and it adds seq and ts). */
#define RUNNER_MAX_EVENT (1024u * 1024 - 4096)
/* Shrinks ev (modified) until its compact form is at most max bytes: long
 * strings are cut first, then the event is replaced by a stub naming its
 * type and size. Returns the serialised event (caller frees). Pure. */
char *runner_event_fit(json_t *ev, size_t max);

/* ---- live_http.c: requests to the live service ---- */
/* <api>/api/projects/NS/agentic-sessions/NAME/<suffix> (caller frees). */
char *runner_live_url(const struct runner_opts *o, const char *suffix);
/* [header, "Authorization: Bearer <the session token>"] (free with
 * curl_slist_free_all). */
struct curl_slist *runner_live_headers(struct ambd_kube *kube, const char *header);
/* Resets h and sets the URL, headers and the options every request to the
 * live service takes (its CA, http(s) only, no signals, connect timeout). */
void runner_live_setup(CURL *h, const char *url, struct curl_slist *hdrs, const char *ca_file);

/* ---- inbox.c: user messages for interactive sessions ---- */
struct runner_inbox;
/* Follows the session's event log on the live service from the end of the
 * previous run and hands each user_message's content to the agent through
 * wake_fd (one byte per message; take them with runner_inbox_take). */
int runner_inbox_start(const struct runner_opts *o, struct ambd_kube *kube,
                       struct runner_inbox **out, struct amb_error *err);
int runner_inbox_fd(const struct runner_inbox *in);
/* Next message: 1 with *content (caller frees), 2 when the user ended the
 * session, 0 when nothing is waiting. */
int runner_inbox_take(struct runner_inbox *in, char **content);
void runner_inbox_free(struct runner_inbox *in);

/* ---- session.c: the AgenticSession ---- */
struct runner_session {
    struct ambd_kube *kube;
    const struct amb_host *host; /* set_condition */
    char *ns, *name;
    json_t *obj; /* as last read or written */
};
int runner_session_read(struct runner_session *s, struct amb_error *err);
/* Read-modify-write of status through /status: mutate edits a fresh copy
 * (return 0 to write, > 0 to skip); a conflict reads again and retries;
 * unavailable servers are retried for up to budget_ms. */
int runner_session_update_status(struct runner_session *s, int (*mutate)(void *ud, json_t *obj),
                                 void *ud, long budget_ms, struct amb_error *err);
const char *runner_session_phase(const struct runner_session *s);
const json_t *runner_session_spec(const struct runner_session *s);

/* ---- repo.c: one repository of the session ---- */
enum runner_push_to { PUSH_NONE, PUSH_SAME, PUSH_FORK };

struct runner_repo {
    size_t index;
    char *url;          /* input.url */
    char *branch;       /* input.branch, or the remote's default once cloned */
    int branch_given;
    enum runner_push_to push_to;
    char *target_branch; /* the branch the work is pushed to */
    char *target_repo;   /* output.targetRepo, or NULL */
    char *dir;           /* where it is cloned */
    char *base_sha;      /* HEAD right after the clone */
    char *push_url;      /* where the work is pushed (the fork's URL for fork) */
    char *saved_config;  /* .git/config as the clone wrote it */
    size_t saved_config_len;
    /* credentials for git, from the forge, AMBIENT_REPO_<i>_TOKEN or GIT_TOKEN */
    char *username;
    char *password;
    char *token;         /* for the forge's API (fork, pull request), or NULL */
    int forge_auth;      /* the forge gave credentials of its own (no token needed) */
    const struct amb_forge *forge; /* NULL: a plain git host */
    void *forge_ud;
    json_t *forge_repo; /* the forge's parse_repo answer (new ref), or NULL */
    json_t *fork_repo;  /* the fork the forge found or made, or NULL */
    /* outcome */
    json_t *status; /* repoStatuses entry, or NULL (pushTo none) */
};

/* Reads the repos of spec into *repos (n entries); a field error names it. */
int runner_repos_from_spec(const json_t *spec, const char *session_name,
                           struct runner_repo **repos, size_t *n, struct amb_error *err);
void runner_repos_free(struct runner_repo *repos, size_t n);

/* ---- git.c ---- */
struct runner_git {
    const char *workspace;
    const struct runner_opts *opts;
    const struct ambd_registry *registry; /* forges; may be NULL */
    const char *author_name, *author_email; /* the session's creator, or the bot */
    const char *commit_subject;
    const char *commit_body;
    const char *pr_title, *pr_body;
    long short_ms; /* local git commands */
    long long_ms;  /* clone, fetch, push */
};
/* Picks the forge and credentials for repo r (index i): forge, then
 * AMBIENT_REPO_<i>_TOKEN, then GIT_TOKEN. */
int runner_git_credentials(const struct runner_git *g, struct runner_repo *r,
                           struct amb_error *err);
/* Clones r into the workspace (or reuses the clone of an earlier run) and
 * checks out its work branch. */
int runner_git_clone(const struct runner_git *g, struct runner_repo *r, struct amb_error *err);
/* Commits what the agent left and pushes per r->push_to; fills r->status. A
 * failure is recorded in r->status (status "failed") and returned. */
int runner_git_deliver(const struct runner_git *g, struct runner_repo *r, int partial,
                       struct amb_error *err);

/* ---- agent.c: the Claude Code CLI ---- */
struct runner_agent_result {
    int exit_status;      /* the CLI's wait status */
    int have_result;      /* a result line was seen */
    int is_error;
    int timed_out;        /* our deadline */
    int terminated;       /* SIGTERM/SIGINT reached the runner */
    int spawn_failed;
    json_t *result;       /* the last result line (new ref) or NULL */
    char session_id[128]; /* the CLI's session id, from init */
    char last_text[512];  /* the last assistant text, for errors */
    char last_stderr[512]; /* the CLI's last line on stderr (scrubbed) */
    size_t bad_lines;     /* lines that were not JSON objects */
    size_t long_lines;    /* lines over the bound, dropped */
};

struct runner_agent {
    const struct runner_opts *opts;
    const char *cwd;
    char **add_dirs;
    size_t n_add_dirs;
    const char *model;
    const char *prompt;   /* may be NULL for interactive sessions */
    int interactive;
    const json_t *options; /* spec.options, validated */
    long long deadline_ms; /* CLOCK_MONOTONIC ms; 0 for none */
    int signal_fd;         /* signalfd of SIGTERM/SIGINT */
    struct runner_events *events;
    struct runner_inbox *inbox; /* interactive only */
};
/* Runs the CLI to its end, our deadline, or a signal. */
int runner_agent_run(const struct runner_agent *a, struct runner_agent_result *res);
void runner_agent_result_clear(struct runner_agent_result *res);
/* The argv for the CLI (NULL-terminated; free with runner_argv_free). */
char **runner_agent_argv(const struct runner_agent *a);
void runner_argv_free(char **argv);

/* ---- run.c: one session ---- */
struct runner_run {
    const struct runner_opts *opts;
    struct ambd_kube *kube;
    const struct ambd_registry *registry; /* forges; NULL without --config */
    struct amb_host host;                 /* set_condition */
    int signal_fd;                        /* SIGTERM, SIGINT, SIGCHLD */
};
/* Runs the session to its end; returns the exit status. */
int runner_run_session(struct runner_run *run);

/* ---- time ---- */
long long runner_now_ms(void); /* CLOCK_MONOTONIC */
void runner_rfc3339_now(char *buf, size_t n);

#endif /* RUNNER_H */
