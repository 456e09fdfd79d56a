/* kube-record-internal.h — the Kubernetes call recorder for the
 * least-privilege check (tests/deploy/test_least_privilege.py).
 *
 * With AMBIENT_KUBE_CALL_LOG naming a file, every request the process makes
 * with its own identity (not a user's token: those are the user's rights)
 * appends one line to it, as Kubernetes authorizes it:
 *
 *     verb group resource subresource namespaced
 *
 * e.g. "watch batch jobs - 0", "patch vteam.ambient-code agenticsessions
 * status 1" ("-" for the core group and for no subresource; namespaced 1 or
 * 0). One write(2) of a short line with O_APPEND, so lines from threads and
 * processes sharing the file never interleave. Unset (the default), nothing
 * is written. */
#ifndef AMBD_KUBE_RECORD_INTERNAL_H
#define AMBD_KUBE_RECORD_INTERNAL_H

#include <stddef.h>

#define AMBD_KUBE_CALL_LOG_ENV "AMBIENT_KUBE_CALL_LOG"

/* method: the HTTP method; path: the URL path on the API server; query:
 * without "?" (NULL for none); user_token: NULL for the process's own. */
void ambd_kube_record(const char *method, const char *path, const char *query,
                      const char *user_token);

/* The line ambd_kube_record writes for a request, without the newline, into
 * out (n bytes). 0, or -1 when path is not an API path (nothing is written). */
int ambd_kube_record_line(const char *method, const char *path, const char *query, char *out,
                          size_t n);

#endif
