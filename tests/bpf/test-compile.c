/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The policy compiler against the reference semantics: random policies are compiled into map
 * entries, and random requests are judged by the very matching code of the BPF programs
 * (bpf/cgpolicy-match.h) over an emulation of the kernel's longest-prefix-match tries, and by
 * policy_allows() of the parser library. Every verdict must agree. Also a few fixed cases
 * whose expected outcome is written down by hand. */

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy-args.h"
#include "policy-compile.h"
#include "tap.h"

typedef struct Emu {
        const CompiledPolicy *c;
        unsigned exact_hits;    /* lookups the exact port map answered */
} Emu;

/* The exact port map (cgp_port_exact) holds the full-length entries of the port trie; a hash
 * lookup compares the whole key. */
static const struct cgp_match *emu_lookup_exact(Emu *emu, const struct cgp_port_key *k) {
        for (size_t i = 0; i < emu->c->n_ports; i++) {
                const CgpPortEntry *e = &emu->c->ports[i];

                if (e->key.prefixlen == CGP_PORT_KEY_FIXED_BITS + 16 && memcmp(&e->key, k, sizeof(*k)) == 0) {
                        emu->exact_hits++;
                        return &e->value;
                }
        }
        return NULL;
}

static const void *emu_lookup(const void *entries, size_t n, size_t entry_size, size_t key_size, const void *key) {
        const uint8_t *best = NULL;
        uint32_t best_len = 0;

        for (size_t i = 0; i < n; i++) {
                const uint8_t *e = (const uint8_t *) entries + i * entry_size;
                uint32_t len;

                if (!cgp_lpm_covers(e, key, key_size))
                        continue;
                memcpy(&len, e, 4);
                if (!best || len > best_len) {
                        best = e;
                        best_len = len;
                }
        }
        return best ? best + key_size : NULL;
}

#define CGP_LOOKUP_PORT_EXACT(lctx, k) emu_lookup_exact((Emu *) (lctx), (k))
#define CGP_LOOKUP_PORT(lctx, k)                                                                        \
        ((const struct cgp_match *) emu_lookup(((Emu *) (lctx))->c->ports, ((Emu *) (lctx))->c->n_ports,   \
                                               sizeof(CgpPortEntry), sizeof(struct cgp_port_key), (k)))
#define CGP_LOOKUP_ADDR(lctx, k)                                                                        \
        ((const struct cgp_addr_value *) emu_lookup(((Emu *) (lctx))->c->addrs, ((Emu *) (lctx))->c->n_addrs, \
                                                    sizeof(CgpAddrEntry), sizeof(struct cgp_addr_key), (k)))
#define CGP_LOOKUP_PORTSET(lctx, k)                                                                     \
        ((const struct cgp_match *) emu_lookup(((Emu *) (lctx))->c->portsets, ((Emu *) (lctx))->c->n_portsets, \
                                               sizeof(CgpPortsetEntry), sizeof(struct cgp_portset_key), (k)))
#include "cgpolicy-match.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n) {
        /* xorshift64*, deterministic so that a failure can be reproduced. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return (uint32_t) ((rng_state * 0x2545F4914F6CDD1DULL) >> 32) % n;
}

static const uint16_t interesting_ports[] = { 0, 1, 2, 3, 22, 53, 79, 80, 81, 443, 1023, 1024, 8000, 8080, 8100, 65534, 65535 };

static uint16_t random_port(void) {
        if (rnd(3) == 0)
                return (uint16_t) rnd(65536);
        return interesting_ports[rnd(ELEMENTSOF(interesting_ports))];
}

/* Addresses from a small universe, so that rules and requests overlap often. */
static void random_addr(int family, uint8_t a[16]) {
        memset(a, 0, 16);
        if (family == AF_INET) {
                a[0] = rnd(4) == 0 ? 192 : 10;
                a[1] = (uint8_t) rnd(3);
                a[2] = (uint8_t) rnd(3);
                a[3] = (uint8_t) (rnd(2) ? rnd(4) : rnd(256));
        } else {
                a[0] = 0xfd;
                a[1] = (uint8_t) rnd(3);
                a[7] = (uint8_t) rnd(3);
                a[15] = (uint8_t) rnd(4);
                if (rnd(8) == 0)
                        a[0] = 0x20, a[1] = 0x01;
        }
}

static void random_rule(PolicyRule *r) {
        memset(r, 0, sizeof(*r));
        if (rnd(20) == 0) {
                r->any = true;
                return;
        }
        r->family = rnd(3) == 0 ? 0 : rnd(2) ? AF_INET : AF_INET6;
        r->protocol = rnd(3) == 0 ? 0 : rnd(2) ? IPPROTO_TCP : IPPROTO_UDP;
        if (r->family && rnd(2)) {
                unsigned max = r->family == AF_INET ? 32 : 128;

                r->has_address = true;
                random_addr(r->family, r->address.bytes);
                r->prefixlen = rnd(4) == 0 ? rnd(max + 1) : max - rnd(max / 4 + 1);
                for (unsigned bit = r->prefixlen; bit < max; bit++)
                        r->address.bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
        }
        if (!r->has_address || rnd(2)) {
                uint16_t a, b;

                if (rnd(4) == 0 && !r->has_address && !r->family && !r->protocol)
                        return;         /* "ipv4"/"any"-like without ports is covered by "any" */
                a = random_port();
                b = rnd(2) ? a : random_port();
                if (a == 0)
                        a = 1;
                if (b == 0)
                        b = 1;
                r->port_min = MIN(a, b);
                r->port_max = MAX(a, b);
        }
}

static int protos[] = { IPPROTO_TCP, IPPROTO_UDP, 132 /* SCTP */ };

/* One random request, judged both ways. Returns true when both agree. */
static bool check_request(const Policy *p, const CompiledPolicy *c, char *what, size_t what_size) {
        int d = rnd(2), family = rnd(2) ? AF_INET : AF_INET6, protocol = protos[rnd(3)];
        uint8_t addr[16];
        uint16_t port = random_port();
        bool mapped = false, reference, compiled;
        __u32 words[4];
        struct cgp_request req;
        Emu emu = { .c = c };
        char s[INET6_ADDRSTRLEN];

        random_addr(family, addr);
        if (family == AF_INET && rnd(3) == 0)
                mapped = true;          /* an AF_INET6 socket with ::ffff:a.b.c.d */

        if (family == AF_INET && !mapped) {
                memcpy(&words[0], addr, 4);
                words[1] = words[2] = words[3] = 0;
                cgp_request_init(&req, d == POLICY_BIND ? CGP_DIR_BIND : CGP_DIR_CONNECT, protocol, CGP_AF_INET, words, port);
        } else if (family == AF_INET) {
                uint8_t m[16] = { [10] = 0xff, [11] = 0xff };

                memcpy(m + 12, addr, 4);
                memcpy(words, m, 16);
                cgp_request_init(&req, d == POLICY_BIND ? CGP_DIR_BIND : CGP_DIR_CONNECT, protocol, CGP_AF_INET6, words, port);
        } else {
                memcpy(words, addr, 16);
                cgp_request_init(&req, d == POLICY_BIND ? CGP_DIR_BIND : CGP_DIR_CONNECT, protocol, CGP_AF_INET6, words, port);
        }

        reference = policy_allows(p, d, family, protocol, addr, port);
        if (c->flags & CGP_F_HAS_DIR(req.dir))
                compiled = cgp_policy_allows(&emu, c->policy, c->flags, &req);
        else
                compiled = true;        /* no rules for the direction: nothing to refuse */

        inet_ntop(family, addr, s, sizeof s);
        snprintf(what, what_size, "%s %s%s proto %d port %u: reference %s, compiled %s",
                 d == POLICY_BIND ? "bind" : "connect", mapped ? "::ffff:" : "", s, protocol, port,
                 reference ? "allow" : "deny", compiled ? "allow" : "deny");
        return reference == compiled;
}

static void dump_policy(const Policy *p) {
        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                for (int a = 0; a < _POLICY_ACTION_MAX; a++)
                        for (size_t i = 0; i < p->rules[d][a].n; i++) {
                                _cleanup_free_ char *s = NULL;

                                if (policy_rule_to_string(&p->rules[d][a].rules[i], &s) >= 0)
                                        diag("  %s-%s=%s", policy_direction_to_string(d), policy_action_to_string(a), s);
                        }
}

static void test_random(unsigned n_policies, unsigned max_rules, unsigned n_requests) {
        unsigned failed_policies = 0;

        for (unsigned i = 0; i < n_policies; i++) {
                Policy p;
                CompiledPolicy c = {};
                unsigned n = 1 + rnd(max_rules);
                bool good = true;
                int r;

                policy_init(&p);
                for (unsigned j = 0; j < n; j++) {
                        PolicyRule rule;

                        random_rule(&rule);
                        if (policy_add_rule(&p, rnd(2), rnd(2), &rule) < 0)
                                abort();
                }

                r = policy_compile(&p, 1 + rnd(CGP_MAX_SLOTS - 1), &c);
                if (r < 0) {
                        ok(false, "random policy %u compiles: %s", i, strerror(-r));
                        policy_done(&p);
                        continue;
                }

                for (unsigned k = 0; k < n_requests; k++) {
                        char what[256];

                        if (!check_request(&p, &c, what, sizeof what)) {
                                if (failed_policies < 3) {
                                        diag("policy %u disagrees: %s", i, what);
                                        dump_policy(&p);
                                }
                                good = false;
                                break;
                        }
                }
                if (!good)
                        failed_policies++;

                compiled_policy_done(&c);
                policy_done(&p);
        }
        ok(failed_policies == 0, "%u random policies of up to %u rules, %u requests each: compiled verdicts equal policy_allows() (%u disagree)",
           n_policies, max_rules, n_requests, failed_policies);
}

static Policy parse(const char *const *args) {
        Policy p;
        size_t n = 0;
        _cleanup_free_ char *reason = NULL;

        while (args[n])
                n++;
        if (policy_from_args((char * const *) args, n, &p, &reason) < 0) {
                diag("cannot parse: %s", reason ?: "?");
                abort();
        }
        return p;
}

static bool judge_hits(const CompiledPolicy *c, int dir, int protocol, const char *addr, uint16_t port,
                       unsigned *ret_exact_hits) {
        struct cgp_request req;
        Emu emu = { .c = c };
        bool allowed;
        __u32 w[4] = {};
        int family = strchr(addr, ':') ? CGP_AF_INET6 : CGP_AF_INET;

        if (inet_pton(family, addr, w) != 1)
                abort();
        cgp_request_init(&req, dir, protocol, family, w, port);
        if (!(c->flags & CGP_F_HAS_DIR(dir)))
                return true;
        allowed = cgp_policy_allows(&emu, c->policy, c->flags, &req);
        if (ret_exact_hits)
                *ret_exact_hits = emu.exact_hits;
        return allowed;
}

static bool judge(const CompiledPolicy *c, int dir, int protocol, const char *addr, uint16_t port) {
        return judge_hits(c, dir, protocol, addr, port, NULL);
}

static void test_fixed(void) {
        static const char *const args[] = {
                "--bind-allow=tcp:8080", "--bind-deny=any",
                "--connect-allow=tcp:443", "--connect-allow=10.0.0.0/8:5432",
                "--connect-allow=[fd00::/8]:8000-8100", "--connect-deny=any", NULL,
        };
        Policy p = parse(args);
        CompiledPolicy c = {};

        ok(policy_compile(&p, 7, &c) == 0, "fixed policy compiles");
        ok(judge(&c, CGP_DIR_BIND, IPPROTO_TCP, "0.0.0.0", 8080), "bind tcp 8080 allowed");
        ok(!judge(&c, CGP_DIR_BIND, IPPROTO_UDP, "0.0.0.0", 8080), "bind udp 8080 refused");
        ok(judge(&c, CGP_DIR_BIND, IPPROTO_UDP, "::", 0), "bind port 0 allowed despite deny any");
        ok(!judge(&c, CGP_DIR_BIND, 132, "::", 8080), "bind sctp 8080 refused by deny any");
        ok(judge(&c, CGP_DIR_CONNECT, IPPROTO_TCP, "127.0.0.1", 443), "connect tcp 443 allowed");
        ok(judge(&c, CGP_DIR_CONNECT, IPPROTO_TCP, "::ffff:10.1.2.3", 5432), "v4-mapped connect to 10/8:5432 allowed");
        ok(!judge(&c, CGP_DIR_CONNECT, IPPROTO_TCP, "::ffff:11.1.2.3", 5432), "v4-mapped connect to 11.1.2.3:5432 refused");
        ok(judge(&c, CGP_DIR_CONNECT, IPPROTO_UDP, "fd12::1", 8050), "udp to [fd12::1]:8050 allowed");
        ok(!judge(&c, CGP_DIR_CONNECT, IPPROTO_UDP, "fd12::1", 8101), "udp to [fd12::1]:8101 refused");
        ok(!judge(&c, CGP_DIR_CONNECT, IPPROTO_UDP, "fe80::1", 8050), "udp to [fe80::1]:8050 refused");
        ok(!judge(&c, CGP_DIR_CONNECT, IPPROTO_UDP, "127.0.0.1", 443), "udp 443 refused (rule is tcp)");
        {
                unsigned hits = 0;
                bool allowed;

                allowed = judge_hits(&c, CGP_DIR_CONNECT, IPPROTO_TCP, "::1", 443, &hits);
                ok(allowed && hits == 1, "connect tcp 443: allowed, answered by the exact port lookup (%u hit)", hits);
                allowed = judge_hits(&c, CGP_DIR_CONNECT, IPPROTO_TCP, "::1", 444, &hits);
                ok(!allowed && hits == 0, "connect tcp 444: no exact entry, the trie's \"any\" block refuses (%u hits)", hits);
        }
        compiled_policy_done(&c);
        policy_done(&p);
}

static void block_count(uint16_t port, unsigned plen, void *userdata) {
        uint32_t *covered = userdata;

        *covered += 1u << (16 - plen);
        (void) port;
}

static void test_blocks(void) {
        uint32_t covered = 0;
        size_t n;

        n = cgp_port_blocks(1, 65535, block_count, &covered);
        ok(n == 16 && covered == 65535, "1-65535 splits into 16 blocks covering 65535 ports (%zu, %u)", n, covered);
        covered = 0;
        n = cgp_port_blocks(8000, 8100, block_count, &covered);
        ok(covered == 101, "8000-8100 covers 101 ports in %zu blocks", n);
        covered = 0;
        n = cgp_port_blocks(443, 443, block_count, &covered);
        ok(n == 1 && covered == 1, "443 is one block");
}

static void test_big(void) {
        Policy p;
        CompiledPolicy c = {};
        PolicyRule r = { .protocol = IPPROTO_TCP };
        int k;

        policy_init(&p);
        for (unsigned i = 0; i < 10000; i++) {
                r.port_min = r.port_max = (uint16_t) (10000 + i);
                if (policy_add_rule(&p, POLICY_CONNECT, POLICY_ALLOW, &r) < 0)
                        abort();
        }
        r = (PolicyRule) { .any = true };
        policy_add_rule(&p, POLICY_CONNECT, POLICY_DENY, &r);
        k = policy_compile(&p, 3, &c);
        ok(k == 0 && c.n_ports <= 2 * 10000 + 6, "10,000 tcp port rules (both families) compile into %zu entries", c.n_ports);
        {
                unsigned hits = 0;
                bool allowed = judge_hits(&c, CGP_DIR_CONNECT, IPPROTO_TCP, "127.0.0.1", 19999, &hits);

                ok(allowed && hits == 1, "port 19999 allowed among 10,000 rules, by the exact port lookup (%u hit)", hits);
        }
        ok(!judge(&c, CGP_DIR_CONNECT, IPPROTO_TCP, "127.0.0.1", 20000), "port 20000 refused among 10,000 rules");
        compiled_policy_done(&c);
        policy_done(&p);
}

int main(void) {
        test_blocks();
        test_fixed();
        test_big();
        test_random(3000, 6, 300);
        test_random(300, 40, 1000);
        return tap_done();
}
