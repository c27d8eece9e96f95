/*
 * model_access.c - decoding the richer access of DESIGN section 11.3: a
 * user's schemas, privileges, memberOf, validUntil, settings and iamAuth,
 * and spec.database.extensions. Shapes and types only; the rules on values
 * live in validate.c.
 */
#include "model.h"
#include "model_int.h"

#include "jfield.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const DB_PRIVS[] = {"CONNECT", "TEMPORARY", "CREATE", NULL};
static const char *const SCHEMA_PRIVS[] = {"USAGE", "CREATE", NULL};
static const char *const TABLE_PRIVS[] = {"SELECT",   "INSERT",     "UPDATE",  "DELETE",
                                          "TRUNCATE", "REFERENCES", "TRIGGER", NULL};
static const char *const SEQUENCE_PRIVS[] = {"USAGE", "SELECT", "UPDATE", NULL};

const char *const ACCESS_SETTING_KEYS[] = {"search_path",
                                           "statement_timeout",
                                           "lock_timeout",
                                           "idle_in_transaction_session_timeout",
                                           "idle_session_timeout",
                                           "work_mem",
                                           NULL};

static const char *const TARGET_KEYS[] = {"database", "schema", "tables", "sequences", NULL};

const char *const *access_privileges(enum priv_target target)
{
	switch (target) {
	case PRIV_DATABASE:
		return DB_PRIVS;
	case PRIV_SCHEMA:
		return SCHEMA_PRIVS;
	case PRIV_TABLES:
		return TABLE_PRIVS;
	default:
		return SEQUENCE_PRIVS;
	}
}

/* 1 when v is a string without NUL bytes. */
static int plain_string(json_t *v)
{
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/*
 * Reads an optional array of strings at obj[key] into *out (owned copies).
 * Absent or null leaves *out NULL; present sets *present.
 */
static void string_list(char ***out, size_t *n, int *present, struct field_errs *errs, json_t *obj,
                        const char *path, const char *key)
{
	json_t *arr = json_object_get(obj, key), *v;
	char f[160];
	size_t i;

	if (arr == NULL || json_is_null(arr))
		return;
	snprintf(f, sizeof(f), "%s.%s", path, key);
	if (!json_is_array(arr)) {
		field_errs_add(errs, f, "must be an array, not %s", jfield_type_name(arr));
		return;
	}
	if (present != NULL)
		*present = 1;
	*out = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (*out == NULL) {
		errs->nomem = 1;
		return;
	}
	json_array_foreach (arr, i, v) {
		snprintf(f, sizeof(f), "%s.%s[%zu]", path, key, i);
		if (!plain_string(v)) {
			field_errs_add(errs, f, "must be a string without NUL characters");
			continue;
		}
		if (((*out)[*n] = strdup(json_string_value(v))) == NULL) {
			errs->nomem = 1;
			return;
		}
		(*n)++;
	}
}

/* privileges: {database: [...], schema: [...], tables: [...], sequences: [...]}. */
static void decode_privileges(struct user_access *a, struct field_errs *errs, json_t *pj,
                              const char *path)
{
	size_t t, i, k;
	char f[160];

	if (!json_is_object(pj)) {
		field_errs_add(errs, path, "must be an object, not %s", jfield_type_name(pj));
		return;
	}
	{
		const char *key;
		json_t *v;

		json_object_foreach (pj, key, v) {
			int known = 0;

			for (t = 0; TARGET_KEYS[t] != NULL; t++)
				known |= strcmp(TARGET_KEYS[t], key) == 0;
			if (!known) {
				snprintf(f, sizeof(f), "%s.%s", path, key);
				field_errs_add(errs, f, "unknown field");
			}
		}
	}
	for (t = 0; t < PRIV_TARGETS; t++) {
		const char *const *names = access_privileges((enum priv_target)t);
		json_t *arr = json_object_get(pj, TARGET_KEYS[t]), *v;

		if (arr == NULL || json_is_null(arr))
			continue;
		snprintf(f, sizeof(f), "%s.%s", path, TARGET_KEYS[t]);
		if (!json_is_array(arr)) {
			field_errs_add(errs, f, "must be an array, not %s", jfield_type_name(arr));
			continue;
		}
		json_array_foreach (arr, i, v) {
			int found = -1;

			for (k = 0; plain_string(v) && names[k] != NULL; k++)
				if (strcmp(names[k], json_string_value(v)) == 0)
					found = (int)k;
			snprintf(f, sizeof(f), "%s.%s[%zu]", path, TARGET_KEYS[t], i);
			if (found < 0) {
				char list[128] = "";

				for (k = 0; names[k] != NULL; k++) {
					if (k > 0)
						strcat(list, ", ");
					strcat(list, names[k]);
				}
				field_errs_add(errs, f, "must be one of %s", list);
			} else if (a->privileges[t] & (1u << found)) {
				field_errs_add(errs, f, "duplicate privilege");
			} else {
				a->privileges[t] |= 1u << found;
			}
		}
	}
}

/* Two digits at s as a number, or -1. */
static int two(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * Parses an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM))
 * into seconds since the epoch. Returns 0, or -1 when s is not one.
 */
int model_parse_rfc3339(long long *out, const char *s)
{
	struct tm tm;
	int y1, y2, mon, day, h, mi, sec, off = 0;
	size_t i = 19;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':')
		return -1;
	y1 = two(s);
	y2 = two(s + 2);
	mon = two(s + 5);
	day = two(s + 8);
	h = two(s + 11);
	mi = two(s + 14);
	sec = two(s + 17);
	if (y1 < 0 || y2 < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 59)
		return -1;
	if (s[i] == '.') {
		i++;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (s[i] == 'Z' && s[i + 1] == '\0') {
		off = 0;
	} else if ((s[i] == '+' || s[i] == '-') && strlen(s + i) == 6 && s[i + 3] == ':') {
		int oh = two(s + i + 1), om = two(s + i + 4);

		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
	} else {
		return -1;
	}
	tm.tm_year = y1 * 100 + y2 - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (long long)timegm(&tm) - off;
	return 0;
}

/* settings: an object of string values; keys are checked in validate.c. */
static void decode_settings(struct user_access *a, struct field_errs *errs, json_t *sj,
                            const char *path)
{
	const char *key;
	json_t *v;
	char f[200];

	if (!json_is_object(sj)) {
		field_errs_add(errs, path, "must be an object, not %s", jfield_type_name(sj));
		return;
	}
	a->settings = calloc(json_object_size(sj) + 1, sizeof(*a->settings));
	if (a->settings == NULL) {
		errs->nomem = 1;
		return;
	}
	json_object_foreach (sj, key, v) {
		struct role_setting *s = &a->settings[a->n_settings];

		snprintf(f, sizeof(f), "%s.%s", path, key);
		if (!plain_string(v)) {
			field_errs_add(errs, f, "must be a string, not %s", jfield_type_name(v));
			continue;
		}
		s->name = strdup(key);
		s->value = strdup(json_string_value(v));
		if (s->name == NULL || s->value == NULL) {
			free(s->name);
			free(s->value);
			errs->nomem = 1;
			return;
		}
		a->n_settings++;
	}
}

void model_decode_access(struct user_access *a, struct field_errs *errs, json_t *uj,
                         const char *path)
{
	json_t *v;
	char f[160];
	int present = 0;

	string_list(&a->schemas, &a->n_schemas, &present, errs, uj, path, "schemas");
	if (!present) {
		free(a->schemas);
		a->schemas = NULL;
	}
	string_list(&a->member_of, &a->n_member_of, NULL, errs, uj, path, "memberOf");
	v = json_object_get(uj, "privileges");
	if (v != NULL && !json_is_null(v)) {
		snprintf(f, sizeof(f), "%s.privileges", path);
		decode_privileges(a, errs, v, f);
	}
	v = json_object_get(uj, "validUntil");
	if (v != NULL && !json_is_null(v)) {
		snprintf(f, sizeof(f), "%s.validUntil", path);
		if (!plain_string(v) ||
		    model_parse_rfc3339(&a->valid_until_epoch, json_string_value(v)) != 0)
			field_errs_add(
			    errs, f, "must be an RFC 3339 date-time such as 2027-06-30T00:00:00Z");
		else if ((a->valid_until = strdup(json_string_value(v))) == NULL)
			errs->nomem = 1;
	}
	v = json_object_get(uj, "settings");
	if (v != NULL && !json_is_null(v)) {
		snprintf(f, sizeof(f), "%s.settings", path);
		decode_settings(a, errs, v, f);
	}
	v = json_object_get(uj, "iamAuth");
	if (v != NULL && !json_is_null(v)) {
		snprintf(f, sizeof(f), "%s.iamAuth", path);
		if (!json_is_boolean(v))
			field_errs_add(errs, f, "must be a boolean, not %s", jfield_type_name(v));
		else
			a->iam_auth = json_is_true(v);
	}
}

void model_decode_extensions(struct appdb *db, struct field_errs *errs, json_t *dbj)
{
	static const char *const ext_keys[] = {"name", "schema", NULL};
	json_t *arr = json_object_get(dbj, "extensions"), *v;
	char f[96];
	size_t i, k;

	if (arr == NULL || json_is_null(arr))
		return;
	if (!json_is_array(arr)) {
		field_errs_add(errs, "spec.database.extensions", "must be an array, not %s",
		               jfield_type_name(arr));
		return;
	}
	db->extensions = calloc(json_array_size(arr) + 1, sizeof(*db->extensions));
	if (db->extensions == NULL) {
		errs->nomem = 1;
		return;
	}
	json_array_foreach (arr, i, v) {
		struct appdb_extension *e = &db->extensions[db->n_extensions];
		const char *key;
		json_t *kv;

		snprintf(f, sizeof(f), "spec.database.extensions[%zu]", i);
		if (!json_is_object(v)) {
			field_errs_add(errs, f, "must be an object, not %s", jfield_type_name(v));
			continue;
		}
		json_object_foreach (v, key, kv) {
			int known = 0;

			for (k = 0; ext_keys[k] != NULL; k++)
				known |= strcmp(ext_keys[k], key) == 0;
			if (!known) {
				char kf[160];

				snprintf(kf, sizeof(kf), "%s.%s", f, key);
				field_errs_add(errs, kf, "unknown field");
			}
		}
		kv = json_object_get(v, "name");
		if (!plain_string(kv)) {
			char kf[128];

			snprintf(kf, sizeof(kf), "%s.name", f);
			field_errs_add(errs, kf,
			               kv == NULL ? "required field is missing"
			                          : "must be a string");
			continue;
		}
		if ((e->name = strdup(json_string_value(kv))) == NULL) {
			errs->nomem = 1;
			return;
		}
		kv = json_object_get(v, "schema");
		if (kv != NULL && !json_is_null(kv)) {
			char kf[128];

			snprintf(kf, sizeof(kf), "%s.schema", f);
			if (!plain_string(kv))
				field_errs_add(errs, kf, "must be a string");
			else if ((e->schema = strdup(json_string_value(kv))) == NULL)
				errs->nomem = 1;
		}
		db->n_extensions++;
	}
}

void model_access_clear(struct user_access *a)
{
	size_t i;

	for (i = 0; i < a->n_schemas; i++)
		free(a->schemas[i]);
	free(a->schemas);
	for (i = 0; i < a->n_member_of; i++)
		free(a->member_of[i]);
	free(a->member_of);
	free(a->valid_until);
	for (i = 0; i < a->n_settings; i++) {
		free(a->settings[i].name);
		free(a->settings[i].value);
	}
	free(a->settings);
	memset(a, 0, sizeof(*a));
}

void model_extensions_free(struct appdb *db)
{
	size_t i;

	for (i = 0; i < db->n_extensions; i++) {
		free(db->extensions[i].name);
		free(db->extensions[i].schema);
	}
	free(db->extensions);
	db->extensions = NULL;
	db->n_extensions = 0;
}
