/* routes.c — the AgenticSession routes beyond the generic ones the api
 * serves for every kind, registered with register_route and served by the
 * api plugin through its request accessors (ABI 1.5):
 *
 *   POST /api/projects/:project/agentic-sessions/:name/stop   202
 *   POST /api/projects/:project/agentic-sessions/:name/start  202
 *   POST /api/projects/:project/agentic-sessions/:name/clone  201
 *
 * (The shapes of a create are create.c's.)
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

#include "as.h"

#define ANN_STOP_REQUESTED "ambient-code.io/stop-requested-at"
#define ANN_START_REQUESTED "ambient-code.io/start-requested-at"
#define ANN_CLONED_FROM "ambient-code.io/cloned-from"
#define ROUTE_BASE "/api/projects/:project/" AMB_SESSION_REST "/:name/"

const struct amb_request_ops *as_request_ops(void)
{
    const struct amb_request_ops *rq = as_host->request_ops();
    return rq && AMB_RQ_HAS(rq, respond_fields) ? rq : NULL;
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

/* :project and :name, checked; the error is answered. */
static int session_params(const struct amb_request_ops *rq, struct amb_request *req,
                          const char **project, const char **name)
{
    int rc = rq->checked_param(req, "project", project);
    return rc == AMB_OK ? rq->checked_param(req, "name", name) : rc;
}

/* ---- stop / start ---- */

struct desire {
    const char *phase;         /* the desired-phase value */
    const char *stamp;         /* the annotation that records when */
    const char *verb;          /* for messages: "stop", "start" */
    const char *done;          /* "Stop", "Start" */
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

/* The patch that asks for d, written at current's resourceVersion. */
static json_t *desire_patch(const struct desire *d, const json_t *current)
{
    char when[32];
    now_rfc3339(when, sizeof when);
    return json_pack("{s:{s:s?, s:{s:s, s:s}}}", "metadata", "resourceVersion",
                     as_meta(current, "resourceVersion"), "annotations", AS_ANN_DESIRED_PHASE,
                     d->phase, d->stamp, when);
}

static int request_phase(struct amb_request *req, const struct desire *d)
{
    const struct amb_request_ops *rq = as_request_ops();
    const char *project, *name;
    if (!rq)
        return AMB_EUNSUPPORTED;
    int rc = session_params(rq, req, &project, &name);
    if (rc == AMB_OK)
        rc = rq->review(req, "patch", AS_GROUP, AS_PLURAL, project, name);
    struct amb_ctx *ctx = rc == AMB_OK ? rq->ctx(req) : NULL;
    json_t *current = NULL, *patch = NULL, *stored = NULL;
    struct amb_error *err = NULL;
    if (!ctx || (rc = rq->get_object(req, ctx, &as_sessions, project, name, 0, &current)))
        return rc != AMB_OK ? rc : AMB_EUNAVAILABLE; /* no context for the caller */
    const char *phase = phase_of(current);
    char msg[320];
    if (refused(d, phase)) {
        snprintf(msg, sizeof msg, "cannot %s session \"%s\": it is %s", d->verb, name,
                 phase ? phase : "not started yet (no phase)");
        rq->respond_message(req, 409, msg, NULL);
        goto done;
    }
    patch = desire_patch(d, current);
    err = as_host->error_new();
    if (!patch || !err) {
        rc = AMB_ENOMEM;
        goto done;
    }
    rc = as_host->kube_patch(ctx, &as_sessions, project, name, patch, &stored, err);
    if (rc != AMB_OK) {
        rq->respond_error(req, rc, err);
        goto done;
    }
    snprintf(msg, sizeof msg, "%s requested for session \"%s\"", d->done, name);
    rq->respond(req, 202, json_pack("{s:s, s:s}", "message", msg, "name", name));
done:
    as_host->error_free(err);
    json_decref(stored);
    json_decref(patch);
    json_decref(current);
    return rc;
}

static int handle_stop(void *ud, struct amb_request *req)
{
    (void)ud;
    static const char *const finished[] = {"Completed", "Failed", "Stopped"};
    const struct desire d = {"Stopped", ANN_STOP_REQUESTED, "stop", "Stop", finished, 3};
    return request_phase(req, &d);
}

static int handle_start(void *ud, struct amb_request *req)
{
    (void)ud;
    static const char *const unfinished[] = {NULL, "Pending", "Running"};
    const struct desire d = {"Running", ANN_START_REQUESTED, "start", "Start", unfinished, 3};
    return request_phase(req, &d);
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

int as_reply_field(struct amb_request *req, int status, const char *field, const char *message)
{
    as_request_ops()->respond_fields(req, status, NULL, json_pack("[{s:s,s:s}]", "field", field,
                                                                  "message", message));
    return AMB_EINVAL;
}

/* {targetProject, newSessionName}, both checked; answers 400 if not. */
static int clone_target(struct amb_request *req, const json_t *body, const char **target,
                        const char **new_name)
{
    *target = json_string_value(json_object_get(body, "targetProject"));
    *new_name = json_string_value(json_object_get(body, "newSessionName"));
    if (!amb_is_dns_label(*target))
        return as_reply_field(req, 400, "targetProject",
                              "is required: a project name (DNS-1123 label)");
    if (!amb_is_dns_subdomain(*new_name))
        return as_reply_field(req, 400, "newSessionName",
                              "is required: a session name (DNS-1123 subdomain)");
    return AMB_OK;
}

static int handle_clone(void *ud, struct amb_request *req)
{
    (void)ud;
    const struct amb_request_ops *rq = as_request_ops();
    const char *project, *name, *target, *new_name;
    json_t *body = NULL, *src = NULL, *obj = NULL, *stored = NULL;
    if (!rq)
        return AMB_EUNSUPPORTED;
    int rc = session_params(rq, req, &project, &name);
    if (rc != AMB_OK || (rc = rq->body_object(req, 0, &body)) != AMB_OK)
        return rc;
    if ((rc = clone_target(req, body, &target, &new_name)) != AMB_OK ||
        (rc = rq->review(req, "get", AS_GROUP, AS_PLURAL, project, name)) != AMB_OK)
        goto done;
    struct amb_ctx *ctx = rq->ctx(req);
    if (!ctx) {
        rc = AMB_EUNAVAILABLE; /* no context for the caller */
        goto done;
    }
    if ((rc = rq->get_object(req, ctx, &as_sessions, project, name, 0, &src)) != AMB_OK)
        goto done;
    if (!(obj = clone_of(src, project, name, target, new_name))) {
        rc = AMB_ENOMEM;
        goto done;
    }
    /* The access review, defaults and validation are the target project's. */
    rc = rq->create_object(req, &as_sessions, target, obj, &stored);
    if (rc == AMB_OK)
        rq->respond(req, 201, json_incref(stored));
done:
    json_decref(stored);
    json_decref(obj);
    json_decref(src);
    json_decref(body);
    return rc;
}

int as_register_routes(void)
{
    static const struct {
        const char *pattern;
        amb_route_fn fn;
    } routes[] = {{ROUTE_BASE "stop", handle_stop},
                  {ROUTE_BASE "start", handle_start},
                  {ROUTE_BASE "clone", handle_clone}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        struct amb_route r = {.size = sizeof r, .method = "POST", .pattern = routes[i].pattern,
                              .handler = routes[i].fn};
        int rc = as_host->register_route(as_self, &r, NULL, NULL);
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}
