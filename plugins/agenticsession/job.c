/* job.c — the session's workspace PVC and the Job running ambient-runner:
 * locked down (non-root, read-only root filesystem, no capabilities, no
 * privilege escalation, RuntimeDefault seccomp), one attempt, the session's
 * timeout as its deadline, secrets only as references to the project's
 * Secret. Owner references are added by the caller. */
#include <stdio.h>

#include "as.h"

#define RUNNER_UID 1001
#define TOKEN_DIR "/var/run/secrets/ambient"
#define API_CA_FILE "api-ca.crt"

void as_job_name(const char *session, char *buf, size_t n)
{
    snprintf(buf, n, "%s-runner", session);
}

void as_pvc_name(const char *session, char *buf, size_t n)
{
    snprintf(buf, n, "%s-workspace", session);
}

json_t *as_build_pvc(const json_t *session, const struct as_config *cfg)
{
    char name[96];
    const char *s = as_meta(session, "name");
    as_pvc_name(s, name, sizeof name);
    json_t *pvc = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[s], s:{s:{s:s}}}}",
                            "apiVersion", "v1", "kind", "PersistentVolumeClaim", "metadata",
                            "name", name, "namespace", as_meta(session, "namespace"), "labels",
                            AS_LABEL_SESSION, s, "spec", "accessModes", "ReadWriteOnce",
                            "resources", "requests", "storage", cfg->workspace_size);
    if (pvc && cfg->storage_class && *cfg->storage_class)
        json_object_set_new(json_object_get(pvc, "spec"), "storageClassName",
                            json_string(cfg->storage_class));
    return pvc;
}

static int env_value(json_t *env, const char *name, const char *value)
{
    return json_array_append_new(env, json_pack("{s:s, s:s}", "name", name, "value",
                                                value ? value : ""));
}

static int env_secret(json_t *env, const char *name, const char *secret, const char *key,
                      int optional)
{
    return json_array_append_new(
        env, json_pack("{s:s, s:{s:{s:s, s:s, s:b}}}", "name", name, "valueFrom",
                       "secretKeyRef", "name", secret, "key", key, "optional", optional));
}

static json_t *build_env(const json_t *session, const struct as_config *cfg,
                         const char *secret, long long run)
{
    const json_t *spec = json_object_get(session, "spec");
    char num[32];
    int rc = 0;
    json_t *env = json_array();
    if (!env)
        return NULL;
    rc |= env_value(env, "AGENTIC_SESSION_NAME", as_meta(session, "name"));
    rc |= env_value(env, "AGENTIC_SESSION_NAMESPACE", as_meta(session, "namespace"));
    rc |= env_value(env, "AMBIENT_API_URL", cfg->api_url);
    rc |= env_value(env, "AMBIENT_TOKEN_FILE", TOKEN_DIR "/token");
    rc |= env_value(env, "AMBIENT_RUNNER_SECRET", secret);
    rc |= env_value(env, "AMBIENT_MODEL", json_string_value(json_object_get(spec, "model")));
    snprintf(num, sizeof num, "%lld",
             (long long)json_integer_value(json_object_get(spec, "timeout")));
    rc |= env_value(env, "AMBIENT_TIMEOUT_SECONDS", num);
    snprintf(num, sizeof num, "%lld", run);
    rc |= env_value(env, "AMBIENT_RUN", num);
    rc |= env_value(env, "WORKSPACE_PATH", "/workspace");
    rc |= env_value(env, "HOME", "/home/runner");
    rc |= env_value(env, "TMPDIR", "/tmp");
    if (cfg->model_api_url)
        rc |= env_value(env, "ANTHROPIC_BASE_URL", cfg->model_api_url);
    if (cfg->git_author_name)
        rc |= env_value(env, "AMBIENT_GIT_AUTHOR_NAME", cfg->git_author_name);
    if (cfg->git_author_email)
        rc |= env_value(env, "AMBIENT_GIT_AUTHOR_EMAIL", cfg->git_author_email);
    if (cfg->api_ca_configmap)
        rc |= env_value(env, "AMBIENT_API_CA_FILE", TOKEN_DIR "/" API_CA_FILE);
    /* Keys stay in the project's Secret: the Job names them, never holds them. */
    rc |= env_secret(env, "ANTHROPIC_API_KEY", secret, "ANTHROPIC_API_KEY", 0);
    rc |= env_secret(env, "GITHUB_TOKEN", secret, "GITHUB_TOKEN", 1);
    rc |= env_secret(env, "GITLAB_TOKEN", secret, "GITLAB_TOKEN", 1);
    rc |= env_secret(env, "GIT_TOKEN", secret, "GIT_TOKEN", 1); /* hosts without a forge */
    size_t i;
    const json_t *repo;
    json_array_foreach(json_object_get(spec, "repos"), i, repo)
    {
        const char *key = json_string_value(
            json_object_get(json_object_get(repo, "input"), "token"));
        if (key) {
            char name[48];
            snprintf(name, sizeof name, "AMBIENT_REPO_%zu_TOKEN", i);
            rc |= env_secret(env, name, secret, key, 0);
        }
    }
    /* A Job missing a variable (a secret reference above all) is never made. */
    if (rc) {
        json_decref(env);
        return NULL;
    }
    return env;
}

static json_t *security_context(void)
{
    return json_pack("{s:b, s:i, s:i, s:b, s:b, s:{s:[s]}, s:{s:s}}", "runAsNonRoot", 1,
                     "runAsUser", RUNNER_UID, "runAsGroup", RUNNER_UID,
                     "readOnlyRootFilesystem", 1, "allowPrivilegeEscalation", 0, "capabilities",
                     "drop", "ALL", "seccompProfile", "type", "RuntimeDefault");
}

static json_t *volumes(const json_t *session, const struct as_config *cfg)
{
    char pvc[96];
    as_pvc_name(as_meta(session, "name"), pvc, sizeof pvc);
    json_t *workspace = cfg->empty_dir
        ? json_pack("{s:s, s:{s:s}}", "name", "workspace", "emptyDir", "sizeLimit",
                    cfg->workspace_size)
        : json_pack("{s:s, s:{s:s}}", "name", "workspace", "persistentVolumeClaim", "claimName",
                    pvc);
    json_t *token = json_pack("{s:s, s:I}", "path", "token", "expirationSeconds",
                              (json_int_t)3600);
    if (token && cfg->token_audience && *cfg->token_audience)
        json_object_set_new(token, "audience", json_string(cfg->token_audience));
    /* The cluster's CA next to the token: the runner verifies the API
     * server with it (the pod mounts no service-account token of its own);
     * and the live service's CA when the config names one. */
    json_t *sources = json_pack("[{s:o}, {s:{s:s, s:[{s:s, s:s}]}}]", "serviceAccountToken",
                                token, "configMap", "name", "kube-root-ca.crt", "items", "key",
                                "ca.crt", "path", "ca.crt");
    if (sources && cfg->api_ca_configmap)
        json_array_append_new(sources, json_pack("{s:{s:s, s:[{s:s, s:s}]}}", "configMap",
                                                 "name", cfg->api_ca_configmap, "items", "key",
                                                 cfg->api_ca_key, "path", API_CA_FILE));
    return json_pack("[o, {s:s, s:{}}, {s:s, s:{}}, {s:s, s:{s:o}}]", workspace, "name", "tmp",
                     "emptyDir", "name", "home", "emptyDir", "name", "ambient-token",
                     "projected", "sources", sources);
}

json_t *as_build_job(const json_t *session, const struct as_config *cfg,
                     const char *runner_secret, long long run)
{
    const char *s = as_meta(session, "name");
    const json_t *spec = json_object_get(session, "spec");
    char name[96], sa[96], runs[32];
    as_job_name(s, name, sizeof name);
    as_sa_name(s, sa, sizeof sa);
    snprintf(runs, sizeof runs, "%lld", run);

    json_t *container = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:{s:{s:s, s:s}, s:{s:s, s:s}},"
        " s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s, s:b}]}",
        "name", "runner", "image", cfg->runner_image, "imagePullPolicy", "IfNotPresent", "env",
        build_env(session, cfg, runner_secret, run), "securityContext", security_context(),
        "resources", "requests", "cpu", cfg->cpu_request, "memory", cfg->memory_request,
        "limits", "cpu", cfg->cpu_limit, "memory", cfg->memory_limit,
        "volumeMounts", "name", "workspace", "mountPath", "/workspace", "name", "tmp",
        "mountPath", "/tmp", "name", "home", "mountPath", "/home/runner", "name",
        "ambient-token", "mountPath", TOKEN_DIR, "readOnly", 1);
    /* The pods carry the managed-by label so the controller's Pod cache
     * sees them, and the session and run so they can be listed by label
     * (a Pod's controller is the Job, not the session). */
    json_t *pod_labels = json_pack("{s:s, s:s, s:s}", AMB_MANAGED_BY_LABEL, AMB_MANAGED_BY_VALUE,
                                   AS_LABEL_SESSION, s, AS_LABEL_RUN, runs);
    json_t *job = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}},"
        " s:{s:i, s:I, s:{s:{s:o}, s:{s:s, s:s, s:b, s:{s:b, s:i, s:i, s:i, s:{s:s}},"
        " s:[o], s:o}}}}",
        "apiVersion", "batch/v1", "kind", "Job", "metadata", "name", name, "namespace",
        as_meta(session, "namespace"), "labels", AS_LABEL_SESSION, s, AS_LABEL_RUN, runs,
        "spec", "backoffLimit", 0, "activeDeadlineSeconds",
        (json_int_t)json_integer_value(json_object_get(spec, "timeout")), "template",
        "metadata", "labels", pod_labels, "spec", "restartPolicy", "Never",
        "serviceAccountName", sa, "automountServiceAccountToken", 0, "securityContext",
        "runAsNonRoot", 1, "runAsUser", RUNNER_UID, "runAsGroup", RUNNER_UID, "fsGroup",
        RUNNER_UID, "seccompProfile", "type", "RuntimeDefault", "containers", container,
        "volumes", volumes(session, cfg));
    if (job && cfg->ttl_seconds_after_finished >= 0)
        json_object_set_new(json_object_get(job, "spec"), "ttlSecondsAfterFinished",
                            json_integer(cfg->ttl_seconds_after_finished));
    return job;
}
