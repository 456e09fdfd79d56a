/* as_names.h — names the agenticsession plugin and ambient-runner both use:
 * the session's annotations and labels, and its children's names. One
 * definition, so the reconciler and the runner cannot drift apart. */
#ifndef AS_NAMES_H
#define AS_NAMES_H

#include <ambient/names.h>

#define AS_GROUP AMB_GROUP
#define AS_VERSION AMB_GROUP_VERSION
#define AS_PLURAL AMB_SESSION_PLURAL

/* Annotations and labels on sessions and their children. */
#define AS_ANN_DESIRED_PHASE AMB_DESIRED_PHASE_ANNOTATION
#define AS_ANN_RUN "ambient-code.io/run"
#define AS_LABEL_SESSION "ambient-code.io/session"
#define AS_LABEL_RUN "ambient-code.io/run"
#define AS_DEFAULT_RUNNER_SECRET AMB_RUNNER_SECRET_DEFAULT
/* Bounds on the numbers read from a session (untrusted like the rest of
 * it): spec.timeout in seconds (30 days) and the run counter annotation. */
#define AS_MAX_TIMEOUT_S 2592000LL
#define AS_MAX_RUN 1000000000LL
#define AS_MAX_NAME 56 /* so "<name>-runner" stays a valid label value */

/* The session's ServiceAccount: what the runner's token authenticates as. */
#define AS_SA_PREFIX AMB_SESSION_SA_PREFIX

/* names.c: 1 if url is an http(s) or ssh git URL (or scp-like
 * user@host:path) with nothing a shell, git's option parser or a transport
 * could misread; if branch passes git check-ref-format's rules that matter;
 * if k is a Secret key ([-._a-zA-Z0-9]+, at most 253). */
int as_valid_git_url(const char *url);
int as_valid_branch(const char *branch);
int as_valid_secret_key(const char *k);

#endif /* AS_NAMES_H */
