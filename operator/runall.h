/*
 * runall.h - the one-shot reconcile and plan over many resources at once:
 * the config's `workers` threads, each with its own engine, and at most
 * maxConnectionsPerInstance runs on one instance at a time (slots.h), as
 * in the controller.
 */
#ifndef APPDB_RUNALL_H
#define APPDB_RUNALL_H

#include "config.h"
#include "engine.h"
#include "secret.h"

struct audit;
struct sources;

struct runall_opts {
	const struct config *cfg;
	const struct secret_resolver *resolver; /* shared by the engines, read-only */
	const struct sources *sources;
	struct audit *audit; /* NULL: none */
	size_t n;            /* how many resources */
	/* The instance resource i runs on (NULL: takes no slot). */
	const char *(*instance_of)(void *ctx, size_t i);
	/* Runs resource i with eng into out; returns 0 or APPDB_ENOMEM. */
	int (*run_one)(void *ctx, struct engine *eng, size_t i, struct run_result *out);
	void *ctx;
};

/*
 * Runs every resource; out has o->n results (cleared by the caller with
 * run_result_clear), in the order of the resources whatever order they ran
 * in. Returns 0, or APPDB_ENOMEM (a run failed for memory or an engine or
 * thread could not be made) with err set.
 */
int runall(struct run_result *out, const struct runall_opts *o, struct err *err);

#endif
