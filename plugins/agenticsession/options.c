/* options.c — spec.options, the knobs a session may set on the agent CLI.
 * Pure, and compiled into both the plugin (so the REST layer refuses a bad
 * option at create time) and ambient-runner (which checks again: kubectl
 * writes skip the REST layer). Unknown keys are refused by name. */
#include <stdio.h>
#include <string.h>

#include "as_options.h"

static const char *const modes[] = {"default", "acceptEdits", "bypassPermissions", "dontAsk",
                                    "plan"};

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return 0;
    return 1;
}

static int report(struct as_option_problem *p, const char *key, const char *msg)
{
    snprintf(p->field, sizeof p->field, "spec.options.%.64s", key);
    snprintf(p->message, sizeof p->message, "%s", msg);
    return -1;
}

static int check_tools(const json_t *v, const char *key, struct as_option_problem *p)
{
    if (!json_is_array(v) || json_array_size(v) > AS_OPTION_MAX_TOOLS)
        return report(p, key, "must be a list of at most 64 tool names");
    size_t i;
    const json_t *t;
    json_array_foreach(v, i, t)
    {
        if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 256 ||
            !printable(json_string_value(t)) || json_string_value(t)[0] == '-')
            return report(p, key, "entries must be tool names like \"Bash(git diff:*)\" "
                                  "(1 to 256 printable characters, not starting with '-')");
    }
    return 0;
}

int as_options_check(const json_t *opts, struct as_option_problem *p)
{
    if (!opts)
        return 0;
    if (!json_is_object(opts)) {
        snprintf(p->field, sizeof p->field, "spec.options");
        snprintf(p->message, sizeof p->message, "must be an object");
        return -1;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)opts, key, v)
    {
        if (strcmp(key, AS_OPT_PERMISSION_MODE) == 0) {
            int ok = 0;
            for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
                ok |= json_is_string(v) && strcmp(json_string_value(v), modes[i]) == 0;
            if (!ok)
                return report(p, key, "must be one of default, acceptEdits, bypassPermissions, "
                                      "dontAsk, plan");
        } else if (strcmp(key, AS_OPT_ALLOWED_TOOLS) == 0 ||
                   strcmp(key, AS_OPT_DISALLOWED_TOOLS) == 0) {
            if (check_tools(v, key, p))
                return -1;
        } else if (strcmp(key, AS_OPT_MAX_TURNS) == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > AS_OPTION_MAX_TURNS)
                return report(p, key, "must be an integer from 1 to 1000");
        } else if (strcmp(key, AS_OPT_APPEND_SYSTEM_PROMPT) == 0) {
            if (!json_is_string(v) || json_string_length(v) > AS_OPTION_MAX_PROMPT)
                return report(p, key, "must be a string of at most 65536 bytes");
        } else {
            return report(p, key, "unknown option (known: permissionMode, allowedTools, "
                                  "disallowedTools, maxTurns, appendSystemPrompt)");
        }
    }
    return 0;
}
