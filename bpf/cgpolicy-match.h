/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The matching logic of the programs, compiled both into the BPF object and into the user-space
 * unit test (tests/bpf/test-compile.c), which runs it over emulated longest-prefix lookups of
 * the entries the compiler produced and compares every verdict with policy_allows().
 *
 * The includer defines, before including this file, three lookups returning a pointer to the
 * value of the longest matching prefix, or NULL, and one exact lookup of a full-length port key
 * among the full-length entries of the port trie:
 *   CGP_LOOKUP_PORT_EXACT(lctx, const struct cgp_port_key *) → const struct cgp_match *
 *   CGP_LOOKUP_PORT(lctx, const struct cgp_port_key *)       → const struct cgp_match *
 *   CGP_LOOKUP_ADDR(lctx, const struct cgp_addr_key *)       → const struct cgp_addr_value *
 *   CGP_LOOKUP_PORTSET(lctx, const struct cgp_portset_key *) → const struct cgp_match *
 * lctx is passed through untouched (the BPF side ignores it). */

#include "cgpolicy-abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((__always_inline__))
#endif

#if !defined(CGP_LOOKUP_PORT_EXACT) || !defined(CGP_LOOKUP_PORT) || !defined(CGP_LOOKUP_ADDR) || \
    !defined(CGP_LOOKUP_PORTSET)
#error "define CGP_LOOKUP_PORT_EXACT, CGP_LOOKUP_PORT, CGP_LOOKUP_ADDR and CGP_LOOKUP_PORTSET before including cgpolicy-match.h"
#endif

/* One request, normalized: IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) become AF_INET. */
struct cgp_request {
        __u8 dir;               /* CGP_DIR_* */
        __u8 family;            /* CGP_AF_INET or CGP_AF_INET6 */
        __u8 proto;             /* CGP_PROTO_* */
        __u8 pad;
        __u16 port;             /* host byte order */
        __u8 addr[16];          /* network byte order; IPv4 in addr[0..3], rest zero */
};

/* IPPROTO_* of the socket → protocol class. MPTCP (262) is TCP on the wire; UDP-Lite (136) is
 * UDP with a partial checksum, to the same ports. */
static __always_inline __u8 cgp_proto_class(__u32 protocol) {
        if (protocol == 6 /* IPPROTO_TCP */ || protocol == 262 /* IPPROTO_MPTCP */)
                return CGP_PROTO_TCP;
        if (protocol == 17 /* IPPROTO_UDP */ || protocol == 136 /* IPPROTO_UDPLITE */)
                return CGP_PROTO_UDP;
        return CGP_PROTO_OTHER;
}

/* Fill req from the socket's family and the address as four 32-bit words in network byte order
 * (for AF_INET only ip[0] is used), and the port in host byte order. */
static __always_inline void cgp_request_init(struct cgp_request *req, __u8 dir, __u32 protocol,
                                             int family, const __u32 ip[4], __u16 port) {
        __u32 w[4] = {};

        __builtin_memset(req, 0, sizeof(*req));
        req->dir = dir;
        req->proto = cgp_proto_class(protocol);
        req->port = port;

        if (family == CGP_AF_INET) {
                req->family = CGP_AF_INET;
                w[0] = ip[0];
        } else {
                const __u8 *b = (const __u8 *) &ip[2];

                /* ::ffff:a.b.c.d: words 0 and 1 zero, word 2 is 00 00 ff ff in memory. */
                if (ip[0] == 0 && ip[1] == 0 && b[0] == 0 && b[1] == 0 && b[2] == 0xff && b[3] == 0xff) {
                        req->family = CGP_AF_INET;
                        w[0] = ip[3];
                } else {
                        req->family = CGP_AF_INET6;
                        w[0] = ip[0];
                        w[1] = ip[1];
                        w[2] = ip[2];
                        w[3] = ip[3];
                }
        }
        __builtin_memcpy(req->addr, w, sizeof(w));
}

static __always_inline void cgp_port_key_init(struct cgp_port_key *k, __u32 policy, const struct cgp_request *req) {
        __builtin_memset(k, 0, sizeof(*k));
        k->prefixlen = CGP_PORT_KEY_FIXED_BITS + 16;
        k->policy = policy;
        k->dir = req->dir;
        k->family = req->family;
        k->proto = req->proto;
        k->port[0] = (__u8) (req->port >> 8);
        k->port[1] = (__u8) req->port;
}

static __always_inline void cgp_addr_key_init(struct cgp_addr_key *k, __u32 policy, const struct cgp_request *req) {
        __builtin_memset(k, 0, sizeof(*k));
        k->prefixlen = CGP_ADDR_KEY_FIXED_BITS + (req->family == CGP_AF_INET ? 32 : 128);
        k->policy = policy;
        k->dir = req->dir;
        k->family = req->family;
        __builtin_memcpy(k->addr, req->addr, 16);
}

static __always_inline void cgp_portset_key_init(struct cgp_portset_key *k, __u32 policy, __u32 portset,
                                                 const struct cgp_request *req) {
        __builtin_memset(k, 0, sizeof(*k));
        k->prefixlen = CGP_PORTSET_KEY_FIXED_BITS + 16;
        k->policy = policy;
        k->portset = portset;
        k->proto = req->proto;
        k->port[0] = (__u8) (req->port >> 8);
        k->port[1] = (__u8) req->port;
}

/* CGP_MATCH_* bits of the rules of the policy that match req, as many as the verdict needs:
 * at most three lookups, independent of the number of rules. When a port rule allows, the
 * address lookups are skipped (an allow decides, whatever else matches), which spares the
 * common case of an allow-list by port two of the three. flags are the policy's CGP_F_*
 * flags. */
static __always_inline __u32 cgp_match_bits(void *lctx, __u32 policy, __u32 flags, const struct cgp_request *req) {
        __u32 bits = 0;

        if (flags & CGP_F_PORTS(req->dir)) {
                struct cgp_port_key pk;
                const struct cgp_match *m;

                cgp_port_key_init(&pk, policy, req);
                /* A full-length entry is the longest match when there is one; it carries the
                 * bits of the blocks covering it (pushed down at compile time). */
                m = CGP_LOOKUP_PORT_EXACT(lctx, &pk);
                if (!m)
                        m = CGP_LOOKUP_PORT(lctx, &pk);
                if (m)
                        bits |= m->bits;
                if (bits & CGP_MATCH_ALLOW)
                        return bits;
        }

        if (flags & CGP_F_ADDRS(req->dir)) {
                struct cgp_addr_key ak;
                const struct cgp_addr_value *a;

                cgp_addr_key_init(&ak, policy, req);
                a = CGP_LOOKUP_ADDR(lctx, &ak);
                if (a) {
                        struct cgp_portset_key sk;
                        const struct cgp_match *m;

                        cgp_portset_key_init(&sk, policy, a->portset, req);
                        m = CGP_LOOKUP_PORTSET(lctx, &sk);
                        if (m)
                                bits |= m->bits;
                }
        }

        return bits;
}

/* What the rules say of req: a match of an allow rule allows, else a match of a deny rule
 * denies, else allow. Port 0 is matched only by rules for every port. Returns 1 when allowed. */
static __always_inline int cgp_rules_allow(void *lctx, __u32 policy, __u32 flags, const struct cgp_request *req) {
        __u32 bits = cgp_match_bits(lctx, policy, flags, req);

        if (bits & CGP_MATCH_ALLOW)
                return 1;
        if (bits & CGP_MATCH_DENY)
                return 0;
        return 1;
}

/* The verdict of the contract for a request of a policy that has rules for its direction:
 * the rules', except that a bind to port 0 (an ephemeral port) is matched by no rule. (The
 * listen() of a socket whose port the kernel chose is judged by cgp_rules_allow() with port 0
 * instead: see cgpolicy.bpf.c.) Returns 1 when allowed. */
static __always_inline int cgp_policy_allows(void *lctx, __u32 policy, __u32 flags, const struct cgp_request *req) {
        if (req->dir == CGP_DIR_BIND && req->port == 0)
                return 1;
        return cgp_rules_allow(lctx, policy, flags, req);
}
