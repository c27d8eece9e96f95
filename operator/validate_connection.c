/*
 * validate_connection.c - the value rules of spec.connection (DESIGN 11.4)
 * and users[].rotation: alternating (11.3).
 */
#include "validate.h"

#include <stdio.h>
#include <string.h>

/* 1 when name is db's owner or one of its users' names. */
static int name_taken(const struct appdb *db, const char *name)
{
	size_t i;

	if (db->owner != NULL && strcmp(db->owner, name) == 0)
		return 1;
	for (i = 0; i < db->n_users; i++)
		if (db->users[i].name != NULL && strcmp(db->users[i].name, name) == 0)
			return 1;
	return 0;
}

/* An alternating user: a secretsManager source, and <name>_clone a free role name. */
static void check_alternating(const struct appdb *db, const char *admin_role, size_t i,
                              struct field_errs *errs)
{
	const struct appdb_user *u = &db->users[i];
	char f[64], clone[128];

	snprintf(f, sizeof(f), "spec.users[%zu].rotation", i);
	if (u->password_from.kind != SECRET_AWS_SM)
		field_errs_add(errs, f, "alternating needs passwordFrom.secretsManager");
	if (u->name == NULL || !validate_identifier(u->name))
		return;
	snprintf(clone, sizeof(clone), "%s%s", u->name, ROTATION_CLONE_SUFFIX);
	if (!validate_identifier(clone))
		field_errs_add(errs, f, "alternating needs a name of at most %zu characters",
		               (size_t)IDENT_MAX - strlen(ROTATION_CLONE_SUFFIX));
	else if (validate_reserved_role(clone, admin_role))
		field_errs_add(errs, f, "alternating would use the reserved role \"%s\"", clone);
	else if (name_taken(db, clone))
		field_errs_add(
		    errs, f, "alternating uses the role \"%s\", already named in the spec", clone);
}

void validate_connection(const struct appdb *db, const char *admin_role, struct field_errs *errs)
{
	size_t i;

	if (db->connection_configmap != NULL && !validate_dns_subdomain(db->connection_configmap))
		field_errs_add(errs, "spec.connection.configMap",
		               "must be a valid ConfigMap name (DNS-1123 subdomain)");
	if (db->connection_secret != NULL && !validate_dns_subdomain(db->connection_secret))
		field_errs_add(errs, "spec.connection.secret",
		               "must be a valid Secret name (DNS-1123 subdomain)");
	for (i = 0; i < db->n_users; i++)
		if (db->users[i].rotation == ROTATION_ALTERNATING)
			check_alternating(db, admin_role, i, errs);
}
