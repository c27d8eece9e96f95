/*
 * dynbuf.h - a growing byte buffer with a hard size cap, as curl's dynbuf.
 *
 * The buffer may hold secrets (an API answer carrying a Secret, an exec
 * credential, a token file): every byte it held is wiped when it grows, on
 * any failure and when it is freed. A failed add frees the buffer. The
 * bytes are always NUL-terminated; dynbuf_take hands them over to the
 * caller, who wipes and frees them (dynbuf_wipe_free).
 *
 * A struct dynbuf belongs to one thread at a time.
 */
#ifndef APPDB_DYNBUF_H
#define APPDB_DYNBUF_H

#include <stddef.h>

struct dynbuf {
	char *data;
	size_t len, cap;
	size_t max; /* the most bytes it may hold */
};

/* An empty buffer that may hold up to max bytes (max >= 1). Allocates nothing. */
void dynbuf_init(struct dynbuf *b, size_t max);

/*
 * Appends n bytes of p. Returns 0; APPDB_ELIMIT when the cap would be
 * passed or APPDB_ENOMEM, and then the buffer is wiped and freed (empty,
 * ready for reuse with the same cap).
 */
int dynbuf_add(struct dynbuf *b, const void *p, size_t n);

/* The bytes, NUL-terminated (borrowed; "" when empty). */
const char *dynbuf_ptr(const struct dynbuf *b);
size_t dynbuf_len(const struct dynbuf *b);

/*
 * Takes the bytes: returns the NUL-terminated data (the caller wipes and
 * frees it), its length in *len when len is not NULL, and leaves the buffer
 * empty. NULL when nothing was added.
 */
char *dynbuf_take(struct dynbuf *b, size_t *len);

/* Wipes the bytes and empties the buffer, keeping its storage. */
void dynbuf_reset(struct dynbuf *b);

/* Wipes and frees the bytes; the buffer is empty and reusable. */
void dynbuf_free(struct dynbuf *b);

/* Wipes n bytes of p and frees it. NULL is fine. */
void dynbuf_wipe_free(void *p, size_t n);

/* Wipes a NUL-terminated string and frees it. NULL is fine. */
void dynbuf_wipe_str(char *s);

#endif
