/*
 * model.c - decodes an AppDatabase from its JSON form (the API's, or YAML
 * turned into JSON) into struct appdb, checking shapes and types. The rules
 * on values (identifiers, reserved names, uniqueness) are in validate.c.
 */
#include "model.h"
#include "model_int.h"

#include "jfield.h"
#include "model_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void field_errs_add(struct field_errs *errs, const char *field, const char *fmt, ...)
{
	char msg[512];
	char *item = NULL;
	va_list ap;

	if (errs->n >= FIELD_ERRS_MAX) {
		errs->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&item, "%s: %s", field, msg) < 0) {
		errs->nomem = 1;
		return;
	}
	errs->items[errs->n++] = item;
}

char *field_errs_join(const struct field_errs *errs)
{
	size_t len = 1;
	size_t i;
	char *s;

	for (i = 0; i < errs->n; i++)
		len += strlen(errs->items[i]) + 2;
	len += 64;
	s = malloc(len);
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < errs->n; i++) {
		if (i > 0)
			strcat(s, "; ");
		strcat(s, errs->items[i]);
	}
	if (errs->dropped > 0)
		snprintf(s + strlen(s), 64, "; and %zu more", errs->dropped);
	return s;
}

void field_errs_clear(struct field_errs *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		free(errs->items[i]);
	memset(errs, 0, sizeof(*errs));
}

const char *access_name(enum access a)
{
	switch (a) {
	case ACCESS_READONLY:
		return "readonly";
	case ACCESS_READWRITE:
		return "readwrite";
	default:
		return "owner";
	}
}

/* The JSON type name for messages. */
static const char *type_name(const json_t *v)
{
	return jfield_type_name(v);
}

/* Refuses keys of obj not in allowed (NULL-terminated). */
static void check_known(struct field_errs *errs, const char *path, json_t *obj,
                        const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		const char *const *a;
		int known = 0;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, key) == 0)
				known = 1;
		if (!known) {
			char f[256];

			snprintf(f, sizeof(f), "%s%s%s", path, path[0] ? "." : "", key);
			field_errs_add(errs, f, "unknown field");
		}
	}
}

/*
 * Reads an optional or required string field into *out (owned copy).
 * Returns 1 when present and a string.
 */
static int get_string(char **out, struct field_errs *errs, json_t *obj, const char *path,
                      const char *key, int required)
{
	json_t *v;
	int rc = jfield_get(&v, obj, key, JSON_STRING);
	char f[256];

	jfield_path(f, sizeof(f), path, key);
	if (rc == APPDB_ENOTFOUND) {
		if (required)
			field_errs_add(errs, f, "required field is missing");
		return 0;
	}
	if (rc != 0) {
		field_errs_add(errs, f, "must be a string, not %s", type_name(v));
		return 0;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		field_errs_add(errs, f, "must not contain NUL characters");
		return 0;
	}
	*out = strdup(json_string_value(v));
	if (*out == NULL)
		errs->nomem = 1;
	return *out != NULL;
}

/* Returns obj[key] when it is an object; reports a wrong type or absence. */
int model_get_string(char **out, struct field_errs *errs, json_t *obj, const char *path,
                     const char *key, int required)
{
	return get_string(out, errs, obj, path, key, required);
}

static json_t *get_object(struct field_errs *errs, json_t *obj, const char *path, const char *key,
                          int required)
{
	json_t *v;
	int rc = jfield_get(&v, obj, key, JSON_OBJECT);
	char f[256];

	jfield_path(f, sizeof(f), path, key);
	if (rc == APPDB_ENOTFOUND) {
		if (required)
			field_errs_add(errs, f, "required field is missing");
		return NULL;
	}
	if (rc != 0) {
		field_errs_add(errs, f, "must be an object, not %s", type_name(v));
		return NULL;
	}
	return v;
}

static void decode_password_from(struct secret_ref *ref, struct field_errs *errs, json_t *pf,
                                 const char *path)
{
	static const char *const pf_keys[] = {"secretsManager", "kubernetesSecret", NULL};
	static const char *const sm_keys[] = {"secretId", "key", NULL};
	static const char *const ks_keys[] = {"name", "key", NULL};
	json_t *sm, *ks;
	char p[256];

	check_known(errs, path, pf, pf_keys);
	sm = json_object_get(pf, "secretsManager");
	ks = json_object_get(pf, "kubernetesSecret");
	if (sm != NULL && json_is_null(sm))
		sm = NULL;
	if (ks != NULL && json_is_null(ks))
		ks = NULL;
	if ((sm == NULL) == (ks == NULL)) {
		field_errs_add(errs, path,
		               "must name exactly one source: secretsManager or kubernetesSecret");
		return;
	}
	if (sm != NULL) {
		snprintf(p, sizeof(p), "%s.secretsManager", path);
		if (!json_is_object(sm)) {
			field_errs_add(errs, p, "must be an object, not %s", type_name(sm));
			return;
		}
		check_known(errs, p, sm, sm_keys);
		ref->kind = SECRET_AWS_SM;
		get_string(&ref->secret_id, errs, sm, p, "secretId", 1);
		get_string(&ref->key, errs, sm, p, "key", 0);
	} else {
		snprintf(p, sizeof(p), "%s.kubernetesSecret", path);
		if (!json_is_object(ks)) {
			field_errs_add(errs, p, "must be an object, not %s", type_name(ks));
			return;
		}
		check_known(errs, p, ks, ks_keys);
		ref->kind = SECRET_KUBE;
		get_string(&ref->name, errs, ks, p, "name", 1);
		get_string(&ref->key, errs, ks, p, "key", 1);
	}
}

static void decode_user(struct appdb_user *u, struct field_errs *errs, json_t *uj, size_t i)
{
	static const char *const user_keys[] = {
	    "name",       "access",   "connectionLimit", "passwordFrom", "rotation", "schemas",
	    "privileges", "memberOf", "validUntil",      "settings",     "iamAuth",  NULL};
	char path[64];
	char f[96];
	char *access = NULL;
	json_t *cl, *pf;

	u->connection_limit = -1;
	snprintf(path, sizeof(path), "spec.users[%zu]", i);
	if (!json_is_object(uj)) {
		field_errs_add(errs, path, "must be an object, not %s", type_name(uj));
		return;
	}
	check_known(errs, path, uj, user_keys);
	get_string(&u->name, errs, uj, path, "name", 1);
	if (get_string(&access, errs, uj, path, "access", 1)) {
		snprintf(f, sizeof(f), "%s.access", path);
		if (strcmp(access, "readonly") == 0)
			u->access = ACCESS_READONLY;
		else if (strcmp(access, "readwrite") == 0)
			u->access = ACCESS_READWRITE;
		else if (strcmp(access, "owner") == 0)
			u->access = ACCESS_OWNER;
		else
			field_errs_add(errs, f, "must be one of readonly, readwrite, owner");
	}
	free(access);
	cl = json_object_get(uj, "connectionLimit");
	if (cl != NULL && !json_is_null(cl)) {
		snprintf(f, sizeof(f), "%s.connectionLimit", path);
		if (!json_is_integer(cl))
			field_errs_add(errs, f, "must be an integer, not %s", type_name(cl));
		else if (json_integer_value(cl) < -1 || json_integer_value(cl) > 10000)
			field_errs_add(errs, f, "must be between -1 and 10000");
		else
			u->connection_limit = (int)json_integer_value(cl);
	}
	model_decode_access(&u->more, errs, uj, path);
	/* Required unless spec.adopt or iamAuth: validate.c says so, knowing the whole spec. */
	pf = get_object(errs, uj, path, "passwordFrom", 0);
	if (pf != NULL && u->more.iam_auth) {
		snprintf(f, sizeof(f), "%s.passwordFrom", path);
		field_errs_add(errs, f, "must be absent with iamAuth: true");
	} else if (pf != NULL) {
		snprintf(f, sizeof(f), "%s.passwordFrom", path);
		decode_password_from(&u->password_from, errs, pf, f);
	}
	model_decode_rotation(u, errs, uj, path);
}

/* The paused annotation: "true" pauses, "false" (or none) does not; nothing else is meant. */
static void decode_paused(struct appdb *db, struct field_errs *errs, json_t *ann)
{
	const char *v = json_string_value(json_object_get(ann, ANNOTATION_PAUSED));

	if (v == NULL)
		return;
	if (strcmp(v, "true") == 0)
		db->paused = 1;
	else if (strcmp(v, "false") != 0)
		field_errs_add(errs, "metadata.annotations[" ANNOTATION_PAUSED "]",
		               "must be \"true\" or \"false\"");
}

/* Reads spec.adopt, a boolean. */
static void decode_adopt(struct appdb *db, struct field_errs *errs, json_t *spec)
{
	json_t *v = json_object_get(spec, "adopt");

	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_boolean(v))
		field_errs_add(errs, "spec.adopt", "must be a boolean, not %s", type_name(v));
	else
		db->adopt = json_is_true(v);
}

/* Reads metadata: name, namespace, uid, generation, annotations. */
static void decode_metadata(struct appdb *db, struct field_errs *errs, json_t *md)
{
	json_t *gen, *ann, *v;
	const char *key;

	get_string(&db->name, errs, md, "metadata", "name", 1);
	get_string(&db->ns, errs, md, "metadata", "namespace", 0);
	get_string(&db->uid, errs, md, "metadata", "uid", 0);
	get_string(&db->resource_version, errs, md, "metadata", "resourceVersion", 0);
	db->generation = 1;
	gen = json_object_get(md, "generation");
	if (gen != NULL && !json_is_null(gen)) {
		if (!json_is_integer(gen) || json_integer_value(gen) < 1)
			field_errs_add(errs, "metadata.generation", "must be a positive integer");
		else
			db->generation = json_integer_value(gen);
	}
	v = json_object_get(md, "deletionTimestamp");
	db->deleting = v != NULL && !json_is_null(v);
	ann = json_object_get(md, "annotations");
	if (ann == NULL || json_is_null(ann))
		return;
	if (!json_is_object(ann)) {
		field_errs_add(errs, "metadata.annotations", "must be an object, not %s",
		               type_name(ann));
		return;
	}
	json_object_foreach (ann, key, v) {
		if (!json_is_string(v)) {
			char f[300];

			snprintf(f, sizeof(f), "metadata.annotations[%s]", key);
			field_errs_add(errs, f, "must be a string, not %s", type_name(v));
		}
	}
	get_string(&db->build_id, errs, ann, "metadata.annotations", ANNOTATION_BUILD_ID, 0);
	get_string(&db->approved_generation, errs, ann, "metadata.annotations",
	           ANNOTATION_APPROVED_GENERATION, 0);
	get_string(&db->approved_by, errs, ann, "metadata.annotations", ANNOTATION_APPROVED_BY, 0);
	decode_paused(db, errs, ann);
}

static void decode_spec(struct appdb *db, struct field_errs *errs, json_t *spec)
{
	static const char *const spec_keys[] = {"instance",       "database",   "schemas", "users",
	                                        "deletionPolicy", "connection", "adopt",   NULL};
	static const char *const database_keys[] = {"name", "owner", "extensions", NULL};
	json_t *dbj, *schemas, *users, *v;
	char *policy = NULL;
	size_t i;

	check_known(errs, "spec", spec, spec_keys);
	get_string(&db->instance, errs, spec, "spec", "instance", 1);
	if (get_string(&policy, errs, spec, "spec", "deletionPolicy", 0)) {
		if (strcmp(policy, "Disable") == 0)
			db->deletion_policy = DELETION_DISABLE;
		else if (strcmp(policy, "Retain") != 0)
			field_errs_add(errs, "spec.deletionPolicy", "must be Retain or Disable");
	}
	free(policy);
	model_decode_connection(db, errs, spec);
	decode_adopt(db, errs, spec);
	dbj = get_object(errs, spec, "spec", "database", 1);
	if (dbj != NULL) {
		check_known(errs, "spec.database", dbj, database_keys);
		get_string(&db->db_name, errs, dbj, "spec.database", "name", 1);
		get_string(&db->owner, errs, dbj, "spec.database", "owner", 1);
		model_decode_extensions(db, errs, dbj);
	}

	schemas = json_object_get(spec, "schemas");
	if (schemas == NULL || json_is_null(schemas)) {
		db->schemas = calloc(1, sizeof(char *));
		if (db->schemas != NULL && (db->schemas[0] = strdup("public")) != NULL)
			db->n_schemas = 1;
		else
			errs->nomem = 1;
	} else if (!json_is_array(schemas)) {
		field_errs_add(errs, "spec.schemas", "must be an array, not %s",
		               type_name(schemas));
	} else if (json_array_size(schemas) > 0) {
		db->schemas = calloc(json_array_size(schemas), sizeof(char *));
		if (db->schemas == NULL)
			errs->nomem = 1;
		json_array_foreach (schemas, i, v) {
			char f[64];

			snprintf(f, sizeof(f), "spec.schemas[%zu]", i);
			if (!json_is_string(v)) {
				field_errs_add(errs, f, "must be a string, not %s", type_name(v));
				continue;
			}
			if (strlen(json_string_value(v)) != json_string_length(v)) {
				field_errs_add(errs, f, "must not contain NUL characters");
				continue;
			}
			if (db->schemas != NULL &&
			    (db->schemas[db->n_schemas] = strdup(json_string_value(v))) != NULL)
				db->n_schemas++;
			else
				errs->nomem = 1;
		}
	}

	users = json_object_get(spec, "users");
	if (users == NULL || json_is_null(users))
		return;
	if (!json_is_array(users)) {
		field_errs_add(errs, "spec.users", "must be an array, not %s", type_name(users));
		return;
	}
	if (json_array_size(users) == 0)
		return;
	db->users = calloc(json_array_size(users), sizeof(*db->users));
	if (db->users == NULL) {
		errs->nomem = 1;
		return;
	}
	json_array_foreach (users, i, v) {
		decode_user(&db->users[i], errs, v, i);
		db->n_users++;
	}
}

int appdb_from_json(struct appdb **out, json_t *obj, struct field_errs *errs)
{
	static const char *const top_keys[] = {"apiVersion", "kind",   "metadata",
	                                       "spec",       "status", NULL};
	struct appdb *db = NULL;
	const char *api, *kind;
	json_t *md, *spec;
	size_t before = errs->n;

	*out = NULL;
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return APPDB_ENOMEM;
	*out = db;
	if (!json_is_object(obj)) {
		field_errs_add(errs, "(document)", "must be an object, not %s", type_name(obj));
		return APPDB_EINVAL;
	}
	api = json_string_value(json_object_get(obj, "apiVersion"));
	kind = json_string_value(json_object_get(obj, "kind"));
	if (api == NULL || strcmp(api, APPDB_API_VERSION) != 0 ||
	    json_string_length(json_object_get(obj, "apiVersion")) != strlen(api))
		field_errs_add(errs, "apiVersion", "must be %s", APPDB_API_VERSION);
	if (kind == NULL || strcmp(kind, APPDB_KIND) != 0 ||
	    json_string_length(json_object_get(obj, "kind")) != strlen(kind))
		field_errs_add(errs, "kind", "must be %s", APPDB_KIND);
	check_known(errs, "", obj, top_keys);
	md = get_object(errs, obj, "", "metadata", 1);
	if (md != NULL)
		decode_metadata(db, errs, md);
	spec = get_object(errs, obj, "", "spec", 1);
	if (spec != NULL)
		decode_spec(db, errs, spec);
	if (db->ns == NULL && !errs->nomem) /* namespace defaults as kubectl's does */
		db->ns = strdup("default");
	if (db->uid == NULL && !errs->nomem)
		db->uid = strdup("");
	if (db->ns == NULL || db->uid == NULL || errs->nomem)
		return APPDB_ENOMEM;
	return errs->n > before || errs->dropped > 0 ? APPDB_EINVAL : 0;
}

void appdb_free(struct appdb *db)
{
	size_t i;

	if (db == NULL)
		return;
	free(db->ns);
	free(db->name);
	free(db->uid);
	free(db->resource_version);
	free(db->build_id);
	free(db->approved_generation);
	free(db->approved_by);
	free(db->instance);
	free(db->db_name);
	free(db->owner);
	for (i = 0; i < db->n_schemas; i++)
		free(db->schemas[i]);
	free(db->schemas);
	for (i = 0; i < db->n_users; i++) {
		free(db->users[i].name);
		secret_ref_clear(&db->users[i].password_from);
		model_access_clear(&db->users[i].more);
	}
	model_extensions_free(db);
	free(db->users);
	free(db->connection_configmap);
	free(db->connection_secret);
	free(db);
}
