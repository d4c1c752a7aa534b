/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "bpf-maps.h"

/* The maps of name rules (cgpolicy-abi.h, cgpolicy-dns.h), user space's side. */

/* Write c's names and rules (nothing when it has none). 0 or -errno. */
int maps_dns_write(Maps *m, const CompiledPolicy *c);

/* One address a name rule allows now: the rule's index in its policy, the address, and until
 * when (CLOCK_BOOTTIME seconds). */
typedef struct DnsLearned {
        unsigned rule;
        int family;                     /* AF_INET, AF_INET6 */
        uint8_t addr[16];
        uint32_t expires_s;
} DnsLearned;

/* Every address that tag's name rules allow now, by rule then address. */
int maps_dns_learned(Maps *m, uint32_t tag, DnsLearned **ret, size_t *ret_n);

/* CLOCK_BOOTTIME in seconds, as the programs count it. */
uint32_t dns_now_s(void);
