/*
 * model_int.h - what model.c shares with model_connection.c: the decoders
 * of the second release's spec.connection and users[].rotation. Not for
 * other modules.
 */
#ifndef APPDB_MODEL_INT_H
#define APPDB_MODEL_INT_H

#include "model.h"

#include <jansson.h>

/* Reads spec.connection (spec borrowed) into db; problems go to errs. */
void model_decode_connection(struct appdb *db, struct field_errs *errs, json_t *spec);

/* Reads users[i].rotation (uj borrowed, path "spec.users[i]") into u. */
void model_decode_rotation(struct appdb_user *u, struct field_errs *errs, json_t *uj,
                           const char *path);

#endif
