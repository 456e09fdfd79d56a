/* redact.c — removes credentials from text before it is logged.
 * A second line of defence: code should never log a secret, but if it does,
 * the sink replaces it. Four rules, applied in one pass each:
 *   1. registered values: the host's own credentials (ambd_log_add_secret),
 *      and values plugins register for users (host->log_secret) when they
 *      look like secrets — users choose those, so an ordinary word must not
 *      be able to blank out log lines;
 *   2. "Bearer <token>" (any case, tokens of 8 or more characters);
 *   3. the value after a credential header name (Authorization,
 *      X-Forwarded-Access-Token, Private-Token) followed by ':' or '=';
 *   4. tokens by well-known shape: GitHub, GitLab, Anthropic keys and JWTs. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf-internal.h"
#include "log-internal.h"

#define REDACTED "[REDACTED]"
#define MIN_OWN_SECRET_LEN 4
#define MIN_SECRET_LEN 8
/* Entropy a registered value must carry: 32 bits is beyond any word or
 * name a user could pick to redact ordinary log text with. */
#define MIN_SECRET_BITS 32.0
/* "the bearer of news" is prose; real bearer tokens are far longer. */
#define MIN_BEARER_LEN 8

/* Registered values are bounded: users hand the api many (runner secrets),
 * and each log line is checked against all of them. Past the cap new values
 * are refused, never an older one forgotten: evicting would let one
 * project's flood of values un-redact another's secrets. Values too long
 * to appear whole in a bounded log line are not kept. */
#define MAX_SECRETS 4096
#define MAX_SECRETS_BYTES (1u << 20)
#define MAX_SECRET_LEN 8192

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t n_secrets, secrets_bytes, n_refused;

/* Shannon entropy of s in bits (per character times length). */
static double entropy_bits(const char *s, size_t len)
{
    size_t count[256] = {0};
    for (size_t i = 0; i < len; i++)
        count[(unsigned char)s[i]]++;
    double bits = 0;
    for (size_t c = 0; c < 256; c++)
        if (count[c]) {
            double p = (double)count[c] / (double)len;
            bits -= p * log2(p);
        }
    return bits * (double)len;
}

/* Keys, passwords and tokens mix letters with digits or case and carry
 * entropy; "DELETE", "agentic-sessions" or a user name do not. */
int ambd_looks_like_secret(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len < MIN_SECRET_LEN || len > MAX_SECRET_LEN)
        return 0;
    int lower = 0, upper = 0, digit = 0;
    for (size_t i = 0; i < len; i++) {
        lower |= s[i] >= 'a' && s[i] <= 'z';
        upper |= s[i] >= 'A' && s[i] <= 'Z';
        digit |= s[i] >= '0' && s[i] <= '9';
    }
    if (lower + upper + digit < 2)
        return 0;
    return entropy_bits(s, len) >= MIN_SECRET_BITS;
}

void ambd_log_add_secret(const char *value)
{
    size_t len = value ? strlen(value) : 0;
    if (len < MIN_OWN_SECRET_LEN || len > MAX_SECRET_LEN)
        return;
    pthread_mutex_lock(&secrets_lock);
    int known = 0;
    for (size_t i = 0; i < n_secrets && !known; i++)
        known = strcmp(secrets[i], value) == 0;
    if (known)
        goto out;
    if (n_secrets == MAX_SECRETS || secrets_bytes + len > MAX_SECRETS_BYTES) {
        n_refused++;
        goto out;
    }
    if (!secrets && !(secrets = calloc(MAX_SECRETS, sizeof *secrets)))
        goto out;
    char *copy = strdup(value);
    if (copy) {
        secrets[n_secrets++] = copy;
        secrets_bytes += len;
    }
out:
    pthread_mutex_unlock(&secrets_lock);
}

void ambd_log_add_user_secret(const char *value)
{
    if (ambd_looks_like_secret(value))
        ambd_log_add_secret(value);
}

size_t ambd_log_secrets_refused(void)
{
    pthread_mutex_lock(&secrets_lock);
    size_t n = n_refused;
    pthread_mutex_unlock(&secrets_lock);
    return n;
}

size_t ambd_log_secret_count(void)
{
    pthread_mutex_lock(&secrets_lock);
    size_t n = n_secrets;
    pthread_mutex_unlock(&secrets_lock);
    return n;
}

void ambd_log_clear_secrets(void)
{
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    free(secrets);
    secrets = NULL;
    n_secrets = secrets_bytes = n_refused = 0;
    pthread_mutex_unlock(&secrets_lock);
}

static int is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

static size_t token_len(const char *p)
{
    size_t n = 0;
    while (is_token_char(p[n]))
        n++;
    return n;
}

/* Rule 1: replace every occurrence of each registered secret. */
static char *redact_secrets(const char *text)
{
    struct ambd_buf b = {0};
    ambd_buf_puts(&b, text);
    char *cur = ambd_buf_take(&b);
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; cur && i < n_secrets; i++) {
        const char *hit = strstr(cur, secrets[i]);
        if (!hit)
            continue;
        size_t slen = strlen(secrets[i]);
        const char *run = cur;
        for (; hit; hit = strstr(run, secrets[i])) {
            ambd_buf_append(&b, run, (size_t)(hit - run));
            ambd_buf_puts(&b, REDACTED);
            run = hit + slen;
        }
        ambd_buf_puts(&b, run);
        free(cur);
        cur = ambd_buf_take(&b);
    }
    pthread_mutex_unlock(&secrets_lock);
    return cur;
}

static const char *const credential_headers[] = {
    "authorization", "x-forwarded-access-token", "private-token",
};

/* Rule 3: if p starts a credential header name followed by ':' or '=',
 * returns the offset of its value, else 0. Quotes (JSON) are skipped. */
static size_t credential_value_offset(const char *p)
{
    int first = tolower((unsigned char)*p);
    for (size_t i = 0; i < sizeof credential_headers / sizeof credential_headers[0]; i++) {
        if (credential_headers[i][0] != first)
            continue;
        size_t n = strlen(credential_headers[i]);
        if (strncasecmp(p, credential_headers[i], n) != 0)
            continue;
        size_t k = n;
        if (p[k] == '"')
            k++;
        while (p[k] == ' ')
            k++;
        if (p[k] != ':' && p[k] != '=')
            return 0;
        k++;
        while (p[k] == ' ' || p[k] == '"')
            k++;
        return k;
    }
    return 0;
}

/* Length of a credential header's value: up to a quote, comma, semicolon or
 * line end ("Basic abc" and "Bearer abc" are both one value). */
static size_t header_value_len(const char *p)
{
    size_t n = strcspn(p, "\",;\r\n");
    while (n > 0 && p[n - 1] == ' ')
        n--;
    return n;
}

static const char *const token_prefixes[] = {
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "sk-ant-", "eyJ",
};

/* Rule 4: length of a well-known token starting at p (at a word start), or 0. */
static size_t shaped_token_len(const char *p)
{
    for (size_t i = 0; i < sizeof token_prefixes / sizeof token_prefixes[0]; i++) {
        if (token_prefixes[i][0] != *p)
            continue;
        size_t n = strlen(token_prefixes[i]);
        if (strncmp(p, token_prefixes[i], n) == 0) {
            size_t len = token_len(p);
            if (len >= n + 8)
                return len;
        }
    }
    return 0;
}

/* Whether a rule may match at a word starting with c: the first letters of
 * "bearer ", the credential headers and the token prefixes, any case. */
static int may_start_rule(char c)
{
    int l = tolower((unsigned char)c);
    if (l == 'b')
        return 1;
    for (size_t i = 0; i < sizeof credential_headers / sizeof credential_headers[0]; i++)
        if (credential_headers[i][0] == l)
            return 1;
    for (size_t i = 0; i < sizeof token_prefixes / sizeof token_prefixes[0]; i++)
        if (tolower((unsigned char)token_prefixes[i][0]) == l)
            return 1;
    return 0;
}

/* A credential starting at p (rules 2-4), in text starting at start: how
 * many bytes it spans from p, 0 for none; the first *keep of them stay
 * ("Bearer ", "Authorization: "), the rest is replaced. */
static size_t credential_at(const char *start, const char *p, size_t *keep)
{
    if ((p != start && is_token_char(p[-1])) || !may_start_rule(*p))
        return 0;
    size_t off, len;
    *keep = 0;
    if ((*p == 'b' || *p == 'B') && strncasecmp(p, "bearer ", 7) == 0 &&
        (len = token_len(p + 7)) >= MIN_BEARER_LEN) {
        *keep = 7;
        return 7 + len;
    }
    if ((off = credential_value_offset(p)) > 0 && (len = header_value_len(p + off)) > 0) {
        *keep = off;
        return off + len;
    }
    return shaped_token_len(p);
}

/* Where the next rule may start after p: text no rule can start in is
 * skipped as one run (every line is scanned, the access log's on each
 * request). */
static const char *next_candidate(const char *p)
{
    const char *q = p + 1;
    while (*q && (is_token_char(q[-1]) || !may_start_rule(*q)))
        q++;
    return q;
}

static int has_registered(const char *text)
{
    int found = 0;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < n_secrets && !found; i++)
        found = strstr(text, secrets[i]) != NULL;
    pthread_mutex_unlock(&secrets_lock);
    return found;
}

int ambd_redact_needed(const char *text, int registered)
{
    size_t keep;
    for (const char *p = text; *p; p = next_candidate(p))
        if (credential_at(text, p, &keep))
            return 1;
    return registered && has_registered(text);
}

char *ambd_redact(const char *text) { return ambd_redact_with(text, 1); }

char *ambd_redact_with(const char *text, int registered)
{
    char *replaced = registered ? redact_secrets(text) : NULL; /* rule 1, when asked */
    if (registered && !replaced)
        return NULL;
    const char *stage = replaced ? replaced : text;
    struct ambd_buf b = {0};
    const char *p = stage;
    while (*p) {
        size_t keep, span = credential_at(stage, p, &keep);
        if (span) {
            ambd_buf_append(&b, p, keep);
            ambd_buf_puts(&b, REDACTED);
            p += span;
        } else {
            const char *q = next_candidate(p);
            ambd_buf_append(&b, p, (size_t)(q - p));
            p = q;
        }
    }
    free(replaced);
    return ambd_buf_take(&b);
}
