/*
 * test_connection.c - the connection objects' contents (DESIGN 11.4): the
 * ConfigMap's and the Secret's data exactly, values escaped in the URLs,
 * nothing beyond the listed keys; the rules of spec.connection and
 * rotation: alternating through the decode + validate path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "config.h"
#include "connection.h"
#include "failalloc.h"
#include "model.h"
#include "validate.h"
#include "yamljson.h"

static struct instance_config instance(const char *host)
{
	struct instance_config in = {0};

	in.name = "local";
	in.host = (char *)host;
	in.port = 5433;
	in.ssl_mode = "verify-full";
	return in;
}

static const struct connection_user USERS[] = {
    {"orders_app", "orders_app_clone", "p@ss:w/rd %1"},
    {"orders_ro", "orders_ro", NULL}, /* no password source: no Secret entries */
};

/* The decoded value of data[key] (owned), or NULL. */
static char *decoded(json_t *data, const char *key)
{
	const char *v = json_string_value(json_object_get(data, key));
	char *out = NULL;
	size_t n;

	if (v == NULL || base64_decode(&out, &n, v, strlen(v), BASE64_STRICT) != 0)
		return NULL;
	return out;
}

static void test_configmap_data(void **state)
{
	struct instance_config in = instance("orders.abc.rds.amazonaws.com");
	json_t *d = connection_configmap_data(&in, "orders", USERS, 2);
	json_t *want =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "host", "orders.abc.rds.amazonaws.com",
	              "port", "5433", "dbname", "orders", "sslmode", "verify-full",
	              "orders_app.username", "orders_app_clone", "orders_ro.username", "orders_ro");

	(void)state;
	assert_non_null(d);
	if (!json_equal(d, want)) {
		char *s = json_dumps(d, JSON_SORT_KEYS);

		fail_msg("configmap data: %s", s);
	}
	json_decref(d);
	json_decref(want);
}

static void test_secret_data(void **state)
{
	struct instance_config in = instance("db.example");
	json_t *d = connection_secret_data(&in, "orders", USERS, 2);
	char *pw, *uri, *jdbc;

	(void)state;
	assert_non_null(d);
	assert_int_equal(json_object_size(d), 3); /* orders_ro has no password: nothing */
	pw = decoded(d, "orders_app.password");
	uri = decoded(d, "orders_app.uri");
	jdbc = decoded(d, "orders_app.jdbcUrl");
	assert_string_equal(pw, "p@ss:w/rd %1");
	assert_string_equal(uri,
	                    "postgresql://orders_app_clone:p%40ss%3Aw%2Frd%20%251@db.example:5433/"
	                    "orders?sslmode=verify-full");
	assert_string_equal(jdbc,
	                    "jdbc:postgresql://db.example:5433/orders?sslmode=verify-full&user="
	                    "orders_app_clone&password=p%40ss%3Aw%2Frd%20%251");
	free(pw);
	free(uri);
	free(jdbc);
	json_decref(d);
}

static void test_ipv6_host_in_brackets(void **state)
{
	struct instance_config in = instance("fd00::5");
	json_t *d = connection_secret_data(&in, "orders", USERS, 1);
	char *uri;

	(void)state;
	uri = decoded(d, "orders_app.uri");
	assert_non_null(strstr(uri, "@[fd00::5]:5433/orders"));
	free(uri);
	json_decref(d);
}

static void test_failing_allocator(void **state)
{
	struct instance_config in = instance("db.example");
	long n;

	(void)state;
	for (n = 1; n < 10000; n++) {
		json_t *a, *b;

		failalloc_arm(n);
		a = connection_configmap_data(&in, "orders", USERS, 2);
		b = connection_secret_data(&in, "orders", USERS, 2);
		failalloc_arm(0);
		json_decref(a);
		json_decref(b);
		if (!failalloc_fired()) {
			assert_non_null(a);
			assert_non_null(b);
			break;
		}
	}
	assert_true(n > 5);
}

/* Decodes and validates text; the joined problems (owned) or NULL when valid. */
static char *check(const char *text)
{
	struct yaml_docs docs;
	struct field_errs errs = {0};
	struct appdb *db = NULL;
	struct err err = {0};
	char *msg = NULL;
	int rc;

	assert_int_equal(yamljson_parse(&docs, text, strlen(text), "t.yaml", &err), 0);
	rc = appdb_from_json(&db, docs.docs[0], &errs);
	if (rc == 0)
		rc = validate_appdb(db, "appdb_admin", &errs);
	if (rc != 0)
		msg = field_errs_join(&errs);
	field_errs_clear(&errs);
	appdb_free(db);
	yaml_docs_clear(&docs);
	return msg;
}

#define HEAD                                                                                       \
	"apiVersion: db.platform.dev/v1alpha1\nkind: AppDatabase\n"                                \
	"metadata: {name: orders, namespace: team-a}\nspec:\n  instance: local\n"                  \
	"  database: {name: orders, owner: orders_owner}\n"

static void expect(const char *text, const char *problem)
{
	char *msg = check(text);

	if (problem == NULL && msg != NULL)
		fail_msg("expected valid, got %s", msg);
	if (problem != NULL && (msg == NULL || strstr(msg, problem) == NULL))
		fail_msg("expected [%s], got %s", problem, msg ? msg : "(valid)");
	free(msg);
}

static void test_rules(void **state)
{
	(void)state;
	expect(HEAD "  connection: {configMap: orders-db, secret: orders-creds}\n", NULL);
	expect(HEAD "  connection: {configMap: Orders}\n", "spec.connection.configMap: must be");
	expect(HEAD "  connection: {secret: \"a..b\"}\n", "spec.connection.secret: must be");
	expect(HEAD "  connection: {configMap: 5}\n",
	       "spec.connection.configMap: must be a string");
	expect(HEAD "  connection: [orders-db]\n", "spec.connection: must be an object");
	expect(HEAD "  connection: {other: x}\n", "spec.connection.other: unknown field");
	expect(HEAD "  users:\n  - {name: orders_app, access: readonly, rotation: alternating,\n"
	            "     passwordFrom: {secretsManager: {secretId: a}}}\n",
	       NULL);
	expect(HEAD "  users:\n  - {name: orders_app, access: readonly, rotation: weekly,\n"
	            "     passwordFrom: {secretsManager: {secretId: a}}}\n",
	       "spec.users[0].rotation: must be single or alternating");
	expect(HEAD "  users:\n  - {name: orders_app, access: readonly, rotation: alternating,\n"
	            "     passwordFrom: {kubernetesSecret: {name: s, key: k}}}\n",
	       "spec.users[0].rotation: alternating needs passwordFrom.secretsManager");
	expect(HEAD "  users:\n  - {name: orders_app, access: readonly, rotation: alternating,\n"
	            "     passwordFrom: {secretsManager: {secretId: a}}}\n"
	            "  - {name: orders_app_clone, access: readonly,\n"
	            "     passwordFrom: {secretsManager: {secretId: b}}}\n",
	       "spec.users[0].rotation: alternating uses the role \"orders_app_clone\"");
	expect(HEAD "  users:\n  - {name: appdb, access: readonly, rotation: alternating,\n"
	            "     passwordFrom: {secretsManager: {secretId: a}}}\n",
	       NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_configmap_data),
	    cmocka_unit_test(test_secret_data),
	    cmocka_unit_test(test_ipv6_host_in_brackets),
	    cmocka_unit_test(test_failing_allocator),
	    cmocka_unit_test(test_rules),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("connection", tests, NULL, NULL);
}
