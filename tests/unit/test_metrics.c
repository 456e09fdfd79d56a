/* test_metrics.c — the Prometheus registry: exact text of each metric type,
 * escaping, name checks, label-count mismatches, the series cap, and
 * concurrent updates. "test_metrics --render-sample" prints a rendering of
 * every feature for check_metrics_format.py to parse with prometheus_client. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics-internal.h"
#include "testutil.h"

#define DROPPED_ZERO                                                                          \
    "# HELP ambient_metrics_dropped_series_total Metric updates dropped because their family " \
    "had reached its series limit.\n"                                                         \
    "# TYPE ambient_metrics_dropped_series_total counter\n"                                   \
    "ambient_metrics_dropped_series_total 0\n"

static void expect_render(struct ambd_metrics *m, const char *want)
{
    char *text = ambd_metrics_render(m);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

static void counter_with_labels(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    const char *const labels[] = {"kind", "result", NULL};
    struct ambd_metric *c =
        ambd_metrics_counter(m, "ambient_reconcile_total", "Reconciles by kind and result.", labels);
    assert_non_null(c);
    /* Labelled families show no series until one is used. */
    expect_render(m, "# HELP ambient_reconcile_total Reconciles by kind and result.\n"
                     "# TYPE ambient_reconcile_total counter\n" DROPPED_ZERO);
    ambd_metric_add(c, (const char *const[]){"Widget", "ok", NULL}, 1);
    ambd_metric_add(c, (const char *const[]){"Widget", "error", NULL}, 1);
    ambd_metric_add(c, (const char *const[]){"Widget", "ok", NULL}, 2);
    ambd_metric_add(c, (const char *const[]){"Gadget", "ok", NULL}, 0.5);
    ambd_metric_add(c, (const char *const[]){"Widget", "ok", NULL}, -5); /* counters only grow */
    ambd_metric_set(c, (const char *const[]){"Widget", "ok", NULL}, 100); /* not a gauge */
    expect_render(m, "# HELP ambient_reconcile_total Reconciles by kind and result.\n"
                     "# TYPE ambient_reconcile_total counter\n"
                     "ambient_reconcile_total{kind=\"Widget\",result=\"ok\"} 3\n"
                     "ambient_reconcile_total{kind=\"Widget\",result=\"error\"} 1\n"
                     "ambient_reconcile_total{kind=\"Gadget\",result=\"ok\"} 0.5\n" DROPPED_ZERO);
    ambd_metrics_free(m);
}

static void gauges_and_value_formats(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    struct ambd_metric *leader = ambd_metrics_gauge(m, "ambient_leader", "1 when leading.", NULL);
    struct ambd_metric *v = ambd_metrics_gauge(m, "ambient_values", NULL,
                                               (const char *const[]){"case", NULL});
    assert_non_null(leader);
    assert_non_null(v);
    /* An unlabelled family shows its one series from the start. */
    expect_render(m, "# HELP ambient_leader 1 when leading.\n"
                     "# TYPE ambient_leader gauge\n"
                     "ambient_leader 0\n"
                     "# TYPE ambient_values gauge\n" DROPPED_ZERO);
    ambd_metric_set(leader, NULL, 1);
    ambd_metric_add(leader, (const char *const[]){NULL}, -0.25);
    ambd_metric_set(v, (const char *const[]){"int", NULL}, 3);
    ambd_metric_set(v, (const char *const[]){"negative", NULL}, -42);
    ambd_metric_set(v, (const char *const[]){"tenth", NULL}, 0.1);
    ambd_metric_set(v, (const char *const[]){"third", NULL}, 1.0 / 3);
    ambd_metric_set(v, (const char *const[]){"big", NULL}, 1e20);
    ambd_metric_set(v, (const char *const[]){"bigint", NULL}, 123456789012345.0);
    ambd_metric_set(v, (const char *const[]){"tiny", NULL}, 2.5e-9);
    ambd_metric_set(v, (const char *const[]){"inf", NULL}, 1.0 / 0.0);
    ambd_metric_set(v, (const char *const[]){"neginf", NULL}, -1.0 / 0.0);
    ambd_metric_set(v, (const char *const[]){"nan", NULL}, 0.0 / 0.0);
    ambd_metric_add(v, (const char *const[]){"int", NULL}, 0.0 / 0.0); /* ignored */
    expect_render(m, "# HELP ambient_leader 1 when leading.\n"
                     "# TYPE ambient_leader gauge\n"
                     "ambient_leader 0.75\n"
                     "# TYPE ambient_values gauge\n"
                     "ambient_values{case=\"int\"} 3\n"
                     "ambient_values{case=\"negative\"} -42\n"
                     "ambient_values{case=\"tenth\"} 0.1\n"
                     "ambient_values{case=\"third\"} 0.3333333333333333\n"
                     "ambient_values{case=\"big\"} 1e+20\n"
                     "ambient_values{case=\"bigint\"} 123456789012345\n"
                     "ambient_values{case=\"tiny\"} 2.5e-09\n"
                     "ambient_values{case=\"inf\"} +Inf\n"
                     "ambient_values{case=\"neginf\"} -Inf\n"
                     "ambient_values{case=\"nan\"} NaN\n" DROPPED_ZERO);
    ambd_metrics_free(m);
}

static double read_depth(void *ud)
{
    return (double)*(const size_t *)ud;
}

static void gauge_func_is_read_at_render_time(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    size_t depth = 7;
    struct ambd_metric *g =
        ambd_metrics_gauge_func(m, "ambient_workqueue_depth", "Keys waiting.", read_depth, &depth);
    assert_non_null(g);
    ambd_metric_set(g, NULL, 99); /* read-only */
    expect_render(m, "# HELP ambient_workqueue_depth Keys waiting.\n"
                     "# TYPE ambient_workqueue_depth gauge\n"
                     "ambient_workqueue_depth 7\n" DROPPED_ZERO);
    depth = 12;
    expect_render(m, "# HELP ambient_workqueue_depth Keys waiting.\n"
                     "# TYPE ambient_workqueue_depth gauge\n"
                     "ambient_workqueue_depth 12\n" DROPPED_ZERO);
    testutil_log_capture();
    assert_null(ambd_metrics_gauge_func(m, "ambient_no_reader", "x", NULL, NULL));
    free(testutil_log_take());
    ambd_metrics_free(m);
}

static void histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    const double bounds[] = {0.25, 0.5, 1, 1.0 / 0.0};
    struct ambd_metric *h = ambd_metrics_histogram(m, "ambient_reconcile_seconds", "Time.",
                                                   (const char *const[]){"kind", NULL}, bounds, 4);
    assert_non_null(h);
    const char *const w[] = {"Widget", NULL};
    ambd_metric_observe(h, w, 0.125);
    ambd_metric_observe(h, w, 0.25); /* le is inclusive */
    ambd_metric_observe(h, w, 0.5);
    ambd_metric_observe(h, w, 3);
    ambd_metric_observe(h, w, 0.0 / 0.0); /* ignored */
    ambd_metric_observe(h, (const char *const[]){"Gadget", NULL}, 0.75);
    ambd_metric_add(h, w, 1); /* not a counter */
    expect_render(m, "# HELP ambient_reconcile_seconds Time.\n"
                     "# TYPE ambient_reconcile_seconds histogram\n"
                     "ambient_reconcile_seconds_bucket{kind=\"Widget\",le=\"0.25\"} 2\n"
                     "ambient_reconcile_seconds_bucket{kind=\"Widget\",le=\"0.5\"} 3\n"
                     "ambient_reconcile_seconds_bucket{kind=\"Widget\",le=\"1\"} 3\n"
                     "ambient_reconcile_seconds_bucket{kind=\"Widget\",le=\"+Inf\"} 4\n"
                     "ambient_reconcile_seconds_sum{kind=\"Widget\"} 3.875\n"
                     "ambient_reconcile_seconds_count{kind=\"Widget\"} 4\n"
                     "ambient_reconcile_seconds_bucket{kind=\"Gadget\",le=\"0.25\"} 0\n"
                     "ambient_reconcile_seconds_bucket{kind=\"Gadget\",le=\"0.5\"} 0\n"
                     "ambient_reconcile_seconds_bucket{kind=\"Gadget\",le=\"1\"} 1\n"
                     "ambient_reconcile_seconds_bucket{kind=\"Gadget\",le=\"+Inf\"} 1\n"
                     "ambient_reconcile_seconds_sum{kind=\"Gadget\"} 0.75\n"
                     "ambient_reconcile_seconds_count{kind=\"Gadget\"} 1\n" DROPPED_ZERO);
    ambd_metrics_free(m);

    /* Default buckets, no labels: all zero from the start. */
    m = ambd_metrics_new();
    assert_non_null(m);
    assert_non_null(ambd_metrics_histogram(m, "lat", NULL, NULL, NULL, 0));
    expect_render(m, "# TYPE lat histogram\n"
                     "lat_bucket{le=\"0.005\"} 0\n"
                     "lat_bucket{le=\"0.01\"} 0\n"
                     "lat_bucket{le=\"0.025\"} 0\n"
                     "lat_bucket{le=\"0.05\"} 0\n"
                     "lat_bucket{le=\"0.1\"} 0\n"
                     "lat_bucket{le=\"0.25\"} 0\n"
                     "lat_bucket{le=\"0.5\"} 0\n"
                     "lat_bucket{le=\"1\"} 0\n"
                     "lat_bucket{le=\"2.5\"} 0\n"
                     "lat_bucket{le=\"5\"} 0\n"
                     "lat_bucket{le=\"10\"} 0\n"
                     "lat_bucket{le=\"+Inf\"} 0\n"
                     "lat_sum 0\n"
                     "lat_count 0\n" DROPPED_ZERO);
    ambd_metrics_free(m);
}

static void help_and_label_values_are_escaped(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    struct ambd_metric *c = ambd_metrics_counter(m, "esc_total", "Back\\slash, \"quotes\"\nnewline.",
                                                 (const char *const[]){"v", NULL});
    assert_non_null(c);
    ambd_metric_add(c, (const char *const[]){"a\"b\\c\nd", NULL}, 1);
    ambd_metric_add(c, (const char *const[]){"", NULL}, 1);
    ambd_metric_add(c, (const char *const[]){"caf\xc3\xa9 {x=1}", NULL}, 1);
    expect_render(m, "# HELP esc_total Back\\\\slash, \"quotes\"\\nnewline.\n"
                     "# TYPE esc_total counter\n"
                     "esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"
                     "esc_total{v=\"\"} 1\n"
                     "esc_total{v=\"caf\xc3\xa9 {x=1}\"} 1\n" DROPPED_ZERO);
    ambd_metrics_free(m);
}

static void invalid_names_are_rejected(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    testutil_log_capture();
    const char *bad_names[] = {"", "1abc", "a-b", "a b", "é", "a\n", NULL};
    size_t refused = 0;
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++, refused++)
        assert_null(ambd_metrics_counter(m, bad_names[i], "x", NULL));
    const char *const *bad_labels[] = {
        (const char *const[]){"__reserved", NULL}, (const char *const[]){"1a", NULL},
        (const char *const[]){"a-b", NULL},        (const char *const[]){"a:b", NULL},
        (const char *const[]){"", NULL},           (const char *const[]){"x", "y", "x", NULL},
    };
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++, refused++)
        assert_null(ambd_metrics_gauge(m, "ok_name", "x", bad_labels[i]));
    assert_null(ambd_metrics_histogram(m, "h", "x", (const char *const[]){"le", NULL}, NULL, 0));
    assert_null(ambd_metrics_histogram(m, "h", "x", NULL, (const double[]){1, 1}, 2));
    assert_null(ambd_metrics_histogram(m, "h", "x", NULL, (const double[]){2, 1}, 2));
    assert_null(ambd_metrics_histogram(m, "h", "x", NULL, (const double[]){0.0 / 0.0}, 1));
    assert_null(ambd_metrics_histogram(m, "h", "x", NULL, (const double[]){1.0 / 0.0, 2}, 2));
    assert_null(ambd_metrics_histogram(m, "h", "x", NULL, (const double[]){-1.0 / 0.0, 2}, 2));
    refused += 6;

    /* Valid: colons in metric names, "le" outside histograms, _name. */
    assert_non_null(ambd_metrics_counter(m, "ns:sub:total", NULL, (const char *const[]){"le", "_x", NULL}));
    assert_non_null(ambd_metrics_histogram(m, "h", NULL, NULL, (const double[]){-1, 0, 1}, 3));
    /* Duplicates, including the samples a histogram emits. */
    assert_null(ambd_metrics_gauge(m, "ns:sub:total", NULL, NULL));
    assert_null(ambd_metrics_counter(m, "h_count", NULL, NULL));
    assert_null(ambd_metrics_gauge(m, "h_bucket", NULL, NULL));
    assert_non_null(ambd_metrics_gauge(m, "x_sum", NULL, NULL));
    assert_null(ambd_metrics_histogram(m, "x", NULL, NULL, NULL, 0));
    assert_null(ambd_metrics_counter(m, AMBD_METRICS_DROPPED_NAME, NULL, NULL));
    /* _total is not a histogram suffix, so this one does not clash. */
    assert_non_null(ambd_metrics_histogram(m, "ambient_metrics_dropped_series", NULL, NULL, NULL, 0));
    refused += 5;
    char *log = testutil_log_take();
    assert_int_equal(testutil_count(log, "metric family refused"), refused);
    free(log);
    ambd_metrics_free(m);
}

static void label_count_mismatch_is_ignored(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    struct ambd_metric *two =
        ambd_metrics_counter(m, "two_total", NULL, (const char *const[]){"a", "b", NULL});
    struct ambd_metric *none = ambd_metrics_counter(m, "none_total", NULL, NULL);
    assert_non_null(two);
    assert_non_null(none);
    ambd_metric_add(two, NULL, 1);
    ambd_metric_add(two, (const char *const[]){NULL}, 1);
    ambd_metric_add(two, (const char *const[]){"x", NULL}, 1);
    ambd_metric_add(two, (const char *const[]){"x", "y", "z", NULL}, 1);
    ambd_metric_add(none, (const char *const[]){"x", NULL}, 1);
    ambd_metric_add(none, NULL, 1);
    ambd_metric_add(none, (const char *const[]){NULL}, 1);
    ambd_metric_add(NULL, NULL, 1);
    ambd_metric_set(NULL, NULL, 1);
    ambd_metric_observe(NULL, NULL, 1);
    ambd_metric_observe(none, NULL, 1);
    expect_render(m, "# TYPE two_total counter\n"
                     "# TYPE none_total counter\n"
                     "none_total 2\n" DROPPED_ZERO);
    ambd_metrics_free(m);
}

static void series_are_capped_and_drops_counted(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    struct ambd_metric *c =
        ambd_metrics_counter(m, "by_name_total", NULL, (const char *const[]){"name", NULL});
    assert_non_null(c);
    char value[32];
    testutil_log_capture();
    for (int i = 0; i < AMBD_METRICS_MAX_SERIES + 5; i++) {
        snprintf(value, sizeof value, "obj-%d", i);
        ambd_metric_add(c, (const char *const[]){value, NULL}, 1);
    }
    /* Existing series still count; new ones do not. */
    ambd_metric_add(c, (const char *const[]){"obj-0", NULL}, 1);
    ambd_metric_add(c, (const char *const[]){"another", NULL}, 1);
    char *log = testutil_log_take();
    assert_int_equal(testutil_count(log, "series limit reached"), 1);
    free(log);
    char *text = ambd_metrics_render(m);
    assert_non_null(text);
    assert_int_equal(testutil_count(text, "\nby_name_total{"), AMBD_METRICS_MAX_SERIES);
    assert_non_null(strstr(text, "\nby_name_total{name=\"obj-0\"} 2\n"));
    assert_non_null(strstr(text, "\nby_name_total{name=\"obj-9999\"} 1\n"));
    assert_null(strstr(text, "obj-10000"));
    assert_non_null(strstr(text, "\nambient_metrics_dropped_series_total 6\n"));
    free(text);
    ambd_metrics_free(m);
}

static void long_label_values_are_cut_at_a_utf8_boundary(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    struct ambd_metric *c = ambd_metrics_counter(m, "long_total", NULL, (const char *const[]){"v", NULL});
    assert_non_null(c);
    size_t max = AMBD_METRICS_MAX_LABEL_VALUE;
    char *a = malloc(max * 2 + 1), *b = malloc(max * 2 + 1);
    assert_non_null(a);
    assert_non_null(b);
    memset(a, 'x', max * 2);
    a[max * 2] = '\0';
    memset(b, 'x', max * 2);
    b[max * 2] = '\0';
    b[max - 1] = '\xc3'; /* "é" straddling the limit is left out whole */
    b[max] = '\xa9';
    ambd_metric_add(c, (const char *const[]){a, NULL}, 1);
    a[max + 3] = 'y'; /* differs only past the limit: the same series */
    ambd_metric_add(c, (const char *const[]){a, NULL}, 1);
    ambd_metric_add(c, (const char *const[]){b, NULL}, 1);
    char *text = ambd_metrics_render(m);
    assert_non_null(text);
    assert_int_equal(testutil_count(text, "\nlong_total{"), 2);
    a[max] = '\0';
    b[max - 1] = '\0';
    char *line_a = NULL, *line_b = NULL;
    assert_true(asprintf(&line_a, "\nlong_total{v=\"%s\"} 2\n", a) > 0);
    assert_true(asprintf(&line_b, "\nlong_total{v=\"%s\"} 1\n", b) > 0);
    assert_non_null(strstr(text, line_a));
    assert_non_null(strstr(text, line_b));
    free(line_a);
    free(line_b);
    free(text);
    free(a);
    free(b);
    ambd_metrics_free(m);
}

#define N_THREADS 4
#define N_PER_THREAD 100000

struct adder {
    pthread_t thread;
    struct ambd_metric *c;
    struct ambd_metric *h;
    const char *name;
};

static void *adder_main(void *arg)
{
    struct adder *a = arg;
    for (int i = 0; i < N_PER_THREAD; i++) {
        ambd_metric_add(a->c, (const char *const[]){"shared", NULL}, 1);
        ambd_metric_add(a->c, (const char *const[]){a->name, NULL}, 1);
        ambd_metric_observe(a->h, NULL, 0.5);
    }
    return NULL;
}

static void concurrent_adds_sum_correctly(void **state)
{
    (void)state;
    struct ambd_metrics *m = ambd_metrics_new();
    assert_non_null(m);
    struct ambd_metric *c =
        ambd_metrics_counter(m, "hits_total", NULL, (const char *const[]){"who", NULL});
    struct ambd_metric *h = ambd_metrics_histogram(m, "obs", NULL, NULL, (const double[]){1}, 1);
    assert_non_null(c);
    assert_non_null(h);
    struct adder adders[N_THREADS];
    static const char *const names[N_THREADS] = {"t0", "t1", "t2", "t3"};
    for (int i = 0; i < N_THREADS; i++) {
        adders[i] = (struct adder){.c = c, .h = h, .name = names[i]};
        assert_int_equal(pthread_create(&adders[i].thread, NULL, adder_main, &adders[i]), 0);
    }
    /* Rendering while others write must be safe too. */
    for (int i = 0; i < 20; i++)
        free(ambd_metrics_render(m));
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_join(adders[i].thread, NULL), 0);
    char *text = ambd_metrics_render(m);
    assert_non_null(text);
    assert_non_null(strstr(text, "\nhits_total{who=\"shared\"} 400000\n"));
    for (int i = 0; i < N_THREADS; i++) {
        char line[64];
        snprintf(line, sizeof line, "\nhits_total{who=\"%s\"} 100000\n", names[i]);
        assert_non_null(strstr(text, line));
    }
    assert_non_null(strstr(text, "\nobs_bucket{le=\"1\"} 400000\n"));
    assert_non_null(strstr(text, "\nobs_sum 200000\n"));
    assert_non_null(strstr(text, "\nobs_count 400000\n"));
    free(text);
    ambd_metrics_free(m);
}

static double sample_depth(void *ud)
{
    (void)ud;
    return 3;
}

/* Every feature once, for check_metrics_format.py. */
static int render_sample(void)
{
    struct ambd_metrics *m = ambd_metrics_new();
    if (!m)
        return 1;
    struct ambd_metric *c = ambd_metrics_counter(m, "ambient_reconcile_total", "Reconciles by kind and result.",
                                                 (const char *const[]){"kind", "result", NULL});
    struct ambd_metric *g = ambd_metrics_gauge(m, "ambient_leader", "1 when this replica leads.", NULL);
    struct ambd_metric *v = ambd_metrics_gauge(m, "ambient_sample_values", NULL, (const char *const[]){"case", NULL});
    struct ambd_metric *h = ambd_metrics_histogram(m, "ambient_reconcile_duration_seconds", "Reconcile time.",
                                                   (const char *const[]){"kind", NULL}, (const double[]){0.25, 0.5, 1}, 3);
    struct ambd_metric *e = ambd_metrics_counter(m, "ambient_escapes_total", "Back\\slash \"q\"\nnewline.",
                                                 (const char *const[]){"v", NULL});
    ambd_metrics_gauge_func(m, "ambient_workqueue_depth", "Keys waiting.", sample_depth, NULL);
    ambd_metrics_histogram(m, "ambient_default_buckets", NULL, NULL, NULL, 0);
    ambd_metric_add(c, (const char *const[]){"Widget", "ok", NULL}, 3);
    ambd_metric_add(c, (const char *const[]){"Widget", "error", NULL}, 1);
    ambd_metric_set(g, NULL, 1);
    ambd_metric_set(v, (const char *const[]){"third", NULL}, 1.0 / 3);
    ambd_metric_set(v, (const char *const[]){"big", NULL}, 1e20);
    ambd_metric_set(v, (const char *const[]){"tiny", NULL}, -2.5e-9);
    ambd_metric_set(v, (const char *const[]){"inf", NULL}, 1.0 / 0.0);
    ambd_metric_set(v, (const char *const[]){"nan", NULL}, 0.0 / 0.0);
    const double obs[] = {0.125, 0.25, 0.5, 3};
    for (size_t i = 0; i < 4; i++)
        ambd_metric_observe(h, (const char *const[]){"Widget", NULL}, obs[i]);
    ambd_metric_add(e, (const char *const[]){"a\"b\\c\nd", NULL}, 1);
    ambd_metric_add(e, (const char *const[]){"caf\xc3\xa9 {x=\"1\",y=2}", NULL}, 1);
    char *text = ambd_metrics_render(m);
    ambd_metrics_free(m);
    if (!text)
        return 1;
    fputs(text, stdout);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--render-sample") == 0)
        return render_sample();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_with_labels),
        cmocka_unit_test(gauges_and_value_formats),
        cmocka_unit_test(gauge_func_is_read_at_render_time),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(help_and_label_values_are_escaped),
        cmocka_unit_test(invalid_names_are_rejected),
        cmocka_unit_test(label_count_mismatch_is_ignored),
        cmocka_unit_test(series_are_capped_and_drops_counted),
        cmocka_unit_test(long_label_values_are_cut_at_a_utf8_boundary),
        cmocka_unit_test(concurrent_adds_sum_correctly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
