/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

/* The policy language of systemd.cgpolicy(5): the X-CgPolicy… keys, their values and the
 * rule grammar. This is the one parser of the project: the generator, "cgpolicy check"
 * and "cgpolicy apply" all go through it. */

typedef enum PolicyDirection {
        POLICY_BIND,
        POLICY_CONNECT,          /* connect() and sendmsg() with an address */
        _POLICY_DIRECTION_MAX,
} PolicyDirection;

typedef enum PolicyAction {
        POLICY_ALLOW,
        POLICY_DENY,
        _POLICY_ACTION_MAX,
} PolicyAction;

typedef enum PolicyMode {
        POLICY_MODE_ENFORCE,
        POLICY_MODE_AUDIT,
        POLICY_MODE_LEARN,      /* nothing refused, every distinct request recorded */
        _POLICY_MODE_MAX,
} PolicyMode;

/* X-CgPolicyOnDenial=: what cgpolicy-monitor.service does with a unit denied more than
 * on_denial_max times within on_denial_interval_usec (X-CgPolicyOnDenialThreshold=). */
typedef enum PolicyOnDenial {
        POLICY_ON_DENIAL_NONE,
        POLICY_ON_DENIAL_FREEZE,
        POLICY_ON_DENIAL_STOP,
        POLICY_ON_DENIAL_KILL,
        _POLICY_ON_DENIAL_MAX,
} PolicyOnDenial;

#define POLICY_ON_DENIAL_MAX_DEFAULT            100u
#define POLICY_ON_DENIAL_INTERVAL_DEFAULT       (10ULL * 1000 * 1000)   /* µs: 10s */
#define POLICY_ON_DENIAL_MAX_LIMIT              1000000u
#define POLICY_ON_DENIAL_INTERVAL_MIN           (100ULL * 1000)         /* 100ms */
#define POLICY_ON_DENIAL_INTERVAL_MAX           (24ULL * 3600 * 1000 * 1000)    /* 24h */

/* Kinds of AF_INET/AF_INET6 sockets that the bind/connect/sendmsg hooks cannot judge, or not
 * completely: the programs refuse to create them unless X-CgPolicySocketAllow= names them.
 * TCP, MPTCP and UDP sockets are not kinds: they are always created, and judged by the rules.
 * The bits are cgpolicy-abi.h's CGP_SOCK_*. */
typedef enum PolicySocketKind {
        POLICY_SOCKET_PING    = 1 << 0, /* SOCK_DGRAM IPPROTO_ICMP/ICMPV6: sendto() runs no hook */
        POLICY_SOCKET_RAW     = 1 << 1, /* SOCK_RAW, any protocol */
        POLICY_SOCKET_UDPLITE = 1 << 2, /* connect() runs no hook */
        POLICY_SOCKET_SCTP    = 1 << 3,
        POLICY_SOCKET_OTHER   = 1 << 4, /* every other protocol (L2TP/IP, …) */
        POLICY_SOCKET_ALL     = (1 << 5) - 1,
} PolicySocketKind;

typedef union PolicyAddress {
        struct in_addr in;
        struct in6_addr in6;
        uint8_t bytes[16];
} PolicyAddress;

/* A name in a connect allow rule (systemd.cgpolicy(5), "NAME RULES"): at most this many
 * characters, lowercase, without a trailing dot, without the "*." of a wildcard. */
#define POLICY_NAME_MAX         253u
/* At most this many name rules per unit (X-CgPolicyConnectAllow=): the kernel keeps one bit and
 * one lifetime per rule for every address it learned (cgpolicy-abi.h, CGP_DNS_MAX_RULES). */
#define POLICY_NAME_RULES_MAX   16u

/* One rule. family and protocol are 0 when the rule names none (then it matches both).
 * An address rule always has a family. port_min == port_max == 0 means "all ports".
 * A name rule (name[0] != 0) has no address; it allows what the unit's own DNS lookups of a
 * matching name answered (never matched by policy_rule_matches(): its addresses are learned). */
typedef struct PolicyRule {
        bool any;                /* the rule "any": matches every request but a bind to port 0 */
        int family;              /* 0, AF_INET or AF_INET6 */
        int protocol;            /* 0, IPPROTO_TCP or IPPROTO_UDP */
        bool has_address;
        unsigned prefixlen;      /* when has_address: 0..32 or 0..128 */
        PolicyAddress address;   /* when has_address: network byte order, host bits cleared */
        uint16_t port_min, port_max;
        bool wildcard;           /* "*.NAME": every name below NAME, not NAME itself */
        char name[POLICY_NAME_MAX + 1];  /* "" unless a name rule */
} PolicyRule;

typedef struct PolicyRuleList {
        PolicyRule *rules;
        size_t n;
} PolicyRuleList;

/* Where a value came from, for "FILE:LINE: KEY: what is wrong" messages. */
typedef struct PolicySource {
        const char *filename;
        unsigned line;
        const char *key;
} PolicySource;

typedef struct Policy {
        PolicyRuleList rules[_POLICY_DIRECTION_MAX][_POLICY_ACTION_MAX];
        PolicyMode mode;
        bool mode_set;

        /* Resource keys, normalized to the spelling systemd accepts; NULL when unset. */
        char *cpu_quota;         /* e.g. "50%" */
        char *memory_max;        /* e.g. "1073741824", "20%", "infinity" */

        /* X-CgPolicySocketAllow=: a mask of PolicySocketKind, 0 by default (none allowed). */
        unsigned socket_allow;

        /* X-CgPolicySeal=: -1 when not set (the default: sealed), 0 or 1. Not passed to
         * "cgpolicy apply": the seal is made of systemd settings in the generated drop-in. */
        int seal;

        /* X-CgPolicyOnDenial= and X-CgPolicyOnDenialThreshold=N/INTERVAL (defaults above). */
        PolicyOnDenial on_denial;
        unsigned on_denial_max;
        uint64_t on_denial_interval_usec;

        /* The first error in a network/mode key or an unknown X-CgPolicy key, formatted
         * "FILE:LINE: KEY: what is wrong". Set means: the unit must not start. */
        char *error;
} Policy;

void policy_init(Policy *p);
void policy_done(Policy *p);

/* Parse one rule ("tcp:443", "[fd00::/8]:443", "any", …). On error returns -EINVAL and,
 * when ret_reason is not NULL, sets *ret_reason to a newly allocated English text saying
 * what is wrong (e.g. "port 70000 is out of range 1..65535"), which the caller frees
 * (NULL if even that allocation failed). On success *ret_reason is set to NULL. */
int policy_rule_from_string(const char *s, PolicyRule *ret, char **ret_reason);

/* Can rule r be in list (d, a)? A name rule only in connect allow lists, at most
 * POLICY_NAME_RULES_MAX of them (counting those p has already). -EINVAL with a reason as
 * policy_rule_from_string(), else 0. */
int policy_rule_check_list(const Policy *p, PolicyDirection d, PolicyAction a, const PolicyRule *r,
                           char **ret_reason);

static inline bool policy_rule_is_name(const PolicyRule *r) {
        return r->name[0] != 0;
}

/* Does the rule's name ("api.example.com" or, wildcard, "*.example.com") match name (lowercase,
 * no trailing dot)? */
bool policy_rule_name_matches(const PolicyRule *r, const char *name);

/* Is name a host name that a name rule holds exactly as it is: lowercase, without "*.", a
 * protocol, ports or the trailing dot (what "cgpolicy learn" may propose a rule for)? */
bool policy_name_is_valid(const char *name);

/* The number of name rules of p (all in the connect allow list). */
size_t policy_n_names(const Policy *p);

/* The canonical spelling of a rule; parsing it gives the same rule back. */
int policy_rule_to_string(const PolicyRule *r, char **ret);

/* Does rule r match a request? family AF_INET/AF_INET6 (v4-mapped addresses must have been
 * turned into AF_INET by the caller), protocol IPPROTO_TCP/UDP, addr in network byte order,
 * port in host byte order. This is the reference semantics the BPF maps are checked against. */
bool policy_rule_matches(const PolicyRule *r, int family, int protocol, const void *addr, uint16_t port);

/* The verdict of the contract: allow-list first, then deny-list, else allow. Returns true when
 * allowed (ignores mode). */
bool policy_allows(const Policy *p, PolicyDirection d, int family, int protocol, const void *addr, uint16_t port);
/* listen() as the kernel judges it where it has BPF LSM (systemd.cgpolicy(5), "listen()"): a bind
 * of the address and port listened on, where port 0 (a port the kernel chooses) is matched only
 * by rules for every port. */
bool policy_allows_listen(const Policy *p, int family, int protocol, const void *addr, uint16_t port);

/* Is key one of ours ("X-CgPolicy…", case-sensitive as systemd's keys are)? */
bool policy_key_is_ours(const char *key);

/* Apply one assignment KEY=VALUE found at src to p: space-separated rules accumulate, an
 * empty value resets the list, later single values win. Network/mode/unknown-key errors are
 * recorded in p->error (first one wins) and returned as -EINVAL; CPU/memory errors are
 * logged as a warning "FILE:LINE: KEY: …" and ignored (returns 0). Every error is logged.
 * Keys that are not ours return 0 and are ignored. */
int policy_assign(Policy *p, const PolicySource *src, const char *value);

/* Does the policy need the in-kernel network part (BPF programs, helper)? True when it has
 * bind or connect rules, or is in learn mode (every request is recorded, rules or not);
 * X-CgPolicySocketAllow= alone does not police anything. */
bool policy_has_network(const Policy *p);
/* Does a service with this policy get the seal (systemd.cgpolicy(5), "SEALING")? Network
 * rules, enforce mode, X-CgPolicySeal= not "no", and no error (a unit that fails closed gets
 * the error drop-in only). */
bool policy_is_sealed(const Policy *p);
/* The settings that seal a service, as the generator writes them into its drop-in, in order;
 * NULL-terminated. "~" lists AND with the unit's own (systemd.exec(5)). */
extern const char *const policy_seal_settings[];
bool policy_has_direction(const Policy *p, PolicyDirection d);
bool policy_is_empty(const Policy *p);

const char *policy_direction_to_string(PolicyDirection d);   /* "bind", "connect" */
const char *policy_action_to_string(PolicyAction a);         /* "allow", "deny" */
const char *policy_mode_to_string(PolicyMode m);             /* "enforce", "audit", "learn" */
int policy_mode_from_string(const char *s);
const char *policy_on_denial_to_string(PolicyOnDenial a);   /* "none", "freeze", "stop", "kill" */
int policy_on_denial_from_string(const char *s);
/* "N/INTERVAL": N in 1..POLICY_ON_DENIAL_MAX_LIMIT, INTERVAL an integer with the unit ms, s, sec,
 * m, min, h or hr (none: seconds), POLICY_ON_DENIAL_INTERVAL_MIN..MAX. Errors as
 * policy_rule_from_string(). */
int policy_parse_on_denial_threshold(const char *s, unsigned *ret_max, uint64_t *ret_interval_usec,
                                     char **ret_reason);
/* The canonical spelling: "100/10s", "5/500ms". */
int policy_on_denial_threshold_to_string(unsigned max, uint64_t interval_usec, char **ret);
/* "ping", "raw", "udplite", "sctp", "other" for a single kind, else NULL. */
const char *policy_socket_kind_to_string(PolicySocketKind k);
/* A kind's name, or "any" (POLICY_SOCKET_ALL); -EINVAL for anything else. */
int policy_socket_kind_from_string(const char *s);
/* A boolean as systemd's parse_boolean() takes it: 1, yes, y, true, t, on / 0, no, n, false,
 * f, off, in any case. 1, 0, or -EINVAL. */
int policy_parse_boolean(const char *s);

/* Additions beyond the original API. */

/* Like policy_assign(); *ret_ignored (may be NULL) is set when a CPU/memory value was bad,
 * logged and ignored (for "cgpolicy check", which counts those as errors too). */
int policy_assign_full(Policy *p, const PolicySource *src, const char *value, bool *ret_ignored);

/* Record "FILE:LINE: KEY: <formatted>" as p->error (first one wins), log it at LOG_ERR and
 * return -EINVAL. With src->line 0 and no src->key, "FILE: <formatted>" (a file that cannot
 * be read). */
int policy_set_error(Policy *p, const PolicySource *src, const char *format, ...) _printf_(3, 4);

int policy_add_rule(Policy *p, PolicyDirection d, PolicyAction a, const PolicyRule *r);
void policy_reset_rules(Policy *p, PolicyDirection d, PolicyAction a);

/* Validate and normalize a CPUQuota=/MemoryMax= value to the spelling written into the
 * drop-in ("050%" → "50%", "1G" → "1073741824"). Errors as policy_rule_from_string(). */
int policy_parse_cpu_quota(const char *s, char **ret, char **ret_reason);
int policy_parse_memory_max(const char *s, char **ret, char **ret_reason);

/* Same rules (per list, in order), mode, socket kinds, seal, resource values and error. */
bool policy_equal(const Policy *a, const Policy *b);
