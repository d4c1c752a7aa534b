/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The cgroup "cgpolicy apply" and "release" act on: a slice's (--slice=), else the cgroup of
 * the calling process (ExecStartPre=+ and ExecStopPost=+ run in the service's own cgroup). */

typedef struct Target {
        char *unit;             /* for messages and status */
        char *cgroup;           /* cgroup path */
        char *fs_path;
        uint64_t id;
        bool created;           /* the slice's cgroup did not exist: systemd has not realized it */
} Target;

void target_done(Target *t);

/* Resolve the target: the cgroup of slice when it is not NULL (a valid slice name), else the
 * own cgroup; unit names it in messages and records (default: the slice, else the cgroup's
 * last component). With create, a slice's cgroup that does not exist yet is created
 * (t->created). Returns 1 and *ret (to free with target_done()), 0 without create when the
 * slice's cgroup does not exist, or a negative errno (logged). */
int target_resolve(const char *unit, const char *slice, bool create, Target *ret);

/* The target of "reload", "block" and "unblock": the cgroup (a path, as systemd's ControlGroup=
 * says it) of a running unit. Returns 1 and *ret, or a negative errno (logged). */
int target_resolve_cgroup(const char *unit, const char *cgroup, Target *ret);
