/*
 * connection.h - the objects applications connect with (DESIGN 11.4):
 * spec.connection.configMap (host, port, dbname, sslmode, <user>.username)
 * and spec.connection.secret (<user>.password, <user>.uri, <user>.jdbcUrl),
 * written in the resource's namespace after a Ready run, owned by the
 * resource (an ownerReference with its uid, controller: true).
 *
 * How they are written: a GET, then a POST when the object is missing or a
 * PUT of the whole object carrying the resourceVersion that was read, so a
 * change made since the read is a 409 and is read again (three tries), and
 * whatever else someone put in the object's data is dropped. An object of
 * that name that the resource does not control is never changed: the run
 * logs it and emits a Warning Event (ConnectionObjectNotOwned). The Secret
 * is written only where the instance says allowConnectionSecrets: true
 * (else a Warning Event, ConnectionSecretNotAllowed), and holds no entry
 * for a user without a password source.
 *
 * Threads: called by a controller worker with its own client and resolver.
 */
#ifndef APPDB_CONNECTION_H
#define APPDB_CONNECTION_H

#include "config.h"
#include "ctl.h"
#include "kube_client.h"
#include "model.h"
#include "secret.h"

#include <jansson.h>

#define EVENT_CONNECTION_NOT_OWNED "ConnectionObjectNotOwned"
#define EVENT_CONNECTION_SECRET_NOT_ALLOWED "ConnectionSecretNotAllowed"
#define EVENT_CONNECTION_FAILED "ConnectionObjectFailed"

/* The login and password of one spec user, as the connection objects carry them. */
struct connection_user {
	const char *name;     /* the spec user (the key prefix) */
	const char *login;    /* the role that holds the current password */
	const char *password; /* NULL: no Secret entries for this user */
};

/*
 * The ConfigMap's data (a new object): host, port, dbname, sslmode and
 * <user>.username per user. NULL on ENOMEM.
 */
json_t *connection_configmap_data(const struct instance_config *in, const char *dbname,
                                  const struct connection_user *users, size_t n);

/*
 * The Secret's data (a new object, base64 values; the caller wipes it with
 * secret_wipe_json): <user>.password, <user>.uri, <user>.jdbcUrl for each
 * user with a password. NULL on ENOMEM.
 */
json_t *connection_secret_data(const struct instance_config *in, const char *dbname,
                               const struct connection_user *users, size_t n);

/*
 * Writes db's connection objects (db, log borrowed). Refusals are logged and
 * reported as Events, never returned; returns 0, or a negative code when
 * the API or a password source failed in a way worth a retry (logged).
 */
int connection_sync(struct ctl *c, struct kube_client *kc, const struct secret_resolver *resolver,
                    const struct log_ctx *log, const struct appdb *db, const char *run_id);

#endif
