/*
 * aws_sts.c - reads the AssumeRoleWithWebIdentity answer of AWS STS (the
 * Query protocol's XML) with expat: the credentials and their expiry.
 *
 * Only the exact element path counts
 * (AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/
 * Credentials/<field>), each field at most once; a DOCTYPE stops the parse,
 * and every field is bounded. Text that held a credential is wiped.
 */
#include "aws_int.h"

#include <expat.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STS_FIELD_MAX 8192
#define STS_DEPTH_MAX 32

enum sts_field { F_NONE = -1, F_AKID = 0, F_SECRET, F_TOKEN, F_EXPIRATION, F_COUNT };

static const char *const sts_path[] = {"AssumeRoleWithWebIdentityResponse",
                                       "AssumeRoleWithWebIdentityResult", "Credentials"};
static const char *const sts_field_names[F_COUNT] = {"AccessKeyId", "SecretAccessKey",
                                                     "SessionToken", "Expiration"};

/* Parser state: how deep the matching path goes, and the collected fields. */
struct sts_state {
	XML_Parser parser;
	int depth;
	int matched; /* leading elements of the current path that match sts_path */
	enum sts_field cur;
	char *val[F_COUNT];
	size_t len[F_COUNT];
	int seen[F_COUNT];
	int bad; /* 1 DOCTYPE or too deep, 2 duplicate field, 3 too long, 4 no memory */
};

/* Stops the parse with a reason. */
static void sts_fail(struct sts_state *st, int why)
{
	if (st->bad == 0)
		st->bad = why;
	XML_StopParser(st->parser, XML_FALSE);
}

/* Expat start-element callback. */
static void sts_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct sts_state *st = ud;
	int i;

	(void)attrs;
	st->depth++;
	st->cur = F_NONE;
	if (st->depth > STS_DEPTH_MAX) {
		sts_fail(st, 1);
		return;
	}
	if (st->matched == st->depth - 1 && st->matched < 3 &&
	    strcmp(name, sts_path[st->matched]) == 0) {
		st->matched++;
		return;
	}
	if (st->matched == 3 && st->depth == 4) {
		for (i = 0; i < F_COUNT; i++) {
			if (strcmp(name, sts_field_names[i]) == 0) {
				if (st->seen[i]) {
					sts_fail(st, 2);
					return;
				}
				st->seen[i] = 1;
				st->cur = (enum sts_field)i;
				st->val[i] = aws_xml_malloc(1);
				if (st->val[i] == NULL)
					sts_fail(st, 4);
				else
					st->val[i][0] = '\0';
				return;
			}
		}
	}
}

/* Expat end-element callback. */
static void sts_end(void *ud, const XML_Char *name)
{
	struct sts_state *st = ud;

	(void)name;
	if (st->matched == st->depth)
		st->matched--;
	st->cur = F_NONE;
	st->depth--;
}

/* Expat text callback: appends to the current field, bounded. */
static void sts_text(void *ud, const XML_Char *s, int len)
{
	struct sts_state *st = ud;
	char *grown;
	size_t used;

	if (st->cur == F_NONE || len <= 0)
		return;
	used = st->len[st->cur];
	if (used + (size_t)len > STS_FIELD_MAX) {
		sts_fail(st, 3);
		return;
	}
	grown = aws_xml_malloc(used + (size_t)len + 1);
	if (grown == NULL) {
		sts_fail(st, 4);
		return;
	}
	memcpy(grown, st->val[st->cur], used);
	memcpy(grown + used, s, (size_t)len);
	grown[used + (size_t)len] = '\0';
	aws_free_secret(st->val[st->cur]);
	st->val[st->cur] = grown;
	st->len[st->cur] = used + (size_t)len;
}

/* Expat DOCTYPE callback: refused. */
static void sts_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                        const XML_Char *pubid, int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	sts_fail(ud, 1);
}

/* Drops surrounding white space in place (XML pretty-printing). */
static void trim(char *s)
{
	size_t n = strlen(s), start = 0;

	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (s[start] == ' ' || s[start] == '\n' || s[start] == '\r' || s[start] == '\t')
		start++;
	if (start > 0)
		memmove(s, s + start, n - start + 1);
}

/* Reads an AssumeRoleWithWebIdentity answer into out. */
int aws_sts_parse(struct aws_creds *out, const char *body, size_t len, struct err *err)
{
	struct sts_state st;
	XML_Parser p = NULL;
	int rc = 0;
	int i;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	st.cur = F_NONE;
	if (body == NULL || len == 0 || len > AWS_BODY_MAX)
		return err_set(err, APPDB_EINVAL, "STS answer is empty or too large");
	p = aws_xml_parser_new();
	if (p == NULL)
		return APPDB_ENOMEM;
	st.parser = p;
	XML_SetUserData(p, &st);
	XML_SetElementHandler(p, sts_start, sts_end);
	XML_SetCharacterDataHandler(p, sts_text);
	XML_SetStartDoctypeDeclHandler(p, sts_doctype);
	if (XML_Parse(p, body, (int)len, XML_TRUE) != XML_STATUS_OK || st.bad != 0) {
		if (st.bad == 4 || XML_GetErrorCode(p) == XML_ERROR_NO_MEMORY)
			rc = APPDB_ENOMEM;
		else if (st.bad != 0)
			rc = err_set(err, APPDB_EINVAL, "STS answer refused: %s",
			             st.bad == 1   ? "a DOCTYPE or too deep nesting"
			             : st.bad == 2 ? "a credential field appears twice"
			                           : "a field is too long");
		else
			rc = err_set(err, APPDB_EINVAL,
			             "STS answer is not well-formed XML: %s at line %lu",
			             XML_ErrorString(XML_GetErrorCode(p)),
			             (unsigned long)XML_GetCurrentLineNumber(p));
		goto out;
	}
	for (i = 0; i < F_COUNT; i++) {
		if (st.val[i] != NULL)
			trim(st.val[i]);
		if (st.val[i] == NULL || st.val[i][0] == '\0') {
			rc = err_set(err, APPDB_EINVAL, "STS answer has no Credentials/%s",
			             sts_field_names[i]);
			goto out;
		}
	}
	if (aws_parse_iso8601(&out->expires, st.val[F_EXPIRATION]) != 0) {
		rc = err_set(err, APPDB_EINVAL,
		             "STS answer has an unreadable Credentials/Expiration");
		goto out;
	}
	out->access_key = st.val[F_AKID];
	out->secret_key = st.val[F_SECRET];
	out->session_token = st.val[F_TOKEN];
	st.val[F_AKID] = st.val[F_SECRET] = st.val[F_TOKEN] = NULL;
out:
	for (i = 0; i < F_COUNT; i++)
		aws_free_secret(st.val[i]);
	if (rc != 0)
		aws_creds_clear(out);
	XML_ParserFree(p);
	return rc;
}

/* Parses an ISO 8601 time as AWS writes it. */
int aws_parse_iso8601(time_t *out, const char *s)
{
	struct tm tm;
	const char *p;
	char *end;
	int n = 0;

	*out = 0;
	memset(&tm, 0, sizeof(tm));
	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return APPDB_EINVAL;
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
	    tm.tm_min < 0 || tm.tm_sec < 0 || tm.tm_hour < 0)
		return APPDB_EINVAL;
	p = s + n;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return APPDB_EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' && p[1] == '\0') {
		/* UTC */
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		long hh = strtol(p + 1, &end, 10);
		long mm;

		if (end != p + 3)
			return APPDB_EINVAL;
		mm = strtol(p + 4, &end, 10);
		if (*end != '\0' || hh > 23 || mm > 59)
			return APPDB_EINVAL;
		tm.tm_min -= (int)((*p == '+' ? 1 : -1) * (hh * 60 + mm));
	} else {
		return APPDB_EINVAL;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? APPDB_EINVAL : 0;
}
