/*
 * audit.c - appends audit records to stdout and to audit.jsonl, fsynced;
 * the intents of running runs in audit-intent/, completed after a kill.
 */
#include "audit.h"
#include "dynbuf.h"
#include "fdio.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define INTENT_DIR "audit-intent"
#define INTENT_MAX (4L << 20)
/* How much of the trail's end is searched for the records a run wrote before it died. */
#define TAIL_MAX (1L << 20)

struct audit {
	int fd; /* -1: no file */
	int to_stdout;
	char *path;
	char *intent_dir; /* NULL: no cache dir */
	pthread_mutex_t lock;
};

struct audit_intent {
	int fd; /* open, flock'ed while the run lives */
	char *path;
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
		if (asprintf(&a->intent_dir, "%s/" INTENT_DIR, cache_dir) < 0) {
			a->intent_dir = NULL;
			audit_close(a);
			return APPDB_ENOMEM;
		}
		if (mkdir(a->intent_dir, 0700) != 0 && errno != EEXIST) {
			int rc = err_set(err, APPDB_EIO, "could not create %s: %s", a->intent_dir,
			                 strerror(errno));
			audit_close(a);
			return rc;
		}
	}
	*out = a;
	audit_complete_interrupted(a);
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
	free(a->intent_dir);
	free(a);
}

/* 1 when s is a run id fit for a file name: letters, digits, '-' and '_'. */
static int plain_id(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return i > 0 && i < 128;
}

/* fsyncs a directory, so that a file made in it outlives a power loss. */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

void audit_intent_done(struct audit_intent *in)
{
	if (in == NULL)
		return;
	if (in->fd >= 0) {
		unlink(in->path);
		close(in->fd);
	}
	free(in->path);
	free(in);
}

int audit_intent_write(struct audit_intent **io, struct audit *a, const char *run_id,
                       json_t *records, struct err *err)
{
	struct audit_intent *in = *io;
	char *line = NULL;
	size_t len;
	int rc = 0;

	if (a == NULL || a->intent_dir == NULL)
		return 0;
	if (!plain_id(run_id))
		return err_set(err, APPDB_EINVAL, "run id unfit for an intent file");
	if (in == NULL) {
		if ((in = calloc(1, sizeof(*in))) == NULL)
			return APPDB_ENOMEM;
		in->fd = -1;
		if (asprintf(&in->path, "%s/%s.jsonl", a->intent_dir, run_id) < 0) {
			free(in);
			return APPDB_ENOMEM;
		}
		in->fd = open(in->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (in->fd < 0 || flock(in->fd, LOCK_EX) != 0) {
			rc = err_set(err, APPDB_EIO, "could not open %s: %s", in->path,
			             strerror(errno));
			audit_intent_done(in);
			return rc;
		}
		sync_dir(a->intent_dir);
		*io = in;
	}
	if ((line = json_dumps(records, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		return APPDB_ENOMEM;
	len = strlen(line);
	line[len] = '\n';
	if (fdio_write_all(in->fd, line, len + 1) != 0 || fsync(in->fd) != 0)
		rc = err_set(err, APPDB_EIO, "could not append to %s: %s", in->path,
		             strerror(errno));
	free(line);
	return rc;
}

/*
 * The users (JSON null as "") whose records of run_id the end of the trail
 * already holds: its process died while writing them. A new object used as
 * a set, or NULL on no memory.
 */
static json_t *recorded_users(struct audit *a, const char *run_id)
{
	char needle[160], *buf = NULL, *p, *end, *nl;
	json_t *users = json_object();
	struct stat st;
	off_t from;
	ssize_t n;
	int fd;

	snprintf(needle, sizeof(needle), "\"runId\":\"%s\"", run_id);
	if (users == NULL || a->path == NULL || (fd = open(a->path, O_RDONLY | O_CLOEXEC)) < 0)
		return users;
	if (fstat(fd, &st) == 0 && (buf = malloc(TAIL_MAX)) != NULL) {
		from = st.st_size > TAIL_MAX ? st.st_size - TAIL_MAX : 0;
		n = pread(fd, buf, (size_t)(st.st_size - from), from);
		for (p = buf, end = buf + (n > 0 ? n : 0); p < end; p = nl + 1) {
			json_t *rec;
			const char *user;

			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			if (memmem(p, (size_t)(nl - p), needle, strlen(needle)) == NULL)
				continue;
			rec = json_loadb(p, (size_t)(nl - p), 0, NULL);
			user = json_string_value(json_object_get(rec, "user"));
			if (rec != NULL)
				json_object_set_new(users, user != NULL ? user : "", json_true());
			json_decref(rec);
		}
	}
	free(buf);
	close(fd);
	return users;
}

/* The records of the last complete line of an intent (new reference), or NULL. */
static json_t *last_records(const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl;
	json_t *last = NULL, *v;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		v = json_loadb(p, (size_t)(nl - p), 0, NULL);
		if (json_is_array(v)) {
			json_decref(last);
			last = v;
		} else {
			json_decref(v);
		}
		p = nl + 1;
	}
	return last;
}

/* Completes one intent file (name in the intent dir) when its run died; 1 when done. */
static int complete_one(struct audit *a, const char *name)
{
	char *path = NULL, *text = NULL, run_id[128];
	size_t len = 0, nlen = strlen(name), i;
	struct err err = {0};
	json_t *records = NULL, *rec, *done_users = NULL;
	size_t written = 0;
	int fd = -1, done = 0;

	if (nlen <= 6 || nlen - 6 >= sizeof(run_id) || strcmp(name + nlen - 6, ".jsonl") != 0)
		return 0;
	snprintf(run_id, sizeof(run_id), "%.*s", (int)(nlen - 6), name);
	if (!plain_id(run_id) || asprintf(&path, "%s/%s", a->intent_dir, name) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	/* Locked: its run is alive (another process on this cache dir). */
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)
		goto out;
	if (fdio_read_file(&text, &len, path, INTENT_MAX, &err) == 0)
		records = last_records(text, len);
	if (records != NULL && (done_users = recorded_users(a, run_id)) != NULL) {
		json_array_foreach (records, i, rec) {
			const char *user = json_string_value(json_object_get(rec, "user"));

			/* Cut while writing its own records: only those it did not write. */
			if (!json_is_object(rec) ||
			    json_object_get(done_users, user != NULL ? user : "") != NULL)
				continue;
			if (audit_write(a, rec, &err) != 0)
				log_error(NULL, "could not write the audit record of run %s: %s",
				          run_id, err.msg);
			written++;
		}
		if (written > 0)
			log_warn(NULL, "run %s was cut before it finished: wrote its audit records",
			         run_id);
	}
	unlink(path);
	done = 1;
out:
	if (fd >= 0)
		close(fd);
	if (text != NULL)
		dynbuf_wipe_free(text, len);
	json_decref(records);
	json_decref(done_users);
	free(path);
	return done;
}

size_t audit_complete_interrupted(struct audit *a)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (a->intent_dir == NULL || (d = opendir(a->intent_dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n += (size_t)complete_one(a, de->d_name);
	closedir(d);
	return n;
}
