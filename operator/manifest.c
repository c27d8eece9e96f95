/*
 * manifest.c - files and directories of YAML manifests into resources.
 */
#include "manifest.h"

#include "yamljson.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push_item(struct manifest_set *set, struct appdb *db, char *problems, const char *file,
                     int line)
{
	struct manifest_item *n = realloc(set->items, (set->n + 1) * sizeof(*n));

	if (n == NULL)
		return APPDB_ENOMEM;
	set->items = n;
	n[set->n].db = db;
	n[set->n].problems = problems;
	if (asprintf(&n[set->n].where, "%s:%d", file, line) < 0)
		n[set->n].where = NULL;
	set->n++;
	return 0;
}

/* Sorts one document into resources, secrets or problems. */
static int take_doc(struct manifest_set *set, json_t *doc, const char *file, int line)
{
	const char *api = json_string_value(json_object_get(doc, "apiVersion"));
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	struct field_errs errs = {0};
	struct appdb *db = NULL;
	char *problems = NULL;
	int rc;

	if (api != NULL && kind != NULL && strcmp(api, "v1") == 0 && strcmp(kind, "Namespace") == 0)
		return 0;
	if (api != NULL && kind != NULL && strcmp(api, "v1") == 0 && strcmp(kind, "Secret") == 0) {
		json_t *md = json_object_get(doc, "metadata");
		const char *ns = json_string_value(json_object_get(md, "namespace"));
		const char *name = json_string_value(json_object_get(md, "name"));
		char key[512];

		if (name == NULL)
			return 0;
		snprintf(key, sizeof(key), "%s/%s", ns != NULL ? ns : "default", name);
		return json_object_set(set->secrets, key, doc) == 0 ? 0 : APPDB_ENOMEM;
	}
	rc = appdb_from_json(&db, doc, &errs);
	if (rc == APPDB_ENOMEM) {
		appdb_free(db);
		field_errs_clear(&errs);
		return rc;
	}
	if (rc != 0) {
		problems = field_errs_join(&errs);
		if (problems == NULL) {
			appdb_free(db);
			field_errs_clear(&errs);
			return APPDB_ENOMEM;
		}
	}
	field_errs_clear(&errs);
	rc = push_item(set, db, problems, file, line);
	if (rc != 0) {
		appdb_free(db);
		free(problems);
	}
	return rc;
}

static int load_file(struct manifest_set *set, const char *path, struct err *err)
{
	struct yaml_docs docs;
	size_t i;
	int rc;

	rc = yamljson_parse_file(&docs, path, err);
	if (rc != 0)
		return rc;
	for (i = 0; i < docs.n && rc == 0; i++)
		rc = take_doc(set, docs.docs[i], path, docs.lines[i]);
	yaml_docs_clear(&docs);
	return rc;
}

static int load_dir(struct manifest_set *set, const char *path, struct err *err)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (d == NULL)
		return err_set(err, APPDB_EIO, "could not open %s: %s", path, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char **nn;

		if (e->d_name[0] == '.' ||
		    !(has_suffix(e->d_name, ".yaml") || has_suffix(e->d_name, ".yml") ||
		      has_suffix(e->d_name, ".json")))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*nn));
		if (nn == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
		names = nn;
		if (asprintf(&names[n], "%s/%s", path, e->d_name) < 0) {
			rc = APPDB_ENOMEM;
			goto out;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n && rc == 0; i++)
		rc = load_file(set, names[i], err);
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int manifest_load(struct manifest_set *out, char *const *paths, size_t n_paths, struct err *err)
{
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->secrets = json_object();
	if (out->secrets == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < n_paths && rc == 0; i++) {
		struct stat st;

		if (stat(paths[i], &st) != 0)
			rc = err_set(err, APPDB_EIO, "could not open %s: %s", paths[i],
			             strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = load_dir(out, paths[i], err);
		else
			rc = load_file(out, paths[i], err);
	}
	if (rc != 0)
		manifest_clear(out);
	return rc;
}

void manifest_clear(struct manifest_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		appdb_free(set->items[i].db);
		free(set->items[i].problems);
		free(set->items[i].where);
	}
	free(set->items);
	json_decref(set->secrets);
	memset(set, 0, sizeof(*set));
}

int manifest_secret_fetch(void *ctx, struct secret *out, const struct secret_ref *ref,
                          struct err *err)
{
	struct manifest_set *set = ctx;
	char key[512];
	json_t *obj;

	snprintf(key, sizeof(key), "%s/%s", ref->ns != NULL ? ref->ns : "default",
	         ref->name != NULL ? ref->name : "");
	obj = json_object_get(set->secrets, key);
	if (obj == NULL)
		return err_set(err, APPDB_ENOTFOUND, "secret %s not found among the manifests",
		               key);
	return secret_from_kube_object(out, obj, ref->key, err);
}
