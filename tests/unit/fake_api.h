/*
 * fake_api.h - a tiny in-process API server for unit tests: records each
 * request (method, url, body) and answers with what the test's route
 * function says. Header-only; include it in one test file.
 */
#ifndef APPDB_TEST_FAKE_API_H
#define APPDB_TEST_FAKE_API_H

#include "kube_config.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_MAX_REQ 64

struct fake_req {
	char method[8];
	char url[256];
	char body[4096];
};

/* Fills code and body for a request; body is copied. */
typedef void (*fake_route_fn)(const struct fake_req *req, unsigned int *code, char *body,
                              size_t body_len);

static struct {
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t lock;
	struct fake_req reqs[FAKE_MAX_REQ];
	int n;
	fake_route_fn route;
	char dir[64];
} fake;

struct fake_conn {
	struct fake_req req;
	size_t len;
};

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls)
{
	struct fake_conn *fc = *con_cls;
	struct MHD_Response *r;
	unsigned int code = 404;
	char body[8192] = "{}";
	enum MHD_Result ret;

	if (fc == NULL) {
		fc = calloc(1, sizeof(*fc));
		if (fc == NULL)
			return MHD_NO;
		snprintf(fc->req.method, sizeof(fc->req.method), "%s", method);
		snprintf(fc->req.url, sizeof(fc->req.url), "%s", url);
		*con_cls = fc;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t room = sizeof(fc->req.body) - fc->len - 1;
		size_t n = *upload_size < room ? *upload_size : room;

		memcpy(fc->req.body + fc->len, upload, n);
		fc->len += n;
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&fake.lock);
	if (fake.n < FAKE_MAX_REQ)
		fake.reqs[fake.n++] = fc->req;
	pthread_mutex_unlock(&fake.lock);
	fake.route(&fc->req, &code, body, sizeof(body));
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static void fake_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

/* Starts the server and loads a kubeconfig for it into *out. 0 on success. */
static inline int fake_start(fake_route_fn route, struct kube_config **out)
{
	const union MHD_DaemonInfo *info;
	char path[128];
	struct err e = {0};
	FILE *f;

	pthread_mutex_init(&fake.lock, NULL);
	fake.route = route;
	fake.n = 0;
	fake.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
	                          0, NULL, NULL, fake_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED,
	                          fake_completed, NULL, MHD_OPTION_END);
	if (fake.d == NULL)
		return -1;
	info = MHD_get_daemon_info(fake.d, MHD_DAEMON_INFO_BIND_PORT);
	fake.port = info->port;
	snprintf(fake.dir, sizeof(fake.dir), "/tmp/fakeapi.XXXXXX");
	if (mkdtemp(fake.dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/kubeconfig", fake.dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
	        "current-context: c\nclusters: [{name: k, cluster: {server: "
	        "'http://127.0.0.1:%d'}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
	        "users: [{name: u, user: {token: t}}]\n",
	        fake.port);
	fclose(f);
	return kube_config_load(out, path, NULL, &e);
}

static inline void fake_stop(void)
{
	char cmd[128];

	MHD_stop_daemon(fake.d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fake.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fake.dir);
}

/* The kubeconfig of the server, for tests that start it with FAKE_GROUP_SETUP. */
static struct kube_config *fake_cfg;

/* A cmocka group setup: starts the server with route into fake_cfg. */
#define FAKE_GROUP_SETUP(name, route)                                                              \
	static int name(void **state)                                                              \
	{                                                                                          \
		(void)state;                                                                       \
		return fake_start(route, &fake_cfg);                                               \
	}

/* The matching group teardown. */
static inline int fake_teardown(void **state)
{
	(void)state;
	kube_config_free(fake_cfg);
	fake_stop();
	return 0;
}

static inline void fake_reset(void)
{
	pthread_mutex_lock(&fake.lock);
	fake.n = 0;
	pthread_mutex_unlock(&fake.lock);
}

#endif
