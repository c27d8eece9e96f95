/*
 * aws.c - the AWS client context: settings, the credentials in use and
 * the background thread that refreshes temporary credentials before they
 * expire (the sources themselves are in aws_chain.c), RDS IAM tokens.
 *
 * Locking: mu guards the credentials, the generation and the thread's
 * state; refresh_mu serialises the (slow, networked) reads of the chain so
 * one refresh runs at a time while readers with valid credentials go on.
 */
#include "aws_int.h"
#include "config.h"
#include "log.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MIN_SECONDS 10
#define RETRY_MAX_SECONDS 300
#define REFRESH_SPACING_SECONDS 60 /* least time between two background refreshes */

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
	enum aws_cred_source src;
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
	} else if ((region = aws_env("AWS_REGION")) != NULL) {
		region_field = "AWS_REGION";
	} else if ((region = aws_env("AWS_DEFAULT_REGION")) != NULL) {
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
	} else if ((endpoint = aws_env("AWS_ENDPOINT_URL_SECRETS_MANAGER")) != NULL) {
		endpoint_field = "AWS_ENDPOINT_URL_SECRETS_MANAGER";
	} else if ((endpoint = aws_env("AWS_ENDPOINT_URL")) != NULL) {
		endpoint_field = "AWS_ENDPOINT_URL";
	}
	if (endpoint != NULL && endpoint[0] != '\0') {
		rc = aws_check_endpoint(endpoint, endpoint_field, err);
		if (rc != 0)
			goto out;
		aws->sm_endpoint = strdup(endpoint);
	} else if (aws->region != NULL) {
		if (asprintf(&aws->sm_endpoint, "https://secretsmanager.%s.%s/", aws->region,
		             aws_dns_suffix(aws->region)) < 0)
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
	enum aws_cred_source src = AWS_SRC_NONE;
	char until[32] = "";
	struct tm tm;
	int rc;

	rc = aws_chain_load(&fresh, &src, aws->region, err);
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
	log_info(NULL, "aws: credentials from %s%s", aws_source_name(src), until);
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
