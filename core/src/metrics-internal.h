/* metrics-internal.h — a registry of counters, gauges and histograms, rendered
 * in the Prometheus text exposition format 0.0.4 for GET /metrics.
 *
 * Families are owned by the registry and live until ambd_metrics_free; the
 * struct ambd_metric pointers handed out stay valid until then. Every
 * function except new and free may be called from any thread. Names, help
 * and label strings are borrowed for the call and copied when kept.
 *
 * Label values may come from untrusted input (object names), so each family
 * keeps at most AMBD_METRICS_MAX_SERIES series — updates for further ones
 * are dropped and counted in ambient_metrics_dropped_series_total, which the
 * registry renders itself — and values are cut to AMBD_METRICS_MAX_LABEL_VALUE
 * bytes (at a UTF-8 boundary). */
#ifndef AMBD_METRICS_INTERNAL_H
#define AMBD_METRICS_INTERNAL_H

#include <stddef.h>

#define AMBD_METRICS_MAX_SERIES 10000
#define AMBD_METRICS_MAX_LABEL_VALUE 1024
#define AMBD_METRICS_DROPPED_NAME "ambient_metrics_dropped_series_total"

struct ambd_metrics;
struct ambd_metric;

/* NULL on OOM. */
struct ambd_metrics *ambd_metrics_new(void);
/* Once no thread uses the registry or its families any more. NULL is a
 * no-op. */
void ambd_metrics_free(struct ambd_metrics *m);

/* Families are registered once (any thread); label_names NULL-terminated
 * (may be NULL for none). Returns NULL on bad name/labels or duplicate (the
 * reason is logged) or on OOM. A name clashes also with the _bucket, _sum
 * and _count samples of a histogram. A family without labels renders its
 * one series (0) from the start. */
struct ambd_metric *ambd_metrics_counter(struct ambd_metrics *m, const char *name, const char *help, const char *const *label_names);
struct ambd_metric *ambd_metrics_gauge(struct ambd_metrics *m, const char *name, const char *help, const char *const *label_names);
/* buckets: finite, strictly increasing upper bounds; a trailing +Inf is
 * allowed and implied anyway. NULL or 0 buckets: Prometheus' defaults
 * (.005 .01 .025 .05 .1 .25 .5 1 2.5 5 10). "le" is not a valid label. */
struct ambd_metric *ambd_metrics_histogram(struct ambd_metrics *m, const char *name, const char *help, const char *const *label_names, const double *buckets, size_t n_buckets);

/* label_values must match the family's label count: NULL-terminated like
 * label_names, NULL (or {NULL}) for none. Ignored: a count mismatch, the
 * wrong metric type, a NULL metric (so a failed registration is harmless), a
 * negative counter increment, adding or observing NaN. Any thread. */
void ambd_metric_add(struct ambd_metric *c, const char *const *label_values, double v);   /* counter (v >= 0) or gauge */
void ambd_metric_set(struct ambd_metric *g, const char *const *label_values, double v);   /* gauge */
void ambd_metric_observe(struct ambd_metric *h, const char *const *label_values, double v); /* histogram */

/* A gauge whose value is read at render time (e.g. queue depth). read is
 * called from the rendering thread with no metrics lock held, so it may take
 * its own locks; ud is borrowed and must outlive the registry. */
struct ambd_metric *ambd_metrics_gauge_func(struct ambd_metrics *m, const char *name, const char *help, double (*read)(void *ud), void *ud);

/* The whole exposition: families in registration order, series in
 * first-seen order, then ambient_metrics_dropped_series_total. Caller
 * frees; NULL on OOM. Any thread. */
char *ambd_metrics_render(struct ambd_metrics *m);

#endif
