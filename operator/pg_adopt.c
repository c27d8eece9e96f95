/*
 * pg_adopt.c - whether a role made by hand may be adopted by a resource:
 * one query that reads what the role can do beyond the resource's own
 * database and roles. Every name is schema-qualified, like pg_observe.c.
 */
#include "pg.h"
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * $1 the role, $2 the resource's database, $3 the resource's roles (owner
 * and users). Columns: elevated attributes; databases other than $2 where
 * the role owns or is granted something (pg_shdepend: the databases
 * themselves with dbid 0, objects inside with their dbid); roles outside
 * the resource it is a usable member of; roles outside the resource (and
 * not the admin) that are usable members of it; from 16, whether the admin
 * lacks the ADMIN OPTION it needs to alter the role.
 */
static const char ADOPT_CHECK_SQL[] =
    "SELECT pg_catalog.concat_ws(' ', CASE WHEN r.rolsuper THEN 'SUPERUSER' END, "
    "         CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, "
    "         CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, "
    "         CASE WHEN r.rolreplication THEN 'REPLICATION' END, "
    "         CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END), "
    "  (SELECT pg_catalog.string_agg(DISTINCT d.datname::pg_catalog.text, ', ') "
    "     FROM pg_catalog.pg_shdepend s "
    "     JOIN pg_catalog.pg_database d ON d.oid" EQ "          (CASE WHEN s.dbid" EQ
    "0::pg_catalog.oid THEN s.objid ELSE s.dbid END) "
    "    WHERE s.refclassid" EQ AUTHID_CLASS " "
    "      AND s.refobjid" EQ "r.oid "
    "      AND (s.dbid" NE "0::pg_catalog.oid "
    "           OR s.classid" EQ DATABASE_CLASS ") "
    "      AND d.datname" NE "$2), "
    "  (SELECT pg_catalog.string_agg(g.rolname::pg_catalog.text, ', ') "
    "     FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles g ON g.oid" EQ "am.roleid "
    "    WHERE am.member" EQ "r.oid AND " USABLE(
        "am") " AND g.rolname" NE "ALL ($3" TEXTS ")), "
              "  (SELECT pg_catalog.string_agg(g.rolname::pg_catalog.text, ', ') "
              "     FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles g ON g.oid" EQ
              "am.member "
              "    WHERE am.roleid" EQ "r.oid AND " USABLE(
                  "am") " AND g.oid" NE "a.oid "
                        "      AND g.rolname" NE "ALL ($3" TEXTS ")), "
                        "  pg_catalog.current_setting('server_version_num')::pg_catalog.int4 >= "
                        "160000 "
                        "    AND NOT a.rolsuper AND NOT EXISTS (SELECT 1 FROM "
                        "pg_catalog.pg_auth_members am "
                        "     WHERE am.roleid" EQ "r.oid AND am.member" EQ
                        "a.oid AND am.admin_option) "
                        "FROM pg_catalog.pg_roles r, pg_catalog.pg_roles a "
                        "WHERE r.rolname" EQ "$1 AND a.rolname" EQ "CURRENT_USER";

int pg_adopt_check(char **out, PGconn *conn, const char *role, const char *db_name,
                   const char *const *roles, size_t n_roles, const char *admin, struct err *err)
{
	const char *params[3] = {role, db_name, NULL};
	char *lit = pg_array_literal(roles, n_roles);
	PGresult *res = NULL;
	int rc = 0, n;

	*out = NULL;
	if (lit == NULL)
		return err_set(err, APPDB_ENOMEM, "out of memory");
	params[2] = lit;
	res = PQexecParams(conn, ADOPT_CHECK_SQL, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_result_error(res, conn, err);
		goto out;
	}
	if (PQntuples(res) != 1)
		goto out; /* gone since the observation: it is created instead */
	if (PQgetvalue(res, 0, 0)[0] != '\0')
		n = asprintf(out, "role %s has %s, which no role of an AppDatabase has", role,
		             PQgetvalue(res, 0, 0));
	else if (!PQgetisnull(res, 0, 1))
		n = asprintf(out, "role %s owns or is granted something in database(s) %s", role,
		             PQgetvalue(res, 0, 1));
	else if (!PQgetisnull(res, 0, 2))
		n = asprintf(out, "role %s is a member of %s, outside this resource", role,
		             PQgetvalue(res, 0, 2));
	else if (!PQgetisnull(res, 0, 3))
		n = asprintf(out, "role %s has members outside this resource: %s", role,
		             PQgetvalue(res, 0, 3));
	else if (PQgetvalue(res, 0, 4)[0] == 't')
		n = asprintf(out,
		             "role %s was made by another role and %s holds no ADMIN OPTION on it, "
		             "which PostgreSQL 16 and later need to alter it; its creator or a "
		             "superuser can run: GRANT %s TO %s WITH ADMIN OPTION, INHERIT FALSE, "
		             "SET FALSE",
		             role, admin, role, admin);
	else
		goto out;
	if (n < 0) {
		*out = NULL;
		rc = err_set(err, APPDB_ENOMEM, "out of memory");
	}
out:
	PQclear(res);
	free(lit);
	return rc;
}
