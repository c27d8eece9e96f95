/*
 * test_yamljson.c - the YAML loader (bounds, duplicates, positions) and the
 * configuration reader, with failing-allocator loops over both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "failalloc.h"
#include "yamljson.h"

static int parse(struct yaml_docs *d, const char *text, struct err *err)
{
	memset(err, 0, sizeof(*err));
	return yamljson_parse(d, text, strlen(text), "t.yaml", err);
}

static void test_documents_and_types(void **state)
{
	struct yaml_docs d;
	struct err err;
	json_t *o;
	int line, col;

	(void)state;
	assert_int_equal(
	    parse(&d, "---\na: 1\nb: \"2\"\nc: true\nd: ~\ne: x\nf: 0x1f\ng: 1.5\n---\n---\n- 1\n",
	          &err),
	    0);
	assert_int_equal(d.n, 2); /* the empty document is skipped */
	o = d.docs[0];
	assert_true(json_is_integer(json_object_get(o, "a")));
	assert_true(json_is_string(json_object_get(o, "b")));
	assert_true(json_is_true(json_object_get(o, "c")));
	assert_true(json_is_null(json_object_get(o, "d")));
	assert_string_equal(json_string_value(json_object_get(o, "e")), "x");
	assert_int_equal(json_integer_value(json_object_get(o, "f")), 31);
	assert_true(json_is_real(json_object_get(o, "g")));
	assert_true(json_is_array(d.docs[1]));

	assert_true(yaml_pos(&d, json_object_get(o, "e"), &line, &col));
	assert_int_equal(line, 6);
	assert_int_equal(col, 4);
	yaml_docs_clear(&d);
}

/* Plain scalars resolve as kubectl resolves them. */
static void test_kubectl_scalars(void **state)
{
	struct yaml_docs d;
	struct err err;
	json_t *o;

	(void)state;
	/* As kubectl reads YAML (1.1): */
	assert_int_equal(parse(&d,
	                       "a: on\nb: no\nc: y\nd: 010\ne: 0b101\nf: 1_000\ng: 5.0\nh: 1e3\n"
	                       "i: \"on\"\nj: 08\nk: 0o17\n",
	                       &err),
	                 0);
	o = d.docs[0];
	assert_true(json_is_true(json_object_get(o, "a")));
	assert_true(json_is_false(json_object_get(o, "b")));
	assert_true(json_is_true(json_object_get(o, "c")));
	assert_int_equal(json_integer_value(json_object_get(o, "d")), 8);
	assert_int_equal(json_integer_value(json_object_get(o, "e")), 5);
	assert_int_equal(json_integer_value(json_object_get(o, "f")), 1000);
	assert_int_equal(json_integer_value(json_object_get(o, "g")), 5);
	assert_int_equal(json_integer_value(json_object_get(o, "h")), 1000);
	assert_string_equal(json_string_value(json_object_get(o, "i")), "on");
	assert_int_equal(json_integer_value(json_object_get(o, "j")),
	                 8); /* as Go: not octal, a float */
	assert_int_equal(json_integer_value(json_object_get(o, "k")), 15);
	yaml_docs_clear(&d);
	assert_int_equal(parse(&d, "x:\n  y: !!binary aGVsbG8=\n", &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "x.y: binary"));
	assert_int_equal(parse(&d, "x: .inf\n", &err), APPDB_EINVAL);
}

/* Explicit tags as go-yaml v2 under sigs.k8s.io/yaml (kubectl) resolves them. */
static void test_explicit_tags(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} refused[] = {
	    {"a: !!int 5.0\n", "t.yaml:1:4: a: \"5.0\" is not a valid !!int"},
	    {"a: !!int abc\n", "\"abc\" is not a valid !!int"},
	    {"a: !!bool 1\n", "not a valid !!bool"},
	    {"a: !!null x\n", "not a valid !!null"},
	    {"a: !!float yes\n", "not a valid !!float"},
	    {"a:\n  b: !role x\n", "t.yaml:2:6: a.b: the tag !role is not supported"},
	    {"a: !<tag:example.com,2000:x> 1\n", "the tag tag:example.com,2000:x is not supported"},
	    {"a: !!timestamp 2001-12-14\n", "the tag !!timestamp is not supported"},
	    {"a: !!set {x: null}\n", "the tag !!set is not supported"},
	    {"a: !!str {x: 1}\n", "the tag !!str is not supported here"},
	    {"a: !!map [1]\n", "the tag !!map is not supported here"},
	    {"a: !x [1]\n", "the tag !x is not supported"},
	};
	struct yaml_docs d;
	struct err err;
	json_t *o;
	size_t i;

	(void)state;
	assert_int_equal(
	    parse(&d,
	          "a: !!str 5\nb: !!str yes\nc: !!int \"5\"\nd: !!int 0x1F\n"
	          "e: !!float 5\nf: !!float \"1.5\"\ng: !!bool \"on\"\nh: !!null \"\"\n"
	          "i: ! 5\nj: !!str\nk: !!map {x: !!seq [1]}\nl: &a !!str 7\nm: *a\n"
	          "n: !!str ~\no: !!int '010'\np: 5\nq: \"5\"\n",
	          &err),
	    0);
	o = d.docs[0];
	assert_string_equal(json_string_value(json_object_get(o, "a")), "5");
	assert_string_equal(json_string_value(json_object_get(o, "b")), "yes");
	assert_int_equal(json_integer_value(json_object_get(o, "c")), 5);
	assert_int_equal(json_integer_value(json_object_get(o, "d")), 31);
	assert_int_equal(json_integer_value(json_object_get(o, "e")), 5);
	assert_true(json_real_value(json_object_get(o, "f")) == 1.5);
	assert_true(json_is_true(json_object_get(o, "g")));
	assert_true(json_is_null(json_object_get(o, "h")));
	assert_string_equal(json_string_value(json_object_get(o, "i")), "5");
	assert_string_equal(json_string_value(json_object_get(o, "j")), "");
	assert_int_equal(json_array_size(json_object_get(json_object_get(o, "k"), "x")), 1);
	assert_string_equal(json_string_value(json_object_get(o, "l")), "7");
	assert_string_equal(json_string_value(json_object_get(o, "m")), "7");
	assert_string_equal(json_string_value(json_object_get(o, "n")), "~");
	assert_int_equal(json_integer_value(json_object_get(o, "o")), 8);
	assert_int_equal(json_integer_value(json_object_get(o, "p")), 5);
	assert_string_equal(json_string_value(json_object_get(o, "q")), "5");
	yaml_docs_clear(&d);
	/* Tags are per document: the second document's nodes are numbered from its start. */
	assert_int_equal(parse(&d, "a: !!str 1\n---\nb: 2\nc: !!str 3\n", &err), 0);
	assert_int_equal(d.n, 2);
	assert_string_equal(json_string_value(json_object_get(d.docs[0], "a")), "1");
	assert_int_equal(json_integer_value(json_object_get(d.docs[1], "b")), 2);
	assert_string_equal(json_string_value(json_object_get(d.docs[1], "c")), "3");
	yaml_docs_clear(&d);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(parse(&d, refused[i].text, &err), APPDB_EINVAL);
		if (strstr(err.msg, refused[i].want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, refused[i].want);
	}
}

static void test_refusals(void **state)
{
	struct yaml_docs d;
	struct err err;
	char *deep;
	int i;

	(void)state;
	assert_int_equal(parse(&d, "a: 1\na: 2\n", &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "t.yaml:2:1: a: duplicate key"));
	assert_int_equal(parse(&d, "spec:\n  users:\n  - {name: a, name: b}\n", &err),
	                 APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "t.yaml:3:15: spec.users[0].name: duplicate key"));
	assert_int_equal(parse(&d, "a: [1, 2\n", &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "t.yaml:"));
	assert_int_equal(parse(&d, "? [a]\n: 1\n", &err), APPDB_EINVAL);
	assert_int_equal(parse(&d, "a: &x {b: 1}\nc:\n  <<: *x\n", &err), APPDB_EINVAL);
	/* A billion laughs: nine levels of ten aliases each. */
	assert_int_equal(
	    parse(
	        &d,
	        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
	        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
	        &err),
	    APPDB_ELIMIT);
	assert_non_null(strstr(err.msg, "alias"));
	/* Nesting deeper than the bound. */
	deep = malloc(400);
	deep[0] = '\0';
	for (i = 0; i < 100; i++)
		strcat(deep, "[");
	assert_int_equal(parse(&d, deep, &err), APPDB_EINVAL);
	for (i = 0; i < 100; i++)
		strcat(deep, "]");
	assert_int_equal(parse(&d, deep, &err), APPDB_ELIMIT);
	free(deep);
	/* Small aliases are fine. */
	assert_int_equal(parse(&d, "a: &x [1, 2]\nb: *x\n", &err), 0);
	assert_int_equal(json_array_size(json_object_get(d.docs[0], "b")), 2);
	yaml_docs_clear(&d);
}

static void test_parse_failing_allocator(void **state)
{
	static const char text[] =
	    "a: &x {b: [1, 2, \"three\"], c: {d: e}}\nf: *x\n---\ng: [h, i]\n";
	long n;

	(void)state;
	for (n = 1; n < 100000; n++) {
		struct yaml_docs d;
		struct err err = {0};
		int rc;

		failalloc_arm(n);
		rc = yamljson_parse(&d, text, strlen(text), "t.yaml", &err);
		failalloc_arm(0);
		if (rc == 0)
			yaml_docs_clear(&d);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rc, APPDB_ENOMEM);
	}
	assert_true(n > 10);
}

static void test_config_full(void **state)
{
	struct config *cfg = NULL;
	struct err err = {0};
	const struct instance_config *in;

	(void)state;
	unsetenv("APPDB_ENVIRONMENT");
	setenv("BUILD_ID", "ci-1", 1);
	setenv("ALLOW_DB_PROVISION", "true", 1);
	assert_int_equal(config_load(&cfg, "tests/unit/data/config-full.yaml", &err), 0);
	assert_string_equal(cfg->environment, "staging");
	assert_true(cfg->allow_provision);
	assert_string_equal(cfg->build_id, "ci-1");
	assert_int_equal(cfg->n_instances, 3);
	in = config_instance(cfg, "orders-rds");
	assert_non_null(in);
	assert_int_equal(in->port, 5433);
	assert_string_equal(in->ssl_mode, "verify-full");
	assert_int_equal(in->admin_password.kind, SECRET_AWS_SM);
	assert_string_equal(in->admin_password.secret_id, "rds/orders/provisioner");
	in = config_instance(cfg, "iam-rds");
	assert_true(in->iam_auth);
	assert_string_equal(in->iam_region, "eu-west-1");
	assert_int_equal(in->port, 5432);
	assert_string_equal(in->admin_database, "postgres");
	in = config_instance(cfg, "file-rds");
	assert_int_equal(in->admin_password.kind, SECRET_FILE);
	assert_null(config_instance(cfg, "nope"));
	assert_int_equal(cfg->n_watch_namespaces, 2);
	assert_int_equal(cfg->workers, 8);
	assert_int_equal(cfg->resync_seconds, 300);
	assert_true(cfg->leader.enabled);
	assert_string_equal(cfg->leader.lease_name, "appdb-lease");
	assert_int_equal(cfg->leader.lease_seconds, 15);
	/* allowedNamespaces: names and globs; none given serves every namespace. */
	in = config_instance(cfg, "orders-rds");
	assert_int_equal(in->n_allowed_namespaces, 2);
	assert_true(config_instance_allows(in, "orders"));
	assert_true(config_instance_allows(in, "team-orders"));
	assert_true(config_instance_allows(in, "team-orders-2"));
	assert_false(config_instance_allows(in, "team-payments"));
	assert_false(config_instance_allows(in, "orders-x"));
	assert_false(config_instance_allows(in, NULL));
	assert_true(config_instance_allows(config_instance(cfg, "iam-rds"), "anything"));
	config_free(cfg);
	setenv("APPDB_ENVIRONMENT", "prod", 1);
	assert_int_equal(config_load(&cfg, "tests/unit/data/config-full.yaml", &err), 0);
	assert_string_equal(cfg->environment, "prod");
	config_free(cfg);
	unsetenv("APPDB_ENVIRONMENT");
	unsetenv("ALLOW_DB_PROVISION");
}

/* Writes text to a temporary file and loads it as config; returns the code. */
static int load_text(const char *text, struct err *err)
{
	char path[] = "/tmp/appdb-cfg-XXXXXX";
	struct config *cfg = NULL;
	int fd = mkstemp(path);
	int rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	memset(err, 0, sizeof(*err));
	rc = config_load(&cfg, path, err);
	config_free(cfg);
	unlink(path);
	return rc;
}

static void test_config_errors(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"environment: qa\ninstances: {}\n", ":1:14: environment: must be one of"},
	    {"instances:\n  x:\n    host: h\n    port: big\n    admin: {user: u, passwordFrom: "
	     "{file: /f}}\n",
	     ":4:11: instances.x.port: must be an integer"},
	    {"instances:\n  x:\n    host: h\n    admin: {user: u}\n",
	     "instances.x.admin: must give exactly one of passwordFrom, iamAuth"},
	    {"instances:\n  x:\n    host: h\n    sslMode: verify\n    admin: {user: u, iamAuth: "
	     "{region: r}}\n",
	     ":4:14: instances.x.sslMode: must be one of"},
	    {"instances: {}\nworkerz: 3\n", ":2:10: workerz: unknown field"},
	    {"instances:\n  x:\n    admin: {user: u, passwordFrom: {file: /f}}\n",
	     "instances.x.host: required field is missing"},
	    {"instances:\n  x:\n    host: h\n    admin: {user: u, passwordFrom: {file: /f, "
	     "secretsManager: {secretId: s}}}\n",
	     "must name exactly one of"},
	    {"instances: {}\nleaderElection: {leaseDurationSeconds: 5, renewDeadlineSeconds: 9}\n",
	     "renewDeadlineSeconds: must be less than leaseDurationSeconds"},
	    {"- a\n- b\n", "must hold exactly one YAML mapping"},
	    {"instances:\n  x:\n    host: h\n    allowedNamespaces: [team-a, Team_B]\n"
	     "    admin: {user: u, iamAuth: {region: r}}\n",
	     ":4:33: instances.x.allowedNamespaces[1]: must be a namespace name or a glob"},
	    {"instances:\n  x:\n    host: h\n    allowedNamespaces: team-a\n"
	     "    admin: {user: u, iamAuth: {region: r}}\n",
	     "instances.x.allowedNamespaces: must be a list"},
	    {"instances:\n  x:\n    host: \"h\\0evil\"\n    admin: {user: u, iamAuth: {region: "
	     "r}}\n",
	     "instances.x.host: must not contain NUL characters"},
	    {"instances:\n  x:\n    host: h\n    allowedRoles: [pg_monitor, "
	     "pg_execute_server_program]\n"
	     "    admin: {user: u, iamAuth: {region: r}}\n",
	     "instances.x.allowedRoles[1]: pg_execute_server_program may never be granted"},
	    {"instances:\n  x:\n    host: h\n    allowedRoles: [u]\n"
	     "    admin: {user: u, iamAuth: {region: r}}\n",
	     "instances.x.allowedRoles[0]: u may never be granted"},
	    {"instances:\n  x:\n    host: h\n    allowedExtensions: [\"x; drop\"]\n"
	     "    admin: {user: u, iamAuth: {region: r}}\n",
	     "instances.x.allowedExtensions[0]: must match"},
	    {"instances: [\n", "t"},
	};
	struct err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load_text(cases[i].text, &err), APPDB_EINVAL);
		if (strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].want);
	}
}

static void test_config_failing_allocator(void **state)
{
	long n;

	(void)state;
	for (n = 1; n < 100000; n++) {
		struct config *cfg = NULL;
		struct err err = {0};
		int rc;

		failalloc_arm(n);
		rc = config_load(&cfg, "tests/unit/data/config-full.yaml", &err);
		failalloc_arm(0);
		config_free(cfg);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_not_equal(rc, 0);
	}
	assert_true(n > 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_documents_and_types),
	    cmocka_unit_test(test_kubectl_scalars),
	    cmocka_unit_test(test_explicit_tags),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_parse_failing_allocator),
	    cmocka_unit_test(test_config_full),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_config_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("yamljson", tests, NULL, NULL);
}
