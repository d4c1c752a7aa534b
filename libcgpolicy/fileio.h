/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Read the whole file at path (following symlinks; a character device such as /dev/null
 * reads as empty) into a newly allocated buffer, NUL-terminated after *ret_size bytes (the
 * contents may contain NUL bytes themselves). Returns 0, -EISDIR for a directory, or the
 * negative errno of open()/read(); *ret_contents and *ret_size are untouched on error. */
int read_full_file(const char *path, char **ret_contents, size_t *ret_size);

/* The contents of files read once and kept: the generator reads type-wide, template and
 * prefix drop-ins for every unit they apply to. Keyed by path (as given), grows as needed. */
typedef struct FileCache FileCache;

int file_cache_new(FileCache **ret);
FileCache *file_cache_free(FileCache *c);

/* The contents of path (owned by c, NUL-terminated after *ret_size bytes), read with
 * read_full_file() the first time it is asked for. A file that cannot be read is logged
 * once, as a warning, and gives *ret_contents == NULL and *ret_size == 0 every time.
 * Returns 0, or -ENOMEM. */
int file_cache_get(FileCache *c, const char *path, const char **ret_contents, size_t *ret_size);
