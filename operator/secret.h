/*
 * secret.h - where passwords come from.
 *
 * A struct secret_ref names a password source as a manifest or the config
 * states it; a struct secret_resolver maps each kind of source to a provider
 * (a fetch function and its context). Callers only ever call
 * secret_resolve(), so a new kind of source (AWS Secrets Manager, the
 * Kubernetes API) plugs in by registering a provider, without change to the
 * callers.
 *
 * Error codes of a fetch: APPDB_ENOTFOUND (no such secret or key),
 * APPDB_EFORBIDDEN (no permission), APPDB_EINVAL (unusable value, e.g. binary
 * or not JSON when a key is asked) all mean the reason SecretMissing;
 * APPDB_ETHROTTLED and APPDB_ETRANSIENT are retried. Messages name the
 * source (secret id, namespace/name, key), never the value.
 *
 * struct secret owns its strings; secret_clear() wipes the value with
 * OPENSSL_cleanse before freeing it.
 */
#ifndef APPDB_SECRET_H
#define APPDB_SECRET_H

#include "err.h"

#include <jansson.h>

enum secret_kind {
	SECRET_NONE = 0,
	SECRET_AWS_SM, /* secretsManager: {secretId, key?} */
	SECRET_KUBE,   /* kubernetesSecret: {namespace?, name, key} */
	SECRET_FILE,   /* file: PATH (config admin only) */
	SECRET_KIND_COUNT
};

/* Owned strings; unused ones are NULL. */
struct secret_ref {
	enum secret_kind kind;
	char *secret_id; /* SECRET_AWS_SM */
	char *ns;        /* SECRET_KUBE; NULL: the resource's namespace */
	char *name;      /* SECRET_KUBE */
	char *key;       /* SECRET_AWS_SM (optional), SECRET_KUBE (required) */
	char *path;      /* SECRET_FILE */
};

struct secret {
	char *value;    /* the password; wiped when cleared */
	char *version;  /* the source's version (SM VersionId, Secret resourceVersion) or NULL */
	char *username; /* the user the source names (a "username" field or key) or NULL */
};

/* Fills out (which the caller clears) or returns a negative code. */
typedef int (*secret_fetch_fn)(void *ctx, struct secret *out, const struct secret_ref *ref,
                               struct err *err);

/* Forgets any cached value, so the next fetch reads the source again. */
typedef void (*secret_invalidate_fn)(void *ctx);

struct secret_provider {
	secret_fetch_fn fetch;
	secret_invalidate_fn invalidate; /* may be NULL */
	void *ctx;                       /* borrowed */
};

struct secret_resolver {
	struct secret_provider providers[SECRET_KIND_COUNT];
};

/* Registers fetch for kind, replacing any earlier one. */
void secret_resolver_set(struct secret_resolver *r, enum secret_kind kind, secret_fetch_fn fetch,
                         void *ctx);

/*
 * Resolves ref, the password of role user, with the provider for its kind.
 * default_ns fills a kubernetesSecret reference without a namespace. The
 * value must not be empty, and when the source names a user (a JSON
 * SecretString's "username", a Secret's "username" key) it must be user
 * (NULL: not checked); otherwise out is cleared and APPDB_EINVAL returned
 * with both names in err. Returns 0, or APPDB_ENOTFOUND when no provider
 * serves the kind, or the provider's code.
 */
int secret_resolve(struct secret *out, const struct secret_resolver *r,
                   const struct secret_ref *ref, const char *default_ns, const char *user,
                   struct err *err);

/* Calls the provider's invalidate for ref's kind, when it has one. */
void secret_invalidate(const struct secret_resolver *r, const struct secret_ref *ref);

/* True for the codes that mean the reason SecretMissing. */
int secret_error_is_missing(int code);

/* Wipes every string inside j (a parsed secret, before json_decref). */
void secret_wipe_json(json_t *j);

/* Wipes and frees the value, version and username; out stays usable. */
void secret_clear(struct secret *s);

void secret_ref_clear(struct secret_ref *ref);

/* A human description of ref without values: "secretsManager prod/orders/app key password". */
void secret_ref_describe(char *out, size_t len, const struct secret_ref *ref);

/*
 * Picks the password out of a Kubernetes Secret object (JSON, borrowed):
 * stringData[key] as a manifest may carry it, else base64 data[key]; and the
 * "username" key the same way, when there is one. The version is
 * metadata.resourceVersion when present. Returns 0, APPDB_ENOTFOUND when
 * the key is absent, APPDB_EINVAL when not base64 or holding a NUL byte.
 */
int secret_from_kube_object(struct secret *out, json_t *obj, const char *key, struct err *err);

/*
 * Picks key out of a JSON SecretString, or takes the whole string when key
 * is NULL, into out->value; when the SecretString is a JSON object with a
 * "username" field, copies it into out->username. Returns 0,
 * APPDB_ENOTFOUND (no such field), APPDB_EINVAL (not a JSON object when a
 * key is asked, a field that is not a string or holds a NUL byte).
 */
int secret_pick_key(struct secret *out, const char *secret_string, const char *key,
                    struct err *err);

/* A file source: the file's contents without one trailing newline. */
int secret_fetch_file(void *ctx, struct secret *out, const struct secret_ref *ref, struct err *err);

#endif
