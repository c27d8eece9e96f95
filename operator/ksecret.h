/*
 * ksecret.h - the controller's kubernetesSecret password source: reads the
 * Secret through the calling worker's Kubernetes client and keeps the last
 * copy read of each Secret in memory (never on disk), so reconciles go on
 * while the API cannot be reached. A Secret the API says is gone or
 * forbidden is forgotten at once.
 *
 * Threads: one struct ksecret_cache is shared by every worker and guarded by
 * its own lock; each worker owns its struct ksecret_source. Secret objects
 * are wiped before they are freed.
 */
#ifndef APPDB_KSECRET_H
#define APPDB_KSECRET_H

#include "err.h"
#include "kube_client.h"
#include "log.h"
#include "secret.h"

struct ksecret_cache;

/* A worker's source: the shared cache, its own client, the log context of its reconcile. */
struct ksecret_source {
	struct ksecret_cache *cache; /* borrowed */
	struct kube_client *kc;      /* borrowed */
	const struct log_ctx *log;   /* borrowed; may be NULL */
};

int ksecret_cache_new(struct ksecret_cache **out);
/* Wipes every kept Secret and frees the cache. NULL is fine. */
void ksecret_cache_free(struct ksecret_cache *c);

/*
 * A secret_fetch_fn (secret.h); ctx is a struct ksecret_source. Reads
 * ref's Secret, or uses the copy kept when the API cannot be reached or
 * answers with something that is not a v1 Secret (a bad answer is never
 * read as a Secret without the key). Returns 0, APPDB_ENOTFOUND,
 * APPDB_EFORBIDDEN, APPDB_EINVAL, or APPDB_ETRANSIENT when the Secret was
 * never read and the API is away or gave a bad answer (retried).
 */
int ksecret_fetch(void *ctx, struct secret *out, const struct secret_ref *ref, struct err *err);

#endif
