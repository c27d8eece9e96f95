/*
 * config.c - reads the operator configuration (DESIGN section 5) from YAML,
 * reporting problems with file, line and column.
 */
#include "config.h"
#include "jfield.h"
#include "validate.h"

#include "yamljson.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfgload {
	struct yaml_docs docs;
	struct err *err;
	int rc;
};

/* Reports a problem at v (or its parent when v is NULL) once; keeps the first. */
static void bad(struct cfgload *c, const json_t *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void bad(struct cfgload *c, const json_t *v, const char *field, const char *fmt, ...)
{
	char msg[512];
	int line = 0, col = 0;
	va_list ap;

	if (c->rc != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	yaml_pos(&c->docs, v, &line, &col);
	c->rc =
	    err_set(c->err, APPDB_EINVAL, "%s:%d:%d: %s: %s", c->docs.name, line, col, field, msg);
}

static void known_keys(struct cfgload *c, json_t *obj, const char *path, const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach (obj, k, v) {
		const char *const *a;
		int ok = 0;

		for (a = keys; *a != NULL; a++)
			ok |= strcmp(*a, k) == 0;
		if (!ok) {
			char f[300];

			snprintf(f, sizeof(f), "%s%s%s", path, path[0] ? "." : "", k);
			bad(c, v, f, "unknown field");
		}
	}
}

/* Copies a string field, or the default when absent. */
static char *str_field(struct cfgload *c, json_t *obj, const char *path, const char *key,
                       const char *def, int required)
{
	json_t *v;
	int rc = jfield_get(&v, obj, key, JSON_STRING);
	char f[300];
	char *s;

	jfield_path(f, sizeof(f), path, key);
	if (rc == APPDB_ENOTFOUND) {
		if (required)
			bad(c, obj, f, "required field is missing");
		if (def == NULL)
			return NULL;
		s = strdup(def);
		if (s == NULL)
			c->rc = APPDB_ENOMEM;
		return s;
	}
	if (rc != 0) {
		bad(c, v, f, "must be a string");
		return NULL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		bad(c, v, f, "must not contain NUL characters");
		return NULL;
	}
	s = strdup(json_string_value(v));
	if (s == NULL)
		c->rc = APPDB_ENOMEM;
	return s;
}

static int int_field(struct cfgload *c, json_t *obj, const char *path, const char *key, int def,
                     int min, int max)
{
	json_t *v;
	int rc = jfield_get(&v, obj, key, JSON_INTEGER);
	char f[300];

	jfield_path(f, sizeof(f), path, key);
	if (rc == APPDB_ENOTFOUND)
		return def;
	if (rc != 0) {
		bad(c, v, f, "must be an integer");
		return def;
	}
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		bad(c, v, f, "must be between %d and %d", min, max);
		return def;
	}
	return (int)json_integer_value(v);
}

static int bool_field(struct cfgload *c, json_t *obj, const char *path, const char *key, int def)
{
	json_t *v;
	int rc = jfield_get(&v, obj, key, JSON_TRUE);
	char f[300];

	jfield_path(f, sizeof(f), path, key);
	if (rc == APPDB_ENOTFOUND)
		return def;
	if (rc != 0) {
		bad(c, v, f, "must be true or false");
		return def;
	}
	return json_is_true(v);
}

static json_t *obj_field(struct cfgload *c, json_t *obj, const char *path, const char *key,
                         int required)
{
	json_t *v;
	int rc = jfield_get(&v, obj, key, JSON_OBJECT);
	char f[300];

	jfield_path(f, sizeof(f), path, key);
	if (rc == APPDB_ENOTFOUND) {
		if (required)
			bad(c, obj, f, "required field is missing");
		return NULL;
	}
	if (rc != 0) {
		bad(c, v, f, "must be a mapping");
		return NULL;
	}
	return v;
}

static void load_password_from(struct cfgload *c, struct secret_ref *ref, json_t *pf,
                               const char *path)
{
	static const char *const pf_keys[] = {"secretsManager", "kubernetesSecret", "file", NULL};
	static const char *const sm_keys[] = {"secretId", "key", NULL};
	static const char *const ks_keys[] = {"namespace", "name", "key", NULL};
	json_t *sm, *ks, *file;
	int n = 0;
	char p[300];

	known_keys(c, pf, path, pf_keys);
	sm = obj_field(c, pf, path, "secretsManager", 0);
	ks = obj_field(c, pf, path, "kubernetesSecret", 0);
	file = json_object_get(pf, "file");
	n = (sm != NULL) + (ks != NULL) + (file != NULL);
	if (n != 1) {
		bad(c, pf, path, "must name exactly one of secretsManager, kubernetesSecret, file");
		return;
	}
	if (sm != NULL) {
		snprintf(p, sizeof(p), "%s.secretsManager", path);
		known_keys(c, sm, p, sm_keys);
		ref->kind = SECRET_AWS_SM;
		ref->secret_id = str_field(c, sm, p, "secretId", NULL, 1);
		ref->key = str_field(c, sm, p, "key", NULL, 0);
	} else if (ks != NULL) {
		snprintf(p, sizeof(p), "%s.kubernetesSecret", path);
		known_keys(c, ks, p, ks_keys);
		ref->kind = SECRET_KUBE;
		ref->ns = str_field(c, ks, p, "namespace", NULL, 0);
		ref->name = str_field(c, ks, p, "name", NULL, 1);
		ref->key = str_field(c, ks, p, "key", NULL, 1);
	} else {
		ref->kind = SECRET_FILE;
		ref->path = str_field(c, pf, path, "file", NULL, 1);
	}
}

/*
 * 1 when s can match namespace names: 1 to 63 of a-z, 0-9, '-' and the
 * wildcards '*' and '?'.
 */
static int namespace_pattern(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '*' || s[i] == '?'))
			return 0;
	return 1;
}

/* Reads instances.NAME.allowedNamespaces: a list of namespace names or globs. */
static void load_allowed_namespaces(struct cfgload *c, struct instance_config *in, json_t *v,
                                    const char *path)
{
	json_t *an = json_object_get(v, "allowedNamespaces");
	char f[340];
	json_t *e;
	size_t i;

	snprintf(f, sizeof(f), "%s.allowedNamespaces", path);
	if (an == NULL || json_is_null(an))
		return;
	if (!json_is_array(an)) {
		bad(c, an, f, "must be a list of namespace names or globs");
		return;
	}
	if (json_array_size(an) == 0)
		return;
	in->allowed_namespaces = calloc(json_array_size(an), sizeof(char *));
	if (in->allowed_namespaces == NULL) {
		c->rc = APPDB_ENOMEM;
		return;
	}
	json_array_foreach (an, i, e) {
		const char *s = json_string_value(e);

		snprintf(f, sizeof(f), "%s.allowedNamespaces[%zu]", path, i);
		if (s == NULL || strlen(s) != json_string_length(e) || !namespace_pattern(s)) {
			bad(c, e, f,
			    "must be a namespace name or a glob of one (a-z, 0-9, '-', '*', '?'; "
			    "at "
			    "most 63)");
			return;
		}
		in->allowed_namespaces[in->n_allowed_namespaces] = strdup(s);
		if (in->allowed_namespaces[in->n_allowed_namespaces++] == NULL) {
			c->rc = APPDB_ENOMEM;
			return;
		}
	}
}

/*
 * Reads instances.NAME.KEY, a list of role or extension names, into *out;
 * *set says it was given (even empty). roles: refuse roles no user may
 * ever be a member of.
 */
static void load_name_list(struct cfgload *c, char ***out, size_t *n, int *set, json_t *v,
                           const char *path, const char *key, int roles, const char *admin)
{
	json_t *an = json_object_get(v, key);
	char f[340];
	json_t *e;
	size_t i;

	snprintf(f, sizeof(f), "%s.%s", path, key);
	if (an == NULL || json_is_null(an))
		return;
	if (!json_is_array(an)) {
		bad(c, an, f, "must be a list of names");
		return;
	}
	if (set != NULL)
		*set = 1;
	*out = calloc(json_array_size(an) + 1, sizeof(char *));
	if (*out == NULL) {
		c->rc = APPDB_ENOMEM;
		return;
	}
	json_array_foreach (an, i, e) {
		const char *s = json_string_value(e);
		int ok = s != NULL && strlen(s) == json_string_length(e) &&
		         (roles ? validate_identifier(s) : validate_extension_name(s));

		snprintf(f, sizeof(f), "%s.%s[%zu]", path, key, i);
		if (!ok) {
			bad(c, e, f, "must match %s",
			    roles ? "^[a-z_][a-z0-9_]{0,62}$" : "^[a-z_][a-z0-9_-]{0,62}$");
			return;
		}
		if (roles && validate_never_member_of(s, admin)) {
			bad(c, e, f, "%s may never be granted to a user", s);
			return;
		}
		if (((*out)[*n] = strdup(s)) == NULL) {
			c->rc = APPDB_ENOMEM;
			return;
		}
		(*n)++;
	}
}

static void load_instance(struct cfgload *c, struct instance_config *in, const char *name,
                          json_t *v, const struct config *cfg)
{
	static const char *const keys[] = {"host",
	                                   "port",
	                                   "adminDatabase",
	                                   "sslMode",
	                                   "sslRootCert",
	                                   "admin",
	                                   "statementTimeoutSeconds",
	                                   "allowedNamespaces",
	                                   "maxConnectionsPerInstance",
	                                   "allowConnectionSecrets",
	                                   "allowedRoles",
	                                   "allowedExtensions",
	                                   NULL};
	static const char *const admin_keys[] = {"user", "passwordFrom", "iamAuth", NULL};
	static const char *const ssl_modes[] = {"disable",   "allow",       "prefer", "require",
	                                        "verify-ca", "verify-full", NULL};
	const char *const *m;
	json_t *admin, *pf, *iam;
	char path[300];
	int ok = 0;

	snprintf(path, sizeof(path), "instances.%s", name);
	in->name = strdup(name);
	if (in->name == NULL) {
		c->rc = APPDB_ENOMEM;
		return;
	}
	if (!json_is_object(v)) {
		bad(c, v, path, "must be a mapping");
		return;
	}
	known_keys(c, v, path, keys);
	in->host = str_field(c, v, path, "host", NULL, 1);
	in->port = int_field(c, v, path, "port", 5432, 1, 65535);
	in->admin_database = str_field(c, v, path, "adminDatabase", "postgres", 0);
	in->ssl_mode = str_field(c, v, path, "sslMode", "verify-full", 0);
	in->ssl_root_cert = str_field(c, v, path, "sslRootCert", NULL, 0);
	in->statement_timeout_seconds =
	    int_field(c, v, path, "statementTimeoutSeconds", 60, 1, 86400);
	in->max_connections = int_field(c, v, path, "maxConnectionsPerInstance", 2, 1, 64);
	in->allow_connection_secrets = bool_field(c, v, path, "allowConnectionSecrets", 0);
	for (m = ssl_modes; in->ssl_mode != NULL && *m != NULL; m++)
		ok |= strcmp(*m, in->ssl_mode) == 0;
	if (in->ssl_mode != NULL && !ok) {
		snprintf(path, sizeof(path), "instances.%s.sslMode", name);
		bad(c, json_object_get(v, "sslMode"), path,
		    "must be one of disable, allow, prefer, require, verify-ca, verify-full");
	}
	snprintf(path, sizeof(path), "instances.%s", name);
	load_allowed_namespaces(c, in, v, path);
	admin = obj_field(c, v, path, "admin", 1);
	if (admin == NULL)
		return;
	snprintf(path, sizeof(path), "instances.%s.admin", name);
	known_keys(c, admin, path, admin_keys);
	in->admin_user = str_field(c, admin, path, "user", NULL, 1);
	snprintf(path, sizeof(path), "instances.%s", name);
	load_name_list(c, &in->allowed_roles, &in->n_allowed_roles, NULL, v, path, "allowedRoles",
	               1, in->admin_user);
	load_name_list(c, &in->allowed_extensions, &in->n_allowed_extensions,
	               &in->allowed_extensions_set, v, path, "allowedExtensions", 0, NULL);
	snprintf(path, sizeof(path), "instances.%s.admin", name);
	pf = obj_field(c, admin, path, "passwordFrom", 0);
	iam = obj_field(c, admin, path, "iamAuth", 0);
	if ((pf == NULL) == (iam == NULL)) {
		bad(c, admin, path, "must give exactly one of passwordFrom, iamAuth");
		return;
	}
	if (pf != NULL) {
		snprintf(path, sizeof(path), "instances.%s.admin.passwordFrom", name);
		load_password_from(c, &in->admin_password, pf, path);
	} else {
		static const char *const iam_keys[] = {"region", NULL};

		snprintf(path, sizeof(path), "instances.%s.admin.iamAuth", name);
		known_keys(c, iam, path, iam_keys);
		in->iam_auth = 1;
		in->iam_region = str_field(c, iam, path, "region", cfg->aws_region, 0);
		if (in->iam_region == NULL || in->iam_region[0] == '\0')
			bad(c, iam, path, "needs a region (here or aws.region)");
	}
}

/* Applies the environment's overrides; returns 0 or APPDB_ENOMEM. */
static int load_env(struct config *cfg)
{
	const char *e;

	e = getenv("APPDB_ENVIRONMENT");
	if (e != NULL && e[0] != '\0') {
		free(cfg->environment);
		cfg->environment = strdup(e);
		if (cfg->environment == NULL)
			return APPDB_ENOMEM;
	}
	e = getenv("ALLOW_DB_PROVISION");
	cfg->allow_provision = e != NULL && strcmp(e, "true") == 0;
	e = getenv("BUILD_ID");
	cfg->build_id = strdup(e != NULL && e[0] != '\0' ? e : APPDB_BUILD_ID);
	return cfg->build_id != NULL ? 0 : APPDB_ENOMEM;
}

static int valid_environment(const char *e)
{
	return e != NULL && (strcmp(e, "dev") == 0 || strcmp(e, "test") == 0 ||
	                     strcmp(e, "staging") == 0 || strcmp(e, "prod") == 0);
}

int config_load(struct config **out, const char *path, struct err *err)
{
	static const char *const keys[] = {"environment",     "instances", "aws",
	                                   "watchNamespaces", "cacheDir",  "workers",
	                                   "resyncSeconds",   "httpPort",  "lockTimeoutSeconds",
	                                   "leaderElection",  NULL};
	static const char *const aws_keys[] = {"region", "endpoint", "secretCacheSeconds", NULL};
	static const char *const le_keys[] = {"enabled",
	                                      "namespace",
	                                      "name",
	                                      "leaseDurationSeconds",
	                                      "renewDeadlineSeconds",
	                                      "retryPeriodSeconds",
	                                      NULL};
	struct cfgload c = {0};
	struct config *cfg = NULL;
	json_t *root, *inst, *aws, *wn, *le, *v;
	const char *name;
	size_t i;

	*out = NULL;
	c.err = err;
	c.rc = yamljson_parse_file(&c.docs, path, err);
	if (c.rc != 0)
		return c.rc == APPDB_EIO ? APPDB_EIO : APPDB_EINVAL;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		c.rc = APPDB_ENOMEM;
		goto out;
	}
	cfg->path = strdup(path);
	if (cfg->path == NULL) {
		c.rc = APPDB_ENOMEM;
		goto out;
	}
	if (c.docs.n != 1 || !json_is_object(c.docs.docs[0])) {
		c.rc = err_set(err, APPDB_EINVAL, "%s: must hold exactly one YAML mapping", path);
		goto out;
	}
	root = c.docs.docs[0];
	known_keys(&c, root, "", keys);
	cfg->environment = str_field(&c, root, "", "environment", "dev", 0);
	if (cfg->environment != NULL && !valid_environment(cfg->environment))
		bad(&c, json_object_get(root, "environment"), "environment",
		    "must be one of dev, test, staging, prod");

	aws = obj_field(&c, root, "", "aws", 0);
	if (aws != NULL)
		known_keys(&c, aws, "aws", aws_keys);
	cfg->aws_region = str_field(&c, aws, "aws", "region", getenv("AWS_REGION"), 0);
	cfg->aws_endpoint = str_field(&c, aws, "aws", "endpoint", "", 0);
	cfg->aws_secret_cache_seconds =
	    int_field(&c, aws, "aws", "secretCacheSeconds", 60, 0, 3600);

	inst = obj_field(&c, root, "", "instances", 1);
	if (inst != NULL && json_object_size(inst) > 0) {
		cfg->instances = calloc(json_object_size(inst), sizeof(*cfg->instances));
		if (cfg->instances == NULL) {
			c.rc = APPDB_ENOMEM;
			goto out;
		}
		json_object_foreach (inst, name, v) {
			load_instance(&c, &cfg->instances[cfg->n_instances], name, v, cfg);
			cfg->n_instances++;
		}
	}

	wn = json_object_get(root, "watchNamespaces");
	if (wn != NULL && !json_is_null(wn)) {
		if (!json_is_array(wn)) {
			bad(&c, wn, "watchNamespaces", "must be a list of namespace names");
		} else if (json_array_size(wn) > 0) {
			cfg->watch_namespaces = calloc(json_array_size(wn), sizeof(char *));
			if (cfg->watch_namespaces == NULL) {
				c.rc = APPDB_ENOMEM;
				goto out;
			}
			json_array_foreach (wn, i, v) {
				if (!json_is_string(v)) {
					bad(&c, v, "watchNamespaces",
					    "must be a list of namespace names");
					break;
				}
				cfg->watch_namespaces[cfg->n_watch_namespaces] =
				    strdup(json_string_value(v));
				if (cfg->watch_namespaces[cfg->n_watch_namespaces++] == NULL) {
					c.rc = APPDB_ENOMEM;
					goto out;
				}
			}
		}
	}
	cfg->cache_dir = str_field(&c, root, "", "cacheDir", "/var/cache/appdb-operator", 0);
	cfg->workers = int_field(&c, root, "", "workers", 4, 1, 64);
	cfg->resync_seconds = int_field(&c, root, "", "resyncSeconds", 600, 1, 86400);
	cfg->http_port = int_field(&c, root, "", "httpPort", 8080, 0, 65535);
	cfg->lock_timeout_seconds = int_field(&c, root, "", "lockTimeoutSeconds", 30, 1, 3600);

	le = obj_field(&c, root, "", "leaderElection", 0);
	if (le != NULL)
		known_keys(&c, le, "leaderElection", le_keys);
	cfg->leader.enabled = bool_field(&c, le, "leaderElection", "enabled", 0);
	cfg->leader.lease_namespace = str_field(&c, le, "leaderElection", "namespace", NULL, 0);
	cfg->leader.lease_name = str_field(&c, le, "leaderElection", "name", "appdb-operator", 0);
	cfg->leader.lease_seconds =
	    int_field(&c, le, "leaderElection", "leaseDurationSeconds", 15, 2, 3600);
	cfg->leader.renew_seconds =
	    int_field(&c, le, "leaderElection", "renewDeadlineSeconds", 10, 1, 3600);
	cfg->leader.retry_seconds =
	    int_field(&c, le, "leaderElection", "retryPeriodSeconds", 2, 1, 3600);
	if (c.rc == 0 && cfg->leader.renew_seconds >= cfg->leader.lease_seconds)
		bad(&c, le, "leaderElection.renewDeadlineSeconds",
		    "must be less than leaseDurationSeconds");

	if (c.rc == 0)
		c.rc = load_env(cfg);
	if (c.rc == 0 && !valid_environment(cfg->environment))
		c.rc = err_set(err, APPDB_EINVAL,
		               "APPDB_ENVIRONMENT must be one of dev, test, staging, prod");
out:
	yaml_docs_clear(&c.docs);
	if (c.rc != 0) {
		config_free(cfg);
		return c.rc;
	}
	*out = cfg;
	return 0;
}

const struct instance_config *config_instance(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < cfg->n_instances; i++)
		if (strcmp(cfg->instances[i].name, name) == 0)
			return &cfg->instances[i];
	return NULL;
}

int config_instance_allows(const struct instance_config *in, const char *ns)
{
	size_t i;

	if (in->n_allowed_namespaces == 0)
		return 1;
	for (i = 0; ns != NULL && i < in->n_allowed_namespaces; i++)
		if (fnmatch(in->allowed_namespaces[i], ns, 0) == 0)
			return 1;
	return 0;
}

void config_free(struct config *cfg)
{
	size_t i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_instances; i++) {
		struct instance_config *in = &cfg->instances[i];

		free(in->name);
		free(in->host);
		free(in->admin_database);
		free(in->ssl_mode);
		free(in->ssl_root_cert);
		free(in->admin_user);
		secret_ref_clear(&in->admin_password);
		free(in->iam_region);
		for (j = 0; j < in->n_allowed_namespaces; j++)
			free(in->allowed_namespaces[j]);
		free(in->allowed_namespaces);
		for (j = 0; j < in->n_allowed_roles; j++)
			free(in->allowed_roles[j]);
		free(in->allowed_roles);
		for (j = 0; j < in->n_allowed_extensions; j++)
			free(in->allowed_extensions[j]);
		free(in->allowed_extensions);
	}
	free(cfg->instances);
	for (i = 0; i < cfg->n_watch_namespaces; i++)
		free(cfg->watch_namespaces[i]);
	free(cfg->watch_namespaces);
	free(cfg->path);
	free(cfg->environment);
	free(cfg->build_id);
	free(cfg->aws_region);
	free(cfg->aws_endpoint);
	free(cfg->cache_dir);
	free(cfg->leader.lease_namespace);
	free(cfg->leader.lease_name);
	free(cfg);
}
