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

/* 1 when s matches ^[a-z_][a-z0-9_]{0,62}$, with '-' allowed after the first when hyphen. */
static int name_chars(const char *s, int hyphen)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > IDENT_MAX)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      (hyphen && s[i] == '-')))
			return 0;
	return 1;
}

int validate_identifier(const char *s)
{
	return name_chars(s, 0);
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

/* Roles no user may be a member of, whatever allowedRoles says. */
static const char *const NEVER_MEMBER_OF[] = {"pg_execute_server_program",
                                              "pg_read_server_files",
                                              "pg_write_server_files",
                                              "pg_signal_backend",
                                              "pg_create_subscription",
                                              "pg_checkpoint",
                                              "rds_superuser",
                                              "rds_password",
                                              "rds_replication",
                                              "rds_iam",
                                              "rdsadmin",
                                              "postgres",
                                              NULL};

int validate_never_member_of(const char *role, const char *admin_role)
{
	const char *const *n;

	for (n = NEVER_MEMBER_OF; *n != NULL; n++)
		if (strcmp(*n, role) == 0)
			return 1;
	return admin_role != NULL && strcmp(role, admin_role) == 0;
}

/* 1 when s is in the n-item list. */
static int listed(const char *s, char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] != NULL && strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

/* 1 when s is digits (at most 10) followed by one of the units (or none). */
static int number_with_unit(const char *s, const char *const *units)
{
	size_t i = 0;
	const char *const *u;

	while (s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || i > 10)
		return 0;
	if (s[i] == '\0')
		return 1;
	for (u = units; *u != NULL; u++)
		if (strcmp(s + i, *u) == 0)
			return 1;
	return 0;
}

/* 1 when s is "a, b, c": identifiers separated by a comma and optional spaces. */
int validate_search_path(const char *s)
{
	char name[IDENT_MAX + 2];
	size_t n = 0, count = 0;

	for (;; s++) {
		if (*s == ',' || *s == '\0') {
			name[n] = '\0';
			if (!validate_identifier(name) || ++count > SCHEMAS_MAX)
				return 0;
			if (*s == '\0')
				return 1;
			n = 0;
			while (s[1] == ' ')
				s++;
			continue;
		}
		if (n > IDENT_MAX)
			return 0;
		name[n++] = *s;
	}
}

static void check_setting(struct field_errs *errs, const char *f, const struct role_setting *st)
{
	static const char *const time_units[] = {"us", "ms", "s", "min", "h", "d", NULL};
	static const char *const mem_units[] = {"kB", "MB", "GB", "TB", NULL};
	const char *const *k;
	int known = 0;

	for (k = ACCESS_SETTING_KEYS; *k != NULL; k++)
		known |= strcmp(*k, st->name) == 0;
	if (!known) {
		field_errs_add(errs, f,
		               "unknown setting; allowed: search_path, statement_timeout, "
		               "lock_timeout, idle_in_transaction_session_timeout, "
		               "idle_session_timeout, work_mem");
		return;
	}
	if (strcmp(st->name, "search_path") == 0) {
		if (!validate_search_path(st->value))
			field_errs_add(errs, f,
			               "must be a comma-separated list of schema names, each "
			               "matching ^[a-z_][a-z0-9_]{0,62}$");
	} else if (strcmp(st->name, "work_mem") == 0) {
		if (!number_with_unit(st->value, mem_units))
			field_errs_add(errs, f,
			               "must be a number with an optional unit (kB, MB, GB, TB)");
	} else if (!number_with_unit(st->value, time_units)) {
		field_errs_add(errs, f,
		               "must be a number with an optional unit (us, ms, s, min, h, d)");
	}
}

/* The user fields of DESIGN section 11.3. */
static void check_user_access(struct field_errs *errs, const struct appdb *db, size_t i,
                              const char *admin_role)
{
	const struct appdb_user *u = &db->users[i];
	const struct user_access *a = &u->more;
	char f[160];
	size_t j, k;

	for (j = 0; j < a->n_schemas; j++) {
		snprintf(f, sizeof(f), "spec.users[%zu].schemas[%zu]", i, j);
		if (!listed(a->schemas[j], db->schemas, db->n_schemas))
			field_errs_add(errs, f, "must be one of spec.schemas");
		for (k = 0; k < j; k++)
			if (strcmp(a->schemas[j], a->schemas[k]) == 0)
				field_errs_add(errs, f, "duplicate schema name");
	}
	for (j = 0; j < a->n_member_of; j++) {
		const char *m = a->member_of[j];

		snprintf(f, sizeof(f), "spec.users[%zu].memberOf[%zu]", i, j);
		if (!validate_identifier(m))
			field_errs_add(errs, f, "%s", ident_rule);
		else if (validate_never_member_of(m, admin_role))
			field_errs_add(errs, f, "\"%s\" may never be granted to a user", m);
		else if ((db->owner != NULL && strcmp(m, db->owner) == 0))
			field_errs_add(errs, f, "must not be the owner role (use access: owner)");
		for (k = 0; k < db->n_users; k++)
			if (db->users[k].name != NULL && strcmp(m, db->users[k].name) == 0)
				field_errs_add(errs, f, "must not be a user of this resource");
		for (k = 0; k < j; k++)
			if (strcmp(m, a->member_of[k]) == 0)
				field_errs_add(errs, f, "duplicate role");
	}
	for (j = 0; j < a->n_settings; j++) {
		snprintf(f, sizeof(f), "spec.users[%zu].settings.%s", i, a->settings[j].name);
		check_setting(errs, f, &a->settings[j]);
	}
	/*
	 * An IAM user must never own what the admin has to act for: the admin
	 * would have to become a member of a role holding rds_iam.
	 */
	if (a->iam_auth && u->access == ACCESS_OWNER) {
		snprintf(f, sizeof(f), "spec.users[%zu].iamAuth", i);
		field_errs_add(errs, f, "cannot be true with access: owner");
	} else if (a->iam_auth && (a->privileges[PRIV_SCHEMA] & 2u)) {
		snprintf(f, sizeof(f), "spec.users[%zu].iamAuth", i);
		field_errs_add(errs, f, "cannot be true with privileges.schema CREATE");
	}
}

static void check_extensions(struct field_errs *errs, const struct appdb *db)
{
	char f[96];
	size_t i, j;

	for (i = 0; i < db->n_extensions; i++) {
		const struct appdb_extension *e = &db->extensions[i];

		snprintf(f, sizeof(f), "spec.database.extensions[%zu].name", i);
		if (!validate_extension_name(e->name))
			field_errs_add(errs, f, "must match ^[a-z_][a-z0-9_-]{0,62}$");
		for (j = 0; j < i; j++)
			if (strcmp(e->name, db->extensions[j].name) == 0)
				field_errs_add(errs, f, "duplicate extension");
		snprintf(f, sizeof(f), "spec.database.extensions[%zu].schema", i);
		if (e->schema != NULL && !listed(e->schema, db->schemas, db->n_schemas))
			field_errs_add(errs, f, "must be one of spec.schemas");
	}
}

int validate_extension_name(const char *s)
{
	return name_chars(s, 1);
}

/* PostgreSQL's trusted extensions (contrib's, and plpgsql): allowedExtensions' default. */
static const char *const TRUSTED_EXTENSIONS[] = {
    "btree_gin", "btree_gist", "citext",    "cube", "dict_int",        "fuzzystrmatch",
    "hstore",    "intarray",   "isn",       "lo",   "ltree",           "pgcrypto",
    "pg_trgm",   "seg",        "tablefunc", "tcn",  "tsm_system_rows", "tsm_system_time",
    "unaccent",  "uuid-ossp",  "plpgsql",   NULL};

int validate_extension_allowed(const char *name, const struct instance_config *in)
{
	const char *const *t;

	if (in != NULL && in->allowed_extensions_set)
		return listed(name, in->allowed_extensions, in->n_allowed_extensions);
	for (t = TRUSTED_EXTENSIONS; *t != NULL; t++)
		if (strcmp(*t, name) == 0)
			return 1;
	return 0;
}

int validate_appdb_instance(const struct appdb *db, const struct instance_config *in,
                            struct field_errs *errs)
{
	size_t before = errs->n + errs->dropped;
	char f[96];
	size_t i, j;

	for (i = 0; i < db->n_users; i++) {
		const struct user_access *a = &db->users[i].more;

		for (j = 0; j < a->n_member_of; j++) {
			snprintf(f, sizeof(f), "spec.users[%zu].memberOf[%zu]", i, j);
			if (in == NULL ||
			    !listed(a->member_of[j], in->allowed_roles, in->n_allowed_roles))
				field_errs_add(errs, f,
				               "role %s is not in the instance's allowedRoles",
				               a->member_of[j]);
		}
	}
	for (i = 0; i < db->n_extensions; i++) {
		snprintf(f, sizeof(f), "spec.database.extensions[%zu].name", i);
		if (!validate_extension_allowed(db->extensions[i].name, in))
			field_errs_add(
			    errs, f, "extension %s is not in the instance's %s",
			    db->extensions[i].name,
			    in != NULL && in->allowed_extensions_set
			        ? "allowedExtensions"
			        : "allowedExtensions (default: PostgreSQL's trusted extensions)");
	}
	return errs->n + errs->dropped > before ? APPDB_EINVAL : 0;
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
		if (u->password_from.kind == SECRET_NONE && !db->adopt && !u->more.iam_auth) {
			snprintf(f, sizeof(f), "spec.users[%zu].passwordFrom", i);
			field_errs_add(errs, f,
			               "required field is missing (only spec.adopt: true keeps an "
			               "existing password)");
		}
		check_password_from(errs, &u->password_from, i);
		check_user_access(errs, db, i, admin_role);
	}
	validate_connection(db, admin_role, errs);
	check_extensions(errs, db);
	return errs->n + errs->dropped > before ? APPDB_EINVAL : 0;
}
