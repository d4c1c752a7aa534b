/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Unit discovery as systemd 252 does it for the system manager, for service and slice units.
 *
 * The search path (highest precedence first) is /etc/systemd/system.control,
 * /run/systemd/system.control, /run/systemd/transient, /etc/systemd/system,
 * /run/systemd/system, /usr/local/lib/systemd/system, /usr/lib/systemd/system and
 * /lib/systemd/system (left out when it is the same directory as /usr/lib/systemd/system).
 * The generator directories are not part of it: what other generators wrote is not read.
 * $SYSTEMD_UNIT_PATH, when set, replaces the path; when it ends in ':' the default path is
 * appended, as in systemd. Directories that are the same inode as an earlier one are dropped.
 *
 * - The unit file ("fragment") is the one in the highest directory; a symlink to /dev/null
 *   there masks the unit (an empty file too, which the caller sees when reading it).
 *   A symlink whose target has another name is an alias and is not a unit of its own.
 *   An instance (foo@bar.service) without its own file uses the template's (foo@.service).
 * - Drop-ins: *.conf in UNIT.d/ of every directory; for an instance also in TEMPLATE.d/, for
 *   a plain name also in the "-" prefix directories (foo-bar-baz.service gets
 *   foo-bar-.service.d/ and foo-.service.d/), and for every unit in the type-wide
 *   service.d/ or slice.d/. Files are merged by name: a name in an earlier directory (in the
 *   order systemd builds: for each search directory the unit's own, template and prefix
 *   directories, then the type-wide ones) hides the same name later; the result is
 *   applied sorted by file name. A drop-in that is a symlink to /dev/null hides the same
 *   name lower down and contributes nothing (the caller reads it as empty). */

typedef struct UnitTree UnitTree;

/* The search path as a NULL-terminated strv (to free with strv_free()). */
int unit_search_path(char ***ret);

/* Scan the directories once. */
int unit_tree_scan(char * const *dirs, UnitTree **ret);
UnitTree *unit_tree_free(UnitTree *t);

/* Every service and slice name that has a unit file or a drop-in directory of its own
 * (prefix and type-wide directories are not names), sorted. */
char * const *unit_tree_names(const UnitTree *t, size_t *ret_n);

/* The unit's fragment: *ret_path (owned by t) or NULL when there is none; *ret_masked when
 * it is a symlink to /dev/null. Returns 0. */
int unit_tree_fragment(const UnitTree *t, const char *name, const char **ret_path, bool *ret_masked);

/* The unit's drop-ins, in the order systemd applies them, as a NULL-terminated array of
 * paths owned by t (free only the array). */
int unit_tree_dropins(const UnitTree *t, const char *name, const char ***ret, size_t *ret_n);

/* Unit-name helpers. */
bool unit_name_valid(const char *name);           /* a service or slice name we handle */

typedef enum UnitNameFlags {
        UNIT_NAME_PLAIN    = 1 << 0,    /* foo.service */
        UNIT_NAME_TEMPLATE = 1 << 1,    /* foo@.service */
        UNIT_NAME_INSTANCE = 1 << 2,    /* foo@bar.service */
        UNIT_NAME_ANY      = UNIT_NAME_PLAIN | UNIT_NAME_TEMPLATE | UNIT_NAME_INSTANCE,
} UnitNameFlags;

/* A unit name as systemd's unit_name_is_valid() takes it, of a form in flags: at most 255
 * bytes; the suffix of a unit type (.service, .socket, .target, .device, .mount, .automount,
 * .swap, .timer, .path, .slice, .scope); before it a non-empty name of letters, digits and
 * ":-_.\", with '@' (not first) starting a template's or an instance's instance part. So no
 * '/', no blank, no control character. */
bool unit_name_is_valid_full(const char *name, UnitNameFlags flags);

/* A slice name as systemd's slice_name_is_valid(): a plain unit name ending in ".slice",
 * "-.slice", or parts separated by single dashes, none empty ("a-b.slice", not "-a.slice",
 * "a-.slice" or "a--b.slice"). */
bool slice_name_is_valid(const char *name);
bool unit_name_is_template(const char *name);     /* foo@.service */
bool unit_name_is_instance(const char *name);     /* foo@bar.service */
int unit_name_template(const char *name, char **ret);   /* foo@bar.service → foo@.service */
