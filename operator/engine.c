/*
 * engine.c - one reconcile, as a straight list of named steps (DESIGN
 * section 4): validate, resolve the instance, the environment and approval
 * gates, read secrets, connect, lock, observe, guardrails, passwords, plan,
 * preflight, apply; then the result and the audit records.
 */
#include "engine.h"

#include "audit.h"
#include "clock.h"
#include "log.h"
#include "pg.h"
#include "plan.h"
#include "sql.h"
#include "validate.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
};

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
static int outcome(struct rec *r, enum run_result_kind kind, const char *reason, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static int outcome(struct rec *r, enum run_result_kind kind, const char *reason, const char *fmt,
                   ...)
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
static int applies(const struct rec *r)
{
	return r->mode != ENGINE_PLAN && !r->awaiting;
}

/* 1 when action a is reported: done ones when the run applies, else all (pending). */
static int reported(const struct rec *r, const struct action *a)
{
	return !applies(r) || a->done;
}

/* Copies the reported actions' texts into the result. */
static int take_actions(struct rec *r)
{
	size_t i;

	if (r->plan.n == 0 || r->out->actions != NULL)
		return 0;
	r->out->actions = calloc(r->plan.n, sizeof(char *));
	if (r->out->actions == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < r->plan.n; i++) {
		if (!reported(r, &r->plan.items[i]))
			continue;
		r->out->actions[r->out->n_actions] = strdup(r->plan.items[i].text);
		if (r->out->actions[r->out->n_actions] == NULL)
			return APPDB_ENOMEM;
		r->out->n_actions++;
	}
	return 0;
}

static int run_sql(struct rec *r, PGconn *conn, const char *sql, struct err *err);

/* ---- steps ---- */

static int step_validate(struct rec *r)
{
	const struct instance_config *in = config_instance(r->eng->cfg, r->db->instance);
	struct field_errs errs = {0};
	char *msg;
	int rc;

	if (validate_appdb(r->db, in != NULL ? in->admin_user : NULL, &errs) == 0)
		return 0;
	msg = field_errs_join(&errs);
	rc = outcome(r, RESULT_INVALID, REASON_INVALID_SPEC, "invalid spec: %s",
	             msg != NULL ? msg : "out of memory");
	free(msg);
	field_errs_clear(&errs);
	return rc;
}

static int step_instance(struct rec *r)
{
	r->inst = config_instance(r->eng->cfg, r->db->instance);
	if (r->inst == NULL)
		return outcome(r, RESULT_BLOCKED, REASON_INSTANCE_UNKNOWN,
		               "instance %s is not in the operator configuration", r->db->instance);
	if (!config_instance_allows(r->inst, r->db->ns))
		return outcome(r, RESULT_BLOCKED, REASON_INSTANCE_NOT_ALLOWED,
		               "instance %s does not serve namespace %s (allowedNamespaces)",
		               r->db->instance, r->db->ns);
	return 0;
}

static int step_environment(struct rec *r)
{
	if (strcmp(r->eng->cfg->environment, "dev") == 0 || r->eng->cfg->allow_provision)
		return 0;
	return outcome(r, RESULT_BLOCKED, REASON_PROVISIONING_DISABLED,
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
		return outcome(r, RESULT_BLOCKED, REASON_SECRET_MISSING, "%s: %s: %s", what, desc,
		               err.msg);
	return outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
	               "%s: could not read %s: %s (will retry)", what, desc, err.msg);
}

static int step_secrets(struct rec *r)
{
	size_t i;
	int rc;

	if (!r->inst->iam_auth) {
		rc = read_secret(r, &r->admin_pw, &r->inst->admin_password, r->inst->admin_user,
		                 "admin password");
		if (rc != 0)
			return rc;
	}
	/* Read while awaiting approval too: the pending actions include password resets. */
	for (i = 0; r->mode != ENGINE_DISABLE && i < r->db->n_users; i++) {
		char what[128];

		snprintf(what, sizeof(what), "password of user %s", r->db->users[i].name);
		rc = read_secret(r, &r->user_pw[i], &r->db->users[i].password_from,
		                 r->db->users[i].name, what);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The admin password, or a fresh IAM token; owned, wiped by the caller. */
static int admin_password(struct rec *r, char **out, struct err *err)
{
	*out = NULL;
	if (r->inst->iam_auth) {
		if (r->eng->token_fn == NULL)
			return err_set(err, APPDB_EINVAL, "iamAuth is not available in this build");
		return r->eng->token_fn(r->eng->token_ctx, out, r->inst, err);
	}
	*out = strdup(r->admin_pw.value);
	return *out != NULL ? 0 : APPDB_ENOMEM;
}

static void free_secret_str(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* Connects as the admin to dbname with this run's application_name. */
static int connect_admin(struct rec *r, PGconn **out, const char *dbname, struct err *err)
{
	struct pg_params p = {0};
	char *pw = NULL;
	int rc;

	rc = admin_password(r, &pw, err);
	if (rc != 0)
		return rc;
	p.host = r->inst->host;
	p.port = r->inst->port;
	p.dbname = dbname;
	p.user = r->inst->admin_user;
	p.password = pw;
	p.sslmode = r->inst->ssl_mode;
	p.sslrootcert = r->inst->ssl_root_cert;
	p.application_name = r->app_name;
	p.statement_timeout = r->inst->statement_timeout_seconds;
	p.lock_timeout = r->eng->cfg->lock_timeout_seconds;
	rc = pg_connect(out, &p, err);
	free_secret_str(pw);
	return rc;
}

/* The cached admin connection of this instance, reconnecting when broken. */
static int get_admin(struct rec *r, struct err *err)
{
	struct engine *eng = r->eng;
	struct admin_conn *ac = NULL;
	size_t i;
	int rc;

	for (i = 0; i < eng->n_conns; i++)
		if (strcmp(eng->conns[i].instance, r->inst->name) == 0)
			ac = &eng->conns[i];
	if (ac == NULL) {
		struct admin_conn *n = realloc(eng->conns, (eng->n_conns + 1) * sizeof(*n));

		if (n == NULL)
			return APPDB_ENOMEM;
		eng->conns = n;
		ac = &eng->conns[eng->n_conns];
		ac->conn = NULL;
		ac->failures = 0;
		ac->instance = strdup(r->inst->name);
		if (ac->instance == NULL)
			return APPDB_ENOMEM;
		eng->n_conns++;
	}
	if (ac->conn != NULL && pg_alive(ac->conn) &&
	    pg_session_setup(ac->conn, r->app_name, eng->cfg->lock_timeout_seconds, NULL) == 0) {
		r->admin = ac->conn;
		return 0;
	}
	PQfinish(ac->conn);
	ac->conn = NULL;
	rc = connect_admin(r, &ac->conn, r->inst->admin_database, err);
	ac->failures = rc == APPDB_ETRANSIENT ? ac->failures + 1 : 0;
	if (!r->inst->iam_auth &&
	    (rc == APPDB_EUNAUTHORIZED ||
	     (rc == APPDB_ETRANSIENT && ac->failures % UNCLASSIFIED_FAILURES_REREAD == 0))) {
		/*
		 * The admin secret may have been rotated: read it again, once.
		 * A wrong password has its own SQLSTATE; a server (or proxy)
		 * that sends none is given the same chance after a few failures.
		 */
		struct err again = {0};

		log_info(&r->log, "admin login %s; reading the admin secret again",
		         rc == APPDB_EUNAUTHORIZED ? "refused" : "keeps failing");
		secret_invalidate(eng->resolver, &r->inst->admin_password);
		secret_clear(&r->admin_pw);
		if (secret_resolve(&r->admin_pw, eng->resolver, &r->inst->admin_password, r->db->ns,
		                   r->inst->admin_user, &again) == 0) {
			err_clear(err);
			rc = connect_admin(r, &ac->conn, r->inst->admin_database, err);
		}
	}
	if (rc != 0)
		return rc;
	rc = pg_session_setup(ac->conn, r->app_name, eng->cfg->lock_timeout_seconds, err);
	if (rc != 0) {
		PQfinish(ac->conn);
		ac->conn = NULL;
		return rc;
	}
	r->admin = ac->conn;
	return 0;
}

/* Drops the cached admin connection (after an error left it unusable). */
static void drop_admin(struct rec *r)
{
	size_t i;

	for (i = 0; i < r->eng->n_conns; i++) {
		if (r->eng->conns[i].conn == r->admin) {
			PQfinish(r->admin);
			r->eng->conns[i].conn = NULL;
		}
	}
	r->admin = NULL;
	r->locked = 0;
}

static int unreachable(struct rec *r, int rc, const struct err *err)
{
	if (rc == APPDB_ENOMEM)
		return rc;
	if (r->awaiting) /* approval is what a person must act on first */
		return outcome(r, RESULT_BLOCKED, REASON_AWAITING_APPROVAL,
		               "generation %lld needs approval (pending actions unknown: %s)",
		               r->db->generation, err->msg);
	return outcome(r, RESULT_FAILED, REASON_DB_UNREACHABLE, "%s", err->msg);
}

static int step_connect(struct rec *r)
{
	struct err err = {0};
	int rc = get_admin(r, &err);

	if (rc == 0)
		r->out->connected = 1;
	return rc != 0 ? unreachable(r, rc, &err) : 0;
}

static int step_lock(struct rec *r)
{
	struct err err = {0};
	int rc = pg_lock(r->admin, r->db->db_name, &err);

	if (rc != 0) {
		drop_admin(r);
		return unreachable(r, rc, &err);
	}
	r->locked = 1;
	return 0;
}

/* Fills the desired state from the spec and the secrets' versions. */
static int build_desired(struct rec *r)
{
	const struct appdb *db = r->db;
	size_t i;

	snprintf(r->resource, sizeof(r->resource), "%s/%s", db->ns, db->name);
	r->dusers = calloc(db->n_users + 1, sizeof(*r->dusers));
	if (r->dusers == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < db->n_users; i++) {
		r->dusers[i].name = db->users[i].name;
		r->dusers[i].access = db->users[i].access;
		r->dusers[i].conn_limit = db->users[i].connection_limit;
		r->dusers[i].password_version = r->user_pw[i].version;
	}
	r->desired.resource = r->resource;
	r->desired.uid = db->uid;
	r->desired.db_name = db->db_name;
	r->desired.owner = db->owner;
	r->desired.schemas = (const char *const *)db->schemas;
	r->desired.n_schemas = db->n_schemas;
	r->desired.users = r->dusers;
	r->desired.n_users = r->mode == ENGINE_DISABLE ? 0 : db->n_users;
	r->desired.now = r->out->started_at;
	r->desired.disabling = r->mode == ENGINE_DISABLE;
	return 0;
}

/* 1 when name is the owner or a user of the spec. */
static int in_spec(const struct appdb *db, const char *name)
{
	size_t i;

	if (strcmp(name, db->owner) == 0)
		return 1;
	for (i = 0; i < db->n_users; i++)
		if (strcmp(name, db->users[i].name) == 0)
			return 1;
	return 0;
}

/* The roles marked for this resource that the spec no longer names. */
static int find_retired(struct rec *r)
{
	size_t i;

	r->retired = calloc(r->obs.n_roles + 1, sizeof(*r->retired));
	if (r->retired == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < r->obs.n_roles; i++) {
		const struct obs_role *role = &r->obs.roles[i];
		int m = plan_marker_match(role->comment, &r->desired, NULL);

		if ((m == 1 || m == 2) && strcmp(role->name, r->db->owner) != 0 &&
		    (r->mode == ENGINE_DISABLE || !in_spec(r->db, role->name)))
			r->retired[r->desired.n_retired++] = role->name;
	}
	r->desired.retired = r->retired;
	return 0;
}

static int step_observe(struct rec *r)
{
	struct err err = {0};
	int rc;

	if ((rc = build_desired(r)) != 0)
		return rc;
	rc = pg_observe_admin(&r->obs, r->admin, &r->desired, &err);
	if (rc != 0) {
		if (rc == APPDB_ETRANSIENT)
			drop_admin(r);
		return rc == APPDB_ETRANSIENT
		           ? unreachable(r, rc, &err)
		           : outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED, "%s", err.msg);
	}
	return find_retired(r);
}

/* Refuses what the platform does not own (DESIGN section 4, step 7). */
static int step_guardrails(struct rec *r)
{
	const struct obs_role *role;
	size_t i;

	if (r->obs.db_exists && strcmp(r->obs.db_owner, r->db->owner) != 0)
		return outcome(r, RESULT_BLOCKED, REASON_OWNER_MISMATCH,
		               "database %s exists and is owned by %s, not %s", r->db->db_name,
		               r->obs.db_owner, r->db->owner);
	for (i = 0; i <= r->db->n_users; i++) {
		const char *name = i == r->db->n_users ? r->db->owner : r->db->users[i].name;
		int m;

		role = observed_role(&r->obs, name);
		if (role == NULL)
			continue;
		m = plan_marker_match(role->comment, &r->desired, NULL);
		if (m == 0)
			return outcome(r, RESULT_BLOCKED, REASON_ROLE_NOT_MANAGED,
			               "role %s exists and is not managed by appdb-operator", name);
		if (m == 3)
			return outcome(r, RESULT_BLOCKED, REASON_ROLE_CLAIMED,
			               "role %s belongs to another AppDatabase", name);
	}
	return 0;
}

/*
 * Memberships of the admin in roles another resource's run took and never
 * gave back (that run died): revoked when no run holds memberships now,
 * which the exclusive memberships lock proves; otherwise left for a later
 * run. Those in this resource's own roles are the plan's to give back.
 */
static int step_stale_memberships(struct rec *r)
{
	struct sql_quote q;
	struct err err = {0};
	char *sql = NULL;
	size_t i, n = 0;
	int got = 0, rc = 0;

	if (r->mode == ENGINE_PLAN)
		return 0;
	for (i = 0; i < r->obs.n_roles; i++) {
		const struct obs_role *role = &r->obs.roles[i];

		n += role->admin_member && plan_marker_match(role->comment, &r->desired, NULL) == 3;
	}
	if (n == 0)
		return 0;
	if (pg_memberships_try_exclusive(r->admin, &got, &err) != 0 || !got) {
		log_info(&r->log, "%zu membership(s) of the admin left by another run: %s", n,
		         got ? err.msg : "a run holds memberships now; later");
		return 0;
	}
	q = pg_quoter(r->admin);
	for (i = 0; i < r->obs.n_roles && rc == 0; i++) {
		const struct obs_role *role = &r->obs.roles[i];

		if (!role->admin_member || plan_marker_match(role->comment, &r->desired, NULL) != 3)
			continue;
		if ((rc = sql_admin_revoke(&sql, role->name, r->obs.admin, &q)) != 0)
			break;
		rc = run_sql(r, r->admin, sql, &err);
		free(sql);
		sql = NULL;
		if (rc == 0)
			log_info(&r->log, "revoked %s from %s (left by an interrupted run)",
			         role->name, r->obs.admin);
	}
	pg_memberships_release_exclusive(r->admin, NULL);
	if (rc == APPDB_ENOMEM)
		return rc;
	if (rc != 0)
		log_warn(&r->log, "could not give back a membership left by another run: %s",
		         err.msg);
	return 0;
}

/* Observes inside the application database when it exists. */
static int step_observe_database(struct rec *r)
{
	struct err err = {0};
	int rc;

	if (!r->obs.db_exists || !r->obs.db_allow_connections ||
	    !(observed_has(&r->obs, "db:CONNECT:%s", r->obs.admin) ||
	      observed_has(&r->obs, "db:CONNECT:PUBLIC")))
		return 0; /* not open to the admin yet (an interrupted first run) */
	rc = connect_admin(r, &r->target, r->db->db_name, &err);
	if (rc == APPDB_EFORBIDDEN || rc == APPDB_ENOTFOUND) {
		/* Closed since the observation: plan everything there. */
		log_info(&r->log, "cannot observe inside database %s yet: %s", r->db->db_name,
		         err.msg);
		return 0;
	}
	if (rc != 0)
		return unreachable(r, rc, &err);
	rc = pg_observe_target(&r->obs, r->target, &r->desired, &err);
	if (rc != 0)
		return rc == APPDB_ETRANSIENT
		           ? unreachable(r, rc, &err)
		           : outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED, "%s", err.msg);
	return 0;
}

/*
 * Decides which existing users need their password set: when the source has
 * a version, a different version than the role records; without one, when a
 * login probe with the password fails.
 */
static int step_passwords(struct rec *r)
{
	size_t i;

	for (i = 0; r->mode != ENGINE_DISABLE && i < r->db->n_users; i++) {
		struct desired_user *u = &r->dusers[i];
		const struct obs_role *role = observed_role(&r->obs, u->name);
		struct pg_params p = {0};
		struct err err = {0};
		int ok = 0;

		if (role == NULL)
			continue; /* created with its password */
		if (u->password_version != NULL) {
			json_t *c = json_loads(role->comment, 0, NULL);
			const char *pv = json_string_value(json_object_get(c, "passwordVersion"));

			u->set_password = pv == NULL || strcmp(pv, u->password_version) != 0;
			json_decref(c);
			continue;
		}
		p.host = r->inst->host;
		p.port = r->inst->port;
		p.dbname = r->obs.db_exists ? r->db->db_name : r->inst->admin_database;
		p.user = u->name;
		p.password = r->user_pw[i].value;
		p.sslmode = r->inst->ssl_mode;
		p.sslrootcert = r->inst->ssl_root_cert;
		p.application_name = r->app_name;
		p.statement_timeout = r->inst->statement_timeout_seconds;
		p.lock_timeout = r->eng->cfg->lock_timeout_seconds;
		if (pg_probe_login(&ok, &p, &err) != 0) {
			log_warn(&r->log, "could not check the password of %s: %s", u->name,
			         err.msg);
			continue;
		}
		u->set_password = !ok;
	}
	return 0;
}

static int step_plan(struct rec *r)
{
	return plan_build(&r->plan, &r->desired, &r->obs);
}

/* Before the first change: does the admin have what the plan needs? */
static int step_preflight(struct rec *r)
{
	size_t i;
	int roles = 0, passwords = 0, database = 0;

	if (r->plan.n == 0 || r->awaiting || r->mode == ENGINE_PLAN)
		return 0;
	for (i = 0; i < r->plan.n; i++) {
		enum action_kind k = r->plan.items[i].kind;

		roles |= k == ACT_CREATE_ROLE || k == ACT_ALTER_ROLE || k == ACT_GRANT_ROLE ||
		         k == ACT_REVOKE_ROLE || k == ACT_SET_PASSWORD;
		passwords |=
		    k == ACT_SET_PASSWORD || (k == ACT_CREATE_ROLE && r->plan.items[i].login == 1);
		database |= k == ACT_CREATE_DATABASE;
	}
	roles |= r->plan.n_admin_roles > 0;
	for (i = 0; i < r->plan.n; i++) {
		const char *trigger = observed_rest(&r->obs, "evtrigger:");

		if (r->plan.items[i].target_db && trigger != NULL)
			return outcome(
			    r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
			    "database %s has an event trigger whose function a "
			    "non-superuser can change (name:owner %s); the operator runs "
			    "no statement there that would fire it",
			    r->db->db_name, trigger);
	}
	if (roles && !r->obs.admin_createrole)
		return outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
		               "the admin role %s lacks CREATEROLE, which managing roles needs",
		               r->obs.admin);
	if (database && !r->obs.admin_createdb)
		return outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
		               "the admin role %s lacks CREATEDB, which creating database %s needs",
		               r->obs.admin, r->db->db_name);
	if (passwords && r->obs.restrict_password && !r->obs.admin_rds_password)
		return outcome(r, RESULT_FAILED, REASON_PROVISIONING_FAILED,
		               "rds.restrict_password_commands is on and the admin role %s is not "
		               "a member of rds_password",
		               r->obs.admin);
	return 0;
}

/* Runs one statement; test builds honour the kill failpoint of the crash tests. */
static int run_sql(struct rec *r, PGconn *conn, const char *sql, struct err *err)
{
	int rc = pg_exec(conn, sql, err);

#ifdef APPDB_FAILPOINTS
	if (rc == 0 && r->eng->kill_after > 0 && ++r->eng->statements >= r->eng->kill_after)
		raise(SIGKILL);
#endif
	return rc;
}

/* The password of the spec user named name, or NULL. */
static const char *password_of(struct rec *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->db->n_users; i++)
		if (strcmp(r->db->users[i].name, name) == 0)
			return r->user_pw[i].value;
	return NULL;
}

/* Executes one action on the right connection. */
static int apply_action(struct rec *r, const struct action *a, int *granted, int *skipped,
                        struct err *err)
{
	struct sql_quote q;
	char *verifier = NULL, *sql = NULL, *tmp = NULL;
	PGconn *conn = r->admin;
	size_t i;
	int rc = 0, applied = 1;

	if ((a->db != NULL || a->target_db) && !*granted) {
		/*
		 * Take the memberships the database work needs, for this run only,
		 * under the shared memberships lock so that no other run takes
		 * them away meanwhile (step_stale_memberships).
		 */
		if ((rc = pg_memberships_share(r->admin, err)) != 0)
			return rc;
		*granted = 1;
		q = pg_quoter(r->admin);
		for (i = 0; i < r->plan.n_admin_roles && rc == 0; i++) {
			rc = sql_admin_grant(&tmp, r->plan.admin_roles[i], r->obs.admin,
			                     r->obs.server_version, &q);
			if (rc == 0)
				rc = run_sql(r, r->admin, tmp, err);
			free(tmp);
			tmp = NULL;
		}
		if (rc != 0)
			return rc;
	}
	if (a->target_db) {
		if (r->target == NULL &&
		    (rc = connect_admin(r, &r->target, r->db->db_name, err)) != 0)
			return rc;
		conn = r->target;
	}
	if (a->kind == ACT_SET_PASSWORD || (a->kind == ACT_CREATE_ROLE && a->login == 1)) {
		const char *pw = password_of(r, a->role);

		if (pw == NULL)
			return err_set(err, APPDB_EINTERNAL, "no password for %s", a->role);
		if ((rc = pg_verifier(&verifier, r->admin, a->role, pw, err)) != 0)
			return rc;
	}
	q = pg_quoter(conn);
	rc = sql_render(&sql, a, r->obs.server_version, verifier, &q);
	if (rc != 0)
		err_set(err, rc, "could not render the statement");
	else if (!a->may_not_apply)
		rc = run_sql(r, conn, sql, err);
	else if ((rc = pg_acts_as_schema_owner(conn, a->schema, &applied, err)) == 0) {
		/*
		 * A new database before 15: its public belongs to whoever owns
		 * template1's. A statement that could not take effect is not run
		 * (the server would only warn); one that ran may still say so.
		 */
		if (applied)
			rc = pg_exec_applied(conn, sql, &applied, err);
		if (rc == 0 && !applied) {
			*skipped = 1;
			if (a->warning != NULL)
				rc = plan_warn(&r->plan, a->warning);
		}
	}
	free_secret_str(verifier);
	free_secret_str(sql);
	return rc;
}

/* Gives back every membership the admin took or an earlier run left. */
static int give_back_memberships(struct rec *r, int granted, struct err *err)
{
	struct sql_quote q = pg_quoter(r->admin);
	char *sql = NULL;
	size_t i;
	int rc = 0, first = 0;

	for (i = 0; granted && i < r->plan.n_admin_roles; i++) {
		if (sql_admin_revoke(&sql, r->plan.admin_roles[i], r->obs.admin, &q) != 0)
			return APPDB_ENOMEM;
		rc = run_sql(r, r->admin, sql, err);
		first = first != 0 ? first : rc;
		free(sql);
	}
	if (granted && first == 0)
		first = pg_memberships_unshare(r->admin, err);
	for (i = 0; i < r->plan.n; i++) {
		struct action *a = &r->plan.items[i];
		size_t j;
		int done = 0;

		if (a->kind != ACT_DROP_ADMIN_MEMBERSHIP)
			continue;
		for (j = 0; granted && j < r->plan.n_admin_roles; j++)
			done |= strcmp(r->plan.admin_roles[j], a->role) == 0;
		a->done = done;
		if (done)
			continue;
		if (sql_admin_revoke(&sql, a->role, r->obs.admin, &q) != 0)
			return APPDB_ENOMEM;
		rc = run_sql(r, r->admin, sql, err);
		a->done = rc == 0;
		first = first != 0 ? first : rc;
		free(sql);
	}
	return first;
}

static int step_apply(struct rec *r)
{
	struct err err = {0};
	size_t i;
	int granted = 0, skipped, rc = 0, rc2;

	if (!applies(r) && take_actions(r) != 0)
		return APPDB_ENOMEM;
	if (r->awaiting)
		return outcome(r, RESULT_BLOCKED, REASON_AWAITING_APPROVAL,
		               "generation %lld needs approval: set the annotations %s=%lld and %s",
		               r->db->generation, ANNOTATION_APPROVED_GENERATION, r->db->generation,
		               ANNOTATION_APPROVED_BY);
	if (r->plan.n == 0 || r->mode == ENGINE_PLAN)
		return 0;
	for (i = 0; i < r->plan.n && rc == 0; i++) {
		struct action *a = &r->plan.items[i];

		if (a->kind == ACT_DROP_ADMIN_MEMBERSHIP)
			continue;
		skipped = 0;
		rc = apply_action(r, a, &granted, &skipped, &err);
		if (rc != 0) {
			err_wrap(&err, rc, "%s", a->text);
		} else if (!skipped) {
			a->done = 1;
			log_info(&r->log, "%s", a->text);
		}
	}
	rc2 = give_back_memberships(r, granted, rc == 0 ? &err : NULL);
	if (rc == 0)
		rc = rc2;
	if (rc == APPDB_ENOMEM || take_actions(r) != 0)
		return APPDB_ENOMEM;
	if (rc != 0) {
		if (rc == APPDB_ETRANSIENT)
			drop_admin(r);
		/* A timeout (a tenant holding a lock) is retried like any failure. */
		return outcome(r, RESULT_FAILED,
		               rc == APPDB_ETRANSIENT ? REASON_DB_UNREACHABLE
		                                      : REASON_PROVISIONING_FAILED,
		               "%s%s", err.msg, rc == APPDB_ETIMEOUT ? " (will retry)" : "");
	}
	return 0;
}

static const struct step {
	const char *name;
	int (*run)(struct rec *r);
} STEPS[] = {
    {"validate", step_validate},
    {"resolve instance", step_instance},
    {"environment gate", step_environment},
    {"approval gate", step_approval},
    {"read secrets", step_secrets},
    {"connect", step_connect},
    {"lock", step_lock},
    {"observe", step_observe},
    {"guardrails", step_guardrails},
    {"stale memberships", step_stale_memberships},
    {"observe database", step_observe_database},
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

/* One audit record: the database's (user NULL) or one user's. */
static json_t *audit_record(struct rec *r, const char *user)
{
	const struct run_result *o = r->out;
	json_t *rec, *actions = json_array();
	char resource[320];
	size_t i;

	for (i = 0; i < r->plan.n; i++) {
		const struct action *a = &r->plan.items[i];

		if (!reported(r, a))
			continue;
		if ((user == NULL && a->user == NULL) ||
		    (user != NULL && a->user != NULL && strcmp(a->user, user) == 0))
			json_array_append_new(actions, json_string(a->text));
	}
	snprintf(resource, sizeof(resource), "%s/%s", r->db->ns ? r->db->ns : "",
	         r->db->name ? r->db->name : "");
	rec = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:s, s:s?, s:I, s:s?, s:s?, s:o, s:s, s:s?, "
	                "s:s?}",
	                "ts", o->finished_at, "runId", o->run_id, "buildId", o->build_id,
	                "environment", r->eng->cfg->environment, "instance", r->db->instance,
	                "resource", resource, "uid", r->db->uid, "generation",
	                (json_int_t)r->db->generation, "database", r->db->db_name, "user", user,
	                "actions", actions, "result", run_result_name(o->result), "reason",
	                o->reason, "approvedBy", r->db->approved_by);
	if (rec != NULL && o->message != NULL && o->result != RESULT_CHANGED &&
	    o->result != RESULT_UNCHANGED)
		json_object_set_new(rec, "message", json_string(o->message));
	if (rec != NULL && user == NULL && o->n_warnings > 0) {
		json_t *w = json_array();

		for (i = 0; i < o->n_warnings; i++)
			json_array_append_new(w, json_string(o->warnings[i]));
		json_object_set_new(rec, "warnings", w);
	}
	return rec;
}

/* Writes one record per database and per user when the run changed or refused. */
static void write_audit(struct rec *r)
{
	struct err err = {0};
	size_t i;

	if (r->eng->audit == NULL || r->out->result == RESULT_UNCHANGED || r->mode == ENGINE_PLAN)
		return;
	for (i = 0; i <= r->db->n_users + r->desired.n_retired; i++) {
		const char *user = i == 0                ? NULL
		                   : i <= r->db->n_users ? r->db->users[i - 1].name
		                                         : r->retired[i - 1 - r->db->n_users];
		json_t *rec;

		if (i > 0 && user == NULL)
			continue;
		rec = audit_record(r, user);
		if (rec == NULL || audit_write(r->eng->audit, rec, &err) != 0)
			log_error(&r->log, "could not write the audit record: %s",
			          rec == NULL ? "out of memory" : err.msg);
		json_decref(rec);
	}
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
		drop_admin(r);
	PQfinish(r->target);
	r->target = NULL;
	if (take_warnings(r) != 0)
		log_error(&r->log, "out of memory");
	if (!r->done) {
		r->out->result = r->plan.n == 0 ? RESULT_UNCHANGED : RESULT_CHANGED;
		r->out->reason = REASON_PROVISIONED;
		r->out->ready = r->mode != ENGINE_PLAN || r->plan.n == 0;
		free(r->out->message);
		r->out->message = ready_message(r);
	}
	clock_format_now(r->out->finished_at, sizeof(r->out->finished_at));
	fill_users(r);
	write_audit(r);
	secret_clear(&r->admin_pw);
	for (i = 0; r->user_pw != NULL && i < r->db->n_users; i++)
		secret_clear(&r->user_pw[i]);
	free(r->user_pw);
	free(r->dusers);
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
			outcome(&r, RESULT_FAILED, REASON_PROVISIONING_FAILED, "%s: %s",
			        STEPS[i].name, err_name(rc));
	}
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

	outcome(&r, RESULT_INVALID, REASON_INVALID_SPEC, "invalid spec: %s", problems);
	run_finish(&r);
	log_warn(&r.log, "Invalid: %s", out->message ? out->message : "");
	return rc;
}

int engine_record_deletion(struct run_result *out, struct engine *eng, const struct appdb *db)
{
	struct rec r;
	int rc = run_start(&r, eng, db, out, ENGINE_APPLY);

	outcome(&r, RESULT_UNCHANGED, REASON_PROVISIONED,
	        "AppDatabase deleted; database %s and its roles are kept",
	        db->db_name != NULL ? db->db_name : "");
	r.out->result = RESULT_UNCHANGED;
	run_finish(&r);
	if (eng->audit != NULL) {
		json_t *rec = audit_record(&r, NULL);
		struct err err = {0};

		json_object_set_new(rec, "result", json_string("Deleted"));
		json_object_set_new(rec, "message", json_string(out->message ? out->message : ""));
		if (audit_write(eng->audit, rec, &err) != 0)
			log_error(&r.log, "could not write the audit record: %s", err.msg);
		json_decref(rec);
	}
	return rc;
}
