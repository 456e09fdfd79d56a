/* as_options.h — spec.options of an AgenticSession: what the agent CLI may
 * be told, checked the same way by the plugin and by ambient-runner. */
#ifndef AS_OPTIONS_H
#define AS_OPTIONS_H

#include <jansson.h>

#define AS_OPT_PERMISSION_MODE "permissionMode"
#define AS_OPT_ALLOWED_TOOLS "allowedTools"
#define AS_OPT_DISALLOWED_TOOLS "disallowedTools"
#define AS_OPT_MAX_TURNS "maxTurns"
#define AS_OPT_APPEND_SYSTEM_PROMPT "appendSystemPrompt"

/* Without permissionMode the agent may edit files in its repositories but
 * not run commands: nobody is there to approve them in a headless run. */
#define AS_DEFAULT_PERMISSION_MODE "acceptEdits"

#define AS_OPTION_MAX_TOOLS 64
#define AS_OPTION_MAX_TURNS 1000
#define AS_OPTION_MAX_PROMPT 65536

struct as_option_problem {
    char field[96];
    char message[192];
};

/* 0 when opts (borrowed; NULL is fine) is valid, else -1 with the first
 * problem in p. Pure. */
int as_options_check(const json_t *opts, struct as_option_problem *p);

#endif /* AS_OPTIONS_H */
