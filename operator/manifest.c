/*
 * manifest.c - files and directories of YAML manifests into resources.
 */
#include "manifest.h"

#include "validate.h"
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

/* The string v when it is one without NUL bytes, else NULL. */
static const char *doc_text(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

/*
 * Keeps a v1 Secret document under "ns/name". A Secret the API server would
 * refuse (no name, a name or namespace that is not a DNS name), or a second
 * one with the same namespace and name, makes the whole input invalid:
 * which of two passwords is meant cannot be guessed.
 */
static int take_secret(struct manifest_set *set, json_t *doc, const char *file, int line,
                       struct err *err)
{
	json_t *md = json_object_get(doc, "metadata");
	json_t *nsv = json_object_get(md, "namespace");
	const char *name = doc_text(json_object_get(md, "name"));
	const char *ns = nsv == NULL || json_is_null(nsv) ? "default" : doc_text(nsv);
	const char *first;
	char key[600], where[600];

	if (name == NULL || !validate_dns_subdomain(name))
		return err_set(err, APPDB_EINVAL,
		               "%s:%d: Secret: metadata.name: must be a DNS-1123 subdomain", file,
		               line);
	if (ns == NULL || !validate_dns_label(ns))
		return err_set(err, APPDB_EINVAL,
		               "%s:%d: Secret %s: metadata.namespace: must be a DNS-1123 label",
		               file, line, name);
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	snprintf(where, sizeof(where), "%s:%d", file, line);
	first = json_string_value(json_object_get(set->secret_where, key));
	if (first != NULL)
		return err_set(err, APPDB_EINVAL,
		               "Secret %s is defined twice, at %s and at %s: keep one of them", key,
		               first, where);
	if (json_object_set(set->secrets, key, doc) != 0 ||
	    json_object_set_new(set->secret_where, key, json_string(where)) != 0)
		return APPDB_ENOMEM;
	return 0;
}

/* Sorts one document into resources, secrets or problems. */
static int take_doc(struct manifest_set *set, json_t *doc, const char *file, int line,
                    struct err *err)
{
	const char *api = doc_text(json_object_get(doc, "apiVersion"));
	const char *kind = doc_text(json_object_get(doc, "kind"));
	struct field_errs errs = {0};
	struct appdb *db = NULL;
	char *problems = NULL;
	int rc;

	if (api != NULL && kind != NULL && strcmp(api, "v1") == 0 && strcmp(kind, "Namespace") == 0)
		return 0;
	if (api != NULL && kind != NULL && strcmp(api, "v1") == 0 && strcmp(kind, "Secret") == 0)
		return take_secret(set, doc, file, line, err);
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
		rc = take_doc(set, docs.docs[i], path, docs.lines[i], err);
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
		return err_set(err, APPDB_ENOTFOUND, "could not open %s: %s", path,
		               strerror(errno));
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
	if (n > 1)
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
	out->secret_where = json_object();
	if (out->secrets == NULL || out->secret_where == NULL) {
		manifest_clear(out);
		return APPDB_ENOMEM;
	}
	for (i = 0; i < n_paths && rc == 0; i++) {
		struct stat st;

		if (stat(paths[i], &st) != 0)
			rc = err_set(err, APPDB_ENOTFOUND, "could not open %s: %s", paths[i],
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
	json_decref(set->secret_where);
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
