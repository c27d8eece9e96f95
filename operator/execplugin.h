/*
 * execplugin.h - runs a credential plugin (client.authentication.k8s.io
 * exec) as a child process and collects its stdout, with a deadline that
 * holds: the pipe is read without blocking, the child runs in a process
 * group of its own and the whole group is killed when the deadline passes
 * or the output grows past its cap. Stdin is /dev/null; stderr is ours.
 *
 * Takes no lock and touches no shared state: callers run it outside their
 * own locks. Thread-safe.
 */
#ifndef APPDB_EXECPLUGIN_H
#define APPDB_EXECPLUGIN_H

#include "err.h"

#include <stddef.h>

struct execplugin_opts {
	const char *command; /* found through PATH when it has no slash */
	char *const *argv;   /* argv[0] first, NULL-terminated */
	char *const *envp;   /* the child's whole environment, NULL-terminated */
	double timeout;      /* seconds until the child is killed */
	size_t output_max;   /* the most stdout bytes taken */
};

/*
 * Runs the plugin to its exit. *out is new (NUL-terminated; it may hold a
 * token: the caller wipes and frees it, dynbuf_wipe_free), its length in
 * *out_len. Returns 0 when the plugin exited 0; APPDB_EUNAUTHORIZED when
 * it could not start, exited otherwise, timed out or wrote too much (said
 * in err, never with its output); APPDB_ENOMEM.
 */
int execplugin_run(char **out, size_t *out_len, const struct execplugin_opts *opts,
                   struct err *err);

#endif
