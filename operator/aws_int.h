/*
 * aws_int.h - what the aws*.c files share among themselves: credentials,
 * the HTTP call, the STS and error-body parsers. Not for other modules.
 */
#ifndef APPDB_AWS_INT_H
#define APPDB_AWS_INT_H

#include "aws.h"
#include "err.h"

#include <curl/curl.h>
#include <stddef.h>
#include <time.h>

#define AWS_BODY_MAX (1024 * 1024)   /* cap on any response body */
#define AWS_REFRESH_BEFORE (15 * 60) /* background refresh this long before expiry */
#define AWS_REFRESH_FORCE (10 * 60)  /* refresh on use when fewer seconds are left */

/* One set of credentials; every string owned and wiped when cleared. */
struct aws_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL for long-term keys */
	time_t expires;      /* 0: does not expire */
};

void aws_creds_clear(struct aws_creds *c);

/* Where the credentials in use came from. */
enum aws_cred_source { AWS_SRC_NONE = 0, AWS_SRC_ENV, AWS_SRC_IRSA, AWS_SRC_POD };

/* A name for logs ("IRSA web identity"). */
const char *aws_source_name(enum aws_cred_source src);

/*
 * Reads the credential chain in order (aws_chain.c): out gets new strings,
 * src the source used. region (may be NULL) names the STS endpoint.
 * Returns 0, APPDB_EUNAUTHORIZED (no source, a refused token...),
 * APPDB_EINVAL (a bad URL or endpoint), APPDB_ETHROTTLED/APPDB_ETRANSIENT.
 */
int aws_chain_load(struct aws_creds *out, enum aws_cred_source *src, const char *region,
                   struct err *err);

/* A non-empty environment variable or NULL. */
const char *aws_env(const char *name);

/* The DNS suffix of the region's partition: "amazonaws.com" or "amazonaws.com.cn". */
const char *aws_dns_suffix(const char *region);

/* Deep copy; returns 0 or APPDB_ENOMEM. */
int aws_creds_copy(struct aws_creds *out, const struct aws_creds *src);

/*
 * Current credentials as a copy the caller clears (out), and a generation
 * number to hand back to aws_creds_invalidate when AWS says they expired.
 * Reads the chain on first use; refreshes when fewer than
 * AWS_REFRESH_FORCE seconds are left. APPDB_EUNAUTHORIZED when no source
 * yields credentials.
 */
int aws_creds_get(struct aws_creds *out, unsigned long *generation, struct aws *aws,
                  struct err *err);

/* Forces a refresh on next use, unless another thread already refreshed after generation. */
void aws_creds_invalidate(struct aws *aws, unsigned long generation);

/* The region in use (borrowed) or NULL when none is known. */
const char *aws_region(const struct aws *aws);

/* The Secrets Manager base URL (borrowed). */
const char *aws_sm_endpoint(const struct aws *aws);

/* The Secrets Manager cache lifetime in seconds (0: no cache). */
int aws_cache_seconds(const struct aws *aws);

/* The Secrets Manager cache; defined in aws_sm.c, owned by struct aws. */
struct aws_sm_cache;
int aws_sm_cache_new(struct aws_sm_cache **out);
void aws_sm_cache_free(struct aws_sm_cache *c);
struct aws_sm_cache *aws_sm_cache_of(struct aws *aws);

/* True when host (as in a URL, IPv6 with or without brackets) is a loopback host. */
int aws_host_is_loopback(const char *host);

/*
 * Checks an endpoint URL for field (named in messages): https, or http
 * on a loopback host. Returns 0 or APPDB_EINVAL.
 */
int aws_check_endpoint(const char *url, const char *field, struct err *err);

/* One HTTP request. Borrowed strings; headers may be NULL. */
struct aws_http_req {
	const char *method; /* "GET" or "POST" */
	const char *url;
	const char *body; /* POST body or NULL */
	size_t body_len;
	struct curl_slist *headers;
	const char *sigv4;             /* "aws:amz:<region>:<service>" to sign, or NULL */
	const struct aws_creds *creds; /* with sigv4 */
};

/* The answer; body is NUL-terminated and wiped when cleared. */
struct aws_http_resp {
	long status;
	char *body;
	size_t len;
	int retry_after;     /* Retry-After in seconds, 0 when absent */
	char error_type[96]; /* x-amzn-ErrorType header, without any ":..." suffix */
};

void aws_http_resp_clear(struct aws_http_resp *r);

/*
 * Performs req. Returns 0 with any HTTP status in out, APPDB_ETRANSIENT
 * for network failures and timeouts (TLS verification failures are
 * APPDB_EUNAUTHORIZED: retrying does not help), APPDB_ELIMIT for a body
 * over AWS_BODY_MAX.
 */
int aws_http_do(struct aws_http_resp *out, const struct aws_http_req *req, struct err *err);

/* An AWS error as a body or header carries it; printable, bounded. */
struct aws_error {
	char code[96];
	char message[256];
};

/* Reads a JSON 1.0/1.1 error body ("__type"/"code", "message"/"Message"). 0 when a code was found.
 */
int aws_err_parse_json(struct aws_error *out, const char *body, size_t len);

/* Reads a Query-protocol XML error (ErrorResponse/Error/Code, Message) with expat. 0 when found. */
int aws_err_parse_xml(struct aws_error *out, const char *body, size_t len);

/* Drops a "prefix#" and a ":suffix" from an error code in place. */
void aws_err_normalize_code(char *code);

/* The project code for an AWS error code and HTTP status. */
int aws_err_classify(const char *code, long status);

/* True for the codes that mean the temporary credentials have expired. */
int aws_err_is_expired_token(const char *code);

/*
 * Parses an AssumeRoleWithWebIdentity response with expat into out (new
 * strings). Returns 0, APPDB_EINVAL (not the expected document, a field
 * missing or unparseable) or APPDB_ENOMEM.
 */
int aws_sts_parse(struct aws_creds *out, const char *body, size_t len, struct err *err);

/*
 * Parses the container credentials answer (Pod Identity, ECS) into out (new
 * strings). Returns 0, APPDB_EINVAL (not the expected object) or APPDB_ENOMEM.
 */
int aws_container_parse(struct aws_creds *out, const char *body, size_t len, struct err *err);

/* Parses "2026-11-29T10:00:00Z" (fraction allowed) to a time; 0 or APPDB_EINVAL. */
int aws_parse_iso8601(time_t *out, const char *s);

/* Percent-encodes s as SigV4 asks (unreserved kept, uppercase hex). New string or NULL. */
char *aws_uri_encode(const char *s);

/*
 * The allocator of the XML readers (expat's and their own buffers), so tests
 * can fail allocation N, then N+1, ... (jansson's test_chaos). Defaults to
 * malloc and realloc; memory is always released with free.
 */
extern void *(*aws_xml_malloc)(size_t);
extern void *(*aws_xml_realloc)(void *, size_t);

/* An expat parser using aws_xml_malloc/aws_xml_realloc; NULL when out of memory. */
void *aws_xml_parser_new(void);

/* Wipes and frees a string. NULL is fine. */
void aws_free_secret(char *s);

#endif
