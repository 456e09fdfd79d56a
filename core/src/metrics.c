/* metrics.c — Prometheus metric families and their text rendering (see
 * metrics-internal.h).
 *
 * A family holds its series in a string map keyed by the label values
 * (length-prefixed, so no two value lists share a key) and in a list in
 * first-seen order for rendering. Each family has its own mutex, so updates
 * to different families never contend; the registry's mutex only guards the
 * list of families. */
#include "metrics-internal.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambient/plugin.h"
#include "buf-internal.h"
#include "log-internal.h"
#include "strmap-internal.h"


enum family_type {
    FAMILY_COUNTER,
    FAMILY_GAUGE,
    FAMILY_HISTOGRAM,
    FAMILY_GAUGE_FUNC,
};

struct series {
    struct series *next;  /* next in first-seen order */
    double value;      /* counter, gauge */
    double sum;        /* histogram */
    uint64_t count;    /* histogram */
    uint64_t *buckets; /* histogram: per bound, not cumulative; [n_bounds] is +Inf */
    size_t key_len;
    char key[]; /* the label values, each NUL-terminated, in label order */
};

struct ambd_metric {
    struct ambd_metrics *registry;
    enum family_type type;
    char *name;
    char *help; /* NULL: no HELP line */
    char **label_names;
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    double (*read)(void *ud);
    void *ud;

    pthread_mutex_t lock; /* the series below */
    struct ambd_strmap index; /* lookup key -> struct series * */
    size_t n_series;
    struct series *first;
    struct series *last;
    int warned_full;
};

struct ambd_metrics {
    pthread_mutex_t lock; /* families */
    struct ambd_metric **families;
    size_t n_families;
    size_t cap_families;
    atomic_uint_least64_t dropped;
};

static const double default_bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
static const char *const histogram_suffixes[] = {"", "_bucket", "_sum", "_count"};

/* ---- names ---- */

static int is_metric_name(const char *s)
{
    if (!s || !(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    for (s++; *s; s++) {
        if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return 0;
    }
    return 1;
}

static int is_label_name(const char *s)
{
    /* Names starting with __ are reserved for Prometheus itself. */
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) ||
        (s[0] == '_' && s[1] == '_'))
        return 0;
    for (s++; *s; s++) {
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return 0;
    }
    return 1;
}

/* a + sa == b + sb, without building either string. */
static int concat_equal(const char *a, const char *sa, const char *b, const char *sb)
{
    for (;;) {
        if (!*a && *sa) {
            a = sa;
            sa = "";
        }
        if (!*b && *sb) {
            b = sb;
            sb = "";
        }
        if (*a != *b)
            return 0;
        if (!*a)
            return 1;
        a++;
        b++;
    }
}

/* Whether two families would emit a sample name in common: a histogram
 * "x" also emits x_bucket, x_sum and x_count. */
static int names_clash(const char *a, int a_hist, const char *b, int b_hist)
{
    for (size_t i = 0; i < (a_hist ? 4u : 1u); i++) {
        for (size_t j = 0; j < (b_hist ? 4u : 1u); j++) {
            if (concat_equal(a, histogram_suffixes[i], b, histogram_suffixes[j]))
                return 1;
        }
    }
    return 0;
}

/* ---- families ---- */

static void series_free(struct series *s)
{
    if (!s)
        return;
    free(s->buckets);
    free(s);
}

static void family_free(struct ambd_metric *f)
{
    if (!f)
        return;
    struct series *next;
    for (struct series *s = f->first; s; s = next) {
        next = s->next;
        series_free(s);
    }
    ambd_strmap_clear(&f->index, NULL);
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->label_names[i]);
    free(f->label_names);
    free(f->bounds);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static struct series *series_find(struct ambd_metric *f, const char *const *values, int *full);

/* What a registration asks for. */
struct family_spec {
    enum family_type type;
    const char *name;
    const char *help;
    const char *const *label_names;
    const double *bounds;
    size_t n_bounds;
    double (*read)(void *ud);
    void *ud;
};

/* Checks and copies the spec; the reason for a refusal goes to *why. */
static struct ambd_metric *family_new(const struct family_spec *spec, const char **why)
{
    enum family_type type = spec->type;
    const char *name = spec->name;
    const char *help = spec->help;
    const char *const *label_names = spec->label_names;
    const double *bounds = spec->bounds;
    size_t n_bounds = spec->n_bounds;
    struct ambd_metric *f = NULL;
    size_t n_labels = 0;
    *why = NULL;
    if (!is_metric_name(name)) {
        *why = "invalid metric name";
        goto fail;
    }
    for (; label_names && label_names[n_labels]; n_labels++) {
        const char *l = label_names[n_labels];
        if (!is_label_name(l) || (type == FAMILY_HISTOGRAM && strcmp(l, "le") == 0)) {
            *why = "invalid label name";
            goto fail;
        }
        for (size_t j = 0; j < n_labels; j++) {
            if (strcmp(label_names[j], l) == 0) {
                *why = "duplicate label name";
                goto fail;
            }
        }
    }
    if (type == FAMILY_HISTOGRAM) {
        if (!bounds || n_bounds == 0) {
            bounds = default_bounds;
            n_bounds = sizeof default_bounds / sizeof default_bounds[0];
        }
        /* +Inf is always rendered, so a trailing one adds nothing. */
        if (isinf(bounds[n_bounds - 1]) && bounds[n_bounds - 1] > 0)
            n_bounds--;
        for (size_t i = 0; i < n_bounds; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                *why = "histogram buckets must be finite and strictly increasing";
                goto fail;
            }
        }
    }
    if (!(f = calloc(1, sizeof *f)))
        goto fail;
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f);
        f = NULL;
        goto fail;
    }
    f->type = type;
    f->read = spec->read;
    f->ud = spec->ud;
    ambd_strmap_init(&f->index);
    if (!(f->name = strdup(name)) || (help && *help && !(f->help = strdup(help))))
        goto fail;
    if (n_labels) {
        if (!(f->label_names = calloc(n_labels, sizeof *f->label_names)))
            goto fail;
        for (; f->n_labels < n_labels; f->n_labels++) {
            if (!(f->label_names[f->n_labels] = strdup(label_names[f->n_labels])))
                goto fail;
        }
    }
    if (type == FAMILY_HISTOGRAM && n_bounds) {
        if (!(f->bounds = malloc(n_bounds * sizeof *f->bounds)))
            goto fail;
        memcpy(f->bounds, bounds, n_bounds * sizeof *f->bounds);
        f->n_bounds = n_bounds;
    }
    /* Without labels there is one series; show it (at 0) from the start,
     * as Prometheus client libraries do. */
    if (n_labels == 0 && type != FAMILY_GAUGE_FUNC) {
        int full;
        if (!series_find(f, NULL, &full))
            goto fail;
    }
    return f;
fail:
    if (!*why)
        *why = "out of memory";
    family_free(f);
    return NULL;
}

static struct ambd_metric *registry_add(struct ambd_metrics *m, const struct family_spec *spec)
{
    const char *why = NULL;
    const char *name = spec->name;
    struct ambd_metric *f = family_new(spec, &why);
    if (!f)
        goto fail;
    f->registry = m;
    pthread_mutex_lock(&m->lock);
    int hist = spec->type == FAMILY_HISTOGRAM;
    int clash = names_clash(name, hist, AMBD_METRICS_DROPPED_NAME, 0);
    for (size_t i = 0; !clash && i < m->n_families; i++) {
        const struct ambd_metric *g = m->families[i];
        clash = names_clash(name, hist, g->name, g->type == FAMILY_HISTOGRAM);
    }
    if (clash) {
        why = "a family already uses this name";
    } else if (m->n_families == m->cap_families) {
        size_t cap = m->cap_families ? m->cap_families * 2 : 16;
        struct ambd_metric **grown = realloc(m->families, cap * sizeof *grown);
        if (grown) {
            m->families = grown;
            m->cap_families = cap;
        } else {
            why = "out of memory";
        }
    }
    if (!why)
        m->families[m->n_families++] = f;
    pthread_mutex_unlock(&m->lock);
    if (why)
        goto fail;
    return f;
fail:
    family_free(f);
    ambd_log("metrics", AMB_LOG_ERROR, "metric family refused", "name", name ? name : "(null)",
             "reason", why, NULL);
    return NULL;
}

struct ambd_metrics *ambd_metrics_new(void)
{
    struct ambd_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    atomic_init(&m->dropped, 0);
    return m;
}

void ambd_metrics_free(struct ambd_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_families; i++)
        family_free(m->families[i]);
    free(m->families);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

struct ambd_metric *ambd_metrics_counter(struct ambd_metrics *m, const char *name,
                                         const char *help, const char *const *label_names)
{
    struct family_spec spec = {.type = FAMILY_COUNTER, .name = name, .help = help,
                               .label_names = label_names};
    return registry_add(m, &spec);
}

struct ambd_metric *ambd_metrics_gauge(struct ambd_metrics *m, const char *name, const char *help,
                                       const char *const *label_names)
{
    struct family_spec spec = {.type = FAMILY_GAUGE, .name = name, .help = help,
                               .label_names = label_names};
    return registry_add(m, &spec);
}

struct ambd_metric *ambd_metrics_histogram(struct ambd_metrics *m, const char *name,
                                           const char *help, const char *const *label_names,
                                           const double *buckets, size_t n_buckets)
{
    struct family_spec spec = {.type = FAMILY_HISTOGRAM, .name = name, .help = help,
                               .label_names = label_names, .bounds = buckets,
                               .n_bounds = n_buckets};
    return registry_add(m, &spec);
}

struct ambd_metric *ambd_metrics_gauge_func(struct ambd_metrics *m, const char *name,
                                            const char *help, double (*read)(void *ud), void *ud)
{
    if (!read) {
        ambd_log("metrics", AMB_LOG_ERROR, "metric family refused", "name",
                 name ? name : "(null)", "reason", "no read function", NULL);
        return NULL;
    }
    struct family_spec spec = {.type = FAMILY_GAUGE_FUNC, .name = name, .help = help,
                               .read = read, .ud = ud};
    return registry_add(m, &spec);
}

/* ---- series ---- */

/* Bytes of v that are kept: at most AMBD_METRICS_MAX_LABEL_VALUE, not
 * splitting a UTF-8 sequence. */
static size_t value_len(const char *v)
{
    size_t n = strnlen(v, AMBD_METRICS_MAX_LABEL_VALUE + 1);
    if (n <= AMBD_METRICS_MAX_LABEL_VALUE)
        return n;
    n = AMBD_METRICS_MAX_LABEL_VALUE;
    while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* The map key of a list of values: "len:value" each, which no other list
 * of values produces. Written into out when it has room (cap bytes, the
 * common case: every metric update makes one), else into a new buffer;
 * NULL on OOM. */
static char *lookup_key(const char *const *values, size_t n_labels, char *out, size_t cap,
                        size_t *key_len)
{
    size_t need = 1;
    for (size_t i = 0; i < n_labels; i++)
        need += AMBD_DECIMAL_MAX + 1 + value_len(values[i]);
    char *key = need <= cap ? out : malloc(need);
    if (!key)
        return NULL;
    char *p = key;
    size_t len = 0;
    for (size_t i = 0; i < n_labels; i++) {
        size_t n = value_len(values[i]);
        p += ambd_decimal(p, n);
        *p++ = ':';
        memcpy(p, values[i], n);
        p += n;
        len += n + 1;
    }
    *p = '\0';
    *key_len = len;
    return key;
}

/* Under f->lock. A new series for values, found in the index under
 * lookup; NULL on OOM. */
static struct series *series_new(struct ambd_metric *f, const char *const *values,
                                 const char *lookup, size_t key_len)
{
    struct series *s = calloc(1, sizeof *s + key_len + 1);
    if (!s ||
        (f->type == FAMILY_HISTOGRAM && !(s->buckets = calloc(f->n_bounds + 1, sizeof *s->buckets))) ||
        ambd_strmap_put(&f->index, lookup, s, NULL) != AMB_OK) {
        series_free(s);
        return NULL;
    }
    s->key_len = key_len;
    char *k = s->key;
    for (size_t i = 0; i < f->n_labels; i++) {
        size_t n = value_len(values[i]);
        memcpy(k, values[i], n);
        k[n] = '\0';
        k += n + 1;
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->n_series++;
    return s;
}

/* Under f->lock. The series for values, created when new; NULL when the
 * family is full (*full is then set) or on OOM. */
static struct series *series_find(struct ambd_metric *f, const char *const *values, int *full)
{
    size_t key_len;
    char small[256];
    char *lookup = lookup_key(values, f->n_labels, small, sizeof small, &key_len);
    *full = 0;
    if (!lookup)
        return NULL;
    struct series *s = ambd_strmap_get(&f->index, lookup);
    if (!s && f->n_series >= AMBD_METRICS_MAX_SERIES)
        *full = 1;
    else if (!s)
        s = series_new(f, values, lookup, key_len);
    if (lookup != small)
        free(lookup);
    return s;
}

static int values_fit(const struct ambd_metric *f, const char *const *values)
{
    if (!values)
        return f->n_labels == 0;
    for (size_t i = 0; i < f->n_labels; i++) {
        if (!values[i])
            return 0;
    }
    return values[f->n_labels] == NULL;
}

enum update_op { OP_ADD, OP_SET, OP_OBSERVE };

static void update(struct ambd_metric *f, const char *const *values, enum update_op op, double v)
{
    if (!f || !values_fit(f, values))
        return;
    switch (op) {
    case OP_ADD:
        /* NaN would stick to the series for good. */
        if (!isnan(v) && (f->type == FAMILY_GAUGE || (f->type == FAMILY_COUNTER && v >= 0)))
            break;
        return;
    case OP_SET:
        if (f->type == FAMILY_GAUGE)
            break;
        return;
    case OP_OBSERVE:
        if (!isnan(v) && f->type == FAMILY_HISTOGRAM)
            break;
        return;
    }
    int warn = 0;
    int full;
    pthread_mutex_lock(&f->lock);
    struct series *s = series_find(f, values, &full);
    if (s && op == OP_ADD) {
        s->value += v;
    } else if (s && op == OP_SET) {
        s->value = v;
    } else if (s) {
        size_t i = 0;
        while (i < f->n_bounds && v > f->bounds[i])
            i++;
        s->buckets[i]++;
        s->sum += v;
        s->count++;
    } else if (full) {
        atomic_fetch_add(&f->registry->dropped, 1);
        warn = !f->warned_full;
        f->warned_full = 1;
    }
    pthread_mutex_unlock(&f->lock);
    if (warn)
        ambd_log("metrics", AMB_LOG_WARN, "series limit reached; updates of new series are dropped",
                 "name", f->name, NULL);
}

void ambd_metric_add(struct ambd_metric *c, const char *const *label_values, double v)
{
    update(c, label_values, OP_ADD, v);
}

void ambd_metric_set(struct ambd_metric *g, const char *const *label_values, double v)
{
    update(g, label_values, OP_SET, v);
}

void ambd_metric_observe(struct ambd_metric *h, const char *const *label_values, double v)
{
    update(h, label_values, OP_OBSERVE, v);
}

/* ---- rendering ---- */

/* Integers as integers ("3"), other values in the fewest digits that read
 * back exactly. */
static void format_value(char out[40], double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
    } else if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
    } else if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
        snprintf(out, 40, "%" PRId64, (int64_t)v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, 40, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

static void put_value(struct ambd_buf *b, double v)
{
    char text[40];
    format_value(text, v);
    ambd_buf_puts(b, text);
}

static void put_escaped(struct ambd_buf *b, const char *s, int quote)
{
    const char *run = s;
    for (const char *p = s; *p; p++) {
        if (*p != '\\' && *p != '\n' && !(quote && *p == '"'))
            continue;
        ambd_buf_append(b, run, (size_t)(p - run));
        ambd_buf_puts(b, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\");
        run = p + 1;
    }
    ambd_buf_puts(b, run);
}

/* name{labels[,le="..."]} value */
static void put_sample(struct ambd_buf *b, const struct ambd_metric *f, const char *suffix,
                       const struct series *s, const char *le, double v)
{
    ambd_buf_puts(b, f->name);
    ambd_buf_puts(b, suffix);
    if (f->n_labels || le) {
        ambd_buf_putc(b, '{');
        const char *k = s ? s->key : "";
        for (size_t i = 0; i < f->n_labels; i++) {
            ambd_buf_printf(b, "%s%s=\"", i ? "," : "", f->label_names[i]);
            put_escaped(b, k, 1);
            ambd_buf_putc(b, '"');
            k += strlen(k) + 1;
        }
        if (le)
            ambd_buf_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
        ambd_buf_putc(b, '}');
    }
    ambd_buf_putc(b, ' ');
    put_value(b, v);
    ambd_buf_putc(b, '\n');
}

static void put_header(struct ambd_buf *b, const char *name, const char *help, const char *type)
{
    if (help) {
        ambd_buf_printf(b, "# HELP %s ", name);
        put_escaped(b, help, 0);
        ambd_buf_putc(b, '\n');
    }
    ambd_buf_printf(b, "# TYPE %s %s\n", name, type);
}

static void put_family(struct ambd_buf *b, struct ambd_metric *f, double func_value)
{
    static const char *const type_names[] = {
        [FAMILY_COUNTER] = "counter",
        [FAMILY_GAUGE] = "gauge",
        [FAMILY_HISTOGRAM] = "histogram",
        [FAMILY_GAUGE_FUNC] = "gauge",
    };
    put_header(b, f->name, f->help, type_names[f->type]);
    if (f->type == FAMILY_GAUGE_FUNC) {
        put_sample(b, f, "", NULL, NULL, func_value);
        return;
    }
    pthread_mutex_lock(&f->lock);
    for (const struct series *s = f->first; s; s = s->next) {
        if (f->type != FAMILY_HISTOGRAM) {
            put_sample(b, f, "", s, NULL, s->value);
            continue;
        }
        uint64_t cumulative = 0;
        char le[40];
        for (size_t i = 0; i < f->n_bounds; i++) {
            cumulative += s->buckets[i];
            format_value(le, f->bounds[i]);
            put_sample(b, f, "_bucket", s, le, (double)cumulative);
        }
        put_sample(b, f, "_bucket", s, "+Inf", (double)s->count);
        put_sample(b, f, "_sum", s, NULL, s->sum);
        put_sample(b, f, "_count", s, NULL, (double)s->count);
    }
    pthread_mutex_unlock(&f->lock);
}

char *ambd_metrics_render(struct ambd_metrics *m)
{
    struct ambd_buf b = {0};
    char *text = NULL;
    /* Copy the family list so read callbacks and formatting run without the
     * registry lock; families are never removed before free. */
    pthread_mutex_lock(&m->lock);
    size_t n = m->n_families;
    struct ambd_metric **families = malloc((n ? n : 1) * sizeof *families);
    if (families && n)
        memcpy(families, m->families, n * sizeof *families);
    pthread_mutex_unlock(&m->lock);
    if (!families)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct ambd_metric *f = families[i];
        put_family(&b, families[i], f->type == FAMILY_GAUGE_FUNC ? f->read(f->ud) : 0);
    }
    put_header(&b, AMBD_METRICS_DROPPED_NAME,
               "Metric updates dropped because their family had reached its series limit.",
               "counter");
    ambd_buf_puts(&b, AMBD_METRICS_DROPPED_NAME " ");
    put_value(&b, (double)atomic_load(&m->dropped));
    ambd_buf_putc(&b, '\n');
    text = ambd_buf_take(&b);
out:
    ambd_buf_release(&b);
    free(families);
    return text;
}
