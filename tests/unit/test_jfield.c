/*
 * test_jfield.c - typed field reads of JSON objects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "jfield.h"

#include <string.h>

static void test_get(void **state)
{
	json_t *o = json_loads("{\"s\":\"x\",\"i\":3,\"r\":1.5,\"b\":false,\"n\":null,"
	                       "\"o\":{\"name\":\"a\"},\"t\":\"true\",\"a\":[]}",
	                       0, NULL);
	json_t *v;

	(void)state;
	assert_non_null(o);
	assert_int_equal(jfield_get(&v, o, "s", JSON_STRING), 0);
	assert_string_equal(json_string_value(v), "x");
	assert_int_equal(jfield_get(&v, o, "i", JSON_INTEGER), 0);
	assert_int_equal(jfield_get(&v, o, "i", JSON_REAL), 0); /* a number takes an integer */
	assert_int_equal(jfield_get(&v, o, "r", JSON_INTEGER), APPDB_EINVAL);
	assert_ptr_equal(v, json_object_get(o, "r"));
	assert_int_equal(jfield_get(&v, o, "b", JSON_TRUE), 0);
	assert_int_equal(jfield_get(&v, o, "b", JSON_FALSE), 0);
	assert_int_equal(jfield_get(&v, o, "s", JSON_TRUE), APPDB_EINVAL);
	assert_int_equal(jfield_get(&v, o, "n", JSON_STRING), APPDB_ENOTFOUND);
	assert_null(v);
	assert_int_equal(jfield_get(&v, o, "missing", JSON_OBJECT), APPDB_ENOTFOUND);
	assert_int_equal(jfield_get(&v, NULL, "s", JSON_STRING), APPDB_ENOTFOUND);
	assert_int_equal(jfield_get(&v, o, "a", JSON_OBJECT), APPDB_EINVAL);
	assert_string_equal(jfield_type_name(v), "array");
	assert_string_equal(jfield_type_name(json_object_get(o, "o")), "object");
	assert_string_equal(jfield_type_name(json_object_get(o, "r")), "number");
	assert_string_equal(jfield_type_name(json_object_get(o, "b")), "boolean");
	assert_string_equal(jfield_type_name(NULL), "null");
	json_decref(o);
}

static void test_shortcuts(void **state)
{
	json_t *o = json_loads("{\"s\":\"x\",\"i\":3,\"t\":\"true\",\"b\":true,\"f\":\"yes\","
	                       "\"metadata\":{\"name\":\"a\",\"g\":[1]}}",
	                       0, NULL);
	json_t *p = json_loads("{\"metadata\":{\"g\":[1]}}", 0, NULL);
	char path[64];

	(void)state;
	assert_string_equal(jfield_str(o, "s"), "x");
	assert_null(jfield_str(o, "i"));
	assert_null(jfield_str(NULL, "s"));
	assert_string_equal(jfield_str2(o, "metadata", "name"), "a");
	assert_null(jfield_str2(o, "nope", "name"));
	assert_true(jfield_true(o, "t"));
	assert_true(jfield_true(o, "b"));
	assert_false(jfield_true(o, "f"));
	assert_false(jfield_true(o, "missing"));
	assert_true(
	    jfield_same(json_object_get(o, "metadata"), json_object_get(p, "metadata"), "g"));
	assert_true(jfield_same(o, p, "absent"));
	assert_false(jfield_same(o, p, "s"));
	jfield_path(path, sizeof(path), "", "spec");
	assert_string_equal(path, "spec");
	jfield_path(path, sizeof(path), "spec.users[0]", "name");
	assert_string_equal(path, "spec.users[0].name");
	json_decref(o);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_shortcuts),
	};

	return cmocka_run_group_tests_name("jfield", tests, NULL, NULL);
}
