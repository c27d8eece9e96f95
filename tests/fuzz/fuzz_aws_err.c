/*
 * fuzz_aws_err.c - libFuzzer entry point for the AWS error-body readers
 * (JSON and XML) and the code classification that follows them.
 * Build: tests/fuzz/run.sh (clang -fsanitize=fuzzer,address).
 */
#include "aws_int.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed error is bounded, printable and has a non-empty code. */
static void check(const struct aws_error *e)
{
	size_t i, n = strlen(e->code);

	assert(n > 0 && n < sizeof(e->code));
	assert(strlen(e->message) < sizeof(e->message));
	for (i = 0; i < n; i++)
		assert(e->code[i] >= 0x20 && e->code[i] < 0x7f && e->code[i] != '#' &&
		       e->code[i] != ':');
	(void)aws_err_classify(e->code, 400);
	(void)aws_err_is_expired_token(e->code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_error e;

	if (aws_err_parse_json(&e, (const char *)data, size) == 0)
		check(&e);
	if (aws_err_parse_xml(&e, (const char *)data, size) == 0)
		check(&e);
	return 0;
}
