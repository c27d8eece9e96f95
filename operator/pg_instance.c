/*
 * pg_instance.c - the instance-wide check of many resources in one query.
 * Like the observation queries (pg_observe.c) every name is
 * schema-qualified, operators included, and the session is the one
 * pg_connect pinned; the resources travel as one JSON parameter.
 */
#include "pg_instance.h"
#include "pg_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define JT " OPERATOR(pg_catalog.->>) "
#define JA " OPERATOR(pg_catalog.->) "
#define CAT " OPERATOR(pg_catalog.||) "

/* Where the resource begins in a marker (1-based, for substr). */
#define MARKER_RESOURCE_AT "43"
_Static_assert(sizeof(MARKER_PREFIX) == 43, "MARKER_RESOURCE_AT follows MARKER_PREFIX");

/*
 * $1: [{"k": index, "db": name, "res": "ns/name", "roles": [names]}, ...].
 * A resource's roles are those its spec names and those whose marker names
 * it (retired users). Of each: its pg_roles row (attributes, settings,
 * validity), its comment (the marker, the password version) and every
 * membership it is in, either side. Of its database: owner, connection
 * settings, ACL and comment. One md5 of it all per resource.
 */
static const char DIGESTS_SQL[] =
    "WITH items AS MATERIALIZED ("
    "  SELECT (i" JT "'k')::pg_catalog.int4 AS k, i" JT "'db' AS db, i" JT "'res' AS res, "
    "         i" JA "'roles' AS roles "
    "    FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) AS i), "
    /* The marked roles and the resource their marker names. */
    "marked AS (SELECT d.objoid AS oid, "
    "                  pg_catalog.split_part(pg_catalog.substr(d.description, " MARKER_RESOURCE_AT
    "), "
    "                                        '\"', 1) AS res "
    "             FROM pg_catalog.pg_shdescription d "
    "            WHERE d.classoid" EQ AUTHID_CLASS " "
    "              AND pg_catalog.starts_with(d.description, '" MARKER_PREFIX "')), "
    "ir AS (SELECT it.k, r.oid "
    "         FROM items it, pg_catalog.jsonb_array_elements_text(it.roles) AS n(name), "
    "              pg_catalog.pg_roles r "
    "        WHERE r.rolname" EQ "n.name::pg_catalog.name "
    "       UNION "
    "       SELECT it.k, m.oid FROM items it JOIN marked m ON m.res" EQ "it.res), "
    /* Only the roles of the items: every pg_roles column, and the comment. */
    "rc AS MATERIALIZED ("
    "  SELECT r.oid, r.rolname, (SELECT c.description FROM pg_catalog.pg_shdescription c "
    "                             WHERE c.objoid" EQ "r.oid "
    "                               AND c.classoid" EQ AUTHID_CLASS ") "
    "         AS comment, pg_catalog.row_to_json(r)::pg_catalog.text AS attrs "
    "    FROM pg_catalog.pg_roles r WHERE r.oid IN (SELECT ir.oid FROM ir)), "
    "mem AS (SELECT x.oid, pg_catalog.string_agg(x.t, ',' ORDER BY x.t) AS t FROM ("
    "          SELECT am.roleid AS oid, (pg_catalog.to_jsonb(am) OPERATOR(pg_catalog.-) "
    "                 'oid')::pg_catalog.text AS t FROM pg_catalog.pg_auth_members am "
    "          UNION ALL "
    "          SELECT am.member, (pg_catalog.to_jsonb(am) OPERATOR(pg_catalog.-) "
    "                 'oid')::pg_catalog.text FROM pg_catalog.pg_auth_members am) x "
    "         WHERE x.oid IN (SELECT ir.oid FROM ir) GROUP BY x.oid), "
    "rs AS (SELECT ir.k, pg_catalog.string_agg(rc.attrs" CAT "'|'" CAT
    "              coalesce(rc.comment, '-')" CAT "'|'" CAT "coalesce(mem.t, '-'), ';' "
    "              ORDER BY rc.rolname) AS s "
    "         FROM ir JOIN rc ON rc.oid" EQ "ir.oid LEFT JOIN mem ON mem.oid" EQ "ir.oid "
    "        GROUP BY ir.k), "
    "ds AS (SELECT it.k, pg_catalog.concat_ws('|', pg_catalog.pg_get_userbyid(d.datdba), "
    "              d.datallowconn, d.datconnlimit, d.datacl::pg_catalog.text, c.description) AS s "
    "         FROM items it JOIN pg_catalog.pg_database d ON d.datname" EQ "it.db "
    "         LEFT JOIN pg_catalog.pg_shdescription c ON c.objoid" EQ "d.oid "
    "              AND c.classoid" EQ DATABASE_CLASS ") "
    "SELECT it.k, pg_catalog.md5(coalesce(ds.s, '-')" CAT "'#'" CAT "coalesce(rs.s, '-')) "
    "  FROM items it LEFT JOIN ds ON ds.k" EQ "it.k LEFT JOIN rs ON rs.k" EQ "it.k";

/* The items as the query's JSON parameter; owned string, NULL when out of memory. */
static char *items_json(const struct pg_instance_item *items, size_t n)
{
	json_t *arr = json_array();
	char *s = NULL;
	size_t i, j;
	int rc = arr != NULL ? 0 : -1;

	for (i = 0; rc == 0 && i < n; i++) {
		json_t *roles = json_array();

		for (j = 0; roles != NULL && j < items[i].n_roles; j++)
			if (items[i].roles[j] != NULL)
				json_array_append_new(roles, json_string(items[i].roles[j]));
		rc = json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:o*}", "k",
		                                          (json_int_t)i, "db", items[i].db, "res",
		                                          items[i].resource, "roles", roles));
	}
	if (rc == 0)
		s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return s;
}

int pg_instance_digests(char (*out)[PG_DIGEST_LEN], PGconn *conn,
                        const struct pg_instance_item *items, size_t n, struct err *err)
{
	const char *params[1];
	char *arg = NULL;
	PGresult *res = NULL;
	int i, rc = 0;

	for (i = 0; (size_t)i < n; i++)
		out[i][0] = '\0';
	if (n == 0)
		return 0;
	if ((arg = items_json(items, n)) == NULL)
		return err_set(err, APPDB_ENOMEM, "out of memory");
	params[0] = arg;
	res = pg_exec_fixed(conn, PG_STMT_DIGESTS, DIGESTS_SQL, 1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 2) {
		rc = err_wrap(err, pg_result_error(res, conn, err),
		              "could not check the instance's catalogs");
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++) {
		long k = strtol(PQgetvalue(res, i, 0), NULL, 10);

		if (k >= 0 && (size_t)k < n && strlen(PQgetvalue(res, i, 1)) == PG_DIGEST_LEN - 1)
			memcpy(out[k], PQgetvalue(res, i, 1), PG_DIGEST_LEN);
	}
out:
	PQclear(res);
	free(arg);
	return rc;
}
