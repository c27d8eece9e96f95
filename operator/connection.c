/*
 * connection.c - writes the ConfigMap and the Secret of spec.connection
 * (DESIGN 11.4) after a Ready run; see connection.h for the contract and
 * docs/kubernetes.md for why GET + POST/PUT with resourceVersion.
 */
#include "connection.h"

#include "base64.h"
#include "clock.h"
#include "dynbuf.h"
#include "events.h"
#include "log.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_TRIES 3
#define FIELD_MAX 4096

enum obj_kind { OBJ_CONFIGMAP = 0, OBJ_SECRET };

static const char *const KIND_NAME[] = {"ConfigMap", "Secret"};

/* Appends printf-formatted text to b. */
static int buf_addf(struct dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_addf(struct dynbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return APPDB_ELIMIT;
	return dynbuf_add(b, tmp, (size_t)n);
}

/* Appends s percent-encoded (RFC 3986 unreserved kept) to b. */
static int put_escaped(struct dynbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; rc == 0 && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~')
			rc = dynbuf_add(b, s, 1);
		else
			rc = dynbuf_add(b, enc, 3);
	}
	return rc;
}

/* host:port, the host in brackets when it is an IPv6 address. */
static int put_hostport(struct dynbuf *b, const struct instance_config *in)
{
	char port[16];
	int v6 = strchr(in->host, ':') != NULL;

	snprintf(port, sizeof(port), ":%d", in->port);
	return buf_addf(b, "%s%s%s%s", v6 ? "[" : "", in->host, v6 ? "]" : "", port);
}

/* postgresql://login:password@host:port/dbname?sslmode=M, or the jdbc: form. */
static int make_url(struct dynbuf *b, const struct instance_config *in, const char *dbname,
                    const struct connection_user *u, int jdbc)
{
	int rc;

	if (jdbc) {
		rc = buf_addf(b, "jdbc:postgresql://");
		rc = rc ? rc : put_hostport(b, in);
		rc = rc ? rc : buf_addf(b, "/");
		rc = rc ? rc : put_escaped(b, dbname);
		rc = rc ? rc : buf_addf(b, "?sslmode=%s&user=", in->ssl_mode);
		rc = rc ? rc : put_escaped(b, u->login);
		rc = rc ? rc : buf_addf(b, "&password=");
		return rc ? rc : put_escaped(b, u->password);
	}
	rc = buf_addf(b, "postgresql://");
	rc = rc ? rc : put_escaped(b, u->login);
	rc = rc ? rc : buf_addf(b, ":");
	rc = rc ? rc : put_escaped(b, u->password);
	rc = rc ? rc : buf_addf(b, "@");
	rc = rc ? rc : put_hostport(b, in);
	rc = rc ? rc : buf_addf(b, "/");
	rc = rc ? rc : put_escaped(b, dbname);
	return rc ? rc : buf_addf(b, "?sslmode=%s", in->ssl_mode);
}

/* Sets data["<user>.<field>"] to value, base64-encoded when b64. */
static int set_field(json_t *data, const char *user, const char *field, const char *value, int b64)
{
	char key[128];
	char *enc = b64 ? base64_encode(value, strlen(value)) : NULL;
	int rc;

	if (b64 && enc == NULL)
		return APPDB_ENOMEM;
	snprintf(key, sizeof(key), "%s.%s", user, field);
	rc = json_object_set_new(data, key, json_string(b64 ? enc : value)) == 0 ? 0 : APPDB_ENOMEM;
	if (enc != NULL)
		OPENSSL_cleanse(enc, strlen(enc));
	free(enc);
	return rc;
}

json_t *connection_configmap_data(const struct instance_config *in, const char *dbname,
                                  const struct connection_user *users, size_t n)
{
	json_t *data = json_object();
	char port[16];
	size_t i;
	int rc;

	if (data == NULL)
		return NULL;
	snprintf(port, sizeof(port), "%d", in->port);
	rc = json_object_set_new(data, "host", json_string(in->host)) |
	     json_object_set_new(data, "port", json_string(port)) |
	     json_object_set_new(data, "dbname", json_string(dbname)) |
	     json_object_set_new(data, "sslmode", json_string(in->ssl_mode));
	for (i = 0; rc == 0 && i < n; i++)
		rc = set_field(data, users[i].name, "username", users[i].login, 0);
	if (rc != 0) {
		json_decref(data);
		return NULL;
	}
	return data;
}

json_t *connection_secret_data(const struct instance_config *in, const char *dbname,
                               const struct connection_user *users, size_t n)
{
	json_t *data = json_object();
	struct dynbuf b;
	size_t i;
	int rc = data != NULL ? 0 : APPDB_ENOMEM;

	dynbuf_init(&b, FIELD_MAX);
	for (i = 0; rc == 0 && i < n; i++) {
		const struct connection_user *u = &users[i];

		if (u->password == NULL)
			continue;
		rc = set_field(data, u->name, "password", u->password, 1);
		dynbuf_free(&b);
		rc = rc ? rc : make_url(&b, in, dbname, u, 0);
		rc = rc ? rc : set_field(data, u->name, "uri", dynbuf_ptr(&b), 1);
		dynbuf_free(&b);
		rc = rc ? rc : make_url(&b, in, dbname, u, 1);
		rc = rc ? rc : set_field(data, u->name, "jdbcUrl", dynbuf_ptr(&b), 1);
	}
	dynbuf_free(&b);
	if (rc != 0 && data != NULL) {
		secret_wipe_json(data);
		json_decref(data);
		return NULL;
	}
	return data;
}

/* 1 when obj's ownerReferences name uid as its controller. */
static int owned_by(json_t *obj, const char *uid)
{
	json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
	json_t *ref;
	size_t i;

	json_array_foreach (refs, i, ref) {
		const char *u = json_string_value(json_object_get(ref, "uid"));

		if (u != NULL && strcmp(u, uid) == 0 &&
		    json_is_true(json_object_get(ref, "controller")))
			return 1;
	}
	return 0;
}

/* The object to write (new): metadata kept from cur (NULL: a new one), our data. */
static json_t *build_object(enum obj_kind kind, const struct appdb *db, const char *name,
                            json_t *cur, json_t *data)
{
	json_t *md = json_object(), *obj = json_object(), *cmd, *v;

	if (md == NULL || obj == NULL)
		goto fail;
	cmd = cur != NULL ? json_object_get(cur, "metadata") : NULL;
	json_object_set_new(md, "name", json_string(name));
	json_object_set_new(md, "namespace", json_string(db->ns));
	if (cmd != NULL) {
		static const char *const keep[] = {"resourceVersion", "labels", "annotations",
		                                   "ownerReferences", NULL};
		const char *const *k;

		for (k = keep; *k != NULL; k++)
			if ((v = json_object_get(cmd, *k)) != NULL)
				json_object_set(md, *k, v);
	} else {
		json_object_set_new(
		    md, "labels",
		    json_pack("{s:s}", "app.kubernetes.io/managed-by", "appdb-operator"));
		json_object_set_new(md, "ownerReferences",
		                    json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion",
		                              APPDB_API_VERSION, "kind", APPDB_KIND, "name",
		                              db->name, "uid", db->uid, "controller", 1));
	}
	json_object_set_new(obj, "apiVersion", json_string("v1"));
	json_object_set_new(obj, "kind", json_string(KIND_NAME[kind]));
	json_object_set_new(obj, "metadata", md);
	if (kind == OBJ_SECRET)
		json_object_set_new(obj, "type", json_string("Opaque"));
	if (json_object_set(obj, "data", data) != 0 || json_object_size(md) < 2)
		goto fail;
	return obj;
fail:
	json_decref(md);
	json_decref(obj);
	return NULL;
}

/* Emits a Warning Event about db (the message names objects, never values). */
static void warn_event(struct ctl *c, struct kube_client *kc, const struct log_ctx *log,
                       const struct appdb *db, const char *reason, const char *msg,
                       const char *run_id)
{
	struct event_ref ref = {db->ns, db->name, db->uid[0] ? db->uid : NULL, NULL};
	struct err err = {0};
	json_t *ev = NULL;

	log_warn(log, "%s", msg);
	if (events_build(&ev, c->events, &ref, EVENT_WARNING, reason, msg, run_id, clock_wall()) ==
	        0 &&
	    events_emit(c->events, kc, ev, &err) != 0)
		log_warn(log, "could not send the Event: %s", err.msg);
	json_decref(ev);
}

/* 1 when cur already holds exactly data and nothing beside it. */
static int up_to_date(enum obj_kind kind, json_t *cur, json_t *data)
{
	json_t *cd = json_object_get(cur, "data");

	if (json_object_get(cur, "binaryData") != NULL ||
	    json_object_get(cur, "stringData") != NULL)
		return 0;
	if (cd == NULL || json_is_null(cd))
		return json_object_size(data) == 0;
	(void)kind;
	return json_equal(cd, data);
}

/*
 * Creates or updates one object. Returns 0 (written or already so), 1 when
 * an object of that name is not ours (nothing changed), or a negative code.
 */
static int sync_object(struct kube_client *kc, const struct log_ctx *log, enum obj_kind kind,
                       const struct appdb *db, const char *name, json_t *data, struct err *err)
{
	json_t *cur = NULL, *obj = NULL;
	int rc = 0, attempt;

	for (attempt = 0; attempt < WRITE_TRIES; attempt++) {
		rc = kind == OBJ_SECRET ? kube_get_secret(&cur, kc, db->ns, name, err)
		                        : kube_get_configmap(&cur, kc, db->ns, name, err);
		if (rc != 0 && rc != APPDB_ENOTFOUND)
			break;
		if (rc == 0 && !owned_by(cur, db->uid)) {
			rc = 1;
			break;
		}
		if (rc == 0 && up_to_date(kind, cur, data))
			break;
		obj = build_object(kind, db, name, rc == 0 ? cur : NULL, data);
		if (obj == NULL) {
			rc = APPDB_ENOMEM;
			break;
		}
		if (rc == APPDB_ENOTFOUND)
			rc = kind == OBJ_SECRET ? kube_create_secret(NULL, kc, db->ns, obj, err)
			                        : kube_create_configmap(NULL, kc, db->ns, obj, err);
		else
			rc = kind == OBJ_SECRET
			         ? kube_update_secret(NULL, kc, db->ns, name, obj, err)
			         : kube_update_configmap(NULL, kc, db->ns, name, obj, err);
		if (rc == 0)
			log_info(log, "wrote %s %s/%s", KIND_NAME[kind], db->ns, name);
		if (kind == OBJ_SECRET)
			secret_wipe_json(obj);
		json_decref(obj);
		obj = NULL;
		if (cur != NULL && kind == OBJ_SECRET)
			secret_wipe_json(cur);
		json_decref(cur);
		cur = NULL;
		if (rc != APPDB_ECONFLICT)
			break; /* a conflict: someone wrote it since the read; read again */
	}
	if (cur != NULL && kind == OBJ_SECRET)
		secret_wipe_json(cur);
	json_decref(cur);
	return rc;
}

/* Reads the password of user i; fills u. *pw is cleared by the caller. */
static int read_user(struct connection_user *u, struct secret *pw,
                     const struct secret_resolver *resolver, const struct appdb *db, size_t i,
                     int want_password, struct err *err)
{
	const struct appdb_user *au = &db->users[i];
	int alternating = au->rotation == ROTATION_ALTERNATING;
	char clone[96];
	int rc;

	u->name = au->name;
	u->login = au->name;
	u->password = NULL;
	if (au->password_from.kind == SECRET_NONE || (!want_password && !alternating))
		return 0;
	rc = secret_resolve(pw, resolver, &au->password_from, db->ns, alternating ? NULL : au->name,
	                    err);
	if (rc != 0)
		return rc;
	snprintf(clone, sizeof(clone), "%s%s", au->name, ROTATION_CLONE_SUFFIX);
	if (alternating && pw->username != NULL && strcmp(pw->username, clone) == 0)
		u->login = clone;
	if (alternating && pw->username != NULL && strcmp(pw->username, au->name) != 0 &&
	    strcmp(pw->username, clone) != 0)
		return err_set(err, APPDB_EINVAL, "the secret of user %s names another user",
		               au->name);
	if (want_password)
		u->password = pw->value;
	return 0;
}

int connection_sync(struct ctl *c, struct kube_client *kc, const struct secret_resolver *resolver,
                    const struct log_ctx *log, const struct appdb *db, const char *run_id)
{
	const struct instance_config *in = config_instance(c->cfg, db->instance);
	struct connection_user *users = NULL;
	struct secret *pws = NULL;
	json_t *cm = NULL, *sec = NULL;
	struct err err = {0};
	int want_secret, rc = 0;
	char msg[768];
	size_t i;

	if (in == NULL || (db->connection_configmap == NULL && db->connection_secret == NULL))
		return 0;
	want_secret = db->connection_secret != NULL && in->allow_connection_secrets;
	if (db->connection_secret != NULL && !in->allow_connection_secrets) {
		snprintf(msg, sizeof(msg),
		         "Secret %s not written: instance %s does not allow connection secrets "
		         "(allowConnectionSecrets)",
		         db->connection_secret, in->name);
		warn_event(c, kc, log, db, EVENT_CONNECTION_SECRET_NOT_ALLOWED, msg, run_id);
	}
	users = calloc(db->n_users + 1, sizeof(*users));
	pws = calloc(db->n_users + 1, sizeof(*pws));
	if (users == NULL || pws == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	for (i = 0; i < db->n_users && rc == 0; i++)
		rc = read_user(&users[i], &pws[i], resolver, db, i, want_secret, &err);
	if (rc != 0) {
		log_warn(log, "connection objects not written: %s", err.msg);
		goto out;
	}
	if (db->connection_configmap != NULL) {
		if ((cm = connection_configmap_data(in, db->db_name, users, db->n_users)) == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
		rc = sync_object(kc, log, OBJ_CONFIGMAP, db, db->connection_configmap, cm, &err);
		if (rc == 1) {
			snprintf(msg, sizeof(msg),
			         "ConfigMap %s exists and is not owned by this AppDatabase; left "
			         "unchanged",
			         db->connection_configmap);
			warn_event(c, kc, log, db, EVENT_CONNECTION_NOT_OWNED, msg, run_id);
			rc = 0;
		} else if (rc != 0) {
			snprintf(msg, sizeof(msg), "could not write ConfigMap %s: %s",
			         db->connection_configmap, err.msg);
			warn_event(c, kc, log, db, EVENT_CONNECTION_FAILED, msg, run_id);
		}
	}
	if (want_secret) {
		int src;

		if ((sec = connection_secret_data(in, db->db_name, users, db->n_users)) == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
		src = sync_object(kc, log, OBJ_SECRET, db, db->connection_secret, sec, &err);
		if (src == 1) {
			snprintf(
			    msg, sizeof(msg),
			    "Secret %s exists and is not owned by this AppDatabase; left unchanged",
			    db->connection_secret);
			warn_event(c, kc, log, db, EVENT_CONNECTION_NOT_OWNED, msg, run_id);
		} else if (src != 0) {
			snprintf(msg, sizeof(msg), "could not write Secret %s: %s",
			         db->connection_secret, err.msg);
			warn_event(c, kc, log, db, EVENT_CONNECTION_FAILED, msg, run_id);
			rc = src;
		}
	}
out:
	json_decref(cm);
	if (sec != NULL)
		secret_wipe_json(sec);
	json_decref(sec);
	for (i = 0; pws != NULL && i < db->n_users; i++)
		secret_clear(&pws[i]);
	free(pws);
	free(users);
	return rc;
}
