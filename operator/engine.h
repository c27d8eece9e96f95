/*
 * engine.h - one reconcile of one AppDatabase against its PostgreSQL
 * instance (DESIGN section 4), shared by the CLI and the controller.
 *
 * struct engine holds what lives across reconciles: the config, the secret
 * resolver, the audit sink and one admin connection per instance. An engine
 * is used by one thread at a time; the controller gives each worker its own
 * (engine_new per worker, sharing config and resolver, which are read-only).
 */
#ifndef APPDB_ENGINE_H
#define APPDB_ENGINE_H

#include "config.h"
#include "model.h"
#include "secret.h"

#include <time.h>

enum run_result_kind {
	RESULT_CHANGED = 0,
	RESULT_UNCHANGED,
	RESULT_BLOCKED,
	RESULT_FAILED,
	RESULT_INVALID,
};

/* The reasons of DESIGN section 3, exactly as written there. */
#define REASON_PROVISIONED "Provisioned"
#define REASON_INVALID_SPEC "InvalidSpec"
#define REASON_SECRET_MISSING "SecretMissing"
#define REASON_AWAITING_APPROVAL "AwaitingApproval"
#define REASON_PROVISIONING_DISABLED "ProvisioningDisabled"
#define REASON_OWNER_MISMATCH "OwnerMismatch"
#define REASON_ROLE_NOT_MANAGED "RoleNotManaged"
#define REASON_ROLE_CLAIMED "RoleClaimedByOther"
#define REASON_INSTANCE_UNKNOWN "InstanceUnknown"
#define REASON_INSTANCE_NOT_ALLOWED "InstanceNotAllowed"
#define REASON_DB_UNREACHABLE "DatabaseUnreachable"
#define REASON_PROVISIONING_FAILED "ProvisioningFailed"
#define REASON_PAUSED "Paused" /* DESIGN 11.2: Reconciling=False, the rest kept */

enum engine_mode {
	ENGINE_APPLY = 0, /* reconcile: converge */
	ENGINE_PLAN,      /* plan: observe and plan, change nothing */
	ENGINE_DISABLE,   /* deletionPolicy Disable: every login role disabled, CONNECT revoked */
};

struct user_status {
	char *name;
	enum access access;
	char *password_version; /* NULL when the source has none */
};

/* What one reconcile did; owned strings, released by run_result_clear. */
struct run_result {
	char run_id[40];
	char *build_id;
	char started_at[32];  /* RFC 3339 */
	char finished_at[32]; /* RFC 3339 */
	enum run_result_kind result;
	const char *reason; /* a REASON_* constant; REASON_PROVISIONED when Ready */
	char *message;      /* human text, never a secret */
	int ready;          /* database, roles, passwords and grants match */
	int retryable;      /* transient: retry with backoff */
	int connected;      /* the run connected to its instance */
	int paused;         /* the resource is paused: nothing ran, no connection */
	char **actions;     /* executed (apply) or pending (plan, awaiting approval) */
	size_t n_actions;
	struct user_status *users;
	size_t n_users;
	char *database;  /* spec.database.name when known */
	char **warnings; /* what the run could not fix and a person should know */
	size_t n_warnings;
};

struct engine;

/*
 * Makes an engine. cfg and resolver are borrowed and must outlive it.
 * audit_path may be NULL (no audit file, stdout only). Returns 0 or
 * APPDB_ENOMEM.
 */
int engine_new(struct engine **out, const struct config *cfg,
               const struct secret_resolver *resolver, struct err *err);
void engine_free(struct engine *eng);

/* A new run id (32 hex digits) into out (at least 33 bytes). */
void engine_new_run_id(char *out, size_t len);

/*
 * The run id (copied) the next engine_reconcile, engine_report_invalid or
 * engine_record_deletion uses, once; without it each run makes its own.
 */
void engine_set_run_id(struct engine *eng, const char *run_id);

struct audit;
/* Sends this engine's audit records to a (borrowed; shared by engines). */
void engine_set_audit(struct engine *eng, struct audit *a);

/*
 * Makes an RDS IAM token for an iamAuth instance: *out is an owned string
 * used as the password. Registered by whoever links the AWS module.
 */
typedef int (*engine_token_fn)(void *ctx, char **out, const struct instance_config *in,
                               struct err *err);
void engine_set_token_fn(struct engine *eng, engine_token_fn fn, void *ctx);

/*
 * Reports a resource that could not even be decoded: result Invalid, reason
 * InvalidSpec, message problems (borrowed). db may be partly filled (NULL
 * fields) but not NULL. Writes the audit record like engine_reconcile.
 */
int engine_report_invalid(struct run_result *out, struct engine *eng, const struct appdb *db,
                          const char *problems);

/*
 * Reconciles db (borrowed) in the given mode. Always fills out (which the
 * caller clears with run_result_clear) and writes the audit records; returns
 * 0, or APPDB_ENOMEM. The outcome is in out->result and out->reason.
 */
int engine_reconcile(struct run_result *out, struct engine *eng, const struct appdb *db,
                     enum engine_mode mode);

/*
 * Records that db was deleted: an audit record, nothing dropped. Fills out
 * like engine_reconcile.
 */
int engine_record_deletion(struct run_result *out, struct engine *eng, const struct appdb *db);

/*
 * A new connection (*out, PQfinish it) as inst's admin to dbname (the
 * admin database when NULL), pinned like every session of a reconcile,
 * with application_name app_name; the admin password or IAM token comes
 * from eng's sources and is wiped after use. For read-only tools (import).
 */
struct pg_conn;
int engine_connect_admin(struct pg_conn **out, struct engine *eng,
                         const struct instance_config *inst, const char *dbname,
                         const char *app_name, struct err *err);

void run_result_clear(struct run_result *r);

const char *run_result_name(enum run_result_kind k);

#endif
