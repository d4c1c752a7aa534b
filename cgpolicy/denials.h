/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "bpf-maps.h"

/* "cgpolicy denials": the recent-denials log of the maps (see struct cgp_denial), one line a
 * denial, naming the unit by its runtime record. */

/* Where a reader is in the log: the last record it printed. */
typedef struct DenialCursor {
        uint64_t time_ns;
        uint32_t key;
} DenialCursor;

/* The hook of a record (cgp_denial.hook) as the output names it: "bind", "socket", … */
const char *denial_hook_name(uint8_t hook);

/* Print the records after *c to stdout, oldest first, and move *c to the newest printed. Returns
 * the number printed or a negative errno. */
int denials_print_new(Maps *m, DenialCursor *c);
