/*
 * runall.c - worker threads over an array of resources: each takes the
 * next index, waits for a slot of that resource's instance, runs it.
 */
#include "runall.h"

#include "slots.h"
#include "sources.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct shared {
	const struct runall_opts *o;
	struct run_result *out;
	struct slots *slots;
	atomic_size_t next;
	atomic_int failed; /* a run returned APPDB_ENOMEM */
};

struct thread {
	struct shared *sh;
	struct engine *eng;
	pthread_t id;
	int started;
};

static void *run_thread(void *arg)
{
	struct thread *t = arg;
	struct shared *sh = t->sh;
	size_t i;

	while ((i = atomic_fetch_add(&sh->next, 1)) < sh->o->n) {
		const char *inst = sh->o->instance_of(sh->o->ctx, i);

		slots_acquire(sh->slots, inst);
		if (sh->o->run_one(sh->o->ctx, t->eng, i, &sh->out[i]) != 0)
			atomic_store(&sh->failed, 1);
		slots_release(sh->slots, inst);
	}
	return NULL;
}

int runall(struct run_result *out, const struct runall_opts *o, struct err *err)
{
	struct shared sh;
	struct secret_resolver unused = {0};
	struct thread *threads = NULL;
	size_t i, n = (size_t)(o->cfg->workers > 0 ? o->cfg->workers : 1);
	int rc = 0;

	memset(&sh, 0, sizeof(sh));
	sh.o = o;
	sh.out = out;
	if (n > o->n)
		n = o->n > 0 ? o->n : 1;
	threads = calloc(n, sizeof(*threads));
	if (threads == NULL || slots_new(&sh.slots, o->cfg) != 0) {
		rc = err_set(err, APPDB_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		threads[i].sh = &sh;
		if ((rc = engine_new(&threads[i].eng, o->cfg, o->resolver, err)) != 0)
			goto out;
		engine_set_audit(threads[i].eng, o->audit);
		/* The IAM token function; the providers are in o->resolver already. */
		sources_apply(o->sources, &unused, threads[i].eng);
	}
	if (n == 1) {
		run_thread(&threads[0]); /* serially on this thread */
	} else {
		for (i = 0; i < n; i++)
			threads[i].started =
			    pthread_create(&threads[i].id, NULL, run_thread, &threads[i]) == 0;
		for (i = 0; i < n; i++)
			if (threads[i].started)
				pthread_join(threads[i].id, NULL);
		run_thread(&threads[0]); /* what no thread took (none could start) */
	}
	if (atomic_load(&sh.failed))
		rc = err_set(err, APPDB_ENOMEM, "out of memory");
out:
	for (i = 0; threads != NULL && i < n; i++)
		engine_free(threads[i].eng);
	free(threads);
	slots_free(sh.slots);
	return rc;
}
