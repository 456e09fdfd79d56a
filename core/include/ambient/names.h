/*
 * ambient/names.h — the names Ambient's own kinds and the api share: the
 * API group, the kinds' plurals, and the labels and annotations more than
 * one plugin reads or writes, and Kubernetes' name rules. One spelling
 * each, so a plugin that reads what another writes cannot drift from it.
 * Strings and inline functions: including this header adds nothing to the
 * ABI.
 */
#ifndef AMBIENT_NAMES_H
#define AMBIENT_NAMES_H

#include <stddef.h>

/* The API group and version of Ambient's kinds. */
#define AMB_GROUP "vteam.ambient-code"
#define AMB_GROUP_VERSION "v1alpha1"
#define AMB_API_VERSION AMB_GROUP "/" AMB_GROUP_VERSION

/* AgenticSession (plugins/agenticsession). */
#define AMB_SESSION_KIND "AgenticSession"
#define AMB_SESSION_PLURAL "agenticsessions"
#define AMB_SESSION_REST "agentic-sessions"

/* ProjectSettings (plugins/projectsettings): one per project, of this name. */
#define AMB_SETTINGS_KIND "ProjectSettings"
#define AMB_SETTINGS_PLURAL "projectsettings"
#define AMB_SETTINGS_NAME "projectsettings"

/* The label that makes a namespace a project (value "true"). */
#define AMB_PROJECT_LABEL "ambient-code.io/managed"

/* A session's desired phase ("Stopped", "Running"): asked through REST,
 * honoured by the reconciler. */
#define AMB_DESIRED_PHASE_ANNOTATION "ambient-code.io/desired-phase"

/* A project's runner Secret: its default name, and the label the api puts
 * on it (the ProjectSettings reconciler watches Secrets carrying it). */
#define AMB_RUNNER_SECRET_DEFAULT "ambient-runner-secrets"
#define AMB_RUNNER_SECRETS_LABEL "ambient-code.io/runner-secrets"

/* The service account each session's workload runs as: this prefix and the
 * session's name. Its token posts the session's events. */
#define AMB_SESSION_SA_PREFIX "ambient-session-"

/* Kubernetes' name rules, for checking a name before it reaches a URL.
 * 1 if s is a DNS-1123 label (namespaces, most names): [a-z0-9-], at most
 * 63, alphanumeric at both ends. */
static inline int amb_is_dns_label(const char *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
              (s[n] == '-' && n > 0 && s[n + 1])))
            return 0;
    return n > 0 && n <= 63;
}

/* 1 if s is a DNS-1123 subdomain (object names): dot-separated labels, at
 * most 253 in all. */
static inline int amb_is_dns_subdomain(const char *s)
{
    size_t n = 0, label = 0;
    if (!s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (c == '.') {
            if (label == 0 || s[n - 1] == '-' || s[n + 1] == '-')
                return 0;
            label = 0;
        } else if (alnum || (c == '-' && label > 0 && s[n + 1])) {
            label++;
        } else {
            return 0;
        }
    }
    return n > 0 && n <= 253 && label > 0;
}

#endif /* AMBIENT_NAMES_H */
