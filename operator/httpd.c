/*
 * httpd.c - /healthz, /readyz and /metrics on libmicrohttpd, and the
 * heartbeats behind /healthz.
 */
#include "httpd.h"
#include "clock.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct loop {
	char name[48];
	double max_age;
	double last;
	int used;
};

struct httpd_health {
	pthread_mutex_t lock;
	double (*clock)(void);
	struct loop loops[HTTPD_MAX_LOOPS];
	int ready;
};

struct httpd {
	struct MHD_Daemon *daemon;
	int port;
	struct httpd_health *health;
	struct metrics *metrics;
};

int httpd_health_new(struct httpd_health **out, double (*clock)(void))
{
	struct httpd_health *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return APPDB_ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	h->clock = clock != NULL ? clock : clock_mono;
	*out = h;
	return 0;
}

void httpd_health_free(struct httpd_health *h)
{
	if (h == NULL)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int httpd_health_register(struct httpd_health *h, const char *name, double max_age, int *out)
{
	int i, rc = APPDB_ELIMIT;

	*out = -1;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < HTTPD_MAX_LOOPS; i++) {
		if (h->loops[i].used)
			continue;
		h->loops[i].used = 1;
		snprintf(h->loops[i].name, sizeof(h->loops[i].name), "%s", name);
		h->loops[i].max_age = max_age;
		h->loops[i].last = h->clock();
		*out = i;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void httpd_health_beat(struct httpd_health *h, int id)
{
	if (id < 0 || id >= HTTPD_MAX_LOOPS)
		return;
	pthread_mutex_lock(&h->lock);
	h->loops[id].last = h->clock();
	pthread_mutex_unlock(&h->lock);
}

#ifdef APPDB_TEST_API /* the unit tests' view */
void httpd_health_unregister(struct httpd_health *h, int id)
{
	if (id < 0 || id >= HTTPD_MAX_LOOPS)
		return;
	pthread_mutex_lock(&h->lock);
	h->loops[id].used = 0;
	pthread_mutex_unlock(&h->lock);
}
#endif

void httpd_health_set_ready(struct httpd_health *h, int ready)
{
	pthread_mutex_lock(&h->lock);
	h->ready = ready;
	pthread_mutex_unlock(&h->lock);
}

int httpd_health_ready(struct httpd_health *h)
{
	int r;

	pthread_mutex_lock(&h->lock);
	r = h->ready;
	pthread_mutex_unlock(&h->lock);
	return r;
}

int httpd_health_alive(struct httpd_health *h, char *why, size_t why_len)
{
	double now;
	int i, alive = 1;

	pthread_mutex_lock(&h->lock);
	now = h->clock();
	for (i = 0; i < HTTPD_MAX_LOOPS && alive; i++) {
		struct loop *l = &h->loops[i];

		if (l->used && now - l->last > l->max_age) {
			alive = 0;
			snprintf(why, why_len, "loop %s: no heartbeat for %.0f s (limit %.0f s)",
			         l->name, now - l->last, l->max_age);
		}
	}
	pthread_mutex_unlock(&h->lock);
	return alive;
}

/* Queues a response with body (copied). */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned int code, const char *ctype,
                              const char *body, size_t len)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* The request handler. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct httpd *d = cls;
	char why[256], *text = NULL;
	size_t len = 0;
	enum MHD_Result ret;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer(c, 405, "text/plain", "method not allowed\n", 19);
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0) {
		if (httpd_health_alive(d->health, why, sizeof(why)))
			return answer(c, 200, "text/plain", "ok\n", 3);
		strncat(why, "\n", sizeof(why) - strlen(why) - 1);
		return answer(c, 500, "text/plain", why, strlen(why));
	}
	if (strcmp(url, "/readyz") == 0) {
		if (httpd_health_ready(d->health))
			return answer(c, 200, "text/plain", "ok\n", 3);
		return answer(c, 503, "text/plain", "not ready\n", 10);
	}
	if (strcmp(url, "/metrics") == 0) {
		if (d->metrics == NULL || metrics_render(&text, &len, d->metrics) != 0)
			return answer(c, 500, "text/plain", "could not render metrics\n", 25);
		ret = answer(c, 200, METRICS_CONTENT_TYPE, text, len);
		free(text);
		return ret;
	}
	return answer(c, 404, "text/plain", "not found\n", 10);
}

int httpd_start(struct httpd **out, int port, struct httpd_health *health, struct metrics *m,
                struct err *err)
{
	struct httpd *d = NULL;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;

	*out = NULL;
	if (port < 0 || port > 65535)
		return err_set(err, APPDB_EINVAL, "httpPort: %d is not a port", port);
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return APPDB_ENOMEM;
	d->health = health;
	d->metrics = m;
	/* Both address families when the host has IPv6, else IPv4 only. */
	d->daemon = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, (uint16_t)port, NULL, NULL, handle,
	                             d, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	                             MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	if (d->daemon == NULL)
		d->daemon =
		    MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, d,
		                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
		                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	if (d->daemon == NULL) {
		free(d);
		return err_set(err, APPDB_EIO, "could not listen on port %d", port);
	}
	info = MHD_get_daemon_info(d->daemon, MHD_DAEMON_INFO_BIND_PORT);
	d->port = info != NULL ? info->port : port;
	*out = d;
	return 0;
}

int httpd_port(const struct httpd *d)
{
	return d->port;
}

void httpd_stop(struct httpd *d)
{
	if (d == NULL)
		return;
	MHD_stop_daemon(d->daemon);
	free(d);
}
