/* route_metrics.c — the REST server's request metrics, by route:
 *
 *   ambient_api_requests_total{method,route,code}     counter
 *   ambient_api_request_duration_seconds{route}       histogram
 *   ambient_api_requests_in_flight                    gauge
 *
 * route is the matched route's pattern ("/api/projects/:project"), never
 * the path, so the series are bounded by the routes registered; requests
 * that matched none (404, 405, refusals) are route="unmatched", and once
 * the tables are full further ones count as method="OTHER", route="other"
 * (its slot is kept free for it). One mutex
 * around the tables: a request takes it once, for a few increments. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <event2/buffer.h>

#include "serving.h"

#define MAX_SERIES 512   /* (method, route, code) label sets */
#define MAX_ROUTES 128   /* routes with a histogram */
#define MAX_LABEL 128    /* bytes of a route label kept */

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct count {
    char method[8];
    char route[MAX_LABEL];
    int code;
    unsigned long long n;
};

struct latency {
    char route[MAX_LABEL];
    unsigned long long bucket[N_BUCKETS + 1]; /* per bound, last +Inf; cumulated when rendered */
    double sum;
    unsigned long long count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct count counts[MAX_SERIES];
static size_t n_counts;
static struct latency latencies[MAX_ROUTES];
static size_t n_latencies;
static atomic_llong in_flight;

void api_metrics_in_flight(int delta)
{
    atomic_fetch_add(&in_flight, delta);
}

/* A label value as rendered: what Prometheus would need escaped (a
 * plugin's route may hold anything) becomes '_'. */
static void copy_label(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);
    for (size_t i = 0; i < len; i++)
        dst[i] = src[i] == '"' || src[i] == '\\' || src[i] == '\n' ? '_' : src[i];
    dst[len] = '\0';
}

/* Under lock. The count of the label set, added when new (NULL when full). */
static struct count *count_of(const char *method, const char *route, int code)
{
    char label[MAX_LABEL];
    copy_label(label, sizeof label, route);
    route = label;
    for (size_t i = 0; i < n_counts; i++) {
        struct count *c = &counts[i];
        if (c->code == code && !strncmp(c->method, method, sizeof c->method - 1) &&
            !strcmp(c->route, route))
            return c;
    }
    /* The last slot is kept for the overflow series. */
    if (n_counts >= MAX_SERIES - (strcmp(route, "other") != 0))
        return NULL;
    struct count *c = &counts[n_counts++];
    copy_label(c->method, sizeof c->method, method);
    copy_label(c->route, sizeof c->route, route);
    c->code = code;
    return c;
}

static struct latency *latency_of(const char *route)
{
    char label[MAX_LABEL];
    copy_label(label, sizeof label, route);
    route = label;
    for (size_t i = 0; i < n_latencies; i++)
        if (!strcmp(latencies[i].route, route))
            return &latencies[i];
    if (n_latencies >= MAX_ROUTES - (strcmp(route, "other") != 0))
        return NULL;
    struct latency *l = &latencies[n_latencies++];
    copy_label(l->route, sizeof l->route, route);
    return l;
}

void api_metrics_record(const char *method, const char *route, int status, double seconds)
{
    if (status < 0 || status > 999)
        status = 0;
    if (!route)
        route = "unmatched";
    pthread_mutex_lock(&lock);
    struct count *c = count_of(method ? method : "OTHER", route, status);
    if (!c)
        c = count_of("OTHER", "other", 0); /* the table is full */
    if (c)
        c->n++;
    struct latency *l = latency_of(route);
    if (!l)
        l = latency_of("other");
    if (l) {
        size_t b = 0;
        while (b < N_BUCKETS && seconds > buckets[b])
            b++;
        l->bucket[b]++;
        l->sum += seconds > 0 ? seconds : 0;
        l->count++;
    }
    pthread_mutex_unlock(&lock);
}

void api_metrics_render(struct evbuffer *b)
{
    pthread_mutex_lock(&lock);
    evbuffer_add_printf(b, "# HELP ambient_api_requests_total REST requests served, by method, "
                           "route and status code.\n# TYPE ambient_api_requests_total counter\n");
    for (size_t i = 0; i < n_counts; i++)
        evbuffer_add_printf(b,
                            "ambient_api_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} %llu\n",
                            counts[i].method, counts[i].route, counts[i].code, counts[i].n);
    evbuffer_add_printf(b, "# HELP ambient_api_request_duration_seconds Time from a request's "
                           "arrival to its reply, by route.\n"
                           "# TYPE ambient_api_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n_latencies; i++) {
        const struct latency *l = &latencies[i];
        unsigned long long cum = 0;
        for (size_t k = 0; k < N_BUCKETS; k++) {
            cum += l->bucket[k];
            evbuffer_add_printf(b,
                                "ambient_api_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                                l->route, buckets[k], cum);
        }
        cum += l->bucket[N_BUCKETS];
        evbuffer_add_printf(b,
                            "ambient_api_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                            "ambient_api_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                            "ambient_api_request_duration_seconds_count{route=\"%s\"} %llu\n",
                            l->route, cum, l->route, l->sum, l->route, cum);
    }
    pthread_mutex_unlock(&lock);
    evbuffer_add_printf(b, "# HELP ambient_api_requests_in_flight REST requests being served.\n"
                           "# TYPE ambient_api_requests_in_flight gauge\n"
                           "ambient_api_requests_in_flight %lld\n",
                        (long long)atomic_load(&in_flight));
}
