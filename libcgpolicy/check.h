/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "policy.h"

/* Reading the X-CgPolicy keys of one unit from its fragment and drop-ins, shared by the
 * generator and "cgpolicy check".
 *
 * Keys belong in the unit type's own section ([Service] or [Slice]); one in another section
 * ([Unit], [Install], …) is an error of the unit (it fails closed), not silently ignored, and
 * so is one in a unit of any other type. The generator also needs the unit's ExecStartPre=
 * values (verbatim, systemd's reset semantics) and Slice=, collected in the same pass. */

typedef enum UnitKind {
        UNIT_KIND_SERVICE,
        UNIT_KIND_SLICE,
        UNIT_KIND_OTHER,         /* a unit type without X-CgPolicy support */
        UNIT_KIND_UNKNOWN,       /* not recognizable from the file name: [Service] or [Slice] */
} UnitKind;

typedef struct UnitPolicy {
        UnitKind kind;
        Policy policy;
        char **exec_start_pre;   /* strv, NULL when empty */
        size_t n_exec_start_pre;
        bool exec_start_pre_reset;  /* an empty ExecStartPre= was seen */
        char *slice;             /* Slice=, NULL when unset */
        bool slice_keys;         /* an X-CgPolicy key was in a [Slice] section */
        bool unseal;             /* a [Service] assignment that would undo the seal applied
                                  * before it: CapabilityBoundingSet= without '~' (ORs) or empty,
                                  * ProtectControlGroups= neither true nor "strict", an empty
                                  * InaccessiblePaths= */
        unsigned n_errors;       /* every error, also CPU/memory values that were ignored */
} UnitPolicy;

void unit_policy_init(UnitPolicy *u, UnitKind kind);
void unit_policy_done(UnitPolicy *u);

/* The kind from a unit file or drop-in path: "foo.service", "foo@.service",
 * ".../foo.service.d/x.conf", ".../service.d/x.conf", "…/foo-.slice.d/x.conf". */
UnitKind unit_kind_from_path(const char *path);

/* Parse one file (f may be NULL: then path is opened) into u. Returns 0 or a negative errno
 * when the file cannot be read (logged by the caller). */
int unit_policy_load_file(UnitPolicy *u, const char *path, FILE *f);

/* "cgpolicy check FILE…": validates the X-CgPolicy keys of every file, logging every error
 * as "FILE:LINE: KEY: what is wrong". For every file without errors that has network rules,
 * writes one line to out saying what sealing adds, judged from that file alone:
 *   "FILE: sealed: SETTING… (X-CgPolicySeal=no opts out)"
 *   "FILE: not sealed (X-CgPolicySeal=no)", "FILE: not sealed (audit mode)",
 *   "FILE: not sealed (learn mode)",
 *   "FILE: not sealed (a slice: sealing is per service)".
 * Returns 0 when all files are fine, -EINVAL when any error was found, or the first -errno of
 * a file that could not be read (after checking all the others). */
int check_unit_files(char * const *paths, size_t n, FILE *out);
/* The same, reading the host's nsswitch.conf and nscd socket (dns_lookups_visible()) under root.
 * For a file with name rules, one line "FILE: names: RULE… (…)" and, when they can allow
 * nothing, a line saying why: no connect deny rule (everything allowed anyway), no rule allowing
 * udp port 53, or lookups this host does not let the kernel see. */
int check_unit_files_full(char * const *paths, size_t n, const char *root, FILE *out);
