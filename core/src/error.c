/* error.c — error values with per-field causes (see error-internal.h). */
#include "error-internal.h"

#include <stdlib.h>
#include <string.h>

#include "buf-internal.h"

static const char *const error_texts[] = {
    [0] = "success",
    [-AMB_EINVAL] = "invalid argument",
    [-AMB_ENOMEM] = "out of memory",
    [-AMB_ENOTFOUND] = "not found",
    [-AMB_EEXIST] = "already exists",
    [-AMB_ECONFLICT] = "conflict",
    [-AMB_EGONE] = "gone (resource version expired)",
    [-AMB_EUNAUTHORIZED] = "unauthorized",
    [-AMB_EFORBIDDEN] = "forbidden",
    [-AMB_ESTATE] = "not allowed in the current state",
    [-AMB_EIO] = "input/output error",
    [-AMB_ETIMEDOUT] = "timed out",
    [-AMB_EUNAVAILABLE] = "service unavailable",
    [-AMB_EUNSUPPORTED] = "not supported",
    [-AMB_ETOOLARGE] = "too large",
    [-AMB_EINTERNAL] = "internal error",
};

const char *ambd_strerror(int code)
{
    if (code <= 0 && -code < (int)(sizeof error_texts / sizeof error_texts[0]) &&
        error_texts[-code])
        return error_texts[-code];
    return "unknown error";
}

int ambd_error_vset(struct amb_error *err, int code, const char *field, const char *fmt,
                    va_list ap)
{
    if (!err)
        return code;
    if (err->code == AMB_OK)
        err->code = code;
    if (err->n_causes == err->cap_causes) {
        size_t cap = err->cap_causes ? err->cap_causes * 2 : 4;
        struct ambd_cause *c = realloc(err->causes, cap * sizeof *c);
        if (!c)
            return code;
        err->causes = c;
        err->cap_causes = cap;
    }
    struct ambd_buf b = {0};
    if (fmt)
        ambd_buf_vprintf(&b, fmt, ap);
    else
        ambd_buf_puts(&b, ambd_strerror(code));
    char *message = ambd_buf_take(&b);
    char *field_copy = field ? strdup(field) : NULL;
    if (!message || (field && !field_copy)) {
        free(message);
        free(field_copy);
        return code;
    }
    err->causes[err->n_causes].field = field_copy;
    err->causes[err->n_causes].message = message;
    err->n_causes++;
    return code;
}

int ambd_error_set(struct amb_error *err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ambd_error_vset(err, code, field, fmt, ap);
    va_end(ap);
    return code;
}

char *ambd_error_line(const struct amb_error *err)
{
    struct ambd_buf b = {0};
    if (err->n_causes == 0)
        ambd_buf_puts(&b, ambd_strerror(err->code));
    for (size_t i = 0; i < err->n_causes; i++) {
        if (i)
            ambd_buf_puts(&b, "; ");
        if (err->causes[i].field)
            ambd_buf_printf(&b, "%s: ", err->causes[i].field);
        ambd_buf_puts(&b, err->causes[i].message);
    }
    return ambd_buf_take(&b);
}

int ambd_error_wrap(struct amb_error *dst, int code, const struct amb_error *src)
{
    if (!dst)
        return code;
    char *line = ambd_error_line(src);
    ambd_error_set(dst, code, NULL, "%s", line ? line : ambd_strerror(code));
    free(line);
    if (src->retry_after_s > dst->retry_after_s)
        dst->retry_after_s = src->retry_after_s;
    return code;
}

void ambd_error_clear(struct amb_error *err)
{
    for (size_t i = 0; i < err->n_causes; i++) {
        free(err->causes[i].field);
        free(err->causes[i].message);
    }
    free(err->causes);
    err->causes = NULL;
    err->n_causes = err->cap_causes = 0;
    err->code = AMB_OK;
    err->retry_after_s = 0;
}
