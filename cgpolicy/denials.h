/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "bpf-maps.h"

/* "cgpolicy denials": the recent-denials log of the maps (see struct cgp_denial), one line a
 * denial, naming the unit by its runtime record. */

/* Print the denials with seq > *last to stdout, oldest first, and set *last to the newest
 * printed. Returns the number printed or a negative errno. */
int denials_print_new(Maps *m, uint64_t *last);
