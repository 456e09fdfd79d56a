/* error-internal.h — struct amb_error: a code plus one cause per bad field.
 * Plugins see it opaque and fill it through host->error_set. */
#ifndef AMBD_ERROR_INTERNAL_H
#define AMBD_ERROR_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "ambient/plugin.h"

struct ambd_cause {
    char *field; /* NULL when the cause concerns no field */
    char *message;
};

struct amb_error {
    int code; /* AMB_OK until something is set */
    struct ambd_cause *causes;
    size_t n_causes;
    size_t cap_causes;
    /* The API server asked for this many seconds before the request is
     * made again (Retry-After on a 429 or 5xx, bounded by
     * AMBD_KUBE_MAX_RETRY_AFTER_S); 0 when it did not. Plugins read it as
     * error_to_json's "retryAfterSeconds". */
    unsigned retry_after_s;
};

#define AMBD_ERROR_INIT {AMB_OK, NULL, 0, 0, 0}

int ambd_error_set(struct amb_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int ambd_error_vset(struct amb_error *err, int code, const char *field, const char *fmt,
                    va_list ap);
/* One line: "field: message; field: message" (caller frees; NULL on OOM). */
char *ambd_error_line(const struct amb_error *err);
/* Adds src to dst as one cause with code (src's causes on one line),
 * keeping the longer of their Retry-After waits: for a call that reports
 * another's failure as its own. Returns code. */
int ambd_error_wrap(struct amb_error *dst, int code, const struct amb_error *src);
void ambd_error_clear(struct amb_error *err);
const char *ambd_strerror(int code);

#endif
