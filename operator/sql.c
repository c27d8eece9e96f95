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
	if (a->login == 1 && !a->no_password) {
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

/* 1 when privs is a ", "-joined list of names from allowed (nothing else reaches SQL). */
static int privs_ok(const char *privs, const char *const *allowed)
{
	const char *p = privs;

	if (privs == NULL || privs[0] == '\0')
		return 0;
	while (*p != '\0') {
		const char *const *w;
		size_t n = strcspn(p, ",");
		int ok = 0;

		for (w = allowed; *w != NULL; w++)
			ok |= strlen(*w) == n && strncmp(*w, p, n) == 0;
		if (!ok)
			return 0;
		p += n;
		if (*p == ',') {
			if (p[1] != ' ')
				return 0;
			p += 2;
		}
	}
	return 1;
}

/* 1 when name is one of the settings a user may have. */
static int setting_ok(const char *name)
{
	const char *const *k;

	for (k = ACCESS_SETTING_KEYS; name != NULL && *k != NULL; k++)
		if (strcmp(*k, name) == 0)
			return 1;
	return 0;
}

/*
 * The value of SET name = ...: a literal, except search_path, which is its
 * comma-separated names each quoted as an identifier ("a", "b"), so that it
 * is stored as the list it reads as.
 */
static int setting_value(char **out, const char *name, const char *value, const struct sql_quote *q)
{
	char *acc = NULL, *one = NULL, *part = NULL, *next;
	const char *p = value;
	int rc = 0;

	if (strcmp(name, "search_path") != 0) {
		*out = q->literal(q->ctx, value);
		return *out != NULL ? 0 : APPDB_ENOMEM;
	}
	*out = NULL;
	while (rc == 0) {
		size_t n = strcspn(p, ",");

		while (*p == ' ') {
			p++;
			n--;
		}
		if ((part = strndup(p, n)) == NULL || (one = q->ident(q->ctx, part)) == NULL) {
			rc = APPDB_ENOMEM;
			break;
		}
		rc = fmt(&next, "%s%s%s", acc != NULL ? acc : "", acc != NULL ? ", " : "", one);
		free(acc);
		acc = next;
		free(one);
		free(part);
		one = part = NULL;
		p += n;
		if (*p == '\0')
			break;
		p++;
	}
	free(one);
	free(part);
	if (rc != 0)
		free(acc);
	else
		*out = acc;
	return rc;
}

/* The statements of DESIGN 11.3's actions (plan_access.c). */
static int render_access(char **out, const struct action *a, const struct sql_quote *q)
{
	static const char *const db_privs[] = {"TEMPORARY", "CREATE", NULL};
	static const char *const schema_privs[] = {"CREATE", NULL};
	struct qnames n = {0};
	char *lit = NULL;
	int rc = 0;

	switch (a->kind) {
	case ACT_GRANT_DB_PRIVS:
	case ACT_REVOKE_DB_PRIVS:
		if (!privs_ok(a->privs, db_privs)) {
			rc = APPDB_EINTERNAL;
			break;
		}
		/* No grantee: PUBLIC (revoked only). */
		if ((rc = qident(&n, 0, a->db, q)) != 0 ||
		    (a->other == NULL && a->kind == ACT_GRANT_DB_PRIVS) ||
		    (a->other != NULL && (rc = qident(&n, 1, a->other, q)) != 0)) {
			rc = rc != 0 ? rc : APPDB_EINTERNAL;
			break;
		}
		rc = fmt(out, "%s %s ON DATABASE %s %s %s",
		         a->kind == ACT_GRANT_DB_PRIVS ? "GRANT" : "REVOKE", a->privs, n.v[0],
		         a->kind == ACT_GRANT_DB_PRIVS ? "TO" : "FROM",
		         a->other != NULL ? n.v[1] : "PUBLIC");
		break;
	case ACT_GRANT_SCHEMA_PRIVS:
	case ACT_REVOKE_SCHEMA_PRIVS:
		if (!privs_ok(a->privs, schema_privs)) {
			rc = APPDB_EINTERNAL;
			break;
		}
		if ((rc = qident(&n, 0, a->schema, q)) != 0 ||
		    (rc = qident(&n, 1, a->other, q)) != 0)
			break;
		rc = fmt(out, "%s %s ON SCHEMA %s %s %s",
		         a->kind == ACT_GRANT_SCHEMA_PRIVS ? "GRANT" : "REVOKE", a->privs, n.v[0],
		         a->kind == ACT_GRANT_SCHEMA_PRIVS ? "TO" : "FROM", n.v[1]);
		break;
	case ACT_VALID_UNTIL:
		if ((rc = qident(&n, 0, a->role, q)) != 0)
			break;
		if (a->comment == NULL || (lit = q->literal(q->ctx, a->comment)) == NULL) {
			rc = a->comment == NULL ? APPDB_EINTERNAL : APPDB_ENOMEM;
			break;
		}
		rc = fmt(out, "ALTER ROLE %s VALID UNTIL %s", n.v[0], lit);
		break;
	case ACT_SET_SETTING:
	case ACT_RESET_SETTING:
		if (!setting_ok(a->other)) {
			rc = APPDB_EINTERNAL;
			break;
		}
		if ((rc = qident(&n, 0, a->role, q)) != 0 || (rc = qident(&n, 1, a->db, q)) != 0 ||
		    (rc = qident(&n, 2, a->other, q)) != 0)
			break;
		if (a->kind == ACT_RESET_SETTING) {
			rc = fmt(out, "ALTER ROLE %s IN DATABASE %s RESET %s", n.v[0], n.v[1],
			         n.v[2]);
			break;
		}
		if (a->comment == NULL) {
			rc = APPDB_EINTERNAL;
			break;
		}
		if ((rc = setting_value(&lit, a->other, a->comment, q)) != 0)
			break;
		rc = fmt(out, "ALTER ROLE %s IN DATABASE %s SET %s = %s", n.v[0], n.v[1], n.v[2],
		         lit);
		break;
	case ACT_CREATE_EXTENSION:
		/* As the owner role, so that the tenant owns its extension, not the admin. */
		if ((rc = qident(&n, 0, a->other, q)) != 0 || (rc = qident(&n, 1, a->role, q)) != 0)
			break;
		if (a->schema != NULL && (rc = qident(&n, 2, a->schema, q)) != 0)
			break;
		rc = fmt(out, "SET ROLE %s; CREATE EXTENSION IF NOT EXISTS %s%s%s; RESET ROLE",
		         n.v[1], n.v[0], a->schema != NULL ? " SCHEMA " : "",
		         a->schema != NULL ? n.v[2] : "");
		break;
	default:
		rc = APPDB_EINTERNAL;
		break;
	}
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
	case ACT_GRANT_DB_PRIVS:
	case ACT_REVOKE_DB_PRIVS:
	case ACT_GRANT_SCHEMA_PRIVS:
	case ACT_REVOKE_SCHEMA_PRIVS:
	case ACT_VALID_UNTIL:
	case ACT_SET_SETTING:
	case ACT_RESET_SETTING:
	case ACT_CREATE_EXTENSION:
		return render_access(out, a, q);
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
