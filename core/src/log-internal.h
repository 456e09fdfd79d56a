/* log-internal.h — the process-wide log sink: one line per event, JSON or
 * text, with secrets redacted. Every function may be called from any thread. */
#ifndef AMBD_LOG_INTERNAL_H
#define AMBD_LOG_INTERNAL_H

#include <stdarg.h>

#include "ambient/plugin.h"

enum ambd_log_format {
    AMBD_LOG_JSON = 0,
    AMBD_LOG_TEXT = 1,
};

void ambd_log_set_level(int level);
int ambd_log_get_level(void);
void ambd_log_set_format(enum ambd_log_format format);
/* Lines go to fd (stderr by default); the caller keeps ownership of fd. */
void ambd_log_set_fd(int fd);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int ambd_log_level_from_name(const char *name);
const char *ambd_log_level_name(int level);
/* "json", "text" -> format; -1 if unknown. */
int ambd_log_format_from_name(const char *name);

/* msg, then key/value string pairs ended by NULL. */
void ambd_log(const char *component, int level, const char *msg, ...)
    __attribute__((sentinel));
void ambd_vlog(const char *component, int level, const char *msg, va_list kv);
void ambd_logf(const char *component, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ambd_vlogf(const char *component, int level, const char *fmt, va_list ap);

/* Redact value from every later line: the host's own credentials (values
 * of 4 bytes to 8 KiB). At most 4096 values (1 MiB) are kept; past that new
 * ones are refused and counted, none is forgotten. */
void ambd_log_add_secret(const char *value);
/* The same for a value a user chose (host->log_secret): kept only if it
 * looks like a secret. */
void ambd_log_add_user_secret(const char *value);
/* At least 8 bytes (at most 8 KiB), two of lower case, upper case and
 * digits, and 32 bits of Shannon entropy. */
int ambd_looks_like_secret(const char *value);
size_t ambd_log_secret_count(void);
/* Values refused because the list was full. */
size_t ambd_log_secrets_refused(void);
/* Forget every registered secret (at shutdown). */
void ambd_log_clear_secrets(void);
/* Routes libevent's internal messages into the sink. */
void ambd_log_capture_libevent(void);

/* Redaction on its own, for the sink and for tests: a new string with
 * bearer tokens, credential header values, well-known token shapes and
 * registered secrets replaced by "[REDACTED]". NULL on OOM. */
char *ambd_redact(const char *text);
/* registered 0: every rule but the registered values (for what the code
 * itself writes: components, keys, and the access line's own fields). */
char *ambd_redact_with(const char *text, int registered);
/* Whether ambd_redact_with would change text: most text is clean, and the
 * sink then writes it as it is, without a copy. */
int ambd_redact_needed(const char *text, int registered);

#endif
