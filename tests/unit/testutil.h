/* testutil.h — helpers shared by the unit tests: capturing the log sink and
 * writing config files. cmocka must be included after its prerequisites. */
#ifndef AMBIENT_TESTUTIL_H
#define AMBIENT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Sends the log sink to an in-memory file until testutil_log_take. */
void testutil_log_capture(void);
/* Everything logged since testutil_log_capture (caller frees); restores
 * stderr as the sink. */
char *testutil_log_take(void);
/* Number of times needle occurs in haystack. */
size_t testutil_count(const char *haystack, const char *needle);
/* Writes text to a new temporary file and returns its path (caller frees
 * and unlinks). */
char *testutil_write_temp(const char *text);

#endif
