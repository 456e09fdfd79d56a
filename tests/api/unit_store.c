/* unit_store.c — unit tests of the live event store (api/live/store.c):
 * paths that cannot escape live_dir, the stored line (server seq/ts/source
 * first), appends, seq recovery after a restart and after a torn write,
 * the seek by seq, transcript pages, removal, size and sweep of logs, the
 * parsing of posted bodies (JSON, NDJSON) and the types a runner may not
 * post. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "live/live_int.h"
#include "live/store.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/unit-store-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_paths(void **state)
{
    (void)state;
    char p[512];
    assert_int_equal(store_path("/d", "proj", "0b6e-41aa-9c3f", p, sizeof p), 0);
    assert_string_equal(p, "/d/proj/0b6e-41aa-9c3f.ndjson");
    const char *bad_projects[] = {"..", ".", "a/b", "A", "", "-a", "a.b"};
    for (size_t i = 0; i < sizeof bad_projects / sizeof bad_projects[0]; i++)
        assert_int_equal(store_path("/d", bad_projects[i], "s", p, sizeof p), -1);
    const char *bad_names[] = {"..", "../x", "a/b", "s.1", "", ".a", "a..b/", NULL,
                               "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        assert_int_equal(store_path("/d", "p", bad_names[i], p, sizeof p), -1);
    assert_int_equal(store_path("/d", "p", "s", p, 8), -1);
}

static void test_line(void **state)
{
    (void)state;
    json_t *ev = json_pack("{s:s, s:i, s:s, s:s}", "type", "x", "seq", 99, "ts", "old", "t",
                           "a\nb");
    size_t len;
    json_object_set_new(ev, "source", json_string("user"));
    char *line = store_line(ev, 7, "2026-01-01T00:00:00.000Z", "runner", &len);
    assert_non_null(line);
    assert_int_equal(len, strlen(line));
    assert_string_equal(line, "{\"seq\":7,\"ts\":\"2026-01-01T00:00:00.000Z\",\"source\":"
                              "\"runner\",\"type\":\"x\",\"t\":\"a\\nb\"}\n");
    uint64_t seq;
    assert_int_equal(store_line_seq(line, len, &seq), 0);
    assert_true(seq == 7);
    free(line);
    json_decref(ev);
    ev = json_object();
    line = store_line(ev, 1, "T", "user", &len);
    assert_string_equal(line, "{\"seq\":1,\"ts\":\"T\",\"source\":\"user\"}\n");
    free(line);
    json_decref(ev);
    assert_int_equal(store_line_seq("{\"seq\":12}", 10, &seq), 0);
    assert_true(seq == 12);
    assert_int_equal(store_line_seq("{\"seq\":}", 8, &seq), -1);
    assert_int_equal(store_line_seq("{\"seq\":1x", 9, &seq), -1);
    assert_int_equal(store_line_seq("{\"type\":1}", 10, &seq), -1);
    assert_int_equal(store_line_seq("{\"seq\":12", 9, &seq), -1);
    char ts[32];
    store_timestamp(ts);
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
}

static void append_n(struct store_log *log, int n, const char *type)
{
    for (int i = 0; i < n; i++) {
        json_t *ev = json_pack("{s:s, s:i}", "type", type, "i", i);
        size_t len;
        char *line = store_line(ev, log->seq + 1, "T", "runner", &len);
        assert_int_equal(store_append(log, line, len), AMB_OK);
        log->seq++;
        free(line);
        json_decref(ev);
    }
}

static void test_open_append_recover(void **state)
{
    (void)state;
    struct store_log log;
    /* absent, no create: fine, empty */
    assert_int_equal(store_open(dir, "p", "s", 0, &log), AMB_OK);
    assert_int_equal(log.fd, -1);
    assert_true(log.seq == 0 && log.size == 0);
    assert_int_equal(store_open(dir, "p", "../s", 1, &log), AMB_EINVAL);
    assert_int_equal(store_open(dir, "p", "s", 1, &log), AMB_OK);
    assert_true(log.fd >= 0);
    append_n(&log, 1000, "a");
    uint64_t size = log.size;
    store_close(&log);
    char path[512];
    store_path(dir, "p", "s", path, sizeof path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true((uint64_t)st.st_size == size);
    assert_int_equal(st.st_mode & 077, 0); /* not readable by others */

    assert_int_equal(store_open(dir, "p", "s", 0, &log), AMB_OK);
    assert_true(log.seq == 1000);
    assert_true(log.size == size);
    store_close(&log);

    /* a torn last line is cut off, seq comes from the last whole one */
    FILE *f = fopen(path, "a");
    fputs("{\"seq\":1001,\"ts\":\"T\",\"ty", f);
    fclose(f);
    assert_int_equal(store_open(dir, "p", "s", 1, &log), AMB_OK);
    assert_true(log.seq == 1000);
    assert_true(log.size == size);
    assert_int_equal(stat(path, &st), 0);
    assert_true((uint64_t)st.st_size == size);
    append_n(&log, 1, "b");
    assert_true(log.seq == 1001);
    store_close(&log);

    /* a long last line spanning several read blocks */
    assert_int_equal(store_open(dir, "p", "long", 1, &log), AMB_OK);
    char *pad = malloc(20000);
    memset(pad, 'z', 19999);
    pad[19999] = '\0';
    for (int i = 0; i < 3; i++) {
        json_t *ev = json_pack("{s:s}", "pad", pad);
        size_t len;
        char *line = store_line(ev, log.seq + 1, "T", "runner", &len);
        assert_int_equal(store_append(&log, line, len), AMB_OK);
        log.seq++;
        free(line);
        json_decref(ev);
    }
    free(pad);
    store_close(&log);
    assert_int_equal(store_open(dir, "p", "long", 0, &log), AMB_OK);
    assert_true(log.seq == 3);
    store_close(&log);

    /* a file that is not ours is refused, not misread */
    store_path(dir, "p", "alien", path, sizeof path);
    f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    assert_int_equal(store_open(dir, "p", "alien", 0, &log), AMB_EIO);
    assert_int_equal(log.fd, -1);
}

static void test_page(void **state)
{
    (void)state;
    struct store_log log;
    assert_int_equal(store_open(dir, "q", "pg", 1, &log), AMB_OK);
    append_n(&log, 20, "x");
    store_close(&log);
    char path[512];
    store_path(dir, "q", "pg", path, sizeof path);
    json_t *items;
    uint64_t next;
    assert_int_equal(store_page(path, 0, 5, 1 << 20, &items, &next), AMB_OK);
    assert_int_equal(json_array_size(items), 5);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), 1);
    assert_true(next == 5);
    json_decref(items);
    assert_int_equal(store_page(path, 15, 500, 1 << 20, &items, &next), AMB_OK);
    assert_int_equal(json_array_size(items), 5);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), 16);
    assert_true(next == 0);
    json_decref(items);
    /* a byte budget shortens the page but never empties it */
    assert_int_equal(store_page(path, 0, 500, 1, &items, &next), AMB_OK);
    assert_int_equal(json_array_size(items), 1);
    assert_true(next == 1);
    json_decref(items);
    assert_int_equal(store_page(path, 20, 500, 1 << 20, &items, &next), AMB_OK);
    assert_int_equal(json_array_size(items), 0);
    assert_true(next == 0);
    json_decref(items);
    /* a missing log is an empty transcript */
    store_path(dir, "q", "none", path, sizeof path);
    assert_int_equal(store_page(path, 0, 10, 1 << 20, &items, &next), AMB_OK);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
}

/* The offset of the line of seq want+1 found by reading every line. */
static uint64_t scan_for(const char *path, uint64_t after)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t off = 0, seq;
    while ((n = getline(&line, &cap, f)) > 0) {
        assert_int_equal(store_line_seq(line, (size_t)n, &seq), 0);
        if (seq > after)
            break;
        off += (uint64_t)n;
    }
    free(line);
    fclose(f);
    return off;
}

static void test_seek(void **state)
{
    (void)state;
    struct store_log log;
    /* lines of very different lengths, some over the 4 KiB read block */
    assert_int_equal(store_open(dir, "k", "seek", 1, &log), AMB_OK);
    char *pad = malloc(9000);
    for (int i = 0; i < 300; i++) {
        size_t plen = (size_t)((i * 7919) % 9000);
        memset(pad, 'p', plen);
        pad[plen] = '\0';
        json_t *ev = json_pack("{s:s, s:i}", "pad", pad, "i", i);
        size_t len;
        char *line = store_line(ev, log.seq + 1, "T", "runner", &len);
        assert_int_equal(store_append(&log, line, len), AMB_OK);
        log.seq++;
        free(line);
        json_decref(ev);
    }
    free(pad);
    char path[512];
    store_path(dir, "k", "seek", path, sizeof path);
    uint64_t off;
    for (uint64_t after = 0; after <= 305; after++) {
        assert_int_equal(store_seek(log.fd, log.size, after, &off), AMB_OK);
        assert_true(off == (after >= 300 ? log.size : scan_for(path, after)));
    }
    assert_int_equal(store_seek(log.fd, log.size, UINT64_MAX, &off), AMB_OK);
    assert_true(off == log.size);
    assert_int_equal(store_seek(log.fd, 0, 5, &off), AMB_OK); /* empty log */
    assert_true(off == 0);
    /* a page from far beyond the end is empty, and found without a scan */
    json_t *items;
    uint64_t next;
    assert_int_equal(store_page(path, 1000000000, 10, 1 << 20, &items, &next), AMB_OK);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
    assert_int_equal(store_page(path, 297, 10, 1 << 20, &items, &next), AMB_OK);
    assert_int_equal(json_array_size(items), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), 298);
    json_decref(items);
    store_close(&log);
    /* a line that is not ours, met by the search, is an error, not a guess */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "{\"xyz", 5, 0), 5);
    struct stat st;
    fstat(fd, &st);
    uint64_t a = 0;
    int rc = AMB_OK;
    for (; a < 300 && rc == AMB_OK; a += 1)
        rc = store_seek(fd, (uint64_t)st.st_size, a, &off);
    assert_int_equal(rc, AMB_EIO);
    close(fd);
}

static int keep_b(void *ud, const char *uid)
{
    (void)ud;
    return strcmp(uid, "b") == 0;
}

static void note_gone(void *ud, const char *project, const char *uid)
{
    char *out = ud;
    snprintf(out + strlen(out), 64, "%s/%s;", project, uid);
}

static void test_remove_and_sweep(void **state)
{
    (void)state;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sw", dir);
    mkdir(sub, 0700);
    struct store_log log;
    const char *uids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_open(sub, "p1", uids[i], 1, &log), AMB_OK);
        append_n(&log, 10, "x");
        store_close(&log);
    }
    uint64_t one = store_total_bytes(sub) / 3;
    assert_true(one > 0);
    /* files written after the list began are spared; b is listed */
    char gone[256] = "";
    store_sweep(sub, (long long)time(NULL) - 5, keep_b, note_gone, gone);
    assert_string_equal(gone, "");
    store_sweep(sub, (long long)time(NULL) + 5, keep_b, note_gone, gone);
    assert_true(strstr(gone, "p1/a;") && strstr(gone, "p1/c;") && !strstr(gone, "/b;"));
    uint64_t freed;
    store_remove(sub, "p1", "a", &freed);
    assert_true(freed == one);
    store_remove(sub, "p1", "a", &freed); /* gone already */
    assert_true(freed == 0);
    store_remove(sub, "p1", "c", &freed);
    assert_true(store_total_bytes(sub) == one);
    store_remove(sub, "p1", "b", &freed);
    struct stat st;
    snprintf(sub, sizeof sub, "%s/sw/p1", dir);
    assert_int_equal(stat(sub, &st), -1); /* the empty project directory went too */
}

static void test_runner_types(void **state)
{
    (void)state;
    char msg[256];
    json_t *ok = json_pack("[{s:s}, {s:s}, {s:i}, {}]", "type", "assistant", "type", "runner",
                           "type", 3);
    assert_int_equal(live_runner_events_check(ok, msg, sizeof msg), 0);
    json_decref(ok);
    const char *reserved[] = {"user_message", "end_session", "status"};
    for (int i = 0; i < 3; i++) {
        json_t *bad = json_pack("[{s:s}, {s:s, s:s}]", "type", "assistant", "type", reserved[i],
                                "user", "alice");
        assert_int_equal(live_runner_events_check(bad, msg, sizeof msg), 422);
        assert_non_null(strstr(msg, reserved[i]));
        assert_non_null(strstr(msg, "event 2"));
        json_decref(bad);
    }
}

static void test_parse_events(void **state)
{
    (void)state;
    json_t *evs;
    char msg[256];
    const char *nd = "{\"type\":\"a\"}\n\r\n  {\"type\":\"b\"}\r\n{\"type\":\"c\"}";
    assert_int_equal(live_parse_events(nd, strlen(nd), 1, &evs, msg, sizeof msg), 0);
    assert_int_equal(json_array_size(evs), 3);
    json_decref(evs);
    const char *one = " {\"type\":\"a\",\n \"x\": 1}\n";
    assert_int_equal(live_parse_events(one, strlen(one), 0, &evs, msg, sizeof msg), 0);
    assert_int_equal(json_array_size(evs), 1);
    json_decref(evs);
    /* the same body is two broken lines as NDJSON */
    assert_int_equal(live_parse_events(one, strlen(one), 1, &evs, msg, sizeof msg), 400);
    assert_null(evs);
    assert_non_null(strstr(msg, "line 1"));
    const char *arr = "{}\n[1]\n";
    assert_int_equal(live_parse_events(arr, strlen(arr), 1, &evs, msg, sizeof msg), 400);
    assert_non_null(strstr(msg, "line 2"));
    assert_int_equal(live_parse_events("\n \n", 3, 1, &evs, msg, sizeof msg), 400);
    assert_int_equal(live_parse_events("{} {}", 5, 0, &evs, msg, sizeof msg), 400);
    assert_int_equal(live_parse_events("\"s\"", 3, 0, &evs, msg, sizeof msg), 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_line),
        cmocka_unit_test(test_open_append_recover),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_remove_and_sweep),
        cmocka_unit_test(test_runner_types),
        cmocka_unit_test(test_parse_events),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
