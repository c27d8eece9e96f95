/*
 * pg_observe_access.c - the observation of DESIGN section 11.3's state:
 * memberships in roles outside the resource, VALID UNTIL, per-database
 * settings, rds_iam, and extensions (available on the server, created in
 * the database). Names schema-qualified, operators included, as in
 * pg_observe.c.
 */
#include "pg.h"
#include "pg_int.h"

#include <stdlib.h>
#include <string.h>

/*
 * From the admin database. $1 the resource's roles (owner, users, retired),
 * $2 the database, $3 the roles the users may be members of (memberOf,
 * allowedRoles, rds_iam), $4 the extensions the spec names.
 */
static const char OBSERVE_ACCESS_SQL[] =
    "WITH mine AS (SELECT x.oid, x.rolname, x.rolvaliduntil FROM pg_catalog.pg_roles x "
    "               WHERE x.rolname" EQ "ANY ($1" NAMES ")) "
    "SELECT coalesce(pg_catalog.json_agg(f), '[]') FROM ( "
    "  SELECT pg_catalog.concat_ws(':', 'role', r.rolname) AS f FROM pg_catalog.pg_roles r "
    "   WHERE r.rolname" EQ "ANY ($3" NAMES ") "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'member', g.rolname, m.rolname) "
    "    FROM pg_catalog.pg_auth_members am "
    "    JOIN pg_catalog.pg_roles g ON g.oid" EQ "am.roleid "
    "    JOIN mine m ON m.oid" EQ "am.member "
    "   WHERE g.rolname" EQ "ANY ($3" NAMES ") "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'validuntil', m.rolname, "
    "         CASE WHEN pg_catalog.isfinite(m.rolvaliduntil) "
    "              THEN pg_catalog.floor(pg_catalog.date_part('epoch', m.rolvaliduntil))"
    "::pg_catalog.int8::pg_catalog.text "
    "              ELSE 'infinity' END) "
    "    FROM mine m WHERE m.rolvaliduntil IS NOT NULL "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'setting', m.rolname, c.c) "
    "    FROM pg_catalog.pg_db_role_setting s "
    "    JOIN mine m ON m.oid" EQ "s.setrole "
    "    JOIN pg_catalog.pg_database d ON d.oid" EQ "s.setdatabase, "
    "         pg_catalog.unnest(s.setconfig) AS c(c) "
    "   WHERE d.datname" EQ "$2 "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'iamheld', m.rolname) "
    "    FROM mine m, pg_catalog.pg_roles i "
    "   WHERE i.rolname" EQ "'rds_iam' AND pg_catalog.pg_has_role(m.oid, i.oid, 'MEMBER') "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'extavail', e.name) "
    "    FROM pg_catalog.pg_available_extensions() e "
    /* Read from the server's files: only when the spec names extensions. */
    "   WHERE pg_catalog.cardinality($4" TEXTS ") OPERATOR(pg_catalog.>) 0 "
    "     AND e.name" EQ "ANY ($4" TEXTS ")) facts";

/* Inside the database: the extensions of $1 that exist there. */
static const char OBSERVE_EXTENSIONS_SQL[] =
    "SELECT coalesce(pg_catalog.json_agg(pg_catalog.concat_ws(':', 'ext', e.extname)), '[]') "
    "  FROM pg_catalog.pg_extension e WHERE e.extname" EQ "ANY ($1" TEXTS ")";

/*
 * Runs one of the queries above with n text[] parameters and adds its facts;
 * the admin session's as a fixed statement (id), the target's once.
 */
static int observe(struct observed *o, PGconn *conn, enum pg_stmt id, const char *sql,
                   char *const *p, int n, struct err *err)
{
	const char *params[4];
	PGresult *res;
	int i, rc;

	for (i = 0; i < n; i++)
		if (p[i] == NULL)
			return APPDB_ENOMEM;
	for (i = 0; i < n; i++)
		params[i] = p[i];
	res = pg_exec_fixed(conn, id, sql, n, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		rc = err_wrap(err, pg_result_error(res, conn, err),
		              "could not observe memberships, settings and extensions");
	else
		rc = pg_facts_from_json(o, PQgetvalue(res, 0, 0), err);
	PQclear(res);
	return rc;
}

int pg_observe_access(struct observed *o, PGconn *conn, const struct desired *d, struct err *err)
{
	const char **roles = NULL, **others = NULL, **exts = NULL;
	size_t i, j, nr = 0, no = 0, ne = 0, n_member_of = 0;
	char *p[4] = {NULL, NULL, NULL, NULL};
	int rc;

	for (i = 0; i < d->n_users; i++)
		n_member_of += d->users[i].more != NULL ? d->users[i].more->n_member_of : 0;
	roles = calloc(d->n_users + d->n_retired + 1, sizeof(char *));
	others = calloc(n_member_of + d->n_allowed_roles + 1, sizeof(char *));
	exts = calloc(d->n_extensions + 1, sizeof(char *));
	if (roles == NULL || others == NULL || exts == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	roles[nr++] = d->owner;
	for (i = 0; i < d->n_users; i++) {
		const struct user_access *m = d->users[i].more;

		roles[nr++] = d->users[i].name;
		for (j = 0; m != NULL && j < m->n_member_of; j++)
			others[no++] = m->member_of[j];
	}
	for (i = 0; i < d->n_retired; i++)
		roles[nr++] = d->retired[i];
	for (i = 0; i < d->n_allowed_roles; i++)
		others[no++] = d->allowed_roles[i];
	others[no++] = "rds_iam";
	for (i = 0; i < d->n_extensions; i++)
		exts[ne++] = d->extensions[i].name;
	p[0] = pg_array_literal(roles, nr);
	p[1] = strdup(d->db_name);
	p[2] = pg_array_literal(others, no);
	p[3] = pg_array_literal(exts, ne);
	rc = observe(o, conn, PG_STMT_OBSERVE_ACCESS, OBSERVE_ACCESS_SQL, p, 4, err);
out:
	for (i = 0; i < 4; i++)
		free(p[i]);
	free(roles);
	free(others);
	free(exts);
	return rc;
}

int pg_observe_extensions(struct observed *o, PGconn *conn, const struct desired *d,
                          struct err *err)
{
	const char **exts;
	char *p[1];
	size_t i;
	int rc;

	if (d->n_extensions == 0)
		return 0;
	if ((exts = calloc(d->n_extensions, sizeof(char *))) == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < d->n_extensions; i++)
		exts[i] = d->extensions[i].name;
	p[0] = pg_array_literal(exts, d->n_extensions);
	rc = observe(o, conn, PG_STMT_NONE, OBSERVE_EXTENSIONS_SQL, p, 1, err);
	free(p[0]);
	free(exts);
	return rc;
}
