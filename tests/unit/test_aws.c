/*
 * test_aws.c - the AWS client's settings and rules that need no network:
 * region and endpoint checks, loopback hosts, the credential chain from the
 * environment, URL rules for the container credentials, SigV4 encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const aws_vars[] = {"AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_ROLE_ARN",
                                       "AWS_WEB_IDENTITY_TOKEN_FILE",
                                       "AWS_ROLE_SESSION_NAME",
                                       "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                       "AWS_REGION",
                                       "AWS_DEFAULT_REGION",
                                       "AWS_ENDPOINT_URL_STS",
                                       "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                                       "AWS_ENDPOINT_URL",
                                       NULL};

/* Every test starts from an environment without AWS variables. */
static int clean_env(void **state)
{
	const char *const *v;

	(void)state;
	for (v = aws_vars; *v != NULL; v++)
		unsetenv(*v);
	return 0;
}

/* Loopback hosts, as URLs spell them. */
static void test_loopback(void **state)
{
	(void)state;
	assert_true(aws_host_is_loopback("127.0.0.1"));
	assert_true(aws_host_is_loopback("127.9.8.7"));
	assert_true(aws_host_is_loopback("localhost"));
	assert_true(aws_host_is_loopback("[::1]"));
	assert_true(aws_host_is_loopback("::1"));
	assert_false(aws_host_is_loopback("128.0.0.1"));
	assert_false(aws_host_is_loopback("10.0.0.1"));
	assert_false(aws_host_is_loopback("localhost.example.com"));
	assert_false(aws_host_is_loopback("[fd00:ec2::23]"));
	assert_false(aws_host_is_loopback(""));
	assert_false(aws_host_is_loopback(NULL));
}

/* https anywhere; http only on loopback; anything else refused, naming the field. */
static void test_endpoint_rules(void **state)
{
	struct err err = {0};

	(void)state;
	assert_int_equal(
	    aws_check_endpoint("https://vpce-1.secretsmanager.us-east-1.vpce.amazonaws.com",
	                       "aws.endpoint", &err),
	    0);
	assert_int_equal(aws_check_endpoint("http://127.0.0.1:4566/", "aws.endpoint", &err), 0);
	assert_int_equal(aws_check_endpoint("http://[::1]:4566", "aws.endpoint", &err), 0);
	assert_int_equal(
	    aws_check_endpoint("http://secretsmanager.internal:80", "aws.endpoint", &err),
	    APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "aws.endpoint"));
	assert_non_null(strstr(err.msg, "loopback"));
	err_clear(&err);
	assert_int_equal(aws_check_endpoint("ftp://127.0.0.1/", "aws.endpoint", &err),
	                 APPDB_EINVAL);
	err_clear(&err);
	assert_int_equal(aws_check_endpoint("not a url", "aws.endpoint", &err), APPDB_EINVAL);
}

/* aws_new checks region and endpoint up front. */
static void test_new_checks(void **state)
{
	struct aws *aws = NULL;
	struct err err = {0};
	struct aws_settings s = {
	    .region = "us-east-1", .endpoint = "http://example.com/", .secret_cache_seconds = 60};

	(void)state;
	assert_int_equal(aws_new(&aws, &s, &err), APPDB_EINVAL);
	assert_null(aws);
	assert_non_null(strstr(err.msg, "aws.endpoint"));
	err_clear(&err);
	s.endpoint = "";
	s.region = "US_EAST";
	assert_int_equal(aws_new(&aws, &s, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "aws.region"));
	err_clear(&err);
	s.region = NULL;
	setenv("AWS_REGION", "eu-west-1", 1);
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_string_equal(aws_region(aws), "eu-west-1");
	assert_string_equal(aws_sm_endpoint(aws),
	                    "https://secretsmanager.eu-west-1.amazonaws.com/");
	assert_int_equal(aws_cache_seconds(aws), 60);
	aws_free(aws);
	s.region = "cn-north-1";
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_string_equal(aws_sm_endpoint(aws),
	                    "https://secretsmanager.cn-north-1.amazonaws.com.cn/");
	aws_free(aws);
}

/* Endpoint precedence: the config, the service's variable, the global one. */
static void test_endpoint_precedence(void **state)
{
	struct aws *aws = NULL;
	struct err err = {0};
	struct aws_settings s = {.region = "us-east-1"};

	(void)state;
	setenv("AWS_ENDPOINT_URL", "https://all.example", 1);
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_string_equal(aws_sm_endpoint(aws), "https://all.example");
	aws_free(aws);
	setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:1/", 1);
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_string_equal(aws_sm_endpoint(aws), "http://127.0.0.1:1/");
	aws_free(aws);
	s.endpoint = "https://vpce.example";
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_string_equal(aws_sm_endpoint(aws), "https://vpce.example");
	aws_free(aws);
	s.endpoint = NULL;
	setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://sm.example/", 1);
	assert_int_equal(aws_new(&aws, &s, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL_SECRETS_MANAGER"));
}

/* Static keys from the environment, copied out; a half-set pair is named. */
static void test_env_creds(void **state)
{
	struct aws *aws = NULL;
	struct err err = {0};
	struct aws_settings s = {.region = "us-east-1"};
	struct aws_creds c;
	unsigned long gen;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_int_equal(aws_creds_get(&c, &gen, aws, &err), APPDB_EUNAUTHORIZED);
	assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY is not"));
	err_clear(&err);
	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
	setenv("AWS_SESSION_TOKEN", "tok", 1);
	assert_int_equal(aws_creds_get(&c, &gen, aws, &err), 0);
	assert_string_equal(c.access_key, "AKIDEXAMPLE");
	assert_string_equal(c.session_token, "tok");
	assert_int_equal((long long)c.expires, 0);
	aws_creds_clear(&c);
	aws_free(aws);
}

/* No source at all: the message says what to set. */
static void test_no_creds(void **state)
{
	struct aws *aws = NULL;
	struct err err = {0};
	struct aws_settings s = {.region = "us-east-1"};
	struct aws_creds c;
	char *tok = NULL;

	(void)state;
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_int_equal(aws_creds_get(&c, NULL, aws, &err), APPDB_EUNAUTHORIZED);
	assert_non_null(strstr(err.msg, "AWS_ROLE_ARN"));
	err_clear(&err);
	assert_int_equal(aws_rds_token(&tok, aws, "db", 5432, "admin", NULL, &err),
	                 APPDB_EUNAUTHORIZED);
	assert_null(tok);
	aws_free(aws);
}

/* The container credentials URL: plain http only to the agent addresses and loopback. */
static void test_container_url_rules(void **state)
{
	struct aws *aws = NULL;
	struct err err = {0};
	struct aws_settings s = {.region = "us-east-1"};
	struct aws_creds c;

	(void)state;
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3/creds", 1);
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_int_equal(aws_creds_get(&c, NULL, aws, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
	assert_non_null(strstr(err.msg, "10.1.2.3"));
	aws_free(aws);
}

/* The IRSA token file is read on use; a missing one is named. */
static void test_irsa_missing_token_file(void **state)
{
	struct aws *aws = NULL;
	struct err err = {0};
	struct aws_settings s = {.region = "us-east-1"};
	struct aws_creds c;

	(void)state;
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/appdb", 1);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
	setenv("AWS_ENDPOINT_URL_STS", "http://sts.example.com/", 1);
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_int_equal(aws_creds_get(&c, NULL, aws, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL_STS"));
	err_clear(&err);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/", 1);
	assert_int_equal(aws_creds_get(&c, NULL, aws, &err), APPDB_EUNAUTHORIZED);
	assert_non_null(strstr(err.msg, "/nonexistent/token"));
	assert_non_null(strstr(err.msg, "arn:aws:iam::123456789012:role/appdb"));
	aws_free(aws);
}

/* An RDS token from environment keys carries the key id, never the secret. */
static void test_rds_token_env(void **state)
{
	struct aws *aws = NULL;
	struct err err = {0};
	struct aws_settings s = {.region = "us-east-1"};
	char *tok = NULL;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "verysecretvalue", 1);
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_int_equal(
	    aws_rds_token(&tok, aws, "db.example", 5432, "admin", "eu-central-1", &err), 0);
	assert_non_null(strstr(tok, "db.example:5432/?Action=connect&DBUser=admin&"));
	assert_non_null(strstr(tok, "AKIDEXAMPLE%2F"));
	assert_non_null(strstr(tok, "%2Feu-central-1%2Frds-db%2F"));
	assert_null(strstr(tok, "verysecretvalue"));
	aws_free_secret(tok);
	aws_free(aws);
}

/* The Secrets Manager source refuses what it cannot send, before any network. */
static void test_sm_refuses(void **state)
{
	struct aws *aws = NULL;
	struct err err = {0};
	struct aws_settings s = {.region = NULL};
	struct secret_ref ref = {.kind = SECRET_AWS_SM, .secret_id = "prod/x"};
	struct secret out = {0};

	(void)state;
	assert_int_equal(aws_new(&aws, &s, &err), 0);
	assert_int_equal(aws_sm_fetch(aws, &out, &ref, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "aws.region"));
	assert_non_null(strstr(err.msg, "prod/x"));
	err_clear(&err);
	ref.secret_id = "";
	assert_int_equal(aws_sm_fetch(aws, &out, &ref, &err), APPDB_EINVAL);
	assert_non_null(strstr(err.msg, "secretId"));
	assert_null(out.value);
	aws_free(aws);
}

/* SigV4 percent-encoding. */
static void test_uri_encode(void **state)
{
	char *s;

	(void)state;
	s = aws_uri_encode("aZ09-_.~ /+=:%\xc3\xa9");
	assert_string_equal(s, "aZ09-_.~%20%2F%2B%3D%3A%25%C3%A9");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_loopback, clean_env),
	    cmocka_unit_test_setup(test_endpoint_rules, clean_env),
	    cmocka_unit_test_setup(test_new_checks, clean_env),
	    cmocka_unit_test_setup(test_endpoint_precedence, clean_env),
	    cmocka_unit_test_setup(test_env_creds, clean_env),
	    cmocka_unit_test_setup(test_no_creds, clean_env),
	    cmocka_unit_test_setup(test_container_url_rules, clean_env),
	    cmocka_unit_test_setup(test_irsa_missing_token_file, clean_env),
	    cmocka_unit_test_setup(test_rds_token_env, clean_env),
	    cmocka_unit_test_setup(test_sm_refuses, clean_env),
	    cmocka_unit_test_setup(test_uri_encode, clean_env),
	};

	return cmocka_run_group_tests_name("aws", tests, NULL, NULL);
}
