/*
 * fuzz_kube_config.c - libFuzzer target for the kubeconfig reader
 * (kube_config_load). The input is written to an anonymous memory file and
 * loaded by its /proc/self/fd path; nothing is connected to and no exec
 * plugin is run (credentials are not asked for). Built with clang by
 * `make fuzz-drills`; the seeds in tests/fuzz/seeds/kube_config are
 * replayed by the drills suite through regress_main.c.
 */
#include "err.h"
#include "kube_config.h"

#include "memfd_input.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: load it with its current context; a loaded one has a server. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_config *kc = NULL;
	struct err e = {0};
	char path[64];
	int fd, rc;

	fd = memfd_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	rc = kube_config_load(&kc, path, NULL, &e);
	if (rc == 0) {
		if (kc == NULL)
			abort();
		kube_config_free(kc);
	} else if (rc != APPDB_EINVAL && rc != APPDB_EIO && rc != APPDB_ELIMIT &&
	           rc != APPDB_ENOMEM) {
		abort();
	} else if (e.msg[0] == '\0' && rc != APPDB_ENOMEM) {
		abort();
	}
	close(fd);
	return 0;
}
