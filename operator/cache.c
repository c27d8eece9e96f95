/*
 * cache.c - atomic one-file-per-resource disk cache.
 */
#include "cache.h"
#include "fdio.h"
#include "log.h"
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_PREFIX "appdb."
#define FILE_SUFFIX ".json"
#define TEMP_PREFIX ".appdb."
#define CORRUPT_SUFFIX ".corrupt"
#define CACHE_FILE_MAX (8 << 20)

struct cache {
	char *dir;
	pthread_mutex_t lock;
	unsigned long counter;
};

int cache_open(struct cache **out, const char *dir, struct err *err)
{
	struct cache *c = NULL;
	struct stat st;

	*out = NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_set(err, APPDB_EIO, "could not create cache directory %s: %s", dir,
		               strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return err_set(err, APPDB_EIO, "cache directory %s is not a directory", dir);
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->dir = strdup(dir)) == NULL) {
		free(c);
		return APPDB_ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void cache_close(struct cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(c);
}

const char *cache_dir(const struct cache *c)
{
	return c->dir;
}

/* Appends s percent-encoded to out (room checked by the caller). */
static char *encode_into(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.') {
			*out++ = (char)ch;
		} else {
			*out++ = '%';
			*out++ = hex[ch >> 4];
			*out++ = hex[ch & 15];
		}
	}
	return out;
}

char *cache_file_name(const char *ns, const char *name)
{
	size_t n =
	    strlen(FILE_PREFIX) + 3 * (strlen(ns) + strlen(name)) + 1 + strlen(FILE_SUFFIX) + 1;
	char *buf = malloc(n), *p;

	if (buf == NULL)
		return NULL;
	p = stpcpy(buf, FILE_PREFIX);
	p = encode_into(p, ns);
	*p++ = '_';
	p = encode_into(p, name);
	strcpy(p, FILE_SUFFIX);
	return buf;
}

void cache_entry_clear(struct cache_entry *e)
{
	free(e->ns);
	free(e->name);
	json_decref(e->object);
	json_decref(e->pending_status);
	json_decref(e->pending_events);
	memset(e, 0, sizeof(*e));
}

json_t *cache_sanitize(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata"),
	       *ann = json_object_get(meta, "annotations");
	json_t *out = NULL, *m = NULL, *a = NULL, *v;
	const char *keys[] = {"name",       "namespace",       "uid",
	                      "generation", "resourceVersion", "finalizers"};
	const char *k;
	size_t i;

	out = json_object();
	m = json_object();
	a = json_object();
	if (out == NULL || m == NULL || a == NULL)
		goto fail;
	if (json_object_set_new(out, "apiVersion", json_string(APPDB_API_VERSION)) != 0 ||
	    json_object_set_new(out, "kind", json_string(APPDB_KIND)) != 0)
		goto fail;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = json_object_get(meta, keys[i]);
		if (v != NULL && json_object_set(m, keys[i], v) != 0)
			goto fail;
	}
	if (json_is_object(ann)) {
		json_object_foreach (ann, k, v) {
			if (strncmp(k, APPDB_GROUP "/", strlen(APPDB_GROUP) + 1) == 0 &&
			    json_is_string(v) && json_object_set(a, k, v) != 0)
				goto fail;
		}
	}
	if (json_object_size(a) > 0 && json_object_set(m, "annotations", a) != 0)
		goto fail;
	v = json_object_get(meta, "deletionTimestamp");
	if (v != NULL && json_object_set(m, "deletionTimestamp", v) != 0)
		goto fail;
	if (json_object_set(out, "metadata", m) != 0)
		goto fail;
	v = json_object_get(obj, "spec");
	if (v != NULL && json_object_set_new(out, "spec", json_deep_copy(v)) != 0)
		goto fail;
	json_decref(m);
	json_decref(a);
	return out;
fail:
	json_decref(out);
	json_decref(m);
	json_decref(a);
	return NULL;
}

int cache_entry_set_object(struct cache_entry *e, json_t *obj, struct err *err)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	json_t *s;

	if (ns == NULL || name == NULL || ns[0] == '\0' || name[0] == '\0')
		return err_set(err, APPDB_EINVAL,
		               "cache: object needs metadata.namespace and name");
	s = cache_sanitize(obj);
	if (s == NULL)
		return APPDB_ENOMEM;
	if (e->ns == NULL) {
		e->ns = strdup(ns);
		e->name = strdup(name);
		if (e->ns == NULL || e->name == NULL) {
			json_decref(s);
			return APPDB_ENOMEM;
		}
	}
	json_decref(e->object);
	e->object = s;
	return 0;
}

int cache_entry_from_object(struct cache_entry *out, json_t *obj, struct err *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->pending_status = json_array();
	out->pending_events = json_array();
	if (out->pending_status == NULL || out->pending_events == NULL) {
		cache_entry_clear(out);
		return APPDB_ENOMEM;
	}
	rc = cache_entry_set_object(out, obj, err);
	if (rc != 0)
		cache_entry_clear(out);
	return rc;
}

/* Appends a copy of item to *arr, dropping the oldest beyond max. */
static int push_capped(json_t **arr, json_t *item, size_t max)
{
	if (*arr == NULL && (*arr = json_array()) == NULL)
		return APPDB_ENOMEM;
	if (json_array_append_new(*arr, json_deep_copy(item)) != 0)
		return APPDB_ENOMEM;
	while (json_array_size(*arr) > max)
		json_array_remove(*arr, 0);
	return 0;
}

int cache_entry_push_status(struct cache_entry *e, json_t *patch)
{
	return push_capped(&e->pending_status, patch, CACHE_PENDING_STATUS_MAX);
}

int cache_entry_push_event(struct cache_entry *e, json_t *event)
{
	return push_capped(&e->pending_events, event, CACHE_PENDING_EVENTS_MAX);
}

int cache_save(struct cache *c, const struct cache_entry *e, struct err *err)
{
	char *fname = NULL, *path = NULL, *tmp = NULL, *text = NULL;
	json_t *doc = NULL;
	int fd = -1, dfd = -1, rc = APPDB_ENOMEM;
	unsigned long n;

	if (e->ns == NULL || e->name == NULL || e->object == NULL)
		return err_set(err, APPDB_EINVAL, "cache: entry without object");
	fname = cache_file_name(e->ns, e->name);
	if (fname == NULL)
		goto out;
	doc = json_pack("{s:i, s:O, s:o, s:o}", "version", CACHE_FORMAT_VERSION, "object",
	                e->object, "pendingStatus",
	                e->pending_status != NULL ? json_incref(e->pending_status) : json_array(),
	                "pendingEvents",
	                e->pending_events != NULL ? json_incref(e->pending_events) : json_array());
	if (doc == NULL)
		goto out;
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		goto out;
	/*
	 * jansson 2.14 can emit a damaged key when an allocation fails inside
	 * json_dumps; never put such text on disk.
	 */
	{
		json_t *check = json_loads(text, 0, NULL);
		int same = check != NULL && json_equal(check, doc);

		json_decref(check);
		if (!same)
			goto out;
	}
	pthread_mutex_lock(&c->lock);
	n = ++c->counter;
	pthread_mutex_unlock(&c->lock);
	if (asprintf(&path, "%s/%s", c->dir, fname) < 0) {
		path = NULL;
		goto out;
	}
	if (asprintf(&tmp,
	             "%s/."
	             "%s.tmp.%ld.%lu",
	             c->dir, fname, (long)getpid(), n) < 0) {
		tmp = NULL;
		goto out;
	}
	rc = APPDB_EIO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(err, rc, "could not create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fdio_write_all(fd, text, strlen(text)) != 0 || fdio_write_all(fd, "\n", 1) != 0 ||
	    fsync(fd) != 0) {
		err_set(err, rc, "could not write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		err_set(err, rc, "could not write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		err_set(err, rc, "could not rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		err_set(err, rc, "could not sync directory %s: %s", c->dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp != NULL)
		unlink(tmp);
	json_decref(doc);
	free(text);
	free(fname);
	free(path);
	free(tmp);
	return rc;
}

int cache_remove(struct cache *c, const char *ns, const char *name, struct err *err)
{
	char *fname = cache_file_name(ns, name), *path = NULL;
	int rc = APPDB_ENOMEM, dfd;

	if (fname == NULL || asprintf(&path, "%s/%s", c->dir, fname) < 0) {
		path = NULL;
		goto out;
	}
	rc = 0;
	if (unlink(path) != 0) {
		if (errno != ENOENT)
			rc = err_set(err, APPDB_EIO, "could not remove %s: %s", path,
			             strerror(errno));
		goto out;
	}
	dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(fname);
	free(path);
	return rc;
}

/* Parses and checks one file's text into out; APPDB_EINVAL with the problem in err. */
static int parse_entry(struct cache_entry *out, const char *fname, const char *text, size_t len,
                       struct err *err)
{
	json_error_t je;
	json_t *doc = json_loadb(text, len, 0, &je), *obj, *meta, *ps, *pe;

	/*
	 * jansson reports an allocation failure inside its lexer as a syntax
	 * error: a file is only corrupt when a second parse fails as well.
	 */
	if (doc == NULL)
		doc = json_loadb(text, len, 0, &je);
	const char *ns, *name;
	char *expected = NULL;
	int rc = APPDB_EINVAL;

	memset(out, 0, sizeof(*out));
	if (doc == NULL) {
		if (json_error_code(&je) == json_error_out_of_memory)
			rc = APPDB_ENOMEM;
		err_set(err, rc, "line %d: %s", je.line, je.text);
		goto out;
	}
	if (json_integer_value(json_object_get(doc, "version")) != CACHE_FORMAT_VERSION) {
		err_set(err, rc, "version: expected %d", CACHE_FORMAT_VERSION);
		goto out;
	}
	obj = json_object_get(doc, "object");
	meta = json_object_get(obj, "metadata");
	ns = json_string_value(json_object_get(meta, "namespace"));
	name = json_string_value(json_object_get(meta, "name"));
	ps = json_object_get(doc, "pendingStatus");
	pe = json_object_get(doc, "pendingEvents");
	if (!json_is_object(obj) || ns == NULL || name == NULL || ns[0] == '\0' ||
	    name[0] == '\0') {
		err_set(err, rc, "object.metadata: namespace and name required");
		goto out;
	}
	if (!json_is_array(ps) || !json_is_array(pe)) {
		err_set(err, rc, "pendingStatus and pendingEvents must be arrays");
		goto out;
	}
	expected = cache_file_name(ns, name);
	if (expected == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	if (strcmp(expected, fname) != 0) {
		err_set(err, rc, "holds %s/%s, which belongs in %s", ns, name, expected);
		goto out;
	}
	rc = APPDB_ENOMEM;
	out->ns = strdup(ns);
	out->name = strdup(name);
	if (out->ns == NULL || out->name == NULL)
		goto out;
	out->object = json_incref(obj);
	out->pending_status = json_incref(ps);
	out->pending_events = json_incref(pe);
	rc = 0;
out:
	if (rc != 0)
		cache_entry_clear(out);
	free(expected);
	json_decref(doc);
	return rc;
}

/* Reads dir/fname into out. */
static int load_file(struct cache_entry *out, struct cache *c, const char *fname, struct err *err)
{
	char *path = NULL, *text = NULL;
	size_t len = 0;
	ssize_t r;
	struct stat st;
	int fd = -1, rc = APPDB_ENOMEM;

	if (asprintf(&path, "%s/%s", c->dir, fname) < 0) {
		path = NULL;
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? APPDB_ENOTFOUND : APPDB_EIO;
		err_set(err, rc, "could not open %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CACHE_FILE_MAX) {
		rc = err_set(err, APPDB_EINVAL, "not a regular file of at most %d bytes",
		             CACHE_FILE_MAX);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL)
		goto out;
	while (len < (size_t)st.st_size) {
		r = read(fd, text + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	rc = parse_entry(out, fname, text, len, err);
out:
	if (fd >= 0)
		close(fd);
	free(path);
	free(text);
	return rc;
}

#ifdef APPDB_TEST_API /* the unit tests' view */
int cache_load(struct cache_entry *out, struct cache *c, const char *ns, const char *name,
               struct err *err)
{
	char *fname = cache_file_name(ns, name);
	int rc;

	memset(out, 0, sizeof(*out));
	if (fname == NULL)
		return APPDB_ENOMEM;
	rc = load_file(out, c, fname, err);
	free(fname);
	return rc;
}
#endif

/* True when name ends with suffix. */
static int ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n >= s && strcmp(name + n - s, suffix) == 0;
}

/* Renames dir/fname aside to dir/fname.corrupt. */
static void set_aside(struct cache *c, const char *fname, const char *why)
{
	char *from = NULL, *to = NULL;

	if (asprintf(&from, "%s/%s", c->dir, fname) < 0)
		from = NULL;
	if (asprintf(&to, "%s/%s%s", c->dir, fname, CORRUPT_SUFFIX) < 0)
		to = NULL;
	if (from != NULL && to != NULL && rename(from, to) == 0)
		log_warn(NULL, "cache file %s is corrupt (%s): moved aside to %s%s", from, why,
		         fname, CORRUPT_SUFFIX);
	else
		log_warn(NULL, "cache file %s/%s is corrupt (%s) and could not be moved aside",
		         c->dir, fname, why);
	free(from);
	free(to);
}

int cache_load_all(struct cache_entry **out, size_t *out_n, size_t *out_corrupt, struct cache *c,
                   struct err *err)
{
	DIR *d = NULL;
	struct dirent *de;
	struct cache_entry *arr = NULL;
	size_t n = 0, cap = 0, corrupt = 0, i;
	int rc = 0;

	*out = NULL;
	*out_n = 0;
	d = opendir(c->dir);
	if (d == NULL)
		return err_set(err, APPDB_EIO, "could not open cache directory %s: %s", c->dir,
		               strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct err ferr = {0};
		int frc;

		if (strncmp(de->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)) == 0) {
			/* A write that never reached its rename. */
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				log_info(NULL, "cache: removed leftover temp file %s", de->d_name);
			continue;
		}
		if (strncmp(de->d_name, FILE_PREFIX, strlen(FILE_PREFIX)) != 0 ||
		    !ends_with(de->d_name, FILE_SUFFIX))
			continue;
		if (n == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 64;
			struct cache_entry *na = realloc(arr, ncap * sizeof(*arr));

			if (na == NULL) {
				rc = APPDB_ENOMEM;
				goto out;
			}
			arr = na;
			cap = ncap;
		}
		frc = load_file(&arr[n], c, de->d_name, &ferr);
		if (frc == 0) {
			n++;
		} else if (frc == APPDB_ENOMEM) {
			rc = frc;
			goto out;
		} else if (frc != APPDB_ENOTFOUND) {
			set_aside(c, de->d_name, ferr.msg);
			corrupt++;
		}
	}
	*out = arr;
	*out_n = n;
	arr = NULL;
out:
	if (arr != NULL) {
		for (i = 0; i < n; i++)
			cache_entry_clear(&arr[i]);
		free(arr);
	}
	if (out_corrupt != NULL)
		*out_corrupt = corrupt;
	closedir(d);
	return rc;
}
