/* dag.c — the steps' dependsOn as a graph: finding a cycle, named step by
 * step ("a -> b -> a") so the user sees which edges to cut. Pure. */
#include <stdio.h>
#include <string.h>

#include "rfe.h"

int rfe_depends_on(const struct rfe_step *a, size_t b)
{
    for (size_t i = 0; i < a->n_deps; i++)
        if (a->deps[i] == b)
            return 1;
    return 0;
}

enum { WHITE, GREY, BLACK };

struct walk {
    const struct rfe_plan *plan;
    int color[RFE_MAX_STEPS];
    size_t path[RFE_MAX_STEPS + 1];
    size_t depth;
};

/* Depth-first from step i; returns the step where a cycle closes (the path
 * holds it), or -1. At most RFE_MAX_STEPS deep. */
static long visit(struct walk *w, size_t i)
{
    w->color[i] = GREY;
    w->path[w->depth++] = i;
    const struct rfe_step *s = &w->plan->steps[i];
    for (size_t d = 0; d < s->n_deps; d++) {
        size_t j = s->deps[d];
        if (w->color[j] == GREY) {
            w->path[w->depth++] = j;
            return (long)j;
        }
        if (w->color[j] == WHITE) {
            long c = visit(w, j);
            if (c >= 0)
                return c;
        }
    }
    w->color[i] = BLACK;
    w->depth--;
    return -1;
}

int rfe_find_cycle(const struct rfe_plan *plan, char *buf, size_t n)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    w.plan = plan;
    for (size_t i = 0; i < plan->n_steps; i++) {
        if (w.color[i] != WHITE)
            continue;
        long c = visit(&w, i);
        if (c < 0)
            continue;
        /* The path ends ... c ... c: name it from the first c. A dependency
         * edge points backwards in time, so print it the other way round:
         * "a -> b" reads "a runs before b". */
        size_t first = 0;
        while (w.path[first] != (size_t)c)
            first++;
        size_t used = 0;
        buf[0] = '\0';
        for (size_t k = w.depth; k-- > first && used < n;) {
            int m = snprintf(buf + used, n - used, "%s%s", k + 1 < w.depth ? " -> " : "",
                             plan->steps[w.path[k]].name);
            if (m < 0)
                break;
            used += (size_t)m;
        }
        return 1;
    }
    return 0;
}
