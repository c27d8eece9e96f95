/*
 * kube_creds.c - the credentials half of kube_config.h: the token file
 * re-read when it changes, the exec plugin's credential cached until it
 * expires (the plugin runs in execplugin.c, outside the lock), and the
 * copies a request presents.
 */
#include "kube_creds.h"

#include "clock.h"
#include "dynbuf.h"
#include "execplugin.h"
#include "fdio.h"
#include "jfield.h"
#include "secret.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern char **environ;

#define TOKEN_REREAD_SECONDS 60
#define EXEC_TIMEOUT_SECONDS 30
#define EXEC_OUTPUT_MAX (1 << 20)

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

void kube_strv_free(char **v, int wipe)
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

void kube_rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 &&
	       (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
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

struct kube_config_cache *kube_creds_cache_new(void)
{
	struct kube_config_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->exec_done, NULL);
	c->exec_expiry = -1;
	return c;
}

void kube_creds_cache_free(struct kube_config_cache *c)
{
	if (c == NULL)
		return;
	exec_cache_clear(c);
	dynbuf_wipe_str(c->file_token);
	pthread_cond_destroy(&c->exec_done);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

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
	rc = fdio_read_file(&tok, NULL, cfg->token_file, KUBE_FILE_MAX, err);
	if (rc != 0)
		return c->file_token != NULL ? 0 : rc;
	kube_rtrim(tok);
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
	kube_strv_free(env, 1);
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
	kube_strv_free(env, 1);
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
