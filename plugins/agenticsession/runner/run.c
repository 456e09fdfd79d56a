/* run.c — one session, start to end: mark it Running, clone its
 * repositories, run the agent, push what it did, write the outcome.
 * Every way this can fail ends in a Failed status whose error says what a
 * user can do about it, with secrets scrubbed; nothing here exits early
 * without writing the status it could write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "as_names.h"
#include "as_options.h"
#include "buf-internal.h"
#include "error-internal.h"
#include "log-internal.h"
#include "runner.h"

#define TERM_BUDGET_MS 20000L   /* of the pod's 30 s grace after SIGTERM */
#define STATUS_BUDGET_MS 120000L /* retrying the final status while the API is down */
#define EVENTS_FLUSH_MS 60000L
#define EVENTS_FLUSH_TERM_MS 5000L
#define MAX_RESULT_TEXT 65536
#define SHORT_GIT_MS 60000L
#define LONG_GIT_MS (15 * 60000L)

static const char *or_default(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

static int terminal(const char *phase)
{
    return phase && (strcmp(phase, "Completed") == 0 || strcmp(phase, "Failed") == 0 ||
                     strcmp(phase, "Stopped") == 0);
}

static json_t *status_of(json_t *obj)
{
    json_t *st = json_object_get(obj, "status");
    if (!json_is_object(st)) {
        st = json_object();
        json_object_set_new(obj, "status", st);
    }
    return st;
}

static void set_generation(json_t *obj, json_t *st)
{
    json_object_set_new(st, "observedGeneration",
                        json_integer(json_integer_value(
                            json_object_get(json_object_get(obj, "metadata"), "generation"))));
}

/* ---- Running ---- */

struct running {
    const struct amb_host *host;
    const char *message;
};

static int mark_running(void *ud, json_t *obj)
{
    struct running *r = ud;
    json_t *st = status_of(obj);
    if (!st)
        return AMB_ENOMEM;
    if (terminal(json_string_value(json_object_get(st, "phase"))))
        return 1; /* stopped meanwhile: the caller finds out when it reads again */
    char now[32];
    runner_rfc3339_now(now, sizeof now);
    json_object_set_new(st, "phase", json_string("Running"));
    if (!json_object_get(st, "startTime"))
        json_object_set_new(st, "startTime", json_string(now));
    json_object_set_new(st, "message", json_string(r->message));
    json_object_del(st, "error");
    set_generation(obj, st);
    /* Ready and Succeeded stay the reconciler's while the session runs (it
     * derives them from the Pod); the runner says it started in a condition
     * of its own, and its progress in message. */
    return r->host->set_condition(obj, "RunnerStarted", "True", "Started",
                                  "the runner is working on the session") < 0
               ? AMB_EINVAL
               : 0;
}

/* ---- the outcome ---- */

struct outcome {
    const struct amb_host *host;
    int completed;
    const char *reason;
    char error[2048];
    const struct runner_agent_result *agent;
    const struct runner_repo *repos;
    size_t n_repos;
    char last_activity[32];
    int kept_phase; /* out: someone else had already ended the session */
};

static void fail(struct outcome *out, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct outcome *out, const char *reason, const char *fmt, ...)
{
    if (!out->completed && out->reason)
        return; /* the first failure is the one to tell */
    char raw[sizeof out->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    char *clean = runner_scrub(raw);
    snprintf(out->error, sizeof out->error, "%s", clean ? clean : "failed");
    free(clean);
    out->completed = 0;
    out->reason = reason;
}

static void fail_err(struct outcome *out, const char *reason, const char *what,
                     const struct amb_error *err)
{
    char *line = ambd_error_line(err);
    fail(out, reason, "%s: %s", what, line ? line : "failed");
    free(line);
}

static json_t *results_of(const json_t *result)
{
    const char *text = json_string_value(json_object_get(result, "result"));
    struct ambd_buf b = {0};
    if (text) {
        size_t n = strlen(text);
        if (n > MAX_RESULT_TEXT) {
            n = MAX_RESULT_TEXT;
            while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
                n--;
        }
        ambd_buf_append(&b, text, n);
    }
    char *summary = ambd_buf_take(&b);
    json_t *r = json_pack("{s:s, s:b}", "summary", summary ? summary : "", "isError",
                          json_is_true(json_object_get(result, "is_error")));
    free(summary);
    const char *subtype = json_string_value(json_object_get(result, "subtype"));
    if (r && subtype)
        json_object_set_new(r, "subtype", json_string(subtype));
    return r;
}

static json_t *usage_of(const json_t *result)
{
    const json_t *u = json_object_get(result, "usage");
    json_t *out = json_object();
    const char *from[] = {"input_tokens", "output_tokens", "cache_read_input_tokens",
                          "cache_creation_input_tokens"};
    const char *to[] = {"inputTokens", "outputTokens", "cacheReadInputTokens",
                        "cacheCreationInputTokens"};
    for (size_t i = 0; out && i < 4; i++) {
        const json_t *v = json_object_get(u, from[i]);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            json_object_set_new(out, to[i], json_integer(json_integer_value(v)));
    }
    const json_t *turns = json_object_get(result, "num_turns");
    const json_t *cost = json_object_get(result, "total_cost_usd");
    const json_t *ms = json_object_get(result, "duration_ms");
    if (out && json_is_integer(turns) && json_integer_value(turns) >= 0)
        json_object_set_new(out, "numTurns", json_integer(json_integer_value(turns)));
    if (out && json_is_number(cost) && json_number_value(cost) >= 0)
        json_object_set_new(out, "totalCostUSD", json_real(json_number_value(cost)));
    if (out && json_is_integer(ms) && json_integer_value(ms) >= 0)
        json_object_set_new(out, "durationMs", json_integer(json_integer_value(ms)));
    return out;
}

static int write_outcome(void *ud, json_t *obj)
{
    struct outcome *o = ud;
    json_t *st = status_of(obj);
    if (!st)
        return AMB_ENOMEM;
    char now[32];
    runner_rfc3339_now(now, sizeof now);
    o->kept_phase = terminal(json_string_value(json_object_get(st, "phase")));
    if (!o->kept_phase) {
        json_object_set_new(st, "phase", json_string(o->completed ? "Completed" : "Failed"));
        if (!json_object_get(st, "startTime"))
            json_object_set_new(st, "startTime", json_string(now));
        json_object_set_new(st, "completionTime", json_string(now));
        if (o->completed)
            json_object_del(st, "error");
        else
            json_object_set_new(st, "error", json_string(o->error));
        const char *reason = o->completed ? "Completed" : o->reason;
        const char *msg = o->completed ? "the agent finished and its work was delivered"
                                       : o->error;
        if (o->host->set_condition(obj, "Ready", "False", reason, msg) < 0 ||
            o->host->set_condition(obj, "Succeeded", o->completed ? "True" : "False", reason,
                                   msg) < 0)
            return AMB_EINVAL;
        json_object_set_new(st, "message",
                            json_string(o->completed ? "completed" : "failed: see error"));
    }
    set_generation(obj, st);
    const struct runner_agent_result *a = o->agent;
    if (a && a->result) {
        json_object_set_new(st, "results", results_of(a->result));
        json_object_set_new(st, "usage", usage_of(a->result));
    }
    if (a && a->session_id[0])
        json_object_set_new(st, "agentSessionId", json_string(a->session_id));
    if (o->last_activity[0])
        json_object_set_new(st, "lastActivityTime", json_string(o->last_activity));
    json_t *list = json_array();
    for (size_t i = 0; list && i < o->n_repos; i++)
        if (o->repos[i].status)
            json_array_append(list, o->repos[i].status);
    if (json_array_size(list) > 0)
        json_object_set_new(st, "repoStatuses", list);
    else
        json_decref(list);
    return 0;
}

/* ---- steps ---- */

static int mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* A commit's subject: the display name, else the prompt's first line. */
static void subject_of(const json_t *spec, const char *name, char *buf, size_t n)
{
    const char *dn = json_string_value(json_object_get(spec, "displayName"));
    const char *prompt = json_string_value(json_object_get(spec, "prompt"));
    const char *src = dn && *dn ? dn : prompt;
    if (!src || !*src) {
        snprintf(buf, n, "Ambient session %s", name);
        return;
    }
    while (*src == ' ' || *src == '\n')
        src++;
    size_t len = strcspn(src, "\r\n");
    if (len > 72) {
        len = 72;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    snprintf(buf, n, "%.*s", (int)len, src);
    if (!buf[0])
        snprintf(buf, n, "Ambient session %s", name);
}

static const char *created_by(const json_t *obj)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "annotations"), AMB_CREATED_BY_ANNOTATION));
}

static long long run_number(const json_t *obj)
{
    const char *r = json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "annotations"), AS_ANN_RUN));
    long long n = r ? atoll(r) : 1;
    return n > 0 ? n : 1;
}

static void classify(const struct runner_agent_result *a, const char *claude, struct outcome *out)
{
    if (a->spawn_failed) {
        fail(out, "AgentNotFound", "cannot start the agent CLI \"%s\": %s (is Claude Code "
                                   "installed in the runner image?)",
             claude, strerror(a->spawn_failed));
    } else if (a->terminated) {
        fail(out, "Terminated", "the runner was told to stop (SIGTERM) before the agent "
                                "finished; its work so far was pushed");
    } else if (a->timed_out) {
        fail(out, "Timeout", "the agent did not finish within the session's timeout; its "
                             "work so far was pushed");
    } else if (a->have_result && a->is_error) {
        const char *text = json_string_value(json_object_get(a->result, "result"));
        const json_t *api = json_object_get(a->result, "api_error_status");
        if (json_is_integer(api))
            fail(out, "AgentError", "the model API answered %lld: %.400s",
                 (long long)json_integer_value(api), text ? text : "");
        else
            fail(out, "AgentError", "the agent reported an error (%s): %.400s",
                 or_default(json_string_value(json_object_get(a->result, "subtype")), "error"),
                 text ? text : "");
    } else if (!a->have_result || !WIFEXITED(a->exit_status) || WEXITSTATUS(a->exit_status)) {
        char how[64];
        if (WIFSIGNALED(a->exit_status))
            snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(a->exit_status));
        else
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(a->exit_status));
        char extra[96] = "";
        if (a->bad_lines || a->long_lines)
            snprintf(extra, sizeof extra, " (%zu lines of its output were not JSON, %zu too "
                                          "long)",
                     a->bad_lines, a->long_lines);
        fail(out, "AgentFailed", "the agent CLI %s%s%s%s%s", how,
             a->have_result ? "" : " before reporting a result", extra,
             a->last_stderr[0] ? ": " : "", a->last_stderr);
    }
}

/* Everything one session's run holds, so each step is a function. */
struct session_run {
    struct runner_run *run;
    const struct runner_opts *o;
    struct runner_session s;
    json_t *spec; /* a copy: s.obj is replaced by every status write */
    struct runner_events *events;
    struct runner_repo *repos;
    size_t n_repos;
    struct runner_git g;
    char subject[300], body[600], pr_body[1200], creator[256];
    char **add_dirs;
    size_t n_add;
    struct runner_agent_result agent;
    struct outcome out;
    struct amb_error err;
    long long started;
    long long job_deadline_ms; /* when the Job's deadline kills the pod; 0: none */
};

static void note_repo(struct session_run *r, const char *subtype, const char *msg, size_t i)
{
    json_t *x = json_pack("{s:I, s:s}", "repoIndex", (json_int_t)i, "dir", r->repos[i].dir);
    runner_events_note(r->events, subtype, msg, x);
    json_decref(x);
}

/* Repositories, options and the git identity from the spec; 0 to go on. */
static int prepare(struct session_run *r)
{
    const struct runner_opts *o = r->o;
    struct as_option_problem op;
    if (as_options_check(json_object_get(r->spec, "options"), &op) != 0) {
        fail(&r->out, "Invalid", "%s: %s", op.field, op.message);
        return -1;
    }
    if (runner_repos_from_spec(r->spec, o->name, &r->repos, &r->n_repos, &r->err) != AMB_OK) {
        fail_err(&r->out, "Invalid", "the session's repositories", &r->err);
        return -1;
    }
    const json_t *mri = json_object_get(r->spec, "mainRepoIndex");
    if (mri && (!json_is_integer(mri) || json_integer_value(mri) < 0 ||
                json_integer_value(mri) >= (json_int_t)(r->n_repos ? r->n_repos : 1))) {
        fail(&r->out, "Invalid", "spec.mainRepoIndex: must index an entry of spec.repos");
        return -1;
    }
    if (mkdirs(o->workspace) != 0) {
        fail(&r->out, "WorkspaceUnavailable", "cannot create the workspace %s: %s",
             o->workspace, strerror(errno));
        return -1;
    }
    const char *prompt = json_string_value(json_object_get(r->spec, "prompt"));
    subject_of(r->spec, o->name, r->subject, sizeof r->subject);
    snprintf(r->body, sizeof r->body, "Ambient-Session: %s/%s", o->ns, o->name);
    snprintf(r->pr_body, sizeof r->pr_body, "Made by the Ambient session %s/%s.%s%.600s", o->ns,
             o->name, prompt ? "\n\nTask:\n\n" : "", or_default(prompt, ""));
    /* a copy: r->s.obj is replaced by every status write */
    snprintf(r->creator, sizeof r->creator, "%s", or_default(created_by(r->s.obj), ""));
    const char *who = r->creator;
    r->g = (struct runner_git){
        .workspace = o->workspace, .opts = o, .registry = r->run->registry,
        .author_name = who && *who ? who : o->git_name,
        .author_email = who && strchr(who, '@') ? who : o->git_email,
        .commit_subject = r->subject, .commit_body = r->body, .pr_title = r->subject,
        .pr_body = r->pr_body, .short_ms = SHORT_GIT_MS, .long_ms = LONG_GIT_MS,
    };
    return 0;
}

static int clone_all(struct session_run *r)
{
    for (size_t i = 0; i < r->n_repos; i++) {
        note_repo(r, "clone", r->repos[i].url, i);
        if (runner_git_credentials(&r->g, &r->repos[i], &r->err) != AMB_OK ||
            runner_git_clone(&r->g, &r->repos[i], &r->err) != AMB_OK) {
            char what[64];
            snprintf(what, sizeof what, "repository %zu", i);
            fail_err(&r->out, "CloneFailed", what, &r->err);
            return -1;
        }
    }
    return 0;
}

static int run_agent(struct session_run *r)
{
    const struct runner_opts *o = r->o;
    long long main_index = json_integer_value(json_object_get(r->spec, "mainRepoIndex"));
    char cwd[4200];
    snprintf(cwd, sizeof cwd, "%s%s%s", o->workspace, r->n_repos ? "/" : "",
             r->n_repos ? r->repos[main_index].dir : "");
    r->add_dirs = calloc(r->n_repos + 1, sizeof *r->add_dirs);
    for (size_t i = 0; r->add_dirs && i < r->n_repos; i++) {
        size_t len = strlen(o->workspace) + strlen(r->repos[i].dir) + 2;
        if ((long long)i != main_index && (r->add_dirs[r->n_add] = malloc(len)))
            snprintf(r->add_dirs[r->n_add++], len, "%s/%s", o->workspace, r->repos[i].dir);
    }
    long long timeout = o->timeout_s > 0
                            ? o->timeout_s
                            : json_integer_value(json_object_get(r->spec, "timeout"));
    /* Keep time for pushing and the final status before the Job's
     * deadline kills the pod: a tenth of the timeout, at least 5 s (half
     * of a shorter one), at most a minute. */
    long long ms = timeout * 1000, reserve = ms / 10;
    r->job_deadline_ms = timeout > 0 ? r->started + ms : 0;
    long long floor_ms = ms / 2 < 5000 ? ms / 2 : 5000;
    if (reserve < floor_ms)
        reserve = floor_ms;
    if (reserve > 60000)
        reserve = 60000;
    int interactive = json_is_true(json_object_get(r->spec, "interactive"));
    struct runner_inbox *inbox = NULL;
    if (interactive && runner_inbox_start(o, r->run->kube, &inbox, &r->err) != AMB_OK) {
        fail_err(&r->out, "RunnerFailed", "cannot follow the session's messages", &r->err);
        runner_inbox_free(inbox);
        return -1;
    }
    struct running running = {&r->run->host, "the agent is working"};
    runner_session_update_status(&r->s, mark_running, &running, STATUS_BUDGET_MS, &r->err);
    ambd_error_clear(&r->err);
    struct runner_agent a = {
        .opts = o, .cwd = cwd, .add_dirs = r->add_dirs, .n_add_dirs = r->n_add,
        .model = o->model ? o->model : json_string_value(json_object_get(r->spec, "model")),
        .prompt = json_string_value(json_object_get(r->spec, "prompt")),
        .interactive = interactive, .options = json_object_get(r->spec, "options"),
        .deadline_ms = timeout > 0 ? r->started + ms - reserve : 0,
        .signal_fd = r->run->signal_fd, .events = r->events, .inbox = inbox,
    };
    runner_agent_run(&a, &r->agent);
    runner_inbox_free(inbox);
    runner_rfc3339_now(r->out.last_activity, sizeof r->out.last_activity);
    classify(&r->agent, o->claude, &r->out);
    return r->agent.spawn_failed ? -1 : 0;
}

/* A wait of at most ms that still ends a second before the Job's deadline
 * (the session's timeout from the runner's start), and at least a second. */
static long within_deadline(const struct session_run *r, long ms)
{
    if (!r->job_deadline_ms)
        return ms;
    long long left = r->job_deadline_ms - runner_now_ms() - 1000;
    return left < 1000 ? 1000 : (left < ms ? (long)left : ms);
}

/* Pushes each repository's work; unfinished work is pushed without a pull
 * request, so nothing the agent did is lost. */
static void deliver_all(struct session_run *r)
{
    int partial = !r->out.completed;
    if (r->agent.terminated)
        r->g.short_ms = r->g.long_ms = TERM_BUDGET_MS / 2;
    r->g.short_ms = within_deadline(r, r->g.short_ms);
    r->g.long_ms = within_deadline(r, r->g.long_ms);
    for (size_t i = 0; i < r->n_repos; i++) {
        if (runner_git_deliver(&r->g, &r->repos[i], partial, &r->err) != AMB_OK)
            fail_err(&r->out, "PushFailed", "delivering the work", &r->err);
        ambd_error_clear(&r->err);
        if (r->repos[i].status) {
            json_t *x = json_pack("{s:O}", "repo", r->repos[i].status);
            runner_events_note(r->events, "repo", "repository delivered", x);
            json_decref(x);
        }
    }
}

static void write_final(struct session_run *r)
{
    r->out.agent = &r->agent;
    r->out.repos = r->repos;
    r->out.n_repos = r->n_repos;
    ambd_error_clear(&r->err);
    long budget = within_deadline(r, r->agent.terminated ? TERM_BUDGET_MS : STATUS_BUDGET_MS);
    if (runner_session_update_status(&r->s, write_outcome, &r->out, budget, &r->err) !=
        AMB_OK) {
        char *line = ambd_error_line(&r->err);
        ambd_log("runner", AMB_LOG_ERROR, "cannot write the session's outcome", "error",
                 or_default(line, ""), NULL);
        free(line);
        r->out.completed = 0;
    }
    if (r->out.kept_phase)
        r->out.completed = 0; /* stopped by the user meanwhile */
    const char *reason = r->out.completed ? "Completed" : or_default(r->out.reason, "Failed");
    json_t *x = json_pack("{s:s, s:s}", "phase", r->out.completed ? "Completed" : "Failed",
                          "reason", reason);
    if (x && !r->out.completed)
        json_object_set_new(x, "error", json_string(r->out.error));
    runner_events_note(r->events, "finished", "the runner finished", x);
    json_decref(x);
    size_t lost = runner_events_finish(
        r->events, within_deadline(r, r->agent.terminated ? EVENTS_FLUSH_TERM_MS : EVENTS_FLUSH_MS));
    if (lost) {
        char n[32];
        snprintf(n, sizeof n, "%zu", lost);
        ambd_log("runner", AMB_LOG_WARN, "some events never reached the live service", "count",
                 n, NULL);
    }
    struct rusage ru;
    char rss[32] = "";
    if (getrusage(RUSAGE_SELF, &ru) == 0) /* the runner's own, not the agent's */
        snprintf(rss, sizeof rss, "%ld", ru.ru_maxrss);
    ambd_log("runner", r->out.completed ? AMB_LOG_INFO : AMB_LOG_WARN, "session finished",
             "phase", r->out.completed ? "Completed" : "Failed", "reason", reason, "error",
             r->out.completed ? "" : r->out.error, "max_rss_kib", rss, NULL);
}

/* Reads the session; 0 to run it, else the exit status to leave with. */
static int begin(struct session_run *r)
{
    const struct runner_opts *o = r->o;
    if (runner_session_read(&r->s, &r->err) != AMB_OK) {
        char *line = ambd_error_line(&r->err);
        ambd_log("runner", AMB_LOG_ERROR, "cannot read the session", "namespace", o->ns,
                 "session", o->name, "error", or_default(line, ""), NULL);
        free(line);
        return RUNNER_EXIT_FAILED;
    }
    const char *phase = runner_session_phase(&r->s);
    if (terminal(phase)) {
        ambd_log("runner", AMB_LOG_INFO, "the session has already ended; left alone", "phase",
                 phase, NULL);
        return strcmp(phase, "Completed") == 0 ? RUNNER_EXIT_COMPLETED : RUNNER_EXIT_FAILED;
    }
    if (o->run > 0 && run_number(r->s.obj) != o->run) {
        ambd_log("runner", AMB_LOG_WARN, "the session was restarted: this runner's run is over",
                 NULL);
        return RUNNER_EXIT_FAILED;
    }
    return 0;
}

int runner_run_session(struct runner_run *run)
{
    struct session_run r = {
        .run = run, .o = run->opts, .out = {.host = &run->host, .completed = 1},
        .err = AMBD_ERROR_INIT, .started = runner_now_ms(),
    };
    r.s = (struct runner_session){.kube = run->kube, .host = &run->host, .ns = r.o->ns,
                                  .name = r.o->name};
    int status = begin(&r);
    if (status != 0)
        goto out;
    if (runner_events_start(r.o, run->kube, &r.events, &r.err) != AMB_OK) {
        fail_err(&r.out, "RunnerFailed", "cannot start the event stream", &r.err);
    } else {
        json_t *x = json_pack("{s:I}", "run", (json_int_t)run_number(r.s.obj));
        runner_events_note(r.events, "started", "the runner started", x);
        json_decref(x);
        r.spec = json_deep_copy(runner_session_spec(&r.s));
        struct running running = {&run->host, "cloning the repositories"};
        if (!r.spec)
            fail(&r.out, "Invalid", "the session has no spec");
        else if (runner_session_update_status(&r.s, mark_running, &running, STATUS_BUDGET_MS,
                                              &r.err) != AMB_OK)
            fail_err(&r.out, "StatusWriteFailed", "cannot mark the session Running", &r.err);
        else if (!terminal(runner_session_phase(&r.s)) && prepare(&r) == 0 &&
                 clone_all(&r) == 0 && run_agent(&r) == 0)
            deliver_all(&r);
    }
    write_final(&r);
    status = r.out.completed ? RUNNER_EXIT_COMPLETED : RUNNER_EXIT_FAILED;
out:
    runner_events_free(r.events);
    runner_agent_result_clear(&r.agent);
    runner_repos_free(r.repos, r.n_repos);
    runner_argv_free(r.add_dirs);
    json_decref(r.spec);
    json_decref(r.s.obj);
    ambd_error_clear(&r.err);
    return status;
}
