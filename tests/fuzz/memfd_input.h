/*
 * memfd_input.h - for fuzz targets of loaders that take a path: writes one
 * input to an anonymous memory file and names it /proc/self/fd/N.
 */
#ifndef APPDB_FUZZ_MEMFD_INPUT_H
#define APPDB_FUZZ_MEMFD_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* The file's descriptor (close it after), or -1; path gets its name. */
static int memfd_input(const uint8_t *data, size_t size, char *path, size_t len)
{
	int fd = memfd_create("fuzz-input", 0);

	if (fd < 0)
		return -1;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
