/*
 * pg_instance.h - the instance-wide tier of the resync (DESIGN section 10):
 * one round trip on the admin connection reads the roles, memberships,
 * markers, databases, owners and database ACLs of many resources at once and
 * gives each resource a digest of them. A resource whose digest is the one
 * its last converged run recorded has nothing changed outside its database.
 */
#ifndef APPDB_PG_INSTANCE_H
#define APPDB_PG_INSTANCE_H

#include "err.h"

#include <libpq-fe.h>
#include <stddef.h>

#define PG_DIGEST_LEN 33 /* 32 hex digits and the NUL */

/* One resource: its database, its "ns/name" (the markers) and its roles (borrowed). */
struct pg_instance_item {
	const char *db;
	const char *resource;
	const char *const *roles; /* the owner and every user of the spec */
	size_t n_roles;
};

/*
 * Fills out[i] (n entries) with the digest of items[i]'s instance-wide state,
 * in one query on conn. Returns 0, APPDB_ENOMEM or the mapped SQL error.
 */
int pg_instance_digests(char (*out)[PG_DIGEST_LEN], PGconn *conn,
                        const struct pg_instance_item *items, size_t n, struct err *err);

#endif
