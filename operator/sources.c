/*
 * sources.c - password sources and IAM tokens from the config.
 */
#include "sources.h"

#include "aws.h"

#include <string.h>

int sources_init(struct sources *s, const struct config *cfg, struct err *err)
{
	struct aws_settings as = {0};
	int rc;

	memset(s, 0, sizeof(*s));
	secret_resolver_set(&s->resolver, SECRET_FILE, secret_fetch_file, NULL);
	as.region = cfg->aws_region;
	as.endpoint = cfg->aws_endpoint;
	as.secret_cache_seconds = cfg->aws_secret_cache_seconds;
	rc = aws_new(&s->aws, &as, err);
	if (rc != 0)
		return rc;
	secret_resolver_set(&s->resolver, SECRET_AWS_SM, aws_sm_fetch, s->aws);
	s->resolver.providers[SECRET_AWS_SM].invalidate = aws_sm_invalidate;
	return 0;
}

void sources_apply(const struct sources *s, struct secret_resolver *r, struct engine *eng)
{
	int k;

	for (k = 0; k < SECRET_KIND_COUNT; k++)
		if (s->resolver.providers[k].fetch != NULL)
			r->providers[k] = s->resolver.providers[k];
	if (eng != NULL && s->aws != NULL)
		engine_set_token_fn(eng, aws_engine_token, s->aws);
}

void sources_clear(struct sources *s)
{
	aws_free(s->aws);
	memset(s, 0, sizeof(*s));
}
