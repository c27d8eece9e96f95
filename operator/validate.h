/*
 * validate.h - the rules of DESIGN section 3 on a decoded AppDatabase.
 *
 * The CRD states the same rules for the API server (crds/appdatabase.yaml);
 * tests/corpus proves the two agree. Pure functions, no I/O.
 */
#ifndef APPDB_VALIDATE_H
#define APPDB_VALIDATE_H

#include "config.h"
#include "model.h"

#define IDENT_MAX 63

/* 1 when s matches ^[a-z_][a-z0-9_]{0,62}$. */
int validate_identifier(const char *s);

/*
 * 1 when s may not name a role: postgres, template0/1, rdsadmin, public, none,
 * current_user, current_role, session_user, user, pg_*, rds_*, admin_role.
 */
int validate_reserved_role(const char *s, const char *admin_role);

/*
 * 1 when s is a DNS-1123 subdomain (Kubernetes object names): at most 253
 * characters, dot-separated labels of [a-z0-9-] that start and end with a
 * letter or digit.
 */
int validate_dns_subdomain(const char *s);

/* 1 when s is a DNS-1123 label (namespace names): a subdomain of one label, at most 63. */
int validate_dns_label(const char *s);

/*
 * Checks db (borrowed) and adds every problem to errs, naming the field.
 * admin_role is the instance's admin user, or NULL when unknown. Returns 0
 * when db is valid, else APPDB_EINVAL.
 */
int validate_appdb(const struct appdb *db, const char *admin_role, struct field_errs *errs);

/*
 * The rules of spec.connection (DESIGN 11.4) and users[].rotation (11.3):
 * object names, and for alternating users a clone name that is a valid,
 * free role name. Adds problems to errs (validate_connection.c).
 */
void validate_connection(const struct appdb *db, const char *admin_role, struct field_errs *errs);
/* 1 when s is an extension name: ^[a-z_][a-z0-9_-]{0,62}$. */
int validate_extension_name(const char *s);

/* 1 when s is a search_path as the settings take it: "a, b" (identifiers). */
int validate_search_path(const char *s);

/*
 * 1 when no user may be a member of role, whatever allowedRoles says: roles
 * that reach the server's files or programs, other sessions or RDS's own
 * administration (pg_execute_server_program, rds_superuser, ...), rds_iam
 * (iamAuth grants it) and the admin role.
 */
int validate_never_member_of(const char *role, const char *admin_role);

/* 1 when extension name is allowed on in (allowedExtensions, else the trusted ones). */
int validate_extension_allowed(const char *name, const struct instance_config *in);

/*
 * The rules that need the instance's config (borrowed; NULL when unknown):
 * memberOf only roles in allowedRoles, extensions only those allowed.
 * Returns 0 or APPDB_EINVAL with the problems added to errs.
 */
int validate_appdb_instance(const struct appdb *db, const struct instance_config *in,
                            struct field_errs *errs);

#endif
