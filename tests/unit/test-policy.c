/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy language: every grammar rule, every error text, the unit-file reader, exec-line
 * escaping, the helper's argv round trip and a randomized comparison of policy_allows() with
 * an independent reading of the rule text. */

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "exec-escape.h"
#include "log.h"
#include "macro.h"
#include "policy-args.h"
#include "policy.h"
#include "tap.h"
#include "unit-file.h"

static void test_rule_ok(const char *in, const char *canonical) {
        _cleanup_free_ char *why = NULL, *out = NULL, *out2 = NULL;
        PolicyRule r, r2;

        if (!ok(policy_rule_from_string(in, &r, &why) == 0, "rule '%s' parses", in)) {
                diag("reason: %s", why);
                return;
        }
        ok(policy_rule_to_string(&r, &out) == 0 && streq(out, canonical),
           "rule '%s' is spelled '%s' (got '%s')", in, canonical, out);
        /* The canonical spelling parses to the same rule. */
        ok(policy_rule_from_string(out, &r2, NULL) == 0 && policy_rule_to_string(&r2, &out2) == 0 &&
           streq(out2, out) && memcmp(&r, &r2, sizeof r) == 0, "canonical '%s' round-trips", out);
}

static void test_rule_bad(const char *in, const char *expected) {
        _cleanup_free_ char *why = NULL;
        PolicyRule r;
        int k;

        k = policy_rule_from_string(in, &r, &why);
        ok(k == -EINVAL && why && streq(why, expected), "rule '%s' is refused: '%s' (got '%s')",
           in, expected, why ?: "(accepted)");
}

static void test_grammar(void) {
        test_rule_ok("any", "any");
        test_rule_ok("443", "443");
        test_rule_ok("1", "1");
        test_rule_ok("65535", "65535");
        test_rule_ok("8000-8100", "8000-8100");
        test_rule_ok("80-80", "80");
        test_rule_ok("tcp:443", "tcp:443");
        test_rule_ok("udp:53", "udp:53");
        test_rule_ok("ipv4:80", "ipv4:80");
        test_rule_ok("ipv6:udp:5353", "ipv6:udp:5353");
        test_rule_ok("ipv4:tcp:1-1024", "ipv4:tcp:1-1024");
        test_rule_ok("10.0.0.0/8:5432", "10.0.0.0/8:5432");
        test_rule_ok("192.0.2.7", "192.0.2.7");
        test_rule_ok("192.0.2.7/32", "192.0.2.7");
        test_rule_ok("0.0.0.0/0", "0.0.0.0/0");
        test_rule_ok("tcp:127.0.0.0/8:1-1023", "tcp:127.0.0.0/8:1-1023");
        test_rule_ok("ipv4:10.0.0.0/8", "10.0.0.0/8");
        test_rule_ok("[fd00::/8]:443", "[fd00::/8]:443");
        test_rule_ok("[::1]", "[::1]");
        test_rule_ok("[::1/128]:22", "[::1]:22");
        test_rule_ok("[::/0]", "[::/0]");
        test_rule_ok("ipv6:udp:[2001:db8::/32]:53", "udp:[2001:db8::/32]:53");
        /* Host bits are cleared, as systemd's IPAddressAllow= does. */
        test_rule_ok("10.1.2.3/8", "10.0.0.0/8");
        test_rule_ok("[fd12:3456::1/16]", "[fd12::/16]");
        test_rule_ok("192.168.1.255/23", "192.168.0.0/23");
        /* As systemd's SocketBindAllow=: a family or protocol without target means all ports. */
        test_rule_ok("ipv6", "ipv6");
        test_rule_ok("tcp", "tcp");
        test_rule_ok("ipv4:udp", "ipv4:udp");
        test_rule_ok("tcp:any", "tcp");
        test_rule_ok("ipv6:any", "ipv6");
        /* Everything systemd's SocketBindAllow= takes. */
        test_rule_ok("TCP:80", "tcp:80");
        test_rule_ok("ipv6:Udp", "ipv6:udp");
        test_rule_ok("+80", "80");
        test_rule_ok("+80-+90", "80-90");
        test_rule_ok("ipv4:tcp:+8080", "ipv4:tcp:8080");
        test_rule_ok("080", "80");

        test_rule_bad("", "empty rule");
        test_rule_bad("0", "port 0 is out of range 1..65535");
        test_rule_bad("65536", "port 65536 is out of range 1..65535");
        test_rule_bad("tcp:70000", "port 70000 is out of range 1..65535");
        test_rule_bad("99999999999999999999", "port 99999999999999999999 is out of range 1..65535");
        test_rule_bad("tcp:http", "invalid port 'http': a number 1..65535 is expected");
        test_rule_bad("++80", "invalid port '++80': a number 1..65535 is expected");
        test_rule_bad("IPV4:80", "invalid rule 'IPV4:80': unknown family or protocol 'IPV4'");
        test_rule_bad("8100-8000", "port range 8100-8000: low port 8100 is greater than high port 8000");
        test_rule_bad("80-", "invalid port '': a number 1..65535 is expected");
        test_rule_bad("-80", "invalid rule '-80': expected any, ipv4, ipv6, tcp, udp, a port or an address");
        test_rule_bad("0-80", "port 0 is out of range 1..65535");
        test_rule_bad("1-2-3", "invalid port '2-3': a number 1..65535 is expected");
        test_rule_bad("10.0.0.0/33", "prefix length 33 is out of range 0..32");
        test_rule_bad("10.0.0.0/", "invalid prefix length '': a number 0..32 is expected");
        test_rule_bad("10.0.0.0/x", "invalid prefix length 'x': a number 0..32 is expected");
        test_rule_bad("[fd00::/129]", "prefix length 129 is out of range 0..128");
        test_rule_bad("256.0.0.1", "invalid IPv4 address '256.0.0.1'");
        test_rule_bad("10.0.0", "invalid IPv4 address '10.0.0'");
        test_rule_bad("/8", "missing IPv4 address");
        test_rule_bad("10.0.0.1:", "missing port after ':'");
        test_rule_bad("10.0.0.1:0", "port 0 is out of range 1..65535");
        test_rule_bad("[fd00::1", "missing ']' after IPv6 address in rule '[fd00::1'");
        test_rule_bad("[fd00::zz]", "invalid IPv6 address 'fd00::zz'");
        test_rule_bad("[10.0.0.1]", "invalid IPv6 address '10.0.0.1'");
        test_rule_bad("[]", "missing IPv6 address");
        test_rule_bad("[::1]80", "unexpected '80' after IPv6 address, ':PORT' expected");
        test_rule_bad("[::1]:", "missing port after ':'");
        test_rule_bad("10.0.0.1:80:90", "invalid port '80:90': a number 1..65535 is expected");
        test_rule_bad("fd00::1", "IPv6 addresses must be written in brackets, e.g. [fd00::/8]:443");
        test_rule_bad("ipv4:[::1]", "rule 'ipv4:[::1]' says ipv4 but names an IPv6 address");
        test_rule_bad("ipv6:10.0.0.1", "rule 'ipv6:10.0.0.1' says ipv6 but names an IPv4 address");
        test_rule_bad("ipv4:", "rule 'ipv4:' ends with ':'");
        test_rule_bad("tcp:", "rule 'tcp:' ends with ':'");
        test_rule_bad("tcp:ipv4:80", "the address family must come first in rule 'tcp:ipv4:80'");
        test_rule_bad("tcp:udp:80", "more than one protocol in rule 'tcp:udp:80'");
        test_rule_bad("sctp:80", "invalid rule 'sctp:80': unknown family or protocol 'sctp'");
        test_rule_bad("ipv5", "invalid rule 'ipv5': expected any, ipv4, ipv6, tcp, udp, a port or an address");
        test_rule_bad("any:80", "invalid rule 'any:80': unknown family or protocol 'any'");
        test_rule_bad("ipv4:tcp:any:80", "invalid rule 'ipv4:tcp:any:80': unknown family or protocol 'any'");
}

/* Names in connect rules (systemd.cgpolicy(5), NAME RULES). */
static void test_names(void) {
        Policy p;

        test_rule_ok("api.example.com:443", "api.example.com:443");
        test_rule_ok("API.Example.COM.:443", "api.example.com:443");
        test_rule_ok("api.example.com", "api.example.com");
        test_rule_ok("*.pool.ntp.org:udp:123", "udp:*.pool.ntp.org:123");
        test_rule_ok("udp:*.pool.ntp.org:123", "udp:*.pool.ntp.org:123");
        test_rule_ok("api.example.com:tcp", "tcp:api.example.com");
        test_rule_ok("ipv6:tcp:api.example.com:8000-8100", "ipv6:tcp:api.example.com:8000-8100");
        test_rule_ok("ipv4:db-1.internal.example:5432", "ipv4:db-1.internal.example:5432");
        test_rule_ok("_dmarc.example.com:53", "_dmarc.example.com:53");
        test_rule_ok("1.2.3.example:80", "1.2.3.example:80");
        test_rule_ok("10.1.2.a:80", "10.1.2.a:80");
        /* Never a name: an IPv4 address, a CIDR, a port list. */
        test_rule_ok("10.1.2.3:80", "10.1.2.3:80");
        test_rule_ok("10.0.0.0/8", "10.0.0.0/8");
        test_rule_ok("80-90", "80-90");
        test_rule_bad("10.1.2.300", "invalid IPv4 address '10.1.2.300'");
        test_rule_bad("localhost:80", "invalid rule 'localhost:80': unknown family or protocol 'localhost'");
        test_rule_bad("*.com", "invalid name '*.com': a name needs at least two labels (e.g. example.com, *.example.com)");
        test_rule_bad("*:80", "invalid name '*': '*' may only be the whole first label, as in '*.example.com'");
        test_rule_bad("api.*.example.com", "invalid name 'api.*.example.com': '*' may only be the whole first label, "
                      "as in '*.example.com'");
        test_rule_bad("*.1.2.3", "invalid name '*.1.2.3': the last label of a name must contain a letter");
        test_rule_bad("a..example.com", "invalid name 'a..example.com': empty label");
        test_rule_bad("-a.example.com", "invalid name '-a.example.com': a label may not begin or end with '-'");
        test_rule_bad("a!b.example.com", "invalid name 'a!b.example.com': '!' is not allowed in a name (letters, "
                      "digits, '-' and '_')");
        test_rule_bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
                      "invalid name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com': "
                      "a label is longer than 63 characters");
        test_rule_bad("tcp:api.example.com:udp:53", "more than one protocol in rule 'tcp:api.example.com:udp:53'");
        test_rule_bad("api.example.com:0", "port 0 is out of range 1..65535");
        test_rule_bad("api.example.com:tcp:", "rule 'api.example.com:tcp:' ends with ':'");
        test_rule_bad("api.example.com:443:80", "invalid rule 'api.example.com:443:80': NAME[:PROTOCOL][:PORTS] is "
                      "expected after a name");

        {
                PolicyRule w = {}, e = {};
                uint8_t a[4] = { 192, 0, 2, 1 };

                ok(policy_rule_from_string("*.example.com", &w, NULL) == 0 &&
                   policy_rule_name_matches(&w, "api.example.com") && policy_rule_name_matches(&w, "a.b.example.com") &&
                   !policy_rule_name_matches(&w, "example.com") && !policy_rule_name_matches(&w, "badexample.com"),
                   "a wildcard matches every name below it, not the name itself");
                ok(policy_rule_from_string("api.example.com", &e, NULL) == 0 &&
                   policy_rule_name_matches(&e, "api.example.com") && !policy_rule_name_matches(&e, "x.api.example.com") &&
                   !policy_rule_matches(&e, AF_INET, IPPROTO_TCP, a, 443),
                   "a name matches itself only, and no address statically");
        }

#define ASSIGN(k, v) policy_assign(&p, &(PolicySource) { "/x/foo.service", 7, k }, v)
        policy_init(&p);
        ok(ASSIGN("X-CgPolicyBindAllow", "api.example.com:80") == -EINVAL &&
           streq(p.error, "/x/foo.service:7: X-CgPolicyBindAllow: a name (api.example.com) can only be in a connect "
                 "allow rule: bind rules are by address"), "a name in a bind rule is an error");
        policy_done(&p);
        policy_init(&p);
        ok(ASSIGN("X-CgPolicyConnectDeny", "*.example.com") == -EINVAL &&
           streq(p.error, "/x/foo.service:7: X-CgPolicyConnectDeny: a name (*.example.com) can only be in a connect "
                 "allow rule: deny rules are by address"), "a name in a deny rule is an error");
        policy_done(&p);
        policy_init(&p);
        ok(ASSIGN("X-CgPolicyConnectAllow", "a1.example.com a2.example.com a3.example.com a4.example.com "
                  "a5.example.com a6.example.com a7.example.com a8.example.com udp:53") == 0 &&
           ASSIGN("X-CgPolicyConnectAllow", "b1.example.com b2.example.com b3.example.com b4.example.com "
                  "b5.example.com b6.example.com b7.example.com b8.example.com") == 0 && policy_n_names(&p) == 16,
           "16 name rules are fine");
        ok(ASSIGN("X-CgPolicyConnectAllow", "tcp:1 c.example.com") == -EINVAL && policy_n_names(&p) == 16 &&
           streq(p.error, "/x/foo.service:7: X-CgPolicyConnectAllow: more than 16 name rules"),
           "the 17th name rule is an error");
        policy_done(&p);
#undef ASSIGN

        {
                _cleanup_free_ char *why = NULL;
                Policy q;

                policy_init(&q);
                ok(policy_arg_parse(&q, "--bind-allow=api.example.com:80", &why) == -EINVAL &&
                   streq(why, "--bind-allow=api.example.com:80: a name (api.example.com) can only be in a connect "
                         "allow rule: bind rules are by address"), "apply refuses a name in a bind rule too");
                policy_done(&q);
        }
}

static void test_matches(void) {
        Policy p;
        const PolicySource src = { "t.service", 1, "X-CgPolicyBindDeny" };
        const PolicySource src2 = { "t.service", 2, "X-CgPolicyBindAllow" };
        struct in_addr lo = { htonl(INADDR_LOOPBACK) }, ten = { htonl(0x0a010203) };
        struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;

        policy_init(&p);
        ok(policy_assign(&p, &src, "any") == 0, "BindDeny=any");
        ok(policy_assign(&p, &src2, "tcp:8080 10.0.0.0/8:22") == 0, "BindAllow=tcp:8080 10.0.0.0/8:22");
        ok(!policy_allows(&p, POLICY_BIND, AF_INET, IPPROTO_TCP, &lo, 80), "bind 127.0.0.1:80/tcp refused");
        ok(policy_allows(&p, POLICY_BIND, AF_INET, IPPROTO_TCP, &lo, 8080), "bind 127.0.0.1:8080/tcp allowed");
        ok(policy_allows(&p, POLICY_BIND, AF_INET6, IPPROTO_TCP, &lo6, 8080), "bind [::1]:8080/tcp allowed");
        ok(!policy_allows(&p, POLICY_BIND, AF_INET, IPPROTO_UDP, &lo, 8080), "bind 127.0.0.1:8080/udp refused");
        ok(policy_allows(&p, POLICY_BIND, AF_INET, IPPROTO_UDP, &ten, 22), "bind 10.1.2.3:22/udp allowed");
        ok(!policy_allows(&p, POLICY_BIND, AF_INET, IPPROTO_UDP, &lo, 22), "bind 127.0.0.1:22/udp refused");
        ok(policy_allows(&p, POLICY_BIND, AF_INET, IPPROTO_UDP, &lo, 0), "bind to port 0 is matched by no rule, not even any");
        ok(policy_allows(&p, POLICY_CONNECT, AF_INET, IPPROTO_TCP, &lo, 80), "connect is not affected by bind rules");
        ok(policy_has_direction(&p, POLICY_BIND) && !policy_has_direction(&p, POLICY_CONNECT), "only bind direction set");
        policy_done(&p);
}

/* policy_assign() errors, accumulate/reset, mode, CPU/memory. */
static void test_assign(void) {
        Policy p;

#define ASSIGN(k, v) policy_assign(&p, &(PolicySource) { "/x/foo.service", 7, k }, v)

        policy_init(&p);
        ok(ASSIGN("X-CgPolicyConnectDeny", "any") == 0 && ASSIGN("X-CgPolicyConnectDeny", "tcp:1 udp:2") == 0 &&
           p.rules[POLICY_CONNECT][POLICY_DENY].n == 3, "rules accumulate");
        ok(ASSIGN("X-CgPolicyConnectDeny", "") == 0 && p.rules[POLICY_CONNECT][POLICY_DENY].n == 0, "empty value resets");
        ok(ASSIGN("X-CgPolicyConnectAllow", "  tcp:443\t udp:53  ") == 0 &&
           p.rules[POLICY_CONNECT][POLICY_ALLOW].n == 2, "tabs and runs of spaces separate rules");
        ok(ASSIGN("X-CgPolicyMode", "audit") == 0 && p.mode == POLICY_MODE_AUDIT && p.mode_set, "mode audit");
        ok(ASSIGN("X-CgPolicyMode", "learn") == 0 && p.mode == POLICY_MODE_LEARN && p.mode_set, "mode learn");
        ok(ASSIGN("X-CgPolicyMode", "") == 0 && p.mode == POLICY_MODE_ENFORCE && !p.mode_set, "empty mode resets");
        ok(ASSIGN("X-CgPolicyCPUQuota", "050%") == 0 && streq(p.cpu_quota, "50%"), "CPUQuota 050%% → 50%%");
        ok(ASSIGN("X-CgPolicyCPUQuota", "12.50%") == 0 && streq(p.cpu_quota, "12.5%"), "CPUQuota 12.50%% → 12.5%%");
        ok(ASSIGN("X-CgPolicyCPUQuota", "250%") == 0 && streq(p.cpu_quota, "250%"), "CPUQuota 250%% kept");
        ok(ASSIGN("X-CgPolicyCPUQuota", "0.01%") == 0 && streq(p.cpu_quota, "0.01%"), "CPUQuota 0.01%% kept");
        ok(ASSIGN("X-CgPolicyCPUQuota", "0%") == 0 && streq(p.cpu_quota, "0.01%"), "CPUQuota 0%% ignored, old value stays");
        ok(ASSIGN("X-CgPolicyCPUQuota", "50") == 0 && streq(p.cpu_quota, "0.01%"), "CPUQuota 50 (no %%) ignored");
        ok(ASSIGN("X-CgPolicyCPUQuota", "1.234%") == 0 && streq(p.cpu_quota, "0.01%"), "CPUQuota 1.234%% ignored");
        ok(ASSIGN("X-CgPolicyCPUQuota", "") == 0 && !p.cpu_quota, "empty CPUQuota unsets");
        ok(ASSIGN("X-CgPolicyMemoryMax", "1G") == 0 && streq(p.memory_max, "1073741824"), "MemoryMax 1G");
        ok(ASSIGN("X-CgPolicyMemoryMax", "512M") == 0 && streq(p.memory_max, "536870912"), "MemoryMax 512M");
        ok(ASSIGN("X-CgPolicyMemoryMax", "1.5K") == 0 && streq(p.memory_max, "1536"), "MemoryMax 1.5K");
        ok(ASSIGN("X-CgPolicyMemoryMax", "2T") == 0 && streq(p.memory_max, "2199023255552"), "MemoryMax 2T");
        ok(ASSIGN("X-CgPolicyMemoryMax", "4096") == 0 && streq(p.memory_max, "4096"), "MemoryMax 4096");
        ok(ASSIGN("X-CgPolicyMemoryMax", "20%") == 0 && streq(p.memory_max, "20%"), "MemoryMax 20%%");
        ok(ASSIGN("X-CgPolicyMemoryMax", "100%") == 0 && streq(p.memory_max, "100%"), "MemoryMax 100%%");
        ok(ASSIGN("X-CgPolicyMemoryMax", "infinity") == 0 && streq(p.memory_max, "infinity"), "MemoryMax infinity");
        ok(ASSIGN("X-CgPolicyMemoryMax", "101%") == 0 && streq(p.memory_max, "infinity"), "MemoryMax 101%% ignored");
        ok(ASSIGN("X-CgPolicyMemoryMax", "0") == 0 && streq(p.memory_max, "infinity"), "MemoryMax 0 ignored");
        ok(ASSIGN("X-CgPolicyMemoryMax", "1Q") == 0 && streq(p.memory_max, "infinity"), "MemoryMax 1Q ignored");
        ok(ASSIGN("X-CgPolicyMemoryMax", "99999999999T") == 0 && streq(p.memory_max, "infinity"), "MemoryMax too large ignored");
        ok(ASSIGN("X-CgPolicyMemoryMax", "0%") == 0 && streq(p.memory_max, "infinity"), "MemoryMax 0%% ignored");
        ok(ASSIGN("X-CgPolicyMemoryMax", "18446744073709551615") == 0 && streq(p.memory_max, "infinity"),
           "MemoryMax 2^64-1 ignored (systemd's infinity)");
        ok(ASSIGN("X-CgPolicyMemoryMax", "99999999999999999999999") == 0 && streq(p.memory_max, "infinity"),
           "MemoryMax beyond 64 bits ignored");
        ok(ASSIGN("X-CgPolicyMemoryMax", "18446744073709551614") == 0 && streq(p.memory_max, "18446744073709551614"),
           "MemoryMax 2^64-2 kept");
        ok(ASSIGN("X-CgPolicyMemoryMax", "15E") == 0 && streq(p.memory_max, "17293822569102704640"), "MemoryMax 15E");
        ok(ASSIGN("X-CgPolicyMemoryMax", "16E") == 0 && streq(p.memory_max, "17293822569102704640"), "MemoryMax 16E ignored");
        ok(ASSIGN("X-CgPolicyMemoryMax", "2K") == 0 && streq(p.memory_max, "2048"), "MemoryMax 2K");
        ok(ASSIGN("X-CgPolicyMemoryMax", "2KB") == 0 && streq(p.memory_max, "2048"), "MemoryMax 2KB ignored, as by systemd");
        ok(ASSIGN("X-CgPolicyMemoryMax", "1G 512M") == 0 && streq(p.memory_max, "1610612736"), "MemoryMax 1G 512M");
        ok(ASSIGN("X-CgPolicyMemoryMax", "1M 1G") == 0 && streq(p.memory_max, "1610612736"), "MemoryMax 1M 1G ignored");
        ok(ASSIGN("X-CgPolicyMemoryMax", "1.G") == 0 && streq(p.memory_max, "1073741824"), "MemoryMax 1.G");
        ok(ASSIGN("X-CgPolicyMemoryMax", "0.01%") == 0 && streq(p.memory_max, "0.01%"), "MemoryMax 0.01%%");
        ok(ASSIGN("X-CgPolicyMemoryMax", "12.345%") == 0 && streq(p.memory_max, "0.01%"), "MemoryMax 12.345%% ignored");
        ok(!p.error, "CPU/memory errors do not make the unit fail");

        ok(ASSIGN("X-CgPolicyBindAllow", "tcp:80 tcp:0 udp:53") == -EINVAL &&
           p.rules[POLICY_BIND][POLICY_ALLOW].n == 0, "a bad rule adds none of the line's rules");
        ok(p.error && streq(p.error, "/x/foo.service:7: X-CgPolicyBindAllow: port 0 is out of range 1..65535"),
           "error text: '%s'", p.error);
        ok(ASSIGN("X-CgPolicyMode", "permissive") == -EINVAL &&
           streq(p.error, "/x/foo.service:7: X-CgPolicyBindAllow: port 0 is out of range 1..65535"),
           "the first error wins");
        policy_done(&p);

        policy_init(&p);
        ok(ASSIGN("X-CgPolicyMode", "permissive") == -EINVAL &&
           streq(p.error, "/x/foo.service:7: X-CgPolicyMode: invalid mode 'permissive': 'enforce', 'audit' or 'learn' is expected"),
           "mode error: '%s'", p.error);
        policy_done(&p);

        policy_init(&p);
        ok(ASSIGN("X-CgPolicyBindAlow", "any") == -EINVAL &&
           streq(p.error, "/x/foo.service:7: X-CgPolicyBindAlow: unknown key (known: X-CgPolicyCPUQuota, "
                 "X-CgPolicyMemoryMax, X-CgPolicyBindAllow, X-CgPolicyBindDeny, X-CgPolicyConnectAllow, "
                 "X-CgPolicyConnectDeny, X-CgPolicyMode, X-CgPolicySocketAllow, X-CgPolicySeal, "
                 "X-CgPolicyOnDenial, X-CgPolicyOnDenialThreshold)"),
           "unknown key: '%s'", p.error);
        policy_done(&p);

        policy_init(&p);
        ok(ASSIGN("X-Other", "whatever") == 0 && policy_is_empty(&p), "keys that are not ours are ignored");
        ok(ASSIGN("CPUQuota", "x") == 0 && policy_is_empty(&p), "systemd keys are ignored");
        policy_done(&p);
#undef ASSIGN
}

/* X-CgPolicySocketAllow= and X-CgPolicySeal=. */
static void test_socket_and_seal(void) {
        Policy p;

#define ASSIGN(k, v) policy_assign(&p, &(PolicySource) { "/x/foo.service", 9, k }, v)

        ok(policy_socket_kind_from_string("ping") == POLICY_SOCKET_PING &&
           policy_socket_kind_from_string("raw") == POLICY_SOCKET_RAW &&
           policy_socket_kind_from_string("udplite") == POLICY_SOCKET_UDPLITE &&
           policy_socket_kind_from_string("sctp") == POLICY_SOCKET_SCTP &&
           policy_socket_kind_from_string("other") == POLICY_SOCKET_OTHER &&
           policy_socket_kind_from_string("any") == POLICY_SOCKET_ALL, "socket kinds by name");
        ok(policy_socket_kind_from_string("PING") == -EINVAL && policy_socket_kind_from_string("icmp") == -EINVAL &&
           policy_socket_kind_from_string("") == -EINVAL && policy_socket_kind_from_string(NULL) == -EINVAL,
           "unknown socket kinds are -EINVAL");
        for (unsigned bit = 1; bit & POLICY_SOCKET_ALL; bit <<= 1)
                ok(policy_socket_kind_from_string(policy_socket_kind_to_string(bit)) == (int) bit,
                   "socket kind 0x%x round-trips as '%s'", bit, policy_socket_kind_to_string(bit));
        ok(!policy_socket_kind_to_string(POLICY_SOCKET_ALL) && !policy_socket_kind_to_string(0),
           "only single kinds have a name");

        policy_init(&p);
        ok(p.socket_allow == 0 && p.seal == -1, "defaults: no socket kind allowed, seal not set");
        ok(ASSIGN("X-CgPolicySocketAllow", "ping") == 0 && ASSIGN("X-CgPolicySocketAllow", " raw\tsctp ") == 0 &&
           p.socket_allow == (POLICY_SOCKET_PING | POLICY_SOCKET_RAW | POLICY_SOCKET_SCTP), "socket kinds accumulate");
        ok(ASSIGN("X-CgPolicySocketAllow", "") == 0 && p.socket_allow == 0, "empty socket kinds reset");
        ok(ASSIGN("X-CgPolicySocketAllow", "any") == 0 && p.socket_allow == POLICY_SOCKET_ALL, "'any' is every kind");
        ok(ASSIGN("X-CgPolicySocketAllow", "") == 0 && ASSIGN("X-CgPolicySocketAllow", "udplite icmp") == -EINVAL &&
           p.socket_allow == 0, "a bad kind adds none of the line's kinds");
        ok(p.error && streq(p.error, "/x/foo.service:9: X-CgPolicySocketAllow: unknown socket kind 'icmp': "
                            "'ping', 'raw', 'udplite', 'sctp', 'other' or 'any' is expected"),
           "socket kind error (fails closed): '%s'", p.error);
        policy_done(&p);

        static const struct {
                const char *in;
                int seal;
        } bools[] = {
                { "yes", 1 }, { "Y", 1 }, { "true", 1 }, { "T", 1 }, { "on", 1 }, { "1", 1 }, { "YES", 1 },
                { "no", 0 }, { "N", 0 }, { "false", 0 }, { "f", 0 }, { "OFF", 0 }, { "0", 0 }, { "No", 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(bools); i++) {
                policy_init(&p);
                ok(ASSIGN("X-CgPolicySeal", bools[i].in) == 0 && p.seal == bools[i].seal && !p.error,
                   "X-CgPolicySeal=%s is %d", bools[i].in, bools[i].seal);
                policy_done(&p);
        }

        policy_init(&p);
        ok(ASSIGN("X-CgPolicySeal", "no") == 0 && ASSIGN("X-CgPolicySeal", "yes") == 0 && p.seal == 1,
           "the last seal assignment wins");
        ok(ASSIGN("X-CgPolicySeal", "") == 0 && p.seal == -1, "an empty seal goes back to the default");
        ok(ASSIGN("X-CgPolicySeal", "maybe") == -EINVAL && p.seal == -1 &&
           p.error && streq(p.error, "/x/foo.service:9: X-CgPolicySeal: invalid boolean 'maybe': 'yes' or 'no' is expected"),
           "a bad seal fails closed: '%s'", p.error);
        policy_done(&p);

        /* policy_is_sealed(): network rules, enforce, not opted out, no error. */
        policy_init(&p);
        ok(!policy_is_sealed(&p), "an empty policy is not sealed");
        ASSIGN("X-CgPolicyMemoryMax", "1G");
        ASSIGN("X-CgPolicySocketAllow", "ping");
        ok(!policy_is_sealed(&p), "resource keys and socket kinds alone are not sealed");
        ASSIGN("X-CgPolicyConnectDeny", "any");
        ok(policy_is_sealed(&p), "connect rules are sealed by default");
        ASSIGN("X-CgPolicySeal", "no");
        ok(!policy_is_sealed(&p), "X-CgPolicySeal=no opts out");
        ASSIGN("X-CgPolicySeal", "yes");
        ok(policy_is_sealed(&p), "X-CgPolicySeal=yes");
        ASSIGN("X-CgPolicyMode", "audit");
        ok(!policy_is_sealed(&p), "audit mode is not sealed");
        ASSIGN("X-CgPolicyMode", "learn");
        ok(!policy_is_sealed(&p), "learn mode is not sealed");
        ASSIGN("X-CgPolicyMode", "enforce");
        ok(policy_is_sealed(&p), "back to enforce: sealed");
        ASSIGN("X-CgPolicyBogus", "1");
        ok(!policy_is_sealed(&p), "a unit with an error is not sealed (it fails closed)");
        policy_done(&p);

        policy_init(&p);
        ASSIGN("X-CgPolicyBindDeny", "any");
        ok(policy_is_sealed(&p), "bind rules alone are sealed");
        policy_done(&p);

        /* Learn mode without rules is still policed: every request is recorded. */
        policy_init(&p);
        ASSIGN("X-CgPolicyMode", "learn");
        ok(policy_has_network(&p) && !policy_is_sealed(&p) && !policy_is_empty(&p),
           "learn mode without rules needs the programs, unsealed");
        {
                _cleanup_strv_free_ char **a = NULL;

                ok(policy_to_args(&p, &a) >= 0 && strv_length(a) == 1 && streq(a[0], "--mode=learn"),
                   "learn mode is passed to apply as --mode=learn");
        }
        policy_done(&p);

        policy_init(&p);
        ASSIGN("X-CgPolicyBindDeny", "any");
        ASSIGN("X-CgPolicySeal", "");
        ASSIGN("X-CgPolicySocketAllow", "raw");
        ok(!policy_is_empty(&p), "a policy with socket kinds is not empty");
        policy_done(&p);

        policy_init(&p);
        ASSIGN("X-CgPolicySeal", "no");
        ok(!policy_is_empty(&p), "a policy with only X-CgPolicySeal= is not empty");
        policy_done(&p);
#undef ASSIGN
}

/* X-CgPolicyOnDenial= and X-CgPolicyOnDenialThreshold=. */
static void test_on_denial(void) {
        Policy p, q;
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *why = NULL;
        static const struct {
                const char *in;
                unsigned max;
                uint64_t usec;
                const char *canonical;
        } good[] = {
                { "100/10s",   100, 10000000ULL, "100/10s" },
                { "1/1",       1,   1000000ULL,  "1/1s" },
                { "5/500ms",   5,   500000ULL,   "5/500ms" },
                { "20/100ms",  20,  100000ULL,   "20/100ms" },
                { "7/2sec",    7,   2000000ULL,  "7/2s" },
                { "3/1min",    3,   60000000ULL, "3/60s" },
                { "3/2m",      3,   120000000ULL, "3/120s" },
                { "1000000/24h", 1000000, 86400000000ULL, "1000000/86400s" },
                { "9/1hr",     9,   3600000000ULL, "9/3600s" },
        };
        static const struct {
                const char *in, *error;
        } bad[] = {
                { "100",        "'100' is not N/INTERVAL (e.g. 100/10s)" },
                { "/10s",       "'/10s' is not N/INTERVAL (e.g. 100/10s)" },
                { "0/10s",      "'0' is not a number of denials in 1..1000000" },
                { "1000001/10s", "'1000001' is not a number of denials in 1..1000000" },
                { "-1/10s",     "'-1/10s' is not N/INTERVAL (e.g. 100/10s)" },
                { "10/",        "'' is not an interval (e.g. 10s, 500ms, 1min)" },
                { "10/10 s",    "'10 s' is not an interval (e.g. 10s, 500ms, 1min): the unit must be ms, s, sec, m, "
                                "min, h or hr" },
                { "10/2d",      "'2d' is not an interval (e.g. 10s, 500ms, 1min): the unit must be ms, s, sec, m, "
                                "min, h or hr" },
                { "10/99ms",    "interval '99ms' is out of range 100ms..24h" },
                { "10/25h",     "interval '25h' is out of range 100ms..24h" },
                { "10/0",       "interval '0' is out of range 100ms..24h" },
                { "10/99999999999999999999h", "'99999999999999999999h' is not an interval (e.g. 10s, 500ms, 1min)" },
        };

#define ASSIGN(k, v) policy_assign(&p, &(PolicySource) { "/x/api.service", 4, k }, v)
        policy_init(&p);
        ok(p.on_denial == POLICY_ON_DENIAL_NONE && p.on_denial_max == 100 && p.on_denial_interval_usec == 10000000ULL,
           "on denial: default none, 100/10s");
        for (int i = 0; i < _POLICY_ON_DENIAL_MAX; i++)
                ok(ASSIGN("X-CgPolicyOnDenial", policy_on_denial_to_string(i)) == 0 && (int) p.on_denial == i && !p.error,
                   "X-CgPolicyOnDenial=%s", policy_on_denial_to_string(i));
        ok(ASSIGN("X-CgPolicyOnDenial", "") == 0 && p.on_denial == POLICY_ON_DENIAL_NONE,
           "an empty X-CgPolicyOnDenial= goes back to none");
        ok(ASSIGN("X-CgPolicyOnDenial", "Freeze") == -EINVAL && p.on_denial == POLICY_ON_DENIAL_NONE && p.error &&
           streq(p.error, "/x/api.service:4: X-CgPolicyOnDenial: invalid action 'Freeze': 'none', 'freeze', 'stop' "
                 "or 'kill' is expected"), "a bad action fails closed: '%s'", p.error);
        policy_done(&p);

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_free_ char *t = NULL;

                policy_init(&p);
                ok(ASSIGN("X-CgPolicyOnDenialThreshold", good[i].in) == 0 && !p.error &&
                   p.on_denial_max == good[i].max && p.on_denial_interval_usec == good[i].usec &&
                   policy_on_denial_threshold_to_string(p.on_denial_max, p.on_denial_interval_usec, &t) == 0 &&
                   streq(t, good[i].canonical), "threshold '%s' is %s", good[i].in, good[i].canonical);
                policy_done(&p);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *want = NULL;

                policy_init(&p);
                ok(asprintf(&want, "/x/api.service:4: X-CgPolicyOnDenialThreshold: %s", bad[i].error) > 0 &&
                   ASSIGN("X-CgPolicyOnDenialThreshold", bad[i].in) == -EINVAL && p.error && streq(p.error, want) &&
                   p.on_denial_max == 100 && p.on_denial_interval_usec == 10000000ULL,
                   "threshold '%s' fails closed: '%s'", bad[i].in, p.error);
                policy_done(&p);
        }

        policy_init(&p);
        ok(ASSIGN("X-CgPolicyOnDenialThreshold", "5/1s") == 0 && ASSIGN("X-CgPolicyOnDenialThreshold", "") == 0 &&
           p.on_denial_max == 100 && p.on_denial_interval_usec == 10000000ULL && policy_is_empty(&p),
           "an empty threshold goes back to the default");

        /* Passed to apply, read back from the runtime record: the same policy. */
        ASSIGN("X-CgPolicyConnectDeny", "any");
        ASSIGN("X-CgPolicyOnDenial", "kill");
        ASSIGN("X-CgPolicyOnDenialThreshold", "20/500ms");
        ok(policy_to_args(&p, &args) == 0 && strv_length(args) == 3 && streq(args[0], "--on-denial=kill") &&
           streq(args[1], "--on-denial-threshold=20/500ms") && streq(args[2], "--connect-deny=any"),
           "on denial → args");
        ok(policy_from_args(args, strv_length(args), &q, &why) == 0 && policy_equal(&p, &q), "args → the same policy");
        q.on_denial_max = 21;
        ok(!policy_equal(&p, &q), "policy_equal() compares the threshold");
        policy_done(&q);
        args = strv_free(args);
        p.on_denial = POLICY_ON_DENIAL_NONE;
        p.on_denial_max = 100;
        p.on_denial_interval_usec = 10000000ULL;
        ok(policy_to_args(&p, &args) == 0 && strv_length(args) == 1, "none and the default threshold are not passed");
        policy_done(&p);

        ok(policy_from_args((char *[]) { (char *) "--on-denial=reboot" }, 1, &q, &why) == -EINVAL && why &&
           streq(why, "--on-denial=reboot: 'none', 'freeze', 'stop' or 'kill' is expected"),
           "bad --on-denial=: '%s'", why ?: "(null)");
        why = mfree(why);
        ok(policy_from_args((char *[]) { (char *) "--on-denial-threshold=5" }, 1, &q, &why) == -EINVAL && why &&
           streq(why, "--on-denial-threshold=5: '5' is not N/INTERVAL (e.g. 100/10s)"),
           "bad --on-denial-threshold=: '%s'", why ?: "(null)");
#undef ASSIGN
}

static void test_resource_messages(void) {
        static const struct {
                bool cpu;
                const char *in, *reason;
        } cases[] = {
                { true, "fast", "invalid CPU quota 'fast': a percentage such as 50% or 200% is expected" },
                { true, "50", "invalid CPU quota '50': a percentage such as 50% or 200% is expected" },
                { true, "1.234%", "invalid CPU quota '1.234%': a percentage such as 50% or 200% is expected" },
                { true, "0%", "CPU quota '0%' must be greater than 0%" },
                { true, "0.00%", "CPU quota '0.00%' must be greater than 0%" },
                { true, "21474836.48%", "CPU quota '21474836.48%' is too large" },
                { false, "12X", "invalid memory size '12X': bytes with an optional K, M, G or T suffix, "
                                "a percentage or 'infinity' is expected" },
                { false, "101%", "memory percentage '101%' is out of range: at most 100% is allowed" },
                { false, "0%", "memory percentage '0%' must be greater than 0%" },
                { false, "1.234%", "invalid memory percentage '1.234%': more than 0% and at most 100%, "
                                   "with at most two decimals, is expected" },
                { false, "0", "memory size '0' must be at least 1 byte" },
                { false, "0K", "memory size '0K' must be at least 1 byte" },
                { false, "16E", "memory size '16E' is too large" },
                { false, "18446744073709551615", "memory size '18446744073709551615' is too large" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *out = NULL, *why = NULL;
                int r = cases[i].cpu ? policy_parse_cpu_quota(cases[i].in, &out, &why)
                                     : policy_parse_memory_max(cases[i].in, &out, &why);

                ok(r == -EINVAL && why && streq(why, cases[i].reason), "%s '%s': '%s' (got '%s')",
                   cases[i].cpu ? "CPUQuota" : "MemoryMax", cases[i].in, cases[i].reason, why ?: "(accepted)");
        }

        /* The whole message as the generator logs it. */
        Policy p;
        policy_init(&p);
        ok(policy_assign(&p, &(PolicySource) { "/etc/x.service", 4, "X-CgPolicyCPUQuota" }, "fast") == 0 &&
           !p.cpu_quota && !p.error, "a bad CPU quota is ignored without failing the unit");
        policy_done(&p);
}

struct collected {
        char lines[16][160];
        unsigned n;
};

static int collect(const char *filename, unsigned line, const char *section, const char *key,
                   const char *value, void *userdata) {
        struct collected *c = userdata;

        if (c->n < ELEMENTSOF(c->lines))
                snprintf(c->lines[c->n++], sizeof c->lines[0], "%u [%s] %s=%s", line, section, key, value);
        return 0;
}

static void test_unit_file(void) {
        static const char text[] =
                "\xef\xbb\xbf# comment\n"                          /* 1 */
                "[Unit]\n"                                          /* 2 */
                "Description = a test \n"                           /* 3 */
                "\n"                                                /* 4 */
                "[Service]\n"                                       /* 5 */
                "X-CgPolicyBindAllow=tcp:80 \\\n"                   /* 6 */
                "# a comment inside a continuation is skipped\n"   /* 7 */
                "   tcp:443 \\\n"                                   /* 8 */
                "  udp:53\n"                                        /* 9 */
                "; another comment\n"                               /* 10 */
                "ExecStart=/bin/echo a\\\\\n"                       /* 11: escaped backslash, no continuation */
                "NoEquals\n"                                        /* 12 */
                "X-CgPolicyMode=\n"                                 /* 13 */
                "[Broken\n"                                         /* 14 */
                "Key=1\\\n"                                         /* 15: file ends in a continuation */
                "  2";                                              /* 16 */
        static const char *const expected[] = {
                "3 [Unit] Description=a test",
                "6 [Service] X-CgPolicyBindAllow=tcp:80     tcp:443    udp:53",
                "11 [Service] ExecStart=/bin/echo a\\\\",
                "13 [Service] X-CgPolicyMode=",
                "15 [Service] Key=1   2",
        };
        struct collected c = {};
        FILE *f;
        int r;

        f = fmemopen((void *) text, sizeof text - 1, "r");
        r = unit_file_parse("mem.service", f, collect, &c);
        fclose(f);
        ok(r == 0, "unit_file_parse() succeeds");
        ok(c.n == ELEMENTSOF(expected), "%u assignments (expected %zu)", c.n, ELEMENTSOF(expected));
        for (size_t i = 0; i < MIN(c.n, ELEMENTSOF(expected)); i++)
                ok(streq(c.lines[i], expected[i]), "assignment '%s' (got '%s')", expected[i], c.lines[i]);

        c.n = 0;
        r = unit_file_parse("/nonexistent/foo.service", NULL, collect, &c);
        ok(r == -ENOENT, "missing file gives -ENOENT");

        /* An assignment before any section is skipped. */
        static const char text2[] = "Key=1\n[Service]\nA=b\n";
        c.n = 0;
        f = fmemopen((void *) text2, sizeof text2 - 1, "r");
        r = unit_file_parse("mem2.service", f, collect, &c);
        fclose(f);
        ok(r == 0 && c.n == 1 && streq(c.lines[0], "3 [Service] A=b"), "assignment outside a section is skipped");
}

/* Line numbers of errors through the whole chain: file → UnitPolicy → error text. */
static void test_unit_policy_errors(void) {
        static const char text[] =
                "[Unit]\n"                                         /* 1 */
                "Description=x\n"                                  /* 2 */
                "[Service]\n"                                      /* 3 */
                "X-CgPolicyBindAllow=tcp:80 \\\n"                  /* 4 */
                "  tcp:99999\n"                                    /* 5 */
                "ExecStartPre=/bin/a\n"                            /* 6 */
                "ExecStartPre=\n"                                  /* 7 */
                "ExecStartPre=-/bin/b \"x y\"\n"                   /* 8 */
                "ExecStartPre=+/bin/c %n\n"                        /* 9 */
                "Slice=foo.slice\n";                               /* 10 */
        UnitPolicy u;
        FILE *f;

        unit_policy_init(&u, unit_kind_from_path("/etc/systemd/system/foo.service.d/x.conf"));
        ok(u.kind == UNIT_KIND_SERVICE, "kind of a service drop-in");
        f = fmemopen((void *) text, sizeof text - 1, "r");
        ok(unit_policy_load_file(&u, "/etc/foo.service", f) == 0, "load");
        fclose(f);
        ok(u.policy.error && streq(u.policy.error, "/etc/foo.service:4: X-CgPolicyBindAllow: port 99999 is out of range 1..65535"),
           "error on the line the continuation starts: '%s'", u.policy.error);
        ok(u.n_exec_start_pre == 2 && streq(u.exec_start_pre[0], "-/bin/b \"x y\"") && streq(u.exec_start_pre[1], "+/bin/c %n"),
           "ExecStartPre= collected verbatim, reset honoured");
        ok(u.slice && streq(u.slice, "foo.slice"), "Slice= collected");
        unit_policy_done(&u);

        static const char text2[] = "[Unit]\nX-CgPolicyBindDeny=any\n";
        unit_policy_init(&u, unit_kind_from_path("foo.service"));
        f = fmemopen((void *) text2, sizeof text2 - 1, "r");
        ok(unit_policy_load_file(&u, "foo.service", f) == 0, "load");
        fclose(f);
        ok(u.policy.error && streq(u.policy.error, "foo.service:2: X-CgPolicyBindDeny: belongs in the [Service] section, not in [Unit]"),
           "key in the wrong section: '%s'", u.policy.error);
        unit_policy_done(&u);

        static const char text3[] = "[Socket]\nX-CgPolicyBindDeny=any\n";
        unit_policy_init(&u, unit_kind_from_path("foo.socket"));
        f = fmemopen((void *) text3, sizeof text3 - 1, "r");
        ok(unit_policy_load_file(&u, "foo.socket", f) == 0, "load");
        fclose(f);
        ok(u.policy.error && streq(u.policy.error, "foo.socket:2: X-CgPolicyBindDeny: X-CgPolicy keys are supported in service and slice units only"),
           "key in a socket unit: '%s'", u.policy.error);
        unit_policy_done(&u);

        /* Sealing is per service: in a slice (by name, or by section in a file of unknown kind)
         * X-CgPolicySeal= is an error; X-CgPolicySocketAllow= is fine. */
        static const char text4[] = "[Slice]\nX-CgPolicySocketAllow=ping\nX-CgPolicySeal=no\n";
        static const char *const slices[] = { "/etc/systemd/system/batch.slice", "/etc/x.conf" };
        for (size_t i = 0; i < ELEMENTSOF(slices); i++) {
                _cleanup_free_ char *want = NULL;

                unit_policy_init(&u, unit_kind_from_path(slices[i]));
                f = fmemopen((void *) text4, sizeof text4 - 1, "r");
                ok(unit_policy_load_file(&u, slices[i], f) == 0, "load");
                fclose(f);
                ok(asprintf(&want, "%s:3: X-CgPolicySeal: sealing is per service: a slice cannot seal the services "
                            "in it (set X-CgPolicySeal= in the services)", slices[i]) > 0 &&
                   u.policy.error && streq(u.policy.error, want) && u.n_errors == 1 &&
                   u.policy.socket_allow == POLICY_SOCKET_PING,
                   "X-CgPolicySeal= in a slice: '%s'", u.policy.error);
                unit_policy_done(&u);
        }

        ok(unit_kind_from_path("/a/b/foo-.slice.d/10-x.conf") == UNIT_KIND_SLICE, "prefix slice drop-in kind");
        ok(unit_kind_from_path("/a/service.d/10-x.conf") == UNIT_KIND_SERVICE, "type-wide service drop-in kind");
        ok(unit_kind_from_path("foo@.service") == UNIT_KIND_SERVICE, "template kind");
        ok(unit_kind_from_path("x.conf") == UNIT_KIND_UNKNOWN, "bare .conf kind unknown");
}

static void put_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        fputs(text, f);
        fclose(f);
}

/* check_unit_files() with its output in *ret (to free). */
static int check_output(char **paths, size_t n, char **ret) {
        size_t size = 0;
        FILE *f = open_memstream(ret, &size);
        int r = check_unit_files(paths, n, f);

        fclose(f);
        return r;
}

static void test_check(void) {
        char dir[] = "/tmp/test-policy-XXXXXX";
        char good[64], bad[64], res[64], missing[64], optout[64], audit[64], slice[64], conf[64], onlyres[64],
                freeze[64], auditstop[64];
        _cleanup_free_ char *out = NULL, *want = NULL;

        if (!mkdtemp(dir)) {
                ok(false, "mkdtemp");
                return;
        }
        snprintf(good, sizeof good, "%s/good.service", dir);
        snprintf(bad, sizeof bad, "%s/bad.service", dir);
        snprintf(res, sizeof res, "%s/res.slice", dir);
        snprintf(missing, sizeof missing, "%s/missing.service", dir);
        snprintf(optout, sizeof optout, "%s/optout.service", dir);
        snprintf(audit, sizeof audit, "%s/audit.service", dir);
        snprintf(slice, sizeof slice, "%s/batch.slice", dir);
        snprintf(conf, sizeof conf, "%s/x.conf", dir);
        snprintf(onlyres, sizeof onlyres, "%s/onlyres.service", dir);
        snprintf(freeze, sizeof freeze, "%s/freeze.service", dir);
        snprintf(auditstop, sizeof auditstop, "%s/auditstop.service", dir);

        put_file(good, "[Service]\nX-CgPolicyBindAllow=tcp:80\nX-CgPolicyMemoryMax=1G\n");
        put_file(bad, "[Service]\nX-CgPolicyBindAllow=tcp:80\nX-CgPolicyBindAlow=tcp:81\n");
        put_file(res, "[Slice]\nX-CgPolicyCPUQuota=fifty\n");
        put_file(optout, "[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicySeal=off\n");
        put_file(audit, "[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyMode=audit\n");
        put_file(slice, "[Slice]\nX-CgPolicyConnectDeny=any\n");
        put_file(conf, "[Slice]\nX-CgPolicyConnectDeny=any\n");
        put_file(onlyres, "[Service]\nX-CgPolicyMemoryMax=1G\nX-CgPolicySeal=yes\n");
        put_file(freeze, "[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicySeal=no\nX-CgPolicyOnDenial=freeze\n");
        put_file(auditstop, "[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyMode=audit\nX-CgPolicyOnDenial=stop\n"
                 "X-CgPolicyOnDenialThreshold=3/1min\n");

        ok(check_output((char *[]) { good }, 1, &out) == 0, "check: good file passes");
        ok(asprintf(&want, "%s: sealed: ProtectControlGroups=yes InaccessiblePaths=-" CGPOLICY_BPFFS_MOUNT " "
                    "InaccessiblePaths=-" CGPOLICY_RUNTIME_DIR " CapabilityBoundingSet=~CAP_SYS_ADMIN CAP_BPF CAP_PERFMON "
                    "CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_PTRACE CAP_SYS_MODULE CAP_SYS_RAWIO "
                    "(X-CgPolicySeal=no opts out)\n", good) > 0 && streq(out, want),
           "check: a service with rules is sealed, and check says what that adds");
        out = mfree(out);
        want = mfree(want);

        ok(check_output((char *[]) { optout, audit, slice, conf, onlyres }, 5, &out) == 0, "check: more good files pass");
        ok(asprintf(&want, "%s: not sealed (X-CgPolicySeal=no)\n%s: not sealed (audit mode)\n"
                    "%s: not sealed (a slice: sealing is per service)\n"
                    "%s: not sealed (a slice: sealing is per service)\n", optout, audit, slice, conf) > 0 &&
           streq(out, want), "check: not sealed, and why; nothing for a file without network rules");
        if (!streq(out, want))
                diag("got: %s", out);
        out = mfree(out);
        want = mfree(want);

        ok(check_output((char *[]) { freeze, auditstop }, 2, &out) == 0, "check: on-denial files pass");
        ok(asprintf(&want, "%s: not sealed (X-CgPolicySeal=no)\n"
                    "%s: on denial: freeze when denied more than 100/10s (by cgpolicy-monitor.service)\n"
                    "%s: not sealed (audit mode)\n"
                    "%s: on denial: stop when denied more than 3/60s (by cgpolicy-monitor.service); audit mode: "
                    "logged, not taken\n", freeze, freeze, auditstop, auditstop) > 0 && streq(out, want),
           "check: shows the action on denial and its threshold");
        if (!streq(out, want))
                diag("got: %s", out);
        out = mfree(out);
        want = mfree(want);

        ok(check_output((char *[]) { good, bad }, 2, &out) == -EINVAL && startswith(out, good) && !strstr(out, bad),
           "check: unknown key fails, and the failing file gets no seal line");
        out = mfree(out);
        ok(check_output((char *[]) { res }, 1, &out) == -EINVAL, "check: a bad CPU quota is an error for check");
        out = mfree(out);
        ok(check_output((char *[]) { missing, bad }, 2, &out) == -ENOENT, "check: unreadable file gives -errno");

        unlink(good);
        unlink(bad);
        unlink(res);
        unlink(optout);
        unlink(audit);
        unlink(slice);
        unlink(conf);
        unlink(onlyres);
        unlink(freeze);
        unlink(auditstop);
        rmdir(dir);
}

static int check_output_root(char **paths, size_t n, const char *root, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        r = check_unit_files_full(paths, n, root, f);
        fclose(f);
        *ret = TAKE_PTR(buf);
        return r;
}

/* What check says of name rules, on a host whose lookups are seen and on one whose are not. */
static void test_check_names(void) {
        char dir[] = "/tmp/test-policy-names-XXXXXX";
        char names[128], noresolver[128], nodeny[128], etc[128], nss[128];
        _cleanup_free_ char *out = NULL, *want = NULL;
        static const char line[] = " (the addresses the unit's own DNS lookups over UDP answer, for the answer's TTL, 5s..1h)\n";

        if (!mkdtemp(dir)) {
                ok(false, "mkdtemp");
                return;
        }
        snprintf(names, sizeof names, "%s/names.service", dir);
        snprintf(noresolver, sizeof noresolver, "%s/noresolver.service", dir);
        snprintf(nodeny, sizeof nodeny, "%s/nodeny.service", dir);
        snprintf(etc, sizeof etc, "%s/etc", dir);
        snprintf(nss, sizeof nss, "%s/etc/nsswitch.conf", dir);
        (void) mkdir(etc, 0755);

        put_file(names, "[Service]\nX-CgPolicyConnectAllow=API.example.com:443 *.pool.ntp.org:udp:123 udp:[::1]:53 "
                 "127.0.0.53:53\nX-CgPolicyConnectDeny=any\nX-CgPolicySeal=no\n");
        put_file(noresolver, "[Service]\nX-CgPolicyConnectAllow=api.example.com:443\nX-CgPolicyConnectDeny=any\n"
                 "X-CgPolicySeal=no\n");
        put_file(nodeny, "[Service]\nX-CgPolicyConnectAllow=api.example.com:443\nX-CgPolicySeal=no\n");

        put_file(nss, "passwd: files\nhosts:          files myhostname dns\n");
        ok(check_output_root((char *[]) { names, noresolver, nodeny }, 3, dir, &out) == 0, "check: name rules pass");
        ok(asprintf(&want, "%s: not sealed (X-CgPolicySeal=no)\n%s: names: api.example.com:443 udp:*.pool.ntp.org:123%s"
                    "%s: not sealed (X-CgPolicySeal=no)\n%s: names: api.example.com:443%s"
                    "%s: names: no connect allow rule allows udp port 53: the unit can ask no resolver, the name rules "
                    "allow nothing\n"
                    "%s: not sealed (X-CgPolicySeal=no)\n%s: names: api.example.com:443%s"
                    "%s: names: no X-CgPolicyConnectDeny=: every connect is allowed anyway\n",
                    names, names, line, noresolver, noresolver, line, noresolver, nodeny, nodeny, line, nodeny) > 0 &&
           streq(out, want), "check: lists the name rules, says when they can allow nothing");
        if (!streq(out, want))
                diag("got: %s", out);
        out = mfree(out);
        want = mfree(want);

        put_file(nss, "hosts: files resolve [!UNAVAIL=return] dns\n");
        ok(check_output_root((char *[]) { names }, 1, dir, &out) == 0 &&
           asprintf(&want, "%s: not sealed (X-CgPolicySeal=no)\n%s: names: api.example.com:443 udp:*.pool.ntp.org:123%s"
                    "%s: names: lookups not seen on this host: 'resolve' before 'dns' on the hosts line of /etc/nsswitch.conf: glibc asks "
                    "systemd-resolved over its Unix socket, the unit sends no DNS query; the name rules allow nothing\n",
                    names, names, line, names) > 0 && streq(out, want),
           "check: nss-resolve before dns: the lookups are not seen, the rules allow nothing");
        if (!streq(out, want))
                diag("got: %s", out);

        unlink(names);
        unlink(noresolver);
        unlink(nodeny);
        unlink(nss);
        rmdir(etc);
        rmdir(dir);
}

static void test_escape(void) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "--bind-allow=tcp:80", "--bind-allow=tcp:80" },
                { "", "\"\"" },
                { "100%", "100%%" },
                { "$HOME", "$$HOME" },
                { "a b", "\"a b\"" },
                { "--error=/etc/x.service:3: X-CgPolicyMode: invalid mode 'a\"b'",
                  "\"--error=/etc/x.service:3: X-CgPolicyMode: invalid mode 'a\\\"b'\"" },
                { "back\\slash", "\"back\\\\slash\"" },
                { "tab\there", "\"tab\\there\"" },
                { "nl\nx", "\"nl\\nx\"" },
                { "bell\a", "\"bell\\x07\"" },
                { ";", "\";\"" },
                { "50% of $X", "\"50%% of $$X\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *o = NULL;

                int r = exec_escape_arg(cases[i].in, &o);

                ok(r == 0 && streq(o, cases[i].out), "escape case %zu → %s (got %s)", i, cases[i].out, o ?: "(null)");
        }
}

static void test_args(void) {
        Policy p, q;
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *why = NULL;
        static const char *const expected[] = {
                "--mode=audit",
                "--socket-allow=ping",
                "--socket-allow=udplite",
                "--socket-allow=other",
                "--bind-allow=tcp:8080",
                "--bind-allow=[fd00::/8]:443",
                "--connect-allow=tcp:443",
                "--connect-deny=any",
        };

        policy_init(&p);
#define ASSIGN(k, v) policy_assign(&p, &(PolicySource) { "a.service", 1, k }, v)
        ASSIGN("X-CgPolicyBindAllow", "tcp:8080 ipv6:[fd00::1/8]:443");
        ASSIGN("X-CgPolicyConnectDeny", "any");
        ASSIGN("X-CgPolicyConnectAllow", "tcp:443");
        ASSIGN("X-CgPolicyMode", "audit");
        ASSIGN("X-CgPolicySocketAllow", "other ping udplite ping");
        ASSIGN("X-CgPolicySeal", "no");
#undef ASSIGN
        ok(policy_to_args(&p, &args) == 0 && strv_length(args) == ELEMENTSOF(expected), "policy → %zu args", strv_length(args));
        for (size_t i = 0; args && i < MIN(strv_length(args), ELEMENTSOF(expected)); i++)
                ok(streq(args[i], expected[i]), "arg %zu is '%s' (got '%s')", i, expected[i], args[i]);
        ok(policy_from_args(args, strv_length(args), &q, &why) == 0, "args → policy");
        ok(!policy_equal(&p, &q) && q.seal == -1, "the seal is not an argument of apply");
        q.seal = p.seal;
        ok(policy_equal(&p, &q), "policy → args → policy is the same policy (but the seal)");
        q.socket_allow = 0;
        ok(!policy_equal(&p, &q), "policy_equal() compares the socket kinds");
        policy_done(&q);
        args = strv_free(args);

        /* Every kind: five options, never "any". */
        p.socket_allow = POLICY_SOCKET_ALL;
        p.mode = POLICY_MODE_ENFORCE;
        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                for (int a = 0; a < _POLICY_ACTION_MAX; a++)
                        policy_reset_rules(&p, d, a);
        ok(policy_to_args(&p, &args) == 0 && strv_length(args) == 5 &&
           streq(args[0], "--socket-allow=ping") && streq(args[1], "--socket-allow=raw") &&
           streq(args[2], "--socket-allow=udplite") && streq(args[3], "--socket-allow=sctp") &&
           streq(args[4], "--socket-allow=other"), "all socket kinds: five options in the canonical order");
        args = strv_free(args);
        policy_init(&q);
        ok(policy_arg_parse(&q, "--socket-allow=any", NULL) == 1 && q.socket_allow == POLICY_SOCKET_ALL,
           "--socket-allow=any is every kind");
        policy_done(&q);

        /* The error form. */
        policy_done(&p);
        policy_init(&p);
        policy_assign(&p, &(PolicySource) { "a.service", 3, "X-CgPolicyBogus" }, "1");
        ok(policy_to_args(&p, &args) == 0 && strv_length(args) == 1 && startswith(args[0], "--error=a.service:3: X-CgPolicyBogus: "),
           "error policy → one --error= arg");
        ok(policy_from_args(args, 1, &q, NULL) == 0 && policy_equal(&p, &q), "error round-trips");
        policy_done(&q);
        policy_done(&p);

        int r = policy_from_args((char *[]) { (char *) "--bind-allow=tcp:0" }, 1, &q, &why);
        ok(r == -EINVAL && why && streq(why, "--bind-allow=tcp:0: port 0 is out of range 1..65535"),
           "bad arg: '%s'", why ?: "(null)");
        why = mfree(why);
        r = policy_from_args((char *[]) { (char *) "--unit=foo" }, 1, &q, &why);
        ok(r == -EINVAL && why && streq(why, "unknown argument '--unit=foo'"), "unknown arg: '%s'", why ?: "(null)");
        why = mfree(why);
        r = policy_from_args((char *[]) { (char *) "--mode=loud" }, 1, &q, &why);
        ok(r == -EINVAL && why && streq(why, "--mode=loud: 'enforce', 'audit' or 'learn' is expected"),
           "bad mode: '%s'", why ?: "(null)");
        why = mfree(why);
        r = policy_from_args((char *[]) { (char *) "--socket-allow=icmp" }, 1, &q, &why);
        ok(r == -EINVAL && why && streq(why, "--socket-allow=icmp: 'ping', 'raw', 'udplite', 'sctp', 'other' or "
                                        "'any' is expected"), "bad socket kind: '%s'", why ?: "(null)");
        why = mfree(why);
        r = policy_from_args((char *[]) { (char *) "--seal=no" }, 1, &q, &why);
        ok(r == -EINVAL, "--seal= is not an argument of apply");
        policy_done(&q);
        policy_init(&q);
        ok(policy_arg_parse(&q, "--slice=x.slice", NULL) == 0 && policy_is_empty(&q), "non-policy arg returns 0, untouched");
        policy_done(&q);
}

/* Random rules, built as text from random parts; the verdict of the parsed policy is compared
 * with a reading of those parts that does not go through the parser or the matcher. */
typedef struct TextRule {
        int family, protocol;   /* 0 = unspecified */
        bool any, has_addr;
        uint8_t addr[16];
        unsigned plen;
        unsigned lo, hi;        /* 0 = all ports */
        char text[128];
} TextRule;

static unsigned rnd(unsigned n) {
        return (unsigned) random() % n;
}

static void random_rule(TextRule *t) {
        char *o = t->text;

        *t = (TextRule) {};
        o = t->text;
        if (rnd(12) == 0) {
                t->any = true;
                strcpy(t->text, "any");
                return;
        }
        t->has_addr = rnd(2);
        t->family = t->has_addr ? (rnd(2) ? AF_INET : AF_INET6) : (int[]) { 0, AF_INET, AF_INET6 }[rnd(3)];
        t->protocol = (int[]) { 0, IPPROTO_TCP, IPPROTO_UDP }[rnd(3)];
        if (t->family && (!t->has_addr || rnd(2)))
                o += sprintf(o, "%s:", t->family == AF_INET ? "ipv4" : "ipv6");
        if (t->protocol)
                o += sprintf(o, "%s:", t->protocol == IPPROTO_TCP ? "tcp" : "udp");
        if (t->has_addr) {
                /* Small address space so that random requests hit the rules. */
                if (t->family == AF_INET) {
                        t->addr[0] = 10;
                        t->addr[3] = (uint8_t) rnd(8);
                        t->plen = (unsigned[]) { 0, 8, 29, 30, 31, 32 }[rnd(6)];
                        o += sprintf(o, "10.0.0.%u/%u", t->addr[3], t->plen);
                } else {
                        t->addr[0] = 0xfd;
                        t->addr[15] = (uint8_t) rnd(8);
                        t->plen = (unsigned[]) { 0, 8, 125, 126, 127, 128 }[rnd(6)];
                        o += sprintf(o, "[fd00::%x/%u]", t->addr[15], t->plen);
                }
        }
        if (!t->has_addr || rnd(2)) {
                t->lo = 1 + rnd(10);
                t->hi = rnd(2) ? t->lo : t->lo + rnd(5);
                if (t->has_addr)
                        *o++ = ':';
                if (t->lo == t->hi)
                        o += sprintf(o, "%u", t->lo);
                else
                        o += sprintf(o, "%u-%u", t->lo, t->hi);
        }
        *o = 0;
        if (o == t->text)
                strcpy(t->text, "any");
}

static bool text_rule_matches(const TextRule *t, int family, int protocol, const uint8_t *addr, unsigned port) {
        if (t->any)
                return true;
        if (t->family && t->family != family)
                return false;
        if (t->protocol && t->protocol != protocol)
                return false;
        if (t->lo && (port < t->lo || port > t->hi))
                return false;
        if (t->has_addr)
                for (unsigned bit = 0; bit < t->plen; bit++) {
                        unsigned byte = bit / 8, shift = 7 - bit % 8;
                        if (((addr[byte] >> shift) & 1) != ((t->addr[byte] >> shift) & 1))
                                return false;
                }
        return true;
}

static void test_random(void) {
        unsigned mismatches = 0, checked = 0;

        srandom(4711);
        for (unsigned round = 0; round < 300; round++) {
                TextRule rules[2][2][4];
                unsigned n[2][2];
                Policy p;

                policy_init(&p);
                for (int d = 0; d < 2; d++)
                        for (int a = 0; a < 2; a++) {
                                char value[600] = "";

                                n[d][a] = rnd(4);
                                for (unsigned i = 0; i < n[d][a]; i++) {
                                        random_rule(&rules[d][a][i]);
                                        strcat(value, " ");
                                        strcat(value, rules[d][a][i].text);
                                }
                                const char *key = (const char *[]) { "X-CgPolicyBindAllow", "X-CgPolicyBindDeny",
                                                                     "X-CgPolicyConnectAllow", "X-CgPolicyConnectDeny" }[d * 2 + a];
                                if (policy_assign(&p, &(PolicySource) { "r", round, key }, value) < 0) {
                                        diag("rejected: %s=%s (%s)", key, value, p.error);
                                        mismatches++;
                                }
                        }

                for (unsigned q = 0; q < 200; q++) {
                        int d = rnd(2), family = rnd(2) ? AF_INET : AF_INET6;
                        int protocol = rnd(2) ? IPPROTO_TCP : IPPROTO_UDP;
                        unsigned port = rnd(13);
                        uint8_t addr[16] = {};
                        bool expect = true, got;

                        if (family == AF_INET) {
                                addr[0] = rnd(4) ? 10 : 11;
                                addr[3] = (uint8_t) rnd(8);
                        } else {
                                addr[0] = rnd(4) ? 0xfd : 0xfe;
                                addr[15] = (uint8_t) rnd(8);
                        }

                        if (!(d == POLICY_BIND && port == 0)) {
                                bool allowed = false, denied = false;
                                for (unsigned i = 0; i < n[d][0]; i++)
                                        allowed = allowed || text_rule_matches(&rules[d][0][i], family, protocol, addr, port);
                                for (unsigned i = 0; i < n[d][1]; i++)
                                        denied = denied || text_rule_matches(&rules[d][1][i], family, protocol, addr, port);
                                expect = allowed || !denied;
                        }
                        got = policy_allows(&p, d, family, protocol, addr, (uint16_t) port);
                        checked++;
                        if (got != expect) {
                                mismatches++;
                                if (mismatches < 5)
                                        diag("mismatch: round %u dir %d fam %d proto %d port %u: got %d expected %d",
                                             round, d, family, protocol, port, got, expect);
                        }
                }
                policy_done(&p);
        }
        ok(mismatches == 0, "random policies: %u verdicts agree with the independent reading (%u mismatches)",
           checked, mismatches);
}

int main(void) {
        /* Errors are logged on purpose; keep the TAP stream readable. */
        log_set_max_level(LOG_CRIT);

        test_grammar();
        test_names();
        test_matches();
        test_assign();
        test_socket_and_seal();
        test_on_denial();
        test_resource_messages();
        test_unit_file();
        test_unit_policy_errors();
        test_check();
        test_check_names();
        test_escape();
        test_args();
        test_random();

        return tap_done();
}
