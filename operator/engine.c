/*
 * engine.c - one reconcile, as a straight list of named steps (DESIGN
 * section 4): validate, resolve the instance, the environment and approval
 * gates, read secrets, connect, lock, observe, guardrails, passwords, plan,
 * preflight, apply; then the result and the audit records.
 */
#include "engine.h"
#include "engine_int.h"

#include "audit.h"
#include "clock.h"
#include "log.h"
#include "validate.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int engine_new(struct engine **out, const struct config *cfg,
               const struct secret_resolver *resolver, struct err *err)
{
	struct engine *eng = calloc(1, sizeof(*eng));

	*out = NULL;
	if (eng == NULL)
		return err_set(err, APPDB_ENOMEM, "out of memory");
	eng->cfg = cfg;
	eng->resolver = resolver;
#ifdef APPDB_FAILPOINTS
	{
		const char *k = getenv("APPDB_FAILPOINT_KILL_AFTER_STATEMENTS");

		eng->kill_after = k != NULL ? atol(k) : 0;
	}
#endif
	*out = eng;
	return 0;
}

void engine_free(struct engine *eng)
{
	size_t i;

	if (eng == NULL)
		return;
	for (i = 0; i < eng->n_conns; i++) {
		PQfinish(eng->conns[i].conn);
		free(eng->conns[i].instance);
	}
	free(eng->conns);
	free(eng);
}

void engine_set_audit(struct engine *eng, struct audit *a)
{
	eng->audit = a;
}

void engine_set_run_id(struct engine *eng, const char *run_id)
{
	snprintf(eng->next_run_id, sizeof(eng->next_run_id), "%s", run_id != NULL ? run_id : "");
}

void engine_set_token_fn(struct engine *eng, engine_token_fn fn, void *ctx)
{
	eng->token_fn = fn;
	eng->token_ctx = ctx;
}

const char *run_result_name(enum run_result_kind k)
{
	static const char *const names[] = {"Changed", "Unchanged", "Blocked", "Failed", "Invalid"};

	return k <= RESULT_INVALID ? names[k] : "Failed";
}

void run_result_clear(struct run_result *r)
{
	size_t i;

	free(r->build_id);
	free(r->message);
	for (i = 0; i < r->n_actions; i++)
		free(r->actions[i]);
	free(r->actions);
	for (i = 0; i < r->n_users; i++) {
		free(r->users[i].name);
		free(r->users[i].password_version);
	}
	free(r->users);
	free(r->database);
	for (i = 0; i < r->n_warnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}

void engine_new_run_id(char *out, size_t len)
{
	unsigned char b[16];
	size_t i;

	if (RAND_bytes(b, sizeof(b)) != 1) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(b, &ts, sizeof(ts) < sizeof(b) ? sizeof(ts) : sizeof(b));
	}
	for (i = 0; i < sizeof(b) && 2 * i + 2 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Sets the outcome once; later calls are ignored. */
int rec_outcome(struct rec *r, enum run_result_kind kind, const char *reason, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (r->done)
		return 1;
	r->done = 1;
	r->out->result = kind;
	r->out->reason = reason;
	r->out->ready = 0;
	r->out->retryable = kind == RESULT_FAILED;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(r->out->message);
	r->out->message = msg;
	return 1;
}

/* 1 when the run executes its plan (not plan mode, not awaiting approval). */
int rec_applies(const struct rec *r)
{
	return r->mode != ENGINE_PLAN && !r->awaiting;
}

/* 1 when action a is reported: done ones when the run applies, else all (pending). */
int rec_reported(const struct rec *r, const struct action *a)
{
	return !rec_applies(r) || a->done;
}

/* 1 when the run gave back a membership another resource's run left. */
static int cleaned(const struct rec *r)
{
	size_t i;

	for (i = 0; i < r->n_cleanups; i++)
		if (r->cleanups[i].done)
			return 1;
	return 0;
}

/* Copies the reported actions' texts into the result: the clean-ups done, then the plan's. */
int rec_take_actions(struct rec *r)
{
	size_t i;

	if ((r->plan.n == 0 && !cleaned(r)) || r->out->actions != NULL)
		return 0;
	r->out->actions = calloc(r->plan.n + r->n_cleanups, sizeof(char *));
	if (r->out->actions == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < r->n_cleanups; i++) {
		if (!r->cleanups[i].done)
			continue;
		if ((r->out->actions[r->out->n_actions] = strdup(r->cleanups[i].text)) == NULL)
			return APPDB_ENOMEM;
		r->out->n_actions++;
	}
	for (i = 0; i < r->plan.n; i++) {
		if (!rec_reported(r, &r->plan.items[i]))
			continue;
		r->out->actions[r->out->n_actions] = strdup(r->plan.items[i].text);
		if (r->out->actions[r->out->n_actions] == NULL)
			return APPDB_ENOMEM;
		r->out->n_actions++;
	}
	return 0;
}

/* ---- steps ---- */

static int step_validate(struct rec *r)
{
	const struct instance_config *in = config_instance(r->eng->cfg, r->db->instance);
	struct field_errs errs = {0};
	char *msg;
	int rc;

	if (validate_appdb(r->db, in != NULL ? in->admin_user : NULL, &errs) == 0 &&
	    (in == NULL || validate_appdb_instance(r->db, in, &errs) == 0))
		return 0;
	msg = field_errs_join(&errs);
	rc = rec_outcome(r, RESULT_INVALID, REASON_INVALID_SPEC, "invalid spec: %s",
	                 msg != NULL ? msg : "out of memory");
	free(msg);
	field_errs_clear(&errs);
	return rc;
}

/* Paused (annotation db.platform.dev/paused): no SQL, no connection, nothing read. */
static int step_pause(struct rec *r)
{
	if (!r->db->paused)
		return 0;
	r->out->paused = 1;
	return rec_outcome(r, RESULT_UNCHANGED, REASON_PAUSED,
	                   "paused by the annotation " ANNOTATION_PAUSED "; no SQL runs until it "
	                   "is removed");
}

static int step_instance(struct rec *r)
{
	r->inst = config_instance(r->eng->cfg, r->db->instance);
	if (r->inst == NULL)
		return rec_outcome(r, RESULT_BLOCKED, REASON_INSTANCE_UNKNOWN,
		                   "instance %s is not in the operator configuration",
		                   r->db->instance);
	if (!config_instance_allows(r->inst, r->db->ns))
		return rec_outcome(r, RESULT_BLOCKED, REASON_INSTANCE_NOT_ALLOWED,
		                   "instance %s does not serve namespace %s (allowedNamespaces)",
		                   r->db->instance, r->db->ns);
	return 0;
}

static int step_environment(struct rec *r)
{
	if (strcmp(r->eng->cfg->environment, "dev") == 0 || r->eng->cfg->allow_provision)
		return 0;
	return rec_outcome(r, RESULT_BLOCKED, REASON_PROVISIONING_DISABLED,
	                   "environment %s needs ALLOW_DB_PROVISION=true on the operator",
	                   r->eng->cfg->environment);
}

static int step_approval(struct rec *r)
{
	char gen[32];

	/* Disabling on deletion only takes access away: no approval. */
	if (strcmp(r->eng->cfg->environment, "prod") != 0 || r->mode == ENGINE_DISABLE)
		return 0;
	snprintf(gen, sizeof(gen), "%lld", r->db->generation);
	if (r->db->approved_generation != NULL && strcmp(r->db->approved_generation, gen) == 0 &&
	    r->db->approved_by != NULL && r->db->approved_by[0] != '\0')
		return 0;
	r->awaiting = 1; /* observe and plan, change nothing */
	return 0;
}

/* Reads the password of role user, mapping failures to SecretMissing or a retry. */
static int read_secret(struct rec *r, struct secret *out, const struct secret_ref *ref,
                       const char *user, const char *what)
{
	struct err err = {0};
	char desc[512];
	int rc;

	rc = secret_resolve(out, r->eng->resolver, ref, r->db->ns, user, &err);
	if (rc == 0)
		return 0;
	if (rc == APPDB_ENOMEM)
		return rc;
	secret_ref_describe(desc, sizeof(desc), ref);
	if (secret_error_is_missing(rc))
		return rec_outcome(r, RESULT_BLOCKED, REASON_SECRET_MISSING, "%s: %s: %s", what,
		                   desc, err.msg);
	return rec_outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
	                   "%s: could not read %s: %s (will retry)", what, desc, err.msg);
}

static int step_secrets(struct rec *r)
{
	size_t i;
	int rc, alternating;

	if (!r->inst->iam_auth) {
		rc = read_secret(r, &r->admin_pw, &r->inst->admin_password, r->inst->admin_user,
		                 "admin password");
		if (rc != 0)
			return rc;
	}
	/* Read while awaiting approval too: the pending actions include password resets. */
	for (i = 0; r->mode != ENGINE_DISABLE && i < r->db->n_users; i++) {
		char what[128];

		if (r->db->users[i].password_from.kind == SECRET_NONE)
			continue; /* adopt keeps the role's password; an iamAuth user has none */
		snprintf(what, sizeof(what), "password of user %s", r->db->users[i].name);
		/* alternating: the secret may name <name> or <name>_clone */
		alternating = r->db->users[i].rotation == ROTATION_ALTERNATING;
		rc = read_secret(r, &r->user_pw[i], &r->db->users[i].password_from,
		                 alternating ? NULL : r->db->users[i].name, what);
		if (rc == 0 && alternating)
			rc = rec_check_username(r, i);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The admin password, or a fresh IAM token; owned, wiped by the caller. */

static const struct step {
	const char *name;
	int (*run)(struct rec *r);
} STEPS[] = {
    {"pause", step_pause},
    {"validate", step_validate},
    {"resolve instance", step_instance},
    {"environment gate", step_environment},
    {"approval gate", step_approval},
    {"read secrets", step_secrets},
    {"connect", step_connect},
    {"lock", step_lock},
    {"observe", step_observe},
    {"guardrails", step_guardrails},
    {"adoption", step_adopt},
    {"stale memberships", step_stale_memberships},
    {"observe database", step_observe_database},
    {"observe access", step_observe_access},
    {"check passwords", step_passwords},
    {"plan", step_plan},
    {"preflight", step_preflight},
    {"apply", step_apply},
};

/* Fills the result's users with names, access and password versions. */
static int fill_users(struct rec *r)
{
	size_t i;

	if (r->db->n_users == 0)
		return 0;
	r->out->users = calloc(r->db->n_users, sizeof(*r->out->users));
	if (r->out->users == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < r->db->n_users; i++) {
		struct user_status *u = &r->out->users[r->out->n_users];

		if (r->db->users[i].name == NULL)
			continue;
		u->name = strdup(r->db->users[i].name);
		u->access = r->db->users[i].access;
		if (r->user_pw != NULL && r->user_pw[i].version != NULL)
			u->password_version = strdup(r->user_pw[i].version);
		r->out->n_users++;
	}
	return 0;
}

#define INTENT_MESSAGE                                                                             \
	"the run was cut before it finished (the process ended): these are the actions it was "    \
	"about to run, some may not have run; a later run completes them"

/*
 * One audit record: the database's (user NULL) or one user's. intent: the
 * record of the run's intent (every action planned so far, result Failed),
 * else the run's own (the actions done).
 */
static json_t *audit_record(struct rec *r, const char *user, int intent)
{
	const struct run_result *o = r->out;
	json_t *rec, *actions = json_array();
	char resource[320], now[32];
	size_t i;

	for (i = 0; user == NULL && i < r->n_cleanups; i++)
		if (intent || r->cleanups[i].done)
			json_array_append_new(actions, json_string(r->cleanups[i].text));
	for (i = 0; i < r->plan.n; i++) {
		const struct action *a = &r->plan.items[i];

		if (!intent && !rec_reported(r, a))
			continue;
		if ((user == NULL && a->user == NULL) ||
		    (user != NULL && a->user != NULL && strcmp(a->user, user) == 0))
			json_array_append_new(actions, json_string(a->text));
	}
	snprintf(resource, sizeof(resource), "%s/%s", r->db->ns ? r->db->ns : "",
	         r->db->name ? r->db->name : "");
	if (intent)
		clock_format_now(now, sizeof(now));
	rec = json_pack(
	    "{s:s, s:s, s:s?, s:s, s:s?, s:s, s:s?, s:I, s:s?, s:s?, s:o, s:s, s:s?, "
	    "s:s?}",
	    "ts", intent ? now : o->finished_at, "runId", o->run_id, "buildId", o->build_id,
	    "environment", r->eng->cfg->environment, "instance", r->db->instance, "resource",
	    resource, "uid", r->db->uid, "generation", (json_int_t)r->db->generation, "database",
	    r->db->db_name, "user", user, "actions", actions, "result",
	    run_result_name(intent ? RESULT_FAILED : o->result), "reason",
	    intent ? REASON_PROVISIONING_FAILED : o->reason, "approvedBy", r->db->approved_by);
	/* For the report: when the run began, and whether the build id is the resource's own. */
	if (rec != NULL) {
		json_object_set_new(rec, "startedAt", json_string(o->started_at));
		json_object_set_new(
		    rec, "buildIdFrom",
		    json_string(r->db->build_id != NULL ? "annotation" : "operator"));
	}
	if (rec != NULL && intent)
		json_object_set_new(rec, "message", json_string(INTENT_MESSAGE));
	else if (rec != NULL && o->message != NULL && o->result != RESULT_CHANGED &&
	         o->result != RESULT_UNCHANGED)
		json_object_set_new(rec, "message", json_string(o->message));
	if (rec != NULL && !intent && user == NULL && o->n_warnings > 0) {
		json_t *w = json_array();

		for (i = 0; i < o->n_warnings; i++)
			json_array_append_new(w, json_string(o->warnings[i]));
		json_object_set_new(rec, "warnings", w);
	}
	return rec;
}

/* The records of a run (intent: of its intent), one per database and per user; NULL on ENOMEM. */
static json_t *audit_records(struct rec *r, int intent)
{
	json_t *all = json_array(), *rec;
	size_t i;

	/* the database; the spec's users; alternating clones; retired roles */
	for (i = 0; all != NULL && i <= r->db->n_users + r->n_clones + r->desired.n_retired; i++) {
		size_t n = r->db->n_users, k = r->n_clones;
		const char *user = i == 0       ? NULL
		                   : i <= n     ? r->db->users[i - 1].name
		                   : i <= n + k ? r->dusers[i - 1].name
		                                : r->retired[i - 1 - n - k];

		if (i > 0 && user == NULL)
			continue;
		if ((rec = audit_record(r, user, intent)) == NULL ||
		    json_array_append_new(all, rec) != 0) {
			json_decref(all);
			all = NULL;
		}
	}
	return all;
}

/* Writes one record per database and per user when the run changed or refused. */
static void write_audit(struct rec *r)
{
	struct err err = {0};
	json_t *all, *rec;
	size_t i;

	if (r->eng->audit == NULL || r->out->result == RESULT_UNCHANGED || r->mode == ENGINE_PLAN)
		return;
	if ((all = audit_records(r, 0)) == NULL) {
		log_error(&r->log, "could not write the audit record: out of memory");
		return;
	}
	json_array_foreach (all, i, rec) {
		if (audit_write(r->eng->audit, rec, &err) != 0)
			log_error(&r->log, "could not write the audit record: %s", err.msg);
	}
	json_decref(all);
}

void rec_write_intent(struct rec *r)
{
	struct err err = {0};
	json_t *all;

	if (r->eng->audit == NULL || r->mode == ENGINE_PLAN)
		return;
	all = audit_records(r, 1);
	if (all == NULL)
		log_error(&r->log, "could not write the intent of the run: out of memory");
	else if (audit_intent_write(&r->intent, r->eng->audit, r->out->run_id, all, &err) != 0)
		log_error(&r->log, "could not write the intent of the run: %s", err.msg);
	json_decref(all);
}

/* Starts a result: run id, times, build id. */
static int run_start(struct rec *r, struct engine *eng, const struct appdb *db,
                     struct run_result *out, enum engine_mode mode)
{
	memset(r, 0, sizeof(*r));
	memset(out, 0, sizeof(*out));
	r->eng = eng;
	r->db = db;
	r->mode = mode;
	r->out = out;
	if (eng->next_run_id[0] != '\0')
		snprintf(out->run_id, sizeof(out->run_id), "%s", eng->next_run_id);
	else
		engine_new_run_id(out->run_id, sizeof(out->run_id));
	eng->next_run_id[0] = '\0';
	clock_format_now(out->started_at, sizeof(out->started_at));
	out->build_id = strdup(db->build_id != NULL ? db->build_id : eng->cfg->build_id);
	out->database = db->db_name != NULL ? strdup(db->db_name) : NULL;
	r->log.ns = db->ns;
	r->log.name = db->name;
	r->log.run_id = out->run_id;
	snprintf(r->app_name, sizeof(r->app_name), "appdb-operator/%s", out->run_id);
	if (out->build_id == NULL)
		return APPDB_ENOMEM;
	r->user_pw = calloc(db->n_users + 1, sizeof(*r->user_pw));
	return r->user_pw != NULL ? 0 : APPDB_ENOMEM;
}

/* Copies the plan's warnings into the result. */
static int take_warnings(struct rec *r)
{
	size_t i;

	if (r->plan.n_warnings == 0)
		return 0;
	r->out->warnings = calloc(r->plan.n_warnings, sizeof(char *));
	if (r->out->warnings == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < r->plan.n_warnings; i++) {
		if ((r->out->warnings[i] = strdup(r->plan.warnings[i])) == NULL)
			return APPDB_ENOMEM;
		r->out->n_warnings++;
	}
	return 0;
}

/* The message of a run that reached its end: what it did, then its warnings. */
static char *ready_message(const struct rec *r)
{
	const char *what = r->mode == ENGINE_DISABLE ? "every login role disabled and CONNECT "
	                                               "revoked; the database and its data are kept"
	                   : r->mode == ENGINE_PLAN && r->plan.n > 0 ? "changes pending"
	                   : r->plan.n == 0 ? "database, roles and grants match the spec"
	                                    : "database, roles and grants provisioned";
	char *msg = strdup(what), *next;
	size_t i;

	for (i = 0; msg != NULL && i < r->out->n_warnings; i++) {
		if (asprintf(&next, "%s; warning: %s", msg, r->out->warnings[i]) < 0)
			next = NULL;
		free(msg);
		msg = next;
	}
	return msg;
}

/* Ends a run: unlock, close, result, audit; frees the per-run state. */
static void run_finish(struct rec *r)
{
	struct err err = {0};
	size_t i;

	if (r->locked && r->admin != NULL && pg_unlock(r->admin, r->db->db_name, &err) != 0)
		rec_drop_admin(r);
	PQfinish(r->target);
	r->target = NULL;
	if (take_warnings(r) != 0)
		log_error(&r->log, "out of memory");
	if (!r->done) {
		r->out->result = r->plan.n == 0 && !cleaned(r) ? RESULT_UNCHANGED : RESULT_CHANGED;
		r->out->reason = REASON_PROVISIONED;
		r->out->ready = r->mode != ENGINE_PLAN || r->plan.n == 0;
		free(r->out->message);
		r->out->message = ready_message(r);
	}
	if (cleaned(r) && rec_take_actions(r) != 0)
		log_error(&r->log, "out of memory");
	clock_format_now(r->out->finished_at, sizeof(r->out->finished_at));
	fill_users(r);
	write_audit(r);
	/* Its own records are written: the intent has done its work. */
	audit_intent_done(r->intent);
	r->intent = NULL;
	for (i = 0; i < r->n_cleanups; i++)
		free(r->cleanups[i].text);
	free(r->cleanups);
	r->cleanups = NULL;
	r->n_cleanups = 0;
	secret_clear(&r->admin_pw);
	for (i = 0; r->user_pw != NULL && i < r->db->n_users; i++)
		secret_clear(&r->user_pw[i]);
	free(r->user_pw);
	free(r->dusers);
	rec_alternating_clear(r);
	free(r->retired);
	observed_clear(&r->obs);
	plan_clear(&r->plan);
}

int engine_reconcile(struct run_result *out, struct engine *eng, const struct appdb *db,
                     enum engine_mode mode)
{
	struct rec r;
	size_t i;
	int rc;

	rc = run_start(&r, eng, db, out, mode);
	for (i = 0; rc == 0 && !r.done && i < sizeof(STEPS) / sizeof(STEPS[0]); i++) {
		rc = STEPS[i].run(&r);
		if (rc > 0)
			rc = 0; /* the step set the outcome */
		else if (rc < 0 && !r.done)
			rec_outcome(&r, RESULT_FAILED, REASON_PROVISIONING_FAILED, "%s: %s",
			            STEPS[i].name, err_name(rc));
	}
	if (rc == 0 && !r.done)
		rec_record_digest(&r);
	run_finish(&r);
	log_msg(out->result == RESULT_FAILED ? LOG_WARN : LOG_INFO, &r.log, "%s: %s%s%s",
	        run_result_name(out->result), out->reason, out->message ? ": " : "",
	        out->message ? out->message : "");
	return rc == APPDB_ENOMEM ? rc : 0;
}

int engine_report_invalid(struct run_result *out, struct engine *eng, const struct appdb *db,
                          const char *problems)
{
	struct rec r;
	int rc = run_start(&r, eng, db, out, ENGINE_APPLY);

	rec_outcome(&r, RESULT_INVALID, REASON_INVALID_SPEC, "invalid spec: %s", problems);
	run_finish(&r);
	log_warn(&r.log, "Invalid: %s", out->message ? out->message : "");
	return rc;
}

int engine_record_deletion(struct run_result *out, struct engine *eng, const struct appdb *db)
{
	struct rec r;
	int rc = run_start(&r, eng, db, out, ENGINE_APPLY);

	rec_outcome(&r, RESULT_UNCHANGED, REASON_PROVISIONED,
	            "AppDatabase deleted; database %s and its roles are kept",
	            db->db_name != NULL ? db->db_name : "");
	r.out->result = RESULT_UNCHANGED;
	run_finish(&r);
	if (eng->audit != NULL) {
		json_t *rec = audit_record(&r, NULL, 0);
		struct err err = {0};

		json_object_set_new(rec, "result", json_string("Deleted"));
		json_object_set_new(rec, "message", json_string(out->message ? out->message : ""));
		if (audit_write(eng->audit, rec, &err) != 0)
			log_error(&r.log, "could not write the audit record: %s", err.msg);
		json_decref(rec);
	}
	return rc;
}
