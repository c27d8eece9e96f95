/*
 * test_cache.c - the cache file format, atomic writes and corrupt files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cache.h"
#include "err.h"
#include "failalloc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/cachetest.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Empties the directory between tests. */
static void clean_dir(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/* %s/.[a-z]*", dir, dir);
	assert_int_equal(system(cmd), 0);
}

static json_t *fixture(void)
{
	json_t *o = json_load_file("tests/unit/data/cache/appdb.json", 0, NULL);

	assert_non_null(o);
	return o;
}

static void write_text(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void test_file_names(void **state)
{
	char *n = cache_file_name("team-orders", "orders");

	assert_string_equal(n, "appdb.team-orders_orders.json");
	free(n);
	n = cache_file_name("a_b", "x/../Y");
	assert_string_equal(n, "appdb.a%5Fb_x%2F..%2F%59.json");
	free(n);
}

static void test_sanitize(void **state)
{
	struct cache_entry e;
	struct err err = {0};
	json_t *o = fixture(), *meta, *ann;

	assert_int_equal(cache_entry_from_object(&e, o, &err), 0);
	assert_string_equal(e.ns, "team-orders");
	assert_string_equal(e.name, "orders");
	meta = json_object_get(e.object, "metadata");
	ann = json_object_get(meta, "annotations");
	assert_int_equal(json_object_size(ann), 3);
	assert_null(json_object_get(ann, "kubectl.kubernetes.io/last-applied-configuration"));
	assert_null(json_object_get(meta, "managedFields"));
	assert_null(json_object_get(meta, "labels"));
	assert_null(json_object_get(e.object, "status"));
	assert_int_equal(json_integer_value(json_object_get(meta, "generation")), 3);
	assert_string_equal(json_string_value(json_object_get(meta, "uid")),
	                    "6f1c1a8e-0000-4000-8000-000000000001");
	assert_true(json_equal(json_object_get(e.object, "spec"), json_object_get(o, "spec")));
	cache_entry_clear(&e);
	json_object_del(json_object_get(o, "metadata"), "namespace");
	assert_int_equal(cache_entry_from_object(&e, o, &err), APPDB_EINVAL);
	json_decref(o);
}

static void test_round_trip(void **state)
{
	struct cache *c = NULL;
	struct cache_entry e, *all = NULL;
	struct err err = {0};
	json_t *o = fixture(), *p;
	size_t n = 0, corrupt = 9, i;
	struct stat st;
	char path[256];

	clean_dir();
	assert_int_equal(cache_open(&c, dir, &err), 0);
	assert_int_equal(cache_entry_from_object(&e, o, &err), 0);
	for (i = 0; i < CACHE_PENDING_STATUS_MAX + 3; i++) {
		p = json_pack("{s:{s:I}}", "status", "seq", (json_int_t)i);
		assert_int_equal(cache_entry_push_status(&e, p), 0);
		json_decref(p);
	}
	p = json_pack("{s:s}", "reason", "Provisioned");
	cache_entry_push_event(&e, p);
	json_decref(p);
	assert_int_equal(cache_save(c, &e, &err), 0);
	snprintf(path, sizeof(path), "%s/appdb.team-orders_orders.json", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Saving again replaces the file. */
	assert_int_equal(cache_save(c, &e, &err), 0);
	assert_int_equal(cache_load_all(&all, &n, &corrupt, c, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(corrupt, 0);
	assert_string_equal(all[0].ns, "team-orders");
	assert_true(json_equal(all[0].object, e.object));
	/* Oldest first, the oldest beyond the cap dropped. */
	assert_int_equal(json_array_size(all[0].pending_status), CACHE_PENDING_STATUS_MAX);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_array_get(all[0].pending_status, 0), "status"), "seq")),
	    3);
	assert_int_equal(json_array_size(all[0].pending_events), 1);
	cache_entry_clear(&all[0]);
	free(all);
	/* One by name. */
	{
		struct cache_entry one;

		assert_int_equal(cache_load(&one, c, "team-orders", "orders", &err), 0);
		cache_entry_clear(&one);
		assert_int_equal(cache_load(&one, c, "team-orders", "nope", &err), APPDB_ENOTFOUND);
	}
	assert_int_equal(cache_remove(c, "team-orders", "orders", &err), 0);
	assert_false(exists("appdb.team-orders_orders.json"));
	assert_int_equal(cache_remove(c, "team-orders", "orders", &err), 0);
	cache_entry_clear(&e);
	json_decref(o);
	cache_close(c);
}

static void test_crash_leftover_ignored(void **state)
{
	struct cache *c = NULL;
	struct cache_entry e, *all = NULL;
	struct err err = {0};
	json_t *o = fixture();
	size_t n = 0, corrupt = 0;

	clean_dir();
	assert_int_equal(cache_open(&c, dir, &err), 0);
	assert_int_equal(cache_entry_from_object(&e, o, &err), 0);
	assert_int_equal(cache_save(c, &e, &err), 0);
	/* A crash between write and rename leaves a half-written hidden temp file. */
	write_text(".appdb.team-orders_orders.json.tmp.123.1", "{\"version\":1,\"obj");
	write_text("audit.jsonl", "{\"event\":\"audit\"}\n");
	assert_int_equal(cache_load_all(&all, &n, &corrupt, c, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(corrupt, 0);
	assert_false(exists(".appdb.team-orders_orders.json.tmp.123.1"));
	assert_true(exists("audit.jsonl"));
	cache_entry_clear(&all[0]);
	free(all);
	cache_entry_clear(&e);
	json_decref(o);
	cache_close(c);
}

static void test_corrupt_files_set_aside(void **state)
{
	struct cache *c = NULL;
	struct cache_entry e, *all = NULL;
	struct err err = {0};
	json_t *o = fixture();
	size_t n = 0, corrupt = 0;

	clean_dir();
	assert_int_equal(cache_open(&c, dir, &err), 0);
	assert_int_equal(cache_entry_from_object(&e, o, &err), 0);
	assert_int_equal(cache_save(c, &e, &err), 0);
	write_text("appdb.a_truncated.json", "{\"version\":1,\"object\":{\"metad");
	write_text("appdb.a_version.json",
	           "{\"version\":7,\"object\":{\"metadata\":{\"namespace\":\"a\",\"name\":"
	           "\"version\"}},\"pendingStatus\":[],\"pendingEvents\":[]}");
	write_text("appdb.a_misplaced.json",
	           "{\"version\":1,\"object\":{\"metadata\":{\"namespace\":\"a\",\"name\":"
	           "\"other\"}},\"pendingStatus\":[],\"pendingEvents\":[]}");
	write_text("appdb.a_shape.json",
	           "{\"version\":1,\"object\":{\"metadata\":{\"namespace\":\"a\",\"name\":"
	           "\"shape\"}},\"pendingStatus\":{},\"pendingEvents\":[]}");
	write_text("appdb.a_empty.json", "");
	assert_int_equal(cache_load_all(&all, &n, &corrupt, c, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(corrupt, 5);
	assert_string_equal(all[0].name, "orders");
	assert_true(exists("appdb.a_truncated.json.corrupt"));
	assert_true(exists("appdb.a_version.json.corrupt"));
	assert_true(exists("appdb.a_misplaced.json.corrupt"));
	assert_true(exists("appdb.a_shape.json.corrupt"));
	assert_false(exists("appdb.a_truncated.json"));
	cache_entry_clear(&all[0]);
	free(all);
	/* A second start finds nothing corrupt any more. */
	assert_int_equal(cache_load_all(&all, &n, &corrupt, c, &err), 0);
	assert_int_equal(corrupt, 0);
	assert_int_equal(n, 1);
	cache_entry_clear(&all[0]);
	free(all);
	cache_entry_clear(&e);
	json_decref(o);
	cache_close(c);
}

static void test_open_errors(void **state)
{
	struct cache *c = NULL;
	struct err err = {0};

	write_text("plainfile", "x");
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/plainfile", dir);
		assert_int_equal(cache_open(&c, p, &err), APPDB_EIO);
		assert_null(c);
	}
	assert_int_equal(cache_open(&c, "/nonexistent-parent/x/y", &err), APPDB_EIO);
}

static void test_failing_allocator(void **state)
{
	struct cache *c = NULL;
	struct cache_entry e, *all = NULL;
	struct err err = {0};
	json_t *o = fixture();
	size_t n_all = 0, i;
	long n;

	clean_dir();
	assert_int_equal(cache_open(&c, dir, &err), 0);
	for (n = 1; n < 100000; n++) {
		int rc;

		failalloc_arm(n);
		rc = cache_entry_from_object(&e, o, &err);
		if (rc == 0) {
			rc = cache_entry_push_event(&e, o);
			if (rc == 0)
				rc = cache_save(c, &e, &err);
			cache_entry_clear(&e);
		}
		n_all = 0;
		if (rc == 0) {
			rc = cache_load_all(&all, &n_all, NULL, c, &err);
			for (i = 0; rc == 0 && i < n_all; i++)
				cache_entry_clear(&all[i]);
			free(all);
			all = NULL;
		}
		failalloc_arm(0);
		if (!failalloc_fired()) {
			assert_int_equal(rc, 0);
			assert_int_equal(n_all, 1);
			break;
		}
		/* A failed allocation fails the call or is retried; it never corrupts. */
		assert_true(rc == APPDB_ENOMEM || (rc == 0 && n_all == 1));
		assert_false(exists("appdb.team-orders_orders.json.corrupt"));
	}
	assert_true(n > 10);
	json_decref(o);
	cache_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_names),
	    cmocka_unit_test(test_sanitize),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_crash_leftover_ignored),
	    cmocka_unit_test(test_corrupt_files_set_aside),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_failing_allocator),
	};
	failalloc_init();
	return cmocka_run_group_tests_name("cache", tests, setup, teardown);
}
