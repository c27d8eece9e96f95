/*
 * pg.c - libpq: connections, the advisory locks, execution, password verifiers;
 * the observation queries are in pg_observe.c.
 */
#include "pg.h"
#include "pg_int.h"

#include "clock.h"

#include <errno.h>
#include <libpq-events.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define LOCK_CLASS 0x61706462             /* "apdb": the advisory lock namespace */
#define LOCK_CLASS_MEMBERSHIPS 0x61706d62 /* "apmb": the admin's memberships */

/*
 * Which fixed statements a session has prepared: a bit per enum pg_stmt,
 * kept with the connection by libpq (PQinstanceData) and cleared when libpq
 * resets it or freed when it is finished.
 */
static int prepared_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNRESET) {
		unsigned *bits = PQinstanceData(((PGEventConnReset *)info)->conn, prepared_event);

		if (bits != NULL)
			*bits = 0;
	} else if (id == PGEVT_CONNDESTROY) {
		free(PQinstanceData(((PGEventConnDestroy *)info)->conn, prepared_event));
	}
	return 1;
}

static unsigned *prepared_bits(PGconn *conn)
{
	unsigned *bits = PQinstanceData(conn, prepared_event);

	if (bits != NULL)
		return bits;
	if (!PQregisterEventProc(conn, prepared_event, "appdb prepared statements", NULL))
		return NULL;
	if ((bits = calloc(1, sizeof(*bits))) != NULL &&
	    !PQsetInstanceData(conn, prepared_event, bits)) {
		free(bits);
		bits = NULL;
	}
	return bits;
}

PGresult *pg_exec_fixed(PGconn *conn, enum pg_stmt id, const char *sql, int n,
                        const char *const *params)
{
	unsigned *bits = id != PG_STMT_NONE ? prepared_bits(conn) : NULL;
	char name[32];
	PGresult *res;
	const char *state;

	_Static_assert(PG_STMT_COUNT <= 32, "a bit per fixed statement in an unsigned");
	if (bits == NULL) /* not fixed, or out of memory: unprepared */
		return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	snprintf(name, sizeof(name), "appdb_fixed_%d", (int)id);
	if (*bits & (1u << id)) {
		res = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state == NULL ||
		    strcmp(state, "26000") != 0) /* not invalid_sql_statement_name */
			return res;
		PQclear(res);
		*bits &= ~(1u << id);
	}
	res = PQprepare(conn, name, sql, n, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return res;
	PQclear(res);
	*bits |= 1u << id;
	return PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
}

/* The project code of a SQLSTATE class (NULL: no SQLSTATE, the connection broke). */
static int sqlstate_code(const char *state)
{
	if (state == NULL)
		return APPDB_ETRANSIENT;
	if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0)
		return APPDB_ETIMEOUT; /* statement_timeout, lock_timeout */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
	    strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0)
		return APPDB_ETRANSIENT; /* connection, shutdown, resources, deadlock */
	if (strcmp(state, "28P01") == 0)
		return APPDB_EUNAUTHORIZED; /* invalid_password */
	if (strcmp(state, "42501") == 0 || strncmp(state, "28", 2) == 0 ||
	    strcmp(state, "55000") == 0)
		return APPDB_EFORBIDDEN; /* no privilege, not permitted, not accepting connections
		                          */
	if (strcmp(state, "3D000") == 0)
		return APPDB_ENOTFOUND; /* invalid_catalog_name: no such database */
	return APPDB_EDB;
}

/* Maps a failed result to a project code and message (primary message only). */
int pg_result_error(const PGresult *res, PGconn *conn, struct err *err)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int code = sqlstate_code(state);

	if (PQstatus(conn) != CONNECTION_OK)
		code = APPDB_ETRANSIENT;
	if (primary == NULL)
		primary = PQstatus(conn) != CONNECTION_OK ? "connection lost" : "statement failed";
	return err_set(err, code, "%s%s%s%s", primary, state ? " (SQLSTATE " : "",
	               state ? state : "", state ? ")" : "");
}

int pg_alive(PGconn *conn)
{
	return conn != NULL && PQstatus(conn) == CONNECTION_OK &&
	       PQtransactionStatus(conn) == PQTRANS_IDLE;
}

/*
 * Reads a failed connection's message as libpq wrote it with verbose
 * errors: "...failed: SEVERITY:  SQLSTATE: primary\nLOCATION: ...". The
 * severity is translated, the SQLSTATE never is: it is the five characters
 * of [0-9A-Z] between ":  " and ": ". state gets it ("" when the server sent
 * none: a network or TLS failure); msg gets the text without it, first line.
 */
static void connection_failure(char state[6], char *msg, size_t len, const char *m)
{
	const char *p, *code = NULL;
	size_t n, i;

	state[0] = '\0';
	for (p = strstr(m, ":  "); p != NULL && code == NULL; p = strstr(p + 1, ":  ")) {
		for (i = 0; i < 5 && ((p[3 + i] >= '0' && p[3 + i] <= '9') ||
		                      (p[3 + i] >= 'A' && p[3 + i] <= 'Z'));
		     i++)
			;
		if (i == 5 && p[8] == ':' && p[9] == ' ')
			code = p + 3;
	}
	n = strcspn(m, "\n");
	if (code != NULL && (size_t)(code - m) < n) {
		memcpy(state, code, 5);
		state[5] = '\0';
		/* Drop "SQLSTATE: " from the text a person reads. */
		snprintf(msg, len, "%.*s%.*s", (int)(code - m), m,
		         (int)(n - (size_t)(code + 7 - m)), code + 7);
		return;
	}
	snprintf(msg, len, "%.*s", (int)n, m);
}

static void notice_quiet(void *arg, const PGresult *res);

/* Waits for PQconnectPoll's socket until deadline (clock_mono seconds). */
static int poll_until(PGconn *conn, PostgresPollingStatusType st, double deadline)
{
	struct pollfd pfd = {.fd = PQsocket(conn), .events = 0};
	double now;
	int rc;

	pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
	do {
		now = clock_mono();
		if (now >= deadline)
			return -1;
		rc = poll(&pfd, 1, (int)((deadline - now) * 1000) + 1);
	} while (rc < 0 && errno == EINTR);
	return rc > 0 ? 0 : -1;
}

/*
 * Connects like pg_connect; on failure state gets the SQLSTATE the server
 * sent ("" for none) and *used_password whether the server asked for the
 * password (so a refusal after it means the password was taken).
 */
static int connect_raw(PGconn **out, const struct pg_params *p, char state[6], int *used_password,
                       struct err *err)
{
	const char *keys[12];
	const char *vals[12];
	char port[16], options[256], msg[512];
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	double deadline;
	PGconn *conn;
	int i = 0, code;

	*out = NULL;
	state[0] = '\0';
	*used_password = 0;
	snprintf(port, sizeof(port), "%d", p->port);
	/*
	 * Settings the server applies before the first statement, above any
	 * ALTER DATABASE or ALTER ROLE ... SET a tenant made: no name resolves
	 * through a schema a tenant can write, the session runs as the login
	 * role, and no statement or lock wait runs unbounded. No JIT: the
	 * catalog queries are small, and compiling them cost more than running
	 * them (a tenant's jit_above_cost = 0 would make every check slow).
	 */
	snprintf(options, sizeof(options),
	         "-c search_path=pg_catalog,pg_temp -c role=none -c statement_timeout=%d "
	         "-c lock_timeout=%d -c idle_in_transaction_session_timeout=0 "
	         "-c default_transaction_read_only=off -c standard_conforming_strings=on "
	         "-c DateStyle=ISO -c TimeZone=UTC -c jit=off",
	         (p->statement_timeout > 0 ? p->statement_timeout : PG_DEFAULT_STATEMENT_TIMEOUT) *
	             1000,
	         (p->lock_timeout > 0 ? p->lock_timeout : PG_DEFAULT_LOCK_TIMEOUT) * 1000);
	keys[i] = "host", vals[i++] = p->host;
	keys[i] = "port", vals[i++] = port;
	keys[i] = "dbname", vals[i++] = p->dbname;
	keys[i] = "user", vals[i++] = p->user;
	if (p->password != NULL)
		keys[i] = "password", vals[i++] = p->password;
	keys[i] = "sslmode", vals[i++] = p->sslmode != NULL ? p->sslmode : "verify-full";
	if (p->sslrootcert != NULL)
		keys[i] = "sslrootcert", vals[i++] = p->sslrootcert;
	keys[i] = "application_name", vals[i++] = p->application_name;
	keys[i] = "options", vals[i++] = options;
	keys[i] = "client_encoding", vals[i++] = "UTF8";
	keys[i] = NULL, vals[i] = NULL;

	deadline = clock_mono() + (p->connect_timeout > 0 ? p->connect_timeout : 10);
	conn = PQconnectStartParams(keys, vals, 0);
	if (conn == NULL)
		return APPDB_ENOMEM;
	/* Verbose errors carry the SQLSTATE of a refused login, in every language. */
	PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	while (PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	       st != PGRES_POLLING_FAILED) {
		if (poll_until(conn, st, deadline) != 0) {
			PQfinish(conn);
			return err_set(
			    err, APPDB_ETRANSIENT,
			    "could not connect to %s:%d database %s as %s: timeout expired",
			    p->host, p->port, p->dbname, p->user);
		}
		st = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		connection_failure(state, msg, sizeof(msg), PQerrorMessage(conn));
		code = sqlstate_code(state[0] != '\0' ? state : NULL);
		/*
		 * 28000 after the server took a password is a refusal of a role
		 * that authenticated (NOLOGIN, or PAM for IAM tokens); before it,
		 * pg_hba.conf refused the connection, which says nothing of the
		 * credentials. 28P01 is a wrong password whatever the language.
		 */
		*used_password = PQconnectionUsedPassword(conn);
		if (strncmp(state, "28", 2) == 0 && strcmp(state, "28P01") != 0)
			code = *used_password ? APPDB_EFORBIDDEN : APPDB_ETRANSIENT;
		if (code == APPDB_EDB)
			code = APPDB_ETRANSIENT;
		PQfinish(conn);
		return err_set(err, code, "could not connect to %s:%d database %s as %s: %s",
		               p->host, p->port, p->dbname, p->user, msg);
	}
	PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
	PQsetNoticeReceiver(conn, notice_quiet, NULL);
	*out = conn;
	return 0;
}

int pg_connect(PGconn **out, const struct pg_params *p, struct err *err)
{
	char state[6];
	int used_password;

	return connect_raw(out, p, state, &used_password, err);
}

/* Notices of a statement that did nothing: 01006 privilege_not_revoked, 01007 not granted. */
static void notice_not_applied(void *arg, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state != NULL && (strcmp(state, "01006") == 0 || strcmp(state, "01007") == 0))
		*(int *)arg = 0;
}

/* Server notices are not the operator's output (a tenant can raise them). */
static void notice_quiet(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

int pg_exec_applied(PGconn *conn, const char *sql, int *applied, struct err *err)
{
	int rc;

	*applied = 1;
	PQsetNoticeReceiver(conn, notice_not_applied, applied);
	rc = pg_exec(conn, sql, err);
	PQsetNoticeReceiver(conn, notice_quiet, NULL);
	return rc;
}

int pg_acts_as_schema_owner(PGconn *conn, const char *schema, int *yes, struct err *err)
{
	const char *params[1] = {schema};
	PGresult *res;
	int rc = 0;

	*yes = 0;
	res = PQexecParams(conn,
	                   "SELECT pg_catalog.pg_has_role(CURRENT_USER, n.nspowner, 'USAGE') "
	                   "FROM pg_catalog.pg_namespace n WHERE n.nspname" EQ "$1",
	                   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_result_error(res, conn, err);
	else
		*yes = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return rc;
}

int pg_exec(PGconn *conn, const char *sql, struct err *err)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;

	if (res == NULL)
		return err_set(err, APPDB_ETRANSIENT, "connection lost");
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_result_error(res, conn, err);
	PQclear(res);
	return rc;
}

int pg_session_setup(PGconn *conn, const char *application_name, int lock_timeout_seconds,
                     struct err *err)
{
	const char *params[2];
	char timeout[32];
	PGresult *res;
	int rc = 0;

	snprintf(timeout, sizeof(timeout), "%ds", lock_timeout_seconds);
	params[0] = application_name;
	params[1] = timeout;
	res = PQexecParams(conn,
	                   "SELECT pg_catalog.set_config('application_name', $1, false), "
	                   "pg_catalog.set_config('lock_timeout', $2, false), "
	                   "pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)",
	                   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_result_error(res, conn, err);
	PQclear(res);
	return rc;
}

/* FNV-1a: a stable 32-bit key for a database name, the same in every runner. */
static int lock_key(const char *s)
{
	unsigned int h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return (int)h;
}

static int lock_call(PGconn *conn, const char *fn, const char *db_name, struct err *err)
{
	char k1[16], k2[16], sql[96];
	const char *params[2] = {k1, k2};
	PGresult *res;
	int rc = 0;

	snprintf(k1, sizeof(k1), "%d", LOCK_CLASS);
	snprintf(k2, sizeof(k2), "%d", lock_key(db_name));
	snprintf(sql, sizeof(sql), "SELECT pg_catalog.%s($1::pg_catalog.int4, $2::pg_catalog.int4)",
	         fn);
	res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_result_error(res, conn, err);
	PQclear(res);
	return rc;
}

int pg_lock(PGconn *conn, const char *db_name, struct err *err)
{
	int rc = lock_call(conn, "pg_advisory_lock", db_name, err);

	if (rc != 0)
		return err_wrap(err,
		                rc == APPDB_EDB || rc == APPDB_ETIMEOUT ? APPDB_ETRANSIENT : rc,
		                "could not take the advisory lock for database %s", db_name);
	return 0;
}

int pg_unlock(PGconn *conn, const char *db_name, struct err *err)
{
	return lock_call(conn, "pg_advisory_unlock", db_name, err);
}

/*
 * The lock that guards the admin's temporary memberships: a run holds it
 * shared while it holds memberships; revoking memberships that no run
 * holds needs it exclusively, so one run never takes away another's.
 */
static int membership_lock_call(PGconn *conn, const char *fn, int *got, struct err *err)
{
	char k1[16], sql[128];
	const char *params[1] = {k1};
	PGresult *res;
	int rc = 0;

	snprintf(k1, sizeof(k1), "%d", LOCK_CLASS_MEMBERSHIPS);
	snprintf(sql, sizeof(sql),
	         "SELECT pg_catalog.%s($1::pg_catalog.int4, 0::pg_catalog.int4)::pg_catalog.text",
	         fn);
	res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_result_error(res, conn, err);
	else if (got != NULL)
		*got = strcmp(PQgetvalue(res, 0, 0), "true") == 0;
	PQclear(res);
	return rc;
}

int pg_memberships_try_exclusive(PGconn *conn, int *got, struct err *err)
{
	*got = 0;
	return membership_lock_call(conn, "pg_try_advisory_lock", got, err);
}

int pg_memberships_release_exclusive(PGconn *conn, struct err *err)
{
	return membership_lock_call(conn, "pg_advisory_unlock", NULL, err);
}

int pg_memberships_share(PGconn *conn, struct err *err)
{
	return membership_lock_call(conn, "pg_advisory_lock_shared", NULL, err);
}

int pg_memberships_unshare(PGconn *conn, struct err *err)
{
	return membership_lock_call(conn, "pg_advisory_unlock_shared", NULL, err);
}

char *pg_array_literal(const char *const *names, size_t n)
{
	size_t len = 3, i;
	char *s, *p;

	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 3;
	if ((s = malloc(len)) == NULL)
		return NULL;
	p = s;
	*p++ = '{';
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s\"%s\"", i > 0 ? "," : "", names[i]);
	strcpy(p, "}");
	return s;
}

/* Builds a text[] literal from identifiers (already validated: [a-z0-9_]). */
int pg_verifier(char **out, PGconn *conn, const char *user, const char *password, struct err *err)
{
	char *v = PQencryptPasswordConn(conn, password, user, "scram-sha-256");

	*out = NULL;
	if (v == NULL)
		return err_set(err, APPDB_EDB, "could not make the password verifier for %s", user);
	*out = strdup(v);
	OPENSSL_cleanse(v, strlen(v));
	PQfreemem(v);
	return *out != NULL ? 0 : APPDB_ENOMEM;
}

int pg_probe_login(int *ok, const struct pg_params *p, struct err *err)
{
	PGconn *conn = NULL;
	struct err local = {0};
	char state[6];
	int used_password = 0, rc;

	*ok = 0;
	rc = connect_raw(&conn, p, state, &used_password, &local);
	if (rc == 0) {
		*ok = 1;
		PQfinish(conn);
		return 0;
	}
	if (strcmp(state, "28P01") == 0)
		return 0; /* the password was refused */
	/*
	 * The server asked for the password, then refused for another reason
	 * (no CONNECT, NOLOGIN, no such database, too many connections for the
	 * role): the password was taken.
	 */
	if (used_password && state[0] != '\0') {
		*ok = 1;
		return 0;
	}
	return err_set(err, APPDB_ETRANSIENT, "%s", local.msg);
}

static char *quote_ident(void *ctx, const char *s)
{
	char *q = PQescapeIdentifier((PGconn *)ctx, s, strlen(s));
	char *r;

	if (q == NULL)
		return NULL;
	r = strdup(q);
	PQfreemem(q);
	return r;
}

static char *quote_literal(void *ctx, const char *s)
{
	char *q = PQescapeLiteral((PGconn *)ctx, s, strlen(s));
	char *r;

	if (q == NULL)
		return NULL;
	r = strdup(q);
	OPENSSL_cleanse(q, strlen(q));
	PQfreemem(q);
	return r;
}

struct sql_quote pg_quoter(PGconn *conn)
{
	struct sql_quote q = {quote_ident, quote_literal, conn};

	return q;
}
