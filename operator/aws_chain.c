/*
 * aws_chain.c - the credential sources of DESIGN section 5, read in order:
 * environment keys; IRSA (STS AssumeRoleWithWebIdentity, an unsigned
 * Query-protocol POST, the token file re-read on every call); EKS Pod
 * Identity (the container credentials URL with the token file's contents
 * as Authorization, on the hosts the AWS SDKs allow). No credential value
 * reaches a message.
 */
#include "aws_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_FILE_MAX 16384

static const char *const source_names[] = {"none", "environment", "IRSA web identity",
                                           "EKS Pod Identity"};

/* A name for logs: "IRSA web identity". */
const char *aws_source_name(enum aws_cred_source src)
{
	return source_names[src];
}

/* A non-empty environment variable or NULL. */
const char *aws_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The DNS suffix of the region's partition (China has its own). */
const char *aws_dns_suffix(const char *region)
{
	return strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
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

/*
 * Sends req and reads the credentials in its answer with parse; an answer
 * other than 200 is read as an error body (XML from STS, JSON otherwise).
 * what names the call in messages.
 */
static int request_credentials(struct aws_creds *out, const struct aws_http_req *req, int xml,
                               int (*parse)(struct aws_creds *, const char *, size_t, struct err *),
                               const char *what, struct err *err)
{
	struct aws_http_resp resp = {0};
	int rc = aws_http_do(&resp, req, err);

	if (rc != 0)
		err_wrap(err, rc, "%s", what);
	else if (resp.status != 200)
		rc = answer_error(err, &resp, xml, what);
	else if ((rc = parse(out, resp.body, resp.len, err)) != 0)
		err_wrap(err, rc, "%s", what);
	aws_http_resp_clear(&resp);
	return rc;
}

/* IRSA: AssumeRoleWithWebIdentity, an unsigned Query-protocol POST to STS. */
static int load_irsa(struct aws_creds *out, const char *region, struct err *err)
{
	const char *role = aws_env("AWS_ROLE_ARN");
	const char *token_file = aws_env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *session = aws_env("AWS_ROLE_SESSION_NAME");
	const char *sts = aws_env("AWS_ENDPOINT_URL_STS");
	const char *sts_field = "AWS_ENDPOINT_URL_STS";
	char *token = NULL, *e_token = NULL, *e_role = NULL, *e_session = NULL;
	char *body = NULL, *url = NULL;
	char session_buf[64];
	char what[512];
	struct curl_slist *hdrs = NULL;
	struct aws_http_req req = {0};
	int rc;

	snprintf(what, sizeof(what), "could not assume role %.300s with web identity", role);
	if (sts == NULL && (sts = aws_env("AWS_ENDPOINT_URL")) != NULL)
		sts_field = "AWS_ENDPOINT_URL";
	if (sts != NULL) {
		rc = aws_check_endpoint(sts, sts_field, err);
		if (rc != 0)
			goto out;
		url = strdup(sts);
	} else if (region != NULL) {
		if (asprintf(&url, "https://sts.%s.%s/", region, aws_dns_suffix(region)) < 0)
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
	rc = request_credentials(out, &req, 1, aws_sts_parse, what, err);
out:
	aws_free_secret(token);
	aws_free_secret(e_token);
	aws_free_secret(body);
	free(e_role);
	free(e_session);
	free(url);
	curl_slist_free_all(hdrs);
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
	const char *full = aws_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel = aws_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *token_file = aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token_env = aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *what = "could not read container credentials";
	char *url = NULL, *token = NULL, *hdr = NULL;
	struct curl_slist *hdrs = NULL;
	struct aws_http_req req = {0};
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
	rc = request_credentials(out, &req, 0, aws_container_parse, what, err);
out:
	aws_free_secret(token);
	aws_free_secret(hdr);
	slist_free_wiped(hdrs);
	free(url);
	return rc;
}

/* Static keys from the environment. */
static int load_env(struct aws_creds *out, struct err *err)
{
	const char *akid = aws_env("AWS_ACCESS_KEY_ID");
	const char *secret = aws_env("AWS_SECRET_ACCESS_KEY");
	const char *token = aws_env("AWS_SESSION_TOKEN");
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
int aws_chain_load(struct aws_creds *out, enum aws_cred_source *src, const char *region,
                   struct err *err)
{
	memset(out, 0, sizeof(*out));
	if (aws_env("AWS_ACCESS_KEY_ID") != NULL || aws_env("AWS_SECRET_ACCESS_KEY") != NULL) {
		*src = AWS_SRC_ENV;
		return load_env(out, err);
	}
	if (aws_env("AWS_ROLE_ARN") != NULL && aws_env("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL) {
		*src = AWS_SRC_IRSA;
		return load_irsa(out, region, err);
	}
	if (aws_env("AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL ||
	    aws_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != NULL) {
		*src = AWS_SRC_POD;
		return load_container(out, err);
	}
	*src = AWS_SRC_NONE;
	return err_set(err, APPDB_EUNAUTHORIZED,
	               "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
	               "or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), or "
	               "AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity)");
}
