/* path.c — strict percent-decoding of a request path, before it is routed
 * (serving.h says what is refused and why). */
#include <string.h>

#include "serving.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 1 if the segment ending at out[end] (exclusive) is "." or "..". */
static int dot_segment(const char *out, size_t start, size_t end)
{
    size_t n = end - start;
    return (n == 1 && out[start] == '.') || (n == 2 && out[start] == '.' && out[start + 1] == '.');
}

int api_path_decode(const char *raw, char *out, size_t out_len, const char **why)
{
    size_t o = 0, seg = 1;
    *why = NULL;
    if (!raw || raw[0] != '/') {
        *why = "the path must start with /";
        return -1;
    }
    for (size_t i = 0; raw[i]; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%') {
            int hi = hexval(raw[i + 1]), lo = hi < 0 ? -1 : hexval(raw[i + 2]);
            if (hi < 0 || lo < 0) {
                *why = "bad percent-encoding in the path";
                return -1;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            if (c == '/') {
                *why = "encoded / in the path";
                return -1;
            }
        } else if (c == '/') {
            if (o > 0 && out[o - 1] == '/') {
                *why = "empty segment (//) in the path";
                return -1;
            }
            if (o > 0 && dot_segment(out, seg, o)) {
                *why = ". or .. segment in the path";
                return -1;
            }
            seg = o + 1;
        }
        if (c == 0 || c < 0x20 || c == 0x7f) {
            *why = "control character in the path";
            return -1;
        }
        if (o + 1 >= out_len) {
            *why = "the path is too long";
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (dot_segment(out, seg, o) || strstr(out, "..")) {
        *why = ". or .. in the path";
        return -1;
    }
    return 0;
}

/* ---- replies the server makes itself ---- */
