/*
 * sql.c - renders planned actions as SQL text, per server version.
 */
#include "sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG16 160000

/* Quoted names for one statement; freed together. */
struct qnames {
	char *v[4];
};

static void qnames_free(struct qnames *n)
{
	size_t i;

	for (i = 0; i < 4; i++)
		free(n->v[i]);
}

static int qident(struct qnames *n, int slot, const char *s, const struct sql_quote *q)
{
	if (s == NULL)
		return APPDB_EINTERNAL;
	n->v[slot] = q->ident(q->ctx, s);
	return n->v[slot] != NULL ? 0 : APPDB_ENOMEM;
}

static int fmt(char **out, const char *f, ...) __attribute__((format(printf, 2, 3)));

static int fmt(char **out, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vasprintf(out, f, ap);
	va_end(ap);
	if (n < 0) {
		*out = NULL;
		return APPDB_ENOMEM;
	}
	return 0;
}

static const char *objword(char t)
{
	return t == 'S' ? "SEQUENCES" : "TABLES";
}

static int render_create_role(char **out, const struct action *a, const char *verifier,
                              const struct sql_quote *q)
{
	struct qnames n = {0};
	char *pw = NULL, *comment = NULL, *limit = NULL;
	int rc;

	if ((rc = qident(&n, 0, a->role, q)) != 0)
		goto out;
	if (a->login == 1) {
		if (verifier == NULL) {
			rc = APPDB_EINTERNAL;
			goto out;
		}
		if ((pw = q->literal(q->ctx, verifier)) == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
	if ((comment = q->literal(q->ctx, a->comment)) == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	if ((rc = fmt(&limit, " CONNECTION LIMIT %d", a->conn_limit)) != 0)
		goto out;
	rc = fmt(out, "CREATE ROLE %s %s%s%s%s; COMMENT ON ROLE %s IS %s", n.v[0],
	         a->login == 1 ? "LOGIN" : "NOLOGIN", pw != NULL ? " PASSWORD " : "",
	         pw != NULL ? pw : "", a->conn_limit != -1 ? limit : "", n.v[0], comment);
out:
	free(pw);
	free(comment);
	free(limit);
	qnames_free(&n);
	return rc;
}

static int render_alter_role(char **out, const struct action *a, const struct sql_quote *q)
{
	struct qnames n = {0};
	char limit[48] = "";
	int rc;

	if ((rc = qident(&n, 0, a->role, q)) != 0)
		goto out;
	if (a->conn_limit != ACT_KEEP)
		snprintf(limit, sizeof(limit), " CONNECTION LIMIT %d", a->conn_limit);
	rc = fmt(out, "ALTER ROLE %s%s%s", n.v[0],
	         a->login == 1   ? " LOGIN"
	         : a->login == 0 ? " NOLOGIN"
	                         : "",
	         limit);
out:
	qnames_free(&n);
	return rc;
}

static int render_comment(char **out, const char *what, const char *name, const char *comment,
                          const struct sql_quote *q)
{
	struct qnames n = {0};
	char *lit = NULL;
	int rc;

	if ((rc = qident(&n, 0, name, q)) != 0)
		goto out;
	if ((lit = q->literal(q->ctx, comment)) == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	rc = fmt(out, "COMMENT ON %s %s IS %s", what, n.v[0], lit);
out:
	free(lit);
	qnames_free(&n);
	return rc;
}

int sql_render(char **out, const struct action *a, int server_version, const char *verifier,
               const struct sql_quote *q)
{
	struct qnames n = {0};
	char *lit = NULL;
	int rc = 0;

	*out = NULL;
	switch (a->kind) {
	case ACT_CREATE_ROLE:
		return render_create_role(out, a, verifier, q);
	case ACT_ALTER_ROLE:
		return render_alter_role(out, a, q);
	case ACT_SET_PASSWORD:
		if (verifier == NULL)
			return APPDB_EINTERNAL;
		if ((rc = qident(&n, 0, a->role, q)) != 0)
			break;
		if ((lit = q->literal(q->ctx, verifier)) == NULL) {
			rc = APPDB_ENOMEM;
			break;
		}
		rc = fmt(out, "ALTER ROLE %s PASSWORD %s", n.v[0], lit);
		break;
	case ACT_COMMENT_ROLE:
		return render_comment(out, "ROLE", a->role, a->comment, q);
	case ACT_CREATE_DATABASE:
		if ((rc = qident(&n, 0, a->db, q)) != 0 || (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		/* Closed until PUBLIC has lost CONNECT (ACT_ALLOW_CONNECTIONS opens it). */
		rc =
		    fmt(out, "CREATE DATABASE %s OWNER %s ALLOW_CONNECTIONS false", n.v[0], n.v[1]);
		break;
	case ACT_ALLOW_CONNECTIONS:
		if ((rc = qident(&n, 0, a->db, q)) != 0)
			break;
		rc = fmt(out, "ALTER DATABASE %s ALLOW_CONNECTIONS true", n.v[0]);
		break;
	case ACT_REASSIGN_OWNED:
		if ((rc = qident(&n, 0, a->role, q)) != 0 || (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "REASSIGN OWNED BY %s TO %s", n.v[0], n.v[1]);
		break;
	case ACT_REVOKE_CONNECT:
		if ((rc = qident(&n, 0, a->db, q)) != 0 || (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "REVOKE CONNECT ON DATABASE %s FROM %s", n.v[0], n.v[1]);
		break;
	case ACT_REVOKE_SCHEMA_USAGE:
		if ((rc = qident(&n, 0, a->schema, q)) != 0 ||
		    (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "REVOKE USAGE ON SCHEMA %s FROM %s", n.v[0], n.v[1]);
		break;
	case ACT_REVOKE_SCHEMA_PUBLIC:
		if ((rc = qident(&n, 0, a->schema, q)) != 0)
			break;
		rc = fmt(out, "REVOKE %s ON SCHEMA %s FROM PUBLIC", a->privs, n.v[0]);
		break;
	case ACT_COMMENT_DATABASE:
		return render_comment(out, "DATABASE", a->db, a->comment, q);
	case ACT_GRANT_CONNECT:
		if ((rc = qident(&n, 0, a->db, q)) != 0 || (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "GRANT CONNECT ON DATABASE %s TO %s", n.v[0], n.v[1]);
		break;
	case ACT_REVOKE_CONNECT_PUBLIC:
		if ((rc = qident(&n, 0, a->db, q)) != 0)
			break;
		rc = fmt(out, "REVOKE CONNECT ON DATABASE %s FROM PUBLIC", n.v[0]);
		break;
	case ACT_GRANT_ROLE:
		if ((rc = qident(&n, 0, a->role, q)) != 0 || (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "GRANT %s TO %s%s", n.v[0], n.v[1],
		         server_version >= PG16 ? " WITH INHERIT TRUE, SET TRUE" : "");
		break;
	case ACT_REVOKE_ROLE:
		if ((rc = qident(&n, 0, a->role, q)) != 0 || (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "REVOKE %s FROM %s", n.v[0], n.v[1]);
		break;
	case ACT_CREATE_SCHEMA:
		if ((rc = qident(&n, 0, a->schema, q)) != 0 ||
		    (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "CREATE SCHEMA IF NOT EXISTS %s AUTHORIZATION %s", n.v[0], n.v[1]);
		break;
	case ACT_GRANT_SCHEMA_USAGE:
		if ((rc = qident(&n, 0, a->schema, q)) != 0 ||
		    (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "GRANT USAGE ON SCHEMA %s TO %s", n.v[0], n.v[1]);
		break;
	case ACT_GRANT_ON_ALL:
	case ACT_REVOKE_ON_ALL:
		if ((rc = qident(&n, 0, a->schema, q)) != 0 ||
		    (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		if (a->kind == ACT_GRANT_ON_ALL)
			rc = fmt(out, "GRANT %s ON ALL %s IN SCHEMA %s TO %s", a->privs,
			         objword(a->objtype), n.v[0], n.v[1]);
		else
			rc = fmt(out, "REVOKE %s ON ALL %s IN SCHEMA %s FROM %s", a->privs,
			         objword(a->objtype), n.v[0], n.v[1]);
		break;
	case ACT_DEFAULT_GRANT:
	case ACT_DEFAULT_REVOKE:
		if ((rc = qident(&n, 0, a->role, q)) != 0 ||
		    (rc = qident(&n, 1, a->schema, q)) != 0 ||
		    (rc = qident(&n, 2, a->other, q)) != 0)
			break;
		if (a->kind == ACT_DEFAULT_GRANT)
			rc = fmt(out,
			         "ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT %s ON %s "
			         "TO %s",
			         n.v[0], n.v[1], a->privs, objword(a->objtype), n.v[2]);
		else
			rc = fmt(out,
			         "ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s REVOKE %s ON "
			         "%s FROM %s",
			         n.v[0], n.v[1], a->privs, objword(a->objtype), n.v[2]);
		break;
	case ACT_DROP_ADMIN_MEMBERSHIP:
		/* The executor gives memberships back itself; nothing to render. */
		rc = APPDB_EINTERNAL;
		break;
	}
	free(lit);
	qnames_free(&n);
	return rc;
}

int sql_admin_grant(char **out, const char *role, const char *admin, int server_version,
                    const struct sql_quote *q)
{
	struct qnames n = {0};
	int rc;

	*out = NULL;
	if ((rc = qident(&n, 0, role, q)) == 0 && (rc = qident(&n, 1, admin, q)) == 0)
		rc = fmt(out, "GRANT %s TO %s%s", n.v[0], n.v[1],
		         server_version >= PG16 ? " WITH INHERIT TRUE, SET TRUE" : "");
	qnames_free(&n);
	return rc;
}

int sql_admin_revoke(char **out, const char *role, const char *admin, const struct sql_quote *q)
{
	struct qnames n = {0};
	int rc;

	*out = NULL;
	if ((rc = qident(&n, 0, role, q)) == 0 && (rc = qident(&n, 1, admin, q)) == 0)
		rc = fmt(out, "REVOKE %s FROM %s", n.v[0], n.v[1]);
	qnames_free(&n);
	return rc;
}
