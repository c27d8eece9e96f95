/*
 * dynbuf.c - the capped, wiping byte buffer.
 */
#include "dynbuf.h"

#include "err.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define DYNBUF_FIRST 4096

void dynbuf_init(struct dynbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void dynbuf_wipe_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

void dynbuf_wipe_str(char *s)
{
	if (s != NULL)
		dynbuf_wipe_free(s, strlen(s));
}

void dynbuf_free(struct dynbuf *b)
{
	dynbuf_wipe_free(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}

void dynbuf_reset(struct dynbuf *b)
{
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->len);
		b->data[0] = '\0';
	}
	b->len = 0;
}

int dynbuf_add(struct dynbuf *b, const void *p, size_t n)
{
	char *grown;
	size_t cap;

	if (n > b->max || b->len > b->max - n) {
		dynbuf_free(b);
		return APPDB_ELIMIT;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap != 0 ? b->cap : DYNBUF_FIRST;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		/* Never realloc: the old block would be freed unwiped. */
		grown = malloc(cap);
		if (grown == NULL) {
			dynbuf_free(b);
			return APPDB_ENOMEM;
		}
		if (b->len > 0)
			memcpy(grown, b->data, b->len);
		dynbuf_wipe_free(b->data, b->cap);
		b->data = grown;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

const char *dynbuf_ptr(const struct dynbuf *b)
{
	return b->data != NULL ? b->data : "";
}

size_t dynbuf_len(const struct dynbuf *b)
{
	return b->len;
}

char *dynbuf_take(struct dynbuf *b, size_t *len)
{
	char *d = b->data;

	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
