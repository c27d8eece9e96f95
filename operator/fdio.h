/*
 * fdio.h - whole writes to a file descriptor and whole reads of a file
 * into a capped buffer (dynbuf). Thread-safe.
 */
#ifndef APPDB_FDIO_H
#define APPDB_FDIO_H

#include "err.h"

#include <stddef.h>

/* Writes all len bytes of buf to fd, retrying after EINTR. Returns 0 or -1 (errno set). */
int fdio_write_all(int fd, const char *buf, size_t len);

/*
 * Reads the file at path (at most max bytes) into *out: new, NUL-terminated,
 * the caller wipes and frees it (dynbuf_wipe_free). Its length in *out_len
 * when out_len is not NULL. Returns 0, APPDB_EIO (could not open or read,
 * or larger than max, named in err) or APPDB_ENOMEM. What was read is
 * wiped on failure.
 */
int fdio_read_file(char **out, size_t *out_len, const char *path, size_t max, struct err *err);

#endif
