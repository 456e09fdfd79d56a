/* council.c — the default template: with no spec.steps, a feature request
 * goes through the seed's seven-step council. The order is a DAG (README.md
 * says why):
 *
 *   ideation -> requirements -> { architecture, ux } -> { plan, docs } -> review
 *
 * Each agent's template frames the request; each step's prompt says what
 * to produce from the results of the steps before it. */
#include <string.h>

#include "rfe.h"

#define FRAME "You are the {{role}} on a council of agents working through a feature " \
              "request (RFE). Work only on the step you are given.\n\n"              \
              "Title: {{title}}\n\nRequest:\n{{description}}\n\n"                    \
              "What the council produced so far:\n{{results}}"

struct member {
    const char *agent, *role;
};

static const struct member members[] = {
    {"ideation", "Ideation Agent"},       {"product-manager", "Product Manager"},
    {"architect", "Architect"},           {"ux-designer", "UX Designer"},
    {"staff-engineer", "Staff Engineer"}, {"tech-writer", "Technical Writer"},
    {"reviewer", "Reviewer"},
};

struct council_step {
    const char *name, *agent, *prompt;
    const char *deps[2];
};

static const struct council_step council[] = {
    {"ideation", "ideation",
     "Explore the request: restate the problem, who has it and why it matters, sketch two or "
     "three ways to solve it with their trade-offs, and list the open questions.",
     {NULL, NULL}},
    {"requirements", "product-manager",
     "Turn the chosen idea into requirements: user stories with acceptance criteria, what is in "
     "and out of scope, and how success is measured.",
     {"ideation", NULL}},
    {"architecture", "architect",
     "Design the solution for these requirements: components, data, interfaces, the decisions "
     "taken and the alternatives rejected, and the risks.",
     {"requirements", NULL}},
    {"ux", "ux-designer",
     "Design the user experience for these requirements: the flows, the screens or commands, "
     "the wording, error states and accessibility.",
     {"requirements", NULL}},
    {"plan", "staff-engineer",
     "Turn the design and the user experience into an implementation plan: ordered tasks with "
     "estimates, tests, rollout and what could go wrong.",
     {"architecture", "ux"}},
    {"docs", "tech-writer",
     "Write the documentation outline for this feature from the design and the user "
     "experience: what users, operators and developers need to read, and where it goes.",
     {"architecture", "ux"}},
    {"review", "reviewer",
     "Review the plan and the documentation against the request and the requirements: list "
     "the gaps, contradictions and risks, then give the refined specification in full.",
     {"plan", "docs"}},
};

static int defines_agent(const json_t *agents, const char *name)
{
    size_t i;
    const json_t *a;
    json_array_foreach(agents, i, a)
    {
        const char *n = json_string_value(json_object_get(a, "name"));
        if (n && strcmp(n, name) == 0)
            return 1;
    }
    return 0;
}

void rfe_apply_defaults(json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    const json_t *steps = json_object_get(spec, "steps");
    if (!json_is_object(spec) || (steps && !(json_is_array(steps) && json_array_size(steps) == 0)))
        return; /* steps given (or of a wrong type, which validation names) */
    json_t *agents = json_object_get(spec, "agents");
    if (!agents) {
        agents = json_array();
        json_object_set_new(spec, "agents", agents);
    }
    if (!json_is_array(agents))
        return;
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        if (!defines_agent(agents, members[i].agent))
            json_array_append_new(agents, json_pack("{s:s, s:s, s:s}", "name", members[i].agent,
                                                    "role", members[i].role, "promptTemplate",
                                                    FRAME));
    json_t *list = json_array();
    for (size_t i = 0; list && i < sizeof council / sizeof council[0]; i++) {
        const struct council_step *c = &council[i];
        json_t *deps = json_array();
        for (size_t d = 0; d < 2 && c->deps[d]; d++)
            json_array_append_new(deps, json_string(c->deps[d]));
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o}", "name", c->name, "agent",
                                              c->agent, "prompt", c->prompt, "dependsOn", deps));
    }
    json_object_set_new(spec, "steps", list);
}
