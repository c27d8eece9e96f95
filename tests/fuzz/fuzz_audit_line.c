/*
 * fuzz_audit_line.c - libFuzzer target for the audit-line parser of the
 * report (report_add_line), with the figures and the Markdown made from
 * what was read. The input is split into lines, as a trail is read. Built
 * with clang by `make fuzz-observe`; the seeds in tests/fuzz/seeds/audit_line
 * are replayed by the observe suite through regress_main.c.
 */
#include "err.h"
#include "report.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: every line added; counted lines and skipped ones add up; figures render. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct report *r = NULL;
	json_t *fig = NULL;
	char *md = NULL;
	long counted = 0;

	if (report_new(&r, size > 0 && data[0] == '#' ? 1700000000 : -1) != 0)
		abort();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		int rc = report_add_line(r, p, len);

		if (rc == 0)
			counted++;
		else if (rc != 1)
			abort();
		p += len;
	}
	if (report_json(&fig, r) != 0 || fig == NULL)
		abort();
	if (json_integer_value(json_object_get(fig, "records")) != counted)
		abort();
	if (json_integer_value(json_object_get(fig, "runs")) > counted ||
	    json_integer_value(json_object_get(fig, "changes")) >
	        json_integer_value(json_object_get(fig, "runs")))
		abort();
	if (report_markdown(&md, fig) != 0 || md == NULL || strncmp(md, "# ", 2) != 0)
		abort();
	free(md);
	json_decref(fig);
	report_free(r);
	return 0;
}
