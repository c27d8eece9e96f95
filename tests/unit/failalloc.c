/*
 * failalloc.c - the failing allocator of failalloc.h.
 */
#include "failalloc.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

/* Atomics: a test's own server threads allocate too. */
static atomic_long countdown;
static atomic_int fired;

void failalloc_arm(long n)
{
	atomic_store(&countdown, n);
	if (n > 0)
		atomic_store(&fired, 0);
}

int failalloc_fired(void)
{
	return atomic_load(&fired);
}

/* 1 when this allocation must fail. */
static int should_fail(void)
{
	long c = atomic_load(&countdown);

	while (c > 0) {
		if (atomic_compare_exchange_weak(&countdown, &c, c - 1)) {
			if (c == 1) {
				atomic_store(&fired, 1);
				return 1;
			}
			return 0;
		}
	}
	return 0;
}

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : __real_strdup(s);
}

static void *json_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void failalloc_init(void)
{
	json_set_alloc_funcs(json_malloc, free);
}
