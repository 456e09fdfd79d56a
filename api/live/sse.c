/* sse.c — Server-Sent Events framing of stored lines: the response head
 * (no Content-Length, Connection: close: the stream ends with the socket)
 * and one "id:/data:" block per event, so EventSource resumes with
 * Last-Event-ID. Stored lines are compact JSON and hold no newline. */
#include <stdio.h>

#include <event2/buffer.h>

#include "live/live_int.h"

const char live_sse_head[] = "HTTP/1.1 200 OK\r\n"
                             "Content-Type: text/event-stream\r\n"
                             "Cache-Control: no-cache\r\n"
                             "X-Accel-Buffering: no\r\n"
                             "Connection: close\r\n"
                             "\r\n"
                             "retry: 2000\n\n";

int live_sse_event(struct evbuffer *out, uint64_t seq, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (evbuffer_add_printf(out, "id: %llu\ndata: ", (unsigned long long)seq) < 0)
        return -1;
    if (evbuffer_add(out, line, len) != 0)
        return -1;
    return evbuffer_add(out, "\n\n", 2);
}
