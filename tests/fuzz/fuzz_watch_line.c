/*
 * fuzz_watch_line.c - libFuzzer target for the watch-stream line parser
 * (kube_watch_parse_line). Built with clang by `make fuzz-ctrl`; the seeds
 * in tests/fuzz/seeds/watch_line are replayed by the ctrl suite through
 * regress_main.c.
 */
#include "err.h"
#include "kube_client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: parse it; a parsed event must have an object and a known type. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_watch_event ev;
	struct err e = {0};
	int rc;

	rc = kube_watch_parse_line(&ev, (const char *)data, size, &e);
	if (rc == 0) {
		if (ev.object == NULL || ev.type > KUBE_EVENT_ERROR)
			abort();
		if (ev.type == KUBE_EVENT_ERROR && (ev.code <= 0 || ev.code >= 1000))
			abort();
		json_decref(ev.object);
	} else if (rc != APPDB_EINVAL && rc != APPDB_ENOTFOUND) {
		abort();
	} else if (ev.object != NULL) {
		abort();
	}
	return 0;
}
