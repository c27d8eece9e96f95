/*
 * finalizer.c - the disable-on-delete finalizer on an AppDatabase: read from
 * the object the store holds, added or removed with a merge patch.
 */
#include "finalizer.h"

#include "model.h"

#include <string.h>

int finalizer_present(json_t *obj)
{
	json_t *list = json_object_get(json_object_get(obj, "metadata"), "finalizers"), *v;
	size_t i;

	json_array_foreach (list, i, v) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), FINALIZER_DISABLE_ON_DELETE) == 0)
			return 1;
	}
	return 0;
}

int finalizer_set(struct kube_client *kc, const struct log_ctx *log, const struct appdb *db,
                  json_t *obj, int add)
{
	json_t *cur = json_object_get(json_object_get(obj, "metadata"), "finalizers");
	json_t *list = json_array(), *patch = NULL, *v;
	struct err err = {0};
	size_t i;
	int rc = APPDB_ENOMEM;

	if (list == NULL)
		return rc;
	json_array_foreach (cur, i, v) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), FINALIZER_DISABLE_ON_DELETE) != 0 &&
		    json_array_append(list, v) != 0)
			goto out;
	}
	if (add && json_array_append_new(list, json_string(FINALIZER_DISABLE_ON_DELETE)) != 0)
		goto out;
	patch = json_pack("{s:{s:O, s:s?}}", "metadata", "finalizers", list, "resourceVersion",
	                  db->resource_version);
	if (patch == NULL)
		goto out;
	rc = kube_patch_appdb(NULL, kc, db->ns, db->name, patch, &err);
	if (rc != 0)
		log_warn(log, "could not %s the finalizer %s: %s", add ? "add" : "remove",
		         FINALIZER_DISABLE_ON_DELETE, err.msg);
	else
		log_info(log, "%s the finalizer %s", add ? "added" : "removed",
		         FINALIZER_DISABLE_ON_DELETE);
out:
	json_decref(patch);
	json_decref(list);
	return rc;
}
