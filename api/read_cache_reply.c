/* read_cache_reply.c — GET and LIST of the generic kind routes answered
 * from the read cache (read_cache.c), in the bytes and shapes the routes
 * answer from the API server.
 *
 * A LIST page walks the kind's sorted entries of one namespace from a
 * cursor. Its continue token is the cache's own, "rc1:<rv>:<last name>":
 * the next page starts after that name, from a cache at least at <rv> (a
 * replica behind waits, as for a write, then answers 410). So a listing in
 * pages shows every object that exists throughout it exactly once, in name
 * order, each at its version when its page was read; objects made or
 * deleted meanwhile may or may not appear (Kubernetes' pages are one
 * snapshot instead). A token the cache did not make is the API server's
 * and goes there; a token of the cache's that it cannot serve now (not
 * synced, past its bounds) is 410, as an expired one is in Kubernetes: list
 * again from the start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_cache_int.h"
#include "serving.h"

#define TOKEN_PREFIX "rc1:"

int read_cache_reply_get(struct api_req *r, const struct amb_kind *kind, const char *ns,
                         const char *name)
{
    struct read_cache *c = r->api->read_cache;
    struct rc_kind *k = rc_kind_of(c, kind);
    if (!k || rc_barred(c, ns))
        return 0;
    struct rc_blob *b = NULL;
    pthread_mutex_lock(&k->mu);
    if (rc_fresh_locked(k, ns, name, 0)) {
        size_t i = rc_lower_bound(k, ns, name);
        if (i < k->n && strcmp(k->e[i]->key, ns) == 0 && strcmp(k->e[i]->name, name) == 0) {
            b = k->e[i]->json;
            atomic_fetch_add(&b->refs, 1);
        }
    }
    pthread_mutex_unlock(&k->mu);
    /* A miss goes to the API server too: an object made behind this
     * replica's back is never answered 404 while the watch brings it. */
    if (!b)
        return 0;
    api_reply_raw(r, 200, "application/json", b->data, b->len);
    rc_blob_unref(b);
    return 1;
}

/* "rc1:<rv>:<name>" into *rv and name; 0, or -1 when it is not one. */
static int parse_token(const char *token, unsigned long long *rv, char *name, size_t name_len)
{
    const char *p = token + strlen(TOKEN_PREFIX);
    const char *colon = strchr(p, ':');
    char digits[24];
    if (!colon || (size_t)(colon - p) >= sizeof digits || strlen(colon + 1) >= name_len)
        return -1;
    memcpy(digits, p, (size_t)(colon - p));
    digits[colon - p] = '\0';
    int ok = 0;
    *rv = rc_parse_rv(digits, &ok);
    snprintf(name, name_len, "%s", colon + 1);
    return ok && amb_is_dns_subdomain(name) ? 0 : -1;
}

/* A page of at most limit objects of ns after the name `after` ("" from the
 * start), at a cache at least at `at`. NULL when the cache cannot answer. */
static char *page(struct rc_kind *k, const char *ns, const char *after, unsigned long long at,
                  long limit, size_t *len)
{
    struct rc_blob **blobs = malloc((size_t)limit * sizeof *blobs);
    if (!blobs)
        return NULL;
    size_t n = 0, size = 0;
    int more = 0;
    char last[254] = "";
    unsigned long long rv = 0;
    pthread_mutex_lock(&k->mu);
    int fresh = rc_fresh_locked(k, ns, NULL, at);
    size_t i = fresh ? rc_lower_bound(k, ns, after) : k->n;
    if (i < k->n && *after && strcmp(k->e[i]->key, ns) == 0 && strcmp(k->e[i]->name, after) == 0)
        i++; /* the token's object was on the page before */
    for (; i < k->n && strcmp(k->e[i]->key, ns) == 0; i++) {
        if (n == (size_t)limit) {
            more = 1;
            break;
        }
        blobs[n] = k->e[i]->json;
        atomic_fetch_add(&blobs[n]->refs, 1);
        size += blobs[n]->len + 1;
        snprintf(last, sizeof last, "%s", k->e[i]->name);
        n++;
    }
    rv = k->rv;
    pthread_mutex_unlock(&k->mu);
    char *out = fresh ? malloc(size + 128 + sizeof last) : NULL;
    if (out) {
        size_t used = (size_t)snprintf(out, 16, "{\"items\":[");
        for (size_t j = 0; j < n; j++) {
            if (j)
                out[used++] = ',';
            memcpy(out + used, blobs[j]->data, blobs[j]->len);
            used += blobs[j]->len;
        }
        used += (size_t)snprintf(out + used, 64, "],\"limit\":%ld,\"hasMore\":%s", limit,
                                 more ? "true" : "false");
        if (more)
            used += (size_t)snprintf(out + used, 64 + sizeof last, ",\"continue\":\"%s%llu:%s\"",
                                     TOKEN_PREFIX, rv, last);
        out[used++] = '}';
        *len = used;
    }
    for (size_t j = 0; j < n; j++)
        rc_blob_unref(blobs[j]);
    free(blobs);
    return out;
}

int read_cache_reply_list(struct api_req *r, const struct amb_kind *kind, const char *ns,
                          long limit)
{
    const char *selector = api_query(r, "labelSelector");
    const char *token = api_query(r, "continue");
    if ((selector && *selector) || (token && *token && strncmp(token, TOKEN_PREFIX,
                                                               strlen(TOKEN_PREFIX)) != 0))
        return 0; /* the API server's to answer */
    int ours = token && *token;
    unsigned long long at = 0;
    char after[254] = "";
    if (ours && parse_token(token, &at, after, sizeof after) != 0) {
        api_reply_field(r, 400, "continue", "is not a continue token this server gave");
        return 1;
    }
    struct read_cache *c = r->api->read_cache;
    struct rc_kind *k = rc_kind_of(c, kind);
    size_t len = 0;
    char *text = k && !rc_barred(c, ns) ? page(k, ns, after, at, limit, &len) : NULL;
    if (text) {
        api_reply_raw(r, 200, "application/json", text, len);
        free(text);
        return 1;
    }
    if (!ours)
        return 0;
    api_reply_error(r, 410,
                    "this listing can no longer be continued: list again without continue",
                    NULL);
    return 1;
}
