/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

/* Learning mode (X-CgPolicyMode=learn, "cgpolicy learn"): the kernel records every distinct
 * request a unit makes; "cgpolicy learn UNIT" reads those records and turns them into a proposed
 * drop-in. This is the interface between the two halves: the reader (cgpolicy/learn.c, which
 * knows the maps) fills LearnRecords, the proposer (learn-propose.c, pure: no kernel, no
 * files) writes the proposal. */

typedef enum LearnDirection {
        LEARN_BIND,             /* bind(), and listen() on a port the kernel chose */
        LEARN_CONNECT,          /* connect(), sendmsg() with a destination */
        LEARN_SOCKET,           /* creation of a socket of a PolicySocketKind */
        _LEARN_DIRECTION_MAX,
} LearnDirection;

/* One distinct request, with how often and when it was made. */
typedef struct LearnRecord {
        const char *unit;       /* the unit it was learned for: an instance for a template */
        LearnDirection dir;
        int family;             /* AF_INET or AF_INET6 (v4-mapped: AF_INET) */
        int protocol;           /* IPPROTO_TCP, IPPROTO_UDP, or 0 for any other protocol */
        PolicyAddress address;  /* network byte order; the local address for LEARN_BIND */
        uint16_t port;          /* host byte order; 0 for a bind to an ephemeral port */
        unsigned socket_kind;   /* LEARN_SOCKET: one PolicySocketKind bit */
        bool denied;            /* the policy in force would have refused it (audit, learn) */
        uint64_t count;
        uint64_t first_usec, last_usec;         /* CLOCK_REALTIME */
} LearnRecord;

typedef struct LearnAddress {
        int family;             /* AF_INET or AF_INET6 */
        PolicyAddress address;  /* network byte order */
} LearnAddress;

typedef struct LearnOptions {
        /* A connect target (protocol, port) seen for at least this many distinct addresses
         * within one /24 (IPv4) or /64 (IPv6) becomes that prefix; 0: never. */
        unsigned prefix_threshold;
        /* The host's resolvers (the nameservers of /etc/resolv.conf), named as such in the
         * comments. May be NULL. */
        const LearnAddress *resolvers;
        size_t n_resolvers;
        /* The policy the unit has now, for learn_propose_diff(). */
        const Policy *current;
} LearnOptions;

#define LEARN_PREFIX_THRESHOLD_DEFAULT 4u

/* The proposed drop-in for unit (the name written in its header comment and path hint), made
 * from the n records r (already filtered to that unit, or to the instances of that template):
 * the deny-by-default keys and allow rules covering every record, each rule commented with what
 * it covers and how often it was used. Written to f. */
int learn_propose_dropin(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f);

/* The same proposal as one JSON object, for tools. */
int learn_propose_json(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f);

/* The proposal against o->current: rules to add, rules of the current policy that nothing
 * learned used. */
int learn_propose_diff(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f);
