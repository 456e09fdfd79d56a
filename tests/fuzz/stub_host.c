/* stub_host.c — a minimal host table for the fuzz targets: the api sources
 * reach the host through api_host/api_self (defined by plugin.c, which the
 * targets do not link). Logging is a no-op, memory is libc's, errors store
 * nothing but are real allocations, so a leaked or double-freed error is
 * still caught by ASan. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

struct amb_error {
    int code;
};
struct amb_module {
    int unused;
};

static void s_log(struct amb_module *self, int level, const char *msg, ...)
{
    (void)self;
    (void)level;
    (void)msg;
}

static void s_logf(struct amb_module *self, int level, const char *fmt, ...)
{
    (void)self;
    (void)level;
    (void)fmt;
}

static int s_log_enabled(struct amb_module *self, int level)
{
    (void)self;
    (void)level;
    return 0;
}

static void s_log_secret(struct amb_module *self, const char *value)
{
    (void)self;
    (void)value;
}

static void *s_alloc(size_t n) { return calloc(1, n ? n : 1); }
static void *s_realloc(void *p, size_t n) { return realloc(p, n); }
static void s_free(void *p) { free(p); }
static char *s_strdup(const char *s) { return s ? strdup(s) : NULL; }

static int s_error_set(struct amb_error *err, int code, const char *field, const char *fmt, ...)
{
    (void)field;
    (void)fmt;
    if (err)
        err->code = code;
    return code;
}

static const char *s_strerror(int code)
{
    (void)code;
    return "error";
}

static struct amb_error *s_error_new(void) { return calloc(1, sizeof(struct amb_error)); }
static void s_error_free(struct amb_error *err) { free(err); }

static const struct amb_host stub_host = {
    .abi_major = AMB_ABI_MAJOR,
    .abi_minor = AMB_ABI_MINOR,
    .size = sizeof(struct amb_host),
    .log = s_log,
    .logf = s_logf,
    .log_enabled = s_log_enabled,
    .log_secret = s_log_secret,
    .alloc = s_alloc,
    .realloc = s_realloc,
    .free = s_free,
    .strdup = s_strdup,
    .error_set = s_error_set,
    .strerror = s_strerror,
    .error_new = s_error_new,
    .error_free = s_error_free,
};

static struct amb_module stub_module;

const struct amb_host *api_host = &stub_host;
struct amb_module *api_self = &stub_module;
