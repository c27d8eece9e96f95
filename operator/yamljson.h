/*
 * yamljson.h - YAML documents turned into jansson values.
 *
 * Manifests on disk and the config file are YAML; the API server speaks JSON.
 * Turning YAML into the same JSON the API would send lets one decoder serve
 * both. Aliases are expanded with a bound on the total number of nodes (so a
 * "billion laughs" document is refused, not expanded), nesting depth is
 * bounded, duplicate mapping keys are refused, and every produced value can be
 * mapped back to its line and column for error messages.
 */
#ifndef APPDB_YAMLJSON_H
#define APPDB_YAMLJSON_H

#include "err.h"

#include <jansson.h>
#include <stddef.h>

#define YAMLJSON_MAX_NODES 200000 /* values produced per document, aliases expanded */
#define YAMLJSON_MAX_DEPTH 64
#define YAMLJSON_MAX_BYTES (8u << 20) /* one file */

struct yaml_posmap;

/* A list of documents; each json_t is a new reference owned by the list. */
struct yaml_docs {
	json_t **docs;
	int *lines; /* line of each document's start */
	size_t n;
	struct yaml_posmap *pos; /* positions of every produced value */
	char *name;              /* file name for messages */
};

/*
 * Parses buf (len bytes) named name. Empty documents are skipped. Returns 0,
 * APPDB_EINVAL ("name:line:col: problem" in err), APPDB_ELIMIT (bounds) or
 * APPDB_ENOMEM. out is filled only on success; free it with yaml_docs_clear.
 */
int yamljson_parse(struct yaml_docs *out, const char *buf, size_t len, const char *name,
                   struct err *err);

/* Reads and parses a file; APPDB_EIO when it cannot be read. */
int yamljson_parse_file(struct yaml_docs *out, const char *path, struct err *err);

void yaml_docs_clear(struct yaml_docs *docs);

/* Line and column (1-based) where v was read; 0 when unknown. */
int yaml_pos(const struct yaml_docs *docs, const json_t *v, int *line, int *col);

#endif
