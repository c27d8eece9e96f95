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
	model_get_string(&db->connection_configmap, errs, c, "spec.connection", "configMap", 0);
	model_get_string(&db->connection_secret, errs, c, "spec.connection", "secret", 0);
}

void model_decode_rotation(struct appdb_user *u, struct field_errs *errs, json_t *uj,
                           const char *path)
{
	char *rotation = NULL;
	char f[96];

	u->rotation = ROTATION_SINGLE;
	if (!model_get_string(&rotation, errs, uj, path, "rotation", 0))
		return;
	if (strcmp(rotation, "alternating") == 0) {
		u->rotation = ROTATION_ALTERNATING;
	} else if (strcmp(rotation, "single") != 0) {
		snprintf(f, sizeof(f), "%s.rotation", path);
		field_errs_add(errs, f, "must be single or alternating");
	}
	free(rotation);
}
