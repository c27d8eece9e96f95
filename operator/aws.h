/*
 * aws.h - the operator's AWS client: the pod's credential chain, Secrets
 * Manager as a password source and RDS IAM authentication tokens.
 *
 * One struct aws serves the whole process and is thread-safe: the
 * controller's workers share it. Credentials are read lazily, on first use,
 * in the order of DESIGN section 5: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (+AWS_SESSION_TOKEN); IRSA (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE,
 * STS AssumeRoleWithWebIdentity); EKS Pod Identity
 * (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
 * Temporary credentials are refreshed by a background thread 15 minutes
 * before they expire, and on use whenever fewer than 10 minutes are left.
 * No credential value or secret value is ever logged or put in a message.
 */
#ifndef APPDB_AWS_H
#define APPDB_AWS_H

#include "err.h"
#include "secret.h"

#include <time.h>

/* Borrowed strings; copied by aws_new. */
struct aws_settings {
	const char *region;       /* NULL or "": AWS_REGION, else AWS_DEFAULT_REGION */
	const char *endpoint;     /* Secrets Manager; "" or NULL: regional */
	int secret_cache_seconds; /* aws.secretCacheSeconds (config default 60); 0: no cache */
};

struct aws; /* thread-safe: the controller's workers share one */

/*
 * Makes a client. Checks the settings (region shape, endpoint scheme: plain
 * http only on a loopback host) but reads no credential yet: the chain is
 * read on first use, and the refresh thread starts only when temporary
 * credentials are in use. Returns 0, APPDB_EINVAL (message names the field)
 * or APPDB_ENOMEM. Free with aws_free.
 */
int aws_new(struct aws **out, const struct aws_settings *settings, struct err *err);

/* Stops the refresh thread, wipes credentials and cached values, frees. NULL is fine. */
void aws_free(struct aws *aws);

/*
 * A secret_fetch_fn (secret.h) for SECRET_AWS_SM references; ctx is a
 * struct aws *. Fills out->value (the SecretString, or its field ref->key)
 * and out->version (the VersionId). Codes: APPDB_ENOTFOUND, APPDB_EFORBIDDEN,
 * APPDB_EINVAL, APPDB_EUNAUTHORIZED (SecretMissing; the message carries the
 * AWS error code and the secret id); APPDB_ETHROTTLED (err->retry_after set
 * when known) and APPDB_ETRANSIENT after a small bounded retry inside.
 */
int aws_sm_fetch(void *ctx, struct secret *out, const struct secret_ref *ref, struct err *err);

/* Drops every cached value (wiped). */
void aws_sm_cache_flush(struct aws *aws);

/* A secret_invalidate_fn (secret.h) for SECRET_AWS_SM: aws_sm_cache_flush(ctx). */
void aws_sm_invalidate(void *ctx);

/*
 * An RDS IAM authentication token for user at host:port: a fresh SigV4
 * presigned URL without scheme, valid 15 minutes, to pass as the password.
 * region NULL or "": the client's region. *out is new; wipe and free it.
 */
int aws_rds_token(char **out, struct aws *aws, const char *host, int port, const char *user,
                  const char *region, struct err *err);

struct instance_config;

/*
 * An engine_token_fn (engine.h) for iamAuth instances; ctx is a struct
 * aws *: aws_rds_token for the instance's host, port, admin user and
 * iamAuth region.
 */
int aws_engine_token(void *ctx, char **out, const struct instance_config *in, struct err *err);

/*
 * The pure presign behind aws_rds_token, with the time injected (unit
 * tests). session_token may be NULL. *out is new.
 */
int rds_iam_presign(char **out, const char *host, int port, const char *user, const char *region,
                    const char *access_key, const char *secret_key, const char *session_token,
                    time_t now, struct err *err);

#endif
