/* rbac.c — the session's own identity: a ServiceAccount, and a Role and
 * RoleBinding that let it read this one AgenticSession and write its status
 * (resourceNames), nothing else: the runner reads the session (get) and
 * replaces its status (update), as tests/deploy/test_least_privilege.py
 * checks. Owner references are added by the caller. */
#include <stdio.h>

#include "as.h"

void as_sa_name(const char *session, char *buf, size_t n)
{
    snprintf(buf, n, AS_SA_PREFIX "%s", session);
}

static json_t *labels(const char *session)
{
    return json_pack("{s:s, s:s}", AS_LABEL_SESSION, session, "app.kubernetes.io/component",
                     "ambient-session");
}

static json_t *metadata(const json_t *session, const char *name)
{
    return json_pack("{s:s, s:s, s:o}", "name", name, "namespace", as_meta(session, "namespace"),
                     "labels", labels(as_meta(session, "name")));
}

json_t *as_build_service_account(const json_t *session)
{
    char name[96];
    as_sa_name(as_meta(session, "name"), name, sizeof name);
    /* The pod gets its token through a projected, audience-bound volume,
     * never the legacy automount. */
    return json_pack("{s:s, s:s, s:o, s:b}", "apiVersion", "v1", "kind", "ServiceAccount",
                     "metadata", metadata(session, name), "automountServiceAccountToken", 0);
}

json_t *as_build_role(const json_t *session)
{
    char name[96];
    const char *s = as_meta(session, "name");
    as_sa_name(s, name, sizeof name);
    return json_pack(
        "{s:s, s:s, s:o, s:[{s:[s], s:[s], s:[s], s:[s]}, {s:[s], s:[s], s:[s], s:[s]}]}",
        "apiVersion", "rbac.authorization.k8s.io/v1", "kind", "Role", "metadata",
        metadata(session, name), "rules",
        "apiGroups", "vteam.ambient-code", "resources", "agenticsessions", "resourceNames", s,
        "verbs", "get",
        "apiGroups", "vteam.ambient-code", "resources", "agenticsessions/status",
        "resourceNames", s, "verbs", "update");
}

json_t *as_build_role_binding(const json_t *session)
{
    char name[96];
    as_sa_name(as_meta(session, "name"), name, sizeof name);
    return json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}", "apiVersion",
                     "rbac.authorization.k8s.io/v1", "kind", "RoleBinding", "metadata",
                     metadata(session, name), "roleRef", "apiGroup",
                     "rbac.authorization.k8s.io", "kind", "Role", "name", name, "subjects",
                     "kind", "ServiceAccount", "name", name, "namespace",
                     as_meta(session, "namespace"));
}
