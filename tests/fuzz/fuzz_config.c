/*
 * fuzz_config.c - libFuzzer target for the operator config loader
 * (config_load). The input is written to an anonymous memory file and
 * loaded by its /proc/self/fd path. Built with clang by `make fuzz-drills`;
 * the seeds in tests/fuzz/seeds/config are replayed by the drills suite
 * through regress_main.c.
 */
#include "config.h"
#include "err.h"

#include "memfd_input.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: load it; a loaded config has an environment and is freed. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	struct err e = {0};
	char path[64];
	int fd, rc;

	fd = memfd_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	rc = config_load(&cfg, path, &e);
	if (rc == 0) {
		if (cfg == NULL || cfg->environment == NULL)
			abort();
		config_free(cfg);
	} else if (rc != APPDB_EINVAL && rc != APPDB_EIO && rc != APPDB_ELIMIT &&
	           rc != APPDB_ENOMEM) {
		abort();
	} else if (e.msg[0] == '\0' && rc != APPDB_ENOMEM) {
		abort(); /* a refusal always says why */
	}
	close(fd);
	return 0;
}
