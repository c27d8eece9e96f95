/*
 * test_validate.c - every rule of DESIGN section 3, each way to break it,
 * through the same decode + validate path the engine uses.
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
#include "model.h"
#include "validate.h"
#include "yamljson.h"

static const char BASE[] = "apiVersion: db.platform.dev/v1alpha1\n"
                           "kind: AppDatabase\n"
                           "metadata: {name: orders, namespace: team-a}\n"
                           "spec:\n"
                           "  instance: local\n"
                           "  database: {name: orders, owner: orders_owner}\n"
                           "  users:\n"
                           "    - name: orders_app\n"
                           "      access: readwrite\n"
                           "      passwordFrom: {kubernetesSecret: {name: s, key: password}}\n"
                           "    - name: orders_ro\n"
                           "      access: readonly\n"
                           "      connectionLimit: 5\n"
                           "      passwordFrom: {secretsManager: {secretId: prod/orders/ro}}\n";

/* Decodes and validates text; returns the joined problems (owned) or NULL when valid. */
static char *check(const char *text, const char *admin)
{
	struct yaml_docs docs;
	struct field_errs errs = {0};
	struct appdb *db = NULL;
	struct err err = {0};
	char *msg = NULL;
	int rc;

	rc = yamljson_parse(&docs, text, strlen(text), "t.yaml", &err);
	if (rc != 0)
		return strdup(err.msg);
	assert_int_equal(docs.n, 1);
	rc = appdb_from_json(&db, docs.docs[0], &errs);
	if (rc == 0)
		rc = validate_appdb(db, admin, &errs);
	if (rc != 0)
		msg = field_errs_join(&errs);
	field_errs_clear(&errs);
	appdb_free(db);
	yaml_docs_clear(&docs);
	return msg;
}

/* Replaces the first occurrence of from in BASE by to. */
static char *mutate(const char *from, const char *to)
{
	const char *p = strstr(BASE, from);
	char *out;

	assert_non_null(p);
	out = malloc(strlen(BASE) + strlen(to) + 1);
	memcpy(out, BASE, (size_t)(p - BASE));
	strcpy(out + (p - BASE), to);
	strcat(out, p + strlen(from));
	return out;
}

static void expect_field(const char *from, const char *to, const char *field)
{
	char *text = mutate(from, to);
	char *msg = check(text, "appdb_admin");

	if (msg == NULL || strstr(msg, field) == NULL)
		fail_msg("mutation [%s] -> [%s]: expected a problem naming %s, got %s", from, to,
		         field, msg ? msg : "(valid)");
	free(msg);
	free(text);
}

static void test_base_is_valid(void **state)
{
	char *msg = check(BASE, "appdb_admin");

	(void)state;
	if (msg != NULL)
		fail_msg("%s", msg);
}

static void test_identifiers(void **state)
{
	(void)state;
	assert_true(validate_identifier("a"));
	assert_true(validate_identifier("_x9"));
	assert_true(
	    validate_identifier("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"));
	assert_false(validate_identifier(
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl")); /* 64 */
	assert_false(validate_identifier(""));
	assert_false(validate_identifier("9a"));
	assert_false(validate_identifier("Orders"));
	assert_false(validate_identifier("a-b"));
	assert_false(validate_identifier("a b"));
	assert_false(validate_identifier("a\"b"));
	assert_false(validate_identifier("\xd0\xb0pp")); /* Cyrillic a */
	assert_true(validate_reserved_role("postgres", NULL));
	assert_true(validate_reserved_role("public", NULL));
	assert_true(validate_reserved_role("pg_monitor", NULL));
	assert_true(validate_reserved_role("rds_superuser", NULL));
	assert_true(validate_reserved_role("rdsadmin", NULL));
	assert_true(validate_reserved_role("template1", NULL));
	assert_true(validate_reserved_role("boss", "boss"));
	assert_false(validate_reserved_role("orders", "boss"));
	/* PostgreSQL refuses "none" even quoted; the others name another role unquoted. */
	assert_true(validate_reserved_role("none", NULL));
	assert_true(validate_reserved_role("current_user", NULL));
	assert_true(validate_reserved_role("current_role", NULL));
	assert_true(validate_reserved_role("session_user", NULL));
	assert_true(validate_reserved_role("user", NULL));
	assert_false(validate_reserved_role("nones", NULL));
	assert_false(validate_reserved_role("users", NULL));
	assert_true(validate_dns_subdomain("orders.db-1"));
	assert_false(validate_dns_subdomain("orders\n"));
	assert_false(validate_dns_subdomain("orders\x1b[2K"));
	assert_true(validate_dns_label("team-a"));
	assert_false(validate_dns_label("team.a"));
}

/* Input the decoder must refuse rather than cut short or let through. */
static void test_input_boundary(void **state)
{
	(void)state;
	expect_field("owner: orders_owner", "owner: none", "spec.database.owner");
	expect_field("name: orders_app", "name: none", "spec.users[0].name");
	expect_field("name: orders_app", "name: current_user", "spec.users[0].name");
	expect_field("name: orders_app", "name: session_user", "spec.users[0].name");
	/* A NUL byte in a schema name is refused, not truncated to "public". */
	expect_field("  instance: local\n", "  instance: local\n  schemas: [\"public\\0x\"]\n",
	             "spec.schemas[0]");
	expect_field("  instance: local\n", "  instance: local\n  schemas: [ok, \"a\\0\"]\n",
	             "spec.schemas[1]");
	expect_field("kind: AppDatabase", "kind: \"AppDatabase\\0x\"", "kind");
	expect_field("apiVersion: db.platform.dev/v1alpha1",
	             "apiVersion: \"db.platform.dev/v1alpha1\\0\"", "apiVersion");
	/* Explicit tags mean what kubectl makes of them. */
	expect_field("connectionLimit: 5", "connectionLimit: !!str 5",
	             "spec.users[1].connectionLimit");
	expect_field("metadata: {name: orders, namespace: team-a}",
	             "metadata: {name: \"orders\\nteam-a/x: Unchanged\", namespace: team-a}",
	             "metadata.name");
}

static void test_tags_accepted(void **state)
{
	char *text, *msg;

	(void)state;
	text = mutate("name: orders_app", "name: !!str yes");
	msg = check(text, NULL);
	if (msg != NULL)
		fail_msg("!!str yes as a name: %s", msg);
	free(text);
	text = mutate("connectionLimit: 5", "connectionLimit: !!int \"5\"");
	msg = check(text, NULL);
	if (msg != NULL)
		fail_msg("!!int \"5\" as a limit: %s", msg);
	free(text);
}

static void test_each_rule(void **state)
{
	(void)state;
	expect_field("name: orders, owner", "name: Orders, owner", "spec.database.name");
	expect_field("name: orders, owner", "name: \"orders; drop table x\", owner",
	             "spec.database.name");
	expect_field("name: orders, owner", "name: postgres, owner", "spec.database.name");
	expect_field("name: orders, owner", "name: template0, owner", "spec.database.name");
	expect_field("name: orders, owner", "name: pg_x, owner", "spec.database.name");
	expect_field("name: orders, owner", "name: rds_x, owner", "spec.database.name");
	expect_field("owner: orders_owner", "owner: public", "spec.database.owner");
	expect_field("owner: orders_owner", "owner: appdb_admin", "spec.database.owner");
	expect_field("owner: orders_owner", "owner: \"o'wner\"", "spec.database.owner");
	expect_field("owner: orders_owner", "owner: 12", "spec.database.owner");
	expect_field("database: {name: orders, owner: orders_owner}", "database: {name: orders}",
	             "spec.database.owner");
	expect_field("  database: {name: orders, owner: orders_owner}\n", "", "spec.database");
	expect_field("  instance: local\n", "", "spec.instance");
	expect_field("name: orders_app", "name: orders_ro", "spec.users[1].name");
	expect_field("name: orders_app", "name: orders_owner", "spec.users[0].name");
	expect_field("name: orders_app", "name: pg_read_all_data", "spec.users[0].name");
	expect_field("name: orders_app", "name: \"orders\\u0430pp\"", "spec.users[0].name");
	expect_field("name: orders_app",
	             "name: abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
	             "spec.users[0].name");
	expect_field("access: readwrite", "access: admin", "spec.users[0].access");
	expect_field("access: readwrite", "access: [readwrite]", "spec.users[0].access");
	expect_field("connectionLimit: 5", "connectionLimit: -2", "spec.users[1].connectionLimit");
	expect_field("connectionLimit: 5", "connectionLimit: \"5\"",
	             "spec.users[1].connectionLimit");
	expect_field("connectionLimit: 5", "connectionLimit: 1.5", "spec.users[1].connectionLimit");
	expect_field("passwordFrom: {kubernetesSecret: {name: s, key: password}}",
	             "passwordFrom: {kubernetesSecret: {name: s, key: password}, secretsManager: "
	             "{secretId: x}}",
	             "spec.users[0].passwordFrom");
	expect_field("passwordFrom: {kubernetesSecret: {name: s, key: password}}",
	             "passwordFrom: {}", "spec.users[0].passwordFrom");
	expect_field("passwordFrom: {kubernetesSecret: {name: s, key: password}}",
	             "passwordFrom: {kubernetesSecret: {name: s}}",
	             "spec.users[0].passwordFrom.kubernetesSecret.key");
	expect_field("passwordFrom: {kubernetesSecret: {name: s, key: password}}",
	             "passwordFrom: {kubernetesSecret: {name: S_bad, key: password}}",
	             "spec.users[0].passwordFrom.kubernetesSecret.name");
	expect_field("passwordFrom: {kubernetesSecret: {name: s, key: password}}",
	             "passwordFrom: {kubernetesSecret: {name: s, key: \"a/b\"}}",
	             "spec.users[0].passwordFrom.kubernetesSecret.key");
	expect_field("{secretId: prod/orders/ro}", "{secretId: \"\"}",
	             "spec.users[1].passwordFrom.secretsManager.secretId");
	expect_field("{secretId: prod/orders/ro}", "{key: password}",
	             "spec.users[1].passwordFrom.secretsManager.secretId");
	expect_field("      access: readwrite\n", "      access: readwrite\n      extra: 1\n",
	             "spec.users[0].extra");
	expect_field("  instance: local\n", "  instance: local\n  schemas: [public, Bad]\n",
	             "spec.schemas[1]");
	expect_field("  instance: local\n", "  instance: local\n  schemas: [public, public]\n",
	             "spec.schemas[1]");
	expect_field("  instance: local\n", "  instance: local\n  schemas: [pg_catalog]\n",
	             "spec.schemas[0]");
	expect_field("  instance: local\n", "  instance: local\n  schemas: public\n",
	             "spec.schemas");
	expect_field("  users:\n", "  users: {}\n  x:\n", "spec.users");
	expect_field("kind: AppDatabase", "kind: ConfigMap", "kind");
	expect_field("apiVersion: db.platform.dev/v1alpha1", "apiVersion: db.platform.dev/v1",
	             "apiVersion");
	expect_field("metadata: {name: orders, namespace: team-a}", "metadata: {namespace: team-a}",
	             "metadata.name");
	expect_field("metadata: {name: orders, namespace: team-a}",
	             "metadata: {name: Orders_X, namespace: team-a}", "metadata.name");
	expect_field("metadata: {name: orders, namespace: team-a}",
	             "metadata: {name: orders..db, namespace: team-a}", "metadata.name");
	expect_field("metadata: {name: orders, namespace: team-a}",
	             "metadata: {name: orders-.db, namespace: team-a}", "metadata.name");
	expect_field("passwordFrom: {kubernetesSecret: {name: s, key: password}}",
	             "passwordFrom: {kubernetesSecret: {name: s..x, key: password}}",
	             "spec.users[0].passwordFrom.kubernetesSecret.name");
	expect_field("metadata: {name: orders, namespace: team-a}",
	             "metadata: {name: orders, namespace: team-a, generation: 0}",
	             "metadata.generation");
}

static void test_too_many_users(void **state)
{
	char *text = malloc(200000);
	char *msg;
	int i;

	(void)state;
	strcpy(text, "apiVersion: db.platform.dev/v1alpha1\nkind: AppDatabase\n"
	             "metadata: {name: big}\nspec:\n  instance: local\n"
	             "  database: {name: big, owner: big_owner}\n  users:\n");
	for (i = 0; i < 101; i++)
		sprintf(text + strlen(text),
		        "  - {name: u%d, access: readonly, passwordFrom: {kubernetesSecret: {name: "
		        "s, key: k}}}\n",
		        i);
	msg = check(text, NULL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "spec.users: must have at most 100"));
	free(msg);
	free(text);
}

/* Decoding fails cleanly at every allocation. */
static void test_decode_failing_allocator(void **state)
{
	struct yaml_docs docs;
	struct err err = {0};
	long n;

	(void)state;
	assert_int_equal(yamljson_parse(&docs, BASE, strlen(BASE), "t.yaml", &err), 0);
	for (n = 1; n < 100000; n++) {
		struct field_errs errs = {0};
		struct appdb *db = NULL;
		int rc;

		failalloc_arm(n);
		rc = appdb_from_json(&db, docs.docs[0], &errs);
		if (rc == 0)
			rc = validate_appdb(db, NULL, &errs);
		failalloc_arm(0);
		field_errs_clear(&errs);
		appdb_free(db);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		if (rc != APPDB_ENOMEM)
			fail_msg("allocation %ld failed but decoding returned %d", n, rc);
	}
	assert_true(n > 10);
	yaml_docs_clear(&docs);
}

static const char RICH[] = "apiVersion: db.platform.dev/v1alpha1\n"
                           "kind: AppDatabase\n"
                           "metadata: {name: orders, namespace: team-a}\n"
                           "spec:\n"
                           "  instance: local\n"
                           "  database:\n"
                           "    name: orders\n"
                           "    owner: orders_owner\n"
                           "    extensions: [{name: pgcrypto, schema: public}, {name: postgis}]\n"
                           "  schemas: [public, reporting]\n"
                           "  users:\n"
                           "    - name: orders_rep\n"
                           "      access: readonly\n"
                           "      schemas: [reporting]\n"
                           "      privileges: {database: [TEMPORARY], tables: [TRUNCATE]}\n"
                           "      memberOf: [pg_read_all_data]\n"
                           "      validUntil: '2027-06-30T00:00:00+02:00'\n"
                           "      settings: {search_path: 'reporting, public', work_mem: 64MB}\n"
                           "      passwordFrom: {kubernetesSecret: {name: s, key: password}}\n"
                           "    - name: orders_iam\n"
                           "      access: readonly\n"
                           "      iamAuth: true\n";

/* DESIGN 11.3: decoded with every allocation failing in turn; the instance's lists decide. */
static void test_richer_access(void **state)
{
	static char *roles[] = {(char *)"pg_read_all_data"};
	static char *exts[] = {(char *)"pgcrypto", (char *)"postgis"};
	struct instance_config in;
	struct yaml_docs docs;
	struct err err = {0};
	long n;

	(void)state;
	assert_int_equal(yamljson_parse(&docs, RICH, strlen(RICH), "t.yaml", &err), 0);
	for (n = 1; n < 100000; n++) {
		struct field_errs errs = {0};
		struct appdb *db = NULL;
		int rc;

		failalloc_arm(n);
		rc = appdb_from_json(&db, docs.docs[0], &errs);
		if (rc == 0)
			rc = validate_appdb(db, "appdb_admin", &errs);
		failalloc_arm(0);
		if (!failalloc_fired()) {
			char *msg = field_errs_join(&errs);

			if (rc != 0)
				fail_msg("%s", msg);
			free(msg);
			assert_int_equal(db->users[0].more.valid_until_epoch, 1814306400);
			assert_int_equal(db->users[0].more.n_settings, 2);
			assert_true(db->users[1].more.iam_auth);
			/* No lists: memberOf nothing; postgis is not a trusted extension. */
			memset(&in, 0, sizeof(in));
			assert_int_equal(validate_appdb_instance(db, &in, &errs), APPDB_EINVAL);
			msg = field_errs_join(&errs);
			assert_non_null(
			    strstr(msg, "spec.users[0].memberOf[0]: role pg_read_all_data"));
			assert_non_null(strstr(msg, "spec.database.extensions[1].name"));
			assert_null(strstr(msg, "extensions[0]"));
			free(msg);
			field_errs_clear(&errs);
			in.allowed_roles = roles;
			in.n_allowed_roles = 1;
			in.allowed_extensions = exts;
			in.n_allowed_extensions = 2;
			in.allowed_extensions_set = 1;
			assert_int_equal(validate_appdb_instance(db, &in, &errs), 0);
			/* An empty allowedExtensions allows none. */
			in.n_allowed_extensions = 0;
			assert_int_equal(validate_appdb_instance(db, &in, &errs), APPDB_EINVAL);
			field_errs_clear(&errs);
			appdb_free(db);
			break;
		}
		field_errs_clear(&errs);
		appdb_free(db);
		if (rc != APPDB_ENOMEM)
			fail_msg("allocation %ld failed but decoding returned %d", n, rc);
	}
	assert_true(n > 10);
	yaml_docs_clear(&docs);
	/* The admin is never a role to be a member of, nor are the dangerous ones. */
	assert_true(validate_never_member_of("appdb_admin", "appdb_admin"));
	assert_true(validate_never_member_of("pg_execute_server_program", NULL));
	assert_false(validate_never_member_of("pg_monitor", "appdb_admin"));
	assert_true(validate_search_path("a, b,c"));
	assert_false(validate_search_path("a,"));
	assert_false(validate_search_path("\"a\""));
	assert_false(validate_search_path("a ,b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base_is_valid),
	    cmocka_unit_test(test_identifiers),
	    cmocka_unit_test(test_each_rule),
	    cmocka_unit_test(test_too_many_users),
	    cmocka_unit_test(test_input_boundary),
	    cmocka_unit_test(test_tags_accepted),
	    cmocka_unit_test(test_decode_failing_allocator),
	    cmocka_unit_test(test_richer_access),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
