/*
 * engine_resync.c - the engine's part of the two-tier resync (resync.h):
 * the digest a converged run records, and the instance-wide check of many
 * resources on the engine's admin connection.
 */
#include "engine_int.h"

#include "log.h"
#include "pg_instance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void engine_set_record_digests(struct engine *eng, int on)
{
	eng->record_digests = on;
}

/* Records the digest of a run that converged (locked, nothing left to do). */
void rec_record_digest(struct rec *r)
{
	struct pg_instance_item item = {0};
	const char **roles;
	struct err err = {0};
	size_t i, n = 0;

	if (!r->eng->record_digests || r->mode != ENGINE_APPLY || r->awaiting || r->admin == NULL ||
	    !r->locked)
		return;
	roles = calloc(r->db->n_users + 1, sizeof(*roles));
	if (roles == NULL)
		return;
	roles[n++] = r->db->owner;
	for (i = 0; i < r->db->n_users; i++)
		roles[n++] = r->db->users[i].name;
	item.db = r->db->db_name;
	item.resource = r->resource;
	item.roles = roles;
	item.n_roles = n;
	if (pg_instance_digests(&r->out->instance_digest, r->admin, &item, 1, &err) != 0)
		log_warn(&r->log, "could not record the instance-wide digest: %s", err.msg);
	free(roles);
}

int engine_instance_digests(struct engine *eng, const struct instance_config *in, char (*out)[33],
                            const struct pg_instance_item *items, size_t n, struct err *err)
{
	static const struct appdb none = {.ns = "", .name = ""};
	struct run_result res;
	struct rec r;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	memset(&res, 0, sizeof(res));
	r.eng = eng;
	r.db = &none;
	r.out = &res;
	r.inst = in;
	engine_new_run_id(res.run_id, sizeof(res.run_id));
	r.log.run_id = res.run_id;
	snprintf(r.app_name, sizeof(r.app_name), "appdb-operator/%s", res.run_id);
	if (!in->iam_auth && (rc = secret_resolve(&r.admin_pw, eng->resolver, &in->admin_password,
	                                          "", in->admin_user, err)) != 0)
		goto out;
	step_connect(&r);
	if (r.done) {
		rc = err_set(err, APPDB_ETRANSIENT, "%s",
		             res.message != NULL ? res.message : "could not connect");
		goto out;
	}
	rc = pg_instance_digests(out, r.admin, items, n, err);
	if (rc == APPDB_ETRANSIENT)
		rec_drop_admin(&r);
out:
	secret_clear(&r.admin_pw);
	run_result_clear(&res);
	return rc;
}
