/*
 * model.h - the in-memory AppDatabase.
 *
 * One model, two loaders: the controller decodes the API's JSON with
 * appdb_from_json(); the CLI turns YAML manifests into the same JSON
 * (yamljson.c) and decodes them with the same function. Decoding checks
 * shapes and types; validate.c checks the rules of DESIGN section 3.
 *
 * struct appdb owns all its strings; appdb_free() releases it.
 */
#ifndef APPDB_MODEL_H
#define APPDB_MODEL_H

#include "secret.h"

#include <jansson.h>
#include <stddef.h>

#define APPDB_GROUP "db.platform.dev"
#define APPDB_VERSION_NAME "v1alpha1"
#define APPDB_API_VERSION "db.platform.dev/v1alpha1"
#define APPDB_KIND "AppDatabase"
#define APPDB_PLURAL "appdatabases"

#define ANNOTATION_BUILD_ID "db.platform.dev/build-id"
#define ANNOTATION_APPROVED_GENERATION "db.platform.dev/approved-generation"
#define ANNOTATION_APPROVED_BY "db.platform.dev/approved-by"
/* "true": no SQL at all for the resource until the annotation goes (DESIGN 11.2). */
#define ANNOTATION_PAUSED "db.platform.dev/paused"

enum access { ACCESS_READONLY = 0, ACCESS_READWRITE, ACCESS_OWNER };

/* spec.deletionPolicy: what deleting the AppDatabase does in PostgreSQL. */
enum deletion_policy {
	DELETION_RETAIN = 0, /* nothing (the default) */
	DELETION_DISABLE,    /* every login role disabled, CONNECT revoked; finalizer */
};

#define FINALIZER_DISABLE_ON_DELETE "db.platform.dev/disable-on-delete"

/* users[].rotation: how a Secrets Manager rotation reaches the role (DESIGN 11.3). */
enum rotation {
	ROTATION_SINGLE = 0,  /* one role; the current version's password is set on it */
	ROTATION_ALTERNATING, /* <name> and <name>_clone; the version's username says which */
};

#define ROTATION_CLONE_SUFFIX "_clone"
/*
 * Privileges a user holds beyond its access level (DESIGN section 11.3), as
 * bit sets over the names in access_privileges(): database CONNECT
 * TEMPORARY CREATE; schema USAGE CREATE; tables SELECT INSERT UPDATE DELETE
 * TRUNCATE REFERENCES TRIGGER; sequences USAGE SELECT UPDATE.
 */
enum priv_target { PRIV_DATABASE = 0, PRIV_SCHEMA, PRIV_TABLES, PRIV_SEQUENCES, PRIV_TARGETS };

/* ALTER ROLE ... IN DATABASE ... SET name = value. */
struct role_setting {
	char *name;
	char *value;
};

/* What a user has beside access (model_access.c decodes it). All owned. */
struct user_access {
	char **schemas; /* a subset of spec.schemas; NULL: all of them */
	size_t n_schemas;
	unsigned privileges[PRIV_TARGETS];
	char **member_of;
	size_t n_member_of;
	char *valid_until; /* RFC 3339 as written, or NULL */
	long long valid_until_epoch;
	struct role_setting *settings;
	size_t n_settings;
	int iam_auth; /* RDS IAM login: GRANT rds_iam, no passwordFrom */
};

struct appdb_user {
	char *name;
	enum access access;
	int connection_limit;            /* -1: none */
	struct secret_ref password_from; /* kind SECRET_NONE: left out (adopt only) */
	enum rotation rotation;
	struct user_access more;
};

/* spec.database.extensions[] */
struct appdb_extension {
	char *name;
	char *schema; /* NULL: the extension's default */
};

struct appdb {
	char *ns;
	char *name;
	char *uid;                 /* "" when the manifest has none */
	char *resource_version;    /* NULL on disk */
	long long generation;      /* 1 when the manifest has none */
	char *build_id;            /* annotation or NULL */
	char *approved_generation; /* annotation (raw text) or NULL */
	char *approved_by;         /* annotation or NULL */
	int deleting;              /* metadata.deletionTimestamp is set */
	int paused;                /* annotation db.platform.dev/paused is "true" */

	char *instance;
	char *db_name;
	char *owner;
	char **schemas;
	size_t n_schemas;
	struct appdb_user *users;
	size_t n_users;
	enum deletion_policy deletion_policy;
	char *connection_configmap; /* spec.connection.configMap or NULL */
	char *connection_secret;    /* spec.connection.secret or NULL */
	struct appdb_extension *extensions;
	size_t n_extensions;
	int adopt; /* spec.adopt: unmarked roles and the database may be taken over */
};

/* A list of "field: message" problems found in one resource. */
#define FIELD_ERRS_MAX 32
struct field_errs {
	size_t n;
	char *items[FIELD_ERRS_MAX];
	size_t dropped; /* problems beyond FIELD_ERRS_MAX, counted not kept */
	int nomem;      /* an allocation failed while decoding */
};

void field_errs_add(struct field_errs *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Joins all problems into one owned "a; b; c" string (NULL on ENOMEM). */
char *field_errs_join(const struct field_errs *errs);
void field_errs_clear(struct field_errs *errs);

/*
 * Decodes an AppDatabase object (borrowed). Returns 0 with *out set, or
 * APPDB_EINVAL with the problems in errs and *out set to whatever could be
 * decoded (namespace and name at least, when present; may be NULL), or
 * APPDB_ENOMEM. The caller frees *out either way.
 */
int appdb_from_json(struct appdb **out, json_t *obj, struct field_errs *errs);

/* Frees db and all it owns; NULL is fine. */
void appdb_free(struct appdb *db);

/*
 * The privilege names of target, NULL-terminated; bit i of a
 * user_access.privileges[target] set means the i-th name. Borrowed, static.
 */
const char *const *access_privileges(enum priv_target target);

/* The settings keys a user may have (DESIGN 11.3), NULL-terminated. */
extern const char *const ACCESS_SETTING_KEYS[];

/* "readonly", "readwrite", "owner". */
const char *access_name(enum access a);

#endif
