/*
 * test_rds_iam.c - the RDS IAM token against botocore's published vector,
 * with a session token, and the input checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 2016-11-07T17:39:33Z, the vector's clock. */
static time_t vector_time(void)
{
	struct tm tm = {
	    .tm_year = 116, .tm_mon = 10, .tm_mday = 7, .tm_hour = 17, .tm_min = 39, .tm_sec = 33};

	return timegm(&tm);
}

/* botocore tests/unit/test_signers.py test_generate_db_auth_token. */
static void test_botocore_vector(void **state)
{
	char *tok = NULL;
	struct err err = {0};

	(void)state;
	assert_int_equal(rds_iam_presign(&tok, "prod-instance.us-east-1.rds.amazonaws.com", 3306,
	                                 "someusername", "us-east-1", "akid", "skid", NULL,
	                                 vector_time(), &err),
	                 0);
	assert_string_equal(
	    tok,
	    "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect"
	    "&DBUser=someusername&X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request"
	    "&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
	    "&X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61");
	free(tok);
}

/* A session token is part of the signed query, so the signature changes. */
static void test_session_token_signed(void **state)
{
	char *tok = NULL;
	struct err err = {0};

	(void)state;
	assert_int_equal(rds_iam_presign(&tok, "db.example", 5432, "app_admin", "eu-west-1", "ASIA",
	                                 "secret", "to/ken+=", vector_time(), &err),
	                 0);
	assert_non_null(
	    strstr(tok, "&X-Amz-Security-Token=to%2Fken%2B%3D&X-Amz-SignedHeaders=host"));
	assert_non_null(strstr(tok, "db.example:5432/?Action=connect&DBUser=app_admin&"));
	assert_null(
	    strstr(tok, "d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61"));
	assert_null(strstr(tok, "secret"));
	free(tok);
}

/* Bad host, port, user and region are refused with a message naming the field. */
static void test_input_checks(void **state)
{
	char *tok = NULL;
	struct err err = {0};

	(void)state;
	assert_int_equal(
	    rds_iam_presign(&tok, "a/b", 5432, "u", "us-east-1", "a", "s", NULL, 0, &err),
	    APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "host"));
	err_clear(&err);
	assert_int_equal(rds_iam_presign(&tok, "h", 0, "u", "us-east-1", "a", "s", NULL, 0, &err),
	                 APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "port"));
	err_clear(&err);
	assert_int_equal(rds_iam_presign(&tok, "h", 1, "", "us-east-1", "a", "s", NULL, 0, &err),
	                 APPDB_EINVAL);
	err_clear(&err);
	assert_int_equal(rds_iam_presign(&tok, "h", 1, "u", "", "a", "s", NULL, 0, &err),
	                 APPDB_EINVAL);
	assert_null(tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_botocore_vector),
	    cmocka_unit_test(test_session_token_signed),
	    cmocka_unit_test(test_input_checks),
	};

	return cmocka_run_group_tests_name("rds_iam", tests, NULL, NULL);
}
