/*
 * model_int.h - what model.c and model_access.c share. Not for other modules.
 */
#ifndef APPDB_MODEL_INT_H
#define APPDB_MODEL_INT_H

#include "model.h"

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
