/*
 * pg_import.c - the catalog reads of `appdb-operator import`: what an
 * instance already has (databases, roles, who reaches which database,
 * memberships) and, inside one database, each role's privileges per schema.
 * Read only; every name is schema-qualified, like pg_observe.c.
 */
#include "pg.h"
#include "pg_int.h"

#include <stdlib.h>
#include <string.h>

/*
 * One JSON object: admin; databases [{name, owner, comment}] (not
 * templates, open to connections); roles [{name, login, connlimit,
 * elevated, comment}] (not pg_*); reach [[database, role]]: a role owns or
 * is granted something in that database (pg_shdepend); members [[role,
 * member]]: usable memberships.
 */
static const char IMPORT_INSTANCE_SQL[] =
    "SELECT pg_catalog.json_build_object("
    " 'admin', CURRENT_USER::pg_catalog.text, "
    " 'databases', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object("
    "     'name', d.datname, 'owner', pg_catalog.pg_get_userbyid(d.datdba), "
    "     'comment', pg_catalog.shobj_description(d.oid, 'pg_database')) ORDER BY d.datname), "
    "     '[]') FROM pg_catalog.pg_database d WHERE NOT d.datistemplate AND d.datallowconn), "
    " 'roles', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object("
    "     'name', r.rolname, 'login', r.rolcanlogin, 'connlimit', r.rolconnlimit, "
    "     'elevated', r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication "
    "                 OR r.rolbypassrls, "
    "     'comment', pg_catalog.shobj_description(r.oid, 'pg_authid')) ORDER BY r.rolname), "
    "     '[]') FROM pg_catalog.pg_roles r WHERE NOT pg_catalog.starts_with(r.rolname, 'pg_')), "
    " 'reach', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(x.datname, "
    "     x.rolname)), '[]') FROM (SELECT DISTINCT d.datname, r.rolname "
    "       FROM pg_catalog.pg_shdepend s "
    "       JOIN pg_catalog.pg_roles r ON r.oid" EQ "s.refobjid "
    "       JOIN pg_catalog.pg_database d ON d.oid" EQ "            (CASE WHEN s.dbid" EQ
    "0::pg_catalog.oid THEN s.objid ELSE s.dbid END) "
    "      WHERE s.refclassid" EQ AUTHID_CLASS " "
    "        AND (s.dbid" NE "0::pg_catalog.oid "
    "             OR s.classid" EQ DATABASE_CLASS ")) x), "
    " 'members', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(g.rolname, "
    "     m.rolname)), '[]') FROM pg_catalog.pg_auth_members am "
    "     JOIN pg_catalog.pg_roles g ON g.oid" EQ "am.roleid "
    "     JOIN pg_catalog.pg_roles m ON m.oid" EQ "am.member WHERE " USABLE("am") "))";

/*
 * Inside one database ($1: the roles to read): schemas [{name, owner}] (not
 * pg_*, not information_schema) and per role and schema: USAGE, CREATE
 * (not counted when PUBLIC has it, which the operator revokes), and the
 * counts of tables and sequences it does not own and of those it holds
 * each privilege on.
 */
static const char IMPORT_DATABASE_SQL[] =
    "WITH s AS (SELECT n.oid, n.nspname, n.nspowner FROM pg_catalog.pg_namespace n "
    "            WHERE NOT pg_catalog.starts_with(n.nspname, 'pg_') "
    "              AND n.nspname" NE "'information_schema'), "
    "     u AS (SELECT r.oid, r.rolname FROM pg_catalog.pg_roles r "
    "            WHERE r.rolname" EQ "ANY ($1" NAMES ")) "
    "SELECT pg_catalog.json_build_object("
    " 'schemas', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object("
    "   'name', s.nspname, 'owner', pg_catalog.pg_get_userbyid(s.nspowner)) "
    "   ORDER BY s.nspname), '[]') FROM s), "
    " 'privs', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object("
    "   'role', u.rolname, 'schema', s.nspname, "
    "   'usage', pg_catalog.has_schema_privilege(u.oid, s.oid, 'USAGE'), "
    "   'create', pg_catalog.has_schema_privilege(u.oid, s.oid, 'CREATE') AND NOT EXISTS ("
    "     SELECT 1 FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(coalesce(n.nspacl, "
    "       pg_catalog.acldefault('n', n.nspowner))) a WHERE n.oid" EQ "s.oid "
    "       AND a.grantee" EQ "0::pg_catalog.oid AND a.privilege_type" EQ "'CREATE'), "
    "   't', x.t, 'tSELECT', x.ts, 'tINSERT', x.ti, 'tUPDATE', x.tu, 'tDELETE', x.td, "
    "   'q', x.q, 'qSELECT', x.qs, 'qUSAGE', x.qu, 'qUPDATE', x.qw)), '[]') "
    "   FROM u CROSS JOIN s CROSS JOIN LATERAL (SELECT "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" NE "'S') AS t, "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" NE "'S' AND "
    "       pg_catalog.has_table_privilege(u.oid, c.oid, 'SELECT')) AS ts, "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" NE "'S' AND "
    "       pg_catalog.has_table_privilege(u.oid, c.oid, 'INSERT')) AS ti, "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" NE "'S' AND "
    "       pg_catalog.has_table_privilege(u.oid, c.oid, 'UPDATE')) AS tu, "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" NE "'S' AND "
    "       pg_catalog.has_table_privilege(u.oid, c.oid, 'DELETE')) AS td, "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" EQ "'S') AS q, "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" EQ "'S' AND "
    "       pg_catalog.has_sequence_privilege(u.oid, c.oid, 'SELECT')) AS qs, "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" EQ "'S' AND "
    "       pg_catalog.has_sequence_privilege(u.oid, c.oid, 'USAGE')) AS qu, "
    "     pg_catalog.count(*) FILTER (WHERE c.relkind" EQ "'S' AND "
    "       pg_catalog.has_sequence_privilege(u.oid, c.oid, 'UPDATE')) AS qw "
    "     FROM pg_catalog.pg_class c WHERE c.relnamespace" EQ "s.oid "
    "      AND c.relkind" EQ "ANY ('{r,p,v,m,f,S}'::pg_catalog.\"char\"[]) "
    "      AND c.relowner" NE "u.oid) x))";

/* Runs sql (nparams parameters) and parses its one JSON cell into *out. */
static int query_json(json_t **out, PGconn *conn, const char *sql, int nparams,
                      const char *const *params, struct err *err)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	int rc = 0;

	*out = NULL;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_result_error(res, conn, err);
	else if (PQntuples(res) != 1 || (*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL)) == NULL)
		rc = err_set(err, APPDB_EINTERNAL, "unexpected catalog result");
	PQclear(res);
	return rc;
}

int pg_import_instance(json_t **out, PGconn *conn, struct err *err)
{
	return query_json(out, conn, IMPORT_INSTANCE_SQL, 0, NULL, err);
}

int pg_import_database(json_t **out, PGconn *conn, const char *const *roles, size_t n_roles,
                       struct err *err)
{
	const char *params[1] = {NULL};
	char *lit = pg_array_literal(roles, n_roles);
	int rc;

	*out = NULL;
	if (lit == NULL)
		return err_set(err, APPDB_ENOMEM, "out of memory");
	params[0] = lit;
	rc = query_json(out, conn, IMPORT_DATABASE_SQL, 1, params, err);
	free(lit);
	return rc;
}
