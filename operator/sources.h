/*
 * sources.h - the password sources and admin tokens of one process, built
 * from the config: files, AWS Secrets Manager, RDS IAM tokens. The CLI and
 * the controller both start here; each adds its own kubernetesSecret
 * source (Secret documents on disk, or the API).
 */
#ifndef APPDB_SOURCES_H
#define APPDB_SOURCES_H

#include "config.h"
#include "engine.h"
#include "secret.h"

struct aws;

struct sources {
	struct aws *aws; /* owned; shared by all engines (thread-safe) */
	struct secret_resolver resolver;
};

/* Fills s from cfg. Returns 0, or a negative code with err set. */
int sources_init(struct sources *s, const struct config *cfg, struct err *err);

/* Copies the providers into r and registers the IAM token function on eng. */
void sources_apply(const struct sources *s, struct secret_resolver *r, struct engine *eng);

void sources_clear(struct sources *s);

#endif
