/*
 * fdio.c - whole writes and capped whole-file reads.
 */
#include "fdio.h"

#include "dynbuf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fdio_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int fdio_read_file(char **out, size_t *out_len, const char *path, size_t max, struct err *err)
{
	struct dynbuf b;
	char chunk[4096];
	ssize_t r;
	size_t len = 0;
	int fd, rc = 0;

	*out = NULL;
	dynbuf_init(&b, max);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, APPDB_EIO, "could not open %s: %s", path, strerror(errno));
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc =
			    err_set(err, APPDB_EIO, "could not read %s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		rc = dynbuf_add(&b, chunk, (size_t)r);
		if (rc == APPDB_ELIMIT)
			rc = err_set(err, APPDB_EIO, "%s is larger than %zu bytes", path, max);
		if (rc != 0)
			break;
	}
	close(fd);
	if (rc == 0) {
		*out = dynbuf_take(&b, &len);
		if (*out == NULL)
			*out = calloc(1, 1);
		if (*out == NULL)
			rc = APPDB_ENOMEM;
	}
	if (out_len != NULL)
		*out_len = rc == 0 ? len : 0;
	dynbuf_free(&b);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}
