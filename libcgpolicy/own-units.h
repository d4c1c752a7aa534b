/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* cgpolicy's own units, as shipped in units/: the loader, the slice helper, the garbage
 * collector and the metrics writer with their timers. They are never policed (through a
 * type-wide service.d/ drop-in, say): the loader would require itself, and the helpers must
 * run whatever the policies say. tests/unit/test-own-units checks that every file in units/
 * is in the list. */

/* Is name one of them, or an instance of one of the templates (cgpolicy-apply@foo.slice.service)? */
bool unit_name_is_own(const char *name);
