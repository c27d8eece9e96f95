/*
 * engine_rotation.c - rotation: alternating (DESIGN 11.3, AWS's
 * alternating-users strategy). Such a user is two roles, <name> and
 * <name>_clone, planned as two desired users with identical access. The
 * current secret version's username says which of them gets the current
 * password; the other keeps the password (and the passwordVersion in its
 * marker) it has, so an application still holding the previous version
 * logs in until the rotation after.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The desired user named name, or NULL. */
static struct desired_user *duser(struct rec *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->desired.n_users; i++)
		if (strcmp(r->dusers[i].name, name) == 0)
			return &r->dusers[i];
	return NULL;
}

int rec_alternating_desired(struct rec *r)
{
	const struct appdb *db = r->db;
	size_t i, n = db->n_users;

	r->clones = calloc(n + 1, sizeof(*r->clones));
	r->kept_versions = calloc(n + 1, sizeof(*r->kept_versions));
	if (r->clones == NULL || r->kept_versions == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < n; i++) {
		struct desired_user *d;

		if (db->users[i].rotation != ROTATION_ALTERNATING)
			continue;
		if (asprintf(&r->clones[i], "%s%s", db->users[i].name, ROTATION_CLONE_SUFFIX) < 0) {
			r->clones[i] = NULL;
			return APPDB_ENOMEM;
		}
		d = &r->dusers[n + r->n_clones++];
		*d = r->dusers[i];
		d->name = r->clones[i];
	}
	return 0;
}

const char *rec_current_login(const struct rec *r, size_t i)
{
	const char *u = r->user_pw != NULL ? r->user_pw[i].username : NULL;

	if (r->clones != NULL && r->clones[i] != NULL && u != NULL && strcmp(u, r->clones[i]) == 0)
		return r->clones[i];
	return r->db->users[i].name;
}

int rec_check_username(struct rec *r, size_t i)
{
	const struct appdb_user *u = &r->db->users[i];
	const char *named = r->user_pw[i].username;
	char clone[IDENT_BUF];

	snprintf(clone, sizeof(clone), "%s%s", u->name, ROTATION_CLONE_SUFFIX);
	if (named == NULL || strcmp(named, u->name) == 0 || strcmp(named, clone) == 0)
		return 0;
	return rec_outcome(r, RESULT_BLOCKED, REASON_SECRET_MISSING,
	                   "password of user %s: the secret names user \"%.64s\", not \"%s\" or "
	                   "\"%s\"",
	                   u->name, named, u->name, clone);
}

int rec_is_clone(const struct rec *r, const char *name)
{
	size_t i;

	for (i = 0; r->clones != NULL && i < r->db->n_users; i++)
		if (r->clones[i] != NULL && strcmp(r->clones[i], name) == 0)
			return 1;
	return 0;
}

/* The passwordVersion a role's marker records (owned), or NULL. */
static char *recorded_version(const struct obs_role *role)
{
	json_t *c = role->comment != NULL ? json_loads(role->comment, 0, NULL) : NULL;
	const char *pv = json_string_value(json_object_get(c, "passwordVersion"));
	char *s = pv != NULL ? strdup(pv) : NULL;

	json_decref(c);
	return s;
}

int rec_alternating_passwords(struct rec *r, size_t i)
{
	const char *version = r->user_pw[i].version;
	const char *cur_name = rec_current_login(r, i);
	const char *other_name = cur_name == r->clones[i] ? r->db->users[i].name : r->clones[i];
	struct desired_user *cur = duser(r, cur_name), *other = duser(r, other_name);
	const struct obs_role *cur_role = observed_role(&r->obs, cur_name);
	const struct obs_role *other_role = observed_role(&r->obs, other_name);

	if (cur == NULL || other == NULL)
		return 0; /* a disable run plans no users */
	cur->password_version = version;
	if (cur_role != NULL) {
		char *pv = recorded_version(cur_role);

		cur->set_password = version == NULL || pv == NULL || strcmp(pv, version) != 0;
		free(pv);
	}
	other->set_password = 0;
	other->password_version = version; /* a new role starts with the current password */
	if (other_role != NULL) {
		free(r->kept_versions[i]);
		r->kept_versions[i] = recorded_version(other_role);
		other->password_version = r->kept_versions[i];
	}
	return 0;
}

const char *rec_password_of(const struct rec *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->db->n_users; i++)
		if (strcmp(r->db->users[i].name, name) == 0 ||
		    (r->clones != NULL && r->clones[i] != NULL && strcmp(r->clones[i], name) == 0))
			return r->user_pw[i].value;
	return NULL;
}

int rec_alternating_guardrails(struct rec *r)
{
	size_t i;

	for (i = 0; r->clones != NULL && i < r->db->n_users; i++) {
		const struct obs_role *role;
		int m;

		if (r->clones[i] == NULL || (role = observed_role(&r->obs, r->clones[i])) == NULL)
			continue;
		m = plan_marker_match(role->comment, &r->desired, NULL);
		if (m == 0)
			return rec_outcome(r, RESULT_BLOCKED, REASON_ROLE_NOT_MANAGED,
			                   "role %s exists and is not managed by appdb-operator",
			                   r->clones[i]);
		if (m == 3)
			return rec_outcome(r, RESULT_BLOCKED, REASON_ROLE_CLAIMED,
			                   "role %s belongs to another AppDatabase", r->clones[i]);
	}
	return 0;
}

void rec_alternating_clear(struct rec *r)
{
	size_t i;

	for (i = 0; i < r->db->n_users; i++) {
		if (r->clones != NULL)
			free(r->clones[i]);
		if (r->kept_versions != NULL)
			free(r->kept_versions[i]);
	}
	free(r->clones);
	free(r->kept_versions);
	r->clones = NULL;
	r->kept_versions = NULL;
	r->n_clones = 0;
}
