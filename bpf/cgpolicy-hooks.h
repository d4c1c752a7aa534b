/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The cgroup hooks cgpolicy attaches programs to, one line each: the programs "cgpolicy load"
 * pins, those "cgpolicy apply" attaches (systemd's BPFProgram= is not used: systemd.cgpolicy(5),
 * ATTACHMENT), and those the tests and the benchmark attach all come from this table, in its order.
 * Adding a hook is adding a line here (and its program in cgpolicy.bpf.c). User space only. */

#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "cgpolicy-abi.h"

/* A set of directions: bit CGP_DIR_* (= policy.h's PolicyDirection) for each. */
#define CGP_DIRS(dir)           (1u << (dir))
#define CGP_DIRS_ALL            (CGP_DIRS(CGP_DIR_MAX) - 1u)
/* Not a direction: in the same masks, what a sealed policy needs besides its directions'. */
#define CGP_DIRS_SEALED         (1u << 8)
/* Not a direction either: what a policy with name rules needs besides (cgpolicy-dns.h). */
#define CGP_DIRS_NAMES          (1u << 9)

typedef struct CgpHook {
        const char *name;               /* the pin name (systemd's BPFProgram= attach type names) */
        const char *prog;               /* the program's name in cgpolicy.bpf.c and the skeleton */
        enum bpf_prog_type prog_type;
        enum bpf_attach_type attach_type;
        unsigned dirs;                  /* needed by a policy with rules for a direction in this set;
                                         * CGP_DIRS_ALL: by every network policy */
        unsigned flags;                 /* CGP_HOOK_* */
} CgpHook;

#define CGP_HOOK_OPTIONAL       0x1     /* the kernel may lack it: load skips it, apply attaches
                                         * it when it is pinned */

static const CgpHook cgp_hooks[] = {
        { "bind4",    "cgpolicy_bind4",    BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_BIND,    CGP_DIRS(CGP_DIR_BIND), 0 },
        { "bind6",    "cgpolicy_bind6",    BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_BIND,    CGP_DIRS(CGP_DIR_BIND), 0 },
        { "connect4", "cgpolicy_connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, CGP_DIRS(CGP_DIR_CONNECT), 0 },
        { "connect6", "cgpolicy_connect6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, CGP_DIRS(CGP_DIR_CONNECT), 0 },
        { "sendmsg4", "cgpolicy_sendmsg4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG,  CGP_DIRS(CGP_DIR_CONNECT), 0 },
        { "sendmsg6", "cgpolicy_sendmsg6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG,  CGP_DIRS(CGP_DIR_CONNECT), 0 },
        { "sock_create",   "cgpolicy_sock_create", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE, CGP_DIRS_ALL,              0 },
        { "egress",        "cgpolicy_egress",      BPF_PROG_TYPE_CGROUP_SKB,  BPF_CGROUP_INET_EGRESS,      CGP_DIRS(CGP_DIR_CONNECT), 0 },
        { "dns_egress",    "cgpolicy_dns_egress",  BPF_PROG_TYPE_CGROUP_SKB,  BPF_CGROUP_INET_EGRESS,      CGP_DIRS_NAMES,            0 },
        { "dns_ingress",   "cgpolicy_dns_ingress", BPF_PROG_TYPE_CGROUP_SKB,  BPF_CGROUP_INET_INGRESS,     CGP_DIRS_NAMES,            0 },
        { "socket_listen", "cgpolicy_listen",      BPF_PROG_TYPE_LSM,         BPF_LSM_CGROUP,              CGP_DIRS(CGP_DIR_BIND),    CGP_HOOK_OPTIONAL },
        { "bpf_guard",     "cgpolicy_bpf_guard",   BPF_PROG_TYPE_LSM,         BPF_LSM_CGROUP,              CGP_DIRS_SEALED,           CGP_HOOK_OPTIONAL },
};

#define CGP_HOOKS_MAX (sizeof(cgp_hooks) / sizeof(cgp_hooks[0]))

#define FOREACH_CGP_HOOK(h) for (const CgpHook *h = cgp_hooks; h < cgp_hooks + CGP_HOOKS_MAX; h++)

/* Does a policy with rules for the directions in dirs (CGP_DIRS()) need hook h? */
static inline bool cgp_hook_needed(const CgpHook *h, unsigned dirs) {
        return (h->dirs & dirs) != 0;
}

/* The hook of pin name name, or NULL. */
static inline const CgpHook *cgp_hook_by_name(const char *name) {
        FOREACH_CGP_HOOK(h)
                if (strcmp(h->name, name) == 0)
                        return h;
        return NULL;
}
