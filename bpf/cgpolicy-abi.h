/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The layout of the pinned maps, shared by the BPF programs (cgpolicy.bpf.c) and user space
 * (the cgpolicy binary, the unit tests). Every change of a key or value below must bump
 * CGP_LAYOUT_VERSION: "cgpolicy load" refuses to reuse maps pinned with another version.
 *
 * How a request is judged (see cgpolicy-match.h for the code):
 *
 *  1. cgp_cgroups (hash, cgroup id → struct cgp_cgroup) names the policy of a policed cgroup.
 *     The program looks up the cgroup of the calling task and then its ancestors; for each
 *     direction the deepest policed cgroup whose policy has rules for that direction decides.
 *     When no ancestor is policed at all the request is denied (fail closed: our programs are
 *     attached, but "cgpolicy apply" has not written a policy yet).
 *  2. cgp_ports (LPM trie): rules without an address, keyed by
 *     {policy, direction, family, protocol, port}, port ranges split into aligned prefix blocks.
 *  3. cgp_addrs (LPM trie): rules with an address, keyed by {policy, direction, family, address};
 *     the value names a port set of that policy.
 *  4. cgp_portsets (LPM trie): {policy, port set, protocol, port}.
 *  Every entry of a trie carries the allow/deny bits of all shorter entries covering it (pushed
 *  down at compile time), so a single longest-prefix lookup per stage gives "does any allow rule
 *  match" and "does any deny rule match". An allow match wins, then a deny match denies,
 *  else allow.
 */

#ifdef __BPF__
#include <linux/types.h>
#else
#include <linux/types.h>
#include <stdint.h>
#endif

#define CGP_MAGIC               0x63677031706f6c79ULL   /* "cgp1poly" */
#define CGP_LAYOUT_VERSION      1u

/* Capacities. LPM tries are allocated on demand (BPF_F_NO_PREALLOC), these are upper bounds. */
#define CGP_MAX_POLICIES        4096u       /* policy ids 1..CGP_MAX_POLICIES-1; 0 = none */
#define CGP_MAX_CGROUPS         CGP_MAX_POLICIES
#define CGP_MAX_TRIE_ENTRIES    (1U << 20)
#define CGP_MAX_DENIALS         256         /* the circular denial log */
#define CGP_MAX_CGROUP_DEPTH    32          /* ancestors walked, levels 0..31 */

/* Directions (as policy.h's PolicyDirection). */
#define CGP_DIR_BIND            0
#define CGP_DIR_CONNECT         1
#define CGP_DIR_MAX             2

/* Protocol classes: tcp (also MPTCP), udp, and everything else (SCTP, ICMP ping sockets, raw,
 * UDP-Lite…), which only rules that name no protocol match. */
#define CGP_PROTO_TCP           0
#define CGP_PROTO_UDP           1
#define CGP_PROTO_OTHER         2
#define CGP_PROTO_MAX           3

/* Families as stored in keys (AF_INET/AF_INET6 values, so that no translation is needed). */
#define CGP_AF_INET             2
#define CGP_AF_INET6            10

/* Match bits in trie values. */
#define CGP_MATCH_ALLOW         0x1
#define CGP_MATCH_DENY          0x2

/* struct cgp_cgroup.flags */
#define CGP_F_AUDIT             0x1         /* deny nothing, count would-be denials */
#define CGP_F_PORTS(dir)        (0x10u << (dir))  /* cgp_ports has entries for dir */
#define CGP_F_ADDRS(dir)        (0x40u << (dir))  /* cgp_addrs has entries for dir */
#define CGP_F_HAS_DIR(dir)      (CGP_F_PORTS(dir) | CGP_F_ADDRS(dir))

struct cgp_meta {
        __u64 magic;
        __u32 layout_version;
        __u32 max_policies;
};

struct cgp_cgroup {
        __u32 policy;           /* 1..CGP_MAX_POLICIES-1 */
        __u32 flags;            /* CGP_F_* */
};

/* LPM keys: "prefixlen" counts bits of everything after it. The fixed leading fields are
 * always matched in full; only the port or address is a prefix. Padding must be zero. */
struct cgp_port_key {
        __u32 prefixlen;
        __u32 policy;
        __u8 dir;
        __u8 family;
        __u8 proto;             /* CGP_PROTO_* */
        __u8 port[2];           /* network byte order */
        __u8 pad[3];
};
#define CGP_PORT_KEY_FIXED_BITS 56u         /* policy + dir + family + proto */

struct cgp_addr_key {
        __u32 prefixlen;
        __u32 policy;
        __u8 dir;
        __u8 family;
        __u8 addr[16];          /* IPv4 in addr[0..3], the rest zero */
        __u8 pad[2];
};
#define CGP_ADDR_KEY_FIXED_BITS 48u         /* policy + dir + family */

struct cgp_addr_value {
        __u32 portset;          /* port set id within the policy, >= 1 */
};

struct cgp_portset_key {
        __u32 prefixlen;
        __u32 policy;
        __u32 portset;
        __u8 proto;
        __u8 port[2];
        __u8 pad;
};
#define CGP_PORTSET_KEY_FIXED_BITS 72u      /* policy + portset + proto */

struct cgp_match {
        __u32 bits;             /* CGP_MATCH_* */
};

/* cgp_counters: per-CPU array indexed by policy * CGP_DIR_MAX + dir. Slot 0/1 (policy 0)
 * counts the requests denied because no policy was found at all. */
struct cgp_counter {
        __u64 allowed;
        __u64 denied;           /* denied (EPERM), mode enforce */
        __u64 audited;          /* would have been denied, mode audit */
};

/* The recent-denials log: an array of CGP_MAX_DENIALS entries used as a circular buffer.
 * A writer takes a sequence number with an atomic add on cgp_state.denial_seq and writes slot
 * seq % CGP_MAX_DENIALS; readers sort by seq. Unlike a BPF ring buffer, which drops the
 * NEWEST records when nobody consumes it, this always keeps the most recent denials, and
 * several readers can look at it at any time. A reader may, rarely, see a slot that is being
 * rewritten: fields are written before seq, and readers skip entries whose seq does not map
 * to their slot. */
#define CGP_HOOK_BIND           0
#define CGP_HOOK_CONNECT        1
#define CGP_HOOK_SENDMSG        2

#define CGP_DENIAL_AUDIT        0x1         /* would-be denial (audit mode), allowed */
#define CGP_DENIAL_NO_POLICY    0x2         /* denied because no policy was written */

struct cgp_denial {
        __u64 seq;              /* 1-based; 0 = empty slot */
        __u64 time_ns;          /* CLOCK_BOOTTIME */
        __u64 cgroup_id;        /* cgroup of the calling task */
        __u64 policy_cgroup_id; /* the policed cgroup whose policy decided, 0 if none */
        __u32 pid;              /* thread group id */
        __u8 comm[16];
        __u8 family;            /* after v4-mapped normalization */
        __u8 proto;             /* CGP_PROTO_* */
        __u8 hook;              /* CGP_HOOK_* */
        __u8 flags;             /* CGP_DENIAL_* */
        __u8 addr[16];
        __u16 port;             /* host byte order */
        __u8 pad[6];
};

struct cgp_state {
        __u64 denial_seq;
};

/* The layout is checked at build time, in the BPF object and in user space alike: programs of
 * an earlier load stay attached to running units and keep using the pinned maps, so a size or
 * an offset below changes only on purpose, with CGP_LAYOUT_VERSION. No struct has implicit
 * padding (the pad bytes are fields, which writers zero: the kernel compares keys bytewise), an
 * LPM key's port or address follows right after the fixed fields its CGP_*_KEY_FIXED_BITS
 * count, and every LPM key has its policy at offset 4 (user space deletes entries by it). */
#define CGP_ASSERT_SIZE(type, size) \
        _Static_assert(sizeof(struct type) == (size), \
                       "sizeof(struct " #type ") changed: the pinned maps' layout (CGP_LAYOUT_VERSION)")
#define CGP_ASSERT_OFFSET(type, member, offset) \
        _Static_assert(__builtin_offsetof(struct type, member) == (offset), \
                       "offsetof(struct " #type ", " #member ") changed: the pinned maps' layout (CGP_LAYOUT_VERSION)")
#define CGP_ASSERT_LAST(type, member) \
        _Static_assert(sizeof(struct type) == __builtin_offsetof(struct type, member) + \
                                              sizeof(((struct type *) 0)->member), \
                       "struct " #type " has padding after " #member ": make it a field")

/* Read by every version ("cgpolicy load" checks the pinned layout with it): never changes. */
CGP_ASSERT_SIZE(cgp_meta, 16);
CGP_ASSERT_OFFSET(cgp_meta, magic, 0);
CGP_ASSERT_OFFSET(cgp_meta, layout_version, 8);
CGP_ASSERT_OFFSET(cgp_meta, max_policies, 12);
CGP_ASSERT_LAST(cgp_meta, max_policies);

CGP_ASSERT_SIZE(cgp_cgroup, 8);
CGP_ASSERT_OFFSET(cgp_cgroup, policy, 0);
CGP_ASSERT_OFFSET(cgp_cgroup, flags, 4);
CGP_ASSERT_LAST(cgp_cgroup, flags);

CGP_ASSERT_SIZE(cgp_port_key, 16);
CGP_ASSERT_OFFSET(cgp_port_key, prefixlen, 0);
CGP_ASSERT_OFFSET(cgp_port_key, policy, 4);
CGP_ASSERT_OFFSET(cgp_port_key, dir, 8);
CGP_ASSERT_OFFSET(cgp_port_key, family, 9);
CGP_ASSERT_OFFSET(cgp_port_key, proto, 10);
CGP_ASSERT_OFFSET(cgp_port_key, port, 4 + CGP_PORT_KEY_FIXED_BITS / 8);
CGP_ASSERT_OFFSET(cgp_port_key, pad, 13);
CGP_ASSERT_LAST(cgp_port_key, pad);

CGP_ASSERT_SIZE(cgp_addr_key, 28);
CGP_ASSERT_OFFSET(cgp_addr_key, prefixlen, 0);
CGP_ASSERT_OFFSET(cgp_addr_key, policy, 4);
CGP_ASSERT_OFFSET(cgp_addr_key, dir, 8);
CGP_ASSERT_OFFSET(cgp_addr_key, family, 9);
CGP_ASSERT_OFFSET(cgp_addr_key, addr, 4 + CGP_ADDR_KEY_FIXED_BITS / 8);
CGP_ASSERT_OFFSET(cgp_addr_key, pad, 26);
CGP_ASSERT_LAST(cgp_addr_key, pad);

CGP_ASSERT_SIZE(cgp_addr_value, 4);

CGP_ASSERT_SIZE(cgp_portset_key, 16);
CGP_ASSERT_OFFSET(cgp_portset_key, prefixlen, 0);
CGP_ASSERT_OFFSET(cgp_portset_key, policy, 4);
CGP_ASSERT_OFFSET(cgp_portset_key, portset, 8);
CGP_ASSERT_OFFSET(cgp_portset_key, proto, 12);
CGP_ASSERT_OFFSET(cgp_portset_key, port, 4 + CGP_PORTSET_KEY_FIXED_BITS / 8);
CGP_ASSERT_OFFSET(cgp_portset_key, pad, 15);
CGP_ASSERT_LAST(cgp_portset_key, pad);

CGP_ASSERT_SIZE(cgp_match, 4);

CGP_ASSERT_SIZE(cgp_counter, 24);
CGP_ASSERT_OFFSET(cgp_counter, allowed, 0);
CGP_ASSERT_OFFSET(cgp_counter, denied, 8);
CGP_ASSERT_OFFSET(cgp_counter, audited, 16);
CGP_ASSERT_LAST(cgp_counter, audited);

CGP_ASSERT_SIZE(cgp_denial, 80);
CGP_ASSERT_OFFSET(cgp_denial, seq, 0);
CGP_ASSERT_OFFSET(cgp_denial, time_ns, 8);
CGP_ASSERT_OFFSET(cgp_denial, cgroup_id, 16);
CGP_ASSERT_OFFSET(cgp_denial, policy_cgroup_id, 24);
CGP_ASSERT_OFFSET(cgp_denial, pid, 32);
CGP_ASSERT_OFFSET(cgp_denial, comm, 36);
CGP_ASSERT_OFFSET(cgp_denial, family, 52);
CGP_ASSERT_OFFSET(cgp_denial, proto, 53);
CGP_ASSERT_OFFSET(cgp_denial, hook, 54);
CGP_ASSERT_OFFSET(cgp_denial, flags, 55);
CGP_ASSERT_OFFSET(cgp_denial, addr, 56);
CGP_ASSERT_OFFSET(cgp_denial, port, 72);
CGP_ASSERT_OFFSET(cgp_denial, pad, 74);
CGP_ASSERT_LAST(cgp_denial, pad);

CGP_ASSERT_SIZE(cgp_state, 8);
