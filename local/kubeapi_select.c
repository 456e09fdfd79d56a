/* kubeapi_select.c — label selectors (=, ==, !=, in, notin, exists, !,
 * >, <) and field selectors (=, ==, != on metadata.name,
 * metadata.namespace and other dotted paths to strings) of list, watch
 * and deletecollection. */
#include <stdlib.h>
#include <string.h>

#include "kubeapi.h"

#define MAX_REQUIREMENTS 64
#define MAX_VALUES 64

enum op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_ABSENT, OP_GT, OP_LT };

struct requirement {
    int field; /* a field selector's, else a label's */
    char *key;
    enum op op;
    char *values[MAX_VALUES];
    size_t nvalues;
};

struct kselector {
    struct requirement req[MAX_REQUIREMENTS];
    size_t n;
};

void kapi_selector_free(struct kselector *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->req[i].key);
        for (size_t j = 0; j < s->req[i].nvalues; j++)
            free(s->req[i].values[j]);
    }
    free(s);
}

static const char *skip_space(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* A key or value: up to a space, comma, operator or parenthesis. */
static char *token(const char **pp)
{
    const char *p = skip_space(*pp), *start = p;
    while (*p && !strchr(" ,=!<>()", *p))
        p++;
    *pp = p;
    return p > start ? strndup(start, (size_t)(p - start)) : NULL;
}

static int add_value(struct requirement *r, char *v)
{
    if (!v || r->nvalues == MAX_VALUES) {
        free(v);
        return -1;
    }
    r->values[r->nvalues++] = v;
    return 0;
}

/* One requirement at *pp; 0 or -1. */
static int parse_one(const char **pp, struct requirement *r, int field)
{
    const char *p = skip_space(*pp);
    r->field = field;
    if (*p == '!' && !field) {
        p++;
        r->op = OP_ABSENT;
        r->key = token(&p);
        *pp = p;
        return r->key ? 0 : -1;
    }
    r->key = token(&p);
    if (!r->key)
        return -1;
    p = skip_space(p);
    if (*p == '\0' || *p == ',') {
        r->op = OP_EXISTS;
        *pp = p;
        return field ? -1 : 0;
    }
    if (!strncmp(p, "==", 2) || !strncmp(p, "!=", 2) || *p == '=' || *p == '>' || *p == '<') {
        r->op = *p == '!' ? OP_NE : *p == '>' ? OP_GT : *p == '<' ? OP_LT : OP_EQ;
        p += (!strncmp(p, "==", 2) || !strncmp(p, "!=", 2)) ? 2 : 1;
        const char *v = skip_space(p);
        char *val = token(&v);
        *pp = v;
        return add_value(r, val ? val : strdup(""));
    }
    if (field)
        return -1;
    int notin = !strncmp(p, "notin", 5) && (p[5] == ' ' || p[5] == '(');
    if (!notin && !(!strncmp(p, "in", 2) && (p[2] == ' ' || p[2] == '(')))
        return -1;
    r->op = notin ? OP_NOTIN : OP_IN;
    p = skip_space(p + (notin ? 5 : 2));
    if (*p++ != '(')
        return -1;
    for (;;) {
        if (add_value(r, token(&p)) != 0)
            return -1;
        p = skip_space(p);
        if (*p == ')')
            break;
        if (*p++ != ',')
            return -1;
    }
    *pp = p + 1;
    return 0;
}

static int parse_into(struct kselector *s, const char *text, int field)
{
    const char *p = text;
    while (*skip_space(p)) {
        if (s->n == MAX_REQUIREMENTS)
            return -1;
        struct requirement *r = &s->req[s->n++];
        if (parse_one(&p, r, field) != 0)
            return -1;
        p = skip_space(p);
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return 0;
}

struct kselector *kapi_selector_parse(const char *labels, const char *fields,
                                      const char **problem)
{
    struct kselector *s = calloc(1, sizeof *s);
    if (!s) {
        *problem = "out of memory";
        return NULL;
    }
    if (labels && parse_into(s, labels, 0) != 0) {
        *problem = "unable to parse requirement: labelSelector is not a valid label selector";
        kapi_selector_free(s);
        return NULL;
    }
    if (fields && parse_into(s, fields, 1) != 0) {
        *problem = "invalid field selector: fieldSelector is not a valid field selector";
        kapi_selector_free(s);
        return NULL;
    }
    return s;
}

/* A field's value: a dotted path to a string (or a number or boolean). */
static const char *field_value(const json_t *obj, const char *path, char *buf, size_t n)
{
    const json_t *cur = obj;
    char part[128];
    for (const char *p = path; cur;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= sizeof part)
            return NULL;
        memcpy(part, p, len);
        part[len] = '\0';
        cur = json_object_get(cur, part);
        if (!dot)
            break;
        p = dot + 1;
    }
    if (json_is_string(cur))
        return json_string_value(cur);
    if (json_is_integer(cur)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(cur));
        return buf;
    }
    if (json_is_boolean(cur))
        return json_is_true(cur) ? "true" : "false";
    return NULL;
}

static int matches(const struct requirement *r, const json_t *obj)
{
    char buf[32];
    const char *v =
        r->field ? field_value(obj, r->key, buf, sizeof buf)
                 : json_string_value(json_object_get(
                       json_object_get(json_object_get(obj, "metadata"), "labels"), r->key));
    if (r->field && !v)
        v = "";
    int in = 0;
    for (size_t i = 0; v && i < r->nvalues; i++)
        in |= !strcmp(v, r->values[i]);
    switch (r->op) {
    case OP_EQ:
    case OP_IN:
        return in;
    case OP_NE:
    case OP_NOTIN:
        return !in;
    case OP_EXISTS:
        return v != NULL;
    case OP_ABSENT:
        return v == NULL;
    case OP_GT:
    case OP_LT: {
        char *end = NULL;
        long long a = v ? strtoll(v, &end, 10) : 0;
        if (!v || !end || *end || !r->nvalues)
            return 0;
        long long b = strtoll(r->values[0], NULL, 10);
        return r->op == OP_GT ? a > b : a < b;
    }
    }
    return 0;
}

int kapi_selector_match(const struct kselector *s, const json_t *obj)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (!matches(&s->req[i], obj))
            return 0;
    return 1;
}

int kapi_selector_empty(const struct kselector *s)
{
    return !s || s->n == 0;
}
