/*
 * plan.h - the planner: observed catalog state and the desired state in,
 * an ordered list of actions out. Pure: no I/O, no libpq, no clock.
 *
 * Observed privileges arrive as a set of "facts" (strings the observation
 * query produces, see pg.c):
 *   member:<role>:<member>                 usable membership (SET or INHERIT)
 *   db:<PRIV>:<grantee|PUBLIC>             database ACL entry
 *   schema:<schema>                        schema exists
 *   schemaowner:<schema>:<role>            the schema's owner
 *   schemapriv:<schema>:<PRIV>:<grantee|PUBLIC>  schema ACL entry
 *   objects:<schema>:<r|S>:<grantee>       managed tables (r) / sequences (S)
 *                                          that grantee does not own exist
 *   all:<schema>:<r|S>:<PRIV>:<grantee>    every one of those has PRIV
 *   any:<schema>:<r|S>:<PRIV>:<grantee>    some of those has PRIV
 *   defacl:<creator>:<schema>:<r|S>:<PRIV>:<grantee>  default privilege
 *   owns:<role>                            a login role of the resource owns
 *                                          something in the database
 *   evtrigger:<name>:<owner>               an enabled event trigger whose
 *                                          function a non-superuser owns
 * and, from pg_observe_access.c (DESIGN 11.3):
 *   member:<group>:<member>                also for groups outside the resource
 *   role:<name>                            a memberOf role (or rds_iam) exists
 *   validuntil:<role>:<epoch|infinity>     the role's VALID UNTIL
 *   setting:<role>:<name>=<value>          ALTER ROLE ... IN DATABASE ... SET
 *   iamheld:<role>                         the role is a member of rds_iam
 *   extavail:<name>                        the server has the extension
 *   ext:<name>                             the extension is in the database
 * "Managed objects" are those owned by any role of the resource; an
 * owner's own ACL entries are not counted as grants.
 */
#ifndef APPDB_PLAN_H
#define APPDB_PLAN_H

#include "model.h"

#include <jansson.h>
#include <stddef.h>

struct obs_role {
	char *name;
	int login;
	int conn_limit;
	char *comment;    /* NULL when none */
	int admin_member; /* the admin holds a usable membership in it */
};

struct observed {
	int server_version; /* server_version_num */
	char *admin;        /* the admin role (current_user) */
	int admin_createrole;
	int admin_createdb;
	int restrict_password;  /* rds.restrict_password_commands is on */
	int admin_rds_password; /* admin is a member of rds_password */
	struct obs_role *roles; /* the spec's roles that exist, and every marked role */
	size_t n_roles;
	int db_exists;
	char *db_owner;
	char *db_comment;
	int db_allow_connections; /* datallowconn */
	int target_observed;      /* facts from inside the database were read */
	json_t *facts;            /* an object used as a set; owned */
};

struct desired_user {
	const char *name;
	enum access access;
	int conn_limit;
	int set_password;               /* the password must be (re)set */
	const char *password_version;   /* recorded in the marker; NULL: none */
	const struct user_access *more; /* DESIGN 11.3 fields; NULL: none */
};

/* Borrowed strings throughout. */
struct desired {
	const char *resource; /* "ns/name" */
	const char *uid;
	const char *db_name;
	const char *owner;
	const char *const *schemas;
	size_t n_schemas;
	const struct desired_user *users;
	size_t n_users;
	/* Roles marked for this resource that the spec no longer names: disabled. */
	const char *const *retired;
	size_t n_retired;
	const char *now; /* RFC 3339, for a retired role's marker ("retiredAt") */
	int disabling;   /* deletionPolicy Disable: users is empty, every login role retired */
	const struct appdb_extension *extensions;
	size_t n_extensions;
	/* The instance's allowedRoles: memberships in them outside the spec are revoked. */
	const char *const *allowed_roles;
	size_t n_allowed_roles;
	int adopt; /* spec.adopt: an unmarked role or database is adopted, not refused */
};

enum action_kind {
	ACT_CREATE_ROLE,           /* role; login, conn_limit, comment; password when login */
	ACT_ALTER_ROLE,            /* role; login (-1 keep), conn_limit (ACT_KEEP keep) */
	ACT_SET_PASSWORD,          /* role */
	ACT_COMMENT_ROLE,          /* role, comment */
	ACT_CREATE_DATABASE,       /* db, other = owner */
	ACT_COMMENT_DATABASE,      /* db, comment */
	ACT_GRANT_CONNECT,         /* db, other = grantee */
	ACT_REVOKE_CONNECT_PUBLIC, /* db */
	ACT_GRANT_ROLE,            /* role granted to other */
	ACT_REVOKE_ROLE,           /* role revoked from other */
	ACT_CREATE_SCHEMA,         /* schema, other = owner (target db) */
	ACT_GRANT_SCHEMA_USAGE,    /* schema, other = grantee (target db) */
	ACT_GRANT_ON_ALL,          /* schema, objtype, privs, other = grantee (target db) */
	ACT_REVOKE_ON_ALL,         /* schema, objtype, privs, other = grantee (target db) */
	ACT_DEFAULT_GRANT,         /* role = creator, schema, objtype, privs, other = grantee */
	ACT_DEFAULT_REVOKE,        /* role = creator, schema, objtype, privs, other = grantee */
	ACT_DROP_ADMIN_MEMBERSHIP, /* role: a membership an interrupted run left */
	ACT_ALLOW_CONNECTIONS,     /* db: opened once only the resource's roles may connect */
	ACT_REVOKE_SCHEMA_PUBLIC,  /* schema, privs: what PUBLIC may do there (target db) */
	ACT_REASSIGN_OWNED,        /* role's objects to other = owner (target db) */
	ACT_REVOKE_CONNECT,        /* db, other = grantee */
	ACT_REVOKE_SCHEMA_USAGE,   /* schema, other = grantee (target db) */
	ACT_GRANT_DB_PRIVS,        /* db, privs (TEMPORARY, CREATE), other = grantee */
	ACT_REVOKE_DB_PRIVS,       /* db, privs, other = grantee */
	ACT_GRANT_SCHEMA_PRIVS,    /* schema, privs (CREATE), other = grantee (target db) */
	ACT_REVOKE_SCHEMA_PRIVS,   /* schema, privs, other = grantee (target db) */
	ACT_VALID_UNTIL,           /* role, comment = the timestamp literal ("infinity") */
	ACT_SET_SETTING,           /* role, db, other = setting name, comment = value */
	ACT_RESET_SETTING,         /* role, db, other = setting name */
	ACT_CREATE_EXTENSION,      /* other = extension, schema (may be NULL), role = owner */
};

#define ACT_KEEP (-1000)

struct action {
	enum action_kind kind;
	int target_db; /* runs inside the application database */
	char *role;
	char *other;
	char *db;
	char *schema;
	char *privs;  /* "SELECT, INSERT" */
	char objtype; /* 'r' tables, 'S' sequences */
	int login;
	int conn_limit;
	char *comment;
	char *user; /* the spec user this concerns; NULL: the database */
	char *text; /* "create role orders_app" */
	/*
	 * The statement may do nothing without failing (PostgreSQL warns
	 * "no privileges were granted/revoked" when the admin cannot act for
	 * the object's owner). When it does nothing, warning (if set) is what
	 * the run reports.
	 */
	int may_not_apply;
	char *warning;
	int no_password; /* ACT_CREATE_ROLE of a login that has none (iamAuth) */
	int done;        /* executed (set by the engine) */
};

struct plan {
	struct action *items;
	size_t n;
	/* Roles the admin must be a member of while the plan runs. */
	char **admin_roles;
	size_t n_admin_roles;
	/* What the plan cannot fix and a person should know (Ready message, audit). */
	char **warnings;
	size_t n_warnings;
};

/* Builds the plan; returns 0 or APPDB_ENOMEM. out is cleared first. */
int plan_build(struct plan *out, const struct desired *d, const struct observed *o);
void plan_clear(struct plan *p);

/*
 * What the instance cannot do for d (plan_access.c): an extension it does
 * not have, rds_iam or a memberOf role that does not exist. Returns 1 with
 * a message naming the field in buf, else 0. Checked before any change.
 */
int plan_access_problem(char *buf, size_t len, const struct desired *d, const struct observed *o);

/* Adds a warning (copied) to p; returns 0 or APPDB_ENOMEM. */
int plan_warn(struct plan *p, const char *text);

/* 1 when the fact is in o->facts. */
int observed_has(const struct observed *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds a fact (tests and the observer); returns 0 or APPDB_ENOMEM. */
int observed_add(struct observed *o, const char *fact);
const struct obs_role *observed_role(const struct observed *o, const char *name);
/*
 * The rest of the first fact that starts with prefix (borrowed from o), or
 * NULL: observed_rest(o, "schemaowner:public:") is public's owner.
 */
const char *observed_rest(const struct observed *o, const char *prefix);
void observed_clear(struct observed *o);

/* The marker a role or database carries for d; user may be NULL. Owned. */
char *plan_marker(const struct desired *d, const struct desired_user *user);
/*
 * The marker of a retired role: its observed marker with "retiredAt": now
 * added (kept when already there). Owned; NULL on ENOMEM or a comment that
 * is not a JSON object.
 */
char *plan_retired_marker(const char *comment, const char *now);
/*
 * Compares an observed comment with the desired marker: returns 0 when it is
 * not a marker of ours, 1 when it is ours for d->resource and equal, 2 when
 * ours for d->resource but out of date (uid or passwordVersion differ, or a user's marker says
 * retiredAt), 3 when it names another resource.
 */
int plan_marker_match(const char *comment, const struct desired *d,
                      const struct desired_user *user);

#endif
