/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The layout of the pinned maps, shared by the BPF programs (cgpolicy.bpf.c) and user space
 * (the cgpolicy binary, the unit tests). Every change of a key or value below must bump
 * CGP_LAYOUT_VERSION: "cgpolicy load" refuses to reuse maps pinned with another version.
 *
 * How a request is judged (see cgpolicy-match.h for the code):
 *
 *  1. cgp_cgroups (hash, cgroup id → struct cgp_cgroup) names the policy of a policed cgroup:
 *     its tag (the key of its rules in the tries), its slot (counters, denial log) and flags.
 *     The program looks up the cgroup of the calling task and then its ancestors; for each
 *     direction the deepest policed cgroup whose policy has rules for that direction decides.
 *     When none has, the request is denied (fail closed: our program for that direction is
 *     attached, but no "cgpolicy apply" wrote rules for it), unless one of them says the
 *     direction is open (CGP_F_OPEN: its rules for it were removed while the programs stayed).
 *  2. cgp_ports (LPM trie): rules without an address, keyed by
 *     {tag, direction, family, protocol, port}, port ranges split into aligned prefix blocks.
 *  3. cgp_addrs (LPM trie): rules with an address, keyed by {tag, direction, family, address};
 *     the value names a port set of that policy.
 *  4. cgp_portsets (LPM trie): {tag, port set, protocol, port}.
 *  Every entry of a trie carries the allow/deny bits of all shorter entries covering it (pushed
 *  down at compile time), so a single longest-prefix lookup per stage gives "does any allow rule
 *  match" and "does any deny rule match". An allow match wins, then a deny match denies,
 *  else allow.
 *
 * Tags are handed out by "cgpolicy apply" from cgp_state.next_tag and never reused while the
 * maps exist: entries left behind by an apply or release that was killed half way belong to a
 * tag no cgroup will ever be given again (gc removes them), so a new policy always starts
 * empty. Slots are reused: a slot's counters are zeroed before a cgroup is pointed at it.
 */

#ifdef __BPF__
#include <linux/types.h>
#else
#include <linux/types.h>
#include <stdint.h>
#endif

#define CGP_MAGIC               0x63677031706f6c79ULL   /* "cgp1poly" */
#define CGP_LAYOUT_VERSION      4u

/* Capacities. LPM tries are allocated on demand (BPF_F_NO_PREALLOC), these are upper bounds. */
#define CGP_MAX_SLOTS           4096u       /* slots 1..CGP_MAX_SLOTS-1; 0 = no policy */
#define CGP_MAX_CGROUPS         CGP_MAX_SLOTS
#define CGP_MAX_TRIE_ENTRIES    (1U << 20)
/* The exact-port hash is only an accelerator of cgp_ports (a full-length entry missing from it
 * is found in the trie), and a hash allocates all its buckets at creation, allocated or not:
 * 16 MiB for 2^20 entries. 2^16 (1 MiB) holds the single ports of all but huge policies. */
#define CGP_MAX_EXACT_ENTRIES   (1U << 16)
#define CGP_DENIALS_PER_SLOT    16u         /* the recent denials kept per slot */
#define CGP_MAX_DENIALS         (CGP_MAX_SLOTS * CGP_DENIALS_PER_SLOT)
#define CGP_MAX_CGROUP_DEPTH    32          /* ancestors walked, levels 0..31 */

/* The denial log's rate per slot (a generic cell rate algorithm): at most one record per
 * CGP_LOG_INTERVAL_NS on average, bursts of CGP_LOG_BURST; the rest is counted as suppressed. */
#define CGP_LOG_INTERVAL_NS     (10ULL * 1000 * 1000)
#define CGP_LOG_BURST           32ULL

/* Directions of a policy (as policy.h's PolicyDirection). */
#define CGP_DIR_BIND            0
#define CGP_DIR_CONNECT         1
#define CGP_DIR_MAX             2
/* Counted like a direction, but not one of the rules: socket creation (sock_create). */
#define CGP_DIR_SOCKET          2
#define CGP_COUNTER_DIRS        3

/* Protocol classes: tcp (also MPTCP), udp (also UDP-Lite), and everything else (ICMP ping
 * sockets, SCTP…), which only rules that name no protocol match. */
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
#define CGP_F_AUDIT             0x1u        /* deny nothing, count would-be denials */
#define CGP_F_SOCKETS           0x2u        /* decides socket creation (a network policy) */
#define CGP_F_PORTS(dir)        (0x10u << (dir))  /* cgp_ports has entries for dir */
#define CGP_F_ADDRS(dir)        (0x40u << (dir))  /* cgp_addrs has entries for dir */
#define CGP_F_NAMES             0x2000u     /* connect allow rules by name (cgpolicy-dns.h) */
#define CGP_F_HAS_DIR(dir)      (CGP_F_PORTS(dir) | CGP_F_ADDRS(dir) | \
                                 ((dir) == CGP_DIR_CONNECT ? CGP_F_NAMES : 0u))
#define CGP_F_OPEN(dir)         (0x100u << (dir)) /* no rules for dir, allowed all the same */
#define CGP_F_LEARN             0x1000u     /* learning: decides every direction, refuses nothing,
                                             * records every distinct request (cgp_learn) */

/* Kinds of socket that the bind/connect/sendmsg programs cannot judge (struct
 * cgp_cgroup.sockets: those the policy allows to be created). TCP and MPTCP stream sockets and
 * UDP datagram sockets are no kind: they are always created, and judged at every bind, connect
 * and sendmsg. */
#define CGP_SOCK_PING           0x01u       /* ICMP/ICMPv6 echo: sendto() runs no hook */
#define CGP_SOCK_RAW            0x02u       /* SOCK_RAW: no hook at all */
#define CGP_SOCK_UDPLITE        0x04u       /* connect() runs no hook */
#define CGP_SOCK_SCTP           0x08u       /* multi-homing: addresses the hooks never see */
#define CGP_SOCK_OTHER          0x10u       /* any other IP protocol (L2TP/IP, …) */
#define CGP_SOCK_ALL            0x1fu

struct cgp_meta {
        __u64 magic;
        __u32 layout_version;
        __u32 max_policies;     /* CGP_MAX_SLOTS */
};

struct cgp_cgroup {
        __u32 policy;           /* tag: the key of the policy's entries in the tries */
        __u32 slot;             /* 1..CGP_MAX_SLOTS-1: counters, denial log */
        __u32 flags;            /* CGP_F_* */
        __u32 sockets;          /* CGP_SOCK_* that may be created */
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

/* cgp_counters: per-CPU array indexed by slot * CGP_COUNTER_DIRS + direction. Slot 0 counts
 * the requests denied because no policy was found at all. */
struct cgp_counter {
        __u64 allowed;
        __u64 denied;           /* denied (EPERM), mode enforce */
        __u64 audited;          /* would have been denied, mode audit */
};

/* The recent denials, per slot: cgp_denials (a hash allocated on demand) holds up to
 * CGP_DENIALS_PER_SLOT records of each slot, keyed by slot * CGP_DENIALS_PER_SLOT +
 * seq % CGP_DENIALS_PER_SLOT, where seq counts the slot's records (struct cgp_slot.logged).
 * A unit that is denied in a loop overwrites its own records only, and past the rate
 * (CGP_LOG_INTERVAL_NS, CGP_LOG_BURST) it only counts them as suppressed: the other units'
 * records stay, and so does the cost of their calls. Readers sort by time. */
#define CGP_HOOK_BIND           0
#define CGP_HOOK_CONNECT        1
#define CGP_HOOK_SENDMSG        2
#define CGP_HOOK_SOCK_CREATE    3
#define CGP_HOOK_LISTEN         4
#define CGP_HOOK_EGRESS         5           /* a source-routed packet */
#define CGP_HOOK_BPF            6           /* a bpf() call of a sealed unit */
#define CGP_HOOK_MAX            7

#define CGP_DENIAL_AUDIT        0x1         /* would-be denial (audit mode), allowed */
#define CGP_DENIAL_NO_POLICY    0x2         /* denied because no policy applies */

struct cgp_denial {
        __u64 seq;              /* 1-based, per slot */
        __u64 time_ns;          /* CLOCK_BOOTTIME */
        __u64 cgroup_id;        /* cgroup of the calling task */
        __u64 policy_cgroup_id; /* the policed cgroup whose policy decided, 0 if none */
        __u32 policy;           /* its tag, 0 if none */
        __u32 pid;              /* thread group id */
        __u8 comm[16];
        __u8 family;            /* after v4-mapped normalization */
        __u8 proto;             /* CGP_PROTO_* */
        __u8 hook;              /* CGP_HOOK_* */
        __u8 flags;             /* CGP_DENIAL_* */
        __u8 addr[16];          /* as judged: an unspecified destination is the one reached */
        __u16 port;             /* host byte order */
        __u16 protocol;         /* the socket's IPPROTO_* (MPTCP: 262) */
        __u8 type;              /* the socket's SOCK_* type */
        __u8 pad[7];
};

/* Per slot (array indexed by slot): the denial log's state. */
struct cgp_slot {
        __u64 logged;           /* records written (the last seq) */
        __u64 suppressed;       /* denials not recorded: over the rate */
        __u64 tat_ns;           /* the rate limiter's theoretical arrival time */
};

/* The denial stream (cgp_events, a ring buffer; issue 11): every record the denial log above
 * writes (so at most its rate per slot: a flood is bounded in the kernel) is also sent to the
 * ring buffer, which "cgpolicy monitor" follows to write each to the journal. The programs touch
 * it only when they record a denial, never on an allowed request. A record the ring buffer has
 * no room for (nobody reads it, or not fast enough) is counted in cgp_events_lost (per-CPU, by
 * slot): no record is lost silently. The record is the log's record plus its slot and the
 * slot's suppressed count when it was written, so that the reader knows how many denials the
 * slot had in all (seq + suppressed) without another lookup. Its layout is part of
 * CGP_LAYOUT_VERSION like the maps' (programs of an earlier load keep writing it). */
#define CGP_EVENTS_SIZE         (256u * 1024)   /* bytes, a power of 2: about 2300 records */

struct cgp_event {
        struct cgp_denial d;
        __u32 slot;
        __u32 pad;
        __u64 suppressed;       /* the slot's cgp_slot.suppressed when d was written */
};

/* cgp_streamed (array by slot), written by "cgpolicy monitor" only (one at a time) and read by
 * status: what became of the records it read from the ring buffer. Zeroed with the slot. */
struct cgp_stream {
        __u64 read;             /* records read from the ring buffer */
        __u64 journaled;        /* written to the journal */
        __u64 suppressed;       /* not written: over the monitor's per-unit rate */
        __u64 actions;          /* X-CgPolicyOnDenial= actions taken (or, in audit mode, logged) */
};

struct cgp_state {
        __u64 next_tag;         /* the last tag handed out (user space, under the lock) */
};

/* Learning (X-CgPolicyMode=learn, "cgpolicy learn UNIT --start"). A learning cgroup's entry has
 * CGP_F_LEARN (and CGP_F_SOCKETS): it decides every direction and socket creation, nothing is
 * refused, and the cgroup gets no fast-set words, so that every request reaches conclude(),
 * which records it. Records belong to a learning identity ("learner", 1..CGP_MAX_LEARNERS-1),
 * which user space allocates per unit NAME under the lock and keeps in cgp_learn_names, so that
 * a restarted unit (a new cgroup, a new tag, maybe a new slot) and a "cgpolicy load" again (the
 * maps are reused) go on adding to the same records:
 *
 *   cgp_learn_names (hash)         unit name (NUL-padded) → struct cgp_learner
 *   cgp_learn_slots (array)        slot → learner, written before the cgroup's entry points at
 *                                  the slot with CGP_F_LEARN
 *   cgp_learn (hash of maps)       learner → its records: an LRU hash created by user space,
 *                                  struct cgp_learn_key → struct cgp_learn_value, at most
 *                                  CGP_LEARN_RECORDS; a unit that makes more distinct requests
 *                                  evicts its own least recently used records, no other's
 *   cgp_learn_inserts (array)      learner → records inserted; minus the records present: the
 *                                  evictions
 *
 * A record is de-duplicated in the kernel: the first request of a key inserts it (count 1,
 * first = last = now), every later one adds to count (and denied) and sets last. Times are
 * CLOCK_BOOTTIME. Requests are counted as in audit mode (allowed, or audited when the policy in
 * force would have refused them); would-be denials go to the denial log only when the unit is
 * in audit mode too (CGP_F_AUDIT: "cgpolicy learn --start" of an audit unit). */
#define CGP_MAX_LEARNERS        1024u
#define CGP_LEARN_RECORDS       4096u       /* per learner */
/* struct cgp_learn_key.kind of a bind record made by listen() on a port the kernel chose: only a
 * rule for every port allows that (see the listen program), unlike a bind() to port 0. */
#define CGP_LEARN_LISTEN        1u
#define CGP_LEARN_NAME_MAX      256u        /* a unit name with its NUL (systemd: UNIT_NAME_MAX) */

struct cgp_learn_name {
        char name[CGP_LEARN_NAME_MAX];  /* NUL-padded */
};

struct cgp_learner {
        __u32 id;
        __u32 pad;
};

struct cgp_learn_key {
        __u8 dir;               /* CGP_DIR_BIND (bind(), and listen() on a port the kernel
                                 * chooses: port 0), CGP_DIR_CONNECT, CGP_DIR_SOCKET */
        __u8 family;            /* after v4-mapped normalization */
        __u8 proto;             /* CGP_PROTO_* */
        __u8 kind;              /* CGP_DIR_SOCKET: the CGP_SOCK_* kind; CGP_DIR_BIND:
                                 * CGP_LEARN_LISTEN for a listen() (port 0), else 0 */
        __u16 port;             /* host byte order; bind: 0 for an ephemeral port */
        __u8 pad[2];
        __u8 addr[16];          /* as judged (connect: an unspecified one as reached; bind: the
                                 * local address); zero for CGP_DIR_SOCKET */
};

struct cgp_learn_value {
        __u64 count;
        __u64 denied;           /* of which the policy in force would have refused */
        __u64 first_ns;         /* CLOCK_BOOTTIME */
        __u64 last_ns;
};

/* The fast set (cgp_fast, one mmap-able array element): a request that the policy of the task's
 * own cgroup allows by a single-port rule is answered from one word here, without the lookups
 * of the cgroup and of the port (two hash lookups, most of the program's cost). A word
 *
 *     cgroup id & 0xffffffff << 32 | port << 16 | slot << 4 | dir << 3 | IPv6 << 2 | protocol class
 *
 * is present only while all of this holds, for the live cgroup whose id has those low 32 bits
 * (kernfs ids of live cgroups differ in them): its own cgp_cgroups entry has rules for dir, so
 * that entry decides; that policy's cgp_port_exact entry for (dir, family, class, port) has
 * CGP_MATCH_ALLOW, so the request is allowed whatever the address (an allow wins); and its slot
 * is slot. The full judgement would then say the same. User space (one writer, under the pin
 * directory's lock) removes a cgroup's words before it changes or removes the cgroup's entry
 * and adds them after, each with one 8-byte atomic store through mmap(); a program reads a word
 * with one 8-byte load: it sees the word before or after, never a mix, and a word absent only
 * sends the request the slow way. Open addressing: CGP_FAST_PROBES slots from the hash, a
 * removed word becomes CGP_FAST_TOMB (go on probing), 0 ends the probe. */
#define CGP_FAST_BITS           16u
#define CGP_FAST_WORDS          (1u << CGP_FAST_BITS)
#define CGP_FAST_PROBES         4u
#define CGP_FAST_TOMB           1ULL
#define CGP_FAST_SLOT_MASK      0xfff0ULL

struct cgp_fast_set {
        __u64 w[CGP_FAST_WORDS];
};

static inline __u64 cgp_fast_word(__u32 cg32, __u16 port, __u32 slot, __u8 dir, __u8 family, __u8 proto) {
        return (__u64) cg32 << 32 | (__u64) port << 16 | (__u64) (slot & 0xfff) << 4 | (__u64) (dir & 1) << 3 |
               (__u64) (family == CGP_AF_INET6) << 2 | (__u64) (proto & 3);
}

static inline __u32 cgp_fast_hash(__u64 word) {
        __u32 cg32 = (__u32) (word >> 32), port = (__u32) (word >> 16) & 0xffff, meta = (__u32) word & 0xf;

        return ((cg32 * 0x9E3779B1u) ^ (port * 0x85EBCA6Bu) ^ (meta * 0xC2B2AE35u)) >> (32 - CGP_FAST_BITS);
}

/* Name rules (systemd.cgpolicy(5), NAME RULES; the programs are in cgpolicy-dns.h). A policy with
 * name rules has CGP_F_NAMES; its rules are numbered 0..CGP_DNS_MAX_RULES-1 in the order of the
 * connect allow list, and a set of them is a bit mask.
 *
 *  - cgp_dns_names (hash): {the wire-format name, lowercase, right-aligned in name[], its length,
 *    tag} → the rules whose name is exactly it (exact) and those that match every name below it
 *    ("*.NAME": below). Names are compared in full, no hash of them is trusted.
 *  - cgp_dns_rules (hash): {tag} → the family, protocol class and ports of each rule.
 *  - cgp_dns_queries (LRU hash): a query the unit sent, for a name some rule matches, keyed by
 *    {socket cookie, server address, transaction id, family}; the question and the rules it
 *    matched. An answer is read only when it matches one; the entry is removed by the answer.
 *  - cgp_dns_learned (LRU hash, bounded: CGP_DNS_MAX_LEARNED): {family, tag, address} → per rule,
 *    until when (CLOCK_BOOTTIME seconds) the address is allowed by it; 0: not.
 *  - cgp_dns_scratch (per-CPU array, 2 elements: 0 egress, 1 ingress, so that an ingress program
 *    in a softirq never uses what an interrupted egress program is using): the datagram and the
 *    name being read. */
#define CGP_DNS_MAX_RULES       16u
#define CGP_DNS_TTL_MIN_S       5u
#define CGP_DNS_TTL_MAX_S       3600u
#define CGP_DNS_MAX_LEARNED     32768u
#define CGP_DNS_MAX_QUERIES     8192u
#define CGP_DNS_MAX_NAMES       (CGP_MAX_SLOTS * 4u)
#define CGP_DNS_BUF             2048u       /* bytes of a DNS message read, a power of 2 */
#define CGP_DNS_NAME_BUF        256u        /* a wire-format name: at most 255 bytes */
#define CGP_DNS_MAX_RECORDS     32u         /* answer records read */
#define CGP_DNS_MAX_CHAIN       8u          /* names of a CNAME chain, the question's included */
#define CGP_DNS_MAX_ADDRS       16u         /* addresses learned from one answer */
#define CGP_DNS_MAX_LABELS      32u         /* labels of a question (more: no rule matches) */
#define CGP_DNS_QUERY_TTL_NS    (10ULL * 1000 * 1000 * 1000)   /* an answer must come within 10 s */
#define CGP_DNS_PROTO_ANY       0xffu

struct cgp_dns_name_key {
        __u32 len;              /* bytes of the name, at the end of name[] */
        __u32 policy;
        __u8 name[CGP_DNS_NAME_BUF];    /* zeros, then the wire-format name (no final 0) */
};

struct cgp_dns_name {
        __u32 exact;            /* rules whose name is this one */
        __u32 below;            /* rules "*.this": every name below this one */
};

struct cgp_dns_rule {
        __u8 family;            /* 0: both, CGP_AF_INET, CGP_AF_INET6 */
        __u8 proto;             /* CGP_PROTO_TCP, CGP_PROTO_UDP or CGP_DNS_PROTO_ANY */
        __u16 port_min;         /* host byte order; 0 and 0: every port */
        __u16 port_max;
        __u16 pad;
};

struct cgp_dns_rules_key {
        __u32 pad;
        __u32 policy;
};

struct cgp_dns_rules {
        __u32 n;
        __u32 pad;
        struct cgp_dns_rule rule[CGP_DNS_MAX_RULES];
};

struct cgp_dns_query_key {
        __u64 cookie;           /* the socket's (bpf_get_socket_cookie()) */
        __u8 server[16];        /* the address the query went to (IPv4 in server[0..3]) */
        __u16 txid;             /* as on the wire */
        __u8 family;
        __u8 pad[5];
};

struct cgp_dns_query {
        __u32 policy;           /* the tag of the policy that noted it */
        __u32 rules;            /* the rules its name matches */
        __u64 time_ns;          /* CLOCK_BOOTTIME when it was sent */
        __u32 len;              /* of name */
        __u32 learner;          /* the learner of a learning unit (CGP_F_LEARN), else 0 */
        __u8 name[CGP_DNS_NAME_BUF];    /* the question, wire format, lowercase, from name[0] */
};

struct cgp_dns_learned_key {
        __u8 family;
        __u8 pad[3];
        __u32 policy;
        __u8 addr[16];
};

struct cgp_dns_learned {
        __u32 expires_s[CGP_DNS_MAX_RULES];     /* CLOCK_BOOTTIME seconds, per rule; 0: never */
};

/* The names a learning unit looked up (cgpolicy-dns.h): a learning unit's queries are noted
 * whatever their name, with its learner, and each A or AAAA record of the answer (the question's
 * name or its CNAME chain, as for name rules) is recorded in that learner's names, an LRU hash
 * created by user space with its records (cgp_learn_dns: learner → the map): {family, the
 * question's hash, address} → the question, the last answer's TTL clamped as name rules clamp
 * it, how many answers gave it, when first and last. "cgpolicy learn" proposes name rules from
 * them; a name evicted is only a name not proposed (its connects keep their address rules). */
#define CGP_LEARN_DNS_RECORDS   1024u       /* per learner */

struct cgp_learn_dns_key {
        __u8 family;
        __u8 pad[7];
        __u64 name_hash;        /* FNV-1a of the question (wire format, lowercase) */
        __u8 addr[16];          /* IPv4 in addr[0..3] */
};

struct cgp_learn_dns_value {
        __u64 count;
        __u64 first_ns;         /* CLOCK_BOOTTIME */
        __u64 last_ns;
        __u32 ttl_s;
        __u32 len;              /* of name */
        __u8 name[CGP_DNS_NAME_BUF];    /* the question, wire format, lowercase, from name[0] */
};

#define CGP_DNS_STATE_BUF       256u

struct cgp_dns_scratch {
        __u8 pkt[CGP_DNS_BUF];
        __u8 name[CGP_DNS_NAME_BUF];
        struct cgp_dns_name_key key;
        struct cgp_learn_dns_value lv;  /* a learner's name record being built (too large for
                                         * the stack of a loop callback) */
        __u8 state[CGP_DNS_STATE_BUF];  /* the programs' loop state (in a map value, so that the
                                         * verifier sees no constant in it and its loops converge) */
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

CGP_ASSERT_SIZE(cgp_cgroup, 16);
CGP_ASSERT_OFFSET(cgp_cgroup, policy, 0);
CGP_ASSERT_OFFSET(cgp_cgroup, slot, 4);
CGP_ASSERT_OFFSET(cgp_cgroup, flags, 8);
CGP_ASSERT_OFFSET(cgp_cgroup, sockets, 12);
CGP_ASSERT_LAST(cgp_cgroup, sockets);

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

CGP_ASSERT_SIZE(cgp_denial, 88);
CGP_ASSERT_OFFSET(cgp_denial, seq, 0);
CGP_ASSERT_OFFSET(cgp_denial, time_ns, 8);
CGP_ASSERT_OFFSET(cgp_denial, cgroup_id, 16);
CGP_ASSERT_OFFSET(cgp_denial, policy_cgroup_id, 24);
CGP_ASSERT_OFFSET(cgp_denial, policy, 32);
CGP_ASSERT_OFFSET(cgp_denial, pid, 36);
CGP_ASSERT_OFFSET(cgp_denial, comm, 40);
CGP_ASSERT_OFFSET(cgp_denial, family, 56);
CGP_ASSERT_OFFSET(cgp_denial, proto, 57);
CGP_ASSERT_OFFSET(cgp_denial, hook, 58);
CGP_ASSERT_OFFSET(cgp_denial, flags, 59);
CGP_ASSERT_OFFSET(cgp_denial, addr, 60);
CGP_ASSERT_OFFSET(cgp_denial, port, 76);
CGP_ASSERT_OFFSET(cgp_denial, protocol, 78);
CGP_ASSERT_OFFSET(cgp_denial, type, 80);
CGP_ASSERT_OFFSET(cgp_denial, pad, 81);
CGP_ASSERT_LAST(cgp_denial, pad);

CGP_ASSERT_SIZE(cgp_slot, 24);
CGP_ASSERT_OFFSET(cgp_slot, logged, 0);
CGP_ASSERT_OFFSET(cgp_slot, suppressed, 8);
CGP_ASSERT_OFFSET(cgp_slot, tat_ns, 16);
CGP_ASSERT_LAST(cgp_slot, tat_ns);

CGP_ASSERT_SIZE(cgp_event, 104);
CGP_ASSERT_OFFSET(cgp_event, d, 0);
CGP_ASSERT_OFFSET(cgp_event, slot, 88);
CGP_ASSERT_OFFSET(cgp_event, pad, 92);
CGP_ASSERT_OFFSET(cgp_event, suppressed, 96);
CGP_ASSERT_LAST(cgp_event, suppressed);

CGP_ASSERT_SIZE(cgp_stream, 32);
CGP_ASSERT_OFFSET(cgp_stream, read, 0);
CGP_ASSERT_OFFSET(cgp_stream, journaled, 8);
CGP_ASSERT_OFFSET(cgp_stream, suppressed, 16);
CGP_ASSERT_OFFSET(cgp_stream, actions, 24);
CGP_ASSERT_LAST(cgp_stream, actions);

CGP_ASSERT_SIZE(cgp_state, 8);
CGP_ASSERT_OFFSET(cgp_state, next_tag, 0);
CGP_ASSERT_LAST(cgp_state, next_tag);

CGP_ASSERT_SIZE(cgp_learn_name, CGP_LEARN_NAME_MAX);

CGP_ASSERT_SIZE(cgp_learner, 8);
CGP_ASSERT_OFFSET(cgp_learner, id, 0);
CGP_ASSERT_OFFSET(cgp_learner, pad, 4);
CGP_ASSERT_LAST(cgp_learner, pad);

CGP_ASSERT_SIZE(cgp_learn_key, 24);
CGP_ASSERT_OFFSET(cgp_learn_key, dir, 0);
CGP_ASSERT_OFFSET(cgp_learn_key, family, 1);
CGP_ASSERT_OFFSET(cgp_learn_key, proto, 2);
CGP_ASSERT_OFFSET(cgp_learn_key, kind, 3);
CGP_ASSERT_OFFSET(cgp_learn_key, port, 4);
CGP_ASSERT_OFFSET(cgp_learn_key, pad, 6);
CGP_ASSERT_OFFSET(cgp_learn_key, addr, 8);
CGP_ASSERT_LAST(cgp_learn_key, addr);

CGP_ASSERT_SIZE(cgp_learn_value, 32);
CGP_ASSERT_OFFSET(cgp_learn_value, count, 0);
CGP_ASSERT_OFFSET(cgp_learn_value, denied, 8);
CGP_ASSERT_OFFSET(cgp_learn_value, first_ns, 16);
CGP_ASSERT_OFFSET(cgp_learn_value, last_ns, 24);
CGP_ASSERT_LAST(cgp_learn_value, last_ns);

CGP_ASSERT_SIZE(cgp_fast_set, 8 * CGP_FAST_WORDS);

CGP_ASSERT_SIZE(cgp_dns_name_key, 264);
CGP_ASSERT_OFFSET(cgp_dns_name_key, policy, 4);
CGP_ASSERT_LAST(cgp_dns_name_key, name);
CGP_ASSERT_SIZE(cgp_dns_name, 8);
CGP_ASSERT_SIZE(cgp_dns_rule, 8);
CGP_ASSERT_LAST(cgp_dns_rule, pad);
CGP_ASSERT_SIZE(cgp_dns_rules_key, 8);
CGP_ASSERT_OFFSET(cgp_dns_rules_key, policy, 4);
CGP_ASSERT_SIZE(cgp_dns_rules, 8 + 8 * CGP_DNS_MAX_RULES);
CGP_ASSERT_SIZE(cgp_dns_query_key, 32);
CGP_ASSERT_LAST(cgp_dns_query_key, pad);
CGP_ASSERT_SIZE(cgp_dns_query, 280);
CGP_ASSERT_OFFSET(cgp_dns_query, learner, 20);
CGP_ASSERT_LAST(cgp_dns_query, name);
CGP_ASSERT_SIZE(cgp_learn_dns_key, 32);
CGP_ASSERT_OFFSET(cgp_learn_dns_key, name_hash, 8);
CGP_ASSERT_LAST(cgp_learn_dns_key, addr);
CGP_ASSERT_SIZE(cgp_learn_dns_value, 32 + CGP_DNS_NAME_BUF);
CGP_ASSERT_OFFSET(cgp_learn_dns_value, ttl_s, 24);
CGP_ASSERT_LAST(cgp_learn_dns_value, name);
CGP_ASSERT_SIZE(cgp_dns_learned_key, 24);
CGP_ASSERT_OFFSET(cgp_dns_learned_key, policy, 4);
CGP_ASSERT_LAST(cgp_dns_learned_key, addr);
CGP_ASSERT_SIZE(cgp_dns_learned, 4 * CGP_DNS_MAX_RULES);
_Static_assert(CGP_DNS_MAX_RULES <= 32, "a set of name rules is a 32-bit mask");
_Static_assert(CGP_MAX_SLOTS <= 0x1000, "a slot must fit the 12 bits of a fast-set word");
