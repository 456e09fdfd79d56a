/* problems.c — collecting validation problems, one per bad field, and
 * naming fields a CRD does not declare (see as_problems.h). Pure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "as_problems.h"

void as_problem_add(struct as_problems *p, const char *field, const char *fmt, ...)
{
    if (p->n >= sizeof p->field / sizeof p->field[0]) {
        p->dropped++;
        return;
    }
    snprintf(p->field[p->n], sizeof p->field[p->n], "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message[p->n], sizeof p->message[p->n], fmt, ap);
    va_end(ap);
    p->n++;
}

void as_problems_join(const struct as_problems *p, char *buf, size_t n)
{
    size_t used = 0;
    if (n)
        buf[0] = '\0';
    for (size_t i = 0; i < p->n && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s: %s", i ? "; " : "", p->field[i],
                         p->message[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (p->dropped && used < n)
        snprintf(buf + used, n - used, "; and %zu more", p->dropped);
}

static int listed(const char *const *names, const char *key)
{
    for (; *names; names++)
        if (strcmp(*names, key) == 0)
            return 1;
    return 0;
}

void as_unknown_in(const json_t *obj, const char *const *names, const char *base,
                   struct as_problems *p)
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return;
    json_object_foreach((json_t *)obj, key, v) {
        if (listed(names, key))
            continue;
        char f[96];
        snprintf(f, sizeof f, "%s%s%.48s%s", base, *base ? "." : "", key,
                 strlen(key) > 48 ? "..." : "");
        as_problem_add(p, f, "unknown field");
    }
}
