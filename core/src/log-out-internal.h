/* log-out-internal.h — how the sink's lines reach their descriptor: at once,
 * or gathered per thread and written a buffer at a time (the api's access
 * lines, one per request: a write(2) each was a sixth of a request's cost).
 * Every function may be called from any thread. */
#ifndef AMBD_LOG_OUT_INTERNAL_H
#define AMBD_LOG_OUT_INTERNAL_H

#include <stddef.h>

/* Bytes a thread gathers before it writes them: at most PIPE_BUF, so one
 * write of them is atomic on a pipe and no other thread's line lands inside. */
#define AMBD_LOG_BUFFER_BYTES 4096
/* How long a gathered line may wait when no more come. */
#define AMBD_LOG_BUFFER_MS 100

/* Writes one whole line to fd now, after the lines this thread gathered
 * (so a thread's lines keep their order). */
void ambd_log_out_now(int fd, const char *line, size_t len);
/* Gathers one whole line for fd in this thread's buffer. It is written
 * when the buffer is full, within AMBD_LOG_BUFFER_MS, when the thread
 * writes a line at once or ends, on ambd_log_out_flush and at exit(); a
 * crash loses what is gathered then. A line that does not fit in an empty
 * buffer, or without memory for one, is written at once. */
void ambd_log_out_gather(int fd, const char *line, size_t len);
/* Writes every thread's gathered lines (before the descriptor changes). */
void ambd_log_out_flush(void);

#endif
