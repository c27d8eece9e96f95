/*
 * report.h - the governance report (DESIGN 11.5): the PRD's success
 * figures computed from the audit trail (audit.h), for `appdb-operator
 * report`.
 *
 * Lines are added one at a time (report_add_line) and only aggregates are
 * kept, so a long trail is read in one pass. What counts:
 *
 * - a run is one record without "user" (every run writes exactly one such
 *   record for its database; the user records share its runId);
 * - runs, changes (result Changed), refusals (Blocked, Invalid), failures
 *   (Failed) and deletions per environment and instance, and runs per
 *   result and reason;
 * - approvals: the distinct (resource, uid, generation, approvedBy) of the
 *   changes that carry an approver;
 * - traceability: the share of changes whose build id came from the
 *   resource's db.platform.dev/build-id annotation ("buildIdFrom"); a
 *   record without that field (an older trail) counts when it has a build
 *   id at all;
 * - time to Ready per generation (resource, uid, generation): from the
 *   earliest "startedAt" (else "ts") of its records to the "ts" of its
 *   first Changed/Provisioned run, in whole seconds (the trail's
 *   resolution); a generation with records but no such run is "not ready";
 *   percentiles by nearest rank; with since, only generations that started
 *   in the period;
 * - every change in environment prod with its approver.
 *
 * A struct report belongs to one thread.
 */
#ifndef APPDB_REPORT_H
#define APPDB_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

struct report;

/* A new, empty report counting records from since on (-1: all). Returns 0 or APPDB_ENOMEM. */
int report_new(struct report **out, time_t since);
void report_free(struct report *r);

/*
 * Adds one line of an audit trail (len bytes, not NUL-terminated; a
 * trailing newline is fine). Returns 0 when counted; 1 when skipped (an
 * empty line; not JSON, not an audit record, a required field missing or
 * of the wrong type: counted as "skipped"; before since: "earlier", and
 * only noted for when its generation started, so a generation that began
 * before the period is not timed from inside it); APPDB_ENOMEM.
 */
int report_add_line(struct report *r, const char *line, size_t len);

/* The same for a record already parsed (borrowed; NULL counts as skipped). */
int report_add_record(struct report *r, json_t *rec);

/* The figures as one JSON object (new reference in *out). Returns 0 or APPDB_ENOMEM. */
int report_json(json_t **out, struct report *r);

/*
 * The figures of report_json (borrowed) as Markdown: *out is a new
 * NUL-terminated string the caller frees. Text from the trail is escaped
 * for a table cell. Returns 0 or APPDB_ENOMEM.
 */
int report_markdown(char **out, json_t *figures);

/*
 * The q-quantile (0 < q <= 1) of n sorted values by nearest rank: the
 * value at rank ceil(q * n). n must be at least 1.
 */
double report_percentile(const double *sorted, size_t n, double q);

#endif
