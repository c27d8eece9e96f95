/*
 * leader.c - the Lease elector.
 */
#include "leader.h"
#include "clock.h"
#include "kube_client.h"
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct leader {
	struct kube_config *cfg;
	struct kube_client *kc;
	char *ns, *name, *identity;
	double lease_seconds, renew_deadline, retry_period;
	double (*clock)(void);
	void (*on_change)(void *ctx, int leading);
	void *ctx;

	/* What we last saw of the Lease, and when (local clock). */
	char *observed; /* holder|renewTime|transitions|duration */
	double observed_time;

	int held_by_other; /* the last attempt found another live holder */
	atomic_int leading;
	_Atomic double last_renew; /* local time of the last successful acquire/renew */
	pthread_t thread;
	int running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stopping;
};

void leader_default_identity(char *out, size_t len)
{
	const char *pod = getenv("POD_NAME");
	char host[256] = "localhost";

	if (pod != NULL && pod[0] != '\0') {
		snprintf(out, len, "%s", pod);
		return;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, len, "%s_%ld", host, (long)getpid());
}

int leader_new(struct leader **out, struct kube_config *cfg, const struct leader_opts *o,
               struct err *err)
{
	struct leader *l = NULL;
	char ident[300];
	int rc;

	*out = NULL;
	if (o->ns == NULL || o->name == NULL || o->ns[0] == '\0' || o->name[0] == '\0')
		return err_set(err, APPDB_EINVAL,
		               "leader election: lease namespace and name required");
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return APPDB_ENOMEM;
	if (o->identity != NULL && o->identity[0] != '\0')
		snprintf(ident, sizeof(ident), "%s", o->identity);
	else
		leader_default_identity(ident, sizeof(ident));
	l->cfg = cfg;
	l->ns = strdup(o->ns);
	l->name = strdup(o->name);
	l->identity = strdup(ident);
	l->lease_seconds = o->lease_seconds > 0 ? o->lease_seconds : 15;
	l->renew_deadline = o->renew_deadline > 0 ? o->renew_deadline : 10;
	l->retry_period = o->retry_period > 0 ? o->retry_period : 2;
	l->clock = o->clock != NULL ? o->clock : clock_mono;
	l->on_change = o->on_change;
	l->ctx = o->ctx;
	atomic_init(&l->leading, 0);
	atomic_init(&l->last_renew, -1e18);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	if (l->ns == NULL || l->name == NULL || l->identity == NULL) {
		leader_free(l);
		return APPDB_ENOMEM;
	}
	if (l->renew_deadline >= l->lease_seconds) {
		rc = err_set(err, APPDB_EINVAL,
		             "leader election: renew deadline (%g s) must be shorter than the "
		             "lease (%g s)",
		             l->renew_deadline, l->lease_seconds);
		leader_free(l);
		return rc;
	}
	rc = kube_client_new(&l->kc, cfg, err);
	if (rc != 0) {
		leader_free(l);
		return rc;
	}
	/* A request must not outlive the renew deadline. */
	kube_client_set_timeout(
	    l->kc, (long)(l->renew_deadline / 2) > 0 ? (long)(l->renew_deadline / 2) : 1);
	*out = l;
	return 0;
}

void leader_free(struct leader *l)
{
	if (l == NULL)
		return;
	if (l->running)
		leader_stop(l, 1);
	kube_client_free(l->kc);
	free(l->ns);
	free(l->name);
	free(l->identity);
	free(l->observed);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l);
}

const char *leader_identity(const struct leader *l)
{
	return l->identity;
}

int leader_is_leader(struct leader *l)
{
	if (!atomic_load(&l->leading))
		return 0;
	return l->clock() - atomic_load(&l->last_renew) < l->renew_deadline;
}

/* Notes a change of leadership and tells the callback. Elector thread. */
static void set_leading(struct leader *l, int leading)
{
	if (atomic_exchange(&l->leading, leading) == leading)
		return;
	if (leading)
		log_info(NULL, "leader election: %s now leads (lease %s/%s)", l->identity, l->ns,
		         l->name);
	else
		log_warn(NULL, "leader election: %s stopped leading (lease %s/%s)", l->identity,
		         l->ns, l->name);
	if (l->on_change != NULL)
		l->on_change(l->ctx, leading);
}

/* The Lease spec we write as holder. */
static json_t *holder_spec(struct leader *l, const char *acquire, const char *renew,
                           json_int_t transitions)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", l->identity,
	                 "leaseDurationSeconds", (json_int_t)(l->lease_seconds + 0.5),
	                 "acquireTime", acquire, "renewTime", renew, "leaseTransitions",
	                 transitions);
}

/* Records what the Lease says now; a change restarts the expiry clock. */
static void observe(struct leader *l, json_t *spec)
{
	char buf[1024];
	const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
	const char *renew = json_string_value(json_object_get(spec, "renewTime"));

	snprintf(buf, sizeof(buf), "%s|%s|%lld|%lld", holder != NULL ? holder : "",
	         renew != NULL ? renew : "",
	         (long long)json_integer_value(json_object_get(spec, "leaseTransitions")),
	         (long long)json_integer_value(json_object_get(spec, "leaseDurationSeconds")));
	if (l->observed == NULL || strcmp(l->observed, buf) != 0) {
		char *n = strdup(buf);

		if (n != NULL) {
			free(l->observed);
			l->observed = n;
		}
		l->observed_time = l->clock();
	}
}

int leader_try_acquire_or_renew(struct leader *l, struct err *err)
{
	json_t *lease = NULL, *spec, *newspec = NULL, *updated = NULL;
	char now[40];
	const char *holder, *acquire;
	json_int_t transitions, duration;
	int rc;

	l->held_by_other = 0;
	clock_format_micro(now, sizeof(now), clock_wall());
	rc = kube_get_lease(&lease, l->kc, l->ns, l->name, err);
	if (rc == APPDB_ENOTFOUND) {
		json_t *obj;

		err_clear(err);
		newspec = holder_spec(l, now, now, 0);
		obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O}", "apiVersion",
		                "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
		                l->name, "namespace", l->ns, "spec", newspec);
		if (obj == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
		rc = kube_create_lease(&updated, l->kc, l->ns, obj, err);
		json_decref(obj);
		if (rc == 0)
			observe(l, json_object_get(updated, "spec"));
		goto out;
	}
	if (rc != 0)
		goto out;
	spec = json_object_get(lease, "spec");
	observe(l, spec);
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	duration = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	if (duration <= 0)
		duration = (json_int_t)(l->lease_seconds + 0.5);
	if (holder != NULL && holder[0] != '\0' && strcmp(holder, l->identity) != 0 &&
	    l->observed_time + (double)duration > l->clock()) {
		l->held_by_other = 1;
		rc = err_set(err, APPDB_ECONFLICT, "lease %s/%s is held by %s", l->ns, l->name,
		             holder);
		goto out;
	}
	transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
	acquire = json_string_value(json_object_get(spec, "acquireTime"));
	if (holder == NULL || strcmp(holder, l->identity) != 0) {
		/* Taking over: a new acquireTime and one more transition. */
		transitions++;
		acquire = now;
	}
	newspec = holder_spec(l, acquire != NULL ? acquire : now, now, transitions);
	if (newspec == NULL || json_object_set(lease, "spec", newspec) != 0) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	/* metadata.resourceVersion stays: the update is refused (409) if someone was faster. */
	rc = kube_update_lease(&updated, l->kc, l->ns, l->name, lease, err);
	if (rc == 0)
		observe(l, json_object_get(updated, "spec"));
out:
	if (rc == 0)
		atomic_store(&l->last_renew, l->clock());
	json_decref(lease);
	json_decref(newspec);
	json_decref(updated);
	return rc;
}

int leader_release(struct leader *l, struct err *err)
{
	json_t *lease = NULL, *spec;
	const char *holder;
	char now[40];
	int rc;

	rc = kube_get_lease(&lease, l->kc, l->ns, l->name, err);
	if (rc != 0)
		goto out;
	spec = json_object_get(lease, "spec");
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	if (holder == NULL || strcmp(holder, l->identity) != 0)
		goto out;
	clock_format_micro(now, sizeof(now), clock_wall());
	/* As client-go: no holder, a one-second lease, renewed now. */
	if (json_object_set_new(spec, "holderIdentity", json_string("")) != 0 ||
	    json_object_set_new(spec, "leaseDurationSeconds", json_integer(1)) != 0 ||
	    json_object_set_new(spec, "renewTime", json_string(now)) != 0) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	rc = kube_update_lease(NULL, l->kc, l->ns, l->name, lease, err);
	if (rc == 0)
		log_info(NULL, "leader election: %s released lease %s/%s", l->identity, l->ns,
		         l->name);
out:
	json_decref(lease);
	return rc;
}

/* Sleeps up to seconds unless stopping; returns 1 when stopping. */
static int nap(struct leader *l, double seconds)
{
	struct timespec ts;
	int stopping;

	clock_deadline(&ts, CLOCK_REALTIME, seconds);
	pthread_mutex_lock(&l->lock);
	if (!l->stopping)
		pthread_cond_timedwait(&l->cond, &l->lock, &ts);
	stopping = l->stopping;
	pthread_mutex_unlock(&l->lock);
	return stopping;
}

/* The elector: candidate until acquired, then leader until a renewal deadline passes. */
static void *elector(void *p)
{
	struct leader *l = p;
	unsigned int seed = (unsigned int)getpid() ^ (unsigned int)time(NULL);
	double wait;

	for (;;) {
		struct err e = {0};
		int rc;

		pthread_mutex_lock(&l->lock);
		rc = l->stopping;
		pthread_mutex_unlock(&l->lock);
		if (rc)
			break;
		rc = leader_try_acquire_or_renew(l, &e);
		if (rc == 0) {
			set_leading(l, 1);
		} else if (atomic_load(&l->leading)) {
			/* Another holder took it: stop at once; otherwise retry until the deadline.
			 */
			if (l->held_by_other ||
			    l->clock() - atomic_load(&l->last_renew) >= l->renew_deadline) {
				log_warn(NULL, "leader election: could not renew lease %s/%s: %s",
				         l->ns, l->name, e.msg);
				set_leading(l, 0);
			}
		} else if (rc != APPDB_ECONFLICT) {
			log_debug(NULL, "leader election: %s", e.msg);
		}
		/* Candidates wait the retry period with up to 20% jitter, as client-go does. */
		wait = l->retry_period;
		if (!atomic_load(&l->leading))
			wait += l->retry_period * 0.2 * ((double)rand_r(&seed) / (double)RAND_MAX);
		if (nap(l, wait))
			break;
	}
	return NULL;
}

int leader_start(struct leader *l, struct err *err)
{
	if (l->running)
		return 0;
	l->stopping = 0;
	if (pthread_create(&l->thread, NULL, elector, l) != 0)
		return err_set(err, APPDB_EINTERNAL, "leader election: could not start a thread");
	l->running = 1;
	return 0;
}

void leader_stop(struct leader *l, int release)
{
	struct err e = {0};

	if (l->running) {
		pthread_mutex_lock(&l->lock);
		l->stopping = 1;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
		l->running = 0;
	}
	if (atomic_load(&l->leading)) {
		if (release && leader_release(l, &e) != 0)
			log_warn(NULL, "leader election: could not release lease %s/%s: %s", l->ns,
			         l->name, e.msg);
		set_leading(l, 0);
	}
}
