/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

/* The runtime records of "cgpolicy apply": one file per policed cgroup, RUNTIME_DIR/<cgroup id>
 * (RUNTIME_DIR is $CGPOLICY_RUNTIME_DIR, else CGPOLICY_RUNTIME_DIR from config.h), with
 * KEY=VALUE lines UNIT=, CGROUP=, POLICY= and one ARG= per policy argument. The maps know a
 * cgroup only by its id; these records give status and denials the unit's name and rules, and
 * let release find the policies of a slice whose cgroup is gone. */

typedef struct RuntimeEntry {
        uint64_t cgroup_id;
        char *unit;
        char *cgroup;
        uint32_t policy;
        char **args;            /* policy arguments, canonical (policy_to_args()) */
} RuntimeEntry;

const char *runtime_dir(void);
void runtime_entry_done(RuntimeEntry *e);

/* Write the record of cgroup_id atomically (a temporary file renamed over it). -EINVAL, and
 * nothing written, when a value (unit, cgroup, an argument) has a control character. */
int runtime_write(uint64_t cgroup_id, const char *unit, const char *cgroup, uint32_t policy, const Policy *p);
/* Read the record of cgroup_id into *ret (to free with runtime_entry_done()); -ENOENT when
 * there is none. */
int runtime_read(uint64_t cgroup_id, RuntimeEntry *ret);
/* Remove the record of cgroup_id, if any. */
void runtime_remove(uint64_t cgroup_id);
/* Calls cb for the cgroup id of every record; stops at the first negative return, which it
 * returns. A missing directory has no records. */
int runtime_foreach(int (*cb)(uint64_t id, void *userdata), void *userdata);

/* "cgpolicy block": a unit blocked by name, RUNTIME_DIR/blocked/UNIT. Runtime only, like
 * "systemctl set-property --runtime": it lasts until "cgpolicy unblock" or the next boot, through
 * reloads and restarts of the unit (every apply of a blocked unit puts the block in force). */
int runtime_set_blocked(const char *unit, bool blocked);
bool runtime_is_blocked(const char *unit);

/* "cgpolicy learn UNIT --start": a unit learning by name, RUNTIME_DIR/learning/UNIT, runtime only
 * like a block: every apply of the unit puts its policy in force in learn mode (cgpolicy-abi.h)
 * until "cgpolicy learn UNIT --stop" or the next boot. A block wins. */
int runtime_set_learning(const char *unit, bool learning);
bool runtime_is_learning(const char *unit);
