/* executor_spec.c — a Job's container as a local process: which directory
 * each volume is, and the environment, as the kubelet would build it (values
 * and secretKeyRefs; a reference to a missing key is the kubelet's
 * CreateContainerConfigError message), with paths into a mount rewritten
 * to that mount's directory here. Every field is checked and bounded: the
 * Job comes from the API server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambient/names.h"
#include "error-internal.h"
#include "executor-internal.h"

#define MAX_ENV 512
#define MAX_ENV_ENTRY (128 * 1024 - 1) /* execve's limit on one string */
#define MAX_ENV_BYTES (1024 * 1024)
#define MAX_MOUNTS 64
#define MAX_GRACE_S 3600

static const json_t *volume_named(const json_t *pod_spec, const char *name, size_t *index)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(pod_spec, "volumes"), i, v)
    {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n && strcmp(n, name) == 0) {
            *index = i;
            return v;
        }
    }
    return NULL;
}

static int add_mount(struct lx_spec *s, const json_t *m, size_t mi, const char *dir,
                     struct amb_error *err)
{
    char field[96];
    snprintf(field, sizeof field, "spec.template.spec.containers[0].volumeMounts[%zu]", mi);
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *path = json_string_value(json_object_get(m, "mountPath"));
    if (!amb_is_dns_label(name) || !path || path[0] != '/' || strlen(path) > 1024 ||
        strstr(path, "/.."))
        return ambd_error_set(err, AMB_EINVAL, field,
                              "needs a volume name and an absolute mountPath without ..");
    if (json_object_get(m, "subPath"))
        return ambd_error_set(err, AMB_EINVAL, field, "subPath is not supported here");
    size_t vi = 0;
    const json_t *vol = volume_named(s->pod_spec, name, &vi);
    if (!vol)
        return ambd_error_set(err, AMB_EINVAL, field, "no volume named %s", name);
    struct lx_mount *mt = &s->mounts[s->n_mounts];
    const char *claim =
        json_string_value(json_object_get(json_object_get(vol, "persistentVolumeClaim"),
                                          "claimName"));
    int rc;
    if (json_object_get(vol, "emptyDir")) {
        mt->kind = LX_VOL_EMPTY;
        rc = asprintf(&mt->host, "%s/%s", dir, name);
    } else if (json_object_get(vol, "projected")) {
        mt->kind = LX_VOL_PROJECTED;
        rc = asprintf(&mt->host, "%s/%s", dir, name);
    } else if (amb_is_dns_subdomain(claim)) {
        /* A claim outlives the Job: it lives beside the namespace's Jobs,
         * under a name no Job can have. */
        mt->kind = LX_VOL_CLAIM;
        rc = asprintf(&mt->host, "%s/../.claims/%s", dir, claim);
    } else {
        snprintf(field, sizeof field, "spec.template.spec.volumes[%zu]", vi);
        return ambd_error_set(err, AMB_EINVAL, field,
                              "only emptyDir, persistentVolumeClaim and projected volumes run "
                              "here");
    }
    if (rc < 0 || !(mt->path = strdup(path))) {
        free(rc < 0 ? NULL : mt->host);
        mt->host = NULL;
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    mt->volume = vol;
    s->n_mounts++;
    return AMB_OK;
}

/* The host path of a container path inside a mount (the longest mount
 * that holds it), or NULL. Caller frees. */
static char *host_path(const struct lx_spec *s, const char *value)
{
    const struct lx_mount *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < s->n_mounts; i++) {
        size_t n = strlen(s->mounts[i].path);
        if (strncmp(value, s->mounts[i].path, n) == 0 && (value[n] == '\0' || value[n] == '/') &&
            n >= best_len) {
            best = &s->mounts[i];
            best_len = n;
        }
    }
    char *out = NULL;
    if (best && asprintf(&out, "%s%s", best->host, value + best_len) < 0)
        return NULL;
    return out;
}

/* Replaces or appends NAME=value (entry is taken). */
static int put_env(struct lx_spec *s, char *entry, struct amb_error *err)
{
    size_t name_len = strcspn(entry, "=");
    for (size_t i = 0; i < s->n_env; i++)
        if (strncmp(s->env[i], entry, name_len + 1) == 0) {
            explicit_bzero(s->env[i], strlen(s->env[i]));
            free(s->env[i]);
            s->env[i] = entry;
            return AMB_OK;
        }
    if (s->n_env >= MAX_ENV) {
        free(entry);
        return ambd_error_set(err, AMB_EINVAL, "spec.template.spec.containers[0].env",
                              "more than %d variables", MAX_ENV);
    }
    char **grown = realloc(s->env, (s->n_env + 2) * sizeof *grown);
    if (!grown) {
        free(entry);
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    }
    s->env = grown;
    s->env[s->n_env++] = entry;
    s->env[s->n_env] = NULL;
    return AMB_OK;
}

static int set_env(struct lx_spec *s, const char *name, const char *value, size_t value_len,
                   struct amb_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n_env; i++)
        total += strlen(s->env[i]) + 1;
    if (strlen(value) != value_len)
        return ambd_error_set(err, AMB_EINVAL, NULL, "env %s: the value holds a NUL byte", name);
    if (strlen(name) + 1 + value_len > MAX_ENV_ENTRY || total + value_len > MAX_ENV_BYTES)
        return ambd_error_set(err, AMB_EINVAL, NULL,
                              "env %s: too long (at most %d bytes each, %d in all)", name,
                              MAX_ENV_ENTRY, MAX_ENV_BYTES);
    char *entry;
    if (asprintf(&entry, "%s=%s", name, value) < 0)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    return put_env(s, entry, err);
}

/* One env entry: a value (paths into a mount rewritten), a secretKeyRef,
 * or nothing for an optional reference to what is missing. */
static int resolve_var(struct lx_spec *s, const char *ns, const json_t *e, size_t i,
                       lx_secret_fn get_secret, void *ud, struct amb_error *err)
{
    char field[80];
    snprintf(field, sizeof field, "spec.template.spec.containers[0].env[%zu]", i);
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name || !*name || strchr(name, '=') || strlen(name) > 256)
        return ambd_error_set(err, AMB_EINVAL, field, "needs a name without '='");
    const json_t *from = json_object_get(e, "valueFrom");
    if (!from) {
        const char *v = json_string_value(json_object_get(e, "value"));
        char *host = v ? host_path(s, v) : NULL;
        const char *value = host ? host : v ? v : "";
        size_t len = host ? strlen(host) : v ? json_string_length(json_object_get(e, "value")) : 0;
        int rc = set_env(s, name, value, len, err);
        free(host);
        return rc;
    }
    const json_t *ref = json_object_get(from, "secretKeyRef");
    const char *secret = json_string_value(json_object_get(ref, "name"));
    const char *key = json_string_value(json_object_get(ref, "key"));
    if (!amb_is_dns_subdomain(secret) || !key || !*key || strlen(key) > 253)
        return ambd_error_set(err, AMB_EINVAL, field,
                              "only value and secretKeyRef (name, key) are supported here");
    char *value = NULL;
    struct amb_error why = AMBD_ERROR_INIT;
    int rc = get_secret(ud, ns, secret, key, &value, &why);
    if (rc == AMB_ENOTFOUND) {
        ambd_error_clear(&why);
        if (json_is_true(json_object_get(ref, "optional")))
            return AMB_OK;
        /* The kubelet's words, which the session's status repeats. */
        return ambd_error_set(err, AMB_EINVAL, NULL, "couldn't find key %s in Secret %s/%s", key,
                              ns, secret);
    }
    if (rc != AMB_OK)
        return ambd_error_wrap(err, rc, &why);
    rc = set_env(s, name, value, strlen(value), err);
    explicit_bzero(value, strlen(value));
    free(value);
    return rc;
}

int lx_spec_resolve(const json_t *job, const char *dir, lx_secret_fn get_secret, void *ud,
                    struct lx_spec *out, struct amb_error *err)
{
    memset(out, 0, sizeof *out);
    const json_t *spec = json_object_get(job, "spec");
    const char *ns = json_string_value(json_object_get(json_object_get(job, "metadata"),
                                                       "namespace"));
    out->pod_spec = json_object_get(json_object_get(spec, "template"), "spec");
    out->container = json_array_get(json_object_get(out->pod_spec, "containers"), 0);
    if (!json_is_object(out->container) || !ns)
        return ambd_error_set(err, AMB_EINVAL, "spec.template.spec.containers",
                              "needs a container");
    json_int_t grace = json_integer_value(json_object_get(out->pod_spec,
                                                          "terminationGracePeriodSeconds"));
    out->grace_s = json_object_get(out->pod_spec, "terminationGracePeriodSeconds")
                       ? (unsigned)(grace < 0 ? 0 : grace > MAX_GRACE_S ? MAX_GRACE_S : grace)
                       : LX_DEFAULT_GRACE_S;
    json_int_t deadline = json_integer_value(json_object_get(spec, "activeDeadlineSeconds"));
    out->deadline_s = deadline > 0 ? deadline : 0;

    const json_t *mounts = json_object_get(out->container, "volumeMounts");
    if (json_array_size(mounts) > MAX_MOUNTS)
        return ambd_error_set(err, AMB_EINVAL, "spec.template.spec.containers[0].volumeMounts",
                              "more than %d", MAX_MOUNTS);
    out->mounts = calloc(json_array_size(mounts) + 1, sizeof *out->mounts);
    if (!out->mounts)
        return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
    size_t i;
    const json_t *e;
    int rc = AMB_OK;
    json_array_foreach(mounts, i, e)
    {
        if ((rc = add_mount(out, e, i, dir, err)) != AMB_OK)
            goto fail;
    }
    const json_t *env = json_object_get(out->container, "env");
    json_array_foreach(env, i, e)
    {
        if ((rc = resolve_var(out, ns, e, i, get_secret, ud, err)) != AMB_OK)
            goto fail;
    }
    return AMB_OK;
fail:
    lx_spec_clear(out);
    return rc;
}

int lx_spec_add_env(struct lx_spec *s, const char *const *pairs, struct amb_error *err)
{
    for (size_t i = 0; pairs && pairs[i]; i++) {
        char *entry = strdup(pairs[i]);
        if (!entry)
            return ambd_error_set(err, AMB_ENOMEM, NULL, NULL);
        int rc = put_env(s, entry, err);
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}

void lx_spec_clear(struct lx_spec *s)
{
    for (size_t i = 0; i < s->n_env; i++) {
        explicit_bzero(s->env[i], strlen(s->env[i])); /* secrets among them */
        free(s->env[i]);
    }
    free(s->env);
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].path);
        free(s->mounts[i].host);
    }
    free(s->mounts);
    memset(s, 0, sizeof *s);
}
