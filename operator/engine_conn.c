/*
 * engine_conn.c - the admin connection of each instance (kept open between runs,
 * read again when its secret may have rotated), the target database's own
 * connection, and the per-database lock.
 */
#include "engine_int.h"

#include "log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void rec_free_secret_str(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* Connects as the admin to dbname with this run's application_name. */
int rec_connect_admin(struct rec *r, PGconn **out, const char *dbname, struct err *err)
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
	rec_free_secret_str(pw);
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
	rc = rec_connect_admin(r, &ac->conn, r->inst->admin_database, err);
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
			rc = rec_connect_admin(r, &ac->conn, r->inst->admin_database, err);
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
void rec_drop_admin(struct rec *r)
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

int rec_unreachable(struct rec *r, int rc, const struct err *err)
{
	if (rc == APPDB_ENOMEM)
		return rc;
	if (r->awaiting) /* approval is what a person must act on first */
		return rec_outcome(r, RESULT_BLOCKED, REASON_AWAITING_APPROVAL,
		                   "generation %lld needs approval (pending actions unknown: %s)",
		                   r->db->generation, err->msg);
	return rec_outcome(r, RESULT_FAILED, REASON_DB_UNREACHABLE, "%s", err->msg);
}

int step_connect(struct rec *r)
{
	struct err err = {0};
	int rc = get_admin(r, &err);

	if (rc == 0)
		r->out->connected = 1;
	return rc != 0 ? rec_unreachable(r, rc, &err) : 0;
}

int step_lock(struct rec *r)
{
	struct err err = {0};
	int rc = pg_lock(r->admin, r->db->db_name, &err);

	if (rc != 0) {
		rec_drop_admin(r);
		return rec_unreachable(r, rc, &err);
	}
	r->locked = 1;
	return 0;
}

int engine_connect_admin(PGconn **out, struct engine *eng, const struct instance_config *inst,
                         const char *dbname, const char *app_name, struct err *err)
{
	struct rec r;
	int rc = 0;

	*out = NULL;
	memset(&r, 0, sizeof(r));
	r.eng = eng;
	r.inst = inst;
	snprintf(r.app_name, sizeof(r.app_name), "%s", app_name);
	if (!inst->iam_auth)
		rc = secret_resolve(&r.admin_pw, eng->resolver, &inst->admin_password, NULL,
		                    inst->admin_user, err);
	if (rc == 0)
		rc =
		    rec_connect_admin(&r, out, dbname != NULL ? dbname : inst->admin_database, err);
	secret_clear(&r.admin_pw);
	return rc;
}
