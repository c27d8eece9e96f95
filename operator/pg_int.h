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

struct observed;
/* Adds each string of a JSON array text to o->facts. */
int pg_facts_from_json(struct observed *o, const char *text, struct err *err);

#endif
