/*
 * test_kube_config.c - kubeconfig parsing, token files, the exec plugin and
 * in-cluster configuration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "err.h"
#include "failalloc.h"
#include "kube_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#define DATA "tests/unit/data/kubeconfig/"

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/kcfgtest.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to tmpdir/name with mode; returns the path (static buffer). */
static const char *write_tmp(const char *name, const char *text, int mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, (mode_t)mode);
	return path;
}

static void test_token_and_ca_data(void **state)
{
	struct kube_config *c = NULL;
	struct kube_creds cr = {0};
	struct err e = {0};

	assert_int_equal(kube_config_load(&c, DATA "token.yaml", NULL, &e), 0);
	assert_string_equal(c->server, "https://127.0.0.1:8443");
	assert_string_equal(c->ns, "team-orders");
	assert_false(c->insecure);
	assert_non_null(c->ca_data);
	assert_non_null(strstr(c->ca_data, "BEGIN CERTIFICATE"));
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_string_equal(cr.token, "bob-token");
	assert_null(cr.cert_pem);
	kube_creds_clear(&cr);
	kube_config_free(c);

	/* Another context; the trailing slash of the server goes. */
	assert_int_equal(kube_config_load(&c, DATA "token.yaml", "first", &e), 0);
	assert_string_equal(c->server, "https://one.example:6443");
	assert_string_equal(c->ns, "default");
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_string_equal(cr.token, "alice-token");
	kube_creds_clear(&cr);
	kube_config_free(c);
}

static void test_files_relative_and_insecure(void **state)
{
	struct kube_config *c = NULL;
	struct err e = {0};

	assert_int_equal(kube_config_load(&c, DATA "files.yaml", NULL, &e), 0);
	assert_true(c->insecure);
	assert_string_equal(c->ca_file, DATA "certs/ca.crt");
	assert_string_equal(c->token_file, DATA "tok");
	assert_string_equal(c->cert_file, DATA "certs/client.crt");
	assert_string_equal(c->key_file, "/abs/client.key");
	kube_config_free(c);
}

static void test_cert_data(void **state)
{
	struct kube_config *c = NULL;
	struct kube_creds cr = {0};
	struct err e = {0};

	assert_int_equal(kube_config_load(&c, DATA "certdata.yaml", NULL, &e), 0);
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_null(cr.token);
	assert_string_equal(cr.cert_pem, "CERTPEM");
	assert_string_equal(cr.key_pem, "KEYPEM");
	kube_creds_clear(&cr);
	kube_config_free(c);
}

static void test_errors_name_the_field(void **state)
{
	struct kube_config *c = NULL;
	struct err e = {0};

	assert_int_equal(kube_config_load(&c, DATA "cert-no-key.yaml", NULL, &e), APPDB_EINVAL);
	assert_non_null(strstr(e.msg, "client-key"));
	assert_null(c);
	err_clear(&e);
	assert_int_equal(kube_config_load(&c, DATA "no-context.yaml", NULL, &e), APPDB_EINVAL);
	assert_non_null(strstr(e.msg, "missing"));
	err_clear(&e);
	assert_int_equal(kube_config_load(&c, DATA "bad-server.yaml", NULL, &e), APPDB_EINVAL);
	assert_non_null(strstr(e.msg, "server"));
	err_clear(&e);
	assert_int_equal(kube_config_load(&c, DATA "bad-base64.yaml", NULL, &e), APPDB_EINVAL);
	assert_non_null(strstr(e.msg, "certificate-authority-data"));
	err_clear(&e);
	assert_int_equal(kube_config_load(&c, DATA "broken.yaml", NULL, &e), APPDB_EINVAL);
	assert_non_null(strstr(e.msg, "broken.yaml:"));
	err_clear(&e);
	assert_int_equal(kube_config_load(&c, DATA "does-not-exist.yaml", NULL, &e), APPDB_EIO);
	assert_null(c);
}

static double fake_wall = 1e9;

static double fake_clock(void)
{
	return fake_wall;
}

static void test_token_file_rotation(void **state)
{
	char kc[512], tokpath[300], newpath[300];
	struct kube_config *c = NULL;
	struct kube_creds cr = {0};
	struct err e = {0};

	snprintf(tokpath, sizeof(tokpath), "%s/token", tmpdir);
	snprintf(kc, sizeof(kc),
	         "current-context: c\nclusters: [{name: k, cluster: {server: "
	         "'https://k'}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
	         "users: [{name: u, user: {tokenFile: token}}]\n");
	write_tmp("token", "first-token\n", 0600);
	assert_int_equal(kube_config_load(&c, write_tmp("kc.yaml", kc, 0600), NULL, &e), 0);
	c->clock = fake_clock;
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_string_equal(cr.token, "first-token");
	kube_creds_clear(&cr);
	/* Replaced the way the kubelet does it: a new file renamed over. */
	write_tmp("token.new", "second-token-longer\n", 0600);
	snprintf(newpath, sizeof(newpath), "%s/token.new", tmpdir);
	assert_int_equal(rename(newpath, tokpath), 0);
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_string_equal(cr.token, "second-token-longer");
	kube_creds_clear(&cr);
	/* tokenFile wins over a static token (client-go's precedence). */
	c->token = strdup("static-token");
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_string_equal(cr.token, "second-token-longer");
	kube_creds_clear(&cr);
	/* The file vanishes for a moment: the last token stays usable. */
	unlink(tokpath);
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_string_equal(cr.token, "second-token-longer");
	kube_creds_clear(&cr);
	kube_config_free(c);
}

/* A kubeconfig with an exec plugin that prints body; returns the kubeconfig path. */
static const char *exec_kubeconfig(const char *script)
{
	static char kc[256];
	char text[1024];

	write_tmp("plugin.sh", script, 0700);
	snprintf(text, sizeof(text),
	         "current-context: c\nclusters: [{name: k, cluster: {server: 'https://k', "
	         "certificate-authority-data: Q0E=}}]\ncontexts: [{name: c, context: {cluster: k, "
	         "user: u}}]\nusers:\n- name: u\n  user:\n    exec:\n"
	         "      apiVersion: client.authentication.k8s.io/v1\n"
	         "      command: ./plugin.sh\n      args: [get-token, --cluster, one]\n"
	         "      provideClusterInfo: true\n"
	         "      env: [{name: PLUGIN_VAR, value: from-kubeconfig}]\n"
	         "      interactiveMode: Never\n");
	snprintf(kc, sizeof(kc), "%s", write_tmp("exec.yaml", text, 0600));
	return kc;
}

static int count_runs(void)
{
	char path[256];
	FILE *f;
	int n = 0, ch;

	snprintf(path, sizeof(path), "%s/runs", tmpdir);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void test_exec_plugin_token_cached_until_expiry(void **state)
{
	char script[1024];
	struct kube_config *c = NULL;
	struct kube_creds cr = {0};
	struct err e = {0};

	snprintf(
	    script, sizeof(script),
	    "#!/bin/sh\necho run >> %s/runs\n"
	    "case \"$KUBERNETES_EXEC_INFO\" in *'\"server\":\"https://k\"'*) ;; *) exit 3;; esac\n"
	    "[ \"$1 $2 $3\" = 'get-token --cluster one' ] || exit 4\n"
	    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
	    "\"ExecCredential\",\"status\":{\"token\":\"tok-%%s\","
	    "\"expirationTimestamp\":\"2001-09-09T01:46:40Z\"}}' \"$PLUGIN_VAR\"\n",
	    tmpdir);
	assert_int_equal(kube_config_load(&c, exec_kubeconfig(script), NULL, &e), 0);
	assert_non_null(c->exec);
	c->clock = fake_clock;
	fake_wall = 1e9 - 3600; /* an hour before expiry */
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_string_equal(cr.token, "tok-from-kubeconfig");
	kube_creds_clear(&cr);
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	kube_creds_clear(&cr);
	assert_int_equal(count_runs(), 1);
	/* Expired: run again. */
	fake_wall = 1e9 + 1;
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	kube_creds_clear(&cr);
	assert_int_equal(count_runs(), 2);
	/* Invalidated (after a 401): run again. */
	fake_wall = 1e9 - 3600;
	kube_config_invalidate(c);
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	kube_creds_clear(&cr);
	assert_int_equal(count_runs(), 3);
	kube_config_free(c);
}

static void test_exec_plugin_client_cert(void **state)
{
	const char *script =
	    "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
	    "\"ExecCredential\",\"status\":{\"clientCertificateData\":\"CERT\","
	    "\"clientKeyData\":\"KEY\"}}'\n";
	struct kube_config *c = NULL;
	struct kube_creds cr = {0};
	struct err e = {0};

	assert_int_equal(kube_config_load(&c, exec_kubeconfig(script), NULL, &e), 0);
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_null(cr.token);
	assert_string_equal(cr.cert_pem, "CERT");
	assert_string_equal(cr.key_pem, "KEY");
	kube_creds_clear(&cr);
	kube_config_free(c);
}

static void test_exec_plugin_failures(void **state)
{
	const char *scripts[] = {
	    "#!/bin/sh\nexit 1\n",
	    "#!/bin/sh\necho not json\n",
	    "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
	    "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
	    "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	    "\"kind\":\"ExecCredential\",\"status\":{}}'\n",
	    "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	    "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"secret-tok\","
	    "\"expirationTimestamp\":\"tomorrow\"}}'\n",
	};
	size_t i;

	for (i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		struct kube_config *c = NULL;
		struct kube_creds cr = {0};
		struct err e = {0};

		assert_int_equal(kube_config_load(&c, exec_kubeconfig(scripts[i]), NULL, &e), 0);
		assert_int_equal(kube_config_credentials(&cr, c, &e), APPDB_EUNAUTHORIZED);
		assert_non_null(strstr(e.msg, "exec plugin"));
		assert_null(strstr(e.msg, "secret-tok"));
		assert_null(cr.token);
		kube_config_free(c);
	}
}

struct slow_call {
	struct kube_config *c;
	int rc;
	char msg[256];
	double took;
};

static void *slow_credentials(void *arg)
{
	struct slow_call *sc = arg;
	struct kube_creds cr = {0};
	struct err e = {0};
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	sc->rc = kube_config_credentials(&cr, sc->c, &e);
	clock_gettime(CLOCK_MONOTONIC, &b);
	sc->took = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	snprintf(sc->msg, sizeof(sc->msg), "%s", e.msg);
	kube_creds_clear(&cr);
	return NULL;
}

/*
 * A plugin that hangs is killed at the timeout, and while it runs the
 * credentials lock is free: invalidating (which takes it) does not wait.
 */
static void test_exec_plugin_hangs_outside_the_lock(void **state)
{
	struct kube_config *c = NULL;
	struct slow_call sc = {0};
	struct err e = {0};
	struct timespec a, b;
	pthread_t th;

	assert_int_equal(kube_config_load(&c, exec_kubeconfig("#!/bin/sh\nsleep 45\n"), NULL, &e),
	                 0);
	c->exec_timeout = 1.5;
	sc.c = c;
	pthread_create(&th, NULL, slow_credentials, &sc);
	usleep(300 * 1000); /* the plugin runs */
	clock_gettime(CLOCK_MONOTONIC, &a);
	kube_config_invalidate(c);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true((double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < 0.5);
	pthread_join(th, NULL);
	assert_int_equal(sc.rc, APPDB_EUNAUTHORIZED);
	assert_non_null(strstr(sc.msg, "timed out after 1.5 s"));
	assert_true(sc.took < 4.0);
	kube_config_free(c);
}

/* A plugin that floods stdout is cut at the cap and killed. */
static void test_exec_plugin_flood(void **state)
{
	struct kube_config *c = NULL;
	struct kube_creds cr = {0};
	struct err e = {0};

	assert_int_equal(
	    kube_config_load(&c, exec_kubeconfig("#!/bin/sh\nexec yes secret-tok\n"), NULL, &e), 0);
	assert_int_equal(kube_config_credentials(&cr, c, &e), APPDB_EUNAUTHORIZED);
	assert_non_null(strstr(e.msg, "output larger than"));
	assert_null(strstr(e.msg, "secret-tok"));
	assert_null(cr.token);
	kube_config_free(c);
}

static void test_in_cluster(void **state)
{
	char sa[300];
	struct kube_config *c = NULL;
	struct kube_creds cr = {0};
	struct err e = {0};

	snprintf(sa, sizeof(sa), "%s/sa", tmpdir);
	mkdir(sa, 0700);
	write_tmp("sa/token", "sa-token\n", 0600);
	write_tmp("sa/ca.crt", "CA", 0600);
	write_tmp("sa/namespace", "appdb-system\n", 0600);
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kube_config_in_cluster(&c, &e), APPDB_ENOTFOUND);
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv(KUBE_SA_DIR_ENV, sa, 1);
	assert_int_equal(kube_config_auto(&c, NULL, &e), 0);
	assert_true(c->in_cluster);
	assert_string_equal(c->server, "https://10.0.0.1:443");
	assert_string_equal(c->ns, "appdb-system");
	assert_non_null(strstr(c->ca_file, "/sa/ca.crt"));
	assert_int_equal(kube_config_credentials(&cr, c, &e), 0);
	assert_string_equal(cr.token, "sa-token");
	kube_creds_clear(&cr);
	kube_config_free(c);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	assert_int_equal(kube_config_in_cluster(&c, &e), 0);
	assert_string_equal(c->server, "https://[fd00::1]:443");
	kube_config_free(c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv(KUBE_SA_DIR_ENV);
}

struct cred_thread {
	struct kube_config *c;
	int bad;
};

/* Reads credentials in a loop; counts tokens that are neither of the two. */
static void *cred_reader(void *p)
{
	struct cred_thread *t = p;
	int i;

	for (i = 0; i < 2000; i++) {
		struct kube_creds cr = {0};
		struct err e = {0};

		if (kube_config_credentials(&cr, t->c, &e) != 0 || cr.token == NULL ||
		    (strcmp(cr.token, "tok-one") != 0 && strcmp(cr.token, "tok-two") != 0))
			t->bad++;
		kube_creds_clear(&cr);
	}
	return NULL;
}

static void test_credentials_concurrent_with_rotation(void **state)
{
	char kc[512], tokpath[300], newpath[300];
	struct kube_config *c = NULL;
	struct cred_thread t[4];
	pthread_t th[4];
	struct err e = {0};
	int i, bad = 0;

	snprintf(tokpath, sizeof(tokpath), "%s/token", tmpdir);
	snprintf(newpath, sizeof(newpath), "%s/token.new", tmpdir);
	snprintf(kc, sizeof(kc),
	         "current-context: c\nclusters: [{name: k, cluster: {server: "
	         "'https://k'}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
	         "users: [{name: u, user: {tokenFile: token}}]\n");
	write_tmp("token", "tok-one\n", 0600);
	assert_int_equal(kube_config_load(&c, write_tmp("kc.yaml", kc, 0600), NULL, &e), 0);
	for (i = 0; i < 4; i++) {
		t[i] = (struct cred_thread){c, 0};
		pthread_create(&th[i], NULL, cred_reader, &t[i]);
	}
	for (i = 0; i < 200; i++) {
		write_tmp("token.new", i % 2 ? "tok-one\n" : "tok-two\n", 0600);
		assert_int_equal(rename(newpath, tokpath), 0);
		usleep(100);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		bad += t[i].bad;
	}
	assert_int_equal(bad, 0);
	kube_config_free(c);
}

static void test_failing_allocator(void **state)
{
	const char *files[] = {DATA "token.yaml", DATA "certdata.yaml"};
	size_t f;
	long n;

	for (f = 0; f < 2; f++) {
		for (n = 1; n < 100000; n++) {
			struct kube_config *c = NULL;
			struct kube_creds cr = {0};
			struct err e = {0};
			int rc;

			failalloc_arm(n);
			rc = kube_config_load(&c, files[f], NULL, &e);
			if (rc == 0)
				rc = kube_config_credentials(&cr, c, &e);
			failalloc_arm(0);
			kube_creds_clear(&cr);
			kube_config_free(c);
			if (!failalloc_fired()) {
				assert_int_equal(rc, 0);
				break;
			}
			assert_int_equal(rc, APPDB_ENOMEM);
		}
		assert_true(n > 10);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_and_ca_data),
	    cmocka_unit_test(test_files_relative_and_insecure),
	    cmocka_unit_test(test_cert_data),
	    cmocka_unit_test(test_errors_name_the_field),
	    cmocka_unit_test(test_token_file_rotation),
	    cmocka_unit_test(test_exec_plugin_token_cached_until_expiry),
	    cmocka_unit_test(test_exec_plugin_client_cert),
	    cmocka_unit_test(test_exec_plugin_failures),
	    cmocka_unit_test(test_exec_plugin_hangs_outside_the_lock),
	    cmocka_unit_test(test_exec_plugin_flood),
	    cmocka_unit_test(test_in_cluster),
	    cmocka_unit_test(test_credentials_concurrent_with_rotation),
	    cmocka_unit_test(test_failing_allocator),
	};
	failalloc_init();
	return cmocka_run_group_tests_name("kube_config", tests, setup, teardown);
}
