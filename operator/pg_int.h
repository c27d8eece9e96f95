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
 * The error of a failed result, with its SQLSTATE class mapped to the
 * project's codes; returns that code.
 */
int pg_result_error(const PGresult *res, PGconn *conn, struct err *err);

/* A text[] literal of the names ({"a","b"}; identifiers only). Owned; NULL on ENOMEM. */
char *pg_array_literal(const char *const *names, size_t n);

struct observed;
/* Adds each string of a JSON array text to o->facts. */
int pg_facts_from_json(struct observed *o, const char *text, struct err *err);

#endif
