/*
 * sql.h - the SQL text of each planned action, chosen by server version.
 *
 * Pure: identifiers and literals are quoted by the functions handed in
 * (PQescapeIdentifier and PQescapeLiteral in production), so every variant
 * is unit-tested without a server. Values that cannot be parameters (a
 * utility statement takes none) are quoted literals; a password only ever
 * travels as a SCRAM verifier made client-side.
 *
 * PostgreSQL 16 changed role membership: a CREATEROLE admin needs membership
 * WITH SET in a role to make it a database owner or name it in FOR ROLE, and
 * INHERIT to use its privileges; from 160000 on the grants say so.
 */
#ifndef APPDB_SQL_H
#define APPDB_SQL_H

#include "plan.h"

struct sql_quote {
	/* Return malloc'd quoted text, or NULL on failure. */
	char *(*ident)(void *ctx, const char *s);
	char *(*literal)(void *ctx, const char *s);
	void *ctx;
};

/*
 * Renders the statement(s) of a into *out (owned). verifier is the SCRAM
 * verifier for ACT_CREATE_ROLE with login and ACT_SET_PASSWORD, else NULL.
 * Several statements come joined by "; " and run in one implicit
 * transaction. Returns 0, APPDB_ENOMEM or APPDB_EINTERNAL.
 */
int sql_render(char **out, const struct action *a, int server_version, const char *verifier,
               const struct sql_quote *q);

/* GRANT role TO member for the admin's own temporary membership. */
int sql_admin_grant(char **out, const char *role, const char *admin, int server_version,
                    const struct sql_quote *q);
/* REVOKE role FROM member. */
int sql_admin_revoke(char **out, const char *role, const char *admin, const struct sql_quote *q);

#endif
