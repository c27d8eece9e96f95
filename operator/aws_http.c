/*
 * aws_http.c - one HTTP request to AWS with libcurl, optionally signed
 * SigV4 by curl itself (CURLOPT_AWS_SIGV4), and the URL rules: TLS always
 * verified, plain http only for a loopback host, no redirects, bounded
 * bodies and time.
 */
#include "aws_int.h"
#include "dynbuf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AWS_CONNECT_TIMEOUT_MS 5000L
#define AWS_TOTAL_TIMEOUT_MS 15000L

/* Wipes and frees a string. */
void aws_free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* True for localhost, 127.0.0.0/8 and ::1. */
int aws_host_is_loopback(const char *host)
{
	char buf[64];
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;

	if (host == NULL)
		return 0;
	n = strlen(host);
	if (n == 0 || n >= sizeof(buf))
		return 0;
	if (host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
	} else {
		memcpy(buf, host, n + 1);
	}
	if (strcasecmp(buf, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, buf, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* https anywhere, plain http only on a loopback host. */
int aws_check_endpoint(const char *url, const char *field, struct err *err)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	u = curl_url();
	if (u == NULL)
		return APPDB_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = err_set(err, APPDB_EINVAL, "%s: not a valid URL: %s", field, url);
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0)
		goto out;
	if (strcasecmp(scheme, "http") != 0) {
		rc = err_set(err, APPDB_EINVAL, "%s: scheme %s is not supported, use https", field,
		             scheme);
		goto out;
	}
	if (!aws_host_is_loopback(host))
		rc =
		    err_set(err, APPDB_EINVAL,
		            "%s: plain http is allowed only for a loopback host, not %s; use https",
		            field, host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* Wipes and frees the body; out stays usable. */
void aws_http_resp_clear(struct aws_http_resp *r)
{
	if (r->body != NULL) {
		OPENSSL_cleanse(r->body, r->len);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

/* Body collector with a hard cap. */
struct body_buf {
	struct dynbuf d;
	int over;
};

/* curl write callback: appends up to AWS_BODY_MAX. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body_buf *b = ud;
	size_t n = size * nmemb;
	int rc = dynbuf_add(&b->d, ptr, n);

	if (rc == APPDB_ELIMIT)
		b->over = 1;
	return rc == 0 ? n : 0;
}

/* curl header callback: Retry-After and x-amzn-ErrorType. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct aws_http_resp *r = ud;
	size_t n = size * nmemb;
	char line[256];
	char *v;
	size_t l;

	l = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
	memcpy(line, ptr, l);
	line[l] = '\0';
	while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == '\n' || line[l - 1] == ' '))
		line[--l] = '\0';
	v = strchr(line, ':');
	if (v == NULL)
		return n;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	if (strcasecmp(line, "Retry-After") == 0) {
		long s = strtol(v, NULL, 10);

		if (s > 0 && s < 3600)
			r->retry_after = (int)s;
	} else if (strcasecmp(line, "x-amzn-ErrorType") == 0) {
		size_t i, k = 0;

		for (i = 0; v[i] != '\0' && k + 1 < sizeof(r->error_type); i++)
			r->error_type[k++] = isprint((unsigned char)v[i]) ? v[i] : '?';
		r->error_type[k] = '\0';
		aws_err_normalize_code(r->error_type);
	}
	return n;
}

/* Performs one request; any HTTP status is a success here. */
int aws_http_do(struct aws_http_resp *out, const struct aws_http_req *req, struct err *err)
{
	CURL *c = NULL;
	CURLcode cc;
	struct body_buf b = {0};
	int rc = 0;

	memset(out, 0, sizeof(*out));
	dynbuf_init(&b.d, AWS_BODY_MAX);
	c = curl_easy_init();
	if (c == NULL)
		return APPDB_ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, AWS_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, AWS_TOTAL_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "appdb-operator/" APPDB_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	if (req->headers != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->headers);
	if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	if (req->sigv4 != NULL) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, req->sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, req->creds->access_key);
		curl_easy_setopt(c, CURLOPT_PASSWORD, req->creds->secret_key);
	}
	cc = curl_easy_perform(c);
	if (b.over) {
		rc = err_set(err, APPDB_ELIMIT, "answer from %s is larger than %d bytes", req->url,
		             AWS_BODY_MAX);
		goto out;
	}
	if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	    cc == CURLE_SSL_CERTPROBLEM) {
		rc = err_set(err, APPDB_EUNAUTHORIZED,
		             "could not verify the TLS certificate of %s: %s", req->url,
		             curl_easy_strerror(cc));
		goto out;
	}
	if (cc == CURLE_OUT_OF_MEMORY) {
		rc = APPDB_ENOMEM;
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = err_set(err, APPDB_ETRANSIENT, "could not reach %s: %s", req->url,
		             curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = dynbuf_take(&b.d, &out->len);
	if (out->body == NULL && (out->body = calloc(1, 1)) == NULL)
		rc = APPDB_ENOMEM;
out:
	dynbuf_free(&b.d);
	curl_easy_cleanup(c);
	if (rc != 0) {
		int ra = out->retry_after;

		aws_http_resp_clear(out);
		out->retry_after = ra;
	}
	return rc;
}
