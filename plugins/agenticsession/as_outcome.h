/* as_outcome.h — the lifecycle a session shares with every kind built on
 * sessions (RFEWorkflow): the five phases, and the status fields a
 * reconciler owns once it knows the phase (error, observedGeneration, the
 * Ready and Succeeded conditions). outcome.c is compiled into
 * agenticsession.so and rfeworkflow.so, so both report alike. */
#ifndef AS_OUTCOME_H
#define AS_OUTCOME_H

#include <ambient/plugin.h>

enum as_phase { AS_PENDING, AS_RUNNING, AS_COMPLETED, AS_FAILED, AS_STOPPED };

const char *as_phase_name(enum as_phase p);
/* Parses a status.phase; unknown or absent is -1. */
int as_phase_parse(const char *s);
/* 1 for Completed, Failed and Stopped. */
int as_phase_finished(int p);

/* obj's status object, created when absent; NULL when out of memory. */
json_t *as_status_object(json_t *obj);
/* Sets error (Failed: message; removed otherwise), observedGeneration (from
 * metadata.generation) and the conditions Ready (True while Running) and
 * Succeeded (True once Completed, False once otherwise finished, else
 * Unknown) with reason and message. < 0 on invalid input. */
int as_status_outcome(const struct amb_host *host, json_t *obj, enum as_phase phase,
                      const char *reason, const char *message);
/* An update_status mutate for a finished object: only observedGeneration
 * is kept current (> 0, no write, when it is). */
int as_status_keep_generation(void *ud, json_t *obj);

#endif /* AS_OUTCOME_H */
