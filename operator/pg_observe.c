/*
 * pg_observe.c - the observation queries: one round trip on the admin
 * connection for the instance-wide catalogs, one in the target database for
 * schemas, object privileges and default privileges. Every name they use is
 * schema-qualified, operators included, so that nothing a tenant defines in
 * a schema on the search path can change what they read.
 */
#include "pg.h"
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The SQL below runs in databases whose owners are tenants: every
 * function, operator, type and catalog is named with its schema, so none
 * resolves to an object a tenant made, whatever the session's search_path
 * (which pg_connect pins as well).
 */

/*
 * The roles this resource's run needs to see, and no others, so that one
 * run's cost does not grow with the instance: those its spec names ($1:
 * owner, users, rotation clones), those whose marker names it ($3, the
 * marker's "resource" member as written: retired users), and marked roles
 * in which the admin holds a usable membership (left by an interrupted run,
 * given back in step_stale_memberships). $3 only narrows: which resource a
 * role belongs to is decided on the whole marker (plan_marker_match).
 */
#define MINE_CTE                                                                                   \
	"mine AS (SELECT x.oid, x.rolname, x.rolcanlogin, x.rolconnlimit, "                        \
	"  (SELECT c.description FROM pg_catalog.pg_shdescription c "                              \
	"    WHERE c.objoid" EQ "x.oid AND c.classoid" EQ AUTHID_CLASS ") AS comment "             \
	"  FROM pg_catalog.pg_roles x "                                                            \
	"  WHERE x.rolname" EQ "ANY ($1" NAMES ") "                                                \
	"     OR x.oid IN (SELECT d.objoid FROM pg_catalog.pg_shdescription d "                    \
	"        WHERE d.classoid" EQ AUTHID_CLASS " AND pg_catalog.strpos(d.description, $3)" NE  \
	"0) "                                                                                      \
	"     OR x.oid IN (SELECT am.roleid FROM pg_catalog.pg_auth_members am "                   \
	"        JOIN pg_catalog.pg_roles a ON a.oid" EQ "am.member "                              \
	"        JOIN pg_catalog.pg_shdescription d ON d.objoid" EQ "am.roleid "                   \
	"         AND d.classoid" EQ AUTHID_CLASS " WHERE a.rolname" EQ "CURRENT_USER "            \
	"         AND " USABLE("am") " AND pg_catalog.starts_with(d.description, "                 \
	                             "'" MARKER_MANAGED "'))) "

static const char OBSERVE_ADMIN_SQL[] =
    "WITH " MINE_CTE
    "SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4, r.rolname, "
    "  r.rolcreaterole, r.rolcreatedb, "
    "  coalesce(pg_catalog.current_setting('rds.restrict_password_commands', true), 'off')" EQ
    "  ANY ('{on,true,1}'" TEXTS "), "
    "  EXISTS (SELECT 1 FROM pg_catalog.pg_roles p WHERE p.rolname" EQ "'rds_password' "
    "          AND pg_catalog.pg_has_role(r.oid, p.oid, 'MEMBER')), "
    "  (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object("
    "          'name', m.rolname, 'login', m.rolcanlogin, 'connlimit', m.rolconnlimit, "
    "          'comment', m.comment, 'adminMember', EXISTS ("
    "            SELECT 1 FROM pg_catalog.pg_auth_members am "
    "             WHERE am.roleid" EQ "m.oid AND am.member" EQ "r.oid AND " USABLE(
        "am") "))), "
              "          '[]') FROM mine m), "
              "  (SELECT pg_catalog.json_build_object('owner', "
              "pg_catalog.pg_get_userbyid(d.datdba), "
              "          'comment', pg_catalog.shobj_description(d.oid, 'pg_database'), "
              "          'allowConnections', d.datallowconn) "
              "     FROM pg_catalog.pg_database d WHERE d.datname" EQ "$2), "
              "  (SELECT coalesce(pg_catalog.json_agg(f), '[]') FROM ( "
              "     SELECT pg_catalog.concat_ws(':', 'member', gr.rolname, mr.rolname) AS f "
              "       FROM pg_catalog.pg_auth_members am "
              "       JOIN mine gr ON gr.oid" EQ "am.roleid "
              "       JOIN pg_catalog.pg_roles mr ON mr.oid" EQ "am.member "
              "      WHERE (EXISTS (SELECT 1 FROM mine x WHERE x.oid" EQ "mr.oid) OR mr.oid" EQ
              "r.oid) "
              "        AND " USABLE(
                  "am") " "
                        "     UNION ALL "
                        "     SELECT pg_catalog.concat_ws(':', 'db', a.privilege_type, "
                        "            CASE WHEN a.grantee" EQ "0::pg_catalog.oid THEN 'PUBLIC' "
                        "                 ELSE pg_catalog.pg_get_userbyid(a.grantee) END) "
                        "       FROM pg_catalog.pg_database d, "
                        "            pg_catalog.aclexplode(coalesce(d.datacl, "
                        "pg_catalog.acldefault('d', d.datdba))) a "
                        "      WHERE d.datname" EQ "$2) facts) "
                        "FROM pg_catalog.pg_roles r WHERE r.rolname" EQ "CURRENT_USER";

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
int pg_facts_from_json(struct observed *o, const char *text, struct err *err)
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
		r->admin_member = json_is_true(json_object_get(v, "adminMember"));
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

/* The marker's resource member as plan_marker writes it: "resource":"ns/name". */
static char *marker_resource(const char *resource)
{
	json_t *v = json_string(resource);
	char *enc = v != NULL ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
	char *s = NULL;

	if (enc != NULL && asprintf(&s, "\"resource\":%s", enc) < 0)
		s = NULL;
	free(enc);
	json_decref(v);
	return s;
}

int pg_observe_admin(struct observed *o, PGconn *conn, const struct desired *d, struct err *err)
{
	const char **names = NULL;
	const char *params[3];
	char *roles = NULL, *mine = NULL;
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
	roles = pg_array_literal(names, n);
	mine = marker_resource(d->resource);
	if (roles == NULL || mine == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	params[0] = roles;
	params[1] = d->db_name;
	params[2] = mine;
	res = pg_exec_fixed(conn, PG_STMT_OBSERVE_ADMIN, OBSERVE_ADMIN_SQL, 3, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = err_wrap(err, pg_result_error(res, conn, err),
		              "could not observe the instance");
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
		o->db_allow_connections = json_is_true(json_object_get(db, "allowConnections"));
	}
	rc = pg_facts_from_json(o, PQgetvalue(res, 0, 8), err);
out:
	json_decref(db);
	PQclear(res);
	free(mine);
	free(roles);
	free(names);
	return rc;
}

/*
 * Inside the application database. $1 the schemas, $2 the resource's login
 * roles (grantees), $3 every role of the resource (possible object owners;
 * the owner role first), $4 the owner users.
 * An owner's own ACL entries are no grant and are left out.
 */
static const char OBSERVE_TARGET_SQL[] =
    "WITH s AS (SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_catalog.pg_namespace n "
    "           WHERE n.nspname" EQ "ANY ($1" TEXTS ")), "
    "owners AS (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname" EQ "ANY ($3" NAMES ")), "
    /* Every grantee by name: a role this run creates has no oid yet. */
    "grantees AS (SELECT n.name, g.oid "
    "               FROM pg_catalog.unnest($2" TEXTS ") AS n(name) "
    "               LEFT JOIN pg_catalog.pg_roles g ON g.rolname" EQ "n.name), "
    "objs AS (SELECT c.oid, s.nspname, "
    "                CASE WHEN c.relkind" EQ "'S'::pg_catalog.\"char\" THEN 'S' ELSE 'r' END "
    "                AS kind, c.relacl, c.relowner "
    "           FROM pg_catalog.pg_class c JOIN s ON c.relnamespace" EQ "s.oid "
    "          WHERE c.relkind" EQ "ANY ('{r,p,v,m,f,S}'::pg_catalog.\"char\"[]) "
    "            AND EXISTS (SELECT 1 FROM owners o WHERE o.oid" EQ "c.relowner)), "
    /*
     * Per grantee, the objects its grants must cover: not its own, and for
     * an owner user ($4) not the owner role's ($3[1]), which the membership
     * covers.
     */
    "gobjs AS (SELECT o.nspname, o.kind, o.relacl, o.relowner, g.name AS gname, g.oid AS goid "
    "            FROM objs o, grantees g "
    "           WHERE (g.oid IS NULL OR o.relowner" NE "g.oid) "
    "             AND NOT (g.name" EQ "ANY ($4" TEXTS ") AND o.relowner" EQ
    "                      (SELECT x.oid FROM pg_catalog.pg_roles x "
    "                        WHERE x.rolname" EQ "($3" TEXTS ")[1]))), "
    "totals AS (SELECT nspname, kind, gname AS grantee, pg_catalog.count(*) AS n "
    "             FROM gobjs GROUP BY 1, 2, 3), "
    "objpriv AS (SELECT o.nspname, o.kind, a.privilege_type AS priv, o.gname AS grantee, "
    "                   pg_catalog.count(*) AS n "
    "              FROM gobjs o, pg_catalog.aclexplode(coalesce(o.relacl, "
    "                   pg_catalog.acldefault((CASE WHEN o.kind" EQ "'S' THEN 's' ELSE 'r' END)"
    "::pg_catalog.\"char\", o.relowner))) a "
    "             WHERE a.grantee" EQ "o.goid "
    "             GROUP BY 1, 2, 3, 4) "
    "SELECT coalesce(pg_catalog.json_agg(f), '[]') FROM ( "
    "  SELECT pg_catalog.concat_ws(':', 'schema', nspname) AS f FROM s "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'schemaowner', nspname, "
    "         pg_catalog.pg_get_userbyid(nspowner)) FROM s "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'schemapriv', s.nspname, a.privilege_type, "
    "         CASE WHEN a.grantee" EQ "0::pg_catalog.oid THEN 'PUBLIC' "
    "              ELSE pg_catalog.pg_get_userbyid(a.grantee) END) "
    "    FROM s, pg_catalog.aclexplode(coalesce(s.nspacl, pg_catalog.acldefault('n', s.nspowner))) "
    "a "
    "   WHERE a.grantee" EQ "0::pg_catalog.oid "
    "      OR EXISTS (SELECT 1 FROM grantees g WHERE g.oid" EQ "a.grantee) "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'objects', nspname, kind, grantee) "
    "    FROM totals "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'any', nspname, kind, priv, grantee) "
    "    FROM objpriv "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'all', p.nspname, p.kind, p.priv, p.grantee) "
    "    FROM objpriv p JOIN totals t ON t.nspname" EQ "p.nspname AND t.kind" EQ "p.kind "
    "         AND t.grantee" EQ "p.grantee "
    "   WHERE p.n" EQ "t.n "
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'defacl', "
    "         pg_catalog.pg_get_userbyid(d.defaclrole), n.nspname, d.defaclobjtype, "
    "         a.privilege_type, pg_catalog.pg_get_userbyid(a.grantee)) "
    "    FROM pg_catalog.pg_default_acl d "
    "    JOIN pg_catalog.pg_namespace n ON n.oid" EQ "d.defaclnamespace, "
    "         pg_catalog.aclexplode(d.defaclacl) a "
    "   WHERE n.nspname" EQ "ANY ($1" TEXTS ") "
    "     AND EXISTS (SELECT 1 FROM owners o WHERE o.oid" EQ "d.defaclrole) "
    "     AND EXISTS (SELECT 1 FROM grantees g WHERE g.oid" EQ "a.grantee) "
    "  UNION ALL SELECT DISTINCT pg_catalog.concat_ws(':', 'owns', "
    "         pg_catalog.pg_get_userbyid(sd.refobjid)) "
    "    FROM pg_catalog.pg_shdepend sd "
    "   WHERE sd.deptype" EQ "'o'::pg_catalog.\"char\" "
    "     AND sd.refclassid" EQ "1260::pg_catalog.oid "
    "     AND sd.dbid" EQ "(SELECT d.oid FROM pg_catalog.pg_database d "
    "                      WHERE d.datname" EQ "pg_catalog.current_database()) "
    "     AND EXISTS (SELECT 1 FROM grantees g WHERE g.oid" EQ "sd.refobjid) "
    /* An event trigger whose function a tenant can replace would run as the admin. */
    "  UNION ALL SELECT pg_catalog.concat_ws(':', 'evtrigger', e.evtname, "
    "         pg_catalog.pg_get_userbyid(p.proowner)) "
    "    FROM pg_catalog.pg_event_trigger e "
    "    JOIN pg_catalog.pg_proc p ON p.oid" EQ "e.evtfoid "
    "    JOIN pg_catalog.pg_roles pr ON pr.oid" EQ "p.proowner "
    "   WHERE e.evtenabled" NE "'D'::pg_catalog.\"char\" AND NOT pr.rolsuper "
    "     AND pr.rolname" NE "CURRENT_USER) facts";

int pg_observe_target(struct observed *o, PGconn *conn, const struct desired *d, struct err *err)
{
	const char **grantees = NULL, **owners = NULL, **owner_users = NULL;
	const char *params[4] = {NULL, NULL, NULL, NULL};
	char *p[4] = {NULL, NULL, NULL, NULL};
	PGresult *res = NULL;
	size_t i, ng = 0, no = 0, nu = 0;
	int rc = 0;

	grantees = calloc(d->n_users + d->n_retired + 1, sizeof(char *));
	owners = calloc(d->n_users + d->n_retired + 1, sizeof(char *));
	owner_users = calloc(d->n_users + 1, sizeof(char *));
	if (grantees == NULL || owners == NULL || owner_users == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	owners[no++] = d->owner;
	for (i = 0; i < d->n_users; i++) {
		grantees[ng++] = owners[no++] = d->users[i].name;
		if (d->users[i].access == ACCESS_OWNER)
			owner_users[nu++] = d->users[i].name;
	}
	for (i = 0; i < d->n_retired; i++)
		grantees[ng++] = owners[no++] = d->retired[i];
	p[0] = pg_array_literal(d->schemas, d->n_schemas);
	p[1] = pg_array_literal(grantees, ng);
	p[2] = pg_array_literal(owners, no);
	p[3] = pg_array_literal(owner_users, nu);
	if (p[0] == NULL || p[1] == NULL || p[2] == NULL || p[3] == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	for (i = 0; i < 4; i++)
		params[i] = p[i];
	res = PQexecParams(conn, OBSERVE_TARGET_SQL, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = err_wrap(err, pg_result_error(res, conn, err), "could not observe database %s",
		              d->db_name);
		goto out;
	}
	rc = pg_facts_from_json(o, PQgetvalue(res, 0, 0), err);
	if (rc == 0)
		o->target_observed = 1;
out:
	PQclear(res);
	for (i = 0; i < 4; i++)
		free(p[i]);
	free(grantees);
	free(owners);
	free(owner_users);
	return rc;
}
