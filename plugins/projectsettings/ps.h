/* ps.h — what the files of the projectsettings plugin share: the host
 * table, the resources it touches, its names and labels, and each file's
 * entry points. Nothing here is exported from the .so. */
#ifndef PS_H
#define PS_H

#include <ambient/names.h>
#include <ambient/plugin.h>
#include <stddef.h>

/* The one ProjectSettings of a namespace has this name. */
#define PS_NAME AMB_SETTINGS_NAME
/* runnerSecretsName when the spec leaves it unset. */
#define PS_DEFAULT_SECRET AMB_RUNNER_SECRET_DEFAULT
/* Longest defaultTimeout/maxTimeout: 30 days, as a session's spec.timeout. */
#define PS_MAX_SECONDS 2592000LL
/* Our own label on the group RoleBindings (besides the managed-by label
 * set_controller_ref adds): only RoleBindings carrying both are ever deleted. */
#define PS_GROUP_LABEL "ambient-code.io/group-access"
/* The group a RoleBinding serves, verbatim (its name is sanitized). */
#define PS_GROUP_ANNOTATION "ambient-code.io/group-name"
/* RoleBinding names: PS_RB_PREFIX + group + "-" + role. */
#define PS_RB_PREFIX "ambient-group-"
/* groupAccess role R binds the ClusterRole PS_CLUSTER_ROLE_PREFIX + R. */
#define PS_CLUSTER_ROLE_PREFIX "ambient-project-"
/* Entries of spec.repositories. */
#define PS_MAX_REPOSITORIES 100
/* How often a missing runner Secret is looked for again (we do not watch
 * Secrets we do not own). */
#define PS_SECRET_RECHECK_MS 30000

extern const struct amb_host *ps_host;
extern struct amb_module *ps_self;
extern const struct amb_resource ps_projectsettings;
extern const struct amb_resource ps_rolebindings;
extern const struct amb_resource ps_secrets;

/* ---- validate.c ---- */
/* Called once per violation: field ("spec.groupAccess[1].role") and message. */
typedef void (*ps_report_fn)(void *ud, const char *field, const char *msg);
/* Checks obj and reports every violation; returns how many there were.
 * Messages never quote a value of a credential field. */
int ps_check(const json_t *obj, ps_report_fn report, void *ud);
int ps_validate(void *user_data, struct amb_ctx *ctx, const json_t *obj, const json_t *old,
                struct amb_error *err);
int ps_set_defaults(void *user_data, struct amb_ctx *ctx, json_t *obj, struct amb_error *err);

/* ---- names.c ---- */
/* The RoleBinding name for (group, role) into out (at least PS_RB_NAME_MAX
 * bytes): "ambient-group-<group>-<role>" when the group is already a short
 * lowercase DNS label, else the group sanitized and truncated followed by
 * 8 hex digits of its FNV-1a hash, so different groups never share a name
 * by accident. Returns AMB_EINVAL for an empty group or unknown role. */
#define PS_RB_NAME_MAX 96
int ps_rb_name(const char *group, const char *role, char *out, size_t n);
/* 1 for "admin", "edit", "view". */
int ps_role_valid(const char *role);

/* ---- rolebindings.c ---- */
/* The RoleBindings groupAccess of ps asks for (new ref: an array of full
 * objects with the controller reference to ps), NULL on ENOMEM. Entries
 * whose name cannot be built are skipped (validation reports them). */
json_t *ps_rb_desired(const json_t *ps);
/* 1 if existing already is what desired asks for (roleRef, subjects, our
 * label and annotation, the controller reference). */
int ps_rb_matches(const json_t *existing, const json_t *desired);
struct ps_rb_counts {
    int created, updated, deleted, total;
};
/* Creates, updates and deletes RoleBindings until they match ps's
 * groupAccess. Events name each change. */
int ps_rb_sync(struct amb_ctx *ctx, const json_t *ps, struct ps_rb_counts *counts,
               struct amb_error *err);

/* ---- secrets.c ---- */
struct ps_legacy_field {
    const char *field; /* spec member: "anthropicApiKey" */
    const char *key;   /* Secret key: "ANTHROPIC_API_KEY" */
};
extern const struct ps_legacy_field ps_legacy_fields[3];
/* The Secret name ps uses (runnerSecretsName or the default). Borrowed. */
const char *ps_secret_name(const json_t *ps);
/* 1 if ps carries any legacy credential field. */
int ps_has_legacy(const json_t *ps);
/* Moves the legacy fields of ps into its runner Secret (create or merge
 * patch) and only then clears them from ps with a merge patch of nulls.
 * *patched (new ref) is ps as stored after the clear; *moved names the
 * keys written ("ANTHROPIC_API_KEY, GITHUB_TOKEN"), empty if none. */
int ps_secrets_migrate(struct amb_ctx *ctx, const json_t *ps, json_t **patched, char *moved,
                       size_t moved_len, struct amb_error *err);

/* ---- status.c ---- */
struct ps_cond {
    const char *type, *status, *reason;
    char message[1024];
};
#define PS_MAX_CONDS 3
struct ps_outcome {
    long long generation; /* the generation acted on */
    struct ps_cond conds[PS_MAX_CONDS];
    int n_conds;
};
void ps_outcome_add(struct ps_outcome *o, const char *type, const char *status,
                    const char *reason, const char *fmt, ...) AMB_PRINTF(5, 6);
/* The status mutate: writes observedGeneration and the conditions of
 * outcome; returns 1 (skip the write) when nothing differs. */
int ps_status_mutate(void *outcome, json_t *obj);
/* Writes the outcome through /status and emits an Event for each condition
 * whose status or reason changed from what obj showed. */
int ps_status_write(struct amb_ctx *ctx, const json_t *obj, struct ps_outcome *o,
                    struct amb_error *err);

/* ---- reconcile.c ---- */
int ps_reconcile(void *user_data, struct amb_ctx *ctx, const json_t *obj, struct amb_error *err);

/* ---- routes.c: project-settings and runner-secrets, served by the api ---- */
int ps_register_routes(void); /* init only */

/* ---- small helpers (names.c) ---- */
const char *ps_meta(const json_t *obj, const char *key);

#endif /* PS_H */
