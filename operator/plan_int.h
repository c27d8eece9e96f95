/*
 * plan_int.h - what the plan's files share: the builder that collects
 * actions and warnings (its first failure sticks in rc), and the schema
 * steps plan_grants.c implements. Not for other modules.
 */
#ifndef APPDB_PLAN_INT_H
#define APPDB_PLAN_INT_H

#include "plan.h"

struct builder {
	struct plan *p;
	int rc;
};

/* A copy of s (NULL for NULL). */
char *builder_dup(const char *s);
/* Appends an action; text is formatted, strings are copied; NULL after a failure. */
struct action *builder_add(struct builder *b, enum action_kind kind, const char *user,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Adds a formatted warning to the plan, recording ENOMEM. */
void builder_warn(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies s into *field, recording ENOMEM. */
void builder_set(struct builder *b, char **field, const char *s);
/* Adds role to the roles the admin must be a member of while it applies. */
void builder_need_admin_role(struct builder *b, const char *role);

/* plan_grants.c */
void plan_schemas(struct builder *b, const struct desired *d, const struct observed *o);
void plan_retired_schema(struct builder *b, const struct desired *d, const struct observed *o,
                         const char *schema);

/* plan_access.c: DESIGN 11.3 beside the access levels. */
void plan_access_roles(struct builder *b, const struct desired *d, const struct observed *o);
void plan_access_database(struct builder *b, const struct desired *d, const struct observed *o);
void plan_access_schema(struct builder *b, const struct desired *d, const struct observed *o,
                        const char *schema);
void plan_access_extensions(struct builder *b, const struct desired *d, const struct observed *o);
/* deletionPolicy Disable: the retired roles' memberships and database privileges. */
void plan_access_disabling(struct builder *b, const struct desired *d, const struct observed *o);
/* Drops admin memberships in roles that hold rds_iam, with a warning. */
void plan_access_admin_roles(struct builder *b, const struct desired *d, const struct observed *o);
/* 1 when user u's grants cover schema (its schemas subset, else all). */
int plan_user_in_schema(const struct desired_user *u, const char *schema);
/* The extra privileges bit set of u for target (0 without more). */
unsigned plan_user_extra(const struct desired_user *u, enum priv_target target);

#endif
