/*
 * base64.h - standard base64 (RFC 4648 section 4) decoding, the one the
 * operator uses for Kubernetes Secret data and kubeconfig -data fields.
 */
#ifndef APPDB_BASE64_H
#define APPDB_BASE64_H

#include <stddef.h>

/*
 * BASE64_STRICT: the length is a multiple of 4, padding only at the end
 * (as the API server encodes Secret data). BASE64_LENIENT: whitespace is
 * skipped and padding may be left out (as kubeconfig files are written).
 */
enum base64_mode { BASE64_STRICT = 0, BASE64_LENIENT };

/*
 * Decodes len bytes of in. *out is new (NUL-terminated; the caller wipes
 * and frees it, dynbuf_wipe_free), its length in *out_len. Returns 0,
 * APPDB_EINVAL (not base64) or APPDB_ENOMEM; on failure nothing is kept
 * and what was decoded is wiped.
 */
int base64_decode(char **out, size_t *out_len, const char *in, size_t len, enum base64_mode mode);

/*
 * Encodes len bytes of in as standard padded base64. Returns a new string
 * (the caller wipes it when in was a secret, then frees it), or NULL on
 * ENOMEM.
 */
char *base64_encode(const char *in, size_t len);

#endif
