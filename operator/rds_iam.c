/*
 * rds_iam.c - RDS IAM authentication tokens: a SigV4 presigned
 * "GET host:port/?Action=connect&DBUser=<user>" for the service rds-db,
 * valid 900 seconds, computed with OpenSSL (curl signs requests, it
 * cannot presign). The token is a password: callers wipe it.
 */
#include "aws_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RDS_TOKEN_EXPIRES 900
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Lowercase hex of n bytes into out (2n+1 bytes). */
static void hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* HMAC-SHA256 of data under key into out (32 bytes); 0 or APPDB_EINTERNAL. */
static int hmac(unsigned char out[32], const void *key, size_t key_len, const char *data)
{
	unsigned int len = 32;

	if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, strlen(data), out,
	         &len) == NULL)
		return APPDB_EINTERNAL;
	return 0;
}

/* True when host can stand in a URL authority as it is. */
static int host_valid(const char *host)
{
	size_t n = strlen(host);

	return n > 0 && n < 256 && strpbrk(host, "/?#@ \t\r\n%\\") == NULL;
}

/* Presigns GET host:port/?Action=connect&DBUser=user for rds-db, valid 900 s. */
int rds_iam_presign(char **out, const char *host, int port, const char *user, const char *region,
                    const char *access_key, const char *secret_key, const char *session_token,
                    time_t now, struct err *err)
{
	char date[9], stamp[17], scope[128];
	char *e_user = NULL, *e_cred = NULL, *e_token = NULL, *cred = NULL;
	char *query = NULL, *creq = NULL, *sts = NULL, *kdate_in = NULL;
	unsigned char k[32], h[32];
	char creq_hash[65], sig[65];
	struct tm tm;
	int rc = 0;

	*out = NULL;
	if (host == NULL || !host_valid(host))
		return err_set(err, APPDB_EINVAL, "iamAuth: not a valid host name");
	if (port <= 0 || port > 65535)
		return err_set(err, APPDB_EINVAL, "iamAuth: port %d is out of range", port);
	if (user == NULL || user[0] == '\0')
		return err_set(err, APPDB_EINVAL, "iamAuth: the admin user is empty");
	if (region == NULL || region[0] == '\0' || strlen(region) > 32)
		return err_set(err, APPDB_EINVAL, "iamAuth: no valid AWS region");
	if (access_key == NULL || secret_key == NULL)
		return err_set(err, APPDB_EUNAUTHORIZED, "iamAuth: no AWS credentials");
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(scope, sizeof(scope), "%s/%s/rds-db/aws4_request", date, region);

	e_user = aws_uri_encode(user);
	if (e_user == NULL || asprintf(&cred, "%s/%s", access_key, scope) < 0) {
		cred = NULL;
		rc = APPDB_ENOMEM;
		goto out;
	}
	e_cred = aws_uri_encode(cred);
	if (e_cred == NULL ||
	    (session_token != NULL && (e_token = aws_uri_encode(session_token)) == NULL)) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	/* Parameters in byte order of their names, as the canonical query asks. */
	if (asprintf(&query,
	             "Action=connect&DBUser=%s&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s"
	             "&X-Amz-Date=%s&X-Amz-Expires=%d%s%s&X-Amz-SignedHeaders=host",
	             e_user, e_cred, stamp, RDS_TOKEN_EXPIRES,
	             e_token ? "&X-Amz-Security-Token=" : "", e_token ? e_token : "") < 0) {
		query = NULL;
		rc = APPDB_ENOMEM;
		goto out;
	}
	if (asprintf(&creq, "GET\n/\n%s\nhost:%s:%d\n\nhost\n%s", query, host, port, EMPTY_SHA256) <
	    0) {
		creq = NULL;
		rc = APPDB_ENOMEM;
		goto out;
	}
	SHA256((const unsigned char *)creq, strlen(creq), h);
	hex(creq_hash, h, 32);
	if (asprintf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", stamp, scope, creq_hash) < 0) {
		sts = NULL;
		rc = APPDB_ENOMEM;
		goto out;
	}
	if (asprintf(&kdate_in, "AWS4%s", secret_key) < 0) {
		kdate_in = NULL;
		rc = APPDB_ENOMEM;
		goto out;
	}
	if ((rc = hmac(k, kdate_in, strlen(kdate_in), date)) != 0 ||
	    (rc = hmac(k, k, 32, region)) != 0 || (rc = hmac(k, k, 32, "rds-db")) != 0 ||
	    (rc = hmac(k, k, 32, "aws4_request")) != 0 || (rc = hmac(h, k, 32, sts)) != 0)
		goto out;
	hex(sig, h, 32);
	if (asprintf(out, "%s:%d/?%s&X-Amz-Signature=%s", host, port, query, sig) < 0) {
		*out = NULL;
		rc = APPDB_ENOMEM;
	}
out:
	OPENSSL_cleanse(k, sizeof(k));
	aws_free_secret(kdate_in);
	aws_free_secret(e_token);
	aws_free_secret(query);
	aws_free_secret(creq);
	free(sts);
	free(e_user);
	free(e_cred);
	free(cred);
	return rc;
}
