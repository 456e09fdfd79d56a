/* routes_sessions.c — the AgenticSession routes beyond the generic ones:
 *
 *   POST /api/projects/:project/agentic-sessions/:name/stop   202
 *   POST /api/projects/:project/agentic-sessions/:name/start  202
 *   POST /api/projects/:project/agentic-sessions/:name/clone  201
 *
 * (The shapes of a create are session_create.c's.)
 *
 * Stop and start are requests recorded on the resource as the annotation
 * ambient-code.io/desired-phase (with the time asked), honoured by the
 * reconciler. A stop of a finished session (Completed, Failed, Stopped) and a
 * start of one that has not finished (no phase yet, Pending, Running) are
 * 409: there is nothing to do, and a start would just be consumed. The patch
 * carries the resourceVersion the phase was read at, so a phase change in
 * between is a 409 too, never a request acted on against a stale phase. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"

#define SESSION_GROUP "vteam.ambient-code"
#define SESSION_PLURAL "agenticsessions"
#define ANN_DESIRED_PHASE "ambient-code.io/desired-phase"
#define ANN_CLONED_FROM "ambient-code.io/cloned-from"

/* ---- small helpers ---- */


static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *phase_of(const json_t *obj)
{
    const char *p = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
    return p && *p ? p : NULL;
}

static void now_rfc3339(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The session kind, or a 404 when agenticsession.so is not loaded. */
static const struct amb_kind *session_kind(struct api_req *r, void **ud)
{
    const struct amb_kind *k = api_kind_find(SESSION_GROUP, SESSION_PLURAL, ud);
    if (!k)
        api_reply_error(r, 404, "agentic sessions are not served (agenticsession plugin not loaded)",
                        NULL);
    return k;
}

static int session_params(struct api_req *r, const char **project, const char **name)
{
    if (!(*project = api_project_param(r)))
        return -1;
    return (*name = api_name_param(r)) ? 0 : -1;
}

static int require(struct api_req *r, const struct amb_kind *k, const char *verb, const char *ns,
                   const char *name)
{
    struct api_access what = {verb, k->resource.group, k->resource.plural, NULL, ns, name};
    return api_require(r, &what);
}

/* ---- stop / start ---- */

struct desire {
    const char *phase;        /* the desired-phase value */
    const char *stamp;        /* the annotation that records when */
    const char *verb;         /* for messages: "stop", "start" */
    const char *done;         /* "Stop", "Start" */
    const char *const *refuse; /* phases (NULL for none yet) where it is a 409 */
    size_t n_refuse;
};

static int refused(const struct desire *d, const char *phase)
{
    for (size_t i = 0; i < d->n_refuse; i++) {
        if (!d->refuse[i] ? !phase : phase && strcmp(d->refuse[i], phase) == 0)
            return 1;
    }
    return 0;
}

static void request_phase(struct api_req *r, const struct desire *d)
{
    const char *project, *name;
    void *ud = NULL;
    if (session_params(r, &project, &name))
        return;
    const struct amb_kind *k = session_kind(r, &ud);
    if (!k || require(r, k, "patch", project, name))
        return;
    struct amb_ctx *ctx = api_ctx(r);
    json_t *current = NULL, *patch = NULL, *stored = NULL;
    struct amb_error *err = NULL;
    if (!ctx || api_read_object(r, ctx, &k->resource, project, name, 0, &current))
        return;
    const char *phase = phase_of(current);
    if (refused(d, phase)) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot %s session \"%s\": it is %s", d->verb, name,
                 phase ? phase : "not started yet (no phase)");
        api_reply_error(r, 409, msg, NULL);
        goto done;
    }
    char when[32];
    now_rfc3339(when, sizeof when);
    patch = json_pack("{s:{s:s?, s:{s:s, s:s}}}", "metadata", "resourceVersion",
                      meta_string(current, "resourceVersion"), "annotations", ANN_DESIRED_PHASE,
                      d->phase, d->stamp, when);
    err = api_host->error_new();
    if (!patch || !err) {
        api_reply_error(r, 500, "out of memory", NULL);
        goto done;
    }
    int rc = api_host->kube_patch(ctx, &k->resource, project, name, patch, &stored, err);
    if (rc != AMB_OK) {
        api_reply_amb(r, rc, err);
        goto done;
    }
    char msg[320];
    snprintf(msg, sizeof msg, "%s requested for session \"%s\"", d->done, name);
    api_reply_json(r, 202, json_pack("{s:s, s:s}", "message", msg, "name", name));
done:
    api_host->error_free(err);
    json_decref(stored);
    json_decref(patch);
    json_decref(current);
}

static void handle_stop(struct api_req *r)
{
    static const char *const finished[] = {"Completed", "Failed", "Stopped"};
    const struct desire d = {"Stopped", "ambient-code.io/stop-requested-at", "stop", "Stop", finished,
                             3};
    request_phase(r, &d);
}

static void handle_start(struct api_req *r)
{
    static const char *const unfinished[] = {NULL, "Pending", "Running"};
    const struct desire d = {"Running", "ambient-code.io/start-requested-at", "start", "Start",
                             unfinished, 3};
    request_phase(r, &d);
}

/* ---- clone ---- */

/* The copy: spec and labels only (never status, owner or other metadata),
 * plus where it came from. */
static json_t *clone_of(const json_t *src, const char *project, const char *name,
                        const char *target, const char *new_name)
{
    char from[320];
    snprintf(from, sizeof from, "%s/%s", project, name);
    json_t *labels = json_object_get(json_object_get(src, "metadata"), "labels");
    json_t *spec = json_object_get(src, "spec");
    return json_pack("{s:{s:s, s:s, s:o, s:{s:s}}, s:o}", "metadata", "name", new_name,
                     "namespace", target, "labels",
                     json_is_object(labels) ? json_deep_copy(labels) : json_object(),
                     "annotations", ANN_CLONED_FROM, from, "spec",
                     json_is_object(spec) ? json_deep_copy(spec) : json_object());
}

/* {targetProject, newSessionName}, both checked; replies 400 if not. */
static int clone_target(struct api_req *r, const json_t *body, const char **target,
                        const char **new_name)
{
    *target = json_string_value(json_object_get(body, "targetProject"));
    *new_name = json_string_value(json_object_get(body, "newSessionName"));
    if (!api_is_dns_label(*target)) {
        api_reply_field(r, 400, "targetProject", "is required: a project name (DNS-1123 label)");
        return -1;
    }
    if (!api_is_dns_subdomain(*new_name)) {
        api_reply_field(r, 400, "newSessionName", "is required: a session name (DNS-1123 subdomain)");
        return -1;
    }
    return 0;
}

static void handle_clone(struct api_req *r)
{
    const char *project, *name, *target, *new_name;
    void *ud = NULL;
    if (session_params(r, &project, &name))
        return;
    const struct amb_kind *k = session_kind(r, &ud);
    json_t *body = NULL, *src = NULL, *obj = NULL, *stored = NULL;
    if (!k || api_body_object(r, 0, &body))
        return;
    if (clone_target(r, body, &target, &new_name))
        goto done;
    struct amb_ctx *ctx = require(r, k, "get", project, name) == 0 ? api_ctx(r) : NULL;
    if (!ctx || api_read_object(r, ctx, &k->resource, project, name, 0, &src))
        goto done;
    obj = clone_of(src, project, name, target, new_name);
    if (!obj) {
        api_reply_error(r, 500, "out of memory", NULL);
        goto done;
    }
    /* The access review, defaults and validation are the target project's. */
    if (api_kind_create(r, k, ud, target, obj, NULL, &stored) == 0)
        api_reply_json(r, 201, json_incref(stored));
done:
    json_decref(stored);
    json_decref(obj);
    json_decref(src);
    json_decref(body);
}

void api_routes_sessions(struct api_router *rt)
{
    const char *base = "/api/projects/:project/agentic-sessions/:name";
    struct {
        const char *suffix;
        api_handler fn;
    } routes[] = {{"stop", handle_stop}, {"start", handle_start}, {"clone", handle_clone}};
    char pattern[128];
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        snprintf(pattern, sizeof pattern, "%s/%s", base, routes[i].suffix);
        if (api_router_add(rt, "POST", pattern, routes[i].fn, 0) != AMB_OK)
            api_host->logf(api_self, AMB_LOG_ERROR, "api: cannot add route POST %s", pattern);
    }
}
