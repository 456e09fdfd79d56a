/* linebuf.c — splits the agent's stdout into lines without trusting it: a
 * line longer than the bound is dropped as it streams by (counted, never
 * buffered whole), so a 50 MB line without a newline costs at most the
 * bound in memory. Pure; unit-tested in tests/runner/unit_linebuf.c. */
#include <stdlib.h>
#include <string.h>

#include "runner.h"

void linebuf_init(struct linebuf *lb, size_t max)
{
    memset(lb, 0, sizeof *lb);
    lb->max = max;
}

void linebuf_free(struct linebuf *lb)
{
    free(lb->buf);
    memset(lb, 0, sizeof *lb);
}

static int reserve(struct linebuf *lb, size_t need)
{
    if (need <= lb->cap)
        return 0;
    size_t cap = lb->cap ? lb->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > lb->max + 1)
        cap = lb->max + 1;
    char *b = realloc(lb->buf, cap);
    if (!b)
        return -1;
    lb->buf = b;
    lb->cap = cap;
    return 0;
}

int linebuf_feed(struct linebuf *lb, const char *data, size_t n,
                 void (*on_line)(void *ud, char *line, size_t len),
                 void (*on_long)(void *ud, size_t bytes), void *ud)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (lb->skipping) {
            lb->skipping += take;
            if (nl) {
                on_long(ud, lb->skipping);
                lb->skipping = 0;
            }
        } else if (lb->len + take > lb->max) {
            lb->skipping = lb->len + take; /* what this line had so far */
            lb->len = 0;
            if (nl) {
                on_long(ud, lb->skipping);
                lb->skipping = 0;
            }
        } else {
            if (reserve(lb, lb->len + take + 1) != 0)
                return -1;
            memcpy(lb->buf + lb->len, data, take);
            lb->len += take;
            if (nl) {
                lb->buf[lb->len] = '\0';
                size_t len = lb->len;
                lb->len = 0;
                on_line(ud, lb->buf, len);
            }
        }
        if (!nl)
            break;
        data = nl + 1;
        n -= take + 1;
    }
    return 0;
}

void linebuf_finish(struct linebuf *lb, void (*on_line)(void *ud, char *line, size_t len),
                    void (*on_long)(void *ud, size_t bytes), void *ud)
{
    if (lb->skipping) {
        on_long(ud, lb->skipping);
        lb->skipping = 0;
    } else if (lb->len > 0 && reserve(lb, lb->len + 1) == 0) {
        lb->buf[lb->len] = '\0';
        size_t len = lb->len;
        lb->len = 0;
        on_line(ud, lb->buf, len);
    }
}
