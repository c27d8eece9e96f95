/*
 * import.h - `appdb-operator import` (DESIGN 11.2): AppDatabase manifests
 * for what an instance already has.
 */
#ifndef APPDB_IMPORT_H
#define APPDB_IMPORT_H

#include "config.h"
#include "engine.h"

#include <stdio.h>

/*
 * Reads instance inst through eng's admin connection settings and prints
 * to out one AppDatabase per database it can express (adopt: true, users
 * without passwordFrom; namespace ns, or none when NULL), and a comment for
 * each it cannot. *n_printed counts the manifests. Changes nothing. Returns
 * 0 or an error with err set.
 */
int import_run(FILE *out, struct engine *eng, const struct instance_config *inst, const char *ns,
               size_t *n_printed, struct err *err);

#endif
