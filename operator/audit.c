/*
 * audit.c - appends audit records to stdout and to audit.jsonl, fsynced.
 */
#include "audit.h"
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct audit {
	int fd; /* -1: no file */
	int to_stdout;
	char *path;
	pthread_mutex_t lock;
};

int audit_open(struct audit **out, const char *cache_dir, int to_stdout, struct err *err)
{
	struct audit *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (a == NULL)
		return APPDB_ENOMEM;
	a->fd = -1;
	a->to_stdout = to_stdout;
	pthread_mutex_init(&a->lock, NULL);
	if (cache_dir != NULL) {
		if (mkdir(cache_dir, 0700) != 0 && errno != EEXIST) {
			int rc = err_set(err, APPDB_EIO, "could not create %s: %s", cache_dir,
			                 strerror(errno));
			audit_close(a);
			return rc;
		}
		if (asprintf(&a->path, "%s/audit.jsonl", cache_dir) < 0) {
			a->path = NULL;
			audit_close(a);
			return APPDB_ENOMEM;
		}
		a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (a->fd < 0) {
			int rc = err_set(err, APPDB_EIO, "could not open %s: %s", a->path,
			                 strerror(errno));
			audit_close(a);
			return rc;
		}
	}
	*out = a;
	return 0;
}

int audit_write(struct audit *a, json_t *record, struct err *err)
{
	json_t *copy = json_copy(record);
	char *line = NULL;
	int rc = 0;

	if (copy == NULL)
		return APPDB_ENOMEM;
	json_object_set_new(copy, "event", json_string("audit"));
	line = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(copy);
	if (line == NULL)
		return APPDB_ENOMEM;
	pthread_mutex_lock(&a->lock);
	if (a->to_stdout) {
		fprintf(stdout, "%s\n", line);
		fflush(stdout);
	}
	if (a->fd >= 0) {
		size_t len = strlen(line);

		line[len] = '\n';
		if (fdio_write_all(a->fd, line, len + 1) != 0 || fsync(a->fd) != 0)
			rc = err_set(err, APPDB_EIO, "could not append to %s: %s", a->path,
			             strerror(errno));
		line[len] = '\0';
	}
	pthread_mutex_unlock(&a->lock);
	free(line);
	return rc;
}

void audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	pthread_mutex_destroy(&a->lock);
	free(a->path);
	free(a);
}
