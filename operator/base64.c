/*
 * base64.c - standard base64: decoding, strict or lenient; encoding.
 */
#include "base64.h"

#include "dynbuf.h"
#include "err.h"

#include <stdlib.h>

/* The 6-bit value of ch, or -1. */
static int sextet(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

int base64_decode(char **out, size_t *out_len, const char *in, size_t len, enum base64_mode mode)
{
	size_t cap = len / 4 * 3 + 4, o = 0, i;
	unsigned int acc = 0;
	int bits = 0, pad = 0;
	char *buf;

	*out = NULL;
	*out_len = 0;
	if (mode == BASE64_STRICT && len % 4 != 0)
		return APPDB_EINVAL;
	buf = malloc(cap);
	if (buf == NULL)
		return APPDB_ENOMEM;
	for (i = 0; i < len; i++) {
		char ch = in[i];
		int v;

		if (mode == BASE64_LENIENT && is_space(ch))
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		v = sextet(ch);
		if (pad > 0 || v < 0)
			goto bad;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)((acc >> bits) & 0xFF);
		}
	}
	/* A lone sextet is no byte; strict padding completes the last group. */
	if (pad > 2 || bits >= 6)
		goto bad;
	if (mode == BASE64_STRICT && pad > 0 && pad != (bits == 4 ? 2 : bits == 2 ? 1 : -1))
		goto bad;
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return 0;
bad:
	dynbuf_wipe_free(buf, cap);
	return APPDB_EINVAL;
}

char *base64_encode(const char *in, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)in;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = alphabet[p[i] >> 2];
		*o++ = alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = alphabet[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = alphabet[p[i + 2] & 63];
	}
	if (i < len) {
		*o++ = alphabet[p[i] >> 2];
		if (i + 1 < len) {
			*o++ = alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*o++ = alphabet[(p[i + 1] & 15) << 2];
		} else {
			*o++ = alphabet[(p[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}
