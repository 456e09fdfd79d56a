/* log.c — the log sink: formats one line per event (JSON or text), redacts
 * it and hands it whole to log_out.c, so lines from threads never mix: the
 * api's access lines are gathered per thread, every other line is written
 * at once. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf-internal.h"
#include "log-internal.h"
#include "log-out-internal.h"

static atomic_int log_level = AMB_LOG_INFO;
static atomic_int log_format = AMBD_LOG_JSON;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Bytes a line starts with room for: an access line is 200 to 300, and
 * growing to it cost three reallocs a request. */
#define LINE_RESERVE 511

static int clamp_level(int level)
{
    if (level < AMB_LOG_ERROR)
        return AMB_LOG_ERROR;
    if (level > AMB_LOG_DEBUG)
        return AMB_LOG_DEBUG;
    return level;
}

void ambd_log_set_level(int level) { atomic_store(&log_level, clamp_level(level)); }
int ambd_log_get_level(void) { return atomic_load(&log_level); }
void ambd_log_set_format(enum ambd_log_format format) { atomic_store(&log_format, (int)format); }
void ambd_log_set_fd(int fd)
{
    ambd_log_out_flush(); /* gathered lines go where they were logged to */
    atomic_store(&log_fd, fd);
}

int ambd_log_level_from_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *ambd_log_level_name(int level) { return level_names[clamp_level(level)]; }

int ambd_log_format_from_name(const char *name)
{
    if (strcmp(name, "json") == 0)
        return AMBD_LOG_JSON;
    if (strcmp(name, "text") == 0)
        return AMBD_LOG_TEXT;
    return -1;
}

static void put_timestamp(struct ambd_buf *b)
{
    /* The second's text is kept per thread: a busy thread (the api's access
     * lines) formats it once a second, not once a line. */
    static _Thread_local time_t second = -1;
    static _Thread_local char when[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != second) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        second = ts.tv_sec;
    }
    long ms = ts.tv_nsec / 1000000L;
    char frac[6] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
                    'Z', '\0'};
    ambd_buf_puts(b, when);
    ambd_buf_puts(b, frac);
}

/* Appends a redacted string: JSON-escaped for JSON lines; for text lines,
 * quoted when it has spaces (values only) and with line breaks escaped. */
static void put_value(struct ambd_buf *b, const char *raw, int json, int quote_if_spaces,
                      int registered)
{
    raw = raw ? raw : "(null)";
    int needed = ambd_redact_needed(raw, registered);
    char *safe = needed ? ambd_redact_with(raw, registered) : NULL;
    const char *s = !needed ? raw : safe ? safe : "[REDACTED: out of memory]";
    if (json) {
        ambd_buf_json_escape(b, s);
    } else {
        int quote = quote_if_spaces && (s[0] == '\0' || strpbrk(s, " \t\"=") != NULL);
        if (quote)
            ambd_buf_putc(b, '"');
        for (const char *p = s; *p; p++) {
            if (*p == '\n')
                ambd_buf_puts(b, "\\n");
            else if (*p == '"' && quote)
                ambd_buf_puts(b, "\\\"");
            else
                ambd_buf_putc(b, *p);
        }
        if (quote)
            ambd_buf_putc(b, '"');
    }
    free(safe);
}

/* The fields of the api's access line that the server itself fills in:
 * registered values (which users choose) never blank them out, though
 * token shapes still do. */
static int is_access_field(const char *key)
{
    static const char *const fields[] = {"method", "path", "status", "duration_ms", "user"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(key, fields[i]) == 0)
            return 1;
    return 0;
}

static int is_reserved_key(const char *key)
{
    return strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 || strcmp(key, "component") == 0 ||
           strcmp(key, "msg") == 0;
}

/* Access lines, one per request, are gathered rather than a write(2)
 * each (log-out-internal.h says when they are written). */
static void write_line(struct ambd_buf *b, int access_line)
{
    if (b->failed || !b->data)
        return;
    int fd = atomic_load(&log_fd);
    if (access_line)
        ambd_log_out_gather(fd, b->data, b->len);
    else
        ambd_log_out_now(fd, b->data, b->len);
}

static void emit(const char *component, int level, const char *msg, va_list *kv)
{
    level = clamp_level(level);
    if (level > atomic_load(&log_level))
        return;
    int json = atomic_load(&log_format) == AMBD_LOG_JSON;
    int access_line = component && msg && strcmp(component, "api") == 0 &&
                      strcmp(msg, "request") == 0;
    struct ambd_buf b = {0};
    ambd_buf_reserve(&b, LINE_RESERVE);
    if (json) {
        ambd_buf_puts(&b, "{\"ts\":\"");
        put_timestamp(&b);
        ambd_buf_puts(&b, "\",\"level\":\"");
        ambd_buf_puts(&b, level_names[level]);
        ambd_buf_puts(&b, "\",\"component\":\"");
        put_value(&b, component, 1, 0, 0);
        ambd_buf_puts(&b, "\",\"msg\":\"");
        put_value(&b, msg, 1, 0, 1);
        ambd_buf_putc(&b, '"');
    } else {
        put_timestamp(&b);
        ambd_buf_printf(&b, " %-5s ", level_names[level]);
        put_value(&b, component, 0, 0, 0);
        ambd_buf_puts(&b, ": ");
        put_value(&b, msg, 0, 0, 1);
    }
    for (const char *key; kv && (key = va_arg(*kv, const char *)) != NULL;) {
        const char *value = va_arg(*kv, const char *);
        int structural = access_line && is_access_field(key);
        if (json) {
            ambd_buf_puts(&b, ",\"");
            put_value(&b, key, 1, 0, 0);
            /* A field must not shadow the line's own keys. */
            if (is_reserved_key(key))
                ambd_buf_putc(&b, '_');
            ambd_buf_puts(&b, "\":\"");
            put_value(&b, value, 1, 0, !structural);
            ambd_buf_putc(&b, '"');
        } else {
            ambd_buf_putc(&b, ' ');
            put_value(&b, key, 0, 0, 0);
            ambd_buf_putc(&b, '=');
            put_value(&b, value, 0, 1, !structural);
        }
    }
    ambd_buf_puts(&b, json ? "}\n" : "\n");
    write_line(&b, access_line);
    ambd_buf_release(&b);
}

void ambd_vlog(const char *component, int level, const char *msg, va_list kv)
{
    va_list copy;
    va_copy(copy, kv);
    emit(component, level, msg, &copy);
    va_end(copy);
}

void ambd_log(const char *component, int level, const char *msg, ...)
{
    va_list kv;
    va_start(kv, msg);
    emit(component, level, msg, &kv);
    va_end(kv);
}

void ambd_vlogf(const char *component, int level, const char *fmt, va_list ap)
{
    if (clamp_level(level) > atomic_load(&log_level))
        return;
    struct ambd_buf b = {0};
    ambd_buf_vprintf(&b, fmt, ap);
    char *msg = ambd_buf_take(&b);
    emit(component, level, msg ? msg : fmt, NULL);
    free(msg);
}

void ambd_logf(const char *component, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ambd_vlogf(component, level, fmt, ap);
    va_end(ap);
}

static void libevent_log(int severity, const char *msg)
{
    int level = severity >= EVENT_LOG_ERR    ? AMB_LOG_ERROR
                : severity == EVENT_LOG_WARN ? AMB_LOG_WARN
                : severity == EVENT_LOG_MSG  ? AMB_LOG_INFO
                                             : AMB_LOG_DEBUG;
    emit("libevent", level, msg, NULL);
}

void ambd_log_capture_libevent(void)
{
    event_set_log_callback(libevent_log);
}
