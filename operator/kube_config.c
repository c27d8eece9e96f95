/*
 * kube_config.c - kubeconfig and in-cluster configuration, token files and
 * the exec credential plugin.
 */
#include "kube_config.h"

#include "secret.h"
#include "yamljson.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

/* The wall clock in seconds. */
static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wipes and frees a secret string of n bytes (strlen when n is 0). */
static void wipe_free(char *s, size_t n)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, n != 0 ? n : strlen(s));
	free(s);
}

/* Wipes and frees a NULL-terminated vector. */
static void free_vec(char **v, int wipe)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++) {
		if (wipe)
			wipe_free(v[i], 0);
		else
			free(v[i]);
	}
	free(v);
}

void kube_creds_clear(struct kube_creds *c)
{
	wipe_free(c->token, 0);
	wipe_free(c->cert_pem, c->cert_pem_len);
	wipe_free(c->key_pem, c->key_pem_len);
	memset(c, 0, sizeof(*c));
}

/* Drops the cached exec credential. Lock held. */
static void exec_cache_clear(struct kube_config_cache *c)
{
	wipe_free(c->exec_token, 0);
	wipe_free(c->exec_cert, c->exec_cert_len);
	wipe_free(c->exec_key, c->exec_key_len);
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
	wipe_free(cfg->token, 0);
	free(cfg->token_file);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->cert_data);
	wipe_free(cfg->key_data, cfg->key_data_len);
	if (cfg->exec != NULL) {
		free(cfg->exec->api_version);
		free(cfg->exec->command);
		free_vec(cfg->exec->args, 0);
		free_vec(cfg->exec->env, 1);
		free(cfg->exec);
	}
	if (cfg->cache != NULL) {
		exec_cache_clear(cfg->cache);
		wipe_free(cfg->cache->file_token, 0);
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
	cfg->cache->exec_expiry = -1;
	cfg->clock = wall_now;
	return cfg;
}

/* Reads a whole file (at most FILE_MAX) into *out (NUL-terminated), length in *out_len. */
static int read_file(char **out, size_t *out_len, const char *path, struct err *err)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0, cap = 4096, r;
	int rc = APPDB_EIO;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL) {
		err_set(err, APPDB_EIO, "could not open %s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(cap);
	if (buf == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (n + 1 == cap) {
			char *nb;

			if (cap >= FILE_MAX) {
				err_set(err, APPDB_EIO, "%s is larger than %d bytes", path,
				        FILE_MAX);
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				rc = APPDB_ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		err_set(err, APPDB_EIO, "could not read %s: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	if (out_len != NULL)
		*out_len = n;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL)
		wipe_free(buf, cap);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* Removes trailing whitespace in place. */
static void rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 &&
	       (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* Decodes standard base64 (whitespace ignored) into an owned NUL-terminated buffer. */
static int base64_decode(char **out, size_t *out_len, const char *in)
{
	size_t n = strlen(in), o = 0;
	unsigned int acc = 0;
	int bits = 0, pad = 0;
	char *buf = malloc(n / 4 * 3 + 4);
	const char *p;

	*out = NULL;
	if (buf == NULL)
		return APPDB_ENOMEM;
	for (p = in; *p != '\0'; p++) {
		int v;
		char ch = *p;

		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad > 0)
			goto bad;
		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '+')
			v = 62;
		else if (ch == '/')
			v = 63;
		else
			goto bad;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)((acc >> bits) & 0xFF);
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return 0;
bad:
	wipe_free(buf, n / 4 * 3 + 4);
	return APPDB_EINVAL;
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

/* A string field or NULL (a non-string is an error reported by the caller). */
static const char *str_field(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* A boolean field given as true or "true". */
static int bool_field(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
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
	const char *v = str_field(obj, key);
	int rc;

	if (v == NULL)
		return 0;
	rc = base64_decode(out, out_len, v);
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
	const char *cmd = str_field(ex, "command"), *api = str_field(ex, "apiVersion");
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
	e->provide_cluster_info = bool_field(ex, "provideClusterInfo");
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
		const char *name = str_field(v, "name"), *val = str_field(v, "value");

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
	const char *ctx_name = context != NULL ? context : str_field(doc, "current-context");
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
	cluster_name = str_field(ctx, "cluster");
	user_name = str_field(ctx, "user");
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
	v = str_field(cluster, "server");
	if (v == NULL || (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0))
		return err_set(err, APPDB_EINVAL, "%s: clusters.%s.server: must be an http(s) URL",
		               path, cluster_name);
	cfg->server = strdup(v);
	if (cfg->server == NULL)
		return APPDB_ENOMEM;
	while (strlen(cfg->server) > 0 && cfg->server[strlen(cfg->server) - 1] == '/')
		cfg->server[strlen(cfg->server) - 1] = '\0';
	cfg->insecure = bool_field(cluster, "insecure-skip-tls-verify");
	snprintf(where, sizeof(where), "%s: clusters.%s", path, cluster_name);
	if ((v = str_field(cluster, "certificate-authority")) != NULL &&
	    (cfg->ca_file = resolve_path(dir, v)) == NULL)
		return APPDB_ENOMEM;
	rc = data_field(&cfg->ca_data, &cfg->ca_data_len, cluster, "certificate-authority-data",
	                where, err);
	if (rc != 0)
		return rc;
	if ((v = str_field(cluster, "tls-server-name")) != NULL &&
	    (cfg->tls_server_name = strdup(v)) == NULL)
		return APPDB_ENOMEM;
	v = str_field(ctx, "namespace");
	cfg->ns = strdup(v != NULL && v[0] != '\0' ? v : "default");
	if (cfg->ns == NULL)
		return APPDB_ENOMEM;
	if (!json_is_object(user))
		return 0;
	snprintf(where, sizeof(where), "%s: users.%s", path, user_name);
	if ((v = str_field(user, "token")) != NULL && (cfg->token = strdup(v)) == NULL)
		return APPDB_ENOMEM;
	if ((v = str_field(user, "tokenFile")) != NULL &&
	    (cfg->token_file = resolve_path(dir, v)) == NULL)
		return APPDB_ENOMEM;
	if ((v = str_field(user, "client-certificate")) != NULL &&
	    (cfg->cert_file = resolve_path(dir, v)) == NULL)
		return APPDB_ENOMEM;
	if ((v = str_field(user, "client-key")) != NULL &&
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
		wipe_free(tok, 1);
		if (c->file_token != NULL)
			return 0;
		return err_set(err, APPDB_EIO, "token file %s is empty", cfg->token_file);
	}
	wipe_free(c->file_token, 0);
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

/* Runs the plugin; its stdout (owned) goes to *out. */
static int exec_run(char **out, size_t *out_len, struct kube_config *cfg, struct err *err)
{
	struct kube_exec *e = cfg->exec;
	posix_spawn_file_actions_t fa;
	char **env = NULL, **argv = NULL, *buf = NULL;
	int pipefd[2] = {-1, -1}, devnull = -1, status = 0, rc = APPDB_ENOMEM, spawned = 0;
	size_t n = 0, cap = 4096, nargs = 0, i;
	pid_t pid = -1;
	double deadline;

	*out = NULL;
	while (e->args[nargs] != NULL)
		nargs++;
	argv = calloc(nargs + 2, sizeof(char *));
	env = exec_env(cfg);
	buf = malloc(cap);
	if (argv == NULL || env == NULL || buf == NULL)
		goto out;
	argv[0] = e->command;
	for (i = 0; i < nargs; i++)
		argv[i + 1] = e->args[i];
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		rc = err_set(err, APPDB_EUNAUTHORIZED, "exec plugin: pipe: %s", strerror(errno));
		goto out;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	if (devnull >= 0)
		posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	if (posix_spawnp(&pid, e->command, &fa, NULL, argv, env) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	pipefd[1] = -1;
	if (pid < 0) {
		rc = err_set(err, APPDB_EUNAUTHORIZED, "exec plugin %s: could not run it",
		             e->command);
		goto out;
	}
	spawned = 1;
	deadline = wall_now() + EXEC_TIMEOUT_SECONDS;
	for (;;) {
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		double left = deadline - wall_now();
		ssize_t r;

		if (left <= 0) {
			kill(pid, SIGKILL);
			rc = err_set(err, APPDB_EUNAUTHORIZED,
			             "exec plugin %s: timed out after %d s", e->command,
			             EXEC_TIMEOUT_SECONDS);
			goto out;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			break;
		if (n + 1 >= cap) {
			char *nb;

			if (cap >= EXEC_OUTPUT_MAX) {
				kill(pid, SIGKILL);
				rc = err_set(err, APPDB_EUNAUTHORIZED,
				             "exec plugin %s: output larger than %d bytes",
				             e->command, EXEC_OUTPUT_MAX);
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				kill(pid, SIGKILL);
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(pipefd[0], buf + n, cap - n - 1);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (waitpid(pid, &status, 0) == pid)
		spawned = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = err_set(err, APPDB_EUNAUTHORIZED, "exec plugin %s: exited with status %d",
		             e->command, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto out;
	}
	*out = buf;
	*out_len = n;
	buf = NULL;
	rc = 0;
out:
	if (spawned)
		waitpid(pid, &status, 0);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (devnull >= 0)
		close(devnull);
	if (buf != NULL)
		wipe_free(buf, cap);
	free(argv);
	free_vec(env, 1);
	return rc;
}

/* Runs the plugin and caches its ExecCredential. Lock held. */
static int refresh_exec(struct kube_config *cfg, struct err *err)
{
	struct kube_config_cache *c = cfg->cache;
	char *text = NULL;
	size_t len = 0;
	json_t *doc = NULL, *st;
	const char *api, *kind, *tok, *cert, *key, *exp;
	int rc;

	if (c->exec_expiry == 0 || (c->exec_expiry > 0 && cfg->clock() < c->exec_expiry - 10))
		return 0;
	exec_cache_clear(c);
	rc = exec_run(&text, &len, cfg, err);
	if (rc != 0)
		goto out;
	rc = APPDB_EUNAUTHORIZED;
	doc = json_loadb(text, len, 0, NULL);
	api = str_field(doc, "apiVersion");
	kind = str_field(doc, "kind");
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
	tok = str_field(st, "token");
	cert = str_field(st, "clientCertificateData");
	key = str_field(st, "clientKeyData");
	exp = str_field(st, "expirationTimestamp");
	if ((tok == NULL || tok[0] == '\0') && (cert == NULL || key == NULL)) {
		err_set(err, rc,
		        "exec plugin %s: status has neither token nor "
		        "clientCertificateData and clientKeyData",
		        cfg->exec->command);
		goto out;
	}
	if (exp != NULL && kube_parse_time(exp) < 0) {
		err_set(err, rc, "exec plugin %s: status.expirationTimestamp: not RFC 3339",
		        cfg->exec->command);
		goto out;
	}
	rc = APPDB_ENOMEM;
	if (tok != NULL && (c->exec_token = strdup(tok)) == NULL)
		goto out;
	if (cert != NULL && key != NULL) {
		c->exec_cert = strdup(cert);
		c->exec_key = strdup(key);
		if (c->exec_cert == NULL || c->exec_key == NULL)
			goto out;
		c->exec_cert_len = strlen(cert);
		c->exec_key_len = strlen(key);
	}
	c->exec_expiry = exp != NULL ? (double)kube_parse_time(exp) : 0;
	rc = 0;
out:
	if (rc != 0)
		exec_cache_clear(c);
	if (text != NULL)
		wipe_free(text, len);
	if (doc != NULL) {
		/* the token strings inside doc are freed by jansson; wipe them first */
		json_t *s = json_object_get(doc, "status");
		const char *fields[] = {"token", "clientKeyData"};
		size_t i;

		for (i = 0; i < 2; i++) {
			json_t *f = json_object_get(s, fields[i]);

			if (json_is_string(f))
				OPENSSL_cleanse((char *)json_string_value(f),
				                json_string_length(f));
		}
		json_decref(doc);
	}
	return rc;
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

/* ---- time ---- */

time_t kube_parse_time(const char *s)
{
	struct tm tm;
	const char *p;
	long off = 0;
	time_t t;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');

		off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return t - off;
}

void kube_format_time(char *out, size_t len, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void kube_format_micro_time(char *out, size_t len, double t)
{
	time_t sec = (time_t)t;
	long usec = (long)((t - (double)sec) * 1e6);
	struct tm tm;
	char base[32];

	if (usec < 0)
		usec = 0;
	if (usec > 999999)
		usec = 999999;
	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%06ldZ", base, usec);
}
