/*
 * test_sql.c - the SQL of each action, per server version (15, 16, 17), with
 * a quoter that behaves like libpq's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "sql.h"

/* Doubles the quote character and wraps, like PQescapeIdentifier/Literal. */
static char *quote(const char *s, char q)
{
	char *out = malloc(strlen(s) * 2 + 3);
	char *p = out;

	if (out == NULL)
		return NULL;
	*p++ = q;
	for (; *s != '\0'; s++) {
		if (*s == q)
			*p++ = q;
		*p++ = *s;
	}
	*p++ = q;
	*p = '\0';
	return out;
}

static char *qi(void *ctx, const char *s)
{
	(void)ctx;
	return quote(s, '"');
}

static char *ql(void *ctx, const char *s)
{
	(void)ctx;
	return quote(s, '\'');
}

static const struct sql_quote Q = {qi, ql, NULL};

static void expect(const struct action *a, int version, const char *verifier, const char *want)
{
	char *sql = NULL;

	assert_int_equal(sql_render(&sql, a, version, verifier, &Q), 0);
	if (strcmp(sql, want) != 0)
		fail_msg("version %d:\n got: %s\nwant: %s", version, sql, want);
	free(sql);
}

static struct action act(enum action_kind kind)
{
	struct action a;

	memset(&a, 0, sizeof(a));
	a.kind = kind;
	a.login = -1;
	a.conn_limit = ACT_KEEP;
	return a;
}

static void test_roles(void **state)
{
	struct action a = act(ACT_CREATE_ROLE);
	int v;

	(void)state;
	a.role = "app";
	a.login = 1;
	a.conn_limit = 5;
	a.comment = "{\"managedBy\":\"appdb-operator\",\"resource\":\"ns/o'x\"}";
	for (v = 150000; v <= 170000; v += 10000)
		expect(&a, v, "SCRAM-SHA-256$4096:abc$def:ghi",
		       "CREATE ROLE \"app\" LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi' "
		       "CONNECTION LIMIT 5; COMMENT ON ROLE \"app\" IS "
		       "'{\"managedBy\":\"appdb-operator\",\"resource\":\"ns/o''x\"}'");
	a.login = 0;
	a.conn_limit = -1;
	a.role = "we\"ird";
	expect(&a, 150000, NULL,
	       "CREATE ROLE \"we\"\"ird\" NOLOGIN; COMMENT ON ROLE \"we\"\"ird\" IS "
	       "'{\"managedBy\":\"appdb-operator\",\"resource\":\"ns/o''x\"}'");
	/* A login role without its verifier is a bug, never a role without password. */
	a.login = 1;
	{
		char *sql = NULL;

		assert_int_equal(sql_render(&sql, &a, 150000, NULL, &Q), APPDB_EINTERNAL);
		assert_null(sql);
	}
	a = act(ACT_ALTER_ROLE);
	a.role = "app";
	a.login = 1;
	a.conn_limit = -1;
	expect(&a, 150000, NULL, "ALTER ROLE \"app\" LOGIN CONNECTION LIMIT -1");
	a.login = -1;
	a.conn_limit = ACT_KEEP;
	a.login = 0;
	expect(&a, 160000, NULL, "ALTER ROLE \"app\" NOLOGIN");
	a = act(ACT_SET_PASSWORD);
	a.role = "app";
	expect(&a, 170000, "SCRAM-SHA-256$x", "ALTER ROLE \"app\" PASSWORD 'SCRAM-SHA-256$x'");
}

static void test_memberships_by_version(void **state)
{
	struct action a = act(ACT_GRANT_ROLE);
	char *sql = NULL;

	(void)state;
	a.role = "owner";
	a.other = "mig";
	expect(&a, 150000, NULL, "GRANT \"owner\" TO \"mig\"");
	expect(&a, 160000, NULL, "GRANT \"owner\" TO \"mig\" WITH INHERIT TRUE, SET TRUE");
	expect(&a, 170000, NULL, "GRANT \"owner\" TO \"mig\" WITH INHERIT TRUE, SET TRUE");
	a = act(ACT_REVOKE_ROLE);
	a.role = "owner";
	a.other = "ro";
	expect(&a, 160000, NULL, "REVOKE \"owner\" FROM \"ro\"");

	assert_int_equal(sql_admin_grant(&sql, "owner", "admin", 150000, &Q), 0);
	assert_string_equal(sql, "GRANT \"owner\" TO \"admin\"");
	free(sql);
	assert_int_equal(sql_admin_grant(&sql, "owner", "admin", 160002, &Q), 0);
	assert_string_equal(sql, "GRANT \"owner\" TO \"admin\" WITH INHERIT TRUE, SET TRUE");
	free(sql);
	assert_int_equal(sql_admin_grant(&sql, "owner", "admin", 170000, &Q), 0);
	assert_string_equal(sql, "GRANT \"owner\" TO \"admin\" WITH INHERIT TRUE, SET TRUE");
	free(sql);
	assert_int_equal(sql_admin_revoke(&sql, "owner", "admin", &Q), 0);
	assert_string_equal(sql, "REVOKE \"owner\" FROM \"admin\"");
	free(sql);
}

static void test_database_and_grants(void **state)
{
	struct action a = act(ACT_CREATE_DATABASE);

	(void)state;
	a.db = "orders";
	a.other = "orders_owner";
	expect(&a, 150000, NULL,
	       "CREATE DATABASE \"orders\" OWNER \"orders_owner\" ALLOW_CONNECTIONS false");
	a = act(ACT_COMMENT_DATABASE);
	a.db = "orders";
	a.comment = "{}";
	expect(&a, 150000, NULL, "COMMENT ON DATABASE \"orders\" IS '{}'");
	a = act(ACT_REVOKE_CONNECT_PUBLIC);
	a.db = "orders";
	expect(&a, 150000, NULL, "REVOKE CONNECT ON DATABASE \"orders\" FROM PUBLIC");
	a = act(ACT_GRANT_CONNECT);
	a.db = "orders";
	a.other = "app";
	expect(&a, 150000, NULL, "GRANT CONNECT ON DATABASE \"orders\" TO \"app\"");
	a = act(ACT_CREATE_SCHEMA);
	a.schema = "sales";
	a.other = "orders_owner";
	expect(&a, 150000, NULL,
	       "CREATE SCHEMA IF NOT EXISTS \"sales\" AUTHORIZATION \"orders_owner\"");
	a = act(ACT_GRANT_SCHEMA_USAGE);
	a.schema = "sales";
	a.other = "app";
	expect(&a, 150000, NULL, "GRANT USAGE ON SCHEMA \"sales\" TO \"app\"");
	a = act(ACT_GRANT_ON_ALL);
	a.schema = "sales";
	a.other = "app";
	a.privs = "SELECT, INSERT";
	a.objtype = 'r';
	expect(&a, 150000, NULL,
	       "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA \"sales\" TO \"app\"");
	a.kind = ACT_REVOKE_ON_ALL;
	a.objtype = 'S';
	a.privs = "USAGE";
	expect(&a, 150000, NULL, "REVOKE USAGE ON ALL SEQUENCES IN SCHEMA \"sales\" FROM \"app\"");
	a = act(ACT_DEFAULT_GRANT);
	a.role = "orders_owner";
	a.schema = "public";
	a.other = "ro";
	a.privs = "SELECT";
	a.objtype = 'r';
	expect(&a, 160000, NULL,
	       "ALTER DEFAULT PRIVILEGES FOR ROLE \"orders_owner\" IN SCHEMA \"public\" GRANT "
	       "SELECT ON TABLES TO \"ro\"");
	a.kind = ACT_DEFAULT_REVOKE;
	expect(&a, 160000, NULL,
	       "ALTER DEFAULT PRIVILEGES FOR ROLE \"orders_owner\" IN SCHEMA \"public\" REVOKE "
	       "SELECT ON TABLES FROM \"ro\"");
}

/* DESIGN 11.3: names quoted, values literals, search_path as a list of quoted names. */
static void test_access_statements(void **state)
{
	struct action a;
	char *sql = NULL;

	(void)state;
	a = act(ACT_GRANT_DB_PRIVS);
	a.db = "orders";
	a.privs = "TEMPORARY, CREATE";
	a.other = "rep";
	expect(&a, 150000, NULL, "GRANT TEMPORARY, CREATE ON DATABASE \"orders\" TO \"rep\"");
	a.kind = ACT_REVOKE_DB_PRIVS;
	a.privs = "TEMPORARY";
	a.other = NULL;
	expect(&a, 150000, NULL, "REVOKE TEMPORARY ON DATABASE \"orders\" FROM PUBLIC");
	/* Nothing but the known privilege words reaches the statement. */
	a.privs = "TEMPORARY; DROP TABLE t";
	assert_int_equal(sql_render(&sql, &a, 150000, NULL, &Q), APPDB_EINTERNAL);
	a.kind = ACT_GRANT_DB_PRIVS;
	a.privs = "TEMPORARY";
	assert_int_equal(sql_render(&sql, &a, 150000, NULL, &Q), APPDB_EINTERNAL); /* no PUBLIC */

	a = act(ACT_GRANT_SCHEMA_PRIVS);
	a.schema = "reporting";
	a.privs = "CREATE";
	a.other = "rep";
	expect(&a, 150000, NULL, "GRANT CREATE ON SCHEMA \"reporting\" TO \"rep\"");
	a.privs = "USAGE";
	assert_int_equal(sql_render(&sql, &a, 150000, NULL, &Q), APPDB_EINTERNAL);

	a = act(ACT_VALID_UNTIL);
	a.role = "rep";
	a.comment = "2027-06-30T00:00:00Z";
	expect(&a, 150000, NULL, "ALTER ROLE \"rep\" VALID UNTIL '2027-06-30T00:00:00Z'");

	a = act(ACT_SET_SETTING);
	a.role = "rep";
	a.db = "orders";
	a.other = "statement_timeout";
	a.comment = "30s'; DROP TABLE t; --";
	expect(&a, 150000, NULL,
	       "ALTER ROLE \"rep\" IN DATABASE \"orders\" SET \"statement_timeout\" = "
	       "'30s''; DROP TABLE t; --'");
	a.other = "search_path";
	a.comment = "reporting,  public";
	expect(&a, 150000, NULL,
	       "ALTER ROLE \"rep\" IN DATABASE \"orders\" SET \"search_path\" = \"reporting\", "
	       "\"public\"");
	a.other = "session_authorization";
	assert_int_equal(sql_render(&sql, &a, 150000, NULL, &Q), APPDB_EINTERNAL);
	a.kind = ACT_RESET_SETTING;
	a.other = "work_mem";
	expect(&a, 150000, NULL, "ALTER ROLE \"rep\" IN DATABASE \"orders\" RESET \"work_mem\"");

	a = act(ACT_CREATE_EXTENSION);
	a.other = "uuid-ossp";
	a.role = "orders_owner";
	expect(
	    &a, 150000, NULL,
	    "SET ROLE \"orders_owner\"; CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\"; RESET ROLE");
	a.schema = "public";
	expect(&a, 150000, NULL,
	       "SET ROLE \"orders_owner\"; CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\" SCHEMA "
	       "\"public\"; RESET ROLE");

	/* An IAM login: created without a password, no verifier needed. */
	a = act(ACT_CREATE_ROLE);
	a.role = "lambda";
	a.login = 1;
	a.conn_limit = -1;
	a.comment = "{}";
	a.no_password = 1;
	expect(&a, 150000, NULL,
	       "CREATE ROLE \"lambda\" LOGIN; COMMENT ON ROLE \"lambda\" IS '{}'");
}

static void test_failing_allocator(void **state)
{
	struct action a = act(ACT_CREATE_ROLE);
	long n;

	(void)state;
	a.role = "app";
	a.login = 1;
	a.conn_limit = 3;
	a.comment = "{}";
	for (n = 1; n < 1000; n++) {
		char *sql = NULL;
		int rc;

		failalloc_arm(n);
		rc = sql_render(&sql, &a, 150000, "v", &Q);
		failalloc_arm(0);
		free(sql);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_memberships_by_version),
	    cmocka_unit_test(test_database_and_grants),
	    cmocka_unit_test(test_access_statements),
	    cmocka_unit_test(test_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("sql", tests, NULL, NULL);
}
