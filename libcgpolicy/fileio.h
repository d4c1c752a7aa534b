/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* The most read_full_file() reads of one file. systemd reads unit files line by line and
 * refuses lines longer than 1 MiB, with no bound on the file; we keep whole files in memory
 * (the generator reads them all at boot, within the time systemd gives generators), so the
 * bound is per file: 4 MiB is a thousand times the largest unit file Debian ships, and more
 * than a drop-in can usefully hold (the generated helper line, which carries every rule, must
 * stay below systemd's 1 MiB line limit). A larger file is an error, never cut short. */
#define READ_FULL_FILE_MAX (4u * 1024u * 1024u)

/* Read the whole file at path (following symlinks) into a newly allocated buffer,
 * NUL-terminated after *ret_size bytes (the contents may contain NUL bytes themselves).
 * Only regular files are read, and /dev/null (what a masked unit or drop-in links to), which
 * reads as empty. The file is opened with O_NONBLOCK and checked with fstat() before anything
 * is read, so a FIFO cannot block and a device is never read. Returns 0, or: -EISDIR for a
 * directory, -EBADFD for anything else that is not a regular file, -EFBIG for a file larger
 * than READ_FULL_FILE_MAX bytes, the negative errno of open()/read(). *ret_contents and
 * *ret_size are untouched on error. read_full_file_strerror() words these errors. */
int read_full_file(const char *path, char **ret_contents, size_t *ret_size);

/* What is wrong with a file read_full_file() refused with r: "not a regular file", "larger
 * than 4194304 bytes", or strerror(-r). A static string or one in buf. */
const char *read_full_file_strerror(int r, char *buf, size_t size);

/* The contents of files read once and kept: the generator reads type-wide, template and
 * prefix drop-ins for every unit they apply to. Keyed by path (as given), grows as needed. */
typedef struct FileCache FileCache;

int file_cache_new(FileCache **ret);
FileCache *file_cache_free(FileCache *c);

/* The contents of path (owned by c, NUL-terminated after *ret_size bytes), read with
 * read_full_file() the first time it is asked for. Returns 0, -ENOMEM, or the negative errno
 * of read_full_file() (not logged; the same every time the file is asked for): then
 * *ret_contents is NULL and *ret_size 0. */
int file_cache_get(FileCache *c, const char *path, const char **ret_contents, size_t *ret_size);
