/*
 * aws.c - the AWS client context and the pod's credential chain
 * (DESIGN section 5): environment keys, IRSA through STS
 * AssumeRoleWithWebIdentity, EKS Pod Identity, and the background thread
 * that refreshes temporary credentials before they expire.
 *
 * Locking: mu guards the credentials, the generation and the thread's
 * state; refresh_mu serialises the (slow, networked) reads of the chain so
 * one refresh runs at a time while readers with valid credentials go on.
 */
#include "aws_int.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_FILE_MAX 16384
#define RETRY_MIN_SECONDS 10
#define RETRY_MAX_SECONDS 300
#define REFRESH_SPACING_SECONDS 60 /* least time between two background refreshes */

enum cred_source { SRC_NONE = 0, SRC_ENV, SRC_IRSA, SRC_POD };

static const char *const source_names[] = {"none", "environment", "IRSA web identity",
                                           "EKS Pod Identity"};

struct aws {
	char *region;      /* NULL when none is known */
	char *sm_endpoint; /* NULL when no region and no endpoint */
	int cache_seconds;
	pthread_mutex_t mu;
	pthread_mutex_t refresh_mu;
	pthread_cond_t cv;
	struct aws_creds creds;
	int have_creds;
	int stale; /* invalidated: refresh on next use */
	enum cred_source src;
	unsigned long generation;
	int thread_started;
	int stopping;
	pthread_t thread;
	struct aws_sm_cache *cache;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* Initialises libcurl once for the process. */
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Wipes and frees the strings of c; c stays usable. */
void aws_creds_clear(struct aws_creds *c)
{
	aws_free_secret(c->access_key);
	aws_free_secret(c->secret_key);
	aws_free_secret(c->session_token);
	memset(c, 0, sizeof(*c));
}

/* Deep copy of src into out. */
int aws_creds_copy(struct aws_creds *out, const struct aws_creds *src)
{
	memset(out, 0, sizeof(*out));
	out->expires = src->expires;
	out->access_key = strdup(src->access_key);
	out->secret_key = strdup(src->secret_key);
	if (src->session_token != NULL)
		out->session_token = strdup(src->session_token);
	if (out->access_key == NULL || out->secret_key == NULL ||
	    (src->session_token != NULL && out->session_token == NULL)) {
		aws_creds_clear(out);
		return APPDB_ENOMEM;
	}
	return 0;
}

/* SigV4 percent-encoding of s into a new string. */
char *aws_uri_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, k = 0;
	char *out = malloc(n * 3 + 1);

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[k++] = (char)c;
		} else {
			out[k++] = '%';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		}
	}
	out[k] = '\0';
	return out;
}

/* True when the region looks like one ("us-east-1"). */
static int region_valid(const char *r)
{
	size_t i, n = strlen(r);

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++) {
		if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
			return 0;
	}
	return 1;
}

/* The DNS suffix of the region's partition (China has its own). */
static const char *dns_suffix(const char *region)
{
	return strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
}

/* A non-empty environment variable or NULL. */
static const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Checks the settings and makes a client; credentials are read on first use. */
int aws_new(struct aws **out, const struct aws_settings *settings, struct err *err)
{
	struct aws *aws = NULL;
	const char *region = NULL, *region_field = "aws.region";
	const char *endpoint, *endpoint_field = "aws.endpoint";
	int rc = 0;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	aws = calloc(1, sizeof(*aws));
	if (aws == NULL)
		return APPDB_ENOMEM;
	pthread_mutex_init(&aws->mu, NULL);
	pthread_mutex_init(&aws->refresh_mu, NULL);
	pthread_cond_init(&aws->cv, NULL);
	aws->cache_seconds =
	    settings->secret_cache_seconds > 0 ? settings->secret_cache_seconds : 0;
	if (settings->region != NULL && settings->region[0] != '\0') {
		region = settings->region;
	} else if ((region = env_get("AWS_REGION")) != NULL) {
		region_field = "AWS_REGION";
	} else if ((region = env_get("AWS_DEFAULT_REGION")) != NULL) {
		region_field = "AWS_DEFAULT_REGION";
	}
	if (region != NULL) {
		if (!region_valid(region)) {
			rc = err_set(err, APPDB_EINVAL, "%s: not a valid AWS region: %.40s",
			             region_field, region);
			goto out;
		}
		aws->region = strdup(region);
		if (aws->region == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
	/* As the AWS SDKs: the config, then the service's variable, then the global one. */
	endpoint = settings->endpoint;
	if (endpoint != NULL && endpoint[0] != '\0') {
		endpoint_field = "aws.endpoint";
	} else if ((endpoint = env_get("AWS_ENDPOINT_URL_SECRETS_MANAGER")) != NULL) {
		endpoint_field = "AWS_ENDPOINT_URL_SECRETS_MANAGER";
	} else if ((endpoint = env_get("AWS_ENDPOINT_URL")) != NULL) {
		endpoint_field = "AWS_ENDPOINT_URL";
	}
	if (endpoint != NULL && endpoint[0] != '\0') {
		rc = aws_check_endpoint(endpoint, endpoint_field, err);
		if (rc != 0)
			goto out;
		aws->sm_endpoint = strdup(endpoint);
	} else if (aws->region != NULL) {
		if (asprintf(&aws->sm_endpoint, "https://secretsmanager.%s.%s/", aws->region,
		             dns_suffix(aws->region)) < 0)
			aws->sm_endpoint = NULL;
	}
	if ((endpoint != NULL && endpoint[0] != '\0') || aws->region != NULL) {
		if (aws->sm_endpoint == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
	rc = aws_sm_cache_new(&aws->cache);
	if (rc != 0)
		goto out;
	*out = aws;
	aws = NULL;
out:
	aws_free(aws);
	return rc;
}

/* Stops the refresh thread, wipes credentials and the cache, frees. */
void aws_free(struct aws *aws)
{
	if (aws == NULL)
		return;
	pthread_mutex_lock(&aws->mu);
	aws->stopping = 1;
	pthread_cond_broadcast(&aws->cv);
	pthread_mutex_unlock(&aws->mu);
	if (aws->thread_started)
		pthread_join(aws->thread, NULL);
	aws_creds_clear(&aws->creds);
	aws_sm_cache_free(aws->cache);
	free(aws->region);
	free(aws->sm_endpoint);
	pthread_cond_destroy(&aws->cv);
	pthread_mutex_destroy(&aws->refresh_mu);
	pthread_mutex_destroy(&aws->mu);
	free(aws);
}

/* The region in use, or NULL. */
const char *aws_region(const struct aws *aws)
{
	return aws->region;
}

/* The Secrets Manager base URL, or NULL without region and endpoint. */
const char *aws_sm_endpoint(const struct aws *aws)
{
	return aws->sm_endpoint;
}

/* How long a secret value stays cached (0: not at all). */
int aws_cache_seconds(const struct aws *aws)
{
	return aws->cache_seconds;
}

/* The client's secret cache (borrowed). */
struct aws_sm_cache *aws_sm_cache_of(struct aws *aws)
{
	return aws->cache;
}

/*
 * Reads a token file (re-read on every call: the kubelet rotates it),
 * without trailing white space. *out is new and must be wiped.
 */
static int read_token_file(char **out, const char *path, const char *field, struct err *err)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, APPDB_EUNAUTHORIZED, "could not open %s file %s: %s", field,
		               path, strerror(errno));
	buf = malloc(TOKEN_FILE_MAX + 1);
	if (buf == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	while (len < TOKEN_FILE_MAX && (n = read(fd, buf + len, TOKEN_FILE_MAX - len)) > 0)
		len += (size_t)n;
	if (len == TOKEN_FILE_MAX) {
		rc = err_set(err, APPDB_EUNAUTHORIZED, "%s file %s is too large", field, path);
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\0', len) != NULL || strpbrk(buf, "\r\n") != NULL) {
		rc = err_set(err, APPDB_EUNAUTHORIZED, "%s file %s is empty or not a token", field,
		             path);
		goto out;
	}
	*out = buf;
	buf = NULL;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, TOKEN_FILE_MAX + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

/* Wipes every string of a header list, then frees it (headers may carry tokens). */
static void slist_free_wiped(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* Describes a non-200 answer: the AWS error code and message when the body has them. */
static int answer_error(struct err *err, const struct aws_http_resp *resp, int xml,
                        const char *what)
{
	struct aws_error e;
	int found, code;

	found = xml ? aws_err_parse_xml(&e, resp->body, resp->len)
	            : aws_err_parse_json(&e, resp->body, resp->len);
	if (found != 0 && resp->error_type[0] != '\0') {
		memset(&e, 0, sizeof(e));
		snprintf(e.code, sizeof(e.code), "%s", resp->error_type);
		found = 0;
	}
	code = aws_err_classify(found == 0 ? e.code : NULL, resp->status);
	if (code == APPDB_ETHROTTLED && err != NULL)
		err->retry_after = resp->retry_after;
	if (found == 0)
		return err_set(err, code, "%s: AWS answered %ld %s%s%s", what, resp->status, e.code,
		               e.message[0] ? ": " : "", e.message);
	return err_set(err, code, "%s: AWS answered HTTP %ld", what, resp->status);
}

/* IRSA: AssumeRoleWithWebIdentity, an unsigned Query-protocol POST to STS. */
static int load_irsa(struct aws_creds *out, const struct aws *aws, struct err *err)
{
	const char *role = env_get("AWS_ROLE_ARN");
	const char *token_file = env_get("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *session = env_get("AWS_ROLE_SESSION_NAME");
	const char *sts = env_get("AWS_ENDPOINT_URL_STS");
	const char *sts_field = "AWS_ENDPOINT_URL_STS";
	char *token = NULL, *e_token = NULL, *e_role = NULL, *e_session = NULL;
	char *body = NULL, *url = NULL;
	char session_buf[64];
	char what[512];
	struct curl_slist *hdrs = NULL;
	struct aws_http_req req = {0};
	struct aws_http_resp resp = {0};
	int rc;

	snprintf(what, sizeof(what), "could not assume role %.300s with web identity", role);
	if (sts == NULL && (sts = env_get("AWS_ENDPOINT_URL")) != NULL)
		sts_field = "AWS_ENDPOINT_URL";
	if (sts != NULL) {
		rc = aws_check_endpoint(sts, sts_field, err);
		if (rc != 0)
			goto out;
		url = strdup(sts);
	} else if (aws->region != NULL) {
		if (asprintf(&url, "https://sts.%s.%s/", aws->region, dns_suffix(aws->region)) < 0)
			url = NULL;
	} else {
		rc = err_set(err, APPDB_EINVAL,
		             "%s: no AWS region: set aws.region in the config or AWS_REGION", what);
		goto out;
	}
	if (url == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	rc = read_token_file(&token, token_file, "AWS_WEB_IDENTITY_TOKEN_FILE", err);
	if (rc != 0) {
		err_wrap(err, rc, "%s", what);
		goto out;
	}
	if (session == NULL) {
		snprintf(session_buf, sizeof(session_buf), "appdb-operator-%lld",
		         (long long)time(NULL));
		session = session_buf;
	}
	e_token = aws_uri_encode(token);
	e_role = aws_uri_encode(role);
	e_session = aws_uri_encode(session);
	if (e_token == NULL || e_role == NULL || e_session == NULL ||
	    asprintf(&body,
	             "Action=AssumeRoleWithWebIdentity&RoleArn=%s&RoleSessionName=%s"
	             "&Version=2011-06-15&WebIdentityToken=%s",
	             e_role, e_session, e_token) < 0) {
		body = NULL;
		rc = APPDB_ENOMEM;
		goto out;
	}
	hdrs = curl_slist_append(NULL,
	                         "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
	/* Web identity tokens pass 1 KiB; never wait for a 100-continue. */
	if (hdrs != NULL && curl_slist_append(hdrs, "Expect:") == NULL) {
		curl_slist_free_all(hdrs);
		hdrs = NULL;
	}
	if (hdrs == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	req.method = "POST";
	req.url = url;
	req.body = body;
	req.body_len = strlen(body);
	req.headers = hdrs;
	rc = aws_http_do(&resp, &req, err);
	if (rc != 0) {
		err_wrap(err, rc, "%s", what);
		goto out;
	}
	if (resp.status != 200) {
		rc = answer_error(err, &resp, 1, what);
		goto out;
	}
	rc = aws_sts_parse(out, resp.body, resp.len, err);
	if (rc != 0)
		err_wrap(err, rc, "%s", what);
out:
	aws_free_secret(token);
	aws_free_secret(e_token);
	aws_free_secret(body);
	free(e_role);
	free(e_session);
	free(url);
	curl_slist_free_all(hdrs);
	aws_http_resp_clear(&resp);
	return rc;
}

/* True for the hosts the AWS SDKs let the container credentials URL use over plain http. */
static int container_host_allowed(const char *host)
{
	return aws_host_is_loopback(host) || strcmp(host, "169.254.170.2") == 0 ||
	       strcmp(host, "169.254.170.23") == 0 || strcasecmp(host, "[fd00:ec2::23]") == 0 ||
	       strcasecmp(host, "fd00:ec2::23") == 0;
}

/* Checks the container credentials URL: https anywhere, http only on the allowed hosts. */
static int check_container_url(const char *url, struct err *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	if (u == NULL)
		return APPDB_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = err_set(err, APPDB_EINVAL,
		             "AWS_CONTAINER_CREDENTIALS_FULL_URI: not a valid URL");
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0)
		goto out;
	if (strcasecmp(scheme, "http") != 0 || !container_host_allowed(host))
		rc = err_set(err, APPDB_EINVAL,
		             "AWS_CONTAINER_CREDENTIALS_FULL_URI: host %s is not allowed over %s; "
		             "use https, a loopback host or the EKS/ECS agent address",
		             host, scheme);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* EKS Pod Identity (and ECS): GET the credentials URL with the token as Authorization. */
static int load_container(struct aws_creds *out, struct err *err)
{
	const char *full = env_get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel = env_get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *token_file = env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token_env = env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *what = "could not read container credentials";
	char *url = NULL, *token = NULL, *hdr = NULL;
	struct curl_slist *hdrs = NULL;
	struct aws_http_req req = {0};
	struct aws_http_resp resp = {0};
	int rc;

	if (full != NULL)
		url = strdup(full);
	else if (asprintf(&url, "http://169.254.170.2%s", rel) < 0)
		url = NULL;
	if (url == NULL)
		return APPDB_ENOMEM;
	rc = check_container_url(url, err);
	if (rc != 0)
		goto out;
	if (token_file != NULL) {
		rc = read_token_file(&token, token_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		                     err);
		if (rc != 0) {
			err_wrap(err, rc, "%s", what);
			goto out;
		}
	} else if (token_env != NULL) {
		if (strpbrk(token_env, "\r\n") != NULL) {
			rc = err_set(err, APPDB_EINVAL,
			             "AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
			goto out;
		}
		token = strdup(token_env);
		if (token == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
	if (token != NULL) {
		if (asprintf(&hdr, "Authorization: %s", token) < 0) {
			hdr = NULL;
			rc = APPDB_ENOMEM;
			goto out;
		}
		hdrs = curl_slist_append(NULL, hdr);
		if (hdrs == NULL) {
			rc = APPDB_ENOMEM;
			goto out;
		}
	}
	req.method = "GET";
	req.url = url;
	req.headers = hdrs;
	rc = aws_http_do(&resp, &req, err);
	if (rc != 0) {
		err_wrap(err, rc, "%s", what);
		goto out;
	}
	if (resp.status != 200) {
		rc = answer_error(err, &resp, 0, what);
		goto out;
	}
	rc = aws_container_parse(out, resp.body, resp.len, err);
	if (rc != 0)
		err_wrap(err, rc, "%s", what);
out:
	aws_free_secret(token);
	aws_free_secret(hdr);
	slist_free_wiped(hdrs);
	aws_http_resp_clear(&resp);
	free(url);
	return rc;
}

/* Static keys from the environment. */
static int load_env(struct aws_creds *out, struct err *err)
{
	const char *akid = env_get("AWS_ACCESS_KEY_ID");
	const char *secret = env_get("AWS_SECRET_ACCESS_KEY");
	const char *token = env_get("AWS_SESSION_TOKEN");
	struct aws_creds src = {0};

	if (akid == NULL || secret == NULL)
		return err_set(err, APPDB_EUNAUTHORIZED, "%s is set but %s is not",
		               akid != NULL ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		               akid != NULL ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	src.access_key = (char *)akid;
	src.secret_key = (char *)secret;
	src.session_token = (char *)token;
	return aws_creds_copy(out, &src);
}

/* Reads the chain in order: which source, then its credentials. */
static int load_chain(struct aws_creds *out, enum cred_source *src, const struct aws *aws,
                      struct err *err)
{
	memset(out, 0, sizeof(*out));
	if (env_get("AWS_ACCESS_KEY_ID") != NULL || env_get("AWS_SECRET_ACCESS_KEY") != NULL) {
		*src = SRC_ENV;
		return load_env(out, err);
	}
	if (env_get("AWS_ROLE_ARN") != NULL && env_get("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL) {
		*src = SRC_IRSA;
		return load_irsa(out, aws, err);
	}
	if (env_get("AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL ||
	    env_get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != NULL) {
		*src = SRC_POD;
		return load_container(out, err);
	}
	*src = SRC_NONE;
	return err_set(err, APPDB_EUNAUTHORIZED,
	               "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
	               "or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), or "
	               "AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity)");
}

/* True when the held credentials must be read again before use (mu held). */
static int needs_refresh(const struct aws *aws, time_t now)
{
	return !aws->have_creds || aws->stale ||
	       (aws->creds.expires != 0 && aws->creds.expires - now < AWS_REFRESH_FORCE);
}

static void *refresh_thread(void *arg);

/*
 * Reads the chain and installs the result (refresh_mu held, mu not held).
 * Starts the refresh thread the first time temporary credentials arrive.
 */
static int refresh_now(struct aws *aws, struct err *err)
{
	struct aws_creds fresh;
	enum cred_source src = SRC_NONE;
	char until[32] = "";
	struct tm tm;
	int rc;

	rc = load_chain(&fresh, &src, aws, err);
	if (rc != 0)
		return rc;
	if (fresh.expires != 0) {
		gmtime_r(&fresh.expires, &tm);
		strftime(until, sizeof(until), ", valid until %Y-%m-%dT%H:%M:%SZ", &tm);
	}
	pthread_mutex_lock(&aws->mu);
	aws_creds_clear(&aws->creds);
	aws->creds = fresh;
	aws->have_creds = 1;
	aws->stale = 0;
	aws->src = src;
	aws->generation++;
	if (fresh.expires != 0 && !aws->thread_started && !aws->stopping) {
		if (pthread_create(&aws->thread, NULL, refresh_thread, aws) == 0)
			aws->thread_started = 1;
		else
			log_warn(NULL, "aws: could not start the credential refresh thread");
	}
	pthread_cond_broadcast(&aws->cv);
	pthread_mutex_unlock(&aws->mu);
	log_info(NULL, "aws: credentials from %s%s", source_names[src], until);
	return 0;
}

/* Refreshes temporary credentials AWS_REFRESH_BEFORE seconds before they expire. */
static void *refresh_thread(void *arg)
{
	struct aws *aws = arg;
	time_t not_before = 0;
	int backoff = RETRY_MIN_SECONDS;
	struct timespec ts;
	struct err err;
	time_t due, now;
	int rc;

	pthread_mutex_lock(&aws->mu);
	while (!aws->stopping) {
		now = time(NULL);
		due =
		    aws->creds.expires != 0 ? aws->creds.expires - AWS_REFRESH_BEFORE : now + 3600;
		if (due < not_before)
			due = not_before;
		if (now < due) {
			ts.tv_sec = due;
			ts.tv_nsec = 0;
			pthread_cond_timedwait(&aws->cv, &aws->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&aws->mu);
		err_clear(&err);
		pthread_mutex_lock(&aws->refresh_mu);
		rc = refresh_now(aws, &err);
		pthread_mutex_unlock(&aws->refresh_mu);
		pthread_mutex_lock(&aws->mu);
		now = time(NULL);
		if (rc != 0) {
			log_warn(NULL, "aws: credential refresh failed, retrying in %d s: %s",
			         backoff, err.msg);
			not_before = now + backoff;
			backoff = backoff * 2 > RETRY_MAX_SECONDS ? RETRY_MAX_SECONDS : backoff * 2;
		} else {
			/* Credentials shorter than the window must not make this loop spin. */
			not_before = now + REFRESH_SPACING_SECONDS;
			backoff = RETRY_MIN_SECONDS;
		}
	}
	pthread_mutex_unlock(&aws->mu);
	return NULL;
}

/* A copy of the current credentials, refreshing them first when needed. */
int aws_creds_get(struct aws_creds *out, unsigned long *generation, struct aws *aws,
                  struct err *err)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&aws->mu);
	if (!needs_refresh(aws, time(NULL)))
		goto copy;
	pthread_mutex_unlock(&aws->mu);
	pthread_mutex_lock(&aws->refresh_mu);
	pthread_mutex_lock(&aws->mu);
	if (needs_refresh(aws, time(NULL))) {
		pthread_mutex_unlock(&aws->mu);
		rc = refresh_now(aws, err);
		pthread_mutex_lock(&aws->mu);
	}
	pthread_mutex_unlock(&aws->refresh_mu);
	if (rc != 0) {
		/* Credentials that are near expiry but still valid beat none. */
		if (aws->have_creds && !aws->stale &&
		    (aws->creds.expires == 0 || aws->creds.expires > time(NULL) + 60)) {
			log_warn(NULL, "aws: credential refresh failed, using the current ones: %s",
			         err != NULL ? err->msg : "");
			if (err != NULL)
				err_clear(err);
			rc = 0;
		} else {
			goto out;
		}
	}
copy:
	rc = aws_creds_copy(out, &aws->creds);
	if (generation != NULL)
		*generation = aws->generation;
out:
	pthread_mutex_unlock(&aws->mu);
	return rc;
}

/* Marks the credentials of generation stale. */
void aws_creds_invalidate(struct aws *aws, unsigned long generation)
{
	pthread_mutex_lock(&aws->mu);
	if (aws->generation == generation)
		aws->stale = 1;
	pthread_mutex_unlock(&aws->mu);
}

/* A fresh RDS IAM token with the client's current credentials. */
int aws_rds_token(char **out, struct aws *aws, const char *host, int port, const char *user,
                  const char *region, struct err *err)
{
	struct aws_creds c;
	int rc;

	*out = NULL;
	if (region == NULL || region[0] == '\0')
		region = aws->region;
	if (region == NULL)
		return err_set(err, APPDB_EINVAL,
		               "iamAuth: no AWS region: set admin.iamAuth.region or aws.region");
	if (!region_valid(region))
		return err_set(err, APPDB_EINVAL, "iamAuth: not a valid AWS region: %.40s", region);
	rc = aws_creds_get(&c, NULL, aws, err);
	if (rc != 0)
		return err_wrap(err, rc, "could not make an RDS IAM token for %s", user);
	rc = rds_iam_presign(out, host, port, user, region, c.access_key, c.secret_key,
	                     c.session_token, time(NULL), err);
	aws_creds_clear(&c);
	return rc;
}

/* engine_token_fn: the RDS IAM token for an iamAuth instance's admin. */
int aws_engine_token(void *ctx, char **out, const struct instance_config *in, struct err *err)
{
	return aws_rds_token(out, ctx, in->host, in->port, in->admin_user, in->iam_region, err);
}
