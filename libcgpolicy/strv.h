/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* NULL-terminated string vectors with their length kept beside them (*n entries). Freed with
 * strv_free() from macro.h. */

/* Append s, taking ownership of it; s == NULL (a failed allocation by the caller) is -ENOMEM.
 * On failure s is freed and *l is unchanged. */
int strv_push(char ***l, size_t *n, char *s);

/* Append a copy of s. */
int strv_extend(char ***l, size_t *n, const char *s);
