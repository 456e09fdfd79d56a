/* trigger.h — what a forge's webhook route shares with every other forge's:
 * its config (`webhook = { command; label; max_body; }` in the forge's own
 * group), the trigger command and label, the body limit, and the step that
 * turns one authenticated trigger into AgenticSessions: one in every
 * project whose ProjectSettings lists the repository (docs/forges.md, "The
 * webhook flow"). Part of the forgekit library; repository URLs are read
 * with fk_url_parse like everywhere else in it. */
#ifndef FORGEKIT_TRIGGER_H
#define FORGEKIT_TRIGGER_H

#include <stddef.h>

#include <ambient/plugin.h>

/* Defaults of the webhook group. */
#define FK_WEBHOOK_COMMAND "/ambient"
#define FK_WEBHOOK_LABEL "ambient"
#define FK_WEBHOOK_MAX_BODY 1048576
/* Bytes of a trigger's prompt (the comment after the command). GitHub
 * keeps a comment to 65536 characters, at most 4 bytes each in UTF-8. */
#define FK_PROMPT_MAX 262144
/* Bytes of a delivery id, an author login and an issue link. */
#define FK_DELIVERY_MAX 128
#define FK_AUTHOR_MAX 255
#define FK_LINK_MAX 2048

/* Labels and annotations on a session a webhook created (the creator is
 * AMB_CREATED_BY_ANNOTATION, "<forge>:<login>"). */
#define FK_LABEL_FORGE "ambient-code.io/forge"
#define FK_ANN_DELIVERY "ambient-code.io/webhook-delivery"
#define FK_ANN_ISSUE_URL "ambient-code.io/issue-url"
#define FK_ANN_ISSUE_NUMBER "ambient-code.io/issue-number"
/* The session name: this prefix and 16 hex digits of
 * SHA-256(forge "\n" delivery id). */
#define FK_SESSION_PREFIX "wh-"

struct fk_webhook_config {
    const char *command; /* a comment starting with it is a trigger */
    const char *label;   /* adding this label is a trigger; NULL: none */
    size_t max_body;     /* bytes of a delivery; 413 beyond */
};

/* Reads "webhook.command", "webhook.label" and "webhook.max_body" of the
 * calling plugin's group (defaults above; label = "" turns the label
 * trigger off). During init only. AMB_EINVAL naming the key for a bad
 * value: a command that does not start with '/' or holds a space, a
 * max_body outside 1 KiB .. 64 MiB. */
int fk_webhook_config_read(const struct amb_host *host, struct amb_module *self,
                           struct fk_webhook_config *cfg, struct amb_error *err);

/* 1 if comment starts with cfg->command followed by whitespace or its end;
 * then *prompt and *len are the rest with surrounding whitespace trimmed
 * (*len may be 0: the forge decides whether the issue's text stands in).
 * 0 if the comment is no trigger. */
int fk_webhook_command(const struct fk_webhook_config *cfg, const char *comment,
                       const char **prompt, size_t *len);

/* 1 if label (a label just added) is cfg->label, ASCII case ignored as the
 * forges do; 0 otherwise or without a configured label. */
int fk_webhook_label(const struct fk_webhook_config *cfg, const char *label);

/* The request's exact body if it is at most cfg->max_body bytes. Otherwise
 * answers 413 (or the error raw_body had) and returns its code: the route
 * then returns AMB_OK. */
int fk_webhook_body(const struct amb_host *host, struct amb_request *req,
                    const struct fk_webhook_config *cfg, const char **data, size_t *len);

/* fk_webhook_body, then the signature: the request's header (its
 * lower-case name) handed as the one member of the headers object to the
 * forge's verify_webhook (verify, called with ud) with secret. On failure answers (413, 401) and
 * returns the code: the route then returns AMB_OK. */
int fk_webhook_accept(const struct amb_host *host, struct amb_request *req,
                      const struct fk_webhook_config *cfg,
                      int (*verify)(void *ud, const json_t *headers, const char *body,
                                    size_t body_len, const char *secret, struct amb_error *err),
                      void *ud, const char *header, const char *secret, const char **data,
                      size_t *len);

/* One parsed, authenticated and authorised trigger. Strings are borrowed;
 * all are checked here again (sizes above, printable). */
struct fk_trigger {
    const char *forge;       /* the forge's name: "github" */
    const char *repo_url;    /* the repository's https clone URL */
    const char *delivery_id; /* the forge's id of this delivery */
    const char *prompt;      /* the session's prompt; not empty */
    size_t prompt_len;
    const char *author;      /* the forge login of who asked */
    const char *issue_url;   /* the issue or PR/MR page; NULL when none */
    long long number;        /* its number; 0 when none */
};

/* Creates one AgenticSession per project (a managed namespace) whose
 * ProjectSettings lists t->repo_url in spec.repositories, with the
 * daemon's own credentials. The session is named from the delivery id, so
 * a replayed delivery finds its sessions there and creates nothing.
 * *out (new ref) is the route's answer body:
 *   {"created":  [{"project", "name"}],   made now
 *    "replayed": [{"project", "name"}],   already made by this delivery
 *    "failed":   [{"project", "error"}]}  refused there (validation, RBAC)
 * AMB_EINVAL naming the field for a bad trigger; other codes when the
 * ProjectSettings could not be listed. Blocks: call it from a route. */
int fk_trigger_sessions(const struct amb_host *host, struct amb_module *self,
                        const struct fk_trigger *t, json_t **out, struct amb_error *err);

/* fk_trigger_sessions, then the answer: 202 with its body, 422 for a bad
 * trigger, 503 when the projects could not be listed (the forge delivers
 * again). Returns AMB_OK: the request is answered. */
int fk_webhook_fire(const struct amb_host *host, struct amb_module *self,
                    struct amb_request *req, const struct fk_trigger *t);

/* "https://Host/a/b.git/" and "git@host:a/b" alike as "host/a/b" into out
 * (fk_url_parse's reading: userinfo dropped, host lower-cased, a port kept
 * for http(s) unless it is the scheme's own and dropped for ssh, trailing
 * "/" and ".git" dropped; the path compared as it is). 0, or -1 when
 * fk_url_parse refuses url or the key does not fit. */
int fk_repo_key(const char *url, char *out, size_t n);

#endif /* FORGEKIT_TRIGGER_H */
