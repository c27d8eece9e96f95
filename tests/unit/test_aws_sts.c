/*
 * test_aws_sts.c - the STS AssumeRoleWithWebIdentity reader (fixtures in
 * tests/aws/data/sts) and the ISO 8601 times it carries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a fixture; *len gets its size. The buffer is new. */
static char *fixture(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf;

	snprintf(path, sizeof(path), "tests/aws/data/sts/%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	buf = malloc(1 << 16);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* Parses a fixture; returns the code and leaves the message in err. */
static int parse(const char *name, struct aws_creds *c, struct err *err)
{
	size_t len;
	char *buf = fixture(name, &len);
	int rc = aws_sts_parse(c, buf, len, err);

	free(buf);
	return rc;
}

/* The documented answer shape, other elements around the credentials ignored. */
static void test_ok(void **state)
{
	struct aws_creds c;
	struct err err = {0};

	(void)state;
	assert_int_equal(parse("ok.xml", &c, &err), 0);
	assert_string_equal(c.access_key, "ASIAIOSFODNN7EXAMPLE");
	assert_string_equal(c.secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
	assert_string_equal(c.session_token, "FQoGZXIvYXdzEXAMPLETOKEN+/=");
	assert_int_equal((long long)c.expires, 1795946400LL); /* 2026-11-29T10:00:00Z */
	aws_creds_clear(&c);
}

/* Entities are decoded, fractions and offsets read. */
static void test_compact_offset(void **state)
{
	struct aws_creds c;
	struct err err = {0};

	(void)state;
	assert_int_equal(parse("compact-offset.xml", &c, &err), 0);
	assert_string_equal(c.secret_key, "s&2");
	assert_int_equal((long long)c.expires, 1795946400LL - 3600);
	aws_creds_clear(&c);
}

/* Each malformed answer is refused with a message, and leaves nothing behind. */
static void test_refused(void **state)
{
	static const struct {
		const char *file;
		const char *msg;
	} cases[] = {
	    {"missing-token.xml", "SessionToken"},
	    {"duplicate.xml", "twice"},
	    {"wrong-path.xml", "AccessKeyId"},
	    {"nested-credentials.xml", "AccessKeyId"},
	    {"doctype.xml", "DOCTYPE"},
	    {"bad-expiration.xml", "Expiration"},
	    {"truncated.xml", "not well-formed"},
	};
	struct aws_creds c;
	struct err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err_clear(&err);
		assert_int_equal(parse(cases[i].file, &c, &err), APPDB_EINVAL);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].file, err.msg,
			         cases[i].msg);
		assert_null(c.access_key);
		assert_null(c.secret_key);
		assert_null(c.session_token);
	}
	err_clear(&err);
	assert_int_equal(aws_sts_parse(&c, "", 0, &err), APPDB_EINVAL);
}

/* A field over the bound is refused. */
static void test_field_too_long(void **state)
{
	size_t n = 20000;
	char *doc = malloc(n + 400);
	struct aws_creds c;
	struct err err = {0};
	int len;

	(void)state;
	len = sprintf(doc, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
	                   "<Credentials><SessionToken>");
	memset(doc + len, 'a', n);
	len += (int)n;
	len += sprintf(doc + len, "</SessionToken></Credentials></AssumeRoleWithWebIdentityResult>"
	                          "</AssumeRoleWithWebIdentityResponse>");
	assert_int_equal(aws_sts_parse(&c, doc, (size_t)len, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "too long"));
	free(doc);
}

/* ISO 8601 as AWS writes it, and what is refused. */
static void test_iso8601(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(aws_parse_iso8601(&t, "1970-01-01T00:00:10Z"), 0);
	assert_int_equal((long long)t, 10);
	assert_int_equal(aws_parse_iso8601(&t, "2026-11-29T10:00:00.5Z"), 0);
	assert_int_equal((long long)t, 1795946400LL);
	assert_int_equal(aws_parse_iso8601(&t, "2026-11-29T10:00:00-02:30"), 0);
	assert_int_equal((long long)t, 1795946400LL + 9000);
	assert_int_equal(aws_parse_iso8601(&t, "2026-11-29 10:00:00Z"), APPDB_EINVAL);
	assert_int_equal(aws_parse_iso8601(&t, "2026-11-29T10:00:00"), APPDB_EINVAL);
	assert_int_equal(aws_parse_iso8601(&t, "2026-13-29T10:00:00Z"), APPDB_EINVAL);
	assert_int_equal(aws_parse_iso8601(&t, "2026-11-29T10:60:00Z"), APPDB_EINVAL);
	assert_int_equal(aws_parse_iso8601(&t, "2026-11-29T10:00:00.Z"), APPDB_EINVAL);
	assert_int_equal(aws_parse_iso8601(&t, "2026-11-29T10:00:00ZZ"), APPDB_EINVAL);
	assert_int_equal(aws_parse_iso8601(&t, NULL), APPDB_EINVAL);
}

/* Reads a container credentials fixture and parses it. */
static int parse_container(const char *name, struct aws_creds *c, struct err *err)
{
	char path[256], buf[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "tests/aws/data/container/%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	return aws_container_parse(c, buf, n, err);
}

/* The Pod Identity answer, and what is refused. */
static void test_container(void **state)
{
	struct aws_creds c;
	struct err err = {0};

	(void)state;
	assert_int_equal(parse_container("ok.json", &c, &err), 0);
	assert_string_equal(c.access_key, "ASIAPOD");
	assert_string_equal(c.secret_key, "pod-secret");
	assert_string_equal(c.session_token, "pod-token");
	assert_int_equal((long long)c.expires, 1795946400LL);
	aws_creds_clear(&c);
	assert_int_equal(parse_container("no-expiration.json", &c, &err), 0);
	assert_null(c.session_token);
	assert_int_equal((long long)c.expires, 0);
	aws_creds_clear(&c);
	assert_int_equal(parse_container("bad-expiration.json", &c, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "Expiration"));
	err_clear(&err);
	assert_int_equal(parse_container("duplicate.json", &c, &err), APPDB_EINVAL);
	err_clear(&err);
	assert_int_equal(parse_container("error.json", &c, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "AccessKeyId"));
	err_clear(&err);
	assert_int_equal(parse_container("array.json", &c, &err), APPDB_EINVAL);
	assert_null(c.access_key);
}

static int chaos_left; /* allocations that still succeed; <0: all */

/* malloc that fails once chaos_left allocations have been made. */
static void *chaos_malloc(size_t n)
{
	if (chaos_left == 0)
		return NULL;
	if (chaos_left > 0)
		chaos_left--;
	return malloc(n);
}

/* realloc under the same budget. */
static void *chaos_realloc(void *p, size_t n)
{
	if (chaos_left == 0)
		return NULL;
	if (chaos_left > 0)
		chaos_left--;
	return realloc(p, n);
}

/* Fails allocation N, then N+1, ... until the parse succeeds: every failure is clean. */
static void test_chaos(void **state)
{
	struct aws_creds c;
	struct err err;
	size_t len;
	char *buf = fixture("ok.xml", &len);
	int n, rc = -1;

	(void)state;
	aws_xml_malloc = chaos_malloc;
	aws_xml_realloc = chaos_realloc;
	for (n = 0; n < 10000 && rc != 0; n++) {
		chaos_left = n;
		err_clear(&err);
		rc = aws_sts_parse(&c, buf, len, &err);
		if (rc != 0) {
			assert_int_equal(rc, APPDB_ENOMEM);
			assert_null(c.access_key);
			assert_null(c.session_token);
		}
	}
	aws_xml_malloc = malloc;
	aws_xml_realloc = realloc;
	assert_int_equal(rc, 0);
	assert_true(n > 3);
	assert_string_equal(c.session_token, "FQoGZXIvYXdzEXAMPLETOKEN+/=");
	aws_creds_clear(&c);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ok),        cmocka_unit_test(test_compact_offset),
	    cmocka_unit_test(test_refused),   cmocka_unit_test(test_field_too_long),
	    cmocka_unit_test(test_iso8601),   cmocka_unit_test(test_chaos),
	    cmocka_unit_test(test_container),
	};

	return cmocka_run_group_tests_name("aws_sts", tests, NULL, NULL);
}
