/*
 * validate.c - identifiers, reserved names, uniqueness: every rule of DESIGN
 * section 3 that is about values rather than shapes.
 */
#include "validate.h"

#include <string.h>

#define NAME_MAX_K8S 253
#define SECRET_ID_MAX 2048
#define SECRET_KEY_MAX 253
#define USERS_MAX 100
#define SCHEMAS_MAX 32

int validate_identifier(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > IDENT_MAX)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Names no database may have. */
static int reserved_database(const char *s)
{
	static const char *const names[] = {"postgres", "template0", "template1", "rdsadmin", NULL};
	const char *const *n;

	for (n = names; *n != NULL; n++)
		if (strcmp(*n, s) == 0)
			return 1;
	return strncmp(s, "pg_", 3) == 0 || strncmp(s, "rds_", 4) == 0;
}

/*
 * Role names PostgreSQL refuses even quoted (public, none; pg_* is in
 * reserved_database), and the SQL keywords that name another role when a
 * person writes them unquoted (GRANT ... TO current_user).
 */
static int reserved_role_word(const char *s)
{
	static const char *const names[] = {
	    "public", "none", "current_user", "current_role", "session_user", "user", NULL};
	const char *const *n;

	for (n = names; *n != NULL; n++)
		if (strcmp(*n, s) == 0)
			return 1;
	return 0;
}

int validate_reserved_role(const char *s, const char *admin_role)
{
	if (reserved_database(s) || reserved_role_word(s))
		return 1;
	return admin_role != NULL && strcmp(s, admin_role) == 0;
}

/* Schemas PostgreSQL or RDS keep for themselves. */
static int reserved_schema(const char *s)
{
	return strncmp(s, "pg_", 3) == 0 || strncmp(s, "rds_", 4) == 0 ||
	       strcmp(s, "information_schema") == 0;
}

int validate_dns_subdomain(const char *s)
{
	size_t i, n = strlen(s), label = 0;

	if (n == 0 || n > NAME_MAX_K8S)
		return 0;
	for (i = 0; i <= n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (c == '.' || c == '\0') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!alnum && c != '-')
			return 0;
		if (label == 0 && !alnum)
			return 0;
		label++;
	}
	return 1;
}

int validate_dns_label(const char *s)
{
	return validate_dns_subdomain(s) && strlen(s) <= 63 && strchr(s, '.') == NULL;
}

/* 1 when s is a valid Secret data key: [-._a-zA-Z0-9]+, at most 253. */
static int secret_key(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SECRET_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return 0;
	}
	return 1;
}

static const char ident_rule[] =
    "must match ^[a-z_][a-z0-9_]{0,62}$ (lowercase letters, digits, underscores; at most 63)";

/* Checks a role name: identifier and not reserved. */
static void check_role(struct field_errs *errs, const char *field, const char *name,
                       const char *admin_role)
{
	if (!validate_identifier(name))
		field_errs_add(errs, field, "%s", ident_rule);
	else if (validate_reserved_role(name, admin_role))
		field_errs_add(errs, field, "\"%s\" is reserved", name);
}

static void check_password_from(struct field_errs *errs, const struct secret_ref *ref, size_t i)
{
	char f[96];

	if (ref->kind == SECRET_AWS_SM) {
		snprintf(f, sizeof(f), "spec.users[%zu].passwordFrom.secretsManager.secretId", i);
		if (ref->secret_id != NULL &&
		    (ref->secret_id[0] == '\0' || strlen(ref->secret_id) > SECRET_ID_MAX))
			field_errs_add(errs, f, "must be 1 to %d characters", SECRET_ID_MAX);
		snprintf(f, sizeof(f), "spec.users[%zu].passwordFrom.secretsManager.key", i);
		if (ref->key != NULL && (ref->key[0] == '\0' || strlen(ref->key) > SECRET_KEY_MAX))
			field_errs_add(errs, f, "must be 1 to %d characters", SECRET_KEY_MAX);
	} else if (ref->kind == SECRET_KUBE) {
		snprintf(f, sizeof(f), "spec.users[%zu].passwordFrom.kubernetesSecret.name", i);
		if (ref->name != NULL && !validate_dns_subdomain(ref->name))
			field_errs_add(errs, f, "must be a valid Secret name (DNS-1123 subdomain)");
		snprintf(f, sizeof(f), "spec.users[%zu].passwordFrom.kubernetesSecret.key", i);
		if (ref->key != NULL && !secret_key(ref->key))
			field_errs_add(errs, f, "must match ^[-._a-zA-Z0-9]+$ (at most %d)",
			               SECRET_KEY_MAX);
	}
}

int validate_appdb(const struct appdb *db, const char *admin_role, struct field_errs *errs)
{
	size_t before = errs->n + errs->dropped;
	size_t i, j;
	char f[64];

	if (db->name != NULL && !validate_dns_subdomain(db->name))
		field_errs_add(errs, "metadata.name", "must be a DNS-1123 subdomain");
	if (db->ns != NULL && !validate_dns_label(db->ns))
		field_errs_add(errs, "metadata.namespace", "must be a DNS-1123 label");
	if (db->instance != NULL && (db->instance[0] == '\0' || strlen(db->instance) > 63))
		field_errs_add(errs, "spec.instance", "must be 1 to 63 characters");
	if (db->db_name != NULL) {
		if (!validate_identifier(db->db_name))
			field_errs_add(errs, "spec.database.name", "%s", ident_rule);
		else if (reserved_database(db->db_name))
			field_errs_add(errs, "spec.database.name", "\"%s\" is reserved",
			               db->db_name);
	}
	if (db->owner != NULL)
		check_role(errs, "spec.database.owner", db->owner, admin_role);

	if (db->n_schemas > SCHEMAS_MAX)
		field_errs_add(errs, "spec.schemas", "must have at most %d items", SCHEMAS_MAX);
	for (i = 0; i < db->n_schemas; i++) {
		snprintf(f, sizeof(f), "spec.schemas[%zu]", i);
		if (!validate_identifier(db->schemas[i]))
			field_errs_add(errs, f, "%s", ident_rule);
		else if (reserved_schema(db->schemas[i]))
			field_errs_add(errs, f, "\"%s\" is reserved", db->schemas[i]);
		for (j = 0; j < i; j++)
			if (strcmp(db->schemas[i], db->schemas[j]) == 0)
				field_errs_add(errs, f, "duplicate schema name");
	}

	if (db->n_users > USERS_MAX)
		field_errs_add(errs, "spec.users", "must have at most %d items", USERS_MAX);
	for (i = 0; i < db->n_users; i++) {
		const struct appdb_user *u = &db->users[i];

		snprintf(f, sizeof(f), "spec.users[%zu].name", i);
		if (u->name == NULL)
			continue;
		check_role(errs, f, u->name, admin_role);
		if (db->owner != NULL && strcmp(u->name, db->owner) == 0)
			field_errs_add(errs, f, "must differ from spec.database.owner");
		for (j = 0; j < i; j++)
			if (db->users[j].name != NULL && strcmp(u->name, db->users[j].name) == 0)
				field_errs_add(errs, f, "duplicate user name");
		if (u->password_from.kind == SECRET_NONE && !db->adopt) {
			snprintf(f, sizeof(f), "spec.users[%zu].passwordFrom", i);
			field_errs_add(errs, f,
			               "required field is missing (only spec.adopt: true keeps an "
			               "existing password)");
		}
		check_password_from(errs, &u->password_from, i);
	}
	validate_connection(db, admin_role, errs);
	return errs->n + errs->dropped > before ? APPDB_EINVAL : 0;
}
