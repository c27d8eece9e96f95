/*
 * test_httpd.c - probes and metrics over HTTP (fetched with libcurl), and
 * the metrics text itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "err.h"
#include "httpd.h"
#include "metrics.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double fake_now = 100;

static double fake_clock(void)
{
	return fake_now;
}

struct resp {
	long code;
	char body[16384];
	size_t len;
	char ctype[128];
};

static size_t collect(char *p, size_t s, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t k = s * n;

	if (r->len + k >= sizeof(r->body))
		k = sizeof(r->body) - r->len - 1;
	memcpy(r->body + r->len, p, k);
	r->len += k;
	r->body[r->len] = '\0';
	return s * n;
}

/* Fetches path from the server on port. */
static void fetch(struct resp *r, int port, const char *method, const char *path)
{
	CURL *c = curl_easy_init();
	char url[128];
	char *ct = NULL;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	if (ct != NULL)
		snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
	curl_easy_cleanup(c);
}

static long depth_fn(void *ctx)
{
	return *(long *)ctx;
}

static void test_metrics_text(void **state)
{
	struct metrics *m = NULL;
	char *t = NULL;
	size_t len = 0;
	long depth = 7;

	assert_int_equal(metrics_new(&m), 0);
	metrics_observe_reconcile(m, "Changed", 0.3);
	metrics_observe_reconcile(m, "Changed", 3);
	metrics_observe_reconcile(m, "Unchanged", 0.004);
	metrics_set_resources(m, 5, 2);
	metrics_set_kube_api_up(m, 1);
	metrics_set_instance_up(m, "orders-rds", 1);
	metrics_set_instance_up(m, "we\"ird\\", 0);
	metrics_set_instance_up(m, "orders-rds", 0);
	metrics_set_workqueue_depth(m, 3);
	assert_int_equal(metrics_render(&t, &len, m), 0);
	assert_int_equal(strlen(t), len);
	assert_non_null(strstr(t, "# HELP appdb_reconcile_total "));
	assert_non_null(strstr(t, "# TYPE appdb_reconcile_total counter\n"));
	assert_non_null(strstr(t, "appdb_reconcile_total{result=\"Changed\"} 2\n"));
	assert_non_null(strstr(t, "appdb_reconcile_total{result=\"Unchanged\"} 1\n"));
	assert_non_null(strstr(t, "# TYPE appdb_reconcile_duration_seconds histogram\n"));
	assert_non_null(strstr(t, "appdb_reconcile_duration_seconds_bucket{le=\"0.005\"} 1\n"));
	assert_non_null(strstr(t, "appdb_reconcile_duration_seconds_bucket{le=\"0.5\"} 2\n"));
	assert_non_null(strstr(t, "appdb_reconcile_duration_seconds_bucket{le=\"5\"} 3\n"));
	assert_non_null(strstr(t, "appdb_reconcile_duration_seconds_bucket{le=\"10\"} 3\n"));
	assert_non_null(strstr(t, "appdb_reconcile_duration_seconds_bucket{le=\"120\"} 3\n"));
	assert_null(strstr(t, "e+"));
	assert_non_null(strstr(t, "appdb_reconcile_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(t, "appdb_reconcile_duration_seconds_count 3\n"));
	assert_non_null(strstr(t, "appdb_reconcile_duration_seconds_sum 3.304"));
	assert_non_null(strstr(t, "# TYPE appdb_resources gauge\n"));
	assert_non_null(strstr(t, "appdb_resources{ready=\"true\"} 5\n"));
	assert_non_null(strstr(t, "appdb_resources{ready=\"false\"} 2\n"));
	assert_non_null(strstr(t, "appdb_kube_api_up 1\n"));
	assert_non_null(strstr(t, "appdb_instance_up{instance=\"orders-rds\"} 0\n"));
	assert_non_null(strstr(t, "appdb_instance_up{instance=\"we\\\"ird\\\\\"} 0\n"));
	assert_non_null(strstr(t, "# TYPE appdb_workqueue_depth gauge\nappdb_workqueue_depth 3\n"));
	free(t);
	metrics_set_depth_source(m, depth_fn, &depth);
	assert_int_equal(metrics_render(&t, &len, m), 0);
	assert_non_null(strstr(t, "appdb_workqueue_depth 7\n"));
	free(t);
	metrics_free(m);
}

/* The series of DESIGN 11.5: time to Ready, resources by reason, reconciles per instance. */
static void test_metrics_observability(void **state)
{
	static const char *const reasons[] = {"Provisioned", "AwaitingApproval"};
	static const char *const one[] = {"Provisioned"};
	long counts[] = {3, 1}, three[] = {4};
	struct metrics *m = NULL;
	char *t = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	assert_int_equal(metrics_render(&t, &len, m), 0);
	/* Before any observation: the histogram with zero counts, no labelled series. */
	assert_non_null(strstr(t, "# TYPE appdb_time_to_ready_seconds histogram\n"));
	assert_non_null(strstr(t, "appdb_time_to_ready_seconds_bucket{le=\"+Inf\"} 0\n"));
	assert_null(strstr(t, "appdb_resources_by_reason{"));
	free(t);
	metrics_observe_time_to_ready(m, 0.4);
	metrics_observe_time_to_ready(m, 250);
	metrics_observe_time_to_ready(m, 90000);
	metrics_observe_time_to_ready(m, -1); /* a clock step back counts as 0 */
	metrics_set_reason_count(m, reasons, counts, 2);
	metrics_count_instance_reconcile(m, "orders-rds", "Changed");
	metrics_count_instance_reconcile(m, "orders-rds", "Changed");
	metrics_count_instance_reconcile(m, "orders-rds", "Failed");
	metrics_count_instance_reconcile(m, "odd\n\"x", "Blocked");
	assert_int_equal(metrics_render(&t, &len, m), 0);
	assert_non_null(strstr(t, "# HELP appdb_time_to_ready_seconds "));
	assert_non_null(strstr(t, "appdb_time_to_ready_seconds_bucket{le=\"0.5\"} 2\n"));
	assert_non_null(strstr(t, "appdb_time_to_ready_seconds_bucket{le=\"120\"} 2\n"));
	assert_non_null(strstr(t, "appdb_time_to_ready_seconds_bucket{le=\"300\"} 3\n"));
	assert_non_null(strstr(t, "appdb_time_to_ready_seconds_bucket{le=\"86400\"} 3\n"));
	assert_non_null(strstr(t, "appdb_time_to_ready_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(t, "appdb_time_to_ready_seconds_count 4\n"));
	assert_non_null(strstr(t, "appdb_time_to_ready_seconds_sum 90250.4\n"));
	assert_non_null(strstr(t, "# TYPE appdb_resources_by_reason gauge\n"));
	assert_non_null(strstr(t, "appdb_resources_by_reason{reason=\"Provisioned\"} 3\n"));
	assert_non_null(strstr(t, "appdb_resources_by_reason{reason=\"AwaitingApproval\"} 1\n"));
	assert_non_null(strstr(t, "# TYPE appdb_instance_reconcile_total counter\n"));
	assert_non_null(strstr(
	    t, "appdb_instance_reconcile_total{instance=\"orders-rds\",result=\"Changed\"} 2\n"));
	assert_non_null(strstr(
	    t, "appdb_instance_reconcile_total{instance=\"orders-rds\",result=\"Failed\"} 1\n"));
	assert_non_null(strstr(
	    t, "appdb_instance_reconcile_total{instance=\"odd\\n\\\"x\",result=\"Blocked\"} 1\n"));
	free(t);
	/* A reason no resource has any more reads 0. */
	metrics_set_reason_count(m, one, three, 1);
	assert_int_equal(metrics_render(&t, &len, m), 0);
	assert_non_null(strstr(t, "appdb_resources_by_reason{reason=\"Provisioned\"} 4\n"));
	assert_non_null(strstr(t, "appdb_resources_by_reason{reason=\"AwaitingApproval\"} 0\n"));
	free(t);
	metrics_free(m);
}

static void test_endpoints(void **state)
{
	struct metrics *m = NULL;
	struct httpd_health *h = NULL;
	struct httpd *d = NULL;
	struct err e = {0};
	struct resp r;
	int watch_id = -1, worker_id = -1, port;

	assert_int_equal(metrics_new(&m), 0);
	assert_int_equal(httpd_health_new(&h, fake_clock), 0);
	assert_int_equal(httpd_start(&d, 0, h, m, &e), 0);
	port = httpd_port(d);
	assert_true(port > 0);
	fetch(&r, port, "GET", "/healthz");
	assert_int_equal(r.code, 200);
	fetch(&r, port, "GET", "/readyz");
	assert_int_equal(r.code, 503);
	httpd_health_set_ready(h, 1);
	fetch(&r, port, "GET", "/readyz");
	assert_int_equal(r.code, 200);
	/* Loops beat; one stops beating. */
	assert_int_equal(httpd_health_register(h, "watch", 60, &watch_id), 0);
	assert_int_equal(httpd_health_register(h, "worker-0", 300, &worker_id), 0);
	fake_now += 50;
	fetch(&r, port, "GET", "/healthz");
	assert_int_equal(r.code, 200);
	fake_now += 20;
	httpd_health_beat(h, worker_id);
	fetch(&r, port, "GET", "/healthz");
	assert_int_equal(r.code, 500);
	assert_non_null(strstr(r.body, "watch"));
	httpd_health_beat(h, watch_id);
	fetch(&r, port, "GET", "/healthz");
	assert_int_equal(r.code, 200);
	httpd_health_unregister(h, worker_id);
	fake_now += 1000;
	httpd_health_beat(h, watch_id);
	fetch(&r, port, "GET", "/healthz");
	assert_int_equal(r.code, 200);
	/* Metrics. */
	metrics_set_kube_api_up(m, 0);
	fetch(&r, port, "GET", "/metrics");
	assert_int_equal(r.code, 200);
	assert_string_equal(r.ctype, METRICS_CONTENT_TYPE);
	assert_non_null(strstr(r.body, "appdb_kube_api_up 0\n"));
	fetch(&r, port, "POST", "/metrics");
	assert_int_equal(r.code, 405);
	fetch(&r, port, "GET", "/nope");
	assert_int_equal(r.code, 404);
	httpd_stop(d);
	httpd_health_free(h);
	metrics_free(m);
}

static void test_bad_port(void **state)
{
	struct httpd *d = NULL;
	struct httpd_health *h = NULL;
	struct err e = {0};

	assert_int_equal(httpd_health_new(&h, NULL), 0);
	assert_int_equal(httpd_start(&d, 70000, h, NULL, &e), APPDB_EINVAL);
	assert_non_null(strstr(e.msg, "httpPort"));
	httpd_health_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_text),
	    cmocka_unit_test(test_metrics_observability),
	    cmocka_unit_test(test_endpoints),
	    cmocka_unit_test(test_bad_port),
	};
	return cmocka_run_group_tests_name("httpd", tests, NULL, NULL);
}
