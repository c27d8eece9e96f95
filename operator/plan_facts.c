/*
 * plan_facts.c - what the plan reads and writes besides actions: the
 * observed facts and roles, the plan's warnings, and the markers (role and
 * database comments) that say which resource owns what.
 */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int observed_has(const struct observed *o, const char *fmt, ...)
{
	char key[1024];
	va_list ap;

	if (o->facts == NULL)
		return 0;
	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	return json_object_get(o->facts, key) != NULL;
}

int observed_add(struct observed *o, const char *fact)
{
	if (o->facts == NULL && (o->facts = json_object()) == NULL)
		return APPDB_ENOMEM;
	return json_object_set_new(o->facts, fact, json_true()) == 0 ? 0 : APPDB_ENOMEM;
}

const char *observed_rest(const struct observed *o, const char *prefix)
{
	const char *key;
	size_t n = strlen(prefix);
	json_t *v;

	if (o->facts == NULL)
		return NULL;
	json_object_foreach (o->facts, key, v) {
		if (strncmp(key, prefix, n) == 0)
			return key + n;
	}
	return NULL;
}

int plan_warn(struct plan *p, const char *text)
{
	char **w = realloc(p->warnings, (p->n_warnings + 1) * sizeof(*w));

	if (w == NULL)
		return APPDB_ENOMEM;
	p->warnings = w;
	if ((w[p->n_warnings] = strdup(text)) == NULL)
		return APPDB_ENOMEM;
	p->n_warnings++;
	return 0;
}

const struct obs_role *observed_role(const struct observed *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n_roles; i++)
		if (strcmp(o->roles[i].name, name) == 0)
			return &o->roles[i];
	return NULL;
}

void observed_clear(struct observed *o)
{
	size_t i;

	for (i = 0; i < o->n_roles; i++) {
		free(o->roles[i].name);
		free(o->roles[i].comment);
	}
	free(o->roles);
	free(o->admin);
	free(o->db_owner);
	free(o->db_comment);
	json_decref(o->facts);
	memset(o, 0, sizeof(*o));
}

char *plan_marker(const struct desired *d, const struct desired_user *user)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "managedBy", "appdb-operator", "resource",
	                      d->resource, "uid", d->uid);
	char *s = NULL;

	if (o == NULL)
		return NULL;
	if (user != NULL && user->password_version != NULL)
		json_object_set_new(o, "passwordVersion", json_string(user->password_version));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

char *plan_retired_marker(const char *comment, const char *now)
{
	json_t *c = comment != NULL ? json_loads(comment, 0, NULL) : NULL;
	char *s = NULL;

	if (json_is_object(c) && (json_object_get(c, "retiredAt") != NULL ||
	                          json_object_set_new(c, "retiredAt", json_string(now)) == 0))
		s = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(c);
	return s;
}

int plan_marker_match(const char *comment, const struct desired *d, const struct desired_user *user)
{
	json_t *c;
	const char *managed, *resource, *uid, *pv;
	int rc;

	if (comment == NULL)
		return 0;
	c = json_loads(comment, 0, NULL);
	managed = json_string_value(json_object_get(c, "managedBy"));
	resource = json_string_value(json_object_get(c, "resource"));
	uid = json_string_value(json_object_get(c, "uid"));
	pv = json_string_value(json_object_get(c, "passwordVersion"));
	if (!json_is_object(c) || managed == NULL || strcmp(managed, "appdb-operator") != 0 ||
	    resource == NULL)
		rc = 0;
	else if (strcmp(resource, d->resource) != 0)
		rc = 3;
	else if (uid == NULL || strcmp(uid, d->uid) != 0)
		rc = 2;
	else if (user != NULL && user->password_version != NULL &&
	         (pv == NULL || strcmp(pv, user->password_version) != 0))
		rc = 2;
	else if (user != NULL && json_object_get(c, "retiredAt") != NULL)
		rc = 2; /* back in the spec: enabled again */
	else
		rc = 1;
	json_decref(c);
	return rc;
}
