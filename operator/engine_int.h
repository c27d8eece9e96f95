/*
 * engine_int.h - what the engine's files share: the engine, one run's state
 * (struct rec) and the steps each file implements. Not for other modules.
 */
#ifndef APPDB_ENGINE_INT_H
#define APPDB_ENGINE_INT_H

#include "engine.h"
#include "log.h"
#include "pg.h"
#include "plan.h"
#include "secret.h"

#include <jansson.h>
#include <libpq-fe.h>

struct audit_intent;

struct admin_conn {
	char *instance;
	PGconn *conn;
	int failures; /* connection attempts in a row that failed without a verdict */
};

/* After this many, the admin secret is read again in case it was rotated. */
#define UNCLASSIFIED_FAILURES_REREAD 3

struct engine {
	const struct config *cfg;
	const struct secret_resolver *resolver;
	struct audit *audit;
	engine_token_fn token_fn;
	void *token_ctx;
	struct admin_conn *conns;
	size_t n_conns;
#ifdef APPDB_FAILPOINTS
	long kill_after; /* test builds: SIGKILL self after this many statements */
	long statements;
#endif
	char next_run_id[40]; /* engine_set_run_id: the next run's id, once */
	int record_digests;   /* engine_set_record_digests */
};

/* The state of one reconcile, handed from step to step. */
struct rec {
	struct engine *eng;
	const struct appdb *db;
	enum engine_mode mode;
	struct run_result *out;
	struct log_ctx log;
	const struct instance_config *inst;
	int awaiting; /* prod approval missing: plan only */
	struct secret admin_pw;
	struct secret *user_pw; /* one per spec user */
	PGconn *admin;          /* borrowed from the engine's cache */
	PGconn *target;         /* owned */
	int locked;
	char app_name[64];
	const char **schemas;
	struct desired_user *dusers;
	struct desired desired;
	const char **retired; /* borrowed from obs.roles */
	char resource[320];
	struct observed obs;
	struct plan plan;
	int done; /* an outcome was set */
	/* rotation: alternating (engine_rotation.c), per spec user; owned */
	char **clones;        /* "<name>_clone", NULL for a single-rotation user */
	char **kept_versions; /* the passwordVersion the role not rotated keeps */
	size_t n_clones;      /* desired users appended after the spec's */
	/* Memberships of the admin that other resources' runs left, given back by this run. */
	struct cleanup {
		char *text; /* the action, as the plan words its own */
		int done;
	} * cleanups;
	size_t n_cleanups;
	struct audit_intent *intent; /* written before the first change statement */
};

/* A role name with room for the "_clone" suffix. */
#define IDENT_BUF 80

/* engine.c: outcomes and what a run reports. */
/* Sets the outcome once (later calls are ignored); returns 1. */
int rec_outcome(struct rec *r, enum run_result_kind kind, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int rec_applies(const struct rec *r);
int rec_reported(const struct rec *r, const struct action *a);
int rec_take_actions(struct rec *r);
/*
 * Writes the run's intent (audit.h) before its next change statements: the
 * records it would leave had it failed there, naming every action planned
 * so far. A failure to write is logged and the run goes on, as for its
 * audit records.
 */
void rec_write_intent(struct rec *r);

/* engine_conn.c: the admin connection per instance, the target database, the lock. */
/* A new connection as the admin to database dbname (the maintenance one when NULL). */
int rec_connect_admin(struct rec *r, PGconn **out, const char *dbname, struct err *err);
/* Wipes and frees a password admin_password returned. */
void rec_free_secret_str(char *s);
void rec_drop_admin(struct rec *r);
int rec_unreachable(struct rec *r, int rc, const struct err *err);
int step_connect(struct rec *r);
int step_lock(struct rec *r);

/* engine_observe.c: observation, guardrails, passwords, plan, preflight. */
int step_observe(struct rec *r);
int step_guardrails(struct rec *r);
int step_stale_memberships(struct rec *r);
int step_observe_database(struct rec *r);
int step_passwords(struct rec *r);
int step_plan(struct rec *r);
int step_preflight(struct rec *r);

/* engine_resync.c: a converged run's instance-wide digest (resync.h). */
void rec_record_digest(struct rec *r);

/* engine_rotation.c: rotation: alternating, two roles per user. */
/* Appends the clones to r->dusers (room for 2 * n_users) after the spec's users. */
int rec_alternating_desired(struct rec *r);
/* The role that gets spec user i's current password: the secret's username picks it. */
const char *rec_current_login(const struct rec *r, size_t i);
/* An alternating user's secret must name <name> or <name>_clone: else SecretMissing. */
int rec_check_username(struct rec *r, size_t i);
int rec_is_clone(const struct rec *r, const char *name);
/* Which of the two roles of user i gets the current password; the other keeps its own. */
int rec_alternating_passwords(struct rec *r, size_t i);
/* The password (borrowed) of a spec user or its clone, or NULL. */
const char *rec_password_of(const struct rec *r, const char *name);
int rec_alternating_guardrails(struct rec *r);
void rec_alternating_clear(struct rec *r);
/* engine_access.c: DESIGN 11.3's observation and what the instance cannot do. */
int step_observe_access(struct rec *r);

/* engine_adopt.c: with spec.adopt, which roles made by hand may be taken over. */
int step_adopt(struct rec *r);

/* engine_apply.c: executing the plan and giving memberships back. */
int rec_run_sql(struct rec *r, PGconn *conn, const char *sql, struct err *err);
int step_apply(struct rec *r);

#endif
