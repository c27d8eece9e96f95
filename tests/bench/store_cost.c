/*
 * store_cost.c - the typed store's heap cost per resource for `make bench`:
 * N AppDatabases as the API returns them (metadata, spec with two users,
 * status with its conditions and last run) put into a store without a
 * cache, measured with mallinfo2 before and after, then once more after
 * every resource is replaced (a relist) and malloc_trim.
 *
 * usage: store_cost N    prints "bytes-per-resource after-relist-bytes-per-resource"
 */
#include "store.h"

#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

static json_t *object(int i, int rv)
{
	char name[64], ns[64], db[64], uid[64], rvs[32], owner[80], app[80], ro[80];

	snprintf(name, sizeof(name), "orders-%d", i);
	snprintf(ns, sizeof(ns), "team-%d", i % 10);
	snprintf(db, sizeof(db), "orders_%d", i);
	snprintf(uid, sizeof(uid), "3f2c9a1e-7b4d-4c1a-9e2f-%012d", i);
	snprintf(rvs, sizeof(rvs), "%d", rv);
	snprintf(owner, sizeof(owner), "%s_owner", db);
	snprintf(app, sizeof(app), "%s_app", db);
	snprintf(ro, sizeof(ro), "%s_ro", db);
	return json_pack(
	    "{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:i, s:s, s:{s:s}}, "
	    "s:{s:s, s:{s:s, s:s}, s:[s], s:[{s:s, s:s, s:{s:{s:s, s:s}}}, "
	    "{s:s, s:s, s:{s:{s:s, s:s}}}]}, "
	    "s:{s:i, s:s, s:[{s:s, s:s, s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:s, s:s, s:i}, "
	    "{s:s, s:s, s:s, s:s, s:s, s:i}], s:{s:s, s:s, s:s}}}",
	    "apiVersion", "db.platform.dev/v1alpha1", "kind", "AppDatabase", "metadata", "name",
	    name, "namespace", ns, "uid", uid, "resourceVersion", rvs, "generation", 1,
	    "creationTimestamp", "2026-12-01T10:00:00Z", "annotations",
	    "db.platform.dev/build-id", "ci-4711", "spec", "instance", "orders-rds", "database",
	    "name", db, "owner", owner, "schemas", "public", "users", "name", app, "access",
	    "readwrite", "passwordFrom", "kubernetesSecret", "name", "pw", "key", "a", "name", ro,
	    "access", "readonly", "passwordFrom", "kubernetesSecret", "name", "pw", "key", "b",
	    "status", "observedGeneration", 1, "database", db, "conditions", "type", "Ready",
	    "status", "True", "reason", "Provisioned", "message", "database, roles and grants "
	    "match the spec", "lastTransitionTime", "2026-12-01T10:00:01Z",
	    "observedGeneration", 1, "type", "Reconciling", "status", "False", "reason",
	    "Provisioned", "message", "", "lastTransitionTime", "2026-12-01T10:00:01Z",
	    "observedGeneration", 1, "type", "Stalled", "status", "False", "reason", "Provisioned",
	    "message", "", "lastTransitionTime", "2026-12-01T10:00:01Z", "observedGeneration", 1,
	    "lastRun", "runId", "0123456789abcdef0123456789abcdef", "result", "Unchanged",
	    "finishedAt", "2026-12-01T10:00:01Z");
}

static size_t in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, i;
	struct store *s = NULL;
	char key[STORE_KEY_MAX];
	size_t before, after, relisted;

	if (n <= 0 || store_new(&s, NULL) != 0)
		return 1;
	before = in_use();
	for (i = 0; i < n; i++) {
		json_t *o = object(i, 1);

		if (o == NULL || store_put(s, o, key, sizeof(key)) < 0)
			return 1;
		json_decref(o);
	}
	after = in_use();
	for (i = 0; i < n; i++) {
		json_t *o = object(i, 2);

		if (o == NULL || store_put(s, o, key, sizeof(key)) < 0)
			return 1;
		json_decref(o);
	}
	malloc_trim(0);
	relisted = in_use();
	printf("%zu %zu\n", (after - before) / (size_t)n, (relisted - before) / (size_t)n);
	store_free(s);
	return 0;
}
