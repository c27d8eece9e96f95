/*
 * failalloc.c - the failing allocator of failalloc.h.
 */
#include "failalloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static long countdown;
static int fired;

void failalloc_arm(long n)
{
	countdown = n;
	if (n > 0)
		fired = 0;
}

int failalloc_fired(void)
{
	return fired;
}

/* 1 when this allocation must fail. */
static int should_fail(void)
{
	if (countdown <= 0)
		return 0;
	if (--countdown == 0) {
		fired = 1;
		return 1;
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
