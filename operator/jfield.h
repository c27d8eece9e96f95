/*
 * jfield.h - reading fields of jansson objects: one family for the
 * configuration, the manifest decoder, kubeconfig and API objects.
 *
 * Every returned json_t or string is borrowed from obj: it lives as long as
 * obj holds it. Nothing here allocates except jfield_dup.
 */
#ifndef APPDB_JFIELD_H
#define APPDB_JFIELD_H

#include <jansson.h>
#include <stddef.h>

/*
 * obj[key] of the given type into *out (borrowed). Returns 0; APPDB_ENOTFOUND
 * when absent or null (*out NULL); APPDB_EINVAL when of another type (*out is
 * the value, for the caller's message). obj may be NULL or not an object.
 */
int jfield_get(json_t **out, json_t *obj, const char *key, json_type type);

/* obj[key] when a string, else NULL (borrowed). */
const char *jfield_str(json_t *obj, const char *key);

/* obj[a][b] when a string, else NULL (borrowed): jfield_str2(o, "metadata", "name"). */
const char *jfield_str2(json_t *obj, const char *a, const char *b);

/* 1 when obj[key] is true or the string "true". */
int jfield_true(json_t *obj, const char *key);

/* 1 when obj[key] and other[key] are equal or both absent. */
int jfield_same(json_t *obj, json_t *other, const char *key);

/* "path.key" (or "key" at the top) into out, for messages. */
void jfield_path(char *out, size_t len, const char *path, const char *key);

/* The JSON type name of v for messages ("object", "string", ..., "null"). */
const char *jfield_type_name(const json_t *v);

#endif
