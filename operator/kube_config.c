/*
 * kube_config.c - kubeconfig and in-cluster configuration, token files and
 * the exec credential plugin.
 */
#include "kube_config.h"

#include "base64.h"
#include "clock.h"
#include "dynbuf.h"
#include "execplugin.h"
#include "fdio.h"
#include "jfield.h"
#include "secret.h"
#include "yamljson.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define TOKEN_REREAD_SECONDS 60
#define EXEC_TIMEOUT_SECONDS 30
#define EXEC_OUTPUT_MAX (1 << 20)
#define FILE_MAX (4 << 20)
#define EXEC_API_V1 "client.authentication.k8s.io/v1"
#define EXEC_API_V1BETA1 "client.authentication.k8s.io/v1beta1"

struct kube_config_cache {
	pthread_mutex_t lock;
	pthread_cond_t exec_done; /* signalled when a plugin run ends */
	int exec_running;         /* a thread runs the plugin, outside the lock */
	/* token file */
	char *file_token;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	double read_at;
	/* exec plugin */
	char *exec_token;
	char *exec_cert, *exec_key;
	size_t exec_cert_len, exec_key_len;
	double exec_expiry; /* 0: none given; <0: nothing cached */
};

/* Wipes and frees a NULL-terminated vector. */
static void free_vec(char **v, int wipe)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++) {
		if (wipe)
			dynbuf_wipe_str(v[i]);
		else
			free(v[i]);
	}
	free(v);
}

void kube_creds_clear(struct kube_creds *c)
{
	dynbuf_wipe_str(c->token);
	dynbuf_wipe_free(c->cert_pem, c->cert_pem_len);
	dynbuf_wipe_free(c->key_pem, c->key_pem_len);
	memset(c, 0, sizeof(*c));
}

/* Drops the cached exec credential. Lock held. */
static void exec_cache_clear(struct kube_config_cache *c)
{
	dynbuf_wipe_str(c->exec_token);
	dynbuf_wipe_free(c->exec_cert, c->exec_cert_len);
	dynbuf_wipe_free(c->exec_key, c->exec_key_len);
	c->exec_token = c->exec_cert = c->exec_key = NULL;
	c->exec_cert_len = c->exec_key_len = 0;
	c->exec_expiry = -1;
}

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
		free_vec(cfg->exec->args, 0);
		free_vec(cfg->exec->env, 1);
		free(cfg->exec);
	}
	if (cfg->cache != NULL) {
		exec_cache_clear(cfg->cache);
		dynbuf_wipe_str(cfg->cache->file_token);
		pthread_cond_destroy(&cfg->cache->exec_done);
		pthread_mutex_destroy(&cfg->cache->lock);
		free(cfg->cache);
	}
	free(cfg);
}

/* A new empty config with its cache. NULL on ENOMEM. */
static struct kube_config *config_alloc(void)
{
	struct kube_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	cfg->cache = calloc(1, sizeof(*cfg->cache));
	if (cfg->cache == NULL) {
		free(cfg);
		return NULL;
	}
	pthread_mutex_init(&cfg->cache->lock, NULL);
	pthread_cond_init(&cfg->cache->exec_done, NULL);
	cfg->cache->exec_expiry = -1;
	cfg->clock = clock_wall;
	return cfg;
}

/* Reads a whole file (at most FILE_MAX) into *out (NUL-terminated), length in *out_len. */
static int read_file(char **out, size_t *out_len, const char *path, struct err *err)
{
	return fdio_read_file(out, out_len, path, FILE_MAX, err);
}

/* Removes trailing whitespace in place. */
static void rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 &&
	       (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
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
		free_vec(e->args, 0);
		free_vec(e->env, 1);
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
		if (read_file(&ns, NULL, nsfile, NULL) == 0)
			rtrim(ns);
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

/* ---- credentials ---- */

/* Re-reads the token file when it changed or is older than a minute. Lock held. */
static int refresh_file_token(struct kube_config *cfg, struct err *err)
{
	struct kube_config_cache *c = cfg->cache;
	struct stat st;
	double now = cfg->clock();
	char *tok = NULL;
	int rc;

	if (stat(cfg->token_file, &st) != 0) {
		if (c->file_token != NULL)
			return 0; /* keep the last good token: a rotation may be in flight */
		return err_set(err, APPDB_EIO, "could not read token file %s: %s", cfg->token_file,
		               strerror(errno));
	}
	if (c->file_token != NULL && st.st_ino == c->ino && st.st_dev == c->dev &&
	    st.st_size == c->size && st.st_mtim.tv_sec == c->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == c->mtime.tv_nsec && now - c->read_at < TOKEN_REREAD_SECONDS)
		return 0;
	rc = read_file(&tok, NULL, cfg->token_file, err);
	if (rc != 0)
		return c->file_token != NULL ? 0 : rc;
	rtrim(tok);
	if (tok[0] == '\0') {
		dynbuf_wipe_str(tok);
		if (c->file_token != NULL)
			return 0;
		return err_set(err, APPDB_EIO, "token file %s is empty", cfg->token_file);
	}
	dynbuf_wipe_str(c->file_token);
	c->file_token = tok;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->size = st.st_size;
	c->mtime = st.st_mtim;
	c->read_at = now;
	return 0;
}

/* The KUBERNETES_EXEC_INFO value (owned). */
static char *exec_info(struct kube_config *cfg)
{
	json_t *spec = json_pack("{s:b}", "interactive", 0);
	json_t *o;
	char *s;

	if (spec != NULL && cfg->exec->provide_cluster_info) {
		json_t *cl = json_pack("{s:s, s:b}", "server", cfg->server,
		                       "insecure-skip-tls-verify", cfg->insecure);

		if (cl != NULL && cfg->ca_data != NULL)
			json_object_set_new(cl, "certificate-authority-data",
			                    json_stringn(cfg->ca_data, cfg->ca_data_len));
		json_object_set_new(spec, "cluster", cl);
	}
	o = json_pack("{s:s, s:s, s:o}", "apiVersion", cfg->exec->api_version, "kind",
	              "ExecCredential", "spec", spec);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

/* The child's environment: ours, the plugin's env, KUBERNETES_EXEC_INFO. Owned. */
static char **exec_env(struct kube_config *cfg)
{
	size_t n = 0, m = 0, i, j;
	char **env, *info;

	while (environ[n] != NULL)
		n++;
	while (cfg->exec->env[m] != NULL)
		m++;
	env = calloc(n + m + 2, sizeof(char *));
	info = exec_info(cfg);
	if (env == NULL || info == NULL)
		goto fail;
	j = 0;
	for (i = 0; i < n; i++) {
		size_t k, len = strcspn(environ[i], "=");
		int overridden = strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) == 0;

		for (k = 0; k < m && !overridden; k++)
			if (strncmp(cfg->exec->env[k], environ[i], len + 1) == 0)
				overridden = 1;
		if (!overridden && (env[j++] = strdup(environ[i])) == NULL)
			goto fail;
	}
	for (i = 0; i < m; i++)
		if ((env[j++] = strdup(cfg->exec->env[i])) == NULL)
			goto fail;
	if (asprintf(&env[j], "KUBERNETES_EXEC_INFO=%s", info) < 0) {
		env[j] = NULL;
		goto fail;
	}
	free(info);
	return env;
fail:
	free(info);
	free_vec(env, 1);
	return NULL;
}

/* Runs the plugin (no lock held); its stdout (new, to be wiped) goes to *out. */
static int exec_run(char **out, size_t *out_len, struct kube_config *cfg, struct err *err)
{
	struct kube_exec *e = cfg->exec;
	struct execplugin_opts o = {0};
	char **env = NULL, **argv = NULL;
	size_t nargs = 0, i;
	int rc = APPDB_ENOMEM;

	*out = NULL;
	while (e->args[nargs] != NULL)
		nargs++;
	argv = calloc(nargs + 2, sizeof(char *));
	env = exec_env(cfg);
	if (argv == NULL || env == NULL)
		goto out;
	argv[0] = e->command;
	for (i = 0; i < nargs; i++)
		argv[i + 1] = e->args[i];
	o.command = e->command;
	o.argv = argv;
	o.envp = env;
	o.timeout = cfg->exec_timeout > 0 ? cfg->exec_timeout : EXEC_TIMEOUT_SECONDS;
	o.output_max = EXEC_OUTPUT_MAX;
	rc = execplugin_run(out, out_len, &o, err);
out:
	free(argv);
	free_vec(env, 1);
	return rc;
}

/* A credential from the plugin, before it is cached. */
struct exec_cred {
	char *token, *cert, *key;
	size_t cert_len, key_len;
	double expiry; /* 0: none given */
};

static void exec_cred_clear(struct exec_cred *x)
{
	dynbuf_wipe_str(x->token);
	dynbuf_wipe_free(x->cert, x->cert_len);
	dynbuf_wipe_free(x->key, x->key_len);
	memset(x, 0, sizeof(*x));
}

/* Reads an ExecCredential of text into *out; the parsed copy is wiped. */
static int exec_parse(struct exec_cred *out, struct kube_config *cfg, const char *text, size_t len,
                      struct err *err)
{
	json_t *doc = json_loadb(text, len, 0, NULL), *st;
	const char *api, *kind, *tok, *cert, *key, *exp;
	int rc = APPDB_EUNAUTHORIZED;

	memset(out, 0, sizeof(*out));
	api = jfield_str(doc, "apiVersion");
	kind = jfield_str(doc, "kind");
	st = json_object_get(doc, "status");
	if (!json_is_object(doc) || kind == NULL || strcmp(kind, "ExecCredential") != 0) {
		err_set(err, rc, "exec plugin %s: output is not an ExecCredential",
		        cfg->exec->command);
		goto out;
	}
	if (api == NULL || strcmp(api, cfg->exec->api_version) != 0) {
		err_set(err, rc, "exec plugin %s: apiVersion %s, expected %s", cfg->exec->command,
		        api != NULL ? api : "(none)", cfg->exec->api_version);
		goto out;
	}
	tok = jfield_str(st, "token");
	cert = jfield_str(st, "clientCertificateData");
	key = jfield_str(st, "clientKeyData");
	exp = jfield_str(st, "expirationTimestamp");
	if ((tok == NULL || tok[0] == '\0') && (cert == NULL || key == NULL)) {
		err_set(err, rc,
		        "exec plugin %s: status has neither token nor "
		        "clientCertificateData and clientKeyData",
		        cfg->exec->command);
		goto out;
	}
	if (exp != NULL && clock_parse(exp) < 0) {
		err_set(err, rc, "exec plugin %s: status.expirationTimestamp: not RFC 3339",
		        cfg->exec->command);
		goto out;
	}
	rc = APPDB_ENOMEM;
	if (tok != NULL && (out->token = strdup(tok)) == NULL)
		goto out;
	if (cert != NULL && key != NULL) {
		out->cert = strdup(cert);
		out->key = strdup(key);
		if (out->cert == NULL || out->key == NULL)
			goto out;
		out->cert_len = strlen(cert);
		out->key_len = strlen(key);
	}
	out->expiry = exp != NULL ? (double)clock_parse(exp) : 0;
	rc = 0;
out:
	if (rc != 0)
		exec_cred_clear(out);
	secret_wipe_json(doc);
	json_decref(doc);
	return rc;
}

/* 1 when the cached exec credential serves until its refresh is due. Lock held. */
static int exec_fresh(struct kube_config *cfg)
{
	struct kube_config_cache *c = cfg->cache;

	return c->exec_expiry == 0 || (c->exec_expiry > 0 && cfg->clock() < c->exec_expiry - 10);
}

/* 1 when the cached exec credential has not expired yet. Lock held. */
static int exec_usable(struct kube_config *cfg)
{
	struct kube_config_cache *c = cfg->cache;

	return c->exec_expiry == 0 || (c->exec_expiry > 0 && cfg->clock() < c->exec_expiry);
}

/*
 * Makes the cached exec credential current. Called and returns with the
 * lock held, but runs the plugin with it released: one thread runs it,
 * the others use the credential still valid or wait for the run to end.
 */
static int refresh_exec(struct kube_config *cfg, struct err *err)
{
	struct kube_config_cache *c = cfg->cache;
	struct exec_cred x = {0};
	char *text = NULL;
	size_t len = 0;
	int rc;

	while (!exec_fresh(cfg)) {
		if (!c->exec_running) {
			c->exec_running = 1;
			pthread_mutex_unlock(&c->lock);
			rc = exec_run(&text, &len, cfg, err);
			if (rc == 0)
				rc = exec_parse(&x, cfg, text, len, err);
			dynbuf_wipe_free(text, len);
			pthread_mutex_lock(&c->lock);
			c->exec_running = 0;
			pthread_cond_broadcast(&c->exec_done);
			exec_cache_clear(c);
			if (rc != 0)
				return rc;
			c->exec_token = x.token;
			c->exec_cert = x.cert;
			c->exec_key = x.key;
			c->exec_cert_len = x.cert_len;
			c->exec_key_len = x.key_len;
			c->exec_expiry = x.expiry;
			return 0;
		}
		if (exec_usable(cfg))
			return 0; /* another thread refreshes; the current one still serves */
		pthread_cond_wait(&c->exec_done, &c->lock);
	}
	return 0;
}

/* Owned copy of n bytes (NUL-terminated). */
static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int kube_config_credentials(struct kube_creds *out, struct kube_config *cfg, struct err *err)
{
	struct kube_config_cache *c = cfg->cache;
	const char *tok = cfg->token;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	if (cfg->exec != NULL) {
		rc = refresh_exec(cfg, err);
		if (rc != 0)
			goto out;
		if (c->exec_token != NULL)
			tok = c->exec_token;
		if (c->exec_cert != NULL) {
			out->cert_pem = dupn(c->exec_cert, c->exec_cert_len);
			out->key_pem = dupn(c->exec_key, c->exec_key_len);
			out->cert_pem_len = c->exec_cert_len;
			out->key_pem_len = c->exec_key_len;
			if (out->cert_pem == NULL || out->key_pem == NULL) {
				rc = APPDB_ENOMEM;
				goto out;
			}
		}
	}
	/*
	 * As client-go: the last value read from tokenFile takes precedence over
	 * a static token; the static one serves while the file cannot be read.
	 */
	if ((cfg->exec == NULL || c->exec_token == NULL) && cfg->token_file != NULL) {
		struct err ferr = {0};

		rc = refresh_file_token(cfg, &ferr);
		if (rc == 0) {
			tok = c->file_token;
		} else if (cfg->token == NULL) {
			err_set(err, rc, "%s", ferr.msg);
			goto out;
		} else {
			rc = 0;
		}
	}
	if (out->cert_pem == NULL && cfg->cert_data != NULL) {
		out->cert_pem = dupn(cfg->cert_data, cfg->cert_data_len);
		out->cert_pem_len = cfg->cert_data_len;
		if (out->cert_pem == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
	if (out->key_pem == NULL && cfg->key_data != NULL) {
		out->key_pem = dupn(cfg->key_data, cfg->key_data_len);
		out->key_pem_len = cfg->key_data_len;
		if (out->key_pem == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
	if (tok != NULL && (out->token = strdup(tok)) == NULL)
		rc = APPDB_ENOMEM;
out:
	pthread_mutex_unlock(&c->lock);
	if (rc != 0)
		kube_creds_clear(out);
	return rc;
}

void kube_config_invalidate(struct kube_config *cfg)
{
	pthread_mutex_lock(&cfg->cache->lock);
	exec_cache_clear(cfg->cache);
	cfg->cache->read_at = -1e18; /* forces a re-read of the token file */
	pthread_mutex_unlock(&cfg->cache->lock);
}
