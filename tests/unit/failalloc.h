/*
 * failalloc.h - a failing allocator for unit tests (as jansson's
 * test_chaos.c does): fail the Nth allocation, then N+1, until the call
 * under test succeeds. Wraps malloc, calloc, realloc and strdup in the
 * project's objects (linked with -Wl,--wrap) and jansson's allocator.
 */
#ifndef APPDB_FAILALLOC_H
#define APPDB_FAILALLOC_H

/* Arms the allocator: the nth allocation from now fails (n >= 1); 0 disarms (keeps fired). */
void failalloc_arm(long n);
/* 1 when the armed failure has happened. */
int failalloc_fired(void);
/* Installs the jansson hooks; call once at test start. */
void failalloc_init(void);

#endif
