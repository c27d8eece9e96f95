/*
 * aws_container.c - reads the answer of the container credentials URL
 * (EKS Pod Identity, ECS): a JSON object with AccessKeyId,
 * SecretAccessKey, Token and Expiration. The parsed document holds
 * credentials, so its strings are wiped before it is released.
 */
#include "aws_int.h"
#include "secret.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <string.h>

/* Reads the container credentials JSON into out. */
int aws_container_parse(struct aws_creds *out, const char *body, size_t len, struct err *err)
{
	json_t *doc = NULL;
	const char *akid, *secret, *token, *exp;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (body == NULL || len == 0 || len > AWS_BODY_MAX)
		return err_set(err, APPDB_EINVAL, "the credentials answer is empty or too large");
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc)) {
		rc = err_set(err, APPDB_EINVAL, "the credentials answer is not a JSON object");
		goto out;
	}
	akid = json_string_value(json_object_get(doc, "AccessKeyId"));
	secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
	token = json_string_value(json_object_get(doc, "Token"));
	exp = json_string_value(json_object_get(doc, "Expiration"));
	if (akid == NULL || secret == NULL || akid[0] == '\0' || secret[0] == '\0') {
		rc = err_set(err, APPDB_EINVAL,
		             "the credentials answer has no AccessKeyId and SecretAccessKey");
		goto out;
	}
	if (exp != NULL && aws_parse_iso8601(&out->expires, exp) != 0) {
		rc = err_set(err, APPDB_EINVAL,
		             "the credentials answer has an unreadable Expiration");
		goto out;
	}
	out->access_key = strdup(akid);
	out->secret_key = strdup(secret);
	if (token != NULL && token[0] != '\0')
		out->session_token = strdup(token);
	if (out->access_key == NULL || out->secret_key == NULL ||
	    (token != NULL && token[0] != '\0' && out->session_token == NULL))
		rc = APPDB_ENOMEM;
out:
	secret_wipe_json(doc);
	json_decref(doc);
	if (rc != 0)
		aws_creds_clear(out);
	return rc;
}
