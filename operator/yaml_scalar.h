/*
 * yaml_scalar.h - the scalar rules of yamljson.c (internal to it).
 */
#ifndef APPDB_YAML_SCALAR_H
#define APPDB_YAML_SCALAR_H

#include <jansson.h>
#include <stddef.h>
#include <yaml.h>

/*
 * Turns a scalar into the JSON value kubectl gives it; tagged says the
 * document wrote a tag on it. Returns NULL with bad (len bytes) filled when
 * the scalar has no value, or NULL alone on ENOMEM.
 */
json_t *yaml_scalar_value(const yaml_node_t *n, int tagged, char *bad, size_t len);

/* 1 when a mapping's or sequence's written tag is its own (!!map, !!seq) or "!"; else 0, bad
 * filled. */
int yaml_collection_tag_ok(const yaml_node_t *n, char *bad, size_t len);

#endif
