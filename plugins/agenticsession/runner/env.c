/* env.c — building a child's environment from nothing: the agent and git
 * get exactly the variables the runner chooses, never its own secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

void runner_env_set(struct runner_env *e, const char *name, const char *value)
{
    if (e->failed || !value)
        return;
    if (e->n + 2 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        char **v = realloc(e->v, cap * sizeof *v);
        if (!v) {
            e->failed = 1;
            return;
        }
        e->v = v;
        e->cap = cap;
    }
    size_t len = strlen(name) + strlen(value) + 2;
    char *kv = malloc(len);
    if (!kv) {
        e->failed = 1;
        return;
    }
    snprintf(kv, len, "%s=%s", name, value);
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

void runner_env_pass(struct runner_env *e, const char *name)
{
    runner_env_set(e, name, getenv(name));
}

void runner_env_clear(struct runner_env *e)
{
    for (size_t i = 0; i < e->n; i++) {
        explicit_bzero(e->v[i], strlen(e->v[i]));
        free(e->v[i]);
    }
    free(e->v);
    memset(e, 0, sizeof *e);
}
