/*
 * test_aws_err.c - AWS error bodies (JSON and XML, fixtures in
 * tests/aws/data/err) and what each error code means to the operator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws_int.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a fixture into buf; returns its size. */
static size_t fixture(const char *name, char *buf, size_t cap)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "tests/aws/data/err/%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

/* JSON error bodies: prefix and suffix dropped, either message spelling, control bytes masked. */
static void test_json(void **state)
{
	char buf[4096];
	struct aws_error e;
	size_t n;

	(void)state;
	n = fixture("sm-notfound.json", buf, sizeof(buf));
	assert_int_equal(aws_err_parse_json(&e, buf, n), 0);
	assert_string_equal(e.code, "ResourceNotFoundException");
	assert_string_equal(e.message, "Secrets Manager can't find the specified secret.");
	n = fixture("sm-denied.json", buf, sizeof(buf));
	assert_int_equal(aws_err_parse_json(&e, buf, n), 0);
	assert_string_equal(e.code, "AccessDeniedException");
	assert_non_null(strstr(e.message, "secretsmanager:GetSecretValue"));
	n = fixture("sm-decrypt.json", buf, sizeof(buf));
	assert_int_equal(aws_err_parse_json(&e, buf, n), 0);
	assert_string_equal(e.code, "DecryptionFailure");
	n = fixture("sm-throttle.json", buf, sizeof(buf));
	assert_int_equal(aws_err_parse_json(&e, buf, n), 0);
	assert_string_equal(e.code, "ThrottlingException");
	assert_string_equal(e.message, "Rate exceeded??");
	n = fixture("sm-notype.json", buf, sizeof(buf));
	assert_int_not_equal(aws_err_parse_json(&e, buf, n), 0);
	n = fixture("html.txt", buf, sizeof(buf));
	assert_int_not_equal(aws_err_parse_json(&e, buf, n), 0);
	assert_int_not_equal(aws_err_parse_json(&e, "", 0), 0);
	assert_int_not_equal(aws_err_parse_json(&e, "{\"__type\":\"#\"}", 13), 0);
}

/* Query-protocol XML errors: the first Error counts. */
static void test_xml(void **state)
{
	char buf[4096];
	struct aws_error e;
	size_t n;

	(void)state;
	n = fixture("sts-invalid-token.xml", buf, sizeof(buf));
	assert_int_equal(aws_err_parse_xml(&e, buf, n), 0);
	assert_string_equal(e.code, "InvalidIdentityToken");
	assert_non_null(strstr(e.message, "OpenIDConnect"));
	n = fixture("sts-throttling.xml", buf, sizeof(buf));
	assert_int_equal(aws_err_parse_xml(&e, buf, n), 0);
	assert_string_equal(e.code, "Throttling");
	assert_string_equal(e.message, "Rate exceeded");
	n = fixture("html.txt", buf, sizeof(buf));
	assert_int_not_equal(aws_err_parse_xml(&e, buf, n), 0);
	n = fixture("sm-notfound.json", buf, sizeof(buf));
	assert_int_not_equal(aws_err_parse_xml(&e, buf, n), 0);
}

/* Codes and statuses map to the project's codes as secret.h documents. */
static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(aws_err_classify("ResourceNotFoundException", 400), APPDB_ENOTFOUND);
	assert_int_equal(aws_err_classify("AccessDeniedException", 400), APPDB_EFORBIDDEN);
	assert_int_equal(aws_err_classify("DecryptionFailure", 400), APPDB_EFORBIDDEN);
	assert_int_equal(aws_err_classify("InvalidRequestException", 400), APPDB_EINVAL);
	assert_int_equal(aws_err_classify("ThrottlingException", 400), APPDB_ETHROTTLED);
	assert_int_equal(aws_err_classify("InternalServiceError", 500), APPDB_ETRANSIENT);
	assert_int_equal(aws_err_classify("InvalidSignatureException", 400), APPDB_EUNAUTHORIZED);
	assert_int_equal(aws_err_classify("ExpiredTokenException", 400), APPDB_EUNAUTHORIZED);
	assert_int_equal(aws_err_classify(NULL, 503), APPDB_ETRANSIENT);
	assert_int_equal(aws_err_classify(NULL, 429), APPDB_ETHROTTLED);
	assert_int_equal(aws_err_classify("SomethingNew", 400), APPDB_EINVAL);
	assert_int_equal(aws_err_classify("SomethingNew", 502), APPDB_ETRANSIENT);
	assert_true(aws_err_is_expired_token("ExpiredTokenException"));
	assert_true(aws_err_is_expired_token("ExpiredToken"));
	assert_false(aws_err_is_expired_token("InvalidSignatureException"));
	assert_false(aws_err_is_expired_token(NULL));
}

/* Code normalisation. */
static void test_normalize(void **state)
{
	char a[64] = "com.amazonaws.x#Foo:http://internal/";
	char b[64] = "Bar";

	(void)state;
	aws_err_normalize_code(a);
	aws_err_normalize_code(b);
	assert_string_equal(a, "Foo");
	assert_string_equal(b, "Bar");
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

/* Allocation N fails, then N+1, ...: the readers fail cleanly until they succeed. */
static void test_chaos(void **state)
{
	char xml[4096], js[4096];
	size_t xn, jn;
	struct aws_error e;
	int n, rc = -1;

	(void)state;
	xn = fixture("sts-invalid-token.xml", xml, sizeof(xml));
	jn = fixture("sm-denied.json", js, sizeof(js));
	aws_xml_malloc = chaos_malloc;
	aws_xml_realloc = chaos_realloc;
	for (n = 0; n < 10000 && rc != 0; n++) {
		chaos_left = n;
		rc = aws_err_parse_xml(&e, xml, xn);
		if (rc != 0)
			assert_string_equal(e.code, "");
	}
	aws_xml_malloc = malloc;
	aws_xml_realloc = realloc;
	assert_int_equal(rc, 0);
	assert_string_equal(e.code, "InvalidIdentityToken");
	json_set_alloc_funcs(chaos_malloc, free);
	for (rc = -1, n = 0; n < 10000 && rc != 0; n++) {
		chaos_left = n;
		rc = aws_err_parse_json(&e, js, jn);
	}
	json_set_alloc_funcs(malloc, free);
	assert_int_equal(rc, 0);
	assert_string_equal(e.code, "AccessDeniedException");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),     cmocka_unit_test(test_xml),
	    cmocka_unit_test(test_classify), cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_chaos),
	};

	return cmocka_run_group_tests_name("aws_err", tests, NULL, NULL);
}
