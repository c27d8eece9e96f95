/*
 * model_connection.c - the decoders of spec.connection (DESIGN 11.4) and
 * users[].rotation (DESIGN 11.3): shapes and types; validate_connection.c
 * checks the values.
 */
#include "model_int.h"

#include "jfield.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An optional string field of obj into *out (owned copy); 1 when set. */
static int opt_string(char **out, struct field_errs *errs, json_t *obj, const char *path,
                      const char *key)
{
	json_t *v = NULL;
	int rc = jfield_get(&v, obj, key, JSON_STRING);
	char f[256];

	jfield_path(f, sizeof(f), path, key);
	if (rc == APPDB_ENOTFOUND)
		return 0;
	if (rc != 0) {
		field_errs_add(errs, f, "must be a string, not %s", jfield_type_name(v));
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

void model_decode_connection(struct appdb *db, struct field_errs *errs, json_t *spec)
{
	json_t *c = json_object_get(spec, "connection");
	const char *key;
	json_t *v;

	if (c == NULL || json_is_null(c))
		return;
	if (!json_is_object(c)) {
		field_errs_add(errs, "spec.connection", "must be an object, not %s",
		               jfield_type_name(c));
		return;
	}
	json_object_foreach (c, key, v) {
		if (strcmp(key, "configMap") != 0 && strcmp(key, "secret") != 0) {
			char f[256];

			snprintf(f, sizeof(f), "spec.connection.%s", key);
			field_errs_add(errs, f, "unknown field");
		}
	}
	opt_string(&db->connection_configmap, errs, c, "spec.connection", "configMap");
	opt_string(&db->connection_secret, errs, c, "spec.connection", "secret");
}

void model_decode_rotation(struct appdb_user *u, struct field_errs *errs, json_t *uj,
                           const char *path)
{
	char *rotation = NULL;
	char f[96];

	u->rotation = ROTATION_SINGLE;
	if (!opt_string(&rotation, errs, uj, path, "rotation"))
		return;
	if (strcmp(rotation, "alternating") == 0) {
		u->rotation = ROTATION_ALTERNATING;
	} else if (strcmp(rotation, "single") != 0) {
		snprintf(f, sizeof(f), "%s.rotation", path);
		field_errs_add(errs, f, "must be single or alternating");
	}
	free(rotation);
}
