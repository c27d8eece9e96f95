/*
 * fuzz_aws_sts.c - libFuzzer entry point for the credential answers: the
 * STS AssumeRoleWithWebIdentity reader, the container credentials (Pod
 * Identity) reader, and the ISO 8601 times they carry.
 * Build: tests/fuzz/run.sh (clang -fsanitize=fuzzer,address).
 */
#include "aws_int.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_creds c;
	struct err err = {0};
	char *s;
	time_t t;

	if (aws_sts_parse(&c, (const char *)data, size, &err) == 0) {
		assert(c.access_key != NULL && c.secret_key != NULL && c.session_token != NULL);
		assert(c.access_key[0] != '\0');
		aws_creds_clear(&c);
	} else {
		assert(c.access_key == NULL && c.secret_key == NULL && c.session_token == NULL);
	}
	assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
	err_clear(&err);
	if (aws_container_parse(&c, (const char *)data, size, &err) == 0) {
		assert(c.access_key != NULL && c.secret_key != NULL);
		aws_creds_clear(&c);
	} else {
		assert(c.access_key == NULL && c.secret_key == NULL && c.session_token == NULL);
	}
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)aws_parse_iso8601(&t, s);
	free(s);
	return 0;
}
