/* as.h — internals of the agenticsession plugin shared between its files:
 * the config, the resources it touches, validation problems, the builders of
 * the session's children and the mapping of Job/Pod state to a phase.
 * Everything here has hidden visibility; only plugin.c's entry is exported. */
#ifndef AS_H
#define AS_H

#include <ambient/plugin.h>
#include <stddef.h>

/* The host table and this module, set by init (tests set them by hand). */
extern const struct amb_host *as_host;
extern struct amb_module *as_self;

#include "as_names.h"
#include "as_outcome.h"
#include "as_problems.h"

/* The plugin's config group (agenticsession = { ... }); strings are
 * borrowed from the host for the plugin's lifetime. */
struct as_config {
    const char *runner_image;
    const char *api_url;
    const char *workspace_size;
    const char *storage_class; /* NULL: the cluster's default class */
    int empty_dir;             /* 1: workspace is an emptyDir, no PVC */
    long long ttl_seconds_after_finished; /* < 0: not set on the Job */
    const char *default_model;
    long long default_timeout;
    const char *cpu_request, *cpu_limit, *memory_request, *memory_limit;
    const char *token_audience; /* NULL: the API server's own audience */
    const char *model_api_url;  /* ANTHROPIC_BASE_URL of the runner; NULL: the CLI's */
    const char *git_author_name, *git_author_email; /* the runner's committer */
    /* The ConfigMap (and key) holding the CA of the live service's
     * certificate, projected for the runner; NULL: the system store. */
    const char *api_ca_configmap, *api_ca_key;
};

/* Fills cfg with the documented defaults. */
void as_config_defaults(struct as_config *cfg);

extern const struct amb_resource as_sessions, as_projectsettings, as_jobs, as_pods,
    as_service_accounts, as_roles, as_role_bindings, as_pvcs;

/* ---- validate.c ---- */

/* What the project allows (ProjectSettings): maxTimeout <= 0 means no bound;
 * allowed_models NULL or empty means any model. */
struct as_bounds {
    long long max_timeout;
    const json_t *allowed_models; /* borrowed */
};

/* Checks obj (a whole AgenticSession) against the rules and bounds; returns
 * the number of violations recorded in p. */
size_t as_validate_spec(const json_t *obj, const struct as_bounds *b, struct as_problems *p);
/* Records each field of obj the CRD does not declare ("bogus",
 * "spec.promt", "spec.repos[0].input.brnach"; spec.options is checked by
 * as_options_check) as "unknown field"; returns how many. For the REST
 * path: a stored object never has one (the API server prunes them). */
size_t as_unknown_fields(const json_t *obj, struct as_problems *p);

/* ---- routes.c, create.c: the kind's own REST, served by the api ---- */

/* Registers stop, start and clone (init only). */
int as_register_routes(void);
/* The api's request accessors, or NULL when the server of routes predates
 * ABI 1.5 (its routes then answer 501, its create takes whole objects). */
const struct amb_request_ops *as_request_ops(void);
/* Answers {"error": "field: message", "details": [{field, message}]};
 * returns AMB_EINVAL. */
int as_reply_field(struct amb_request *req, int status, const char *field, const char *message);
/* amb_kind.create_shape: the original platform's create request and the
 * bare spec (create.c). */
int as_create_shape(void *ud, struct amb_request *req, const json_t *body, json_t **obj,
                    const struct amb_create_shape **shape);

/* ---- defaults.c ---- */

/* Reads ProjectSettings "projectsettings" in ns into *out (new ref; NULL
 * when there is none or the host cannot read it from this context). */
int as_read_project_settings(struct amb_ctx *ctx, const char *ns, json_t **out,
                             struct amb_error *err);
/* Fills spec.model and spec.timeout from ps's spec (may be NULL), then cfg. */
void as_apply_defaults(json_t *obj, const json_t *ps, const struct as_config *cfg);
/* The bounds ps sets (ps may be NULL). */
void as_bounds_from(const json_t *ps, struct as_bounds *b);
/* The project's Secret with the runner's keys (borrowed from ps or static). */
const char *as_runner_secret(const json_t *ps);

/* ---- rbac.c, job.c: builders (new refs; owner refs are added by the caller) ---- */

/* Child names, written into buf: "ambient-session-<name>", "<name>-runner",
 * "<name>-workspace". */
void as_sa_name(const char *session, char *buf, size_t n);
void as_job_name(const char *session, char *buf, size_t n);
void as_pvc_name(const char *session, char *buf, size_t n);

json_t *as_build_service_account(const json_t *session);
json_t *as_build_role(const json_t *session);
json_t *as_build_role_binding(const json_t *session);
json_t *as_build_pvc(const json_t *session, const struct as_config *cfg);
/* session is the effective one (defaults applied); run the run number. */
json_t *as_build_job(const json_t *session, const struct as_config *cfg,
                     const char *runner_secret, long long run);

/* ---- children.c ---- */

/* Makes sure the ServiceAccount, Role, RoleBinding, PVC (unless empty_dir)
 * and Job of session (the effective one) exist, creating what is missing
 * owned by it. *job is the Job (new ref); *created counts creations. */
int as_ensure_children(struct amb_ctx *ctx, const json_t *session, const struct as_config *cfg,
                       const char *runner_secret, long long run, json_t **job, int *created,
                       struct amb_error *err);

/* ---- phase.c ---- */
struct as_observed {
    enum as_phase phase;
    char reason[64];   /* CamelCase, for conditions and events */
    char message[256];
    int job_finished;  /* the Job carries Complete or Failed */
};

/* Maps the Job (NULL if absent) and its Pods (array, may be NULL) to a phase. */
void as_observe(const json_t *job, const json_t *pods, struct as_observed *o);

/* ---- reconcile.c ---- */
int as_reconcile(void *ud, struct amb_ctx *ctx, const json_t *obj, struct amb_error *err);

/* ---- small helpers (defaults.c) ---- */
const char *as_meta(const json_t *obj, const char *key);
const char *as_annotation(const json_t *obj, const char *key);

#endif /* AS_H */
