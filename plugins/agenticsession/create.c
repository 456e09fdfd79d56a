/* create.c — the three shapes of POST
 * /api/projects/:project/agentic-sessions (the kind's create_shape, ABI
 * 1.5: the api's generic create asks it first), told apart by their keys:
 *
 *   a whole object  any of apiVersion, kind, metadata, spec: the generic
 *                   create takes it as it is;
 *   the original    the original platform's create request: any key of its
 *                   own (initialPrompt, llmSettings, runnerType, ...) or a
 *                   repos entry with url, branch or autoPush;
 *   the bare spec   otherwise: the seed's spec with its own names (prompt,
 *                   model, mainRepoIndex, options, repos[{input, output}]),
 *                   and so also a body with only the keys both short shapes
 *                   share (displayName, timeout, interactive, labels,
 *                   annotations), or none.
 *
 * A body with keys of two shapes is a 422 naming them. The short shapes get
 * a generated name (session-<16 hex>), their labels and annotations go to
 * metadata, and their 422s name fields as the caller did. The original's
 * keys that Ambient cannot honour, and keys it does not have, are refused
 * here by name; the bare spec's unknown fields by the kind's validate. The
 * original is answered {message, name, uid, autoBranch}, the bare spec with
 * the stored object. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "as.h"

#define MAX_NAMED 32 /* keys one answer names */

enum shape_bit { OBJECT = 1u, ORIGINAL = 2u, SPEC = 4u, SHORT = 8u /* either short shape */ };

/* The top-level keys that tell a shape, but for the original's own (those
 * in original_keys that are not here) and repos (by its entries). */
static const struct {
    const char *key;
    unsigned shape;
} markers[] = {
    {"apiVersion", OBJECT},   {"kind", OBJECT},        {"metadata", OBJECT},
    {"spec", OBJECT},         {"prompt", SPEC},        {"model", SPEC},
    {"mainRepoIndex", SPEC},  {"options", SPEC},       {"displayName", SHORT},
    {"timeout", SHORT},       {"interactive", SHORT},  {"labels", SHORT},
    {"annotations", SHORT},
};

/* The original's create request key by key: why Ambient cannot honour it,
 * or NULL when it does. */
struct original_key {
    const char *key;
    const char *unsupported;
};

static const struct original_key original_keys[] = {
    {"initialPrompt", NULL},
    {"displayName", NULL},
    {"timeout", NULL},
    {"interactive", NULL},
    {"llmSettings", NULL},
    {"repos", NULL},
    {"labels", NULL},
    {"annotations", NULL},
    {"runnerType", "not supported: Ambient has one runner"},
    {"inactivityTimeout", "not supported: a session ends at its timeout or when stopped"},
    {"stopOnRunFinished",
     "not supported: a session that is not interactive ends when its run finishes"},
    {"parent_session_id", "not supported: sessions have no parent (clone copies one)"},
    {"activeWorkflow", "not supported: sessions run no workflow"},
    {"userContext", "not supported: the caller is the user of the token"},
    {"environmentVariables",
     "not supported: the runner's environment comes from the project's runner secrets"},
    {"mcpServers", "not supported"},
    {"sdkOptions", "not supported"},
    {NULL, NULL},
};
static const struct original_key original_llm[] = {
    {"model", NULL},
    {"temperature", "not supported: the agent CLI sets its own"},
    {"maxTokens", "not supported: the agent CLI sets its own"},
    {NULL, NULL},
};
static const struct original_key original_repo[] = {
    {"url", NULL}, {"branch", NULL}, {"autoPush", NULL}, {NULL, NULL}};

static const struct original_key *original_key(const struct original_key *keys, const char *key)
{
    for (; keys->key; keys++)
        if (strcmp(keys->key, key) == 0)
            return keys;
    return NULL;
}

/* ---- which shape ---- */

struct marks {
    unsigned shapes;
    size_t n;
    struct {
        unsigned shape;
        char field[64];
    } at[MAX_NAMED];
};

static void mark(struct marks *m, unsigned shape, const char *field)
{
    m->shapes |= shape;
    if (m->n == MAX_NAMED)
        return;
    m->at[m->n].shape = shape;
    snprintf(m->at[m->n].field, sizeof m->at[m->n].field, "%s", field);
    m->n++;
}

static unsigned marker(const char *key)
{
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
        if (strcmp(markers[i].key, key) == 0)
            return markers[i].shape;
    return original_key(original_keys, key) ? ORIGINAL : 0;
}

/* repos is a key of both short shapes; its entries tell which. */
static void mark_repos(const json_t *repos, struct marks *m)
{
    size_t i;
    const json_t *repo;
    mark(m, SHORT, "repos");
    json_array_foreach(repos, i, repo) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)repo, key, v) {
            unsigned shape = original_key(original_repo, key)                           ? ORIGINAL
                             : strcmp(key, "input") == 0 || strcmp(key, "output") == 0 ? SPEC
                                                                                        : 0;
            char field[64];
            snprintf(field, sizeof field, "repos[%zu].%s", i, key);
            if (shape)
                mark(m, shape, field);
        }
    }
}

static void classify(const json_t *body, struct marks *m)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        if (strcmp(key, "repos") == 0)
            mark_repos(v, m);
        else if (marker(key))
            mark(m, marker(key), key);
    }
}

static const char *shape_name(unsigned shape)
{
    switch (shape) {
    case OBJECT: return "a key of a whole object";
    case ORIGINAL: return "a key of the original platform's create request";
    case SPEC: return "a field of the bare spec";
    default: return "a key of the short shapes";
    }
}

/* "k1, k2" of the marks in shapes, into buf. */
static void list_marks(const struct marks *m, unsigned shapes, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < m->n && used < len; i++) {
        if (!(m->at[i].shape & shapes))
            continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", m->at[i].field);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* A 422 naming the keys of two shapes in one body; 0 when there are not. */
static int reply_mixed(struct amb_request *r, const struct marks *m)
{
    unsigned a, b;
    const char *fmt;
    if ((m->shapes & OBJECT) && (m->shapes & (ORIGINAL | SPEC | SHORT))) {
        a = OBJECT;
        b = ORIGINAL | SPEC | SHORT;
        fmt = "the body mixes a whole object (%s) and a short shape (%s): put the session's "
              "fields in spec, or leave out apiVersion, kind, metadata and spec";
    } else if ((m->shapes & ORIGINAL) && (m->shapes & SPEC)) {
        a = ORIGINAL;
        b = SPEC;
        fmt = "the body mixes the original platform's create request (%s) and the bare spec "
              "(%s): use one shape";
    } else {
        return 0;
    }
    char first[256], second[256], msg[640];
    list_marks(m, a, first, sizeof first);
    list_marks(m, b, second, sizeof second);
    snprintf(msg, sizeof msg, fmt, first, second);
    json_t *details = json_array();
    for (size_t i = 0; details && i < m->n; i++)
        if (m->at[i].shape & (a | b))
            json_array_append_new(details, json_pack("{s:s,s:s}", "field", m->at[i].field,
                                                     "message", shape_name(m->at[i].shape)));
    as_request_ops()->respond_message(r, 422, msg, details);
    return 1;
}

/* ---- the original's keys ---- */

/* A value that asks for nothing: null, false, "", {} or []. */
static int asks_nothing(const json_t *v)
{
    return json_is_null(v) || json_is_false(v) ||
           (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

struct problems {
    json_t *details; /* [{"field", "message"}] */
    size_t more;     /* beyond MAX_NAMED */
};

/* Each key of obj that keys lacks, or names as one Ambient cannot honour
 * (unless its value asks for nothing), as "<base>.<key>". */
static void check_keys(const json_t *obj, const struct original_key *keys, const char *base,
                       struct problems *p)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const struct original_key *k = original_key(keys, key);
        const char *why = !k ? "unknown field" : asks_nothing(v) ? NULL : k->unsupported;
        if (!why)
            continue;
        if (json_array_size(p->details) == MAX_NAMED) {
            p->more++;
            continue;
        }
        char field[160];
        snprintf(field, sizeof field, "%s%s%.64s%s", base, *base ? "." : "", key,
                 strlen(key) > 64 ? "..." : "");
        json_array_append_new(p->details, json_pack("{s:s,s:s}", "field", field, "message", why));
    }
}

/* 422 naming every key of the original's shape that is unknown or cannot
 * be honoured, at any depth; 0 when there is none. */
static int refuse_original_keys(struct amb_request *r, const json_t *body)
{
    struct problems p = {json_array(), 0};
    check_keys(body, original_keys, "", &p);
    const json_t *llm = json_object_get(body, "llmSettings");
    if (json_is_object(llm))
        check_keys(llm, original_llm, "llmSettings", &p);
    size_t i;
    const json_t *repo;
    json_array_foreach(json_object_get(body, "repos"), i, repo) {
        char base[32];
        snprintf(base, sizeof base, "repos[%zu]", i);
        if (json_is_object(repo))
            check_keys(repo, original_repo, base, &p);
    }
    if (p.more) {
        char more[64];
        snprintf(more, sizeof more, "and %zu more keys not understood", p.more);
        json_array_append_new(p.details, json_pack("{s:s}", "message", more));
    }
    if (json_array_size(p.details) == 0) {
        json_decref(p.details);
        return 0;
    }
    as_request_ops()->respond_fields(r, 422, NULL, p.details);
    return 1;
}

/* ---- the original's translation ---- */

/* repos[{url, branch?, autoPush?}] → [{input{url, branch?}, output{pushTo}}].
 * Wrong types of url and branch are left to validation, which names them. */
static int translate_repos(struct amb_request *r, const json_t *repos, json_t *spec)
{
    if (!json_is_array(repos)) {
        as_reply_field(r, 400, "repos", "must be an array of {url, branch, autoPush}");
        return -1;
    }
    json_t *out = json_array();
    json_object_set_new(spec, "repos", out);
    size_t i;
    const json_t *repo;
    json_array_foreach(repos, i, repo) {
        char field[48];
        snprintf(field, sizeof field, "repos[%zu]", i);
        if (!json_is_object(repo)) {
            as_reply_field(r, 400, field, "must be an object {url, branch, autoPush}");
            return -1;
        }
        const json_t *auto_push = json_object_get(repo, "autoPush");
        if (auto_push && !json_is_boolean(auto_push) && !json_is_null(auto_push)) {
            snprintf(field, sizeof field, "repos[%zu].autoPush", i);
            as_reply_field(r, 400, field, "must be a boolean");
            return -1;
        }
        json_t *input = json_object();
        json_t *url = json_object_get(repo, "url"), *branch = json_object_get(repo, "branch");
        if (url)
            json_object_set_new(input, "url", json_deep_copy(url));
        if (branch && !json_is_null(branch) &&
            !(json_is_string(branch) && json_string_length(branch) == 0))
            json_object_set_new(input, "branch", json_deep_copy(branch));
        json_array_append_new(out, json_pack("{s:o, s:{s:s}}", "input", input, "output",
                                             "pushTo", json_is_true(auto_push) ? "same" : "none"));
    }
    return 0;
}

static int translate_spec(struct amb_request *r, const json_t *body, json_t *spec)
{
    static const char *const same[][2] = {{"initialPrompt", "prompt"},
                                          {"displayName", "displayName"},
                                          {"timeout", "timeout"},
                                          {"interactive", "interactive"}};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        json_t *v = json_object_get(body, same[i][0]);
        if (v && !json_is_null(v))
            json_object_set_new(spec, same[i][1], json_deep_copy(v));
    }
    const json_t *llm = json_object_get(body, "llmSettings");
    if (llm && !json_is_null(llm) && !json_is_object(llm)) {
        as_reply_field(r, 400, "llmSettings", "must be an object {model}");
        return -1;
    }
    json_t *model = json_object_get(llm, "model");
    if (model && !json_is_null(model) && !(json_is_string(model) && json_string_length(model) == 0))
        json_object_set_new(spec, "model", json_deep_copy(model));
    const json_t *repos = json_object_get(body, "repos");
    return repos && !json_is_null(repos) ? translate_repos(r, repos, spec) : 0;
}

/* ---- both short shapes ---- */

/* labels and annotations, maps of strings, into meta. */
static int translate_meta(struct amb_request *r, const json_t *body, json_t *meta)
{
    static const char *const keys[] = {"labels", "annotations"};
    for (int i = 0; i < 2; i++) {
        const json_t *m = json_object_get(body, keys[i]);
        const char *k;
        const json_t *v;
        if (!m || json_is_null(m))
            continue;
        if (!json_is_object(m)) {
            as_reply_field(r, 400, keys[i], "must be an object of strings");
            return -1;
        }
        json_object_foreach((json_t *)m, k, v) {
            if (json_is_string(v))
                continue;
            char field[128];
            snprintf(field, sizeof field, "%s.%.64s", keys[i], k);
            as_reply_field(r, 400, field, "must be a string");
            return -1;
        }
        json_object_set_new(meta, keys[i], json_deep_copy(m));
    }
    return 0;
}

/* "session-" and 16 random hex digits (the original used a UUID; ours must
 * stay within the 56 characters a session name may have). */
static int random_name(char *buf, size_t len)
{
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    snprintf(buf, len, "session-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
             b[5], b[6], b[7]);
    return 0;
}

/* {metadata{name, labels, annotations}, spec} (spec stolen) into *obj:
 * 1, or -1 after replying. */
static int short_object(struct amb_request *r, const json_t *body, json_t *spec, json_t **obj)
{
    char name[32];
    json_t *meta = json_object();
    json_t *o = json_pack("{s:o, s:o}", "metadata", meta, "spec", spec);
    if (!o || random_name(name, sizeof name)) {
        json_decref(o);
        as_request_ops()->respond_message(r, 500, "cannot make a session name", NULL);
        return -1;
    }
    json_object_set_new(meta, "name", json_string(name));
    if (translate_meta(r, body, meta)) {
        json_decref(o);
        return -1;
    }
    *obj = o;
    return 1;
}

/* ---- the answers, in the caller's words ---- */

static int field_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '[' || c == ']';
}

/* text into out with each field "spec[.…]" in it renamed. */
static void rewrite(const char *text, char *out, size_t len,
                    void (*rename)(const char *field, char *out, size_t len))
{
    size_t o = 0;
    const char *p = text;
    while (*p && o + 1 < len) {
        if ((p > text && field_char(p[-1])) || strncmp(p, "spec", 4) != 0 ||
            (field_char(p[4]) && p[4] != '.')) {
            out[o++] = *p++;
            continue;
        }
        size_t n = 0;
        while (field_char(p[n]))
            n++;
        while (n > 4 && p[n - 1] == '.')
            n--; /* the end of a sentence */
        char field[256], renamed[256];
        snprintf(field, sizeof field, "%.*s", (int)n, p);
        rename(field, renamed, sizeof renamed);
        int w = snprintf(out + o, len - o, "%s", renamed);
        o += w > 0 ? (size_t)w : 0;
        p += n;
    }
    out[o < len ? o : len - 1] = '\0';
}

/* The bare spec's names: "spec.X" is "X". */
static void spec_field(const char *field, char *out, size_t len)
{
    snprintf(out, len, "%s", strcmp(field, "spec") == 0 ? "body" : field + 5);
}

/* The original's names for the fields translate_spec fills. */
static void original_field(const char *field, char *out, size_t len)
{
    static const char *const exact[][2] = {{"spec.prompt", "initialPrompt"},
                                           {"spec.model", "llmSettings.model"}};
    static const char *const in_repo[][2] = {{"", ""},
                                             {".input", ""},
                                             {".input.url", ".url"},
                                             {".input.branch", ".branch"},
                                             {".output", ".autoPush"},
                                             {".output.pushTo", ".autoPush"}};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(field, exact[i][0]) == 0) {
            snprintf(out, len, "%s", exact[i][1]);
            return;
        }
    unsigned long idx;
    int n = 0;
    if (sscanf(field, "spec.repos[%lu]%n", &idx, &n) == 1 && n > 0) {
        for (size_t i = 0; i < sizeof in_repo / sizeof in_repo[0]; i++)
            if (strcmp(field + n, in_repo[i][0]) == 0) {
                snprintf(out, len, "repos[%lu]%s", idx, in_repo[i][1]);
                return;
            }
    }
    spec_field(field, out, len);
}

static void spec_words(const char *text, char *out, size_t len)
{
    rewrite(text, out, len, spec_field);
}

static void original_words(const char *text, char *out, size_t len)
{
    rewrite(text, out, len, original_field);
}

/* The branch the first repository that pushes pushes to (its targetBranch,
 * else ambient/<name>), or NULL when none pushes (new ref). An output
 * without pushTo is the CRD's default, fork. */
static json_t *auto_branch(const json_t *stored, const char *name)
{
    size_t i;
    const json_t *repo;
    json_array_foreach(json_object_get(json_object_get(stored, "spec"), "repos"), i, repo) {
        const json_t *out = json_object_get(repo, "output");
        const char *push = json_string_value(json_object_get(out, "pushTo"));
        if (!json_is_object(out) || (push && strcmp(push, "none") == 0))
            continue;
        const char *target = json_string_value(json_object_get(out, "targetBranch"));
        char branch[320];
        snprintf(branch, sizeof branch, "ambient/%s", name);
        return json_string(target && *target ? target : branch);
    }
    return NULL;
}

static json_t *original_created(const json_t *stored)
{
    const json_t *meta = json_object_get(stored, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    json_t *reply = json_pack("{s:s, s:s, s:s}", "message", "Agentic session created successfully",
                              "name", name ? name : "", "uid", uid ? uid : "");
    json_t *branch = auto_branch(stored, name ? name : "");
    if (reply && branch)
        json_object_set_new(reply, "autoBranch", branch);
    else
        json_decref(branch);
    return reply;
}

static const struct amb_create_shape original_shape = {sizeof original_shape, original_created,
                                                       original_words};
static const struct amb_create_shape spec_shape = {sizeof spec_shape, NULL, spec_words};

int as_create_shape(void *ud, struct amb_request *r, const json_t *body, json_t **obj,
                    const struct amb_create_shape **shape)
{
    (void)ud;
    struct marks m = {0};
    *obj = NULL;
    if (!as_request_ops())
        return 0; /* a server older than 1.5 takes whole objects only */
    classify(body, &m);
    if (reply_mixed(r, &m))
        return -1;
    if (m.shapes & OBJECT)
        return 0;
    json_t *spec;
    if (m.shapes & ORIGINAL) {
        if (refuse_original_keys(r, body))
            return -1;
        spec = json_object();
        if (!spec || translate_spec(r, body, spec)) {
            if (!spec)
                as_request_ops()->respond_message(r, 500, "out of memory", NULL);
            json_decref(spec);
            return -1;
        }
        *shape = &original_shape;
    } else {
        spec = json_deep_copy(body);
        json_object_del(spec, "labels");
        json_object_del(spec, "annotations");
        *shape = &spec_shape;
    }
    return short_object(r, body, spec, obj);
}
