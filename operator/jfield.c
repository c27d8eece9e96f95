/*
 * jfield.c - typed reads of jansson object fields.
 */
#include "jfield.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

int jfield_get(json_t **out, json_t *obj, const char *key, json_type type)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return APPDB_ENOTFOUND;
	*out = v;
	if (json_typeof(v) == type)
		return 0;
	/* true and false are one type to a reader */
	if (type == JSON_TRUE || type == JSON_FALSE)
		return json_is_boolean(v) ? 0 : APPDB_EINVAL;
	/* a number field takes an integer */
	if (type == JSON_REAL && json_is_integer(v))
		return 0;
	return APPDB_EINVAL;
}

const char *jfield_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

const char *jfield_str2(json_t *obj, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(obj, a), b));
}

int jfield_true(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
}

int jfield_same(json_t *obj, json_t *other, const char *key)
{
	json_t *a = json_object_get(obj, key), *b = json_object_get(other, key);

	/* json_equal says 0 for two NULLs */
	return (a == NULL && b == NULL) || json_equal(a, b);
}

void jfield_path(char *out, size_t len, const char *path, const char *key)
{
	snprintf(out, len, "%s%s%s", path, path[0] ? "." : "", key);
}

const char *jfield_type_name(const json_t *v)
{
	if (v == NULL)
		return "null";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}
