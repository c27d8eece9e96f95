/*
 * config.h - the operator configuration (DESIGN section 5).
 *
 * Read from one YAML file with libyaml (through yamljson.c); errors name the
 * file, line and column. Environment overrides: APPDB_ENVIRONMENT,
 * ALLOW_DB_PROVISION, BUILD_ID. struct config owns everything;
 * config_free() releases it. A loaded config is read-only and shared by all
 * threads.
 */
#ifndef APPDB_CONFIG_H
#define APPDB_CONFIG_H

#include "err.h"
#include "secret.h"

#include <stddef.h>

#define CONFIG_DEFAULT_PATH "/etc/appdb-operator/config.yaml"

struct instance_config {
	char *name;
	char *host;
	int port;             /* default 5432 */
	char *admin_database; /* default "postgres" */
	char *ssl_mode;       /* default "verify-full" */
	char *ssl_root_cert;  /* NULL: libpq's default */
	char *admin_user;
	struct secret_ref admin_password; /* kind SECRET_NONE with iam_auth */
	int iam_auth;                     /* admin.iamAuth given */
	char *iam_region;                 /* admin.iamAuth.region, else aws.region */
	int statement_timeout_seconds;    /* every statement of every session; default 60 */
	int max_connections;       /* maxConnectionsPerInstance: runs on it at once, default 2 */
	char **allowed_namespaces; /* names or globs (team-*); none: every namespace */
	size_t n_allowed_namespaces;
	int allow_connection_secrets; /* spec.connection.secret may be written (DESIGN 11.4) */
	char **allowed_roles;         /* roles a user may be memberOf; none by default */
	size_t n_allowed_roles;
	char **allowed_extensions; /* with allowed_extensions_set; else the trusted ones */
	size_t n_allowed_extensions;
	int allowed_extensions_set;
};

struct leader_config {
	int enabled;
	char *lease_namespace; /* default: the pod's namespace, else "default" */
	char *lease_name;      /* default "appdb-operator" */
	int lease_seconds;     /* 15 */
	int renew_seconds;     /* 10 */
	int retry_seconds;     /* 2 */
};

struct config {
	char *path;
	char *environment;   /* dev | test | staging | prod, after APPDB_ENVIRONMENT */
	int allow_provision; /* ALLOW_DB_PROVISION=true */
	char *build_id;      /* BUILD_ID, else the build's own id */
	struct instance_config *instances;
	size_t n_instances;
	char *aws_region;
	char *aws_endpoint;           /* "" or NULL: the regional endpoint */
	int aws_secret_cache_seconds; /* default 60 */
	char **watch_namespaces;
	size_t n_watch_namespaces;
	char *cache_dir;          /* default /var/cache/appdb-operator */
	int workers;              /* default 4 */
	int resync_seconds;       /* default 600 */
	int http_port;            /* default 8080 */
	int lock_timeout_seconds; /* advisory lock wait, default 30 */
	struct leader_config leader;
};

/* Loads path. Returns 0, APPDB_EINVAL/APPDB_EIO with "file:line:col: ..." in err. */
int config_load(struct config **out, const char *path, struct err *err);

/* Borrowed; NULL when no instance has that name. */
const struct instance_config *config_instance(const struct config *cfg, const char *name);

/* 1 when resources in namespace ns may use instance in (allowedNamespaces, fnmatch). */
int config_instance_allows(const struct instance_config *in, const char *ns);

void config_free(struct config *cfg);

#endif
