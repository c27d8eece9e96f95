/*
 * execplugin.c - a child process with a deadline and a capped stdout.
 */
#include "execplugin.h"

#include "clock.h"
#include "dynbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts the child with stdout on wfd and stdin on /dev/null, in its own group. */
static pid_t spawn_child(const struct execplugin_opts *o, int wfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid = -1;
	int ok;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	ok = posix_spawn_file_actions_adddup2(&fa, wfd, 1) == 0 &&
	     posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) == 0 &&
	     posix_spawnattr_setpgroup(&attr, 0) == 0 &&
	     posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP) == 0;
	if (ok && posix_spawnp(&pid, o->command, &fa, &attr, o->argv, o->envp) != 0)
		pid = -1;
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* Waits for pid until deadline (monotonic); kills its group then. Returns the wait status. */
static int reap(pid_t pid, double deadline, int *timed_out)
{
	int status = 0;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return status;
		if (clock_mono() >= deadline) {
			*timed_out = 1;
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return status;
		}
		usleep(10 * 1000);
	}
}

int execplugin_run(char **out, size_t *out_len, const struct execplugin_opts *o, struct err *err)
{
	struct dynbuf b;
	char chunk[4096];
	int pipefd[2] = {-1, -1}, status = 0, rc = 0, timed_out = 0, eof = 0;
	double deadline = clock_mono() + o->timeout;
	pid_t pid;

	*out = NULL;
	*out_len = 0;
	dynbuf_init(&b, o->output_max);
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0)
		return err_set(err, APPDB_EUNAUTHORIZED, "exec plugin: pipe: %s", strerror(errno));
	/* The child's end blocks as a normal stdout does. */
	fcntl(pipefd[1], F_SETFL, fcntl(pipefd[1], F_GETFL) & ~O_NONBLOCK);
	pid = spawn_child(o, pipefd[1]);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return err_set(err, APPDB_EUNAUTHORIZED, "exec plugin %s: could not run it",
		               o->command);
	}
	while (!eof && rc == 0) {
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		double left = deadline - clock_mono();
		ssize_t r;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			break;
		/* Non-blocking: an empty pipe answers EAGAIN, never waits. */
		r = read(pipefd[0], chunk, sizeof(chunk));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			eof = 1;
		else
			rc = dynbuf_add(&b, chunk, (size_t)r);
	}
	close(pipefd[0]);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (timed_out || rc != 0)
		kill(-pid, SIGKILL);
	status = reap(pid, timed_out || rc != 0 ? 0 : deadline, &timed_out);
	if (rc == APPDB_ELIMIT) {
		rc = err_set(err, APPDB_EUNAUTHORIZED,
		             "exec plugin %s: output larger than %zu bytes", o->command,
		             o->output_max);
	} else if (rc != 0) {
		/* out of memory */
	} else if (timed_out) {
		rc = err_set(err, APPDB_EUNAUTHORIZED, "exec plugin %s: timed out after %g s",
		             o->command, o->timeout);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = err_set(err, APPDB_EUNAUTHORIZED, "exec plugin %s: exited with status %d",
		             o->command, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	} else {
		*out = dynbuf_take(&b, out_len);
		if (*out == NULL && (*out = calloc(1, 1)) == NULL)
			rc = APPDB_ENOMEM;
	}
	dynbuf_free(&b);
	return rc;
}
