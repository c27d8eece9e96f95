/*
 * manifest.h - AppDatabases and Secrets read from YAML files on disk, for
 * the reconcile, plan and validate commands.
 *
 * `-f` takes files or directories (their *.yaml, *.yml and *.json files,
 * sorted, not recursive). Documents of kind AppDatabase become resources; v1
 * Secrets serve kubernetesSecret references of resources in the same
 * namespace (each namespace/name once); v1 Namespaces are ignored; any
 * other kind is reported as an invalid document.
 */
#ifndef APPDB_MANIFEST_H
#define APPDB_MANIFEST_H

#include "model.h"
#include "secret.h"

struct manifest_item {
	struct appdb *db; /* owned; partly filled when invalid */
	char *problems;   /* owned; NULL when the document decoded cleanly */
	char *where;      /* "file:line" */
};

struct manifest_set {
	struct manifest_item *items;
	size_t n;
	json_t *secrets;      /* object: "ns/name" -> Secret object */
	json_t *secret_where; /* object: "ns/name" -> "file:line" */
};

/*
 * Loads every path. Returns 0 (problems of single AppDatabase documents are
 * kept in the items), or with err set: APPDB_ENOTFOUND when a path does not
 * exist or cannot be opened (a usage error), APPDB_EIO / APPDB_EINVAL /
 * APPDB_ELIMIT when a file cannot be read or parsed at all, or holds a
 * Secret the API would refuse or a second Secret of the same namespace and
 * name; or APPDB_ENOMEM.
 */
int manifest_load(struct manifest_set *out, char *const *paths, size_t n_paths, struct err *err);

void manifest_clear(struct manifest_set *set);

/* A secret_fetch_fn over the set's Secret documents (ctx: struct manifest_set *). */
int manifest_secret_fetch(void *ctx, struct secret *out, const struct secret_ref *ref,
                          struct err *err);

#endif
