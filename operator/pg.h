/*
 * pg.h - PostgreSQL access: connecting (TLS, application_name), the
 * advisory lock, the observation queries and statement execution.
 *
 * All SQL of the project lives here and in sql.c. Identifiers are quoted with
 * PQescapeIdentifier, values travel as $n parameters where PostgreSQL takes
 * them, and SQLSTATEs map to the project's error codes: connection classes and
 * lock timeouts are APPDB_ETRANSIENT, 42501 is APPDB_EFORBIDDEN, a refused
 * password APPDB_EUNAUTHORIZED, the rest APPDB_EDB. Error messages carry the
 * server's primary message only, never statement text.
 */
#ifndef APPDB_PG_H
#define APPDB_PG_H

#include "plan.h"
#include "sql.h"

#include <libpq-fe.h>

/* Borrowed strings. password may be NULL (then none is sent). */
struct pg_params {
	const char *host;
	int port;
	const char *dbname;
	const char *user;
	const char *password;
	const char *sslmode;
	const char *sslrootcert;
	const char *application_name;
	int connect_timeout;   /* seconds; 0: 10 */
	int statement_timeout; /* seconds; 0: PG_DEFAULT_STATEMENT_TIMEOUT */
	int lock_timeout;      /* seconds; 0: PG_DEFAULT_LOCK_TIMEOUT */
};

#define PG_DEFAULT_STATEMENT_TIMEOUT 60
#define PG_DEFAULT_LOCK_TIMEOUT 30

/*
 * Connects; *out is a new connection (PQfinish it) on success. Every
 * session is pinned before its first statement: search_path
 * pg_catalog,pg_temp, role none (the login role), statement_timeout and
 * lock_timeout, whatever ALTER DATABASE/ROLE ... SET says. A refused login
 * is classified by its SQLSTATE, never by its (translated) text:
 * APPDB_EUNAUTHORIZED a wrong password (28P01), APPDB_EFORBIDDEN a role
 * that authenticated and was then refused (no CONNECT, NOLOGIN, the
 * database not accepting connections), APPDB_ENOTFOUND no such database,
 * APPDB_ETRANSIENT the rest (network, TLS, shutdown, too many connections).
 */
int pg_connect(PGconn **out, const struct pg_params *p, struct err *err);

/* Runs one statement without parameters; maps failure to a code. */
int pg_exec(PGconn *conn, const char *sql, struct err *err);

/*
 * Runs one statement like pg_exec; *applied is 0 when PostgreSQL warned that
 * it granted or revoked nothing (SQLSTATE 01007 / 01006).
 */
int pg_exec_applied(PGconn *conn, const char *sql, int *applied, struct err *err);

/*
 * *yes is 1 when the session's role may act as the owner of schema (in the
 * current database), so that GRANT and REVOKE there take effect.
 */
int pg_acts_as_schema_owner(PGconn *conn, const char *schema, int *yes, struct err *err);

/* Sets application_name and lock_timeout for a reused session. */
int pg_session_setup(PGconn *conn, const char *application_name, int lock_timeout_seconds,
                     struct err *err);

/* Takes / releases the session advisory lock for a database name. */
int pg_lock(PGconn *conn, const char *db_name, struct err *err);
int pg_unlock(PGconn *conn, const char *db_name, struct err *err);

/*
 * The instance-wide lock over the admin's temporary memberships (session
 * advisory locks in the admin database, released with the session):
 * shared while a run holds memberships, exclusive (try only; *got says
 * whether it was taken) to give back memberships no run holds.
 */
int pg_memberships_share(PGconn *conn, struct err *err);
int pg_memberships_unshare(PGconn *conn, struct err *err);
int pg_memberships_try_exclusive(PGconn *conn, int *got, struct err *err);
int pg_memberships_release_exclusive(PGconn *conn, struct err *err);

/* Observes roles, memberships, the database and its ACL from the admin database. */
int pg_observe_admin(struct observed *o, PGconn *conn, const struct desired *d, struct err *err);

/* Observes schemas, object privileges and default privileges inside the database. */
int pg_observe_target(struct observed *o, PGconn *conn, const struct desired *d, struct err *err);

/*
 * pg_observe_access.c: memberships outside the resource, VALID UNTIL,
 * settings, rds_iam and available extensions (admin database), and the
 * extensions created in the database (target). Facts as plan.h lists.
 */
int pg_observe_access(struct observed *o, PGconn *conn, const struct desired *d, struct err *err);
int pg_observe_extensions(struct observed *o, PGconn *conn, const struct desired *d,
                          struct err *err);

/*
 * What `import` reads (pg_import.c), each as a new JSON reference in *out:
 * the instance-wide catalogs on the admin connection, and one database's
 * schemas and the privileges of roles (validated names) on a connection to
 * it. Returns 0 or an error.
 */
int pg_import_instance(json_t **out, PGconn *conn, struct err *err);
int pg_import_database(json_t **out, PGconn *conn, const char *const *roles, size_t n_roles,
                       struct err *err);

/*
 * Whether role (made by hand, no marker) may be adopted by the resource
 * whose database is db_name and whose roles are roles (owner and users):
 * *out is NULL when it may, else an owned message saying why not (an
 * elevated attribute, something in another database, a membership outside
 * the resource, or from 16 no ADMIN OPTION for admin). Returns 0 or an error.
 */
int pg_adopt_check(char **out, PGconn *conn, const char *role, const char *db_name,
                   const char *const *roles, size_t n_roles, const char *admin, struct err *err);

/* The SCRAM-SHA-256 verifier of password for user, made client-side. Owned. */
int pg_verifier(char **out, PGconn *conn, const char *user, const char *password, struct err *err);

/*
 * Tries to log in as p->user with p->password. *ok is 1 when the server took
 * the password (even if it then refused the database), 0 when it refused the
 * password; returns APPDB_ETRANSIENT when it could not tell.
 */
int pg_probe_login(int *ok, const struct pg_params *p, struct err *err);

/* A quoter for sql.c backed by conn. */
struct sql_quote pg_quoter(PGconn *conn);

/* 1 when conn is usable. */
int pg_alive(PGconn *conn);

#endif
