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
        bool listen;            /* LEARN_BIND, port 0: a listen() on a port the kernel chose (no
                                 * bind() before it, or a bind() to port 0), which the kernel
                                 * judges by the rules for every port (systemd.cgpolicy(5),
                                 * "listen()"), not a bind() to port 0, which is always allowed */
        unsigned socket_kind;   /* LEARN_SOCKET: one PolicySocketKind bit */
        bool denied;            /* the policy in force would have refused it (audit, learn) */
        uint64_t count;
        uint64_t first_usec, last_usec;         /* CLOCK_REALTIME */
} LearnRecord;

/* A name the unit looked up and one address an answer to that lookup gave (learning mode reads
 * the unit's own DNS answers as name rules do: systemd.cgpolicy(5), LEARNING and NAME RULES).
 * One per (unit, name, address). */
typedef struct LearnName {
        const char *unit;       /* as LearnRecord.unit */
        const char *name;       /* the question asked: lowercase, dotted, no final dot */
        int family;             /* of address: AF_INET (an A record) or AF_INET6 (AAAA) */
        PolicyAddress address;  /* network byte order */
        uint32_t ttl;           /* seconds, of the last answer that gave it, clamped as name rules
                                 * clamp it (CGP_DNS_TTL_MIN_S..CGP_DNS_TTL_MAX_S) */
        uint64_t count;         /* answers that gave it */
        uint64_t first_usec, last_usec;         /* CLOCK_REALTIME, the first and last answer */
} LearnName;

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
        /* The policy the unit has now, for learn_propose_diff(). NULL: none (every proposed
         * rule is an addition). */
        const Policy *current;
        /* Records the kernel dropped because its table was full (LRU evictions), as the reader
         * counted them; 0 when none or unknown. When not 0 the proposal says that it may be
         * incomplete (a header comment; "evictions" in the JSON). */
        uint64_t evictions;
        /* The names the unit looked up and what they answered (NAMES below). May be NULL when
         * n_names is 0. */
        const LearnName *names;
        size_t n_names;
} LearnOptions;

#define LEARN_PREFIX_THRESHOLD_DEFAULT 4u

/* The ports a UDP reply to a client's ephemeral port is proposed for (see GROUPING below). */
#define LEARN_EPHEMERAL_PORT_MIN 1024u
#define LEARN_EPHEMERAL_PORT_MAX 65535u

/* GROUPING: how records become rules (also in cgpolicy(8), LEARNED POLICIES). T is
 * o->prefix_threshold; 1 counts as 2 (a target seen for one address always stays that address).
 *
 * - Records are merged by (direction, family, protocol, address, port, socket kind): counts
 *   add up, first/last are the earliest/latest (records of several instances of a template
 *   merge this way). A protocol other than TCP or UDP counts as 0 ("other").
 * - Bind to port 0 (an ephemeral port): left out, the contract always allows it. They are
 *   counted in the header.
 * - A listen() on a port the kernel chose (r->listen): allowed only by a rule for every port,
 *   so that is what is proposed, as narrow as the records allow: "ipv4:tcp" for the wildcard
 *   address (per family, unlike a bind), "tcp:127.0.0.1" for one address, and said so in the
 *   comment. Without it the service's listen() would be refused where the kernel has BPF LSM.
 * - Bind to the wildcard address (0.0.0.0, ::): "PROTO:PORT", for both families (what an
 *   administrator writes; a daemon binding 0.0.0.0 today often binds :: tomorrow). Bind to
 *   one address: "PROTO:ADDR:PORT" ("tcp:127.0.0.1:8080", "tcp:[::1]:8080").
 * - Connect: "PROTO:ADDR:PORT" per target address. For one (family, protocol, ports), T or
 *   more distinct addresses under one /24 (IPv4) or /64 (IPv6) become that prefix
 *   ("tcp:192.0.2.0/24:443"); IPv4 and IPv6 separately.
 * - Replies of a UDP server: a UDP server that answers with sendto() on an unconnected socket
 *   makes a connect record for every client address and ephemeral port. When the UDP connect
 *   records of one family go to T or more distinct ports >= 1024, all their ports >= 1024
 *   are taken as such replies and become the range 1024-65535 (the unprivileged ports, where
 *   every system's ephemeral range lies): "udp:ADDR:1024-65535", grouped into prefixes as
 *   above; when T or more such targets (addresses or prefixes) remain in the family, they
 *   become one rule for the whole family: "ipv4:udp:1024-65535". Ports below 1024 stay
 *   exact. TCP records are never widened this way: a TCP server answers on accepted sockets,
 *   which make no connect, so every TCP connect is a real target.
 * - A connect to port 0 (a ping socket's connect(), ...) can only be allowed by a rule for
 *   every port: "PROTO:ADDR" (or the prefix).
 * - Protocol 0 (other: SCTP, ping sockets, ...) is matched only by rules that name no
 *   protocol, so such records, and only they, give rules without one ("192.0.2.7:9899",
 *   "9899" for a bind to the wildcard address), which match TCP and UDP too. TCP and UDP
 *   records always keep their protocol.
 * - A rule that another proposed rule of the same direction covers is left out, its records
 *   counted with the wider rule ("tcp:127.0.0.1:8080" with "tcp:8080").
 * - Socket records give one "X-CgPolicySocketAllow=KIND" per kind seen.
 *
 * NAMES: o->names are the answers the unit's own lookups got (LearnName). A connect record of
 * unit U (protocol TCP or UDP, port neither 0 nor 53) to address A is "reached by name N" when
 * a LearnName of the same unit string (both NULL counts as the same), family and address A
 * exists with name.first_usec <= record.first_usec (the lookup came before the first connect)
 * and record.last_usec <= name.last_usec + name.ttl seconds (the last connect was within the
 * lifetime of the last answer: a name rule would have allowed it). This is decided for each
 * record before records are merged; records reached by different names are not merged.
 * - A record reached by names becomes name rules instead of an address rule: one rule per
 *   (name, protocol, port), "tcp:api.example.com:443" (the canonical spelling; a single port).
 *   A record reached by several names gets the rule of each (each was looked up by the unit),
 *   and counts with each.
 * - T or more distinct names directly below one parent that has two labels at least (so never
 *   "*.com"), for the same (protocol, port), become one rule "PROTO:*.PARENT:PORT", their
 *   records counted with it; a name rule such a wildcard covers (same protocol and port, a name
 *   below PARENT) is left out, its records counted with the wildcard.
 * - At most POLICY_NAME_RULES_MAX name rules: when more would be proposed, those with the
 *   highest counts (the sum of the counts of their records) stay, ties in the order below; the
 *   records of the others that no name rule left covers go back to rules by address (grouped as
 *   above), and the header names the rules left out.
 * - A record no name reached keeps its address rule, exactly as without names (fail-safe:
 *   applying the proposal and running the same workload again gives zero denials). Port 53
 *   (the resolver: a name rule never allows one) and port 0 records are never name rules; nor
 *   are names the rule grammar does not take as they are (one label, an all-digit last
 *   label, ...), which are only counted.
 * - Name rules are never covered by, and never cover, rules by address: both stay.
 * The header counts the distinct names looked up, their answers and the name rules; a name
 * rule's comment says it is one, the names it covers (for a wildcard), the answers to the
 * unit's lookups of them, and the addresses its records went to.
 *
 * ORDER: bind rules, then connect rules, then socket kinds; rules sorted: name rules first (by
 * name read label by label from the last one, so that the names below one parent come
 * together: "example.com", "*.example.com", "api.example.com"; then protocol, port), then by
 * family (none, IPv4, IPv6), address (none first, then by bytes, wider prefix first),
 * protocol (tcp, udp, none), port range. Kinds in the order of policy_socket_kind_to_string(). Stable for the
 * same records and options: the golden tests rely on it. Times are printed in UTC
 * (YYYY-MM-DDTHH:MM:SSZ), so that the output does not depend on $TZ.
 *
 * unit must be a service or slice name ("foo.service", "foo@.service", "foo@a.service",
 * "foo.slice"), ASCII without control characters or '/': -EINVAL otherwise. A slice gets [Slice],
 * everything else [Service]. Records with an unknown direction, a bind/connect record with
 * another family than AF_INET/AF_INET6, a socket record without a PolicySocketKind bit, a
 * LearnName without a name or with another family than AF_INET/AF_INET6, or n_names > 0 with
 * names NULL give -EINVAL. o may be NULL (default threshold, no resolvers, no current policy).
 * Returns 0, -EINVAL, -ENOMEM or the negative errno of a failed write to f. */

/* The proposed drop-in for unit (the name written in its header comment and path hint), made
 * from the n records r (already filtered to that unit, or to the instances of that template):
 * the deny-by-default keys and allow rules covering every record, each rule commented with what
 * it covers and how often it was used. Written to f.
 *
 * The drop-in (see GROUPING for the rules):
 *
 *   # header: the unit, the path to install it as (/etc/systemd/system/UNIT.d/cgpolicy.conf),
 *   #         what was learned (requests, first, last), binds to port 0 left out, evictions,
 *   #         names looked up (when any), name rules left out over the limit
 *   [Service]                         ([Slice] for a slice)
 *   X-CgPolicyMode=enforce            (replaces learn/audit of the unit's files)
 *   X-CgPolicyBindAllow=              (each list reset: the drop-in is the whole policy,
 *   X-CgPolicyBindDeny=                whatever the unit's files said before)
 *   X-CgPolicyBindDeny=any
 *   # bind tcp on every address, port 8080 (seen over IPv4 and IPv6): 3 times, first ..., last ...
 *   X-CgPolicyBindAllow=tcp:8080
 *   ... the same for Connect, then X-CgPolicySocketAllow= (reset) and one line per kind.
 *
 * Each rule on a line of its own, after a comment with what it covers (the target, "loopback",
 * "the host's resolver" for port 53 of an address in o->resolvers, the addresses or ports a
 * grouped rule was made from), how often it was used (the sum of the counts), the first and
 * last time, and "refused by the policy in force" when a record covered was marked denied. */
int learn_propose_dropin(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f);

/* The same proposal as one JSON object, for tools:
 *   {"unit": "foo.service", "path": "/etc/systemd/system/foo.service.d/cgpolicy.conf",
 *    "section": "Service", "mode": "enforce", "prefix_threshold": 4, "requests": N,
 *    "first": "..."|null, "last": "..."|null, "ephemeral_binds_left_out": N, "evictions": N,
 *    "names_looked_up": N, "name_answers": N, "name_rules_left_out": ["tcp:x.example.com:443"],
 *    "keys": [{"key": "X-CgPolicyBindDeny", "rule": "any", "covers": "...", "count": 0,
 *              "first": null, "last": null, "first_usec": 0, "last_usec": 0,
 *              "denied": false, "names": [], "addresses": []}, ...]}
 * keys in the order of the drop-in, without the resets; names are the names a name rule
 * covers (empty for other rules), addresses the distinct addresses seen (bind/connect
 * rules). */
int learn_propose_json(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f);

/* The proposal against o->current (NULL: an empty policy): one line per key assignment,
 *   "  KEY=RULE"  kept: the current policy has the same rule (canonical spelling),
 *   "+ KEY=RULE"  to add, with what it covers, and "N refused by the current policy" when it
 *                 refuses learned requests the rule covers (policy_allows(), or for a request
 *                 reached by names a current name rule matching one of them with its protocol,
 *                 port and family; socket kinds),
 *   "- KEY=RULE"  a current rule the proposal does not have: "nothing learned used it", or
 *                 for an allow rule that learned requests matched, how many (the proposal
 *                 covers them with other rules),
 * for X-CgPolicyMode, the Bind and Connect lists (Deny before Allow) and X-CgPolicySocketAllow,
 * proposed rules in the order of the drop-in, then the removed ones in the current policy's
 * order; a last line counts them. */
int learn_propose_diff(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f);

/* The nameservers of a resolv.conf (glibc's syntax: "nameserver ADDR" lines, '#' and ';'
 * comments, an IPv6 scope "%eth0" dropped, IPv4-mapped IPv6 taken as IPv4; other lines and
 * addresses that do not parse ignored, as glibc ignores them; duplicates once), in file order,
 * for LearnOptions.resolvers. A file that does not exist gives none (0, *ret_n = 0): a host
 * without resolv.conf has no resolver to name. Returns 0, or the negative errno of
 * read_full_file(), -ENOMEM. *ret is freed with free(). */
int learn_read_resolvers(const char *path, LearnAddress **ret, size_t *ret_n);
