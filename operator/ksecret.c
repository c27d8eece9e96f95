/*
 * ksecret.c - kubernetesSecret reads with an in-memory copy for outages.
 */
#include "ksecret.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One kept Secret. */
struct kept {
	char *key; /* "ns/name" */
	json_t *obj;
};

struct ksecret_cache {
	pthread_mutex_t mu; /* guards the array */
	struct kept *items;
	size_t n, cap;
};

int ksecret_cache_new(struct ksecret_cache **out)
{
	struct ksecret_cache *c = calloc(1, sizeof(*c));

	*out = c;
	if (c == NULL)
		return APPDB_ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	return 0;
}

static void drop_secret(json_t *obj)
{
	secret_wipe_json(obj);
	json_decref(obj);
}

void ksecret_cache_free(struct ksecret_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->items[i].key);
		drop_secret(c->items[i].obj);
	}
	free(c->items);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The index of key, or c->n. Lock held. */
static size_t find(struct ksecret_cache *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->items[i].key, key) == 0)
			break;
	return i;
}

/* Forgets key's copy (wiped). Lock held. */
static void forget(struct ksecret_cache *c, const char *key)
{
	size_t i = find(c, key);

	if (i == c->n)
		return;
	free(c->items[i].key);
	drop_secret(c->items[i].obj);
	c->items[i] = c->items[--c->n];
}

/* Keeps obj (a reference is taken) as key's copy; returns 1 when kept. Lock held. */
static int keep(struct ksecret_cache *c, const char *key, json_t *obj)
{
	char *k;

	if (c->n == c->cap) {
		size_t cap = c->cap != 0 ? c->cap * 2 : 16;
		struct kept *grown = realloc(c->items, cap * sizeof(*grown));

		if (grown == NULL)
			return 0;
		c->items = grown;
		c->cap = cap;
	}
	k = strdup(key);
	if (k == NULL)
		return 0;
	c->items[c->n].key = k;
	c->items[c->n].obj = json_incref(obj);
	c->n++;
	return 1;
}

int ksecret_fetch(void *ctx, struct secret *out, const struct secret_ref *ref, struct err *err)
{
	struct ksecret_source *src = ctx;
	struct ksecret_cache *c = src->cache;
	struct err kerr = {0};
	json_t *s = NULL;
	char key[600];
	size_t i;
	int rc, kept = 0;

	snprintf(key, sizeof(key), "%s/%s", ref->ns, ref->name);
	rc = kube_get_secret(&s, src->kc, ref->ns, ref->name, &kerr);
	pthread_mutex_lock(&c->mu);
	if (rc == 0 || rc == APPDB_ENOTFOUND || rc == APPDB_EFORBIDDEN) {
		/* The API answered: its word replaces the copy. */
		forget(c, key);
		if (rc == 0) {
			kept = keep(c, key, s);
			rc = secret_from_kube_object(out, s, ref->key, err);
		}
	} else if ((i = find(c, key)) < c->n) {
		log_debug(src->log, "using the copy of secret %s read earlier: %s", key, kerr.msg);
		rc = secret_from_kube_object(out, c->items[i].obj, ref->key, err);
	}
	/* Under the lock: the kept copy's references all change here. A copy
	 * not kept is wiped now. */
	if (s != NULL && !kept)
		secret_wipe_json(s);
	json_decref(s);
	pthread_mutex_unlock(&c->mu);
	if (rc == APPDB_ENOTFOUND && kerr.msg[0] == '\0')
		return rc; /* the key is missing; err says so */
	if (rc == APPDB_ENOTFOUND || rc == APPDB_EFORBIDDEN)
		return err_set(err, rc, "%s", kerr.msg);
	if (rc != 0 && err != NULL && err->msg[0] == '\0')
		return err_set(
		    err, APPDB_ETRANSIENT,
		    "secret %s has not been read yet and the Kubernetes API did not give "
		    "it (%s); trying again",
		    key, kerr.msg);
	return rc;
}
