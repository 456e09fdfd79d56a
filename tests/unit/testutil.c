/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log-internal.h"

static int capture_fd = -1;

void testutil_log_capture(void)
{
    capture_fd = memfd_create("log", 0);
    assert_true(capture_fd >= 0);
    ambd_log_set_fd(capture_fd);
}

char *testutil_log_take(void)
{
    ambd_log_set_fd(STDERR_FILENO);
    off_t size = lseek(capture_fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(capture_fd, text, (size_t)size, 0), size);
    close(capture_fd);
    capture_fd = -1;
    return text;
}

size_t testutil_count(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

char *testutil_write_temp(const char *text)
{
    char *path = strdup("/tmp/ambient-test-XXXXXX.conf");
    assert_non_null(path);
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}
