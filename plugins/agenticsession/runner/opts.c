/* opts.c — ambient-runner's settings. In a pod they all come from the
 * environment the session's Job sets; every one also has a flag, which wins,
 * so a person can run the runner by hand. A bad invocation is one line on
 * stderr naming what is missing, and exit status 2. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error-internal.h"
#include "kube-internal.h"
#include "as_names.h"
#include "runner.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ambient-runner --session NS/NAME [--kube-server URL --token-file F\n"
            "                      [--ca-file F]] [--api URL [--api-ca-file F]] [--workspace DIR]\n"
            "                      [--config FILE] [--claude PATH] [--model M] [--timeout S]\n"
            "Runs one AgenticSession: clones its repositories, runs the Claude Code CLI,\n"
            "streams its events to the live service (--api; stdout without it), pushes\n"
            "the results and writes the session's status. Every flag has an environment\n"
            "variable the session's Job sets (README.md of the runner lists them).\n"
            "Exit status: 0 Completed, 1 Failed, 2 bad invocation.\n");
}

/* Flag value, else the environment's (non-empty), else NULL; a copy. */
static char *pick(const char *flag, const char *env)
{
    const char *v = flag ? flag : getenv(env);
    return v && *v ? strdup(v) : NULL;
}

static int bad(const char *fmt, const char *a)
{
    fprintf(stderr, "ambient-runner: ");
    fprintf(stderr, fmt, a ? a : "");
    fputc('\n', stderr);
    return RUNNER_EXIT_USAGE;
}

static int dns_label(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              (max > 63 && *s == '.')))
            return 0;
    return 1;
}

/* A whole number 0..max, digits only (strtoll would take signs, spaces
 * and saturate silently). */
static int parse_number(const char *s, long long max, long long *out)
{
    long long v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* An https URL, or http on loopback (tests, laptop mode). */
static int check_url(const char *what, const char *url)
{
    struct amb_error err = AMBD_ERROR_INIT;
    int rc = ambd_kube_check_server(url, &err);
    ambd_error_clear(&err);
    if (rc != AMB_OK) {
        fprintf(stderr, "ambient-runner: %s \"%s\" must be an https URL (plain http only on "
                        "loopback)\n", what, url);
        return RUNNER_EXIT_USAGE;
    }
    return -1;
}

int runner_opts_parse(struct runner_opts *o, int argc, char **argv)
{
    static const struct option options[] = {
        {"session", required_argument, NULL, 's'},   {"kube-server", required_argument, NULL, 'k'},
        {"token-file", required_argument, NULL, 't'}, {"ca-file", required_argument, NULL, 'C'},
        {"api", required_argument, NULL, 'a'},        {"workspace", required_argument, NULL, 'w'},
        {"config", required_argument, NULL, 'c'},     {"claude", required_argument, NULL, 'l'},
        {"model", required_argument, NULL, 'm'},      {"timeout", required_argument, NULL, 'T'},
        {"api-ca-file", required_argument, NULL, 'A'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *f[128] = {0}; /* flag values by option letter */
    int opt;
    memset(o, 0, sizeof *o);
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return RUNNER_EXIT_COMPLETED;
        }
        if (opt == '?' || opt == ':')
            return bad("unknown option or missing value: %s (see --help)", argv[optind - 1]);
        f[opt] = optarg;
    }
    if (optind != argc)
        return bad("unexpected argument \"%s\" (see --help)", argv[optind]);

    if (f['s']) {
        const char *slash = strchr(f['s'], '/');
        if (!slash || slash == f['s'] || !slash[1])
            return bad("--session must be NAMESPACE/NAME, not \"%s\"", f['s']);
        o->ns = strndup(f['s'], (size_t)(slash - f['s']));
        o->name = strdup(slash + 1);
    } else {
        o->ns = pick(NULL, "AGENTIC_SESSION_NAMESPACE");
        o->name = pick(NULL, "AGENTIC_SESSION_NAME");
    }
    if (!o->ns || !o->name)
        return bad("no session: give --session NS/NAME or set AGENTIC_SESSION_NAMESPACE and "
                   "AGENTIC_SESSION_NAME%s", NULL);
    if (!dns_label(o->ns, 63))
        return bad("session namespace \"%s\" is not a valid namespace name", o->ns);
    if (!dns_label(o->name, 253))
        return bad("session name \"%s\" is not a valid object name", o->name);

    o->kube_server = pick(f['k'], "AMBIENT_KUBE_SERVER");
    o->token_file = pick(f['t'], "AMBIENT_TOKEN_FILE");
    o->ca_file = pick(f['C'], "AMBIENT_CA_FILE");
    if (!o->kube_server && !getenv("KUBERNETES_SERVICE_HOST"))
        return bad("no Kubernetes API: give --kube-server URL (or run in a cluster)%s", NULL);
    if (o->kube_server && check_url("--kube-server", o->kube_server) >= 0)
        return RUNNER_EXIT_USAGE;
    if (!o->token_file)
        return bad("no token: give --token-file or set AMBIENT_TOKEN_FILE (the session's "
                   "service-account token)%s", NULL);
    o->api_url = pick(f['a'], "AMBIENT_API_URL");
    if (o->api_url && check_url("--api", o->api_url) >= 0)
        return RUNNER_EXIT_USAGE;
    o->api_ca_file = pick(f['A'], "AMBIENT_API_CA_FILE");
    o->workspace = pick(f['w'], "WORKSPACE_PATH");
    if (!o->workspace)
        return bad("no workspace: give --workspace DIR or set WORKSPACE_PATH%s", NULL);
    o->config = pick(f['c'], "AMBIENT_RUNNER_CONFIG");
    o->claude = pick(f['l'], "AMBIENT_CLAUDE");
    if (!o->claude)
        o->claude = strdup("claude");
    o->model = pick(f['m'], "AMBIENT_MODEL");
    char *timeout = pick(f['T'], "AMBIENT_TIMEOUT_SECONDS");
    int bad_timeout = timeout && parse_number(timeout, AS_MAX_TIMEOUT_S, &o->timeout_s) != 0;
    free(timeout);
    if (bad_timeout)
        return bad("the timeout must be a whole number of seconds%s", NULL);
    char *run = pick(NULL, "AMBIENT_RUN");
    int bad_run = run && parse_number(run, AS_MAX_RUN, &o->run) != 0;
    free(run);
    if (bad_run)
        return bad("AMBIENT_RUN must be a run number%s", NULL);
    o->model_api_url = pick(NULL, "ANTHROPIC_BASE_URL");
    if (o->model_api_url && check_url("ANTHROPIC_BASE_URL", o->model_api_url) >= 0)
        return RUNNER_EXIT_USAGE;
    o->git_name = pick(NULL, "AMBIENT_GIT_AUTHOR_NAME");
    o->git_email = pick(NULL, "AMBIENT_GIT_AUTHOR_EMAIL");
    if (!o->git_name)
        o->git_name = strdup("Ambient");
    if (!o->git_email)
        o->git_email = strdup("ambient@localhost");
    if (!o->claude || !o->git_name || !o->git_email)
        return bad("out of memory%s", NULL);
    return -1;
}

void runner_opts_clear(struct runner_opts *o)
{
    char **all[] = {&o->ns,        &o->name,      &o->kube_server, &o->token_file,
                    &o->ca_file,   &o->api_url,   &o->api_ca_file,   &o->workspace,   &o->config,
                    &o->claude,    &o->model,     &o->model_api_url, &o->git_name,
                    &o->git_email};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}
