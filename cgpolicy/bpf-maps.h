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
        MAP_SLOTS,
        MAP_FAST,
        MAP_EVENTS,             /* the denial stream (ring buffer) */
        MAP_EVENTS_LOST,        /* records the ring buffer had no room for, by slot */
        MAP_STREAMED,           /* what the monitor did with the records, by slot */
        MAP_LEARN,              /* learning (learn.h): learner → its records (hash of maps) */
        MAP_LEARN_SLOTS,        /* slot → learner */
        MAP_LEARN_INSERTS,      /* learner → records inserted */
        MAP_LEARN_NAMES,        /* unit name → learner */
        MAP_LEARN_DNS,          /* learner → the names it looked up (hash of maps) */
        MAP_DNS_NAMES,          /* name rules (cgpolicy-dns.h) */
        MAP_DNS_RULES,
        MAP_DNS_QUERIES,
        MAP_DNS_LEARNED,
        MAP_DNS_SCRATCH,
        _MAP_MAX,
} MapIndex;

typedef struct Maps {
        int fd[_MAP_MAX];
        int dir_fd;             /* the pin directory, flock()ed while writing */
        uint32_t cgroups_map_id;
        int n_cpus;
        struct cgp_fast_set *fast;      /* cgp_fast mapped (writers: under the lock), or NULL */
        uint32_t *retired;              /* tags no cgroup refers to any more, whose entries a
                                         * program may still be reading: maps_reclaim() */
        size_t n_retired;
} Maps;

/* Nothing open: every fd is -EBADF, whatever the number of maps. Declare a Maps as
 * "_cleanup_(maps_close) Maps m = MAPS_NULL;". */
#define MAPS_NULL { .fd = { [0 ... _MAP_MAX - 1] = -EBADF }, .dir_fd = -EBADF }

extern const char *const map_names[_MAP_MAX];

const char *pin_dir(void);

/* "cgpolicy load": load the programs (the optional ones where the kernel has them), pin them
 * and the maps (reusing maps pinned already), and make the pin directory private (privilege.h). */
int bpf_load_and_pin(void);

/* Open the pinned maps (checking the layout version) into m, which is MAPS_NULL. With lock,
 * read-write, with an exclusive flock on the pin directory until maps_close(): every writer
 * does. Without, read-only: CAP_DAC_READ_SEARCH is enough to read. */
int maps_open(Maps *m, bool lock);
/* Read-write without the lock: "cgpolicy monitor", which consumes the ring buffer and writes
 * cgp_streamed only (no other writer of either). */
int maps_open_monitor(Maps *m);
/* Close what is open and make m MAPS_NULL again; for _cleanup_(maps_close). */
void maps_close(Maps *m);

/* The entry of a cgroup: 1 and *ret, or 0 when it has none. */
int maps_get_cgroup(Maps *m, uint64_t cgroup_id, struct cgp_cgroup *ret);

/* A tag never handed out before while these maps exist (needs the lock): its entries cannot be
 * anybody's leftovers. */
int maps_new_tag(Maps *m, uint32_t *ret);
/* A slot no cgroup uses, with its counters and its denial-log state reset. */
int maps_alloc_slot(Maps *m, uint32_t *ret);

/* Write all entries of c (tag c->policy). */
int maps_write_policy(Maps *m, const CompiledPolicy *c);
/* Point the cgroup at an entry, or remove its entry (atomic for the programs). The fast set must
 * hold no word of the cgroup then (maps_fast_remove()). */
int maps_set_cgroup(Maps *m, uint64_t cgroup_id, const struct cgp_cgroup *v);
int maps_delete_cgroup(Maps *m, uint64_t cgroup_id);

/* The fast set (cgpolicy-abi.h), under the lock: remove every word of a cgroup, before its entry
 * changes; add the words of its compiled policy c counted in slot, after its entry points at c's
 * tag (words that do not fit are left out: those requests take the slow way); keep only the words
 * of cgroups that have an entry, compacting the set when removed words fill a quarter of it. */
int maps_fast_remove(Maps *m, uint64_t cgroup_id);
int maps_fast_add(Maps *m, uint64_t cgroup_id, uint32_t slot, const CompiledPolicy *c);
int maps_fast_gc(Maps *m);
/* Remove every trie entry of a tag. */
int maps_delete_policy(Maps *m, uint32_t tag);

/* Return only when every program that was running at the call has finished: a program that read
 * a cgroup's entry (or a fast-set word) before it was changed no longer uses it, so the entries of
 * the previous tag can be removed, and every request judged from now on is judged by the new one.
 * See the comment in bpf-maps.c. Returns 0, or 1 when it fell back to a fixed grace sleep. */
int maps_wait_programs(void);

/* A tag that no cgroup refers to any more (its cgroup was switched to another): its entries are
 * removed by maps_reclaim(), after maps_wait_programs(), one wait for every tag retired since;
 * maps_close() reclaims what is left. maps_reclaim_in_background() does it in a child process that
 * keeps the lock until it is done (the command returns at once; the next writer waits for it),
 * or itself if it cannot fork. */
int maps_retire_policy(Maps *m, uint32_t tag);
int maps_reclaim(Maps *m);
void maps_reclaim_in_background(Maps *m);

/* Sum of the per-CPU counters of (slot, dir), dir one of CGP_DIR_* or CGP_DIR_SOCKET. */
int maps_read_counter(Maps *m, uint32_t slot, int dir, struct cgp_counter *ret);
/* The denial-log state of a slot, or of all CGP_MAX_SLOTS slots (ret[slot]). */
int maps_read_slot(Maps *m, uint32_t slot, struct cgp_slot *ret);
int maps_read_slots(Maps *m, struct cgp_slot *ret);

/* Records of a slot the ring buffer had no room for (the sum over the CPUs). */
int maps_read_events_lost(Maps *m, uint32_t slot, uint64_t *ret);
/* What the monitor did with a slot's records; written by the monitor only. */
int maps_read_streamed(Maps *m, uint32_t slot, struct cgp_stream *ret);
int maps_write_streamed(Maps *m, uint32_t slot, const struct cgp_stream *v);

/* Iterate the cgroups map: calls cb for each entry, stops on a negative return. */
int maps_foreach_cgroup(Maps *m, int (*cb)(uint64_t id, const struct cgp_cgroup *v, void *userdata), void *userdata);

/* Trie entries of tags no cgroup refers to (left by an apply or release that was killed half
 * way): count them, or remove them. */
int maps_count_orphans(Maps *m, unsigned *ret);
int maps_delete_orphans(Maps *m, unsigned *ret_deleted);

/* Make sure the programs a policy with rules for dirs_mask needs are effective on the cgroup at
 * fs_path (attached there or on an ancestor); attach those that are not, with BPF_F_ALLOW_MULTI,
 * so that each is in force once. Returns the number attached. */
int ensure_attached(Maps *m, const char *fs_path, unsigned dirs_mask);

/* Is one of our programs for hook h effective on the cgroup? 1 yes, 0 no. */
int hook_is_effective(Maps *m, int cgroup_fd, const CgpHook *h);

/* Detach our programs from every cgroup with an entry ("cgpolicy unload", before the package is
 * removed). */
int maps_detach_own(Maps *m, unsigned *ret_detached);
