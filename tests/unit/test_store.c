/*
 * test_store.c - the controller's typed store: what a change queues, what a
 * worker takes, the outbox and its caps, readiness counts, the cache
 * write-through and reload, threads, and the failing allocator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cache.h"
#include "err.h"
#include "failalloc.h"
#include "store.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/storetest.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void clean_dir(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/* %s/.[a-z]*", dir, dir);
	assert_int_equal(system(cmd), 0);
}

/* An API object of ns/name with a generation, a spec value and a status (may be NULL). */
static json_t *object(const char *ns, const char *name, int gen, const char *db, const char *status)
{
	char text[1024];
	json_t *o;

	snprintf(text, sizeof(text),
	         "{\"apiVersion\":\"db.platform.dev/v1alpha1\",\"kind\":\"AppDatabase\","
	         "\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"uid\":\"u-%s\","
	         "\"generation\":%d,\"resourceVersion\":\"%d\",\"managedFields\":[{}],"
	         "\"annotations\":{\"db.platform.dev/approved-generation\":\"1\","
	         "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}},"
	         "\"spec\":{\"instance\":\"main\",\"database\":{\"name\":\"%s\"}}%s%s}",
	         ns, name, name, gen, gen * 10, db, status ? ",\"status\":" : "",
	         status ? status : "");
	o = json_loads(text, 0, NULL);
	assert_non_null(o);
	return o;
}

/* Puts obj (then releases it); returns what store_put said. */
static int put(struct store *s, json_t *obj)
{
	char key[STORE_KEY_MAX];
	int rc = store_put(s, obj, key, sizeof(key));

	json_decref(obj);
	return rc;
}

static size_t count_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "appdb.", 6) == 0;
	closedir(d);
	return n;
}

static void test_put_queues_what_changed(void **state)
{
	struct store *s = NULL;
	struct store_item it;
	char key[STORE_KEY_MAX];
	json_t *o;

	(void)state;
	assert_int_equal(store_new(&s, NULL), 0);
	o = object("team", "orders", 1, "orders", NULL);
	assert_int_equal(store_put(s, o, key, sizeof(key)), 1);
	assert_string_equal(key, "team/orders");
	json_decref(o);
	/* The same object again, a new resourceVersion or only a new status: nothing to do. */
	assert_int_equal(put(s, object("team", "orders", 1, "orders", NULL)), 0);
	assert_int_equal(
	    put(s, object("team", "orders", 1, "orders",
	                  "{\"observedGeneration\":1,\"conditions\":[{\"type\":\"Ready\","
	                  "\"status\":\"True\"}],\"pendingActions\":null}")),
	    0);
	store_take(&it, s, "team/orders");
	assert_non_null(it.object);
	assert_true(it.status.present);
	assert_int_equal(it.status.observed_generation, 1);
	assert_int_equal(json_array_size(it.status.conditions), 1);
	assert_true(it.status.pending_actions); /* set, even to null */
	/* Only what the cache keeps: no managedFields, no foreign annotation, no status. */
	assert_null(json_object_get(json_object_get(it.object, "metadata"), "managedFields"));
	assert_null(
	    json_object_get(json_object_get(json_object_get(it.object, "metadata"), "annotations"),
	                    "kubectl.kubernetes.io/last-applied-configuration"));
	assert_null(json_object_get(it.object, "status"));
	assert_null(it.deleted);
	store_item_clear(&it);
	/* A spec or generation change is. */
	assert_int_equal(put(s, object("team", "orders", 2, "orders2", NULL)), 1);
	assert_int_equal(put(s, object("team", "other", 1, "x", NULL)), 1);
	assert_int_equal(store_size(s), 2);
	store_free(s);
}

static void test_delete_and_take(void **state)
{
	struct store *s = NULL;
	struct store_item it;

	(void)state;
	assert_int_equal(store_new(&s, NULL), 0);
	assert_int_equal(
	    put(s, object("team", "orders", 1, "orders", "{\"observedGeneration\":1}")), 1);
	store_delete(s, "team/orders");
	store_delete(s, "team/never-seen");
	assert_int_equal(store_size(s), 0);
	/* Re-created before a worker came by: both the deletion and the new object. */
	assert_int_equal(put(s, object("team", "orders", 1, "orders", NULL)), 1);
	store_take(&it, s, "team/orders");
	assert_non_null(it.deleted);
	assert_non_null(it.object);
	assert_false(it.status.present);
	store_item_clear(&it);
	/* The deletion is handed out once. */
	store_take(&it, s, "team/orders");
	assert_null(it.deleted);
	assert_non_null(it.object);
	store_item_clear(&it);
	store_delete(s, "team/orders");
	store_take(&it, s, "team/orders");
	assert_non_null(it.deleted);
	assert_null(it.object);
	store_item_clear(&it);
	store_take(&it, s, "team/orders");
	assert_null(it.deleted);
	assert_null(it.object);
	store_item_clear(&it);
	store_free(s);
}

static void collect(void *ctx, const char *key)
{
	char *buf = ctx;

	strcat(buf, key);
	strcat(buf, ";");
}

static void test_outbox_and_ready(void **state)
{
	struct store *s = NULL;
	json_t *st = NULL, *ev = NULL, *item = json_pack("{s:i}", "n", 0);
	char keys[256] = "";
	long yes, no;
	int i;

	(void)state;
	assert_int_equal(store_new(&s, NULL), 0);
	assert_int_equal(store_pending(&st, &ev, s, "team/orders"), 0);
	assert_null(st);
	/* Nothing is kept for an unknown key. */
	store_keep(s, NULL, "team/orders", STORE_STATUS, item);
	assert_int_equal(store_pending(&st, &ev, s, "team/orders"), 0);
	assert_int_equal(put(s, object("team", "orders", 1, "orders", NULL)), 1);
	assert_int_equal(put(s, object("prod", "pay", 1, "pay", NULL)), 1);
	for (i = 0; i < CACHE_PENDING_STATUS_MAX + 3; i++) {
		json_object_set_new(item, "n", json_integer(i));
		store_keep(s, NULL, "team/orders", STORE_STATUS, item);
		json_decref(item);
		item = json_pack("{s:i}", "n", 0);
	}
	store_keep(s, NULL, "team/orders", STORE_EVENTS, item);
	assert_int_equal(store_pending(&st, &ev, s, "team/orders"), 1);
	/* Bounded like the cache file: the newest are kept. */
	assert_int_equal(json_array_size(st), CACHE_PENDING_STATUS_MAX);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(st, 0), "n")), 3);
	assert_int_equal(json_array_size(ev), 1);
	store_each_key(s, NULL, 1, collect, keys);
	assert_string_equal(keys, "team/orders;");
	keys[0] = '\0';
	store_each_key(s, "prod", 0, collect, keys);
	assert_string_equal(keys, "prod/pay;");
	keys[0] = '\0';
	store_each_key(s, "pro", 0, collect, keys);
	assert_string_equal(keys, "");
	/* What is left after a flush replaces the outbox; nothing left clears it. */
	json_array_remove(st, 0);
	store_set_pending(s, NULL, "team/orders", st, ev);
	json_decref(st);
	json_decref(ev);
	assert_int_equal(store_pending(&st, &ev, s, "team/orders"), 1);
	assert_int_equal(json_array_size(st), CACHE_PENDING_STATUS_MAX - 1);
	json_array_clear(st);
	json_array_clear(ev);
	store_set_pending(s, NULL, "team/orders", st, ev);
	json_decref(st);
	json_decref(ev);
	assert_int_equal(store_pending(&st, &ev, s, "team/orders"), 0);
	/* Readiness counts. */
	store_set_ready(s, "team/orders", 1, &yes, &no);
	assert_int_equal(yes, 1);
	assert_int_equal(no, 0);
	store_set_ready(s, "prod/pay", 0, &yes, &no);
	assert_int_equal(yes, 1);
	assert_int_equal(no, 1);
	store_delete(s, "prod/pay");
	store_set_ready(s, "team/orders", 0, &yes, &no);
	assert_int_equal(yes, 0);
	assert_int_equal(no, 1);
	json_decref(item);
	store_free(s);
}

static void count_key(void *ctx, const char *key)
{
	(void)key;
	(*(int *)ctx)++;
}

static void test_cache_write_through_and_reload(void **state)
{
	struct cache *c = NULL;
	struct store *s = NULL;
	struct store_item it;
	struct err err = {0};
	json_t *st, *ev, *patch = json_pack("{s:{s:i}}", "status", "observedGeneration", 1);
	int n = 0;

	(void)state;
	clean_dir();
	assert_int_equal(cache_open(&c, dir, &err), 0);
	assert_int_equal(store_new(&s, c), 0);
	assert_int_equal(put(s, object("team", "orders", 1, "orders", NULL)), 1);
	assert_int_equal(put(s, object("team", "other", 1, "other", NULL)), 1);
	assert_int_equal(count_files(), 2);
	store_keep(s, NULL, "team/orders", STORE_STATUS, patch);
	store_delete(s, "team/other");
	assert_int_equal(count_files(), 1);
	store_free(s);

	/* A new process: the cached resource and its outbox come back. */
	assert_int_equal(store_new(&s, c), 0);
	assert_int_equal(store_load_cache(s, count_key, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(store_size(s), 1);
	store_take(&it, s, "team/orders");
	assert_non_null(it.object);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(it.object, "metadata"), "uid")),
	    "u-orders");
	store_item_clear(&it);
	assert_int_equal(store_pending(&st, &ev, s, "team/orders"), 1);
	assert_true(json_equal(json_array_get(st, 0), patch));
	json_decref(st);
	json_decref(ev);
	/* The same object from the API: no reconcile needed, the file is not rewritten. */
	assert_int_equal(put(s, object("team", "orders", 1, "orders", NULL)), 0);
	store_free(s);
	cache_close(c);
	json_decref(patch);
}

struct worker_arg {
	struct store *s;
	int id;
};

static void *hammer(void *p)
{
	struct worker_arg *a = p;
	char name[32], key[64];
	int i;

	for (i = 0; i < 200; i++) {
		struct store_item it;
		json_t *ev = json_pack("{s:i}", "i", i);
		long yes, no;

		snprintf(name, sizeof(name), "r%d", i % 7);
		snprintf(key, sizeof(key), "ns%d/%s", a->id % 2, name);
		if (a->id % 2 == 0)
			put(a->s, object(a->id % 2 ? "ns1" : "ns0", name, i % 3 + 1, name, NULL));
		else if (i % 13 == 0)
			store_delete(a->s, key);
		store_take(&it, a->s, key);
		store_item_clear(&it);
		store_keep(a->s, NULL, key, STORE_EVENTS, ev);
		store_set_ready(a->s, key, i % 2, &yes, &no);
		json_decref(ev);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct store *s = NULL;
	struct worker_arg args[4];
	pthread_t th[4];
	int i;

	(void)state;
	assert_int_equal(store_new(&s, NULL), 0);
	for (i = 0; i < 4; i++) {
		args[i] = (struct worker_arg){s, i};
		pthread_create(&th[i], NULL, hammer, &args[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_true(store_size(s) <= 14);
	store_free(s);
}

static void test_many_keys_grow_the_table(void **state)
{
	struct store *s = NULL;
	char name[32];
	int i;

	(void)state;
	assert_int_equal(store_new(&s, NULL), 0);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(put(s, object("ns", name, 1, name, NULL)), 1);
	}
	assert_int_equal(store_size(s), 1000);
	for (i = 0; i < 1000; i += 2) {
		snprintf(name, sizeof(name), "ns/r%d", i);
		store_delete(s, name);
	}
	assert_int_equal(store_size(s), 500);
	store_free(s);
}

static void test_failing_allocator(void **state)
{
	long n;

	(void)state;
	for (n = 1; n < 100000; n++) {
		struct store *s = NULL;
		struct store_item it = {0};
		json_t *o = object("team", "orders", 1, "orders", "{\"observedGeneration\":1}");
		json_t *ev = json_pack("{s:s}", "reason", "x");
		char key[STORE_KEY_MAX];
		int rc;

		failalloc_arm(n);
		rc = store_new(&s, NULL);
		if (rc == 0)
			rc = store_put(s, o, key, sizeof(key));
		if (rc >= 0 && s != NULL) {
			store_keep(s, NULL, "team/orders", STORE_EVENTS, ev);
			store_take(&it, s, "team/orders");
		}
		failalloc_arm(0);
		store_item_clear(&it);
		store_free(s);
		json_decref(o);
		json_decref(ev);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 1);
			break;
		}
		assert_true(rc == 1 || rc == APPDB_ENOMEM);
	}
	assert_true(n > 5);
}

static double fake_now;

static double fake_clock(void)
{
	return fake_now;
}

/* A generation is timed from when store_put first sees it to its first Ready. */
static void test_time_to_ready(void **state)
{
	static const char ready1[] = "{\"observedGeneration\":1,\"conditions\":[{\"type\":"
	                             "\"Ready\",\"status\":\"True\"}]}";
	struct store_reason_count rc[4];
	struct store *s = NULL;
	double secs = -1;
	size_t n;

	(void)state;
	assert_int_equal(store_new(&s, NULL), 0);
	store_set_clock(s, fake_clock);
	fake_now = 100;
	put(s, object("team", "orders", 1, "orders", NULL));
	fake_now = 103.5;
	/* Its status (the operator's own write) does not restart the clock. */
	put(s, object("team", "orders", 1, "orders", "{\"observedGeneration\":0}"));
	fake_now = 104;
	/* A run of another generation than the one seen is not its Ready. */
	assert_int_equal(store_first_ready(s, "team/orders", 2, &secs), 0);
	assert_int_equal(store_first_ready(s, "team/orders", 1, &secs), 1);
	assert_true(secs > 3.99 && secs < 4.01);
	/* Only the first Ready counts. */
	assert_int_equal(store_first_ready(s, "team/orders", 1, &secs), 0);
	put(s, object("team", "orders", 1, "orders", ready1));
	assert_int_equal(store_first_ready(s, "team/orders", 1, &secs), 0);
	/* A new generation is timed again. */
	fake_now = 200;
	put(s, object("team", "orders", 2, "orders", ready1));
	fake_now = 260;
	assert_int_equal(store_first_ready(s, "team/orders", 2, &secs), 1);
	assert_true(secs > 59.99 && secs < 60.01);
	/* First seen already Ready for its generation (a restart): not timed. */
	put(s, object("prod", "pay", 1, "pay", ready1));
	assert_int_equal(store_first_ready(s, "prod/pay", 1, &secs), 0);
	/* Deleted and made again: timed from the new object. */
	store_delete(s, "team/orders");
	assert_int_equal(store_first_ready(s, "team/orders", 2, &secs), 0);
	fake_now = 300;
	put(s, object("team", "orders", 1, "orders", NULL));
	fake_now = 301;
	assert_int_equal(store_first_ready(s, "team/orders", 1, &secs), 1);
	assert_true(secs > 0.99 && secs < 1.01);
	/* Reasons are counted per resource, the last run's. */
	n = store_set_reason(s, "team/orders", "Provisioned", rc, 4);
	assert_int_equal(n, 1);
	n = store_set_reason(s, "prod/pay", "AwaitingApproval", rc, 4);
	assert_int_equal(n, 2);
	n = store_set_reason(s, "prod/pay", "Provisioned", rc, 4);
	assert_int_equal(n, 1);
	assert_string_equal(rc[0].reason, "Provisioned");
	assert_int_equal(rc[0].count, 2);
	/* At most max entries; a key the store does not know changes nothing. */
	n = store_set_reason(s, "prod/pay", "SecretMissing", rc, 1);
	assert_int_equal(n, 1);
	assert_int_equal(rc[0].count, 1);
	n = store_set_reason(s, "no/such", "InvalidSpec", rc, 4);
	assert_int_equal(n, 2);
	store_delete(s, "prod/pay");
	n = store_set_reason(s, "team/orders", "Provisioned", rc, 4);
	assert_int_equal(n, 1);
	assert_int_equal(rc[0].count, 1);
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_queues_what_changed),
	    cmocka_unit_test(test_delete_and_take),
	    cmocka_unit_test(test_outbox_and_ready),
	    cmocka_unit_test(test_cache_write_through_and_reload),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_many_keys_grow_the_table),
	    cmocka_unit_test(test_time_to_ready),
	    cmocka_unit_test(test_failing_allocator),
	};

	failalloc_init();
	return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
