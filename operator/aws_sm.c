/*
 * aws_sm.c - AWS Secrets Manager as a password source: GetSecretValue
 * over the JSON 1.1 protocol, signed SigV4 by libcurl, with a small
 * bounded retry for throttling and 5xx, one credential refresh when AWS
 * says the session token expired, and a short cache of values so a resync
 * of many resources does not call AWS for each. Cached values are wiped
 * when dropped.
 */
#include "aws_int.h"
#include "secret.h"
#include "log.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SM_ATTEMPTS 3
#define SM_BACKOFF_MS 200
#define SM_RETRY_AFTER_MAX_MS 2000
#define SM_CACHE_MAX 4096
#define SM_ID_MAX 2048
#define SM_EXPIRED_REFRESHES 2 /* another worker may have used up the fresh ones */

struct cache_entry {
	char *secret_id;
	char *value;   /* the whole SecretString; wiped */
	char *version; /* VersionId */
	time_t fetched;
	struct cache_entry *next;
};

struct aws_sm_cache {
	pthread_mutex_t mu;
	struct cache_entry *head;
	size_t n;
};

/* Wipes and frees one entry. */
static void entry_free(struct cache_entry *e)
{
	free(e->secret_id);
	aws_free_secret(e->value);
	free(e->version);
	free(e);
}

/* An empty secret cache. */
int aws_sm_cache_new(struct aws_sm_cache **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return APPDB_ENOMEM;
	pthread_mutex_init(&(*out)->mu, NULL);
	return 0;
}

/* Drops every entry (mu held). */
static void cache_drop_all(struct aws_sm_cache *c)
{
	struct cache_entry *e, *next;

	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		entry_free(e);
	}
	c->head = NULL;
	c->n = 0;
}

/* Wipes every cached value and frees the cache. */
void aws_sm_cache_free(struct aws_sm_cache *c)
{
	if (c == NULL)
		return;
	cache_drop_all(c);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Drops every cached value (wiped). */
void aws_sm_cache_flush(struct aws *aws)
{
	struct aws_sm_cache *c = aws_sm_cache_of(aws);

	pthread_mutex_lock(&c->mu);
	cache_drop_all(c);
	pthread_mutex_unlock(&c->mu);
}

/* secret_invalidate_fn: drops the cached values. */
void aws_sm_invalidate(void *ctx)
{
	aws_sm_cache_flush(ctx);
}

/* Unlinks and frees the entries for which drop says so (mu held). */
static void cache_prune(struct aws_sm_cache *c, const char *secret_id, time_t older_than)
{
	struct cache_entry **pp = &c->head, *e;

	while ((e = *pp) != NULL) {
		if ((secret_id != NULL && strcmp(e->secret_id, secret_id) == 0) ||
		    e->fetched < older_than) {
			*pp = e->next;
			entry_free(e);
			c->n--;
		} else {
			pp = &e->next;
		}
	}
}

/* Copies a fresh cached value and version out; 1 on a hit, 0 on a miss, <0 on no memory. */
static int cache_get(char **value, char **version, struct aws *aws, const char *secret_id)
{
	struct aws_sm_cache *c = aws_sm_cache_of(aws);
	struct cache_entry *e;
	int hit = 0;

	*value = *version = NULL;
	if (aws_cache_seconds(aws) <= 0)
		return 0;
	pthread_mutex_lock(&c->mu);
	cache_prune(c, NULL, time(NULL) - aws_cache_seconds(aws));
	for (e = c->head; e != NULL; e = e->next) {
		if (strcmp(e->secret_id, secret_id) != 0)
			continue;
		*value = strdup(e->value);
		*version = e->version != NULL ? strdup(e->version) : NULL;
		if (*value == NULL || (e->version != NULL && *version == NULL)) {
			aws_free_secret(*value);
			free(*version);
			*value = *version = NULL;
			hit = APPDB_ENOMEM;
		} else {
			hit = 1;
		}
		break;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

/* Stores a copy of value and version; a failure only means no caching. */
static void cache_put(struct aws *aws, const char *secret_id, const char *value,
                      const char *version)
{
	struct aws_sm_cache *c = aws_sm_cache_of(aws);
	struct cache_entry *e;

	if (aws_cache_seconds(aws) <= 0)
		return;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return;
	e->secret_id = strdup(secret_id);
	e->value = strdup(value);
	e->version = version != NULL ? strdup(version) : NULL;
	e->fetched = time(NULL);
	if (e->secret_id == NULL || e->value == NULL || (version != NULL && e->version == NULL)) {
		entry_free(e);
		return;
	}
	pthread_mutex_lock(&c->mu);
	cache_prune(c, secret_id, time(NULL) - aws_cache_seconds(aws));
	if (c->n >= SM_CACHE_MAX)
		cache_drop_all(c);
	e->next = c->head;
	c->head = e;
	c->n++;
	pthread_mutex_unlock(&c->mu);
}

/* Adds the hint that goes with an error code the user can act on. */
static const char *hint_for(const char *code)
{
	if (strcmp(code, "InvalidSignatureException") == 0 ||
	    strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "IncompleteSignature") == 0)
		return " (the request signature was refused: check AWS_SECRET_ACCESS_KEY and the "
		       "system "
		       "clock)";
	if (strcmp(code, "UnrecognizedClientException") == 0 ||
	    strcmp(code, "InvalidClientTokenId") == 0)
		return " (the access key or session token is not known to AWS)";
	if (strcmp(code, "AccessDeniedException") == 0)
		return " (the operator's IAM role needs secretsmanager:GetSecretValue on this "
		       "secret)";
	if (strcmp(code, "DecryptionFailure") == 0)
		return " (the operator's IAM role needs kms:Decrypt on the secret's KMS key)";
	return "";
}

/*
 * One GetSecretValue call. On success *string and *version are new (the
 * string must be wiped). On an AWS error, code gets the AWS error code.
 */
static int get_secret_value(char **string, char **version, char code[96], struct aws *aws,
                            const struct aws_creds *creds, const char *secret_id, struct err *err)
{
	char sigv4[96], *hdr_token = NULL, *body = NULL;
	struct curl_slist *hdrs = NULL, *p;
	struct aws_http_req req = {0};
	struct aws_http_resp resp = {0};
	struct aws_error e;
	json_t *q = NULL, *doc = NULL;
	const char *s, *v;
	int rc = 0, found;

	*string = *version = NULL;
	code[0] = '\0';
	q = json_pack("{s:s}", "SecretId", secret_id);
	body = q != NULL ? json_dumps(q, JSON_COMPACT) : NULL;
	if (body == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:secretsmanager", aws_region(aws));
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-amz-json-1.1");
	if (hdrs != NULL)
		hdrs = curl_slist_append(hdrs, "X-Amz-Target: secretsmanager.GetSecretValue");
	if (hdrs != NULL && creds->session_token != NULL) {
		if (asprintf(&hdr_token, "X-Amz-Security-Token: %s", creds->session_token) < 0)
			hdr_token = NULL;
		p = hdr_token != NULL ? curl_slist_append(hdrs, hdr_token) : NULL;
		if (p == NULL) {
			curl_slist_free_all(hdrs);
			hdrs = NULL;
		}
	}
	if (hdrs == NULL) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	req.method = "POST";
	req.url = aws_sm_endpoint(aws);
	req.body = body;
	req.body_len = strlen(body);
	req.headers = hdrs;
	req.sigv4 = sigv4;
	req.creds = creds;
	rc = aws_http_do(&resp, &req, err);
	if (rc != 0)
		goto out;
	if (resp.status != 200) {
		found = aws_err_parse_json(&e, resp.body, resp.len);
		if (found != 0 && resp.error_type[0] != '\0') {
			memset(&e, 0, sizeof(e));
			snprintf(e.code, sizeof(e.code), "%s", resp.error_type);
			found = 0;
		}
		rc = aws_err_classify(found == 0 ? e.code : NULL, resp.status);
		if (rc == APPDB_ETHROTTLED && err != NULL)
			err->retry_after = resp.retry_after;
		if (found == 0) {
			snprintf(code, 96, "%s", e.code);
			rc = err_set(err, rc, "AWS answered %ld %s%s%s%s", resp.status, e.code,
			             e.message[0] ? ": " : "", e.message, hint_for(e.code));
		} else {
			rc = err_set(err, rc, "AWS answered HTTP %ld", resp.status);
		}
		goto out;
	}
	doc = json_loadb(resp.body, resp.len, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(doc)) {
		rc = err_set(err, APPDB_ETRANSIENT,
		             "the GetSecretValue answer is not a JSON object");
		goto out;
	}
	s = json_string_value(json_object_get(doc, "SecretString"));
	v = json_string_value(json_object_get(doc, "VersionId"));
	if (s == NULL) {
		rc = err_set(
		    err, APPDB_EINVAL,
		    json_object_get(doc, "SecretBinary") != NULL
		        ? "the secret holds SecretBinary; only a SecretString can be a password"
		        : "the secret has no SecretString");
		goto out;
	}
	if (strlen(s) != json_string_length(json_object_get(doc, "SecretString"))) {
		rc = err_set(err, APPDB_EINVAL, "the SecretString holds a NUL byte");
		goto out;
	}
	*string = strdup(s);
	*version = v != NULL ? strdup(v) : NULL;
	if (*string == NULL || (v != NULL && *version == NULL)) {
		aws_free_secret(*string);
		free(*version);
		*string = *version = NULL;
		rc = APPDB_ENOMEM;
	}
out:
	secret_wipe_json(doc);
	json_decref(doc);
	json_decref(q);
	free(body);
	aws_free_secret(hdr_token);
	for (p = hdrs; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(hdrs);
	aws_http_resp_clear(&resp);
	return rc;
}

/* Sleeps ms milliseconds. */
static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Reads the secret with retries: throttling and 5xx back off, expired tokens refresh. */
static int fetch_with_retry(char **string, char **version, struct aws *aws, const char *secret_id,
                            struct err *err)
{
	struct aws_creds creds = {0};
	unsigned long gen = 0;
	unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)&seed;
	char code[96];
	int attempt, refreshes = 0, rc = 0;
	long wait;

	for (attempt = 0; attempt < SM_ATTEMPTS; attempt++) {
		rc = aws_creds_get(&creds, &gen, aws, err);
		if (rc != 0)
			break;
		rc = get_secret_value(string, version, code, aws, &creds, secret_id, err);
		aws_creds_clear(&creds);
		if (rc == 0)
			break;
		if (rc == APPDB_EUNAUTHORIZED && aws_err_is_expired_token(code) &&
		    refreshes < SM_EXPIRED_REFRESHES) {
			log_info(NULL, "aws: %s: credentials expired, refreshing", code);
			aws_creds_invalidate(aws, gen);
			refreshes++;
			attempt--;
			err_clear(err);
			continue;
		}
		if ((rc != APPDB_ETHROTTLED && rc != APPDB_ETRANSIENT) ||
		    attempt == SM_ATTEMPTS - 1)
			break;
		wait = ((long)SM_BACKOFF_MS << attempt) + rand_r(&seed) % SM_BACKOFF_MS;
		if (err != NULL && err->retry_after > 0)
			wait = (long)err->retry_after * 1000L;
		if (wait > SM_RETRY_AFTER_MAX_MS)
			wait = SM_RETRY_AFTER_MAX_MS;
		err_clear(err);
		sleep_ms(wait);
	}
	return rc;
}

/* True when the id can be sent (Secrets Manager allows names and ARNs up to 2048 bytes). */
static int secret_id_valid(const char *id)
{
	size_t i, n;

	if (id == NULL)
		return 0;
	n = strlen(id);
	if (n == 0 || n > SM_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * secret_fetch_fn for SECRET_AWS_SM: the SecretString or its field, the
 * VersionId, and the "username" field of a JSON SecretString.
 */
int aws_sm_fetch(void *ctx, struct secret *out, const struct secret_ref *ref, struct err *err)
{
	struct aws *aws = ctx;
	char *string = NULL, *version = NULL;
	const char *id = ref->secret_id;
	int rc;

	out->value = out->version = out->username = NULL;
	if (ref->kind != SECRET_AWS_SM || !secret_id_valid(id))
		return err_set(err, APPDB_EINVAL,
		               "passwordFrom.secretsManager.secretId: empty, too long or not text");
	if (aws_region(aws) == NULL || aws_sm_endpoint(aws) == NULL)
		return err_set(err, APPDB_EINVAL,
		               "secretsManager %s: no AWS region: set aws.region in the config or "
		               "AWS_REGION",
		               id);
	rc = cache_get(&string, &version, aws, id);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		rc = fetch_with_retry(&string, &version, aws, id, err);
		if (rc != 0) {
			err_wrap(err, rc, "could not read secret %s from Secrets Manager", id);
			goto out;
		}
		cache_put(aws, id, string, version);
	}
	rc = secret_pick_key(out, string, ref->key, err);
	if (rc != 0) {
		err_wrap(err, rc, "secretsManager %s", id);
		goto out;
	}
	if (out->value[0] == '\0') {
		rc = err_set(err, APPDB_EINVAL, "secretsManager %s%s%s: the password is empty", id,
		             ref->key ? " key " : "", ref->key ? ref->key : "");
		goto out;
	}
	out->version = version;
	version = NULL;
out:
	if (rc != 0)
		secret_clear(out);
	aws_free_secret(string);
	free(version);
	return rc;
}
