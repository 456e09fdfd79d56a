/* routes.c — the RFEWorkflow routes beyond the generic kind routes
 * (api/routes_kinds.c serves list, create, get, replace, patch and delete
 * under /api/projects/:project/rfe-workflows):
 *
 *   POST /api/projects/:project/rfe-workflows/:name/stop      202
 *   POST /api/projects/:project/rfe-workflows/:name/start     202
 *   GET  /api/projects/:project/rfe-workflows/:name/sessions  200
 *
 * Every Kubernetes call is the caller's (rq->ctx), so Kubernetes RBAC
 * decides. Stop and start are requests recorded on the workflow as the
 * annotation ambient-code.io/desired-phase (as for sessions), honoured by
 * the reconciler; the patch carries the resourceVersion the phase was read
 * at, so a phase change in between is a 409, never a request acted on
 * against a stale phase. */
#include <stdio.h>
#include <string.h>

#include "rfe.h"

#define BASE "/api/projects/:project/" RFE_REST_PLURAL "/:name"

static int label(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > RFE_MAX_NAME)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n && s[0] != '-' &&
           s[n - 1] != '-';
}

/* The request's project and workflow, and the caller's context; 0 when the
 * request was answered instead. */
struct call {
    struct amb_request *req;
    const struct amb_request_ops *rq;
    const char *project, *name;
    struct amb_ctx *ctx;
    struct amb_error *err;
};

static int begin(struct call *c, struct amb_request *req)
{
    c->req = req;
    c->rq = rfe_host->request_ops();
    c->project = c->rq->param(req, "project");
    c->name = c->rq->param(req, "name");
    c->err = NULL;
    if (!label(c->project) || !label(c->name)) {
        struct amb_error *e = rfe_host->error_new();
        rfe_host->error_set(e, AMB_EINVAL, label(c->project) ? "name" : "project",
                            "must be a DNS label (a-z, 0-9 and '-', at most %d)", RFE_MAX_NAME);
        c->rq->respond_error(req, AMB_EINVAL, e);
        rfe_host->error_free(e);
        return 0;
    }
    /* NULL once the api answered for us (the project gate's 403 or 404). */
    if (!(c->ctx = c->rq->ctx(req)))
        return 0;
    if (!(c->err = rfe_host->error_new()))
        return c->rq->respond_error(req, AMB_ENOMEM, NULL), 0;
    return 1;
}

static int end(struct call *c, int rc)
{
    if (rc != AMB_OK)
        c->rq->respond_error(c->req, rc, c->err);
    rfe_host->error_free(c->err);
    return AMB_OK;
}

/* Records value as the desired phase unless the workflow's phase is one of
 * refuse (NULL stands for "no phase yet"). */
static int request_phase(struct amb_request *req, const char *value, const char *verb,
                         const char *const *refuse, size_t n_refuse)
{
    struct call c;
    if (!begin(&c, req))
        return AMB_OK;
    json_t *wf = NULL, *patch = NULL;
    int rc = rfe_host->kube_get(c.ctx, &rfe_workflows, c.project, c.name, &wf, c.err);
    if (rc != AMB_OK)
        return end(&c, rc);
    const char *phase = json_string_value(json_object_get(json_object_get(wf, "status"), "phase"));
    for (size_t i = 0; i < n_refuse; i++)
        if (refuse[i] ? phase && strcmp(phase, refuse[i]) == 0 : !phase)
            rc = rfe_host->error_set(c.err, AMB_ECONFLICT, NULL,
                                     "cannot %s workflow \"%s\": it is %s", verb, c.name,
                                     phase ? phase : "not started yet (no phase)");
    char when[32], stamp[64];
    rfe_now(when, sizeof when);
    snprintf(stamp, sizeof stamp, "ambient-code.io/%s-requested-at", verb);
    if (rc == AMB_OK && !(patch = json_pack("{s:{s:s?, s:{s:s, s:s}}}", "metadata",
                                            "resourceVersion", rfe_meta(wf, "resourceVersion"),
                                            "annotations", AS_ANN_DESIRED_PHASE, value, stamp,
                                            when)))
        rc = AMB_ENOMEM;
    if (rc == AMB_OK)
        rc = rfe_host->kube_patch(c.ctx, &rfe_workflows, c.project, c.name, patch, NULL, c.err);
    if (rc == AMB_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s requested for workflow \"%s\"", verb, c.name);
        msg[0] = (char)(msg[0] - 'a' + 'A');
        c.rq->respond(req, 202, json_pack("{s:s, s:s}", "message", msg, "name", c.name));
    }
    json_decref(patch);
    json_decref(wf);
    return end(&c, rc);
}

static int handle_stop(void *ud, struct amb_request *req)
{
    (void)ud;
    static const char *const finished[] = {"Completed", "Failed", "Stopped"};
    return request_phase(req, "Stopped", "stop", finished, 3);
}

static int handle_start(void *ud, struct amb_request *req)
{
    (void)ud;
    /* Only a Failed or Stopped workflow has steps to run again. */
    static const char *const not_finished[] = {NULL, "Pending", "Running", "Completed"};
    return request_phase(req, "Running", "start", not_finished, 4);
}

/* The workflow's sessions (every attempt of every step): those labelled
 * with its name and controlled by it, oldest first as the API lists. */
static int handle_sessions(void *ud, struct amb_request *req)
{
    (void)ud;
    struct call c;
    if (!begin(&c, req))
        return AMB_OK;
    json_t *wf = NULL, *all = NULL;
    int rc = rfe_host->kube_get(c.ctx, &rfe_workflows, c.project, c.name, &wf, c.err);
    char selector[128];
    snprintf(selector, sizeof selector, "%s=%s", RFE_LABEL_WORKFLOW, c.name);
    if (rc == AMB_OK)
        rc = rfe_host->kube_list(c.ctx, &rfe_sessions, c.project, selector, &all, c.err);
    json_t *items = rc == AMB_OK ? json_array() : NULL;
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s)
    {
        if (items && rfe_owned_by(s, wf))
            json_array_append(items, s);
    }
    if (rc == AMB_OK)
        c.rq->respond(req, 200, json_pack("{s:s, s:o*}", "workflow", c.name, "items", items));
    json_decref(all);
    json_decref(wf);
    return end(&c, rc);
}

int rfe_register_routes(void)
{
    const struct amb_route routes[] = {
        {sizeof(struct amb_route), "POST", BASE "/stop", handle_stop, 0},
        {sizeof(struct amb_route), "POST", BASE "/start", handle_start, 0},
        {sizeof(struct amb_route), "GET", BASE "/sessions", handle_sessions, 0},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = rfe_host->register_route(rfe_self, &routes[i], NULL, NULL);
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}
