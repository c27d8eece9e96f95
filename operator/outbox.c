/*
 * outbox.c - Events, and the status patches and Events kept for later.
 */
#include "outbox.h"

#include "clock.h"
#include "events.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

int outbox_flush(struct ctl *c, struct kube_client *kc, const struct log_ctx *log, const char *key,
                 const char *ns, const char *name)
{
	json_t *status = NULL, *events = NULL;
	struct err err = {0};
	int rc = 0;

	if (!store_pending(&status, &events, c->store, key))
		return 0;
	while (rc == 0 && json_array_size(status) > 0) {
		err_clear(&err);
		rc = kube_patch_appdb_status(NULL, kc, ns, name, json_array_get(status, 0), &err);
		if (rc == 0 || rc == APPDB_ENOTFOUND || rc == APPDB_EINVAL) {
			rc = 0;
			json_array_remove(status, 0);
		}
	}
	while (rc == 0 && json_array_size(events) > 0) {
		err_clear(&err);
		rc = events_emit(c->events, kc, json_array_get(events, 0), &err);
		if (rc == 0 || rc == APPDB_EINVAL) {
			rc = 0;
			json_array_remove(events, 0);
		}
	}
	store_set_pending(c->store, log, key, status, events);
	if (rc == 0)
		log_info(log, "sent the status and Events of %s kept while the API was away", key);
	else
		log_warn(
		    log,
		    "could not send the status and Events kept for %s (%s); kept to send later",
		    key, err.msg);
	json_decref(status);
	json_decref(events);
	return rc != 0 && kube_client_answered(kc) ? rc : 0;
}

int outbox_run_event(struct ctl *c, struct kube_client *kc, const struct log_ctx *log,
                     const char *key, const struct appdb *db, const struct run_result *r)
{
	struct event_ref ref = {db->ns, db->name, db->uid[0] ? db->uid : NULL,
	                        db->resource_version};
	const char *type = r->result == RESULT_CHANGED ? EVENT_NORMAL : EVENT_WARNING;
	json_t *ev = NULL;
	struct err err = {0};
	char msg[1200];
	int rc;

	if (r->result == RESULT_UNCHANGED)
		return 0;
	if (r->result == RESULT_CHANGED)
		snprintf(msg, sizeof(msg), "database %s provisioned: %zu action(s)",
		         db->db_name ? db->db_name : "", r->n_actions);
	else
		snprintf(msg, sizeof(msg), "%s", r->message ? r->message : r->reason);
	if (events_build(&ev, c->events, &ref, type, r->reason, msg, r->run_id, clock_wall()) != 0)
		return 0;
	rc = events_emit(c->events, kc, ev, &err);
	if (rc == APPDB_EINVAL) {
		log_error(log, "the API refused the Event for %s: %s", key, err.msg);
		rc = 0;
	} else if (rc != 0) {
		log_warn(log, "could not send the Event for %s (%s); kept to send later", key,
		         err.msg);
		store_keep(c->store, log, key, STORE_EVENTS, ev);
		if (!kube_client_answered(kc))
			rc = 0; /* the list that finds the API back sends it */
	}
	json_decref(ev);
	return rc;
}

void outbox_deletion_event(struct ctl *c, struct kube_client *kc, const struct log_ctx *log,
                           const char *key, const struct appdb *db, const struct run_result *r)
{
	struct event_ref ref = {db->ns, db->name, db->uid[0] ? db->uid : NULL, NULL};
	json_t *ev = NULL;
	struct err err = {0};
	char msg[512];

	snprintf(msg, sizeof(msg), "AppDatabase deleted; database %s and its roles are kept",
	         db->db_name ? db->db_name : "");
	if (events_build(&ev, c->events, &ref, EVENT_NORMAL, "Deleted", msg, r->run_id,
	                 clock_wall()) == 0 &&
	    events_emit(c->events, kc, ev, &err) != 0)
		log_warn(log, "could not send the deletion Event of %s: %s", key, err.msg);
	json_decref(ev);
}
