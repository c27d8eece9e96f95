/*
 * slots.c - a counting semaphore per instance of the config, under one
 * mutex and one condition variable.
 */
#include "slots.h"
#include "err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	const char *instance; /* borrowed from the config */
	int max, used, peak;
};

struct slots {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct slot *items;
	size_t n;
};

int slots_new(struct slots **out, const struct config *cfg)
{
	struct slots *s = calloc(1, sizeof(*s));
	size_t i;

	*out = NULL;
	if (s == NULL || (s->items = calloc(cfg->n_instances + 1, sizeof(*s->items))) == NULL) {
		free(s);
		return APPDB_ENOMEM;
	}
	for (i = 0; i < cfg->n_instances; i++) {
		s->items[i].instance = cfg->instances[i].name;
		s->items[i].max =
		    cfg->instances[i].max_connections > 0 ? cfg->instances[i].max_connections : 1;
	}
	s->n = cfg->n_instances;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->freed, NULL);
	*out = s;
	return 0;
}

void slots_free(struct slots *s)
{
	if (s == NULL)
		return;
	pthread_cond_destroy(&s->freed);
	pthread_mutex_destroy(&s->lock);
	free(s->items);
	free(s);
}

/* The slot of instance, or NULL. */
static struct slot *find(struct slots *s, const char *instance)
{
	size_t i;

	for (i = 0; instance != NULL && i < s->n; i++)
		if (strcmp(s->items[i].instance, instance) == 0)
			return &s->items[i];
	return NULL;
}

void slots_acquire(struct slots *s, const char *instance)
{
	struct slot *sl;

	pthread_mutex_lock(&s->lock);
	sl = find(s, instance);
	while (sl != NULL && sl->used >= sl->max)
		pthread_cond_wait(&s->freed, &s->lock);
	if (sl != NULL && ++sl->used > sl->peak)
		sl->peak = sl->used;
	pthread_mutex_unlock(&s->lock);
}

void slots_release(struct slots *s, const char *instance)
{
	struct slot *sl;

	pthread_mutex_lock(&s->lock);
	sl = find(s, instance);
	if (sl != NULL && sl->used > 0)
		sl->used--;
	pthread_cond_broadcast(&s->freed);
	pthread_mutex_unlock(&s->lock);
}

int slots_peak(struct slots *s, const char *instance)
{
	struct slot *sl;
	int peak;

	pthread_mutex_lock(&s->lock);
	sl = find(s, instance);
	peak = sl != NULL ? sl->peak : 0;
	pthread_mutex_unlock(&s->lock);
	return peak;
}
