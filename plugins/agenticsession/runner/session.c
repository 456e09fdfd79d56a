/* session.c — the runner's AgenticSession, read and written with the
 * session's own token (its Role allows get on the session and get/update on
 * its /status, nothing else). Status writes are read-modify-write through
 * /status with the resourceVersion, so the reconciler's fields and
 * conditions are never lost to a blind overwrite; a conflict reads again. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as_names.h"
#include "error-internal.h"
#include "kube-internal.h"
#include "runner.h"

#define MAX_CONFLICTS 8

static const struct amb_resource sessions = {AS_GROUP, AS_VERSION, "AgenticSession",
                                             AS_PLURAL, 1};

long long runner_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void runner_rfc3339_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int runner_session_read(struct runner_session *s, struct amb_error *err)
{
    json_t *obj = NULL;
    int rc = ambd_kube_get(s->kube, &sessions, s->ns, s->name, &obj, err);
    if (rc != AMB_OK)
        return rc;
    json_decref(s->obj);
    s->obj = obj;
    return AMB_OK;
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int runner_session_update_status(struct runner_session *s, int (*mutate)(void *ud, json_t *obj),
                                 void *ud, long budget_ms, struct amb_error *err)
{
    long long until = runner_now_ms() + budget_ms;
    long backoff = 250;
    int conflicts = 0;
    for (;;) {
        struct amb_error why = AMBD_ERROR_INIT;
        int rc = s->obj ? AMB_OK : runner_session_read(s, &why);
        json_t *copy = rc == AMB_OK ? json_deep_copy(s->obj) : NULL;
        if (rc == AMB_OK && !copy)
            rc = ambd_error_set(&why, AMB_ENOMEM, NULL, NULL);
        if (rc == AMB_OK) {
            int m = mutate(ud, copy);
            if (m > 0) {
                json_decref(copy);
                return AMB_OK;
            }
            if (m < 0) {
                json_decref(copy);
                return ambd_error_set(err, m, "status", "cannot build the status");
            }
            json_t *stored = NULL;
            rc = ambd_kube_update(s->kube, &sessions, s->ns, copy, "status", &stored, &why);
            json_decref(copy);
            if (rc == AMB_OK) {
                json_decref(s->obj);
                s->obj = stored;
                return AMB_OK;
            }
        }
        if (rc == AMB_ECONFLICT && ++conflicts < MAX_CONFLICTS) {
            json_decref(s->obj); /* someone else wrote: start from theirs */
            s->obj = NULL;
            ambd_error_clear(&why);
            continue;
        }
        int transient = rc == AMB_EUNAVAILABLE || rc == AMB_EIO || rc == AMB_ETIMEDOUT ||
                        rc == AMB_EUNAUTHORIZED; /* a rotating token */
        if (!transient || runner_now_ms() + backoff > until) {
            char *line = ambd_error_line(&why);
            ambd_error_set(err, rc, NULL, "writing the session's status: %s",
                           line ? line : ambd_strerror(rc));
            free(line);
            ambd_error_clear(&why);
            return rc;
        }
        /* A busy API server says how long to wait; wait at least that. */
        long wait = (long)why.retry_after_s * 1000 > backoff ? (long)why.retry_after_s * 1000
                                                              : backoff;
        ambd_error_clear(&why);
        if (rc == AMB_EUNAUTHORIZED)
            ambd_kube_token_stale(s->kube);
        if (runner_now_ms() + wait > until)
            return ambd_error_set(err, rc, NULL, "writing the session's status: the API "
                                                 "server stayed unavailable");
        nap(wait);
        backoff = backoff < 4000 ? backoff * 2 : 4000;
        json_decref(s->obj);
        s->obj = NULL;
    }
}

const char *runner_session_phase(const struct runner_session *s)
{
    return json_string_value(json_object_get(json_object_get(s->obj, "status"), "phase"));
}

const json_t *runner_session_spec(const struct runner_session *s)
{
    return json_object_get(s->obj, "spec");
}
