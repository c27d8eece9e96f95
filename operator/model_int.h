/*
 * model_int.h - what model.c shares with model_connection.c: the decoders
 * of the second release's spec.connection and users[].rotation. Not for
 * other modules.
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

#endif
