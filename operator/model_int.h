/*
 * model_int.h - what model.c shares with model_connection.c (the decoders
 * of spec.connection and users[].rotation) and model_access.c (a user's
 * richer access, spec.database.extensions). Not for other modules.
 */
#ifndef APPDB_MODEL_INT_H
#define APPDB_MODEL_INT_H

#include "model.h"

#include <jansson.h>

/*
 * Reads a string field of obj into *out (an owned copy); a missing required
 * one, a non-string or a NUL byte is a problem in errs. 1 when set.
 */
int model_get_string(char **out, struct field_errs *errs, json_t *obj, const char *path,
                     const char *key, int required);

/* Reads spec.connection (spec borrowed) into db; problems go to errs. */
void model_decode_connection(struct appdb *db, struct field_errs *errs, json_t *spec);

/* Reads users[i].rotation (uj borrowed, path "spec.users[i]") into u. */
void model_decode_rotation(struct appdb_user *u, struct field_errs *errs, json_t *uj,
                           const char *path);

/* Decodes a user's schemas, privileges, memberOf, validUntil, settings, iamAuth. */
void model_decode_access(struct user_access *a, struct field_errs *errs, json_t *uj,
                         const char *path);
/* Decodes spec.database.extensions from the database object dbj (borrowed). */
void model_decode_extensions(struct appdb *db, struct field_errs *errs, json_t *dbj);
/* Frees what a user_access owns and zeroes it. */
void model_access_clear(struct user_access *a);
void model_extensions_free(struct appdb *db);
/* RFC 3339 date-time to seconds since the epoch; 0, or -1 when s is not one. */
int model_parse_rfc3339(long long *out, const char *s);

#endif
