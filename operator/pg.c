/*
 * pg.c - libpq: connections, the advisory lock, observation, execution.
 */
#include "pg.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_CLASS 0x61706462 /* "apdb": the advisory lock namespace */

/* Maps a failed result to a project code and message (primary message only). */
static int result_error(const PGresult *res, PGconn *conn, struct err *err)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int code = APPDB_EDB;

	if (state == NULL || PQstatus(conn) != CONNECTION_OK)
		code = APPDB_ETRANSIENT;
	else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
	         strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0 ||
	         strcmp(state, "55P03") == 0)
		code = APPDB_ETRANSIENT;
	else if (strcmp(state, "42501") == 0)
		code = APPDB_EFORBIDDEN;
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

/* Trims libpq's multi-line connection error to its first line. */
static void first_line(char *out, size_t len, const char *msg)
{
	size_t n = strcspn(msg, "\n");

	if (n >= len)
		n = len - 1;
	memcpy(out, msg, n);
	out[n] = '\0';
}

int pg_connect(PGconn **out, const struct pg_params *p, struct err *err)
{
	const char *keys[12];
	const char *vals[12];
	char port[16], timeout[16], msg[512];
	PGconn *conn;
	int i = 0;

	*out = NULL;
	snprintf(port, sizeof(port), "%d", p->port);
	snprintf(timeout, sizeof(timeout), "%d", p->connect_timeout > 0 ? p->connect_timeout : 10);
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
	keys[i] = "connect_timeout", vals[i++] = timeout;
	keys[i] = "client_encoding", vals[i++] = "UTF8";
	keys[i] = NULL, vals[i] = NULL;

	conn = PQconnectdbParams(keys, vals, 0);
	if (conn == NULL)
		return APPDB_ENOMEM;
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *m = PQerrorMessage(conn);
		int code = APPDB_ETRANSIENT;

		if (strstr(m, "password authentication failed") != NULL ||
		    strstr(m, "PAM authentication failed") != NULL)
			code = APPDB_EUNAUTHORIZED;
		else if (strstr(m, "permission denied") != NULL)
			code = APPDB_EFORBIDDEN;
		first_line(msg, sizeof(msg), m);
		PQfinish(conn);
		return err_set(err, code, "could not connect to %s:%d database %s as %s: %s",
		               p->host, p->port, p->dbname, p->user, msg);
	}
	*out = conn;
	return 0;
}

int pg_exec(PGconn *conn, const char *sql, struct err *err)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;

	if (res == NULL)
		return err_set(err, APPDB_ETRANSIENT, "connection lost");
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = result_error(res, conn, err);
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
	                   "SELECT set_config('application_name', $1, false), "
	                   "set_config('lock_timeout', $2, false)",
	                   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = result_error(res, conn, err);
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
	snprintf(sql, sizeof(sql), "SELECT %s($1::int4, $2::int4)", fn);
	res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = result_error(res, conn, err);
	PQclear(res);
	return rc;
}

int pg_lock(PGconn *conn, const char *db_name, struct err *err)
{
	int rc = lock_call(conn, "pg_advisory_lock", db_name, err);

	if (rc != 0)
		return err_wrap(err, rc == APPDB_EDB ? APPDB_ETRANSIENT : rc,
		                "could not take the advisory lock for database %s", db_name);
	return 0;
}

int pg_unlock(PGconn *conn, const char *db_name, struct err *err)
{
	return lock_call(conn, "pg_advisory_unlock", db_name, err);
}

/* Builds a text[] literal from identifiers (already validated: [a-z0-9_]). */
static char *array_literal(const char *const *names, size_t n)
{
	size_t len = 3, i;
	char *s;

	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 3;
	s = malloc(len);
	if (s == NULL)
		return NULL;
	strcpy(s, "{");
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, "\"");
		strcat(s, names[i]);
		strcat(s, "\"");
	}
	strcat(s, "}");
	return s;
}

static const char OBSERVE_ADMIN_SQL[] =
    "SELECT current_setting('server_version_num')::int, current_user, "
    "  r.rolcreaterole, r.rolcreatedb, "
    "  coalesce(current_setting('rds.restrict_password_commands', true), 'off') IN ('on', 'true', "
    "'1'), "
    "  EXISTS (SELECT 1 FROM pg_roles p WHERE p.rolname = 'rds_password' "
    "          AND pg_has_role(current_user, p.oid, 'MEMBER')), "
    "  (SELECT coalesce(json_agg(json_build_object('name', x.rolname, 'login', x.rolcanlogin, "
    "          'connlimit', x.rolconnlimit, 'comment', shobj_description(x.oid, 'pg_authid'))), "
    "'[]') "
    "     FROM pg_roles x WHERE x.rolname = ANY($1::text[])), "
    "  (SELECT json_build_object('owner', pg_get_userbyid(d.datdba), "
    "          'comment', shobj_description(d.oid, 'pg_database')) "
    "     FROM pg_database d WHERE d.datname = $2), "
    "  (SELECT coalesce(json_agg(f), '[]') FROM ( "
    "     SELECT 'member:' || gr.rolname || ':' || mr.rolname AS f "
    "       FROM pg_auth_members am JOIN pg_roles gr ON gr.oid = am.roleid "
    "       JOIN pg_roles mr ON mr.oid = am.member "
    "      WHERE gr.rolname = ANY($1::text[]) "
    "        AND (mr.rolname = ANY($1::text[]) OR mr.rolname = current_user) "
    /* From 16 on an ADMIN-only grant (SET and INHERIT false) is no usable membership. */
    "        AND (coalesce((to_jsonb(am) ->> 'set_option')::bool, true) "
    "             OR coalesce((to_jsonb(am) ->> 'inherit_option')::bool, true)) "
    "     UNION ALL "
    "     SELECT 'db:' || a.privilege_type || ':' || "
    "            CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END "
    "       FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
    "      WHERE d.datname = $2) facts) "
    "FROM pg_roles r WHERE r.rolname = current_user";

/* Parses an observation column that holds a JSON array (new reference in *out). */
static int load_array(json_t **out, const char *text, struct err *err)
{
	*out = json_loads(text, 0, NULL);
	if (json_is_array(*out))
		return 0;
	json_decref(*out);
	*out = NULL;
	return err_set(err, APPDB_EINTERNAL, "unexpected observation result");
}

/* Adds each string of a JSON array text to o->facts. */
static int facts_from_json(struct observed *o, const char *text, struct err *err)
{
	json_t *arr, *v;
	size_t i;
	int rc = load_array(&arr, text, err);

	if (rc != 0)
		return rc;
	if (o->facts == NULL && (o->facts = json_object()) == NULL)
		rc = APPDB_ENOMEM;
	json_array_foreach (arr, i, v) {
		if (rc == 0 && json_is_string(v))
			rc = observed_add(o, json_string_value(v));
	}
	json_decref(arr);
	return rc;
}

static int roles_from_json(struct observed *o, const char *text, struct err *err)
{
	json_t *arr, *v;
	size_t i;
	int rc = load_array(&arr, text, err);

	if (rc != 0)
		return rc;
	o->roles = calloc(json_array_size(arr) + 1, sizeof(*o->roles));
	if (o->roles == NULL) {
		json_decref(arr);
		return APPDB_ENOMEM;
	}
	json_array_foreach (arr, i, v) {
		struct obs_role *r = &o->roles[o->n_roles];
		const char *c = json_string_value(json_object_get(v, "comment"));

		r->name = strdup(json_string_value(json_object_get(v, "name")));
		r->login = json_is_true(json_object_get(v, "login"));
		r->conn_limit = (int)json_integer_value(json_object_get(v, "connlimit"));
		r->comment = c != NULL ? strdup(c) : NULL;
		if (r->name == NULL || (c != NULL && r->comment == NULL)) {
			free(r->name);
			free(r->comment);
			rc = APPDB_ENOMEM;
			break;
		}
		o->n_roles++;
	}
	json_decref(arr);
	return rc;
}

int pg_observe_admin(struct observed *o, PGconn *conn, const struct desired *d, struct err *err)
{
	const char **names = NULL;
	const char *params[2];
	char *roles = NULL;
	PGresult *res = NULL;
	json_t *db = NULL;
	size_t i, n = 0;
	int rc = 0;

	names = calloc(d->n_users + 1, sizeof(*names));
	if (names == NULL)
		return APPDB_ENOMEM;
	names[n++] = d->owner;
	for (i = 0; i < d->n_users; i++)
		names[n++] = d->users[i].name;
	roles = array_literal(names, n);
	if (roles == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	params[0] = roles;
	params[1] = d->db_name;
	res = PQexecParams(conn, OBSERVE_ADMIN_SQL, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = err_wrap(err, result_error(res, conn, err), "could not observe the instance");
		goto out;
	}
	if (PQntuples(res) != 1) {
		rc = err_set(err, APPDB_EINTERNAL, "could not read the admin role's attributes");
		goto out;
	}
	o->server_version = atoi(PQgetvalue(res, 0, 0));
	o->admin = strdup(PQgetvalue(res, 0, 1));
	o->admin_createrole = PQgetvalue(res, 0, 2)[0] == 't';
	o->admin_createdb = PQgetvalue(res, 0, 3)[0] == 't';
	o->restrict_password = PQgetvalue(res, 0, 4)[0] == 't';
	o->admin_rds_password = PQgetvalue(res, 0, 5)[0] == 't';
	if (o->admin == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	if ((rc = roles_from_json(o, PQgetvalue(res, 0, 6), err)) != 0)
		goto out;
	if (!PQgetisnull(res, 0, 7)) {
		const char *c;

		db = json_loads(PQgetvalue(res, 0, 7), 0, NULL);
		o->db_exists = 1;
		o->db_owner = strdup(json_string_value(json_object_get(db, "owner")));
		c = json_string_value(json_object_get(db, "comment"));
		o->db_comment = c != NULL ? strdup(c) : NULL;
	}
	rc = facts_from_json(o, PQgetvalue(res, 0, 8), err);
out:
	json_decref(db);
	PQclear(res);
	free(roles);
	free(names);
	return rc;
}

static const char OBSERVE_TARGET_SQL[] =
    "WITH s AS (SELECT oid, nspname, nspowner, nspacl FROM pg_namespace "
    "           WHERE nspname = ANY($1::text[])), "
    "objs AS (SELECT c.oid, s.nspname, CASE WHEN c.relkind = 'S' THEN 'S' ELSE 'r' END AS kind, "
    "                c.relacl, c.relowner "
    "           FROM pg_class c JOIN s ON c.relnamespace = s.oid "
    "          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
    "            AND pg_get_userbyid(c.relowner) = ANY($3::text[])), "
    "totals AS (SELECT nspname, kind, count(*) AS n FROM objs GROUP BY 1, 2), "
    "objpriv AS (SELECT o.nspname, o.kind, a.privilege_type AS priv, "
    "                   pg_get_userbyid(a.grantee) AS grantee, count(*) AS n "
    "              FROM objs o, aclexplode(coalesce(o.relacl, "
    "                   acldefault((CASE WHEN o.kind = 'S' THEN 's' ELSE 'r' END)::\"char\", "
    "o.relowner))) a "
    "             WHERE pg_get_userbyid(a.grantee) = ANY($2::text[]) GROUP BY 1, 2, 3, 4) "
    "SELECT coalesce(json_agg(f), '[]') FROM ( "
    "  SELECT 'schema:' || nspname AS f FROM s "
    "  UNION ALL SELECT 'schemapriv:' || s.nspname || ':' || a.privilege_type || ':' || "
    "         pg_get_userbyid(a.grantee) "
    "    FROM s, aclexplode(coalesce(s.nspacl, acldefault('n', s.nspowner))) a "
    "   WHERE a.grantee <> 0 AND pg_get_userbyid(a.grantee) = ANY($2::text[]) "
    "  UNION ALL SELECT 'objects:' || nspname || ':' || kind FROM totals "
    "  UNION ALL SELECT 'any:' || nspname || ':' || kind || ':' || priv || ':' || grantee "
    "    FROM objpriv "
    "  UNION ALL SELECT 'all:' || p.nspname || ':' || p.kind || ':' || p.priv || ':' || p.grantee "
    "    FROM objpriv p JOIN totals t ON t.nspname = p.nspname AND t.kind = p.kind "
    "   WHERE p.n = t.n "
    "  UNION ALL SELECT 'defacl:' || pg_get_userbyid(d.defaclrole) || ':' || n.nspname || ':' || "
    "         d.defaclobjtype::text || ':' || a.privilege_type || ':' || "
    "pg_get_userbyid(a.grantee) "
    "    FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, "
    "         aclexplode(d.defaclacl) a "
    "   WHERE n.nspname = ANY($1::text[]) AND pg_get_userbyid(d.defaclrole) = ANY($3::text[]) "
    "     AND a.grantee <> 0 AND pg_get_userbyid(a.grantee) = ANY($2::text[])) facts";

int pg_observe_target(struct observed *o, PGconn *conn, const struct desired *d, struct err *err)
{
	const char **grantees = NULL, **creators = NULL;
	const char *params[3] = {NULL, NULL, NULL};
	char *p[3] = {NULL, NULL, NULL};
	PGresult *res = NULL;
	size_t i, ng = 0, nc = 0;
	int rc = 0;

	grantees = calloc(d->n_users + 1, sizeof(char *));
	creators = calloc(d->n_users + 1, sizeof(char *));
	if (grantees == NULL || creators == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	creators[nc++] = d->owner;
	for (i = 0; i < d->n_users; i++) {
		if (d->users[i].access == ACCESS_OWNER)
			creators[nc++] = d->users[i].name;
		else
			grantees[ng++] = d->users[i].name;
	}
	p[0] = array_literal(d->schemas, d->n_schemas);
	p[1] = array_literal(grantees, ng);
	p[2] = array_literal(creators, nc);
	if (p[0] == NULL || p[1] == NULL || p[2] == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	for (i = 0; i < 3; i++)
		params[i] = p[i];
	res = PQexecParams(conn, OBSERVE_TARGET_SQL, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = err_wrap(err, result_error(res, conn, err), "could not observe database %s",
		              d->db_name);
		goto out;
	}
	rc = facts_from_json(o, PQgetvalue(res, 0, 0), err);
	if (rc == 0)
		o->target_observed = 1;
out:
	PQclear(res);
	for (i = 0; i < 3; i++)
		free(p[i]);
	free(grantees);
	free(creators);
	return rc;
}

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
	int rc;

	*ok = 0;
	rc = pg_connect(&conn, p, &local);
	if (rc == 0) {
		*ok = 1;
		PQfinish(conn);
		return 0;
	}
	if (rc == APPDB_EUNAUTHORIZED)
		return 0;
	/* Authentication passed, then the server refused the database or login. */
	if (strstr(local.msg, "permission denied for database") != NULL ||
	    strstr(local.msg, "is not permitted to log in") != NULL) {
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
