/*
 * conditions.h - the kstatus conditions Ready, Reconciling and Stalled
 * (DESIGN section 3), computed as a pure function of the previous
 * conditions and the outcome of a run.
 *
 * All three conditions are always written, in the metav1.Condition shape
 * {type, status, observedGeneration, lastTransitionTime, reason, message}.
 * Reconciling and Stalled are "abnormal-true" conditions: kstatus reads an
 * absent one and one with status "False" the same way, so we keep them with
 * "False" rather than removing them; that way `kubectl describe` shows all
 * three and lastTransitionTime records when each last flipped. A
 * condition's lastTransitionTime moves only when its status changes.
 * Conditions of other types found in the previous list are kept as they are.
 */
#ifndef APPDB_CONDITIONS_H
#define APPDB_CONDITIONS_H

#include <jansson.h>

#define COND_READY "Ready"
#define COND_RECONCILING "Reconciling"
#define COND_STALLED "Stalled"

/* The longest message kept in a condition, in bytes. */
#define COND_MESSAGE_MAX 1024

/* Borrowed strings. */
struct cond_outcome {
	int ready;
	const char *reason;  /* a REASON_* constant */
	const char *message; /* may be NULL */
	int stalled;
	int reconciling;
	long long observed_generation;
	const char *now; /* RFC 3339 */
};

/* True for the reasons that need a person (Stalled=True). */
int conditions_reason_stalls(const char *reason);

/*
 * Fills o->ready, o->reason, o->stalled and o->reconciling from a run's
 * ready flag and reason: success is Ready; a stalling reason is Stalled;
 * anything else (DatabaseUnreachable, ProvisioningFailed, unknown) is
 * Reconciling.
 */
void conditions_outcome_for(struct cond_outcome *o, int ready, const char *reason);

/*
 * Computes the new conditions array into *out (a new reference) from prev
 * (borrowed; the previous status.conditions, may be NULL or not an array)
 * and o. Returns 0 or APPDB_ENOMEM.
 */
int conditions_compute(json_t **out, json_t *prev, const struct cond_outcome *o);

/*
 * The conditions of a paused resource (DESIGN 11.2) into *out (a new
 * reference): prev (borrowed) as it is, with Reconciling replaced (or
 * added) by status False, reason Paused. o gives the message, the
 * generation and the time; its other fields are not read. Returns 0 or
 * APPDB_ENOMEM.
 */
int conditions_paused(json_t **out, json_t *prev, const struct cond_outcome *o);

/* The condition of type in conds (borrowed), or NULL. */
json_t *conditions_find(json_t *conds, const char *type);

#endif
