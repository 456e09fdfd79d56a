/* noop_kind.c — the peer benchmark's kind for ambientd: Widgets
 * (test.ambient-code/v1alpha1) with a reconcile that does what the Python
 * and Node peers' reconcile does and nothing more: it reads the object's
 * annotations and counts those stamped bench/round = R; when a round reaches
 * its bench/expect it logs "bench round done" with CLOCK_MONOTONIC in
 * nanoseconds, the clock the bench reads too (tests/bench/peer_bench.py). */
#include <ambient/plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct amb_host *host;
static struct amb_module *self;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char round_now[64];
static long count;

static int noop_reconcile(void *ud, struct amb_ctx *ctx, const json_t *obj, struct amb_error *err)
{
    (void)ud;
    (void)ctx;
    (void)err;
    const json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
    const char *r = json_string_value(json_object_get(ann, "bench/round"));
    const char *expect = json_string_value(json_object_get(ann, "bench/expect"));
    if (!r || !expect || strlen(r) >= sizeof round_now)
        return AMB_OK;
    pthread_mutex_lock(&lock);
    if (strcmp(r, round_now) != 0) {
        snprintf(round_now, sizeof round_now, "%s", r);
        count = 0;
    }
    int done = ++count == strtol(expect, NULL, 10);
    pthread_mutex_unlock(&lock);
    if (done) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        char t[32];
        snprintf(t, sizeof t, "%lld", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        host->log(self, AMB_LOG_INFO, "bench round done", "round", r, "monotonic_ns", t, NULL);
    }
    return AMB_OK;
}

static int noop_init(const struct amb_host *h, struct amb_module *s, void **state,
                     struct amb_error *err)
{
    (void)state;
    host = h;
    self = s;
    struct amb_kind kind = {
        .size = sizeof kind,
        .resource = {"test.ambient-code", "v1alpha1", "Widget", "widgets", 1},
        .reconcile = noop_reconcile,
    };
    (void)err;
    return host->register_kind(self, &kind, NULL, NULL);
}

static const struct amb_plugin descriptor = {
    AMB_PLUGIN_HEADER,
    .name = "benchnoop",
    .version = "1.0.0",
    .description = "the peer benchmark's no-op Widget reconcile",
    .init = noop_init,
};
AMB_DEFINE_PLUGIN(descriptor)
