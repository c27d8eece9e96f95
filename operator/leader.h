/*
 * leader.h - leader election with a coordination.k8s.io/v1 Lease, as
 * client-go's leaderelection does it.
 *
 * A candidate tries every retry period to take the Lease: when it does not
 * exist (create), when it has no holder, or when the holder has not
 * renewed it for leaseDurationSeconds as seen on the local clock (the time
 * this process last saw the Lease record change, not the renewTime written
 * by another host's clock). The leader renews every retry period; when no
 * renewal succeeded for the renew deadline it stops leading (and becomes a
 * candidate again). On a clean stop the leader releases the Lease by
 * clearing holderIdentity, so a standby takes over at once.
 *
 * The elector runs one thread with its own kube_client; leader_is_leader
 * may be read from any thread and also turns false on its own once the
 * last renewal is older than the renew deadline.
 */
#ifndef APPDB_LEADER_H
#define APPDB_LEADER_H

#include "err.h"
#include "kube_config.h"

#include <jansson.h>
#include <stddef.h>

struct leader_opts {
	const char *ns;        /* Lease namespace */
	const char *name;      /* Lease name */
	const char *identity;  /* NULL: leader_default_identity() */
	double lease_seconds;  /* 15 */
	double renew_deadline; /* 10 */
	double retry_period;   /* 2 */
	double (*clock)(void); /* monotonic seconds; NULL: CLOCK_MONOTONIC */
	/* Called on the elector thread when leadership starts (1) or ends (0). */
	void (*on_change)(void *ctx, int leading);
	void *ctx;
};

struct leader;

/* cfg is borrowed (shared, thread-safe). Strings in opts are copied. */
int leader_new(struct leader **out, struct kube_config *cfg, const struct leader_opts *opts,
               struct err *err);

/* Starts the elector thread. */
int leader_start(struct leader *l, struct err *err);

/*
 * Stops the elector thread. release: when leading, clear holderIdentity so
 * another replica takes over at once (0 simulates a crash, for tests).
 */
void leader_stop(struct leader *l, int release);

void leader_free(struct leader *l);

/* 1 while this process leads. Any thread. */
int leader_is_leader(struct leader *l);

/* The identity in use (borrowed). */
const char *leader_identity(const struct leader *l);

/*
 * One attempt to acquire or renew, on the calling thread (the elector's
 * step; exported for tests). Returns 0 when this process holds the Lease
 * afterwards, APPDB_ECONFLICT when another holder has it, or the client's
 * code.
 */
int leader_try_acquire_or_renew(struct leader *l, struct err *err);

/* Clears holderIdentity when this process holds the Lease. */
int leader_release(struct leader *l, struct err *err);

/* POD_NAME when set, else "<hostname>_<pid>", into out. */
void leader_default_identity(char *out, size_t len);

#endif
