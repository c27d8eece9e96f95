/*
 * test_secret.c - the password sources' refusals: NUL bytes and empty
 * values, Secrets and SecretStrings that name another user, through
 * secret_resolve as the engine calls it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "log.h"
#include "secret.h"

/* A Secret object as the API or a manifest gives it. */
static json_t *kube_secret(const char *json)
{
	json_t *o = json_loads(json, JSON_ALLOW_NUL, NULL);

	assert_non_null(o);
	return o;
}

static void test_kube_object_nul_and_username(void **state)
{
	struct secret s = {0};
	struct err err = {0};
	json_t *o;

	(void)state;
	/* stringData with a NUL byte: refused, not cut to "abc". */
	o = kube_secret("{\"stringData\": {\"password\": \"abc\\u0000def\"}}");
	assert_int_equal(secret_from_kube_object(&s, o, "password", &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "key password of the secret holds a NUL byte"));
	assert_null(s.value);
	json_decref(o);
	/* data ("abc\0def" in base64): the same. */
	err_clear(&err);
	o = kube_secret("{\"data\": {\"password\": \"YWJjAGRlZg==\"}}");
	assert_int_equal(secret_from_kube_object(&s, o, "password", &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "NUL byte"));
	json_decref(o);
	/* A basic-auth style Secret names its user; stringData wins over data as in the API. */
	err_clear(&err);
	o = kube_secret("{\"metadata\": {\"resourceVersion\": \"7\"}, \"data\": {\"password\": "
	                "\"cHc=\", \"username\": \"b3RoZXI=\"}, \"stringData\": {\"username\": "
	                "\"orders_app\"}}");
	assert_int_equal(secret_from_kube_object(&s, o, "password", &err), 0);
	assert_string_equal(s.value, "pw");
	assert_string_equal(s.username, "orders_app");
	assert_string_equal(s.version, "7");
	secret_clear(&s);
	assert_null(s.username);
	json_decref(o);
	/* Without a username key nothing is named. */
	o = kube_secret("{\"data\": {\"password\": \"cHc=\"}}");
	assert_int_equal(secret_from_kube_object(&s, o, "password", &err), 0);
	assert_null(s.username);
	secret_clear(&s);
	json_decref(o);
}

static void test_pick_key(void **state)
{
	struct secret s = {0};
	struct err err = {0};

	(void)state;
	assert_int_equal(secret_pick_key(&s, "{\"username\": \"orders_app\", \"password\": \"pw\"}",
	                                 "password", &err),
	                 0);
	assert_string_equal(s.value, "pw");
	assert_string_equal(s.username, "orders_app");
	secret_clear(&s);
	/* No key: the whole SecretString is the password; a plain one names nobody. */
	assert_int_equal(secret_pick_key(&s, "plain-pw", NULL, &err), 0);
	assert_string_equal(s.value, "plain-pw");
	assert_null(s.username);
	secret_clear(&s);
	assert_int_equal(secret_pick_key(&s, "{\"password\": \"a\\u0000b\"}", "password", &err),
	                 APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "key password of the secret holds a NUL byte"));
	assert_null(s.value);
	err_clear(&err);
	assert_int_equal(
	    secret_pick_key(&s, "{\"username\": 5, \"password\": \"pw\"}", "password", &err),
	    APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "username of the secret is not a string"));
	err_clear(&err);
	assert_int_equal(secret_pick_key(&s, "{\"password\": \"pw\"}", "pass", &err),
	                 APPDB_ENOTFOUND);
}

/* A provider that hands out what the test put in ctx. */
struct canned {
	const char *value;
	const char *username;
	int calls;
};

static int canned_fetch(void *ctx, struct secret *out, const struct secret_ref *ref,
                        struct err *err)
{
	struct canned *c = ctx;

	(void)ref;
	(void)err;
	c->calls++;
	out->value = strdup(c->value);
	out->username = c->username != NULL ? strdup(c->username) : NULL;
	return 0;
}

static void test_resolve_checks_value_and_user(void **state)
{
	struct secret_resolver r = {0};
	struct secret_ref ref = {.kind = SECRET_AWS_SM, .secret_id = "prod/orders/app"};
	struct canned c = {"pw-1", "orders_app", 0};
	struct secret s = {0};
	struct err err = {0};

	(void)state;
	secret_resolver_set(&r, SECRET_AWS_SM, canned_fetch, &c);
	assert_int_equal(secret_resolve(&s, &r, &ref, "team-a", "orders_app", &err), 0);
	assert_string_equal(s.value, "pw-1");
	secret_clear(&s);
	/* The secret of another user: refused, naming both, and no value kept. */
	assert_int_equal(secret_resolve(&s, &r, &ref, "team-a", "orders_ro", &err), APPDB_EINVAL);
	assert_string_equal(err.msg, "the secret names user \"orders_app\", not \"orders_ro\"");
	assert_null(s.value);
	assert_null(s.username);
	assert_true(secret_error_is_missing(APPDB_EINVAL));
	/* No user to check against (NULL): the name is not compared. */
	err_clear(&err);
	assert_int_equal(secret_resolve(&s, &r, &ref, "team-a", NULL, &err), 0);
	secret_clear(&s);
	/* A source that names nobody passes for any user. */
	c.username = NULL;
	assert_int_equal(secret_resolve(&s, &r, &ref, "team-a", "orders_ro", &err), 0);
	secret_clear(&s);
	/* An empty password is never handed out, whatever the source. */
	c.value = "";
	assert_int_equal(secret_resolve(&s, &r, &ref, "team-a", "orders_ro", &err), APPDB_EINVAL);
	assert_string_equal(err.msg, "the password is empty");
	assert_null(s.value);
	assert_int_equal(c.calls, 5);
}

static void test_log_escape(void **state)
{
	char *e;

	(void)state;
	e = log_escape("orders\nteam-a/x: Unchanged\r\x1b[2K\x7f");
	assert_string_equal(e, "orders\\x0ateam-a/x: Unchanged\\x0d\\x1b[2K\\x7f");
	free(e);
	/* UTF-8 stays; C1 controls, overlong forms and stray bytes do not. */
	e = log_escape("caf\xc3\xa9 \xc2\x85 \xc0\xaf \xff \xe2\x82");
	assert_string_equal(e, "caf\xc3\xa9 \\xc2\\x85 \\xc0\\xaf \\xff \\xe2\\x82");
	free(e);
	assert_null(log_escape(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kube_object_nul_and_username),
	    cmocka_unit_test(test_pick_key),
	    cmocka_unit_test(test_resolve_checks_value_and_user),
	    cmocka_unit_test(test_log_escape),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
