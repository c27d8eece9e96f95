/*
 * test_plan.c - the pure planner, table-driven: observed state in, actions
 * out, including the empty plan.
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
#include "plan.h"

static const char *const SCHEMAS[] = {"public", "sales"};

static struct desired_user USERS[] = {
    {"app", ACCESS_READWRITE, 10, 0, NULL, NULL},
    {"ro", ACCESS_READONLY, -1, 0, NULL, NULL},
    {"mig", ACCESS_OWNER, -1, 0, NULL, NULL},
};

static struct desired desired(void)
{
	struct desired d = {"team-a/shop",
	                    "uid-1",
	                    "shop",
	                    "shop_owner",
	                    SCHEMAS,
	                    2,
	                    USERS,
	                    3,
	                    NULL,
	                    0,
	                    "2026-12-01T00:00:00Z",
	                    0,
	                    NULL,
	                    0,
	                    NULL,
	                    0,
	                    0};

	return d;
}

static void fact(struct observed *o, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_int_equal(observed_add(o, buf), 0);
}

static void add_role(struct observed *o, const char *name, int login, int limit,
                     const char *comment)
{
	struct obs_role *r;

	o->roles = realloc(o->roles, (o->n_roles + 1) * sizeof(*o->roles));
	r = &o->roles[o->n_roles++];
	r->name = strdup(name);
	r->login = login;
	r->conn_limit = limit;
	r->comment = comment ? strdup(comment) : NULL;
	r->admin_member = 0;
}

static void base_observed(struct observed *o, int server_version)
{
	memset(o, 0, sizeof(*o));
	o->server_version = server_version;
	o->admin = strdup("admin");
	o->admin_createrole = 1;
	o->admin_createdb = 1;
}

/* The observed state of a fully provisioned resource. */
static void full_observed(struct observed *o, const struct desired *d)
{
	static const char *const tp[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
	static const char *const sp[] = {"SELECT", "USAGE", "UPDATE"};
	const char *creators[] = {"shop_owner", "mig"};
	char *m;
	size_t i, s, k, c;

	base_observed(o, 150000);
	m = plan_marker(d, NULL);
	add_role(o, "shop_owner", 0, -1, m);
	free(m);
	for (i = 0; i < d->n_users; i++) {
		m = plan_marker(d, &d->users[i]);
		add_role(o, d->users[i].name, 1, d->users[i].conn_limit, m);
		free(m);
	}
	o->db_exists = 1;
	o->db_owner = strdup("shop_owner");
	o->db_comment = plan_marker(d, NULL);
	o->db_allow_connections = 1;
	o->target_observed = 1;
	/* public as PostgreSQL 15 makes it; sales created by the operator. */
	fact(o, "schemaowner:public:pg_database_owner");
	fact(o, "schemapriv:public:USAGE:PUBLIC");
	fact(o, "schemaowner:sales:shop_owner");
	fact(o, "db:CONNECT:admin");
	fact(o, "db:CONNECT:app");
	fact(o, "db:CONNECT:ro");
	fact(o, "db:CONNECT:mig");
	fact(o, "member:shop_owner:mig");
	for (s = 0; s < d->n_schemas; s++) {
		fact(o, "schema:%s", d->schemas[s]);
		for (i = 0; i < 2; i++) {
			const char *u = i == 0 ? "app" : "ro";
			size_t nt = i == 0 ? 4 : 1, ns = i == 0 ? 3 : 1;

			fact(o, "schemapriv:%s:USAGE:%s", d->schemas[s], u);
			for (c = 0; c < 2; c++) {
				for (k = 0; k < nt; k++)
					fact(o, "defacl:%s:%s:r:%s:%s", creators[c], d->schemas[s],
					     tp[k], u);
				for (k = 0; k < ns; k++)
					fact(o, "defacl:%s:%s:S:%s:%s", creators[c], d->schemas[s],
					     sp[k], u);
			}
		}
	}
}

/* Asserts the plan's texts are exactly want (NULL-terminated). */
static void expect_texts(const struct plan *p, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		if (i >= p->n)
			fail_msg("plan has %zu actions, expected more: missing \"%s\"", p->n,
			         want[i]);
		if (strcmp(p->items[i].text, want[i]) != 0)
			fail_msg("action %zu: got \"%s\", want \"%s\"", i, p->items[i].text,
			         want[i]);
	}
	if (p->n != i)
		fail_msg("plan has %zu actions, expected %zu; extra: \"%s\"", p->n, i,
		         p->items[i].text);
}

static void test_fresh_instance(void **state)
{
	struct desired d = desired();
	struct observed o;
	struct plan p;

	(void)state;
	base_observed(&o, 150000);
	assert_int_equal(plan_build(&p, &d, &o), 0);
	assert_true(p.n > 20);
	assert_string_equal(p.items[0].text, "create role shop_owner (nologin)");
	assert_int_equal(p.items[0].kind, ACT_CREATE_ROLE);
	assert_int_equal(p.items[0].login, 0);
	assert_string_equal(p.items[1].text, "create role app (login, connection limit)");
	assert_int_equal(p.items[1].conn_limit, 10);
	assert_string_equal(p.items[4].text, "create database shop owner shop_owner");
	assert_string_equal(p.items[5].text, "mark database shop as managed");
	assert_string_equal(p.items[6].text, "grant connect on database shop to admin");
	assert_string_equal(p.items[7].text, "revoke connect on database shop from public");
	/* public comes with the template; sales is created. */
	for (size_t i = 0; i < p.n; i++) {
		assert_false(strstr(p.items[i].text, "create schema public") != NULL);
		if (p.items[i].kind == ACT_CREATE_SCHEMA)
			assert_string_equal(p.items[i].schema, "sales");
		/* No object grants: a new database has no objects. */
		assert_int_not_equal(p.items[i].kind, ACT_GRANT_ON_ALL);
	}
	assert_int_equal(p.n_admin_roles, 2);
	assert_string_equal(p.admin_roles[0], "shop_owner");
	assert_string_equal(p.admin_roles[1], "mig");
	plan_clear(&p);
	observed_clear(&o);
}

static void test_converged_is_empty(void **state)
{
	struct desired d = desired();
	struct observed o;
	struct plan p;

	(void)state;
	full_observed(&o, &d);
	assert_int_equal(plan_build(&p, &d, &o), 0);
	if (p.n != 0)
		fail_msg("expected an empty plan, first action: %s", p.items[0].text);
	assert_int_equal(p.n_admin_roles, 0);
	plan_clear(&p);
	observed_clear(&o);
}

static void test_cases(void **state)
{
	static const struct {
		const char *name;
		const char *facts_add[6];
		const char *facts_remove[4];
		const char *want[6];
		int admin_roles;
	} cases[] = {
	    {"leftover membership after a crash",
	     {"member:shop_owner:admin", "member:mig:admin"},
	     {NULL},
	     {"revoke shop_owner from admin (left by an interrupted run)",
	      "revoke mig from admin (left by an interrupted run)"},
	     0},
	    {"public can connect",
	     {"db:CONNECT:PUBLIC"},
	     {NULL},
	     {"revoke connect on database shop from public"},
	     2},
	    {"user lost connect",
	     {NULL},
	     {"db:CONNECT:ro"},
	     {"grant connect on database shop to ro"},
	     2},
	    {"owner membership missing",
	     {NULL},
	     {"member:shop_owner:mig"},
	     {"grant shop_owner to mig"},
	     0},
	    {"readonly user made a member of the owner",
	     {"member:shop_owner:ro"},
	     {NULL},
	     {"revoke shop_owner from ro"},
	     0},
	    {"new table without grants",
	     {"objects:public:r:ro", "objects:public:r:app", "all:public:r:SELECT:ro",
	      "all:public:r:SELECT:app", "any:public:r:SELECT:app"},
	     {NULL},
	     {"grant INSERT, UPDATE, DELETE on all tables in schema public to app"},
	     2},
	    {"readonly user holds write privileges",
	     {"objects:sales:r:ro", "objects:sales:r:app", "all:sales:r:SELECT:ro",
	      "any:sales:r:INSERT:ro", "all:sales:r:SELECT:app"},
	     {NULL},
	     {"grant INSERT, UPDATE, DELETE on all tables in schema sales to app",
	      "revoke INSERT on all tables in schema sales from ro"},
	     2},
	    {"schema missing and default privileges gone",
	     {NULL},
	     {"schema:sales", "defacl:mig:sales:S:SELECT:ro"},
	     {"create schema sales owner shop_owner",
	      "alter default privileges for role mig in schema sales grant SELECT on sequences to "
	      "ro"},
	     2},
	    {"readonly default privileges too wide",
	     {"defacl:shop_owner:public:r:UPDATE:ro"},
	     {NULL},
	     {"alter default privileges for role shop_owner in schema public revoke UPDATE on "
	      "tables from ro"},
	     2},
	};
	size_t c, i;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct desired d = desired();
		struct observed o;
		struct plan p;

		full_observed(&o, &d);
		for (i = 0; i < 6 && cases[c].facts_add[i] != NULL; i++)
			fact(&o, "%s", cases[c].facts_add[i]);
		for (i = 0; i < 4 && cases[c].facts_remove[i] != NULL; i++)
			assert_int_equal(json_object_del(o.facts, cases[c].facts_remove[i]), 0);
		assert_int_equal(plan_build(&p, &d, &o), 0);
		print_message("case: %s\n", cases[c].name);
		expect_texts(&p, cases[c].want);
		assert_int_equal(p.n_admin_roles, cases[c].admin_roles);
		plan_clear(&p);
		observed_clear(&o);
	}
}

static void test_roles_and_markers(void **state)
{
	struct desired d = desired();
	struct desired_user users[3];
	struct observed o;
	struct plan p;
	static const char *const want[] = {
	    "alter role shop_owner nologin",
	    "mark role shop_owner as managed",
	    "alter role app login connection limit",
	    "set password for app",
	    "mark role app as managed",
	    "mark role ro as managed",
	    "mark role mig as managed",
	    "mark database shop as managed",
	    NULL,
	};
	size_t i;

	(void)state;
	full_observed(&o, &d);
	/* The owner can log in; app lost login and its limit; the uid changed. */
	o.roles[0].login = 1;
	o.roles[1].login = 0;
	o.roles[1].conn_limit = -1;
	memcpy(users, USERS, sizeof(users));
	users[0].set_password = 1;
	users[0].password_version = "v2";
	d.users = users;
	d.uid = "uid-2";
	assert_int_equal(plan_build(&p, &d, &o), 0);
	expect_texts(&p, want);
	for (i = 0; i < p.n; i++)
		if (p.items[i].kind == ACT_COMMENT_ROLE && strcmp(p.items[i].role, "app") == 0)
			assert_non_null(strstr(p.items[i].comment, "\"passwordVersion\":\"v2\""));
	assert_int_equal(p.items[2].login, 1);
	assert_int_equal(p.items[2].conn_limit, 10);
	plan_clear(&p);
	observed_clear(&o);
}

/*
 * spec.adopt: roles and a database without any marker are adopted, each an
 * "adopt ..." action that writes this resource's marker; a role whose
 * marker is ours but out of date is only marked again, and nothing is
 * created for what exists. Without adopt the same comments are "mark".
 */
static void test_adoption(void **state)
{
	struct desired d = desired();
	struct observed o;
	struct plan p;
	static const char *const want[] = {
	    "adopt role shop_owner", "adopt role app",      "mark role ro as managed",
	    "adopt role mig",        "adopt database shop", NULL,
	};
	static const char *const want_no_adopt[] = {
	    "mark role shop_owner as managed", "mark role app as managed",
	    "mark role ro as managed",         "mark role mig as managed",
	    "mark database shop as managed",   NULL,
	};
	char *marker;
	size_t i;

	(void)state;
	full_observed(&o, &d);
	/* Made by hand: no comment, a person's comment, a comment that is not JSON. */
	free(o.roles[0].comment);
	o.roles[0].comment = NULL;
	free(o.roles[1].comment);
	o.roles[1].comment = strdup("{\"note\":\"made by hand\"}");
	free(o.roles[2].comment);
	o.roles[2].comment = strdup("{\"managedBy\":\"appdb-operator\",\"resource\":\"team-a/"
	                            "shop\",\"uid\":\"old\"}");
	free(o.roles[3].comment);
	o.roles[3].comment = strdup("owned by the migrations team");
	free(o.db_comment);
	o.db_comment = NULL;
	d.adopt = 1;
	assert_int_equal(plan_build(&p, &d, &o), 0);
	expect_texts(&p, want);
	marker = plan_marker(&d, NULL);
	assert_int_equal(p.items[0].kind, ACT_COMMENT_ROLE);
	assert_string_equal(p.items[0].comment, marker);
	assert_int_equal(p.items[4].kind, ACT_COMMENT_DATABASE);
	assert_string_equal(p.items[4].comment, marker);
	for (i = 0; i < p.n; i++)
		assert_int_not_equal(p.items[i].kind, ACT_SET_PASSWORD);
	free(marker);
	plan_clear(&p);
	d.adopt = 0;
	assert_int_equal(plan_build(&p, &d, &o), 0);
	expect_texts(&p, want_no_adopt);
	plan_clear(&p);
	observed_clear(&o);
}

/* 1 when some action's text is want. */
static int has_text(const struct plan *p, const char *want)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->items[i].text, want) == 0)
			return 1;
	return 0;
}

static void test_public_schema_before_15(void **state)
{
	struct desired d = desired();
	struct observed o;
	struct plan p;
	size_t i;

	(void)state;
	/* A new database: public as template1 makes it; the revoke is tried. */
	base_observed(&o, 140000);
	assert_int_equal(plan_build(&p, &d, &o), 0);
	assert_true(has_text(&p, "revoke CREATE on schema public from public"));
	for (i = 0; i < p.n; i++)
		if (p.items[i].kind == ACT_REVOKE_SCHEMA_PUBLIC) {
			assert_true(p.items[i].may_not_apply);
			assert_non_null(strstr(p.items[i].warning, "template1"));
		}
	assert_true(has_text(&p, "grant usage on schema public to app"));
	assert_int_equal(p.n_warnings, 0);
	plan_clear(&p);
	observed_clear(&o);

	/* public owned by a superuser the admin cannot act for: said, not retried. */
	full_observed(&o, &d);
	o.server_version = 140000;
	assert_int_equal(json_object_del(o.facts, "schemaowner:public:pg_database_owner"), 0);
	fact(&o, "schemaowner:public:postgres");
	fact(&o, "schemapriv:public:CREATE:PUBLIC");
	assert_int_equal(json_object_del(o.facts, "schemapriv:public:USAGE:app"), 0);
	assert_int_equal(plan_build(&p, &d, &o), 0);
	if (p.n != 0)
		fail_msg("expected an empty plan, first action: %s", p.items[0].text);
	assert_int_equal(p.n_warnings, 1);
	assert_non_null(strstr(p.warnings[0], "REVOKE CREATE ON SCHEMA public FROM PUBLIC"));
	assert_non_null(strstr(p.warnings[0], "template1"));
	plan_clear(&p);

	/* As on RDS: the admin owns public, so it revokes. */
	assert_int_equal(json_object_del(o.facts, "schemaowner:public:postgres"), 0);
	fact(&o, "schemaowner:public:admin");
	assert_int_equal(plan_build(&p, &d, &o), 0);
	assert_true(has_text(&p, "revoke CREATE on schema public from public"));
	assert_true(has_text(&p, "grant usage on schema public to app"));
	assert_int_equal(p.n_warnings, 0);
	plan_clear(&p);
	observed_clear(&o);
}

static void test_closed_database_is_opened_last(void **state)
{
	struct desired d = desired();
	struct observed o;
	struct plan p;

	(void)state;
	full_observed(&o, &d);
	o.db_allow_connections = 0;
	fact(&o, "db:CONNECT:PUBLIC");
	assert_int_equal(plan_build(&p, &d, &o), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.items[0].text, "revoke connect on database shop from public");
	assert_string_equal(p.items[1].text, "allow connections to database shop");
	plan_clear(&p);
	observed_clear(&o);
}

static void test_retired_and_reassigned(void **state)
{
	static const char *const retired[] = {"gone"};
	struct desired d = desired();
	struct observed o;
	struct plan p;
	char *m;

	(void)state;
	full_observed(&o, &d);
	m = plan_marker(&d, NULL);
	add_role(&o, "gone", 1, -1, m);
	free(m);
	fact(&o, "db:CONNECT:gone");
	fact(&o, "member:shop_owner:gone");
	fact(&o, "schemapriv:sales:USAGE:gone");
	fact(&o, "objects:sales:r:gone");
	fact(&o, "any:sales:r:SELECT:gone");
	fact(&o, "defacl:shop_owner:sales:r:SELECT:gone");
	fact(&o, "owns:app"); /* a readwrite user that made objects */
	d.retired = retired;
	d.n_retired = 1;
	assert_int_equal(plan_build(&p, &d, &o), 0);
	assert_true(has_text(&p, "disable role gone (nologin)"));
	assert_true(has_text(&p, "mark role gone as retired"));
	assert_true(has_text(&p, "revoke connect on database shop from gone"));
	assert_true(has_text(&p, "revoke shop_owner from gone"));
	assert_true(has_text(&p, "revoke usage on schema sales from gone"));
	assert_true(has_text(&p, "revoke SELECT on all tables in schema sales from gone"));
	assert_true(has_text(&p, "alter default privileges for role shop_owner in schema sales "
	                         "revoke SELECT on tables from gone"));
	assert_true(has_text(&p, "reassign objects owned by app to shop_owner"));
	/* app's grants follow its objects to the owner role. */
	assert_true(has_text(&p, "grant SELECT, INSERT, UPDATE, DELETE on all tables in schema "
	                         "public to app"));
	for (size_t i = 0; i < p.n; i++)
		if (p.items[i].kind == ACT_COMMENT_ROLE)
			assert_non_null(strstr(p.items[i].comment, "\"retiredAt\":\"2026-12-01"));
	plan_clear(&p);
	observed_clear(&o);
}

static void test_marker_match(void **state)
{
	struct desired d = desired();
	struct desired_user u = {"app", ACCESS_READWRITE, -1, 0, "7", NULL};

	(void)state;
	assert_int_equal(plan_marker_match(NULL, &d, NULL), 0);
	assert_int_equal(plan_marker_match("hand made", &d, NULL), 0);
	assert_int_equal(
	    plan_marker_match("{\"managedBy\":\"someone\",\"resource\":\"team-a/shop\"}", &d, NULL),
	    0);
	assert_int_equal(
	    plan_marker_match(
	        "{\"managedBy\":\"appdb-operator\",\"resource\":\"team-b/x\",\"uid\":\"u\"}", &d,
	        NULL),
	    3);
	assert_int_equal(
	    plan_marker_match(
	        "{\"managedBy\":\"appdb-operator\",\"resource\":\"team-a/shop\",\"uid\":\"old\"}",
	        &d, NULL),
	    2);
	assert_int_equal(
	    plan_marker_match(
	        "{\"managedBy\":\"appdb-operator\",\"resource\":\"team-a/shop\",\"uid\":\"uid-1\"}",
	        &d, NULL),
	    1);
	assert_int_equal(
	    plan_marker_match(
	        "{\"managedBy\":\"appdb-operator\",\"resource\":\"team-a/shop\",\"uid\":\"uid-1\"}",
	        &d, &u),
	    2);
	assert_int_equal(plan_marker_match("{\"managedBy\":\"appdb-operator\",\"resource\":\"team-"
	                                   "a/shop\",\"uid\":\"uid-1\",\"passwordVersion\":\"7\"}",
	                                   &d, &u),
	                 1);
}

/* DESIGN 11.3: the extras are planned on a converged resource, then taken back. */
static void test_richer_access(void **state)
{
	static const char *const allowed[] = {"pg_read_all_data", "pg_monitor"};
	static char *subset[] = {(char *)"sales"};
	static char *member_of[] = {(char *)"pg_read_all_data"};
	static struct role_setting settings[] = {{(char *)"search_path", (char *)"sales, public"},
	                                         {(char *)"work_mem", (char *)"64MB"}};
	static const struct appdb_extension ext[] = {{(char *)"pgcrypto", (char *)"public"}};
	struct user_access more = {0};
	struct desired_user users[3];
	struct desired d = desired();
	struct observed o;
	struct plan p;
	char why[256];

	(void)state;
	memcpy(users, USERS, sizeof(users));
	more.schemas = subset;
	more.n_schemas = 1;
	more.privileges[PRIV_DATABASE] = 2;    /* TEMPORARY */
	more.privileges[PRIV_SCHEMA] = 2;      /* CREATE */
	more.privileges[PRIV_TABLES] = 1 << 4; /* TRUNCATE */
	more.member_of = member_of;
	more.n_member_of = 1;
	more.valid_until = (char *)"2027-06-30T00:00:00Z";
	more.valid_until_epoch = 1814313600;
	more.settings = settings;
	more.n_settings = 2;
	more.iam_auth = 1;
	users[1].more = &more; /* ro */
	d.users = users;
	d.allowed_roles = allowed;
	d.n_allowed_roles = 2;
	d.extensions = ext;
	d.n_extensions = 1;
	full_observed(&o, &d);
	fact(&o, "objects:public:r:ro");
	fact(&o, "all:public:r:SELECT:ro");
	fact(&o, "any:public:r:SELECT:ro");
	fact(&o, "member:pg_monitor:ro");
	fact(&o, "setting:ro:statement_timeout=5s");
	fact(&o, "setting:ro:search_path=\"sales\", public");
	/* Off RDS and without the extension: a reason naming the field, before any change. */
	assert_int_equal(plan_access_problem(why, sizeof(why), &d, &o), 1);
	assert_non_null(strstr(why, "spec.users[1].iamAuth"));
	fact(&o, "role:rds_iam");
	fact(&o, "role:pg_read_all_data");
	assert_int_equal(plan_access_problem(why, sizeof(why), &d, &o), 1);
	assert_non_null(strstr(why, "spec.database.extensions[0].name"));
	fact(&o, "extavail:pgcrypto");
	assert_int_equal(plan_access_problem(why, sizeof(why), &d, &o), 0);
	/* idle_session_timeout comes with 14: on 13 a reason, not a failed statement. */
	settings[1].name = (char *)"idle_session_timeout";
	o.server_version = 130000;
	assert_int_equal(plan_access_problem(why, sizeof(why), &d, &o), 1);
	assert_non_null(strstr(why, "spec.users[1].settings.idle_session_timeout"));
	settings[1].name = (char *)"work_mem";
	o.server_version = 150000;

	assert_int_equal(plan_build(&p, &d, &o), 0);
	assert_true(has_text(&p, "grant pg_read_all_data to ro"));
	assert_true(has_text(&p, "grant rds_iam to ro"));
	assert_true(has_text(&p, "revoke pg_monitor from ro"));
	assert_true(has_text(&p, "alter role ro valid until 2027-06-30T00:00:00Z"));
	assert_true(has_text(&p, "grant TEMPORARY on database shop to ro"));
	assert_true(has_text(&p, "alter role ro in database shop set work_mem"));
	assert_true(has_text(&p, "alter role ro in database shop reset statement_timeout"));
	/* search_path as stored ("sales", public) reads as the spec's list: unchanged. */
	assert_false(has_text(&p, "alter role ro in database shop set search_path"));
	/* Outside its schemas it keeps nothing; inside it gets CREATE and TRUNCATE. */
	assert_true(has_text(&p, "revoke usage on schema public from ro"));
	assert_true(has_text(&p, "revoke SELECT on all tables in schema public from ro"));
	assert_true(has_text(&p, "grant create on schema sales to ro"));
	assert_true(has_text(&p, "alter default privileges for role shop_owner in schema sales "
	                         "grant TRUNCATE on tables to ro"));
	assert_true(has_text(&p, "create extension pgcrypto in schema public"));
	plan_clear(&p);

	/* Taken out of the spec: revoked and reset; the extension stays. */
	fact(&o, "member:pg_read_all_data:ro");
	fact(&o, "member:rds_iam:ro");
	fact(&o, "validuntil:ro:1814313600");
	fact(&o, "db:TEMPORARY:ro");
	fact(&o, "schemapriv:sales:CREATE:ro");
	fact(&o, "ext:pgcrypto");
	users[1].more = NULL;
	assert_int_equal(plan_build(&p, &d, &o), 0);
	assert_true(has_text(&p, "revoke pg_read_all_data from ro"));
	assert_true(has_text(&p, "revoke rds_iam from ro"));
	assert_true(has_text(&p, "alter role ro valid until infinity"));
	assert_true(has_text(&p, "revoke TEMPORARY on database shop from ro"));
	assert_true(has_text(&p, "revoke create on schema sales from ro"));
	assert_true(has_text(&p, "alter role ro in database shop reset search_path"));
	assert_false(has_text(&p, "create extension pgcrypto in schema public"));
	plan_clear(&p);
	observed_clear(&o);
}

/* The admin never takes a membership in a role that holds rds_iam. */
static void test_admin_never_in_iam_roles(void **state)
{
	struct desired d = desired();
	struct observed o;
	struct plan p;
	size_t i;

	(void)state;
	base_observed(&o, 160000);
	fact(&o, "iamheld:mig");
	assert_int_equal(plan_build(&p, &d, &o), 0);
	for (i = 0; i < p.n_admin_roles; i++)
		assert_string_not_equal(p.admin_roles[i], "mig");
	assert_true(p.n_warnings >= 1);
	plan_clear(&p);
	observed_clear(&o);
}

static void test_failing_allocator(void **state)
{
	struct desired d = desired();
	struct observed o;
	long n;

	(void)state;
	base_observed(&o, 160000);
	for (n = 1; n < 100000; n++) {
		struct plan p;
		int rc;

		failalloc_arm(n);
		rc = plan_build(&p, &d, &o);
		failalloc_arm(0);
		if (rc == 0)
			plan_clear(&p);
		else
			assert_int_equal(rc, APPDB_ENOMEM);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
	}
	assert_true(n > 50);
	observed_clear(&o);
}

/*
 * rotation: alternating reaches the planner as two desired users with the
 * same access, <name> and <name>_clone: every action for one has its twin
 * for the other, and only the one the secret names gets a password.
 */
static void test_alternating_pair(void **state)
{
	struct desired_user pair[] = {
	    {"app", ACCESS_READWRITE, -1, 0, "v1", NULL},
	    {"app_clone", ACCESS_READWRITE, -1, 0, "v1", NULL},
	};
	struct desired d = desired();
	struct observed o;
	struct plan p;
	size_t i, twins = 0;
	char *m;

	(void)state;
	d.users = pair;
	d.n_users = 2;
	base_observed(&o, 160000);
	assert_int_equal(plan_build(&p, &d, &o), 0);
	for (i = 0; i < p.n; i++) {
		const char *t = p.items[i].text, *at = strstr(t, "app");
		char twin[512];

		if (p.items[i].user == NULL || strcmp(p.items[i].user, "app") != 0)
			continue;
		assert_non_null(at);
		snprintf(twin, sizeof(twin), "%.*sapp_clone%s", (int)(at - t), t, at + 3);
		if (!has_text(&p, twin))
			fail_msg("no twin for [%s]", t);
		twins++;
	}
	assert_true(twins >= 6); /* create, connect, usage, grants and default privileges */
	plan_clear(&p);
	observed_clear(&o);

	/* A rotation to a version naming app: app's password is set, the clone's kept. */
	base_observed(&o, 160000);
	for (i = 0; i < 2; i++) {
		m = plan_marker(&d, &pair[i]);
		add_role(&o, pair[i].name, 1, -1, m);
		free(m);
	}
	pair[0].set_password = 1;
	pair[0].password_version = "v2";
	assert_int_equal(plan_build(&p, &d, &o), 0);
	assert_true(has_text(&p, "set password for app"));
	for (i = 0; i < p.n; i++) {
		if (p.items[i].kind == ACT_CREATE_ROLE)
			assert_null(
			    p.items[i].user); /* both login roles exist: only the owner is new */
		if (p.items[i].kind == ACT_SET_PASSWORD || p.items[i].kind == ACT_COMMENT_ROLE)
			assert_string_equal(p.items[i].role, "app");
	}
	plan_clear(&p);
	observed_clear(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_instance),
	    cmocka_unit_test(test_converged_is_empty),
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_roles_and_markers),
	    cmocka_unit_test(test_adoption),
	    cmocka_unit_test(test_marker_match),
	    cmocka_unit_test(test_richer_access),
	    cmocka_unit_test(test_admin_never_in_iam_roles),
	    cmocka_unit_test(test_failing_allocator),
	    cmocka_unit_test(test_public_schema_before_15),
	    cmocka_unit_test(test_closed_database_is_opened_last),
	    cmocka_unit_test(test_retired_and_reassigned),
	    cmocka_unit_test(test_alternating_pair),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
