/*
 * kube_config.c - kubeconfig files and the in-cluster configuration; the
 * credentials they lead to are in kube_creds.c.
 */
#include "kube_config.h"
#include "kube_creds.h"

#include "base64.h"
#include "clock.h"
#include "dynbuf.h"
#include "fdio.h"
#include "jfield.h"
#include "secret.h"
#include "yamljson.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXEC_API_V1 "client.authentication.k8s.io/v1"
#define EXEC_API_V1BETA1 "client.authentication.k8s.io/v1beta1"

void kube_config_free(struct kube_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->server);
	free(cfg->ca_file);
	free(cfg->ca_data);
	free(cfg->tls_server_name);
	free(cfg->ns);
	dynbuf_wipe_str(cfg->token);
	free(cfg->token_file);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->cert_data);
	dynbuf_wipe_free(cfg->key_data, cfg->key_data_len);
	if (cfg->exec != NULL) {
		free(cfg->exec->api_version);
		free(cfg->exec->command);
		kube_strv_free(cfg->exec->args, 0);
		kube_strv_free(cfg->exec->env, 1);
		free(cfg->exec);
	}
	kube_creds_cache_free(cfg->cache);
	free(cfg);
}

/* A new empty config with its cache. NULL on ENOMEM. */
static struct kube_config *config_alloc(void)
{
	struct kube_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	cfg->cache = kube_creds_cache_new();
	if (cfg->cache == NULL) {
		free(cfg);
		return NULL;
	}
	cfg->clock = clock_wall;
	return cfg;
}

/* ---- kubeconfig ---- */

/* The entry of list named name (borrowed): [{name: ..., <field>: {...}}]. */
static json_t *named_entry(json_t *list, const char *name, const char *field)
{
	size_t i;
	json_t *e;

	if (!json_is_array(list) || name == NULL)
		return NULL;
	json_array_foreach (list, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return json_object_get(e, field);
	}
	return NULL;
}

/* path resolved against dir when relative; owned. */
static char *resolve_path(const char *dir, const char *path)
{
	char *r = NULL;

	if (path == NULL)
		return NULL;
	if (path[0] == '/' || dir == NULL)
		return strdup(path);
	if (asprintf(&r, "%s/%s", dir, path) < 0)
		return NULL;
	return r;
}

/* Decodes a -data field into *out and *out_len. */
static int data_field(char **out, size_t *out_len, json_t *obj, const char *key, const char *where,
                      struct err *err)
{
	const char *v = jfield_str(obj, key);
	int rc;

	if (v == NULL)
		return 0;
	rc = base64_decode(out, out_len, v, strlen(v), BASE64_LENIENT);
	if (rc == APPDB_EINVAL)
		err_set(err, rc, "%s.%s: not valid base64", where, key);
	return rc;
}

/* Reads users[].user.exec. */
static int parse_exec(struct kube_exec **out, json_t *ex, const char *dir, const char *where,
                      struct err *err)
{
	struct kube_exec *e = calloc(1, sizeof(*e));
	json_t *args = json_object_get(ex, "args"), *env = json_object_get(ex, "env"), *v;
	const char *cmd = jfield_str(ex, "command"), *api = jfield_str(ex, "apiVersion");
	size_t i, n;
	int rc = APPDB_ENOMEM;

	*out = NULL;
	if (e == NULL)
		goto out;
	if (cmd == NULL || cmd[0] == '\0') {
		rc = err_set(err, APPDB_EINVAL, "%s.exec.command: required", where);
		goto out;
	}
	if (api == NULL || (strcmp(api, EXEC_API_V1) != 0 && strcmp(api, EXEC_API_V1BETA1) != 0)) {
		rc = err_set(err, APPDB_EINVAL, "%s.exec.apiVersion: must be %s", where,
		             EXEC_API_V1);
		goto out;
	}
	e->api_version = strdup(api);
	/* client-go: a command with a slash is relative to the kubeconfig's directory. */
	e->command = strchr(cmd, '/') != NULL ? resolve_path(dir, cmd) : strdup(cmd);
	e->provide_cluster_info = jfield_true(ex, "provideClusterInfo");
	n = json_is_array(args) ? json_array_size(args) : 0;
	e->args = calloc(n + 1, sizeof(char *));
	if (e->api_version == NULL || e->command == NULL || e->args == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		const char *a = json_string_value(json_array_get(args, i));

		if (a == NULL) {
			rc = err_set(err, APPDB_EINVAL, "%s.exec.args[%zu]: must be a string",
			             where, i);
			goto out;
		}
		if ((e->args[i] = strdup(a)) == NULL)
			goto out;
	}
	n = json_is_array(env) ? json_array_size(env) : 0;
	e->env = calloc(n + 1, sizeof(char *));
	if (e->env == NULL)
		goto out;
	json_array_foreach (env, i, v) {
		const char *name = jfield_str(v, "name"), *val = jfield_str(v, "value");

		if (name == NULL || name[0] == '\0' || strchr(name, '=') != NULL || val == NULL) {
			rc = err_set(err, APPDB_EINVAL,
			             "%s.exec.env[%zu]: needs a name and a value", where, i);
			goto out;
		}
		if (asprintf(&e->env[i], "%s=%s", name, val) < 0) {
			e->env[i] = NULL;
			goto out;
		}
	}
	*out = e;
	e = NULL;
	rc = 0;
out:
	if (e != NULL) {
		free(e->api_version);
		free(e->command);
		kube_strv_free(e->args, 0);
		kube_strv_free(e->env, 1);
		free(e);
	}
	return rc;
}

/* Fills cfg from the parsed kubeconfig doc. */
static int from_kubeconfig(struct kube_config *cfg, json_t *doc, const char *path, const char *dir,
                           const char *context, struct err *err)
{
	const char *ctx_name = context != NULL ? context : jfield_str(doc, "current-context");
	json_t *ctx, *cluster, *user = NULL, *ex;
	const char *cluster_name, *user_name, *v;
	char where[300];
	int rc = APPDB_EINVAL;

	if (!json_is_object(doc))
		return err_set(err, APPDB_EINVAL, "%s: not a kubeconfig (expected a mapping)",
		               path);
	if (ctx_name == NULL || ctx_name[0] == '\0')
		return err_set(err, APPDB_EINVAL, "%s: current-context: not set", path);
	ctx = named_entry(json_object_get(doc, "contexts"), ctx_name, "context");
	if (!json_is_object(ctx))
		return err_set(err, APPDB_EINVAL, "%s: contexts: no context named \"%s\"", path,
		               ctx_name);
	cluster_name = jfield_str(ctx, "cluster");
	user_name = jfield_str(ctx, "user");
	cluster = named_entry(json_object_get(doc, "clusters"), cluster_name, "cluster");
	if (!json_is_object(cluster))
		return err_set(err, APPDB_EINVAL, "%s: clusters: no cluster named \"%s\"", path,
		               cluster_name != NULL ? cluster_name : "");
	if (user_name != NULL) {
		user = named_entry(json_object_get(doc, "users"), user_name, "user");
		if (user != NULL && !json_is_object(user) && !json_is_null(user))
			return err_set(err, APPDB_EINVAL, "%s: users.%s.user: not a mapping", path,
			               user_name);
		if (user == NULL && json_is_array(json_object_get(doc, "users")))
			return err_set(err, APPDB_EINVAL, "%s: users: no user named \"%s\"", path,
			               user_name);
	}
	v = jfield_str(cluster, "server");
	if (v == NULL || (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0))
		return err_set(err, APPDB_EINVAL, "%s: clusters.%s.server: must be an http(s) URL",
		               path, cluster_name);
	cfg->server = strdup(v);
	if (cfg->server == NULL)
		return APPDB_ENOMEM;
	while (strlen(cfg->server) > 0 && cfg->server[strlen(cfg->server) - 1] == '/')
		cfg->server[strlen(cfg->server) - 1] = '\0';
	cfg->insecure = jfield_true(cluster, "insecure-skip-tls-verify");
	snprintf(where, sizeof(where), "%s: clusters.%s", path, cluster_name);
	if ((v = jfield_str(cluster, "certificate-authority")) != NULL &&
	    (cfg->ca_file = resolve_path(dir, v)) == NULL)
		return APPDB_ENOMEM;
	rc = data_field(&cfg->ca_data, &cfg->ca_data_len, cluster, "certificate-authority-data",
	                where, err);
	if (rc != 0)
		return rc;
	if ((v = jfield_str(cluster, "tls-server-name")) != NULL &&
	    (cfg->tls_server_name = strdup(v)) == NULL)
		return APPDB_ENOMEM;
	v = jfield_str(ctx, "namespace");
	cfg->ns = strdup(v != NULL && v[0] != '\0' ? v : "default");
	if (cfg->ns == NULL)
		return APPDB_ENOMEM;
	if (!json_is_object(user))
		return 0;
	snprintf(where, sizeof(where), "%s: users.%s", path, user_name);
	if ((v = jfield_str(user, "token")) != NULL && (cfg->token = strdup(v)) == NULL)
		return APPDB_ENOMEM;
	if ((v = jfield_str(user, "tokenFile")) != NULL &&
	    (cfg->token_file = resolve_path(dir, v)) == NULL)
		return APPDB_ENOMEM;
	if ((v = jfield_str(user, "client-certificate")) != NULL &&
	    (cfg->cert_file = resolve_path(dir, v)) == NULL)
		return APPDB_ENOMEM;
	if ((v = jfield_str(user, "client-key")) != NULL &&
	    (cfg->key_file = resolve_path(dir, v)) == NULL)
		return APPDB_ENOMEM;
	rc = data_field(&cfg->cert_data, &cfg->cert_data_len, user, "client-certificate-data",
	                where, err);
	if (rc == 0)
		rc = data_field(&cfg->key_data, &cfg->key_data_len, user, "client-key-data", where,
		                err);
	if (rc != 0)
		return rc;
	if ((cfg->cert_file != NULL || cfg->cert_data != NULL) !=
	    (cfg->key_file != NULL || cfg->key_data != NULL))
		return err_set(err, APPDB_EINVAL,
		               "%s: client-certificate and client-key must be given together",
		               where);
	ex = json_object_get(user, "exec");
	if (json_is_object(ex))
		return parse_exec(&cfg->exec, ex, dir, where, err);
	return 0;
}

int kube_config_load(struct kube_config **out, const char *path, const char *context,
                     struct err *err)
{
	struct kube_config *cfg = NULL;
	struct yaml_docs docs = {0};
	char *owned_path = NULL, *dir = NULL, *slash;
	int rc = APPDB_ENOMEM;

	*out = NULL;
	if (path == NULL) {
		const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");

		if (env != NULL && env[0] != '\0')
			owned_path = strndup(env, strcspn(env, ":"));
		else if (asprintf(&owned_path, "%s/.kube/config", home != NULL ? home : "") < 0)
			owned_path = NULL;
		if (owned_path == NULL)
			goto out;
		path = owned_path;
	}
	rc = yamljson_parse_file(&docs, path, err);
	if (rc != 0)
		goto out;
	if (docs.n == 0) {
		rc = err_set(err, APPDB_EINVAL, "%s: empty kubeconfig", path);
		goto out;
	}
	rc = APPDB_ENOMEM;
	dir = strdup(path);
	cfg = config_alloc();
	if (dir == NULL || cfg == NULL)
		goto out;
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	rc = from_kubeconfig(cfg, docs.docs[0], path, dir, context, err);
	if (rc != 0)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	/* the kubeconfig may hold tokens and keys */
	if (docs.n > 0)
		secret_wipe_json(docs.docs[0]);
	yaml_docs_clear(&docs);
	kube_config_free(cfg);
	free(owned_path);
	free(dir);
	return rc;
}

int kube_config_in_cluster(struct kube_config **out, struct err *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = getenv(KUBE_SA_DIR_ENV);
	struct kube_config *cfg = NULL;
	char *ns = NULL;
	int rc;

	*out = NULL;
	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
		return err_set(err, APPDB_ENOTFOUND,
		               "not in a cluster: KUBERNETES_SERVICE_HOST and "
		               "KUBERNETES_SERVICE_PORT are not set");
	if (dir == NULL || dir[0] == '\0')
		dir = KUBE_SA_DIR_DEFAULT;
	rc = APPDB_ENOMEM;
	cfg = config_alloc();
	if (cfg == NULL)
		goto out;
	cfg->in_cluster = 1;
	if (asprintf(&cfg->server, strchr(host, ':') != NULL ? "https://[%s]:%s" : "https://%s:%s",
	             host, port) < 0) {
		cfg->server = NULL;
		goto out;
	}
	if (asprintf(&cfg->token_file, "%s/token", dir) < 0) {
		cfg->token_file = NULL;
		goto out;
	}
	if (asprintf(&cfg->ca_file, "%s/ca.crt", dir) < 0) {
		cfg->ca_file = NULL;
		goto out;
	}
	if (access(cfg->token_file, R_OK) != 0) {
		rc = err_set(err, APPDB_EIO, "could not read the service account token %s: %s",
		             cfg->token_file, strerror(errno));
		goto out;
	}
	{
		char *nsfile = NULL;

		if (asprintf(&nsfile, "%s/namespace", dir) < 0)
			goto out;
		if (fdio_read_file(&ns, NULL, nsfile, KUBE_FILE_MAX, NULL) == 0)
			kube_rtrim(ns);
		free(nsfile);
	}
	cfg->ns = ns != NULL && ns[0] != '\0' ? ns : strdup("default");
	if (cfg->ns != ns)
		free(ns);
	if (cfg->ns == NULL)
		goto out;
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	kube_config_free(cfg);
	return rc;
}

int kube_config_auto(struct kube_config **out, const char *path, struct err *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");

	if (path == NULL && host != NULL && host[0] != '\0')
		return kube_config_in_cluster(out, err);
	return kube_config_load(out, path, NULL, err);
}
