/* rfe.h — internals of the rfeworkflow plugin shared between its files: the
 * bounds, the plan a valid spec is read into (agents, steps and their
 * dependencies as indices), the template renderer, the child session's
 * builder, the reconciler and the routes. Everything here has hidden
 * visibility; only plugin.c's entry is exported. */
#ifndef RFE_H
#define RFE_H

#include <ambient/plugin.h>
#include <stddef.h>

#include "as_names.h"
#include "as_outcome.h"
#include "as_problems.h"

/* The host table and this module, set by init. */
extern const struct amb_host *rfe_host;
extern struct amb_module *rfe_self;

#define RFE_KIND "RFEWorkflow"
#define RFE_PLURAL "rfeworkflows"
#define RFE_REST_PLURAL "rfe-workflows"
/* Labels on each step's session: which workflow and step it runs. */
#define RFE_LABEL_WORKFLOW "vteam.ambient-code/rfeworkflow"
#define RFE_LABEL_STEP "vteam.ambient-code/rfe-step"

/* Bounds on what a spec may hold (untrusted like every input). */
#define RFE_MAX_NAME 63          /* workflow, agent and step names: DNS labels */
#define RFE_MAX_STEPS 32
#define RFE_MAX_AGENTS 32
#define RFE_MAX_TITLE 256
#define RFE_MAX_ROLE 256
#define RFE_MAX_DESCRIPTION 32768
#define RFE_MAX_TEMPLATE 16384   /* an agent's promptTemplate, a step's prompt */
/* A step's results as kept in the workflow's status and handed to the
 * steps after it: the runner's results.summary cut to this many bytes. */
#define RFE_MAX_RESULT 8192
/* A rendered prompt never grows past this (the templates, the description
 * and every dependency's results fit in it with room to spare). */
#define RFE_MAX_PROMPT (2 * RFE_MAX_TEMPLATE + RFE_MAX_DESCRIPTION + 4 * 1024 + \
                        RFE_MAX_STEPS * (RFE_MAX_RESULT + 256))

struct rfe_config {
    long long max_parallel_steps; /* sessions of one workflow running at once */
};

extern const struct amb_resource rfe_workflows, rfe_sessions;

/* ---- spec.c: validation, and the plan of a valid spec ---- */

struct rfe_agent {
    const char *name, *role, *prompt_template, *model; /* borrowed; model may be NULL */
};

struct rfe_step {
    const char *name, *prompt; /* borrowed */
    size_t agent;              /* index in plan.agents */
    size_t deps[RFE_MAX_STEPS];
    size_t n_deps;
    long long timeout; /* seconds; 0: the project's default */
};

struct rfe_plan {
    const char *title, *description; /* borrowed */
    const json_t *repos;             /* borrowed; may be NULL */
    struct rfe_agent agents[RFE_MAX_AGENTS];
    size_t n_agents;
    struct rfe_step steps[RFE_MAX_STEPS];
    size_t n_steps;
};

/* Checks obj (a whole RFEWorkflow, defaults applied) and, when it is valid,
 * fills plan (borrowing obj's strings). Returns the number of violations;
 * unknown fields are named when unknown is set (the REST path: a stored
 * object never has one). */
size_t rfe_check(const json_t *obj, int unknown, struct rfe_plan *plan, struct as_problems *p);
/* Index of the step or agent called name, or -1. */
long rfe_step_index(const struct rfe_plan *plan, const char *name);

/* ---- dag.c ---- */

/* 1 when the steps' dependsOn hold a cycle, written into buf as
 * "a -> b -> a"; 0 when they are a DAG. Deps must be resolved. */
int rfe_find_cycle(const struct rfe_plan *plan, char *buf, size_t n);
/* 1 if step b is a dependency of step a, directly. */
int rfe_depends_on(const struct rfe_step *a, size_t b);

/* ---- template.c ---- */

/* The placeholders: {{title}}, {{description}}, {{role}}, {{step}},
 * {{results}} (every dependency's results) and {{results.<step>}} (one
 * dependency's; in a step's prompt only). Checks tmpl at field; step is
 * the step whose prompt it is, or NULL for an agent's template. */
void rfe_template_check(const char *tmpl, const char *field, const struct rfe_plan *plan,
                        const struct rfe_step *step, struct as_problems *p);

/* What a step's prompt is rendered with; results[i] belongs to the step's
 * i-th dependency (NULL when it has none). */
struct rfe_render {
    const struct rfe_plan *plan;
    size_t step;
    const char *const *results;
};

/* The step's prompt: its agent's template, then the step's own prompt,
 * each with its placeholders replaced in one pass (a value is never read
 * again as a template, so "{{" in a result stays literal). Results go in as
 * fenced blocks no content can close, marked as another agent's output.
 * malloc'd, at most RFE_MAX_PROMPT bytes; NULL when out of memory. */
char *rfe_render_prompt(const struct rfe_render *r);
/* Copies s cut to at most max bytes on a UTF-8 character boundary, with a
 * note when it was cut; malloc'd (NULL when out of memory). */
char *rfe_bounded_copy(const char *s, size_t max);

/* ---- council.c ---- */

/* With no spec.steps: the default council's seven steps, and each of its
 * agents that spec.agents does not define by name. */
void rfe_apply_defaults(json_t *obj);

/* ---- session.c ---- */

/* The name of step's session in its attempt: "<workflow>-<step>", then
 * "-<attempt>" past the first, shortened with a hash when longer than a
 * session name may be. buf of at least AS_MAX_NAME + 1 bytes. */
void rfe_session_name(const char *workflow, const char *step, long long attempt, char *buf,
                      size_t n);
/* The AgenticSession of step (new ref; its owner reference is added by the
 * caller): prompt, the workflow's repos, the agent's model, the step's
 * timeout, the labels. */
json_t *rfe_build_session(const json_t *wf, const struct rfe_plan *plan, size_t step,
                          const char *name, const char *prompt);
/* 1 when session is controlled by the workflow wf (its uid). */
int rfe_owned_by(const json_t *session, const json_t *wf);

/* ---- reconcile.c ---- */
int rfe_reconcile(void *ud, struct amb_ctx *ctx, const json_t *obj, struct amb_error *err);

/* ---- routes.c ---- */
int rfe_register_routes(void);

/* ---- small helpers (plugin.c) ---- */
const char *rfe_meta(const json_t *obj, const char *key);
const char *rfe_annotation(const json_t *obj, const char *key);
void rfe_now(char *buf, size_t n);

#endif /* RFE_H */
