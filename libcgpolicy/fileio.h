/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Read the whole file at path (following symlinks; a character device such as /dev/null
 * reads as empty) into a newly allocated buffer, NUL-terminated after *ret_size bytes (the
 * contents may contain NUL bytes themselves). Returns 0, -EISDIR for a directory, or the
 * negative errno of open()/read(); *ret_contents and *ret_size are untouched on error. */
int read_full_file(const char *path, char **ret_contents, size_t *ret_size);
