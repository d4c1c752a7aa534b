/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgpolicy-abi.h"
#include "policy.h"

/* The compiler: a Policy → the entries of the BPF maps (see bpf/cgpolicy-abi.h).
 *
 * - Rules without an address go to the port trie, expanded over the families and protocol
 *   classes they name (none named: both families, and tcp, udp and "other" protocols); port
 *   ranges are split into aligned power-of-two blocks (a prefix of the 16 port bits); "all
 *   ports" is the /0 block, so "any" becomes /0 entries for every family and protocol.
 * - Rules with an address go to the address trie; each address entry gets a port set of its
 *   own holding its rules' (protocol, port block, allow/deny) triples.
 * - Within each trie, every entry gets the bits (port trie) or the port rules (address trie)
 *   of all shorter entries covering it, so that the longest-prefix match alone answers "does
 *   any allow rule match / does any deny rule match".
 */

typedef struct CgpPortEntry {
        struct cgp_port_key key;
        struct cgp_match value;
} CgpPortEntry;

typedef struct CgpAddrEntry {
        struct cgp_addr_key key;
        struct cgp_addr_value value;
} CgpAddrEntry;

typedef struct CgpPortsetEntry {
        struct cgp_portset_key key;
        struct cgp_match value;
} CgpPortsetEntry;

typedef struct CgpDnsNameEntry {
        struct cgp_dns_name_key key;
        struct cgp_dns_name value;
} CgpDnsNameEntry;

typedef struct CompiledPolicy {
        uint32_t policy;                /* the tag */
        uint32_t flags;                 /* CGP_F_* for struct cgp_cgroup */
        uint32_t sockets;               /* CGP_SOCK_* for struct cgp_cgroup */
        CgpPortEntry *ports;
        size_t n_ports;
        CgpAddrEntry *addrs;
        size_t n_addrs;
        CgpPortsetEntry *portsets;
        size_t n_portsets;
        /* Name rules (dns-compile.c): the names, and the rules' ports; n_names 0 when none. */
        CgpDnsNameEntry *names;
        size_t n_names;
        struct cgp_dns_rules dns_rules;
} CompiledPolicy;

/* The name rules of p for tag "policy" into c (dns-compile.c). Returns 0 or -ENOMEM. */
int dns_compile(const Policy *p, uint32_t policy, CompiledPolicy *c);

/* The wire format of a name rule's name (lowercase labels, no final 0) right-aligned in a
 * cgp_dns_name_key of tag "policy", as the programs build it. */
void dns_name_key(const char *name, uint32_t policy, struct cgp_dns_name_key *ret);

/* Compile p for the tag "policy". Returns 0, -ENOMEM, or -E2BIG when a trie would exceed
 * CGP_MAX_TRIE_ENTRIES. */
int policy_compile(const Policy *p, uint32_t policy, CompiledPolicy *ret);
void compiled_policy_done(CompiledPolicy *c);

/* Does the LPM key "prefix" (struct cgp_*_key, prefixlen first) cover "key"? key_size is
 * sizeof the key struct. For emulating the kernel's LPM trie in tests. */
bool cgp_lpm_covers(const void *prefix, const void *key, size_t key_size);

/* Split [lo, hi] (host order) into aligned blocks; calls cb(port, prefixlen 0..16, userdata)
 * per block. Returns the number of blocks. */
size_t cgp_port_blocks(uint16_t lo, uint16_t hi, void (*cb)(uint16_t port, unsigned plen, void *userdata), void *userdata);
