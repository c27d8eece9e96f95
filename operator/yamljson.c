/*
 * yamljson.c - libyaml's document graph walked into jansson values, with
 * bounds on alias expansion, depth and size.
 */
#include "yamljson.h"

#include "dynbuf.h"
#include "yaml_scalar.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct pos_entry {
	const json_t *key;
	int line;
	int col;
};

struct yaml_posmap {
	struct pos_entry *slots;
	size_t cap; /* power of two */
	size_t n;
};

static size_t ptr_hash(const void *p)
{
	uintptr_t x = (uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

/* Records where v was read; returns 0 or APPDB_ENOMEM. */
static int posmap_put(struct yaml_posmap *pm, const json_t *v, int line, int col)
{
	size_t i;

	if ((pm->n + 1) * 2 > pm->cap) {
		size_t ncap = pm->cap ? pm->cap * 2 : 256;
		struct pos_entry *ns = calloc(ncap, sizeof(*ns));
		size_t j;

		if (ns == NULL)
			return APPDB_ENOMEM;
		for (j = 0; j < pm->cap; j++) {
			if (pm->slots[j].key == NULL)
				continue;
			i = ptr_hash(pm->slots[j].key) & (ncap - 1);
			while (ns[i].key != NULL)
				i = (i + 1) & (ncap - 1);
			ns[i] = pm->slots[j];
		}
		free(pm->slots);
		pm->slots = ns;
		pm->cap = ncap;
	}
	i = ptr_hash(v) & (pm->cap - 1);
	while (pm->slots[i].key != NULL && pm->slots[i].key != v)
		i = (i + 1) & (pm->cap - 1);
	if (pm->slots[i].key == NULL)
		pm->n++;
	pm->slots[i].key = v;
	pm->slots[i].line = line;
	pm->slots[i].col = col;
	return 0;
}

int yaml_pos(const struct yaml_docs *docs, const json_t *v, int *line, int *col)
{
	const struct yaml_posmap *pm = docs != NULL ? docs->pos : NULL;
	size_t i;

	*line = 0;
	*col = 0;
	if (pm == NULL || pm->cap == 0 || v == NULL)
		return 0;
	i = ptr_hash(v) & (pm->cap - 1);
	while (pm->slots[i].key != NULL) {
		if (pm->slots[i].key == v) {
			*line = pm->slots[i].line;
			*col = pm->slots[i].col;
			return 1;
		}
		i = (i + 1) & (pm->cap - 1);
	}
	return 0;
}

struct walk {
	yaml_document_t *doc;
	const unsigned char *tagged; /* per node of doc: 1 when its tag was written */
	size_t n_tagged;
	struct yaml_posmap *pm;
	const char *name;
	size_t produced;
	struct err *err;
	char path[512]; /* where the walk is, as a field path: spec.users[1].name */
};

/* Appends ".key" or "[i]" to the path; returns the old length to restore. */
static size_t path_push(struct walk *w, const char *key, long index)
{
	size_t len = strlen(w->path);

	if (key != NULL)
		snprintf(w->path + len, sizeof(w->path) - len, "%s%s", len > 0 ? "." : "", key);
	else
		snprintf(w->path + len, sizeof(w->path) - len, "[%ld]", index);
	return len;
}

static int fail_at(struct walk *w, const yaml_node_t *node, int code, const char *what)
{
	return err_set(w->err, code, "%s:%zu:%zu: %s%s%s", w->name, node->start_mark.line + 1,
	               node->start_mark.column + 1, w->path, w->path[0] ? ": " : "", what);
}

static int walk_node(json_t **out, struct walk *w, yaml_node_t *node, int depth);

static int walk_mapping(json_t **out, struct walk *w, yaml_node_t *node, int depth)
{
	json_t *obj = json_object();
	yaml_node_pair_t *pair;
	size_t old;
	int rc = 0;

	if (obj == NULL)
		return APPDB_ENOMEM;
	for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, pair->value);
		json_t *val = NULL;
		char key[1024];

		if (k == NULL || v == NULL) {
			rc = fail_at(w, node, APPDB_EINVAL, "malformed mapping");
			goto out;
		}
		if (k->type != YAML_SCALAR_NODE) {
			rc = fail_at(w, k, APPDB_EINVAL, "mapping keys must be strings");
			goto out;
		}
		if (k->data.scalar.length >= sizeof(key) ||
		    strlen((const char *)k->data.scalar.value) != k->data.scalar.length) {
			rc = fail_at(w, k, APPDB_EINVAL, "mapping key is too long or not text");
			goto out;
		}
		memcpy(key, k->data.scalar.value, k->data.scalar.length + 1);
		if (strcmp(key, "<<") == 0) {
			rc = fail_at(w, k, APPDB_EINVAL, "merge keys (<<) are not supported");
			goto out;
		}
		old = path_push(w, key, 0);
		if (json_object_get(obj, key) != NULL) {
			rc = fail_at(w, k, APPDB_EINVAL, "duplicate key");
			goto out;
		}
		rc = walk_node(&val, w, v, depth + 1);
		if (rc != 0)
			goto out;
		w->path[old] = '\0';
		if (json_object_set_new(obj, key, val) != 0) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
out:
	if (rc != 0) {
		json_decref(obj);
		obj = NULL;
	}
	*out = obj;
	return rc;
}

static int walk_sequence(json_t **out, struct walk *w, yaml_node_t *node, int depth)
{
	json_t *arr = json_array();
	yaml_node_item_t *item;
	size_t old;
	int rc = 0;

	if (arr == NULL)
		return APPDB_ENOMEM;
	for (item = node->data.sequence.items.start; item < node->data.sequence.items.top; item++) {
		yaml_node_t *v = yaml_document_get_node(w->doc, *item);
		json_t *val = NULL;

		if (v == NULL) {
			rc = fail_at(w, node, APPDB_EINVAL, "malformed sequence");
			goto out;
		}
		old = path_push(w, NULL, (long)(item - node->data.sequence.items.start));
		rc = walk_node(&val, w, v, depth + 1);
		if (rc != 0)
			goto out;
		w->path[old] = '\0';
		if (json_array_append_new(arr, val) != 0) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
out:
	if (rc != 0) {
		json_decref(arr);
		arr = NULL;
	}
	*out = arr;
	return rc;
}

/* Produces the JSON value of node, counting every value made. */
static int walk_node(json_t **out, struct walk *w, yaml_node_t *node, int depth)
{
	json_t *v = NULL;
	char bad[200];
	size_t idx;
	int rc = 0;

	*out = NULL;
	if (depth > YAMLJSON_MAX_DEPTH)
		return fail_at(w, node, APPDB_ELIMIT, "document nested too deeply");
	if (++w->produced > YAMLJSON_MAX_NODES)
		return fail_at(w, node, APPDB_ELIMIT,
		               "document too large once aliases are expanded (alias bomb?)");
	idx = (size_t)(node - w->doc->nodes.start);
	switch (node->type) {
	case YAML_SCALAR_NODE:
		v = yaml_scalar_value(node, idx < w->n_tagged && w->tagged[idx], bad, sizeof(bad));
		if (v == NULL)
			return bad[0] != '\0' ? fail_at(w, node, APPDB_EINVAL, bad) : APPDB_ENOMEM;
		break;
	case YAML_MAPPING_NODE:
		if (!yaml_collection_tag_ok(node, bad, sizeof(bad)))
			return fail_at(w, node, APPDB_EINVAL, bad);
		rc = walk_mapping(&v, w, node, depth);
		break;
	case YAML_SEQUENCE_NODE:
		if (!yaml_collection_tag_ok(node, bad, sizeof(bad)))
			return fail_at(w, node, APPDB_EINVAL, bad);
		rc = walk_sequence(&v, w, node, depth);
		break;
	default:
		return fail_at(w, node, APPDB_EINVAL, "unsupported YAML node");
	}
	if (rc != 0)
		return rc;
	if (posmap_put(w->pm, v, (int)node->start_mark.line + 1,
	               (int)node->start_mark.column + 1) != 0) {
		json_decref(v);
		return APPDB_ENOMEM;
	}
	*out = v;
	return 0;
}

/*
 * Which nodes had a tag written, per document: libyaml's loader gives a
 * scalar without a tag the default !!str, so the event stream is read once
 * more to tell "5" from "!!str 5". Nodes are numbered as the loader numbers
 * them (scalars, sequences and mappings in event order; aliases add none).
 */
struct tag_scan {
	unsigned char **docs; /* per document: one flag per node */
	size_t *n;            /* nodes per document */
	size_t n_docs;
};

static void tag_scan_clear(struct tag_scan *t)
{
	size_t i;

	for (i = 0; i < t->n_docs; i++)
		free(t->docs[i]);
	free(t->docs);
	free(t->n);
	memset(t, 0, sizeof(*t));
}

/* Appends a flag to the last document; returns 0 or APPDB_ENOMEM. */
static int tag_scan_push(struct tag_scan *t, int tagged)
{
	size_t d = t->n_docs - 1;
	unsigned char *nf;

	if ((t->n[d] & (t->n[d] + 1)) == 0) { /* grow at 0, 1, 3, 7, ... */
		nf = realloc(t->docs[d], 2 * t->n[d] + 2);
		if (nf == NULL)
			return APPDB_ENOMEM;
		t->docs[d] = nf;
	}
	t->docs[d][t->n[d]++] = (unsigned char)tagged;
	return 0;
}

/* Starts a document; returns 0 or APPDB_ENOMEM. */
static int tag_scan_doc(struct tag_scan *t)
{
	unsigned char **nd = realloc(t->docs, (t->n_docs + 1) * sizeof(*nd));
	size_t *nn;

	if (nd == NULL)
		return APPDB_ENOMEM;
	t->docs = nd;
	nn = realloc(t->n, (t->n_docs + 1) * sizeof(*nn));
	if (nn == NULL)
		return APPDB_ENOMEM;
	t->n = nn;
	t->docs[t->n_docs] = NULL;
	t->n[t->n_docs] = 0;
	t->n_docs++;
	return 0;
}

/*
 * Scans buf's events into t. A syntax error ends the scan quietly: the
 * loader reports it with its position. Returns 0 or APPDB_ENOMEM.
 */
static int tag_scan(struct tag_scan *t, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int rc = 0, done = 0;

	memset(t, 0, sizeof(*t));
	if (!yaml_parser_initialize(&parser))
		return APPDB_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (rc == 0 && !done && yaml_parser_parse(&parser, &ev)) {
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			rc = tag_scan_doc(t);
			break;
		case YAML_SCALAR_EVENT:
			if (t->n_docs > 0)
				rc = tag_scan_push(t, ev.data.scalar.tag != NULL);
			break;
		case YAML_SEQUENCE_START_EVENT:
			if (t->n_docs > 0)
				rc = tag_scan_push(t, ev.data.sequence_start.tag != NULL);
			break;
		case YAML_MAPPING_START_EVENT:
			if (t->n_docs > 0)
				rc = tag_scan_push(t, ev.data.mapping_start.tag != NULL);
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (rc != 0)
		tag_scan_clear(t);
	return rc;
}

static int push_doc(struct yaml_docs *d, json_t *v, int line)
{
	json_t **nd = realloc(d->docs, (d->n + 1) * sizeof(*nd));
	int *nl;

	if (nd == NULL)
		return APPDB_ENOMEM;
	d->docs = nd;
	nl = realloc(d->lines, (d->n + 1) * sizeof(*nl));
	if (nl == NULL)
		return APPDB_ENOMEM;
	d->lines = nl;
	d->docs[d->n] = v;
	d->lines[d->n] = line;
	d->n++;
	return 0;
}

int yamljson_parse(struct yaml_docs *out, const char *buf, size_t len, const char *name,
                   struct err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct yaml_docs d = {0};
	struct tag_scan tags = {0};
	size_t docno = 0;
	int parser_ok = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len > YAMLJSON_MAX_BYTES)
		return err_set(err, APPDB_ELIMIT, "%s: file larger than %u bytes", name,
		               YAMLJSON_MAX_BYTES);
	d.pos = calloc(1, sizeof(*d.pos));
	d.name = strdup(name);
	if (d.pos == NULL || d.name == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	if (tag_scan(&tags, buf, len) != 0 || !yaml_parser_initialize(&parser)) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	parser_ok = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		yaml_node_t *root;
		struct walk w = {0};
		json_t *v = NULL;

		if (!yaml_parser_load(&parser, &doc)) {
			rc = err_set(err, APPDB_EINVAL, "%s:%zu:%zu: %s%s%s", name,
			             parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			             parser.problem ? parser.problem : "invalid YAML",
			             parser.context ? " " : "",
			             parser.context ? parser.context : "");
			goto out;
		}
		root = yaml_document_get_root_node(&doc);
		if (root == NULL) { /* end of stream */
			yaml_document_delete(&doc);
			break;
		}
		w.doc = &doc;
		if (docno < tags.n_docs) {
			w.tagged = tags.docs[docno];
			w.n_tagged = tags.n[docno];
		}
		docno++;
		w.pm = d.pos;
		w.name = name;
		w.err = err;
		rc = walk_node(&v, &w, root, 0);
		if (rc == 0 && !json_is_null(v)) {
			rc = push_doc(&d, v, (int)root->start_mark.line + 1);
			if (rc != 0)
				json_decref(v);
		} else {
			json_decref(v);
		}
		yaml_document_delete(&doc);
		if (rc != 0)
			goto out;
	}
out:
	if (parser_ok)
		yaml_parser_delete(&parser);
	tag_scan_clear(&tags);
	if (rc != 0)
		yaml_docs_clear(&d);
	else
		*out = d;
	return rc;
}

int yamljson_parse_file(struct yaml_docs *out, const char *path, struct err *err)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t len = 0;
	size_t n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	f = fopen(path, "rb");
	if (f == NULL)
		return err_set(err, APPDB_EIO, "could not open %s: %s", path, strerror(errno));
	buf = malloc(YAMLJSON_MAX_BYTES + 1);
	if (buf == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	while ((n = fread(buf + len, 1, YAMLJSON_MAX_BYTES + 1 - len, f)) > 0)
		len += n;
	if (ferror(f)) {
		rc = err_set(err, APPDB_EIO, "could not read %s: %s", path, strerror(errno));
		goto out;
	}
	rc = yamljson_parse(out, buf, len, path, err);
out:
	/* a manifest or a kubeconfig may hold tokens and keys */
	dynbuf_wipe_free(buf, len);
	fclose(f);
	return rc;
}

void yaml_docs_clear(struct yaml_docs *docs)
{
	size_t i;

	for (i = 0; i < docs->n; i++)
		json_decref(docs->docs[i]);
	free(docs->docs);
	free(docs->lines);
	if (docs->pos != NULL)
		free(docs->pos->slots);
	free(docs->pos);
	free(docs->name);
	memset(docs, 0, sizeof(*docs));
}
