/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cgpolicy-abi.h"
#include "cgpolicy-hooks.h"
#include "policy-compile.h"

/* The pinned maps and programs under the pin directory ($CGPOLICY_BPFFS_DIR, else
 * CGPOLICY_BPFFS_DIR from config.h): programs at DIR/NAME of cgp_hooks[] (bind4, …), maps at
 * DIR/maps/NAME. */

typedef enum MapIndex {
        MAP_META,
        MAP_CGROUPS,
        MAP_PORTS,
        MAP_ADDRS,
        MAP_PORTSETS,
        MAP_COUNTERS,
        MAP_DENIALS,
        MAP_STATE,
        MAP_PORT_EXACT,
        _MAP_MAX,
} MapIndex;

typedef struct Maps {
        int fd[_MAP_MAX];
        int dir_fd;             /* the pin directory, flock()ed while writing */
        uint32_t cgroups_map_id;
        int n_cpus;
} Maps;

/* Nothing open: every fd is -EBADF, whatever the number of maps. Declare a Maps as
 * "_cleanup_(maps_close) Maps m = MAPS_NULL;". */
#define MAPS_NULL { .fd = { [0 ... _MAP_MAX - 1] = -EBADF }, .dir_fd = -EBADF }

extern const char *const map_names[_MAP_MAX];

const char *pin_dir(void);

/* "cgpolicy load". */
int bpf_load_and_pin(void);

/* Open the pinned maps (checking the layout version) into m, which is MAPS_NULL. With lock,
 * take an exclusive flock on the pin directory until maps_close(). */
int maps_open(Maps *m, bool lock);
/* Close what is open and make m MAPS_NULL again; for _cleanup_(maps_close). */
void maps_close(Maps *m);

/* Used policy ids, as a bitmap of CGP_MAX_POLICIES bits. */
int maps_get_cgroup(Maps *m, uint64_t cgroup_id, struct cgp_cgroup *ret);
int maps_alloc_policy(Maps *m, uint32_t avoid, uint32_t *ret);

/* Write all entries of c (policy c->policy) and zero its counters. */
int maps_write_policy(Maps *m, const CompiledPolicy *c);
/* Point the cgroup at a policy (atomic for the programs). */
int maps_set_cgroup(Maps *m, uint64_t cgroup_id, uint32_t policy, uint32_t flags);
int maps_delete_cgroup(Maps *m, uint64_t cgroup_id);
/* Remove every trie entry of policy (and zero its counters). */
int maps_delete_policy(Maps *m, uint32_t policy);

/* Sum of the per-CPU counters of (policy, dir). */
int maps_read_counter(Maps *m, uint32_t policy, int dir, struct cgp_counter *ret);

/* Iterate the cgroups map: calls cb for each entry, stops on a negative return. */
int maps_foreach_cgroup(Maps *m, int (*cb)(uint64_t id, const struct cgp_cgroup *v, void *userdata), void *userdata);

/* Policy ids present in the tries that no cgroup refers to (leftovers of a crash). */
int maps_delete_orphans(Maps *m, unsigned *ret_deleted);

/* Are the programs of the directions in dirs_mask (1 << CGP_DIR_*) pinned? 0, or a negative errno
 * (logged). */
int check_pinned(unsigned dirs_mask);

/* Make sure our programs for the directions in dirs_mask (1 << CGP_DIR_*) are effective on the
 * cgroup at fs_path (attached there or on an ancestor with multi); attach those that are not,
 * as systemd attaches BPFProgram= (BPF_F_ALLOW_MULTI). Returns the number attached. */
int ensure_attached(Maps *m, const char *fs_path, unsigned dirs_mask);

/* Is one of our programs for hook h effective on the cgroup? 1 yes, 0 no. */
int hook_is_effective(Maps *m, int cgroup_fd, const CgpHook *h);
