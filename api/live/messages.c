/* messages.c — what a user may say to a session, the same over WebSocket
 * and POST messages: a message for the agent, {"content": "..."} (with
 * "type": "user_message" optional), or the end of an interactive session,
 * {"type": "end_session"}, after which the runner closes the agent's input
 * and lets it finish its turn. Anything else is refused by name. And what
 * a runner may not say: the types the service itself writes. */
#include <stdio.h>
#include <string.h>

#include "live/live_int.h"

int live_user_event(const json_t *m, const char *user, json_t **out, char *msg, size_t n)
{
    *out = NULL;
    if (!json_is_object(m)) {
        snprintf(msg, n, "expected {\"content\": \"...\"} or {\"type\": \"end_session\"}");
        return -1;
    }
    const char *type = json_string_value(json_object_get(m, "type"));
    if (json_object_get(m, "type") && !type) {
        snprintf(msg, n, "type: must be \"user_message\" or \"end_session\"");
        return -1;
    }
    int end = type && strcmp(type, "end_session") == 0;
    if (type && !end && strcmp(type, "user_message") != 0) {
        snprintf(msg, n, "type: must be \"user_message\" or \"end_session\", not \"%.64s\"",
                 type);
        return -1;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)m, key, v)
    {
        if (strcmp(key, "type") != 0 && (end || strcmp(key, "content") != 0)) {
            snprintf(msg, n, "%.64s: unknown field", key);
            return -1;
        }
    }
    const char *content = json_string_value(json_object_get(m, "content"));
    if (!end && !content) {
        snprintf(msg, n, "content: is required and must be a string");
        return -1;
    }
    *out = end ? json_pack("{s:s, s:s}", "type", "end_session", "user", user)
               : json_pack("{s:s, s:s, s:s}", "type", "user_message", "content", content,
                           "user", user);
    if (!*out) {
        snprintf(msg, n, "out of memory");
        return -1;
    }
    return 0;
}

/* Types only the service writes: what users said (stamped with who said
 * it) and the session's status from the platform. A runner posting one
 * would forge it. */
static const struct {
    const char *type, *owner;
} reserved[] = {
    {"user_message", "users"},
    {"end_session", "users"},
    {"status", "the platform"},
};

int live_runner_events_check(const json_t *events, char *msg, size_t n)
{
    size_t i;
    const json_t *ev;
    json_array_foreach((json_t *)events, i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));
        for (size_t k = 0; type && k < sizeof reserved / sizeof reserved[0]; k++) {
            if (strcmp(type, reserved[k].type) == 0) {
                snprintf(msg, n, "event %zu: type \"%s\" is reserved for %s", i + 1, type,
                         reserved[k].owner);
                return 422;
            }
        }
    }
    return 0;
}
