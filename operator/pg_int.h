/*
 * pg_int.h - what pg.c and pg_observe.c share. Not for other modules.
 */
#ifndef APPDB_PG_INT_H
#define APPDB_PG_INT_H

#include "err.h"

#include <libpq-fe.h>

/* Operators named with their schema (see the observation queries below). */
#define EQ " OPERATOR(pg_catalog.=) "
#define NE " OPERATOR(pg_catalog.<>) "

/*
 * The error of a failed result, with its SQLSTATE class mapped to the
 * project's codes; returns that code.
 */
int pg_result_error(const PGresult *res, PGconn *conn, struct err *err);

#endif
