/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "policy.h"

/* Design choices where the contract is silent (documented in systemd.cgpolicy(5) too):
 *
 * - Host bits set in a CIDR ("10.1.2.3/8") are cleared silently, as systemd's IPAddressAllow=
 *   does: the rule means the network 10.0.0.0/8 and is printed that way.
 * - As in systemd's SocketBindAllow=, the target may be left out after a family or protocol:
 *   "ipv6", "tcp", "ipv4:udp" match every port of that family/protocol; "tcp:any" is the same
 *   as "tcp". Like there, the protocol may be written in any case ("TCP:80") and a port may
 *   have a '+' ("+80"): every rule SocketBindAllow= takes is taken, with the same meaning.
 * - A family prefix that agrees with the address ("ipv4:10.0.0.0/8") is accepted and dropped
 *   from the canonical spelling; one that contradicts it is an error.
 * - X-CgPolicyCPUQuota= takes what systemd's CPUQuota= takes: a percentage > 0 with at most
 *   two decimals, also above 100%. It is passed on normalized ("050%" → "50%", "12.50%" → "12.5%").
 * - X-CgPolicyMemoryMax= takes bytes with an optional K, M, G or T suffix (base 1024, an
 *   optional fraction such as "1.5G"; P and E and a trailing B as systemd's parse_size()), a
 *   percentage with at most two decimals, or "infinity". Sizes are passed on in bytes
 *   ("1G" → "1073741824"). Like systemd's MemoryMax=, 0 bytes, 0% and sizes of 2^64-1 bytes
 *   or more are refused.
 * - An empty X-CgPolicyMode= goes back to the default (enforce); an empty CPU/memory value
 *   unsets it.
 * - X-CgPolicySocketAllow= is a list like the rule keys (accumulates, empty resets, a bad word
 *   adds none of the line's kinds); "any" is every kind. X-CgPolicySeal= is a single value
 *   like X-CgPolicyMode= (the last one wins, empty goes back to the default). Both are
 *   network keys: a bad value makes the unit fail closed.
 * - X-CgPolicyOnDenial= (none, freeze, stop, kill) and X-CgPolicyOnDenialThreshold=N/INTERVAL
 *   are single values (the last one wins, empty goes back to the default: none, 100/10s). They
 *   are network keys too: a bad value fails closed, as a policy that should stop a misbehaving
 *   service and cannot must not let it run unwatched. INTERVAL takes an integer with ms, s, sec,
 *   m, min, h or hr (none: seconds), 100ms..24h; N 1..1000000.
 */

static const char * const direction_table[_POLICY_DIRECTION_MAX] = {
        [POLICY_BIND] = "bind",
        [POLICY_CONNECT] = "connect",
};

static const char * const action_table[_POLICY_ACTION_MAX] = {
        [POLICY_ALLOW] = "allow",
        [POLICY_DENY] = "deny",
};

static const char * const mode_table[_POLICY_MODE_MAX] = {
        [POLICY_MODE_ENFORCE] = "enforce",
        [POLICY_MODE_AUDIT] = "audit",
        [POLICY_MODE_LEARN] = "learn",
};

const char *policy_direction_to_string(PolicyDirection d) {
        return d >= 0 && d < _POLICY_DIRECTION_MAX ? direction_table[d] : NULL;
}

const char *policy_action_to_string(PolicyAction a) {
        return a >= 0 && a < _POLICY_ACTION_MAX ? action_table[a] : NULL;
}

const char *policy_mode_to_string(PolicyMode m) {
        return m >= 0 && m < _POLICY_MODE_MAX ? mode_table[m] : NULL;
}

int policy_mode_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _POLICY_MODE_MAX; i++)
                if (streq(s, mode_table[i]))
                        return i;
        return -EINVAL;
}

/* In the canonical order: the order of the bits. */
static const char * const socket_kind_table[] = {
        "ping", "raw", "udplite", "sctp", "other",
};

_Static_assert(ELEMENTSOF(socket_kind_table) == 5 && POLICY_SOCKET_ALL == (1 << ELEMENTSOF(socket_kind_table)) - 1,
               "one name per PolicySocketKind bit");

const char *policy_socket_kind_to_string(PolicySocketKind k) {
        for (size_t i = 0; i < ELEMENTSOF(socket_kind_table); i++)
                if ((unsigned) k == 1u << i)
                        return socket_kind_table[i];
        return NULL;
}

int policy_socket_kind_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (streq(s, "any"))
                return POLICY_SOCKET_ALL;
        for (size_t i = 0; i < ELEMENTSOF(socket_kind_table); i++)
                if (streq(s, socket_kind_table[i]))
                        return 1 << i;
        return -EINVAL;
}

int policy_parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

static const char * const on_denial_table[_POLICY_ON_DENIAL_MAX] = {
        [POLICY_ON_DENIAL_NONE] = "none",
        [POLICY_ON_DENIAL_FREEZE] = "freeze",
        [POLICY_ON_DENIAL_STOP] = "stop",
        [POLICY_ON_DENIAL_KILL] = "kill",
};

const char *policy_on_denial_to_string(PolicyOnDenial a) {
        return a >= 0 && a < _POLICY_ON_DENIAL_MAX ? on_denial_table[a] : NULL;
}

int policy_on_denial_from_string(const char *s) {
        for (int i = 0; s && i < _POLICY_ON_DENIAL_MAX; i++)
                if (streq(s, on_denial_table[i]))
                        return i;
        return -EINVAL;
}

void policy_init(Policy *p) {
        assert(p);

        *p = (Policy) {
                .mode = POLICY_MODE_ENFORCE,
                .seal = -1,
                .on_denial_max = POLICY_ON_DENIAL_MAX_DEFAULT,
                .on_denial_interval_usec = POLICY_ON_DENIAL_INTERVAL_DEFAULT,
        };
}

void policy_done(Policy *p) {
        if (!p)
                return;
        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                for (int a = 0; a < _POLICY_ACTION_MAX; a++)
                        free(p->rules[d][a].rules);
        free(p->cpu_quota);
        free(p->memory_max);
        free(p->error);
        policy_init(p);
}

static int reason(char **ret, const char *format, ...) _printf_(2, 3);
static int reason(char **ret, const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (ret)
                *ret = r < 0 ? NULL : s;
        else if (r >= 0)
                free(s);
        return -EINVAL;
}

/* Strict unsigned decimal: digits only, no sign, no spaces; values above max are reported as
 * out of range by the caller (*ret = max + 1 then). Returns false when s is not a number. */
static bool parse_decimal(const char *s, size_t len, unsigned long max, unsigned long *ret) {
        unsigned long v = 0;

        if (len == 0)
                return false;
        /* max must be below ULONG_MAX: values above it saturate at max + 1. */
        for (size_t i = 0; i < len; i++) {
                unsigned long d;

                if (s[i] < '0' || s[i] > '9')
                        return false;
                d = (unsigned long) (s[i] - '0');
                if (v > max)
                        continue;
                v = v > (max - d) / 10 ? max + 1 : v * 10 + d;
        }
        *ret = v;
        return true;
}

static int parse_port(const char *s, size_t len, uint16_t *ret, char **ret_reason) {
        unsigned long v;

        /* systemd's SocketBindAllow= takes "+80"; so do we. */
        if (len > 1 && *s == '+' && s[1] != '+') {
                s++;
                len--;
        }

        if (!parse_decimal(s, len, 65535, &v))
                return reason(ret_reason, "invalid port '%.*s': a number 1..65535 is expected", (int) len, s);
        if (v < 1 || v > 65535)
                return reason(ret_reason, "port %.*s is out of range 1..65535", (int) len, s);
        *ret = (uint16_t) v;
        return 0;
}

static int parse_ports(const char *s, PolicyRule *r, char **ret_reason) {
        const char *dash;
        int k;

        if (!*s)
                return reason(ret_reason, "missing port after ':'");

        dash = strchr(s, '-');
        if (!dash) {
                k = parse_port(s, strlen(s), &r->port_min, ret_reason);
                if (k < 0)
                        return k;
                r->port_max = r->port_min;
                return 0;
        }

        k = parse_port(s, (size_t) (dash - s), &r->port_min, ret_reason);
        if (k < 0)
                return k;
        k = parse_port(dash + 1, strlen(dash + 1), &r->port_max, ret_reason);
        if (k < 0)
                return k;
        if (r->port_min > r->port_max)
                return reason(ret_reason, "port range %s: low port %u is greater than high port %u",
                              s, r->port_min, r->port_max);
        return 0;
}

static void mask_address(PolicyAddress *a, unsigned prefixlen, unsigned bits) {
        for (unsigned i = 0; i < bits / 8; i++) {
                unsigned keep = prefixlen >= (i + 1) * 8 ? 8 : prefixlen > i * 8 ? prefixlen - i * 8 : 0;
                a->bytes[i] &= (uint8_t) (0xff00u >> keep);
        }
}

/* "ADDR[/LEN]" with family af. */
static int parse_cidr(const char *s, size_t len, int af, PolicyRule *r, char **ret_reason) {
        const unsigned maxlen = af == AF_INET ? 32 : 128;
        const char *what = af == AF_INET ? "IPv4" : "IPv6";
        const char *slash = memchr(s, '/', len);
        size_t alen = slash ? (size_t) (slash - s) : len;
        char buf[INET6_ADDRSTRLEN + 1];

        if (alen == 0)
                return reason(ret_reason, "missing %s address", what);
        if (alen >= sizeof buf || (memcpy(buf, s, alen), buf[alen] = 0, inet_pton(af, buf, &r->address) != 1))
                return reason(ret_reason, "invalid %s address '%.*s'", what, (int) alen, s);

        r->family = af;
        r->has_address = true;
        r->prefixlen = maxlen;

        if (slash) {
                unsigned long v;
                size_t llen = len - alen - 1;

                if (!parse_decimal(slash + 1, llen, maxlen, &v))
                        return reason(ret_reason, "invalid prefix length '%.*s': a number 0..%u is expected",
                                      (int) llen, slash + 1, maxlen);
                if (v > maxlen)
                        return reason(ret_reason, "prefix length %.*s is out of range 0..%u",
                                      (int) llen, slash + 1, maxlen);
                r->prefixlen = (unsigned) v;
        }

        /* Host bits are cleared silently, as systemd's IPAddressAllow= does. */
        mask_address(&r->address, r->prefixlen, maxlen);
        return 0;
}

/* "tcp" or "tcp:…"; in any case, as systemd's SocketBindAllow= takes "TCP:80". */
static bool is_proto(const char *p, const char *proto) {
        return strncasecmp(p, proto, 3) == 0 && (p[3] == ':' || p[3] == 0);
}

/* Is the word w (up to the first ':') meant as a name? A name has a dot and a letter in its
 * last label, or starts with '*'; so an IPv4 address ("10.1.2.3", its last label all digits),
 * a CIDR (a '/'), a port or range (no dot) and the family/protocol words (no dot) never are. */
static bool word_is_name(const char *w, size_t len) {
        const char *last;
        size_t llen;

        if (len == 0 || memchr(w, '/', len))
                return false;
        if (w[0] == '*')
                return true;
        if (!memchr(w, '.', len))
                return false;
        if (w[len - 1] == '.')          /* a trailing dot: the root */
                len--;
        last = memrchr(w, '.', len);
        last = last ? last + 1 : w;
        llen = (size_t) (w + len - last);
        for (size_t i = 0; i < llen; i++)
                if (isalpha((unsigned char) last[i]))
                        return true;
        return false;
}

/* "[*.]LABEL.LABEL…[.]" of len characters into r->name (lowercase, without "*." and trailing
 * dot) and r->wildcard. Labels of 1..63 letters, digits, '-' (not first or last) and '_'; at
 * least two of them; the last one with a letter; at most POLICY_NAME_MAX characters. */
static int parse_name(const char *s, size_t len, PolicyRule *r, char **ret_reason) {
        const char *w = s;
        size_t n = len, labels = 0;
        bool letter = false;

        if (n >= 2 && w[0] == '*' && w[1] == '.') {
                r->wildcard = true;
                w += 2;
                n -= 2;
        }
        if (memchr(w, '*', n))
                return reason(ret_reason, "invalid name '%.*s': '*' may only be the whole first label, "
                              "as in '*.example.com'", (int) len, s);
        if (n > 0 && w[n - 1] == '.')
                n--;
        if (n == 0)
                return reason(ret_reason, "invalid name '%.*s': a name is missing", (int) len, s);
        if (n > POLICY_NAME_MAX)
                return reason(ret_reason, "name '%.*s' is longer than %u characters", (int) len, s,
                              POLICY_NAME_MAX);

        for (size_t i = 0; i < n;) {
                size_t l = 0;

                letter = false;
                while (i + l < n && w[i + l] != '.') {
                        char c = w[i + l];

                        if (!isalnum((unsigned char) c) && c != '-' && c != '_')
                                return reason(ret_reason, "invalid name '%.*s': '%c' is not allowed in a name "
                                              "(letters, digits, '-' and '_')", (int) len, s, c);
                        if (isalpha((unsigned char) c))
                                letter = true;
                        l++;
                }
                if (l == 0)
                        return reason(ret_reason, "invalid name '%.*s': empty label", (int) len, s);
                if (l > 63)
                        return reason(ret_reason, "invalid name '%.*s': a label is longer than 63 characters",
                                      (int) len, s);
                if (w[i] == '-' || w[i + l - 1] == '-')
                        return reason(ret_reason, "invalid name '%.*s': a label may not begin or end with '-'",
                                      (int) len, s);
                labels++;
                i += l + 1;
        }
        if (labels < 2)
                return reason(ret_reason, "invalid name '%.*s': a name needs at least two labels "
                              "(e.g. example.com, *.example.com)", (int) len, s);
        if (!letter)
                return reason(ret_reason, "invalid name '%.*s': the last label of a name must contain a letter",
                              (int) len, s);

        for (size_t i = 0; i < n; i++)
                r->name[i] = (char) tolower((unsigned char) w[i]);
        r->name[n] = 0;
        return 0;
}

/* NAME[":" PROTO][":" PORTS] at p (a protocol in the prefix of the rule excludes one here). */
static int parse_name_target(const char *s, const char *p, PolicyRule *r, char **ret_reason) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t) (colon - p) : strlen(p);
        int k;

        k = parse_name(p, len, r, ret_reason);
        if (k < 0)
                return k;
        if (!colon)
                return 0;

        p = colon + 1;
        if (is_proto(p, "tcp") || is_proto(p, "udp")) {
                if (r->protocol)
                        return reason(ret_reason, "more than one protocol in rule '%s'", s);
                r->protocol = is_proto(p, "tcp") ? IPPROTO_TCP : IPPROTO_UDP;
                p += 3;
                if (!*p)
                        return 0;
                p++;
                if (!*p)
                        return reason(ret_reason, "rule '%s' ends with ':'", s);
        }
        if (strchr(p, ':'))
                return reason(ret_reason, "invalid rule '%s': NAME[:PROTOCOL][:PORTS] is expected after a name", s);
        return parse_ports(p, r, ret_reason);
}

int policy_rule_from_string(const char *s, PolicyRule *ret, char **ret_reason) {
        PolicyRule r = {};
        const char *p = s, *colon;
        bool prefixed = false;
        int k;

        assert(ret);

        if (ret_reason)
                *ret_reason = NULL;
        if (!s || !*s)
                return reason(ret_reason, "empty rule");

        if (streq(s, "any")) {
                *ret = (PolicyRule) { .any = true };
                return 0;
        }

        /* [family ":"] */
        if (startswith(p, "ipv4:") || streq(p, "ipv4")) {
                r.family = AF_INET;
                p += 4;
                prefixed = true;
        } else if (startswith(p, "ipv6:") || streq(p, "ipv6")) {
                r.family = AF_INET6;
                p += 4;
                prefixed = true;
        }
        if (prefixed && *p == ':') {
                p++;
                if (!*p)
                        return reason(ret_reason, "rule '%s' ends with ':'", s);
        }

        /* [proto ":"] */
        if (is_proto(p, "tcp")) {
                r.protocol = IPPROTO_TCP;
                p += 3;
                prefixed = true;
        } else if (is_proto(p, "udp")) {
                r.protocol = IPPROTO_UDP;
                p += 3;
                prefixed = true;
        }
        if (r.protocol && *p == ':') {
                p++;
                if (!*p)
                        return reason(ret_reason, "rule '%s' ends with ':'", s);
        }

        if (startswith(p, "ipv4:") || startswith(p, "ipv6:") || streq(p, "ipv4") || streq(p, "ipv6"))
                return reason(ret_reason, "the address family must come first in rule '%s'", s);
        if (is_proto(p, "tcp") || is_proto(p, "udp"))
                return reason(ret_reason, "more than one protocol in rule '%s'", s);

        /* target */
        if (!*p || (prefixed && streq(p, "any")))
                goto done;

        if (*p == '[') {
                const char *close = strchr(p, ']');

                if (!close)
                        return reason(ret_reason, "missing ']' after IPv6 address in rule '%s'", s);
                if (r.family == AF_INET)
                        return reason(ret_reason, "rule '%s' says ipv4 but names an IPv6 address", s);
                k = parse_cidr(p + 1, (size_t) (close - p - 1), AF_INET6, &r, ret_reason);
                if (k < 0)
                        return k;
                p = close + 1;
                if (*p == ':') {
                        k = parse_ports(p + 1, &r, ret_reason);
                        if (k < 0)
                                return k;
                } else if (*p)
                        return reason(ret_reason, "unexpected '%s' after IPv6 address, ':PORT' expected", p);
                goto done;
        }

        colon = strchr(p, ':');
        if (word_is_name(p, colon ? (size_t) (colon - p) : strlen(p))) {
                k = parse_name_target(s, p, &r, ret_reason);
                if (k < 0)
                        return k;
                goto done;
        }

        if (colon && strchr(colon + 1, ':') && !memchr(p, '.', (size_t) (colon - p)) && !memchr(p, '/', (size_t) (colon - p)))
                return reason(ret_reason, "IPv6 addresses must be written in brackets, e.g. [fd00::/8]:443");

        if (strpbrk(p, "./")) {
                size_t alen = colon ? (size_t) (colon - p) : strlen(p);

                if (r.family == AF_INET6)
                        return reason(ret_reason, "rule '%s' says ipv6 but names an IPv4 address", s);
                k = parse_cidr(p, alen, AF_INET, &r, ret_reason);
                if (k < 0)
                        return k;
                if (colon) {
                        k = parse_ports(colon + 1, &r, ret_reason);
                        if (k < 0)
                                return k;
                }
                goto done;
        }

        if (colon)
                return reason(ret_reason, "invalid rule '%s': unknown family or protocol '%.*s'",
                              s, (int) (colon - p), p);

        /* A word that is neither a number nor a range: most likely a misspelled family/protocol. */
        if (!prefixed && !strchr("0123456789+", *p))
                return reason(ret_reason, "invalid rule '%s': expected any, ipv4, ipv6, tcp, udp, a port or an address", s);

        k = parse_ports(p, &r, ret_reason);
        if (k < 0)
                return k;

done:
        *ret = r;
        return 0;
}

static void append_ports(char *buf, size_t size, const PolicyRule *r) {
        size_t n = strlen(buf);

        if (r->port_min == 0 && r->port_max == 0)
                return;
        if (r->port_min == r->port_max)
                snprintf(buf + n, size - n, "%u", r->port_min);
        else
                snprintf(buf + n, size - n, "%u-%u", r->port_min, r->port_max);
}

int policy_rule_to_string(const PolicyRule *r, char **ret) {
        char buf[128 + POLICY_NAME_MAX] = "";
        bool has_ports;

        assert(r);
        assert(ret);

        has_ports = r->port_min != 0 || r->port_max != 0;
        if (r->any) {
                char *s = strdup("any");
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }

        if (r->family && !r->has_address)
                strcat(buf, r->family == AF_INET ? "ipv4:" : "ipv6:");
        if (r->protocol)
                strcat(buf, r->protocol == IPPROTO_TCP ? "tcp:" : "udp:");

        if (policy_rule_is_name(r)) {
                size_t n = strlen(buf);

                snprintf(buf + n, sizeof buf - n, "%s%s%s", r->wildcard ? "*." : "", r->name, has_ports ? ":" : "");
        }

        if (r->has_address) {
                char a[INET6_ADDRSTRLEN];
                size_t n = strlen(buf);
                unsigned maxlen = r->family == AF_INET ? 32 : 128;

                if (!inet_ntop(r->family, &r->address, a, sizeof a))
                        return -EINVAL;
                if (r->family == AF_INET6)
                        n += (size_t) snprintf(buf + n, sizeof buf - n, "[%s", a);
                else
                        n += (size_t) snprintf(buf + n, sizeof buf - n, "%s", a);
                if (r->prefixlen != maxlen)
                        n += (size_t) snprintf(buf + n, sizeof buf - n, "/%u", r->prefixlen);
                if (r->family == AF_INET6)
                        n += (size_t) snprintf(buf + n, sizeof buf - n, "]");
                if (has_ports)
                        snprintf(buf + n, sizeof buf - n, ":");
        }
        append_ports(buf, sizeof buf, r);

        /* "ipv4:" / "tcp:" with nothing after: drop the trailing ':'; nothing at all: "any". */
        size_t n = strlen(buf);
        if (n > 0 && buf[n - 1] == ':')
                buf[n - 1] = 0;
        if (!buf[0])
                strcpy(buf, "any");

        char *s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

bool policy_rule_matches(const PolicyRule *r, int family, int protocol, const void *addr, uint16_t port) {
        assert(r);
        assert(addr);

        if (r->any)
                return true;
        if (policy_rule_is_name(r))
                return false;           /* its addresses are learned, in the kernel */
        if (r->family && r->family != family)
                return false;
        if (r->protocol && r->protocol != protocol)
                return false;
        if (r->port_min != 0 || r->port_max != 0)
                if (port < r->port_min || port > r->port_max)
                        return false;
        if (r->has_address) {
                const uint8_t *a = addr;
                unsigned len = r->prefixlen;

                for (unsigned i = 0; len > 0; i++) {
                        unsigned bits = MIN(len, 8u);
                        uint8_t mask = (uint8_t) (0xff00u >> bits);

                        if ((a[i] & mask) != r->address.bytes[i])
                                return false;
                        len -= bits;
                }
        }
        return true;
}

static bool list_matches(const PolicyRuleList *l, int family, int protocol, const void *addr, uint16_t port) {
        for (size_t i = 0; i < l->n; i++)
                if (policy_rule_matches(&l->rules[i], family, protocol, addr, port))
                        return true;
        return false;
}

bool policy_allows(const Policy *p, PolicyDirection d, int family, int protocol, const void *addr, uint16_t port) {
        assert(p);
        assert(d >= 0 && d < _POLICY_DIRECTION_MAX);
        assert(addr);

        /* A bind to port 0 asks for an ephemeral port: no rule matches it, not even "any". */
        if (d == POLICY_BIND && port == 0)
                return true;
        if (list_matches(&p->rules[d][POLICY_ALLOW], family, protocol, addr, port))
                return true;
        if (list_matches(&p->rules[d][POLICY_DENY], family, protocol, addr, port))
                return false;
        return true;
}

bool policy_allows_listen(const Policy *p, int family, int protocol, const void *addr, uint16_t port) {
        assert(p);
        assert(addr);

        /* As a bind, but port 0 is no exception: only rules for every port match it. */
        if (list_matches(&p->rules[POLICY_BIND][POLICY_ALLOW], family, protocol, addr, port))
                return true;
        return !list_matches(&p->rules[POLICY_BIND][POLICY_DENY], family, protocol, addr, port);
}

int policy_parse_on_denial_threshold(const char *s, unsigned *ret_max, uint64_t *ret_interval_usec,
                                     char **ret_reason) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                { "",    1000000ULL },
                { "ms",  1000ULL },
                { "s",   1000000ULL },
                { "sec", 1000000ULL },
                { "m",   60000000ULL },
                { "min", 60000000ULL },
                { "h",   3600000000ULL },
                { "hr",  3600000000ULL },
        };
        unsigned long long n, span;
        const char *slash;
        char *end;

        assert(s);
        assert(ret_max);
        assert(ret_interval_usec);

        if (ret_reason)
                *ret_reason = NULL;

        slash = strchr(s, '/');
        if (!slash || slash == s || !isdigit((unsigned char) s[0]))
                return reason(ret_reason, "'%s' is not N/INTERVAL (e.g. 100/10s)", s);
        errno = 0;
        n = strtoull(s, &end, 10);
        if (end != slash || errno != 0 || n < 1 || n > POLICY_ON_DENIAL_MAX_LIMIT)
                return reason(ret_reason, "'%.*s' is not a number of denials in 1..%u",
                              (int) (slash - s), s, POLICY_ON_DENIAL_MAX_LIMIT);
        if (!isdigit((unsigned char) slash[1]))
                return reason(ret_reason, "'%s' is not an interval (e.g. 10s, 500ms, 1min)", slash + 1);
        errno = 0;
        span = strtoull(slash + 1, &end, 10);
        if (errno != 0)
                return reason(ret_reason, "'%s' is not an interval (e.g. 10s, 500ms, 1min)", slash + 1);
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (!streq(end, units[i].suffix))
                        continue;
                if (span > POLICY_ON_DENIAL_INTERVAL_MAX / units[i].usec ||
                    span * units[i].usec < POLICY_ON_DENIAL_INTERVAL_MIN)
                        return reason(ret_reason, "interval '%s' is out of range 100ms..24h", slash + 1);
                *ret_max = (unsigned) n;
                *ret_interval_usec = span * units[i].usec;
                return 0;
        }
        return reason(ret_reason, "'%s' is not an interval (e.g. 10s, 500ms, 1min): the unit must be "
                      "ms, s, sec, m, min, h or hr", slash + 1);
}

int policy_on_denial_threshold_to_string(unsigned max, uint64_t interval_usec, char **ret) {
        int r;

        assert(ret);

        if (interval_usec % 1000000ULL == 0)
                r = asprintf(ret, "%u/%llus", max, (unsigned long long) (interval_usec / 1000000ULL));
        else
                r = asprintf(ret, "%u/%llums", max, (unsigned long long) (interval_usec / 1000ULL));
        return r < 0 ? -ENOMEM : 0;
}

bool policy_key_is_ours(const char *key) {
        return key && startswith(key, "X-CgPolicy");
}

bool policy_has_direction(const Policy *p, PolicyDirection d) {
        assert(p);
        assert(d >= 0 && d < _POLICY_DIRECTION_MAX);

        return p->rules[d][POLICY_ALLOW].n > 0 || p->rules[d][POLICY_DENY].n > 0;
}

bool policy_has_network(const Policy *p) {
        assert(p);

        if (p->mode == POLICY_MODE_LEARN)
                return true;
        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                if (policy_has_direction(p, d))
                        return true;
        return false;
}

/* Why each, in systemd.cgpolicy(5), SEALING. */
const char *const policy_seal_settings[] = {
        "ProtectControlGroups=yes",
        "InaccessiblePaths=-" CGPOLICY_BPFFS_MOUNT,
        "InaccessiblePaths=-" CGPOLICY_RUNTIME_DIR,
        "CapabilityBoundingSet=~CAP_SYS_ADMIN CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_PTRACE "
                "CAP_SYS_MODULE CAP_SYS_RAWIO",
        NULL,
};

bool policy_is_sealed(const Policy *p) {
        assert(p);

        return policy_has_network(p) && p->mode == POLICY_MODE_ENFORCE && p->seal != 0 && !p->error;
}

bool policy_is_empty(const Policy *p) {
        assert(p);

        return !policy_has_network(p) && !p->cpu_quota && !p->memory_max && !p->error && !p->mode_set &&
                p->socket_allow == 0 && p->seal < 0 && p->on_denial == POLICY_ON_DENIAL_NONE &&
                p->on_denial_max == POLICY_ON_DENIAL_MAX_DEFAULT &&
                p->on_denial_interval_usec == POLICY_ON_DENIAL_INTERVAL_DEFAULT;
}

size_t policy_n_names(const Policy *p) {
        const PolicyRuleList *l = &p->rules[POLICY_CONNECT][POLICY_ALLOW];
        size_t n = 0;

        for (size_t i = 0; i < l->n; i++)
                if (policy_rule_is_name(&l->rules[i]))
                        n++;
        return n;
}

int policy_rule_check_list(const Policy *p, PolicyDirection d, PolicyAction a, const PolicyRule *r,
                           char **ret_reason) {
        assert(p);
        assert(r);

        if (ret_reason)
                *ret_reason = NULL;
        if (!policy_rule_is_name(r))
                return 0;
        if (d != POLICY_CONNECT || a != POLICY_ALLOW)
                return reason(ret_reason, "a name (%s%s) can only be in a connect allow rule: %s rules "
                              "are by address", r->wildcard ? "*." : "", r->name,
                              d == POLICY_BIND ? "bind" : "deny");
        if (policy_n_names(p) >= POLICY_NAME_RULES_MAX)
                return reason(ret_reason, "more than %u name rules", POLICY_NAME_RULES_MAX);
        return 0;
}

bool policy_name_is_valid(const char *name) {
        PolicyRule rule;

        return policy_rule_from_string(name, &rule, NULL) >= 0 && policy_rule_is_name(&rule) && !rule.wildcard &&
               rule.family == 0 && rule.protocol == 0 && rule.port_min == 0 && rule.port_max == 0 &&
               streq(rule.name, name);
}

bool policy_rule_name_matches(const PolicyRule *r, const char *name) {
        size_t n, l;

        assert(r);
        assert(name);

        if (!r->wildcard)
                return streq(r->name, name);
        n = strlen(name);
        l = strlen(r->name);
        return n > l + 1 && name[n - l - 1] == '.' && streq(name + n - l, r->name);
}

int policy_add_rule(Policy *p, PolicyDirection d, PolicyAction a, const PolicyRule *r) {
        PolicyRuleList *l;
        PolicyRule *n;

        assert(p);
        assert(d >= 0 && d < _POLICY_DIRECTION_MAX);
        assert(a >= 0 && a < _POLICY_ACTION_MAX);
        assert(r);

        l = &p->rules[d][a];
        n = reallocarray(l->rules, l->n + 1, sizeof(PolicyRule));
        if (!n)
                return -ENOMEM;
        l->rules = n;
        l->rules[l->n++] = *r;
        return 0;
}

void policy_reset_rules(Policy *p, PolicyDirection d, PolicyAction a) {
        PolicyRuleList *l;

        assert(p);
        assert(d >= 0 && d < _POLICY_DIRECTION_MAX);
        assert(a >= 0 && a < _POLICY_ACTION_MAX);

        l = &p->rules[d][a];
        l->rules = mfree(l->rules);
        l->n = 0;
}

/* "N", "N.D" or "N.DD" followed by '%' → hundredths of a percent. Returns false on syntax error. */
static bool parse_hundredths(const char *s, const char *suffix, uint64_t max, uint64_t *ret) {
        const char *e = endswith(s, suffix);
        const char *dot;
        unsigned long whole, frac = 0;
        size_t len, flen = 0;

        if (!e)
                return false;
        if (*s == '+')          /* systemd's safe_atoi() takes a '+' */
                s++;
        len = (size_t) (e - s);
        dot = memchr(s, '.', len);
        if (dot) {
                flen = len - (size_t) (dot - s) - 1;
                if (flen < 1 || flen > 2 || !parse_decimal(dot + 1, flen, 99, &frac))
                        return false;
                if (flen == 1)
                        frac *= 10;
                len = (size_t) (dot - s);
        }
        if (!parse_decimal(s, len, ULONG_MAX / 1000 - 1, &whole))
                return false;
        *ret = (uint64_t) whole * 100 + frac;
        if (*ret > max)
                *ret = max + 1;
        return true;
}

static char *format_hundredths(uint64_t v, const char *suffix) {
        char *s;
        int r;

        if (v % 100 == 0)
                r = asprintf(&s, "%" PRIu64 "%s", v / 100, suffix);
        else if (v % 10 == 0)
                r = asprintf(&s, "%" PRIu64 ".%" PRIu64 "%s", v / 100, (v % 100) / 10, suffix);
        else
                r = asprintf(&s, "%" PRIu64 ".%02" PRIu64 "%s", v / 100, v % 100, suffix);
        return r < 0 ? NULL : s;
}

int policy_parse_cpu_quota(const char *s, char **ret, char **ret_reason) {
        /* systemd keeps the quota in permyriad in an int. */
        const uint64_t max = INT_MAX;
        uint64_t v;

        assert(s);
        assert(ret);

        if (ret_reason)
                *ret_reason = NULL;
        if (!parse_hundredths(s, "%", max, &v))
                return reason(ret_reason, "invalid CPU quota '%s': a percentage such as 50%% or 200%% is expected", s);
        if (v == 0)
                return reason(ret_reason, "CPU quota '%s' must be greater than 0%%", s);
        if (v > max)
                return reason(ret_reason, "CPU quota '%s' is too large", s);

        char *n = format_hundredths(v, "%");
        if (!n)
                return -ENOMEM;
        *ret = n;
        return 0;
}

int policy_parse_memory_max(const char *s, char **ret, char **ret_reason) {
        /* The contract names K/M/G/T; P, E and B are accepted too, as by MemoryMax=. */
        static const char invalid[] = "bytes with an optional K, M, G or T suffix, a percentage or 'infinity' is expected";
        size_t len, flen = 0;
        unsigned long whole, frac = 0;
        char *n;

        assert(s);
        assert(ret);

        if (ret_reason)
                *ret_reason = NULL;

        if (streq(s, "infinity")) {
                n = strdup("infinity");
                goto out;
        }

        if (endswith(s, "%")) {
                uint64_t v;

                if (!parse_hundredths(s, "%", 10000, &v))
                        return reason(ret_reason, "invalid memory percentage '%s': more than 0%% and at most 100%%, "
                                      "with at most two decimals, is expected", s);
                if (v > 10000)
                        return reason(ret_reason, "memory percentage '%s' is out of range: at most 100%% is allowed", s);
                if (v == 0)
                        return reason(ret_reason, "memory percentage '%s' must be greater than 0%%", s);
                n = format_hundredths(v, "%");
                goto out;
        }

        /* As systemd's parse_size() with base 1024: one or more components NUMBER[.FRACTION]
         * [whitespace] SUFFIX, suffixes in decreasing order ("1G 512M"), the last one may have
         * none (bytes). A fraction may have any number of digits, also none ("1.G"). */
        static const struct {
                const char *suffix;
                unsigned shift;
        } table[] = {
                { "E", 60 }, { "P", 50 }, { "T", 40 }, { "G", 30 }, { "M", 20 }, { "K", 10 }, { "B", 0 }, { "", 0 },
        };
        unsigned __int128 bytes = 0;
        size_t start = 0;
        const char *p = s;

        do {
                unsigned __int128 part;
                size_t i;

                p += strspn(p, " \t\n\r");
                if (*p == '+')
                        p++;
                len = strspn(p, "0123456789");
                if (!parse_decimal(p, len, UINT64_MAX - 1, &whole))
                        return reason(ret_reason, "invalid memory size '%s': %s", s, invalid);
                p += len;

                frac = 0;
                flen = 0;
                if (*p == '.') {
                        p++;
                        len = strspn(p, "0123456789");
                        /* Digits after the ninth are dropped (systemd's double loses them too). */
                        flen = MIN(len, (size_t) 9);
                        if (flen > 0)
                                (void) parse_decimal(p, flen, 999999999, &frac);
                        p += len;
                }
                p += strspn(p, " \t\n\r");

                for (i = start; i < ELEMENTSOF(table); i++)
                        if (startswith(p, table[i].suffix))
                                break;
                if (i >= ELEMENTSOF(table))
                        return reason(ret_reason, "invalid memory size '%s': %s", s, invalid);
                p += strlen(table[i].suffix);
                start = i + 1;

                if (whole == UINT64_MAX)
                        return reason(ret_reason, "memory size '%s' is too large", s);
                part = (unsigned __int128) whole << table[i].shift;
                if (flen > 0) {
                        uint64_t scale = 1;
                        for (size_t k = 0; k < flen; k++)
                                scale *= 10;
                        part += ((unsigned __int128) frac << table[i].shift) / scale;
                }
                bytes += part;
                /* UINT64_MAX is what systemd uses for "infinity": a size must stay below it. */
                if (bytes >= UINT64_MAX)
                        return reason(ret_reason, "memory size '%s' is too large", s);
        } while (*p);

        if (bytes == 0)
                return reason(ret_reason, "memory size '%s' must be at least 1 byte", s);

        if (asprintf(&n, "%" PRIu64, (uint64_t) bytes) < 0)
                n = NULL;
out:
        if (!n)
                return -ENOMEM;
        *ret = n;
        return 0;
}

static int key_to_list(const char *key, PolicyDirection *ret_d, PolicyAction *ret_a) {
        static const struct {
                const char *key;
                PolicyDirection d;
                PolicyAction a;
        } table[] = {
                { "X-CgPolicyBindAllow",    POLICY_BIND,    POLICY_ALLOW },
                { "X-CgPolicyBindDeny",     POLICY_BIND,    POLICY_DENY },
                { "X-CgPolicyConnectAllow", POLICY_CONNECT, POLICY_ALLOW },
                { "X-CgPolicyConnectDeny",  POLICY_CONNECT, POLICY_DENY },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(key, table[i].key)) {
                        *ret_d = table[i].d;
                        *ret_a = table[i].a;
                        return 0;
                }
        return -ENOENT;
}

int policy_set_error(Policy *p, const PolicySource *src, const char *format, ...) {
        _cleanup_free_ char *what = NULL, *msg = NULL;
        va_list ap;
        int r;

        assert(p);
        assert(src);
        assert(format);

        va_start(ap, format);
        r = vasprintf(&what, format, ap);
        va_end(ap);
        if (r < 0)
                return log_oom();

        /* Without line and key the error is about the file as a whole: "FILE: what is wrong". */
        if (src->line == 0 && !src->key)
                r = asprintf(&msg, "%s: %s", src->filename ?: "-", what);
        else
                r = asprintf(&msg, "%s:%u: %s: %s", src->filename ?: "-", src->line, src->key ?: "-", what);
        if (r < 0)
                return log_oom();

        log_error("%s", msg);
        if (!p->error)
                p->error = TAKE_PTR(msg);
        return -EINVAL;
}

/* Space-separated rules for list (d, a); an empty value resets the list. The whole value is
 * parsed first: a bad rule adds none of the line's rules. */
/* The next whitespace-separated word of *p into *ret, advancing *p: 1, 0 at the end, -ENOMEM. */
static int next_word(const char **p, char **ret) {
        const char *w = *p + strspn(*p, " \t\n\r");
        size_t n;

        if (!*w)
                return 0;
        n = strcspn(w, " \t\n\r");
        *ret = strndup(w, n);
        if (!*ret)
                return -ENOMEM;
        *p = w + n;
        return 1;
}

static int assign_rules(Policy *p, const PolicySource *src, PolicyDirection d, PolicyAction a, const char *value) {
        _cleanup_free_ PolicyRule *rules = NULL;
        size_t n_rules = 0;
        int r;

        if (!*value) {
                policy_reset_rules(p, d, a);
                return 0;
        }

        for (const char *w = value;;) {
                _cleanup_free_ char *word = NULL, *why = NULL;
                PolicyRule rule, *x;

                r = next_word(&w, &word);
                if (r < 0)
                        return log_oom();
                if (r == 0)
                        break;

                r = policy_rule_from_string(word, &rule, &why);
                if (r >= 0) {
                        /* The names of this line count too. */
                        size_t n_line = 0;

                        for (size_t i = 0; i < n_rules; i++)
                                n_line += policy_rule_is_name(&rules[i]);
                        if (policy_rule_is_name(&rule) && policy_n_names(p) + n_line >= POLICY_NAME_RULES_MAX)
                                r = reason(&why, "more than %u name rules", POLICY_NAME_RULES_MAX);
                        else
                                r = policy_rule_check_list(p, d, a, &rule, &why);
                }
                if (r < 0) {
                        if (!why)
                                return log_oom();
                        return policy_set_error(p, src, "%s", why);
                }

                x = reallocarray(rules, n_rules + 1, sizeof(PolicyRule));
                if (!x)
                        return log_oom();
                rules = x;
                rules[n_rules++] = rule;
        }

        for (size_t i = 0; i < n_rules; i++) {
                r = policy_add_rule(p, d, a, &rules[i]);
                if (r < 0)
                        return log_oom();
        }
        return 0;
}

/* Space-separated socket kinds; an empty value resets. A bad word adds none of the line's. */
static int assign_sockets(Policy *p, const PolicySource *src, const char *value) {
        unsigned mask = 0;

        if (!*value) {
                p->socket_allow = 0;
                return 0;
        }

        for (const char *w = value;;) {
                _cleanup_free_ char *word = NULL;
                int k, r;

                r = next_word(&w, &word);
                if (r < 0)
                        return log_oom();
                if (r == 0)
                        break;

                k = policy_socket_kind_from_string(word);
                if (k < 0)
                        return policy_set_error(p, src, "unknown socket kind '%s': 'ping', 'raw', 'udplite', "
                                                "'sctp', 'other' or 'any' is expected", word);
                mask |= (unsigned) k;
        }

        p->socket_allow |= mask;
        return 0;
}

int policy_assign_full(Policy *p, const PolicySource *src, const char *value, bool *ret_ignored) {
        const char *key;
        PolicyDirection d;
        PolicyAction a;
        int r;

        assert(p);
        assert(src);

        key = src->key;
        if (ret_ignored)
                *ret_ignored = false;
        if (!policy_key_is_ours(key))
                return 0;
        if (!value)
                value = "";

        if (key_to_list(key, &d, &a) >= 0)
                return assign_rules(p, src, d, a, value);

        if (streq(key, "X-CgPolicyMode")) {
                if (!*value) {
                        p->mode = POLICY_MODE_ENFORCE;
                        p->mode_set = false;
                        return 0;
                }
                r = policy_mode_from_string(value);
                if (r < 0)
                        return policy_set_error(p, src, "invalid mode '%s': 'enforce', 'audit' or 'learn' is expected", value);
                p->mode = r;
                p->mode_set = true;
                return 0;
        }

        if (streq(key, "X-CgPolicySocketAllow"))
                return assign_sockets(p, src, value);

        if (streq(key, "X-CgPolicySeal")) {
                if (!*value) {
                        p->seal = -1;
                        return 0;
                }
                r = policy_parse_boolean(value);
                if (r < 0)
                        return policy_set_error(p, src, "invalid boolean '%s': 'yes' or 'no' is expected", value);
                p->seal = r;
                return 0;
        }

        if (streq(key, "X-CgPolicyOnDenial")) {
                if (!*value) {
                        p->on_denial = POLICY_ON_DENIAL_NONE;
                        return 0;
                }
                r = policy_on_denial_from_string(value);
                if (r < 0)
                        return policy_set_error(p, src, "invalid action '%s': 'none', 'freeze', 'stop' or 'kill' "
                                                "is expected", value);
                p->on_denial = r;
                return 0;
        }

        if (streq(key, "X-CgPolicyOnDenialThreshold")) {
                _cleanup_free_ char *why = NULL;

                if (!*value) {
                        p->on_denial_max = POLICY_ON_DENIAL_MAX_DEFAULT;
                        p->on_denial_interval_usec = POLICY_ON_DENIAL_INTERVAL_DEFAULT;
                        return 0;
                }
                r = policy_parse_on_denial_threshold(value, &p->on_denial_max, &p->on_denial_interval_usec, &why);
                if (r < 0) {
                        if (!why)
                                return log_oom();
                        return policy_set_error(p, src, "%s", why);
                }
                return 0;
        }

        if (streq(key, "X-CgPolicyCPUQuota") || streq(key, "X-CgPolicyMemoryMax")) {
                bool cpu = streq(key, "X-CgPolicyCPUQuota");
                char **field = cpu ? &p->cpu_quota : &p->memory_max;
                _cleanup_free_ char *n = NULL, *why = NULL;

                if (!*value) {
                        *field = mfree(*field);
                        return 0;
                }

                r = cpu ? policy_parse_cpu_quota(value, &n, &why) : policy_parse_memory_max(value, &n, &why);
                if (r == -ENOMEM || (r < 0 && !why))
                        return log_oom();
                if (r < 0) {
                        /* As systemd does with a bad CPUQuota=/MemoryMax=: say so, ignore the line. */
                        log_warning("%s:%u: %s: %s, ignoring.", src->filename ?: "-", src->line, key, why);
                        if (ret_ignored)
                                *ret_ignored = true;
                        return 0;
                }
                free(*field);
                *field = TAKE_PTR(n);
                return 0;
        }

        return policy_set_error(p, src, "unknown key (known: X-CgPolicyCPUQuota, X-CgPolicyMemoryMax, "
                                "X-CgPolicyBindAllow, X-CgPolicyBindDeny, X-CgPolicyConnectAllow, "
                                "X-CgPolicyConnectDeny, X-CgPolicyMode, X-CgPolicySocketAllow, "
                                "X-CgPolicySeal, X-CgPolicyOnDenial, X-CgPolicyOnDenialThreshold)");
}

int policy_assign(Policy *p, const PolicySource *src, const char *value) {
        return policy_assign_full(p, src, value, NULL);
}

static bool rule_equal(const PolicyRule *a, const PolicyRule *b) {
        if (a->any != b->any || a->family != b->family || a->protocol != b->protocol ||
            a->has_address != b->has_address || a->port_min != b->port_min || a->port_max != b->port_max)
                return false;
        if (a->wildcard != b->wildcard || !streq(a->name, b->name))
                return false;
        if (a->has_address)
                return a->prefixlen == b->prefixlen && memcmp(&a->address, &b->address, sizeof a->address) == 0;
        return true;
}

static bool str_equal(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}

bool policy_equal(const Policy *a, const Policy *b) {
        assert(a);
        assert(b);

        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                for (int x = 0; x < _POLICY_ACTION_MAX; x++) {
                        const PolicyRuleList *la = &a->rules[d][x], *lb = &b->rules[d][x];

                        if (la->n != lb->n)
                                return false;
                        for (size_t i = 0; i < la->n; i++)
                                if (!rule_equal(&la->rules[i], &lb->rules[i]))
                                        return false;
                }
        return a->mode == b->mode && a->socket_allow == b->socket_allow && a->seal == b->seal &&
                a->on_denial == b->on_denial && a->on_denial_max == b->on_denial_max &&
                a->on_denial_interval_usec == b->on_denial_interval_usec &&
                str_equal(a->cpu_quota, b->cpu_quota) &&
                str_equal(a->memory_max, b->memory_max) && str_equal(a->error, b->error);
}
