/*
 * aws_err.c - AWS error answers: the JSON body of the JSON protocols
 * (Secrets Manager), the XML body of the Query protocol (STS), and what
 * each error code means to the operator.
 *
 * Bodies come from the network and are treated as hostile: sizes are
 * bounded, text is reduced to printable ASCII before it may reach a message.
 */
#include "aws_int.h"

#include <expat.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void *(*aws_xml_malloc)(size_t) = malloc;
void *(*aws_xml_realloc)(void *, size_t) = realloc;

/* expat's allocation hooks: indirect, so tests can swap them. */
static void *xml_malloc(size_t n)
{
	return aws_xml_malloc(n);
}

/* expat's realloc hook. */
static void *xml_realloc(void *p, size_t n)
{
	return aws_xml_realloc(p, n);
}

/* A UTF-8 expat parser on the swappable allocator. */
void *aws_xml_parser_new(void)
{
	static const XML_Memory_Handling_Suite suite = {xml_malloc, xml_realloc, free};

	return XML_ParserCreate_MM("UTF-8", &suite, NULL);
}

/* Copies at most dstlen-1 bytes of src as printable ASCII (others become '?'). */
static void copy_printable(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t i, n = 0;

	for (i = 0; i < srclen && n + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[n] = '\0';
}

/* Keeps only the bare error code: no "prefix#", no ":suffix". */
void aws_err_normalize_code(char *code)
{
	char *p;

	p = strrchr(code, '#');
	if (p != NULL)
		memmove(code, p + 1, strlen(p + 1) + 1);
	p = strchr(code, ':');
	if (p != NULL)
		*p = '\0';
}

/* Reads a JSON-protocol error body. */
int aws_err_parse_json(struct aws_error *out, const char *body, size_t len)
{
	json_t *doc = NULL;
	json_t *v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (body == NULL || len == 0 || len > AWS_BODY_MAX)
		return -1;
	doc = json_loadb(body, len, 0, NULL);
	if (!json_is_object(doc))
		goto out;
	v = json_object_get(doc, "__type");
	if (!json_is_string(v))
		v = json_object_get(doc, "code");
	if (!json_is_string(v))
		v = json_object_get(doc, "Code");
	if (!json_is_string(v) || json_string_length(v) == 0)
		goto out;
	copy_printable(out->code, sizeof(out->code), json_string_value(v), json_string_length(v));
	aws_err_normalize_code(out->code);
	if (out->code[0] == '\0')
		goto out;
	v = json_object_get(doc, "message");
	if (!json_is_string(v))
		v = json_object_get(doc, "Message");
	if (json_is_string(v))
		copy_printable(out->message, sizeof(out->message), json_string_value(v),
		               json_string_length(v));
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

/* The XML error reader's state: the element path and the text of Code and Message. */
struct xml_err_state {
	XML_Parser parser;
	int depth;
	int in_error; /* depth of the <Error> element, 0 when outside */
	int field;    /* 1 Code, 2 Message, 0 none */
	struct aws_error *out;
	size_t code_len, msg_len;
	int bad;
};

/* Expat start-element callback for error documents. */
static void xml_err_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xml_err_state *st = ud;

	(void)attrs;
	st->depth++;
	if (st->depth > 16) {
		st->bad = 1;
		XML_StopParser(st->parser, XML_FALSE);
		return;
	}
	if (st->in_error == 0 && strcmp(name, "Error") == 0) {
		st->in_error = st->depth;
		return;
	}
	if (st->in_error != 0 && st->depth == st->in_error + 1) {
		if (strcmp(name, "Code") == 0)
			st->field = 1;
		else if (strcmp(name, "Message") == 0)
			st->field = 2;
	}
}

/* Expat end-element callback for error documents. */
static void xml_err_end(void *ud, const XML_Char *name)
{
	struct xml_err_state *st = ud;

	(void)name;
	if (st->in_error == st->depth)
		st->in_error = -1; /* only the first <Error> counts */
	st->field = 0;
	st->depth--;
}

/* Expat text callback for error documents: appends to the current field, bounded. */
static void xml_err_text(void *ud, const XML_Char *s, int len)
{
	struct xml_err_state *st = ud;
	char *dst;
	size_t *used, cap;
	char tmp[256];

	if (st->field == 1) {
		dst = st->out->code;
		used = &st->code_len;
		cap = sizeof(st->out->code);
	} else if (st->field == 2) {
		dst = st->out->message;
		used = &st->msg_len;
		cap = sizeof(st->out->message);
	} else {
		return;
	}
	if (*used + 1 >= cap || len <= 0)
		return;
	copy_printable(tmp, sizeof(tmp) < cap - *used ? sizeof(tmp) : cap - *used, s, (size_t)len);
	memcpy(dst + *used, tmp, strlen(tmp) + 1);
	*used += strlen(tmp);
}

/* Expat DOCTYPE callback: a DTD has no business in an AWS answer; stop. */
static void xml_err_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                            const XML_Char *pubid, int has_internal)
{
	struct xml_err_state *st = ud;

	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	st->bad = 1;
	XML_StopParser(st->parser, XML_FALSE);
}

/* Reads a Query-protocol XML error body. */
int aws_err_parse_xml(struct aws_error *out, const char *body, size_t len)
{
	struct xml_err_state st;
	XML_Parser p;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (body == NULL || len == 0 || len > AWS_BODY_MAX)
		return -1;
	p = aws_xml_parser_new();
	if (p == NULL)
		return -1;
	memset(&st, 0, sizeof(st));
	st.parser = p;
	st.out = out;
	XML_SetUserData(p, &st);
	XML_SetElementHandler(p, xml_err_start, xml_err_end);
	XML_SetCharacterDataHandler(p, xml_err_text);
	XML_SetStartDoctypeDeclHandler(p, xml_err_doctype);
	if (XML_Parse(p, body, (int)len, XML_TRUE) == XML_STATUS_OK && !st.bad) {
		aws_err_normalize_code(out->code);
		if (out->code[0] != '\0')
			rc = 0;
	}
	XML_ParserFree(p);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* Error codes by meaning; compared without case. */
static const char *const notfound_codes[] = {"ResourceNotFoundException", NULL};
static const char *const forbidden_codes[] = {"AccessDeniedException", "AccessDenied",
                                              "DecryptionFailure",     "KMSAccessDeniedException",
                                              "KMSDisabledException",  "KMSInvalidStateException",
                                              "NotAuthorized",         NULL};
static const char *const invalid_codes[] = {"InvalidRequestException",
                                            "InvalidParameterException",
                                            "InvalidParameterValue",
                                            "ValidationException",
                                            "ValidationError",
                                            "MalformedPolicyDocument",
                                            "InvalidIdentityToken",
                                            "IDPRejectedClaim",
                                            "PackedPolicyTooLarge",
                                            "RegionDisabledException",
                                            NULL};
static const char *const unauthorized_codes[] = {"InvalidSignatureException",
                                                 "SignatureDoesNotMatch",
                                                 "IncompleteSignature",
                                                 "UnrecognizedClientException",
                                                 "InvalidClientTokenId",
                                                 "MissingAuthenticationToken",
                                                 "MissingAuthenticationTokenException",
                                                 "ExpiredTokenException",
                                                 "ExpiredToken",
                                                 "RequestExpired",
                                                 "AuthFailure",
                                                 "InvalidAccessKeyId",
                                                 NULL};
static const char *const throttled_codes[] = {"ThrottlingException",
                                              "Throttling",
                                              "TooManyRequestsException",
                                              "RequestLimitExceeded",
                                              "ProvisionedThroughputExceededException",
                                              "RequestThrottled",
                                              "RequestThrottledException",
                                              "SlowDown",
                                              "EC2ThrottledException",
                                              "PriorRequestNotComplete",
                                              "TransactionInProgressException",
                                              NULL};
static const char *const transient_codes[] = {
    "InternalServiceError",    "InternalServiceErrorException",
    "InternalFailure",         "InternalError",
    "ServiceUnavailable",      "ServiceUnavailableException",
    "IDPCommunicationError",   "RequestTimeout",
    "RequestTimeoutException", NULL};

/* True when code is in the NULL-terminated list. */
static int in_list(const char *code, const char *const *list)
{
	for (; *list != NULL; list++) {
		if (strcasecmp(code, *list) == 0)
			return 1;
	}
	return 0;
}

/* True when code says the session token expired. */
int aws_err_is_expired_token(const char *code)
{
	return code != NULL &&
	       (strcasecmp(code, "ExpiredTokenException") == 0 ||
	        strcasecmp(code, "ExpiredToken") == 0 || strcasecmp(code, "RequestExpired") == 0);
}

/* Maps an AWS error code (or, without one, the HTTP status) to a project code. */
int aws_err_classify(const char *code, long status)
{
	if (code != NULL && code[0] != '\0') {
		if (in_list(code, notfound_codes))
			return APPDB_ENOTFOUND;
		if (in_list(code, forbidden_codes))
			return APPDB_EFORBIDDEN;
		if (in_list(code, unauthorized_codes))
			return APPDB_EUNAUTHORIZED;
		if (in_list(code, throttled_codes))
			return APPDB_ETHROTTLED;
		if (in_list(code, transient_codes))
			return APPDB_ETRANSIENT;
		if (in_list(code, invalid_codes))
			return APPDB_EINVAL;
	}
	if (status == 429)
		return APPDB_ETHROTTLED;
	if (status >= 500 || status == 0 || status == 408)
		return APPDB_ETRANSIENT;
	if (status == 401)
		return APPDB_EUNAUTHORIZED;
	if (status == 403)
		return APPDB_EFORBIDDEN;
	if (status == 404)
		return APPDB_ENOTFOUND;
	return APPDB_EINVAL;
}
