/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* cgroup v2 helpers of the helper binary. Paths called "cgroup path" are relative to the root
 * of the cgroup2 hierarchy as /proc/self/cgroup shows them ("/system.slice/foo.service"); "fs
 * path" means the directory under the cgroup2 mount. */

/* The mount point of cgroup2 and the cgroup path its root corresponds to, from
 * /proc/self/mountinfo. */
int cg_find_mount(char **ret_mountpoint, char **ret_root);

/* The cgroup path of pid (0: self) in the unified hierarchy ("0::" line of /proc/PID/cgroup).
 * -EBADMSG when the file is ambiguous (see cg_parse_proc_cgroup()), -ENOMEDIUM without "0::". */
int cg_pid_get_path(int pid, char **ret);

/* The unified path in the contents of a /proc/PID/cgroup file: -EBADMSG unless every line is
 * "ID:CONTROLLERS:/PATH", exactly one is "0::", it is the last and its path has no control
 * character (a cgroup name with a line break can forge lines); -ENOMEDIUM without "0::". */
int cg_parse_proc_cgroup(const char *contents, size_t size, char **ret);

/* The cgroup of the calling process as a policy target: its own cgroup, or, when it runs in
 * the ".control" sub-cgroup systemd uses for control processes of units with Delegate=yes,
 * the unit's cgroup above it. */
int cg_self_target(char **ret);

/* Is NAME a slice's name ("foo-bar.slice", "-.slice"), whose cgroup cg_slice_path() can tell? */
bool cg_slice_name_is_valid(const char *slice);

/* The cgroup path of slice NAME ("foo-bar.slice" → ROOT/foo.slice/foo-bar.slice). ROOT is the
 * cgroup of the system manager: PID 1's cgroup without a trailing "/init.scope", or
 * $CGPOLICY_CGROUP_ROOT when set (tests). -EINVAL for a name that is not a slice's. */
int cg_slice_path(const char *slice, char **ret);

/* The fs path of a cgroup path. */
int cg_fs_path(const char *cgroup_path, char **ret);

/* mkdir -p of a cgroup path (for slices systemd has not realized yet): 1 when it created the
 * cgroup itself, 0 when it existed already. */
int cg_create(const char *cgroup_path);

/* The cgroup id (kernfs node id) of a fs path. */
int cg_fs_get_id(const char *fs_path, uint64_t *ret);

/* Does the cgroup with this id still exist? 1 yes, 0 no, negative errno when it cannot be told.
 * When it exists and ret_path is not NULL, its fs path. */
int cg_id_exists(uint64_t id, char **ret_path);
