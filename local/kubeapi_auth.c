/* kubeapi_auth.c — who calls: the admin token (user "admin", group
 * system:masters) kept in <data>/admin-token, and service-account tokens
 * minted by TokenRequest (random, stored only as their SHA-256, bound to
 * the ServiceAccount's uid, with audiences and an expiry). Also the
 * review kinds: TokenReview, SelfSubjectReview, SelfSubjectAccessReview,
 * SubjectAccessReview. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kubeapi.h"

#define API_AUDIENCE "https://kubernetes.default.svc.cluster.local"
#define MAX_TOKEN 4096
#define MIN_EXPIRATION_S 600
#define MAX_EXPIRATION_S (366LL * 24 * 3600)

void kapi_user_free(struct kuser *u)
{
    json_decref(u->groups);
    u->groups = NULL;
}

static void set_user(struct kuser *u, const char *name, const char *uid, json_t *groups)
{
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->uid, sizeof u->uid, "%s", uid);
    json_array_append_new(groups, json_string("system:authenticated"));
    u->groups = groups;
    u->master = 0;
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) u->master |= !strcmp(json_string_value(g), "system:masters");
}

static int has_string(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), s)) return 1;
    return 0;
}

/* Who token is, for audience (NULL: the API's). 0 with u filled, or -1
 * with why. */
static int identify(struct kapi *api, const char *token, const char *audience, struct kuser *u,
                    const char **why)
{
    char hash[65];
    kapi_sha256_hex(token, hash);
    if (!audience)
        audience = API_AUDIENCE;
    if (CRYPTO_memcmp(hash, api->admin_hash, 64) == 0) {
        if (strcmp(audience, API_AUDIENCE)) {
            *why = "token audiences don't match";
            return -1;
        }
        set_user(u, "admin", "admin", json_pack("[s]", "system:masters"));
        return 0;
    }
    json_t *info = kstore_token_get(api->store, hash);
    if (!info) {
        *why = "invalid bearer token";
        return -1;
    }
    const char *ns = json_string_value(json_object_get(info, "namespace"));
    const char *sa = json_string_value(json_object_get(info, "serviceAccount"));
    const char *uid = json_string_value(json_object_get(info, "uid"));
    int rc = -1;
    struct kerr e;
    json_t *account = NULL;
    if (json_integer_value(json_object_get(info, "exp")) <= time(NULL)) {
        *why = "token has expired";
    } else if (!has_string(json_object_get(info, "audiences"), audience)) {
        *why = "token audiences don't match";
    } else if (!(account = kobj_load(api, kapi_type_by_res(api, "/serviceaccounts"), ns, sa, &e)) ||
               strcmp(json_string_value(json_object_get(json_object_get(account, "metadata"),
                                                        "uid")),
                      uid)) {
        *why = "the token's service account is gone";
    } else {
        char name[320], group[128];
        snprintf(name, sizeof name, "system:serviceaccount:%s:%s", ns, sa);
        snprintf(group, sizeof group, "system:serviceaccounts:%s", ns);
        set_user(u, name, uid, json_pack("[s,s]", "system:serviceaccounts", group));
        rc = 0;
    }
    json_decref(account);
    json_decref(info);
    return rc;
}

int kapi_authenticate(struct kreq *r)
{
    const char *h =
        evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization");
    const char *why = "no bearer token";
    if (h && !strncasecmp(h, "Bearer ", 7) && strlen(h + 7) <= MAX_TOKEN && h[7]) {
        if (identify(r->api, h + 7, NULL, &r->user, &why) == 0)
            return 0;
    }
    const struct ktype *t = r->t;
    r->t = NULL; /* a 401 names nothing */
    kapi_fail(r, 401, "Unauthorized", "Unauthorized");
    r->t = t;
    (void)why;
    return -1;
}

int kapi_admin_token(struct kapi *api, char *err, size_t n)
{
    char token[MAX_TOKEN + 2] = "";
    int fd = open(api->token_file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, token, sizeof token - 1);
        close(fd);
        token[got > 0 ? got : 0] = '\0';
        token[strcspn(token, "\r\n")] = '\0';
        if (strlen(token) < 32) {
            snprintf(err, n, "%s: holds no admin token (fewer than 32 characters)",
                     api->token_file);
            return -1;
        }
    } else if (errno == ENOENT) {
        unsigned char raw[32];
        if (kapi_random(raw, sizeof raw) != 0) {
            snprintf(err, n, "%s: no randomness for the admin token", api->token_file);
            return -1;
        }
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(token + 2 * i, 3, "%02x", raw[i]);
        fd = open(api->token_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        int ok = fd >= 0 && write(fd, token, 64) == 64 && write(fd, "\n", 1) == 1 &&
                 fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            snprintf(err, n, "%s: cannot write the admin token: %s", api->token_file,
                     strerror(errno));
            return -1;
        }
    } else {
        snprintf(err, n, "%s: cannot read the admin token: %s", api->token_file, strerror(errno));
        return -1;
    }
    kapi_sha256_hex(token, api->admin_hash);
    OPENSSL_cleanse(token, sizeof token);
    return 0;
}

void kapi_token_request(struct kreq *r)
{
    json_t *body = kapi_body(r);
    if (!body)
        return;
    struct kerr e;
    json_t *sa = kobj_load(r->api, r->t, r->ns, r->name, &e);
    if (!sa) {
        json_decref(body);
        kapi_fail_kerr(r, &e);
        return;
    }
    json_t *spec = json_object_get(body, "spec");
    json_t *auds = json_object_get(spec, "audiences");
    json_int_t exp_s = json_integer_value(json_object_get(spec, "expirationSeconds"));
    if (!json_object_get(spec, "expirationSeconds"))
        exp_s = 3600;
    if (exp_s < MIN_EXPIRATION_S || exp_s > MAX_EXPIRATION_S) {
        json_decref(sa);
        json_decref(body);
        kapi_fail(r, 422, "Invalid",
                  "TokenRequest.authentication.k8s.io \"%s\" is invalid: spec.expirationSeconds: "
                  "Invalid value: %lld: may not be less than 10 minutes or more than a year",
                  r->name, (long long)exp_s);
        return;
    }
    json_t *audiences = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(auds, i, a) if (json_is_string(a) && json_string_length(a) < 512 && i < 16)
        json_array_append(audiences, a);
    if (json_array_size(audiences) == 0)
        json_array_append_new(audiences, json_string(API_AUDIENCE));
    unsigned char raw[32];
    char token[80] = "amb-sa-", hash[65];
    if (kapi_random(raw, sizeof raw) != 0) {
        json_decref(audiences);
        json_decref(sa);
        json_decref(body);
        kapi_fail(r, 500, "InternalError", "no randomness for a token");
        return;
    }
    for (size_t j = 0; j < sizeof raw; j++)
        snprintf(token + 7 + 2 * j, 3, "%02x", raw[j]);
    kapi_sha256_hex(token, hash);
    time_t exp = time(NULL) + exp_s;
    json_t *info = json_pack("{s:s, s:s, s:s, s:O}", "namespace", r->ns, "serviceAccount",
                             r->name, "uid",
                             json_string_value(json_object_get(json_object_get(sa, "metadata"),
                                                               "uid")),
                             "audiences", audiences);
    int rc = kstore_token_put(r->api->store, hash, info, exp);
    json_decref(info);
    json_decref(sa);
    if (rc) {
        json_decref(audiences);
        json_decref(body);
        kapi_fail_store(r, rc);
        return;
    }
    char stamp[32], now[32];
    struct tm tm;
    gmtime_r(&exp, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    kapi_now(now, sizeof now);
    json_t *out = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:o, s:I}, s:{s:s, s:s}}",
                            "kind", "TokenRequest", "apiVersion", "authentication.k8s.io/v1",
                            "metadata", "name", r->name, "namespace", r->ns, "creationTimestamp",
                            now, "spec", "audiences", audiences, "expirationSeconds",
                            (json_int_t)exp_s, "status", "token", token, "expirationTimestamp",
                            stamp);
    json_t *bound = json_object_get(spec, "boundObjectRef");
    if (out && json_is_object(bound))
        json_object_set(json_object_get(out, "spec"), "boundObjectRef", bound);
    OPENSSL_cleanse(token, sizeof token);
    json_decref(body);
    kapi_reply(r, 201, out);
}

static json_t *user_info(const struct kuser *u)
{
    return json_pack("{s:s, s:s, s:O}", "username", u->name, "uid", u->uid, "groups", u->groups);
}

static int access_allowed(struct kapi *api, const struct kuser *u, const json_t *spec)
{
    const json_t *ra = json_object_get(spec, "resourceAttributes");
    const json_t *nra = json_object_get(spec, "nonResourceAttributes");
#define S(o, k) (json_string_value(json_object_get(o, k)) ? json_string_value(json_object_get(o, k)) : "")
    if (ra)
        return kapi_authorize(api, u, S(ra, "verb"), S(ra, "group"), S(ra, "resource"),
                              S(ra, "subresource"), S(ra, "namespace"), S(ra, "name"), NULL);
    if (nra)
        return kapi_authorize(api, u, S(nra, "verb"), NULL, NULL, NULL, NULL, NULL,
                              S(nra, "path"));
#undef S
    return 0;
}

void kapi_review(struct kreq *r)
{
    json_t *body = kapi_body(r);
    if (!body)
        return;
    const char *kind = r->t->kind;
    json_t *spec = json_object_get(body, "spec");
    json_t *status = NULL;
    if (!strcmp(kind, "TokenReview")) {
        const char *token = json_string_value(json_object_get(spec, "token"));
        const char *aud = json_string_value(json_array_get(json_object_get(spec, "audiences"), 0));
        struct kuser who = {0};
        const char *why = "no token";
        if (token && strlen(token) <= MAX_TOKEN && identify(r->api, token, aud, &who, &why) == 0)
            status = json_pack("{s:b, s:o, s:[s]}", "authenticated", 1, "user", user_info(&who),
                               "audiences", aud ? aud : API_AUDIENCE);
        else
            status = json_pack("{s:b, s:s}", "authenticated", 0, "error", why);
        kapi_user_free(&who);
    } else if (!strcmp(kind, "SelfSubjectReview")) {
        status = json_pack("{s:o}", "userInfo", user_info(&r->user));
    } else if (!strcmp(kind, "SelfSubjectAccessReview")) {
        status = json_pack("{s:b}", "allowed", access_allowed(r->api, &r->user, spec));
    } else {
        struct kuser who = {0};
        const char *user = json_string_value(json_object_get(spec, "user"));
        json_t *groups = json_deep_copy(json_object_get(spec, "groups"));
        set_user(&who, user ? user : "", "", json_is_array(groups) ? groups : json_array());
        if (!json_is_array(groups))
            json_decref(groups);
        status = json_pack("{s:b}", "allowed", access_allowed(r->api, &who, spec));
        kapi_user_free(&who);
    }
    if (!json_is_object(spec))
        json_object_set_new(body, "spec", json_object());
    if (!strcmp(kind, "TokenReview"))
        json_object_del(json_object_get(body, "spec"), "token");
    char av[200];
    snprintf(av, sizeof av, "%s/%s", r->t->group, r->t->version);
    json_object_set_new(body, "apiVersion", json_string(av));
    json_object_set_new(body, "kind", json_string(kind));
    json_object_set_new(body, "metadata", json_pack("{s:n}", "creationTimestamp"));
    json_object_set_new(body, "status", status);
    kapi_reply(r, 201, body);
}
