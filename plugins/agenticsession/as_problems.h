/* as_problems.h — validation problems, one per bad field, and the checks
 * of the parts of a spec that more than one kind shares: a session's
 * repos[] (AgenticSession spec.repos, RFEWorkflow spec.repos). Pure; used
 * by agenticsession.so and rfeworkflow.so, each compiling problems.c and
 * repos.c, so both kinds accept exactly the same repositories. */
#ifndef AS_PROBLEMS_H
#define AS_PROBLEMS_H

#include <ambient/plugin.h>
#include <stddef.h>

/* Violations, one per bad field ("spec.repos[1].input.url", message). */
struct as_problems {
    size_t n;
    char field[16][96];
    char message[16][192];
    size_t dropped; /* violations beyond the 16 kept */
};

/* Records one violation (counted in dropped past 16). */
void as_problem_add(struct as_problems *p, const char *field, const char *fmt, ...)
    AMB_PRINTF(3, 4);
/* "field: message; field: message" into buf. */
void as_problems_join(const struct as_problems *p, char *buf, size_t n);
/* Each key of obj (when it is an object) that names (NULL-ended) lacks, as
 * "<base>.<key>" ("<key>" when base is ""), an "unknown field"; a long key
 * is cut to 48 bytes and "...". */
void as_unknown_in(const json_t *obj, const char *const *names, const char *base,
                   struct as_problems *p);

/* repos.c: the rules of a repos[] list at base ("spec.repos"): each entry's
 * input (url, branch, token) and output (pushTo, targetBranch,
 * targetRepo); returns the number of entries (0 when repos is not a list,
 * which is reported unless repos is NULL). */
size_t as_check_repos(const json_t *repos, const char *base, struct as_problems *p);
/* The fields of repos[] entries the CRDs do not declare. */
void as_unknown_repo_fields(const json_t *repos, const char *base, struct as_problems *p);

#endif /* AS_PROBLEMS_H */
