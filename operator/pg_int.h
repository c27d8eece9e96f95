/*
 * pg_int.h - what pg.c and pg_observe.c share. Not for other modules.
 */
#ifndef APPDB_PG_INT_H
#define APPDB_PG_INT_H

#include "err.h"

#include <libpq-fe.h>
#include <stddef.h>

/* Operators named with their schema (see the observation queries below). */
#define EQ " OPERATOR(pg_catalog.=) "
#define NE " OPERATOR(pg_catalog.<>) "

/*
 * Array parameters are sent as text and typed by the statement: text[], or
 * name[] where they are compared with a role's name, so that the comparison
 * is name = name (no per-row cast; the index on rolname serves it). Names
 * are validated: at most 63 bytes, so name[] cuts nothing.
 */
#define TEXTS "::pg_catalog.text[]"
#define NAMES "::pg_catalog.name[]"

/* The catalogs whose rows pg_shdescription and pg_shdepend point to. */
#define AUTHID_CLASS "'pg_catalog.pg_authid'::pg_catalog.regclass"
#define DATABASE_CLASS "'pg_catalog.pg_database'::pg_catalog.regclass"

/*
 * How an ownership marker begins: plan_marker writes compact JSON with these
 * members first. The queries compare comments with it as text, never cast
 * them to JSON (a comment that is not JSON would fail the whole query); which
 * resource a role belongs to is decided in C on the whole marker.
 */
#define MARKER_MANAGED "{\"managedBy\":\"appdb-operator\""
#define MARKER_PREFIX MARKER_MANAGED ",\"resource\":\""

/* A usable membership (SET or INHERIT; from 16 an ADMIN-only grant is none). */
#define USABLE(am)                                                                                 \
	"(coalesce((pg_catalog.to_jsonb(" am ") OPERATOR(pg_catalog.->>) 'set_option')"            \
	"::pg_catalog.bool, true) OR coalesce((pg_catalog.to_jsonb(" am                            \
	") OPERATOR(pg_catalog.->>) 'inherit_option')::pg_catalog.bool, true))"

/*
 * The text[] literal {"a","b"} of names (identifiers already validated: no
 * quote or backslash in them), owned; NULL on ENOMEM.
 */
char *pg_array_literal(const char *const *names, size_t n);

/*
 * The error of a failed result, with its SQLSTATE class mapped to the
 * project's codes; returns that code.
 */
int pg_result_error(const PGresult *res, PGconn *conn, struct err *err);

/*
 * The fixed statements the admin session runs once per resource run: each
 * is prepared the first time a session runs it and executed by name after
 * that, so the server parses and plans it once per session, not once per
 * resource. A session the server forgot them in (a reset, a new backend)
 * prepares them again.
 */
enum pg_stmt {
	PG_STMT_NONE = -1, /* run once, unprepared: a session that runs it once */
	PG_STMT_OBSERVE_ADMIN,
	PG_STMT_OBSERVE_ACCESS,
	PG_STMT_DIGESTS,
	PG_STMT_COUNT
};

/*
 * Runs the fixed statement id (its text sql, n text parameters) on conn,
 * prepared as above (PG_STMT_NONE: unprepared); the result as PQexecParams
 * returns one.
 */
PGresult *pg_exec_fixed(PGconn *conn, enum pg_stmt id, const char *sql, int n,
                        const char *const *params);

struct observed;
/* Adds each string of a JSON array text to o->facts. */
int pg_facts_from_json(struct observed *o, const char *text, struct err *err);

#endif
