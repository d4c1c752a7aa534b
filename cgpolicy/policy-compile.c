/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "policy-compile.h"

#define new_array(t, n) ((t *) reallocarray(NULL, (n), sizeof(t)))

typedef struct PortRule {
        uint8_t proto;          /* CGP_PROTO_* */
        uint8_t plen;           /* 0..16 */
        uint16_t port;          /* host order, low 16-plen bits zero */
        uint8_t bits;           /* CGP_MATCH_* */
} PortRule;

typedef struct AddrNode {
        struct cgp_addr_key key;        /* first: the generic comparator looks at it */
        PortRule *own;
        size_t n_own;
        PortRule *eff;
        size_t n_eff;
} AddrNode;

bool cgp_lpm_covers(const void *prefix, const void *key, size_t key_size) {
        uint32_t plen, klen;
        const uint8_t *a = (const uint8_t *) prefix + 4, *b = (const uint8_t *) key + 4;

        memcpy(&plen, prefix, 4);
        memcpy(&klen, key, 4);
        if (plen > klen || plen > (key_size - 4) * 8)
                return false;

        for (uint32_t i = 0; plen > 0; i++) {
                unsigned bits = MIN(plen, 8u);
                uint8_t mask = (uint8_t) (0xff00u >> bits);

                if ((a[i] & mask) != (b[i] & mask))
                        return false;
                plen -= bits;
        }
        return true;
}

size_t cgp_port_blocks(uint16_t lo, uint16_t hi, void (*cb)(uint16_t port, unsigned plen, void *userdata), void *userdata) {
        uint32_t p = lo, end = (uint32_t) hi + 1;
        size_t n = 0;

        while (p < end) {
                unsigned k = 0;

                /* The largest aligned block starting at p that ends before end. */
                while (k < 16 && (p & ((1u << (k + 1)) - 1)) == 0 && p + (1u << (k + 1)) <= end)
                        k++;
                if (cb)
                        cb((uint16_t) p, 16 - k, userdata);
                n++;
                p += 1u << k;
        }
        return n;
}

/* Order keys as bit strings (prefixes before what they cover), then by prefix length. */
static int key_compare(const void *a, const void *b, void *userdata) {
        size_t key_size = *(const size_t *) userdata;
        uint32_t la, lb;
        int r;

        r = memcmp((const uint8_t *) a + 4, (const uint8_t *) b + 4, key_size - 4);
        if (r != 0)
                return r;
        memcpy(&la, a, 4);
        memcpy(&lb, b, 4);
        return la < lb ? -1 : la > lb ? 1 : 0;
}

/* Entries {key, struct cgp_match}: sort, merge equal keys, push the bits of covering entries
 * down into the entries they cover. Updates *n. */
static int match_entries_finish(void *entries, size_t *n, size_t entry_size, size_t key_size) {
        _cleanup_free_ size_t *stack = NULL;
        uint8_t *e = entries;
        size_t m = 0, depth = 0;

        if (*n == 0)
                return 0;

        qsort_r(entries, *n, entry_size, key_compare, &key_size);

        for (size_t i = 0; i < *n; i++) {
                if (m > 0 && key_compare(e + (m - 1) * entry_size, e + i * entry_size, &key_size) == 0) {
                        struct cgp_match *dst = (struct cgp_match *) (e + (m - 1) * entry_size + key_size);
                        const struct cgp_match *src = (const struct cgp_match *) (e + i * entry_size + key_size);

                        dst->bits |= src->bits;
                        continue;
                }
                if (m != i)
                        memcpy(e + m * entry_size, e + i * entry_size, entry_size);
                m++;
        }
        *n = m;

        stack = new_array(size_t, m);
        if (!stack)
                return -ENOMEM;

        for (size_t i = 0; i < m; i++) {
                uint8_t *cur = e + i * entry_size;

                while (depth > 0 && !cgp_lpm_covers(e + stack[depth - 1] * entry_size, cur, key_size))
                        depth--;
                if (depth > 0) {
                        const struct cgp_match *up = (const struct cgp_match *) (e + stack[depth - 1] * entry_size + key_size);
                        ((struct cgp_match *) (cur + key_size))->bits |= up->bits;
                }
                stack[depth++] = i;
        }
        return 0;
}

typedef struct Builder {
        uint32_t policy;
        CgpPortEntry *ports;
        size_t n_ports, m_ports;
        AddrNode *addrs;
        size_t n_addrs, m_addrs;
        CgpPortsetEntry *portsets;
        size_t n_portsets, m_portsets;
        uint32_t flags;
        int error;
} Builder;

static void *grow(void *array, size_t *allocated, size_t need, size_t size) {
        size_t m;
        void *n;

        if (need <= *allocated)
                return array;
        m = MAX(need, *allocated * 2);
        m = MAX(m, (size_t) 16);
        n = reallocarray(array, m, size);
        if (!n)
                return NULL;
        *allocated = m;
        return n;
}

#define GROW(array, allocated, need)                                            \
        ({                                                                      \
                void *_g = grow((array), &(allocated), (need), sizeof(*(array))); \
                if (_g)                                                         \
                        (array) = _g;                                           \
                _g != NULL;                                                     \
        })

static void port_key_set(struct cgp_port_key *k, uint32_t policy, uint8_t dir, uint8_t family,
                         uint8_t proto, uint16_t port, unsigned plen) {
        memset(k, 0, sizeof(*k));
        k->prefixlen = CGP_PORT_KEY_FIXED_BITS + plen;
        k->policy = policy;
        k->dir = dir;
        k->family = family;
        k->proto = proto;
        k->port[0] = (uint8_t) (port >> 8);
        k->port[1] = (uint8_t) port;
}

typedef struct BlockList {
        uint16_t port[32];
        uint8_t plen[32];
        size_t n;
} BlockList;

static void block_add(uint16_t port, unsigned plen, void *userdata) {
        BlockList *l = userdata;

        /* A range of 16-bit ports splits into at most 30 blocks. */
        if (l->n < ELEMENTSOF(l->port)) {
                l->port[l->n] = port;
                l->plen[l->n] = (uint8_t) plen;
                l->n++;
        }
}

static void rule_blocks(const PolicyRule *r, BlockList *ret) {
        ret->n = 0;
        if (!r->any && (r->port_min != 0 || r->port_max != 0))
                cgp_port_blocks(r->port_min, r->port_max, block_add, ret);
        else
                block_add(0, 0, ret);
}

static int rule_protos(const PolicyRule *r, uint8_t ret[static CGP_PROTO_MAX]) {
        if (!r->any && r->protocol == IPPROTO_TCP) {
                ret[0] = CGP_PROTO_TCP;
                return 1;
        }
        if (!r->any && r->protocol == IPPROTO_UDP) {
                ret[0] = CGP_PROTO_UDP;
                return 1;
        }
        ret[0] = CGP_PROTO_TCP;
        ret[1] = CGP_PROTO_UDP;
        ret[2] = CGP_PROTO_OTHER;
        return 3;
}

static int rule_families(const PolicyRule *r, uint8_t ret[static 2]) {
        if (!r->any && r->family == AF_INET) {
                ret[0] = CGP_AF_INET;
                return 1;
        }
        if (!r->any && r->family == AF_INET6) {
                ret[0] = CGP_AF_INET6;
                return 1;
        }
        ret[0] = CGP_AF_INET;
        ret[1] = CGP_AF_INET6;
        return 2;
}

static int add_port_rule(Builder *b, uint8_t dir, const PolicyRule *r, uint8_t bits) {
        uint8_t fams[2], protos[CGP_PROTO_MAX];
        int nf = rule_families(r, fams), np = rule_protos(r, protos);
        BlockList bl;

        rule_blocks(r, &bl);
        for (int f = 0; f < nf; f++)
                for (int p = 0; p < np; p++)
                        for (size_t i = 0; i < bl.n; i++) {
                                CgpPortEntry *e;

                                if (b->n_ports >= CGP_MAX_TRIE_ENTRIES)
                                        return -E2BIG;
                                if (!GROW(b->ports, b->m_ports, b->n_ports + 1))
                                        return -ENOMEM;
                                e = &b->ports[b->n_ports++];
                                port_key_set(&e->key, b->policy, dir, fams[f], protos[p], bl.port[i], bl.plen[i]);
                                e->value.bits = bits;
                        }
        b->flags |= CGP_F_PORTS(dir);
        return 0;
}

static int add_addr_rule(Builder *b, uint8_t dir, const PolicyRule *r, uint8_t bits) {
        uint8_t protos[CGP_PROTO_MAX];
        int np = rule_protos(r, protos);
        AddrNode *a;
        BlockList bl;

        if (!GROW(b->addrs, b->m_addrs, b->n_addrs + 1))
                return -ENOMEM;
        a = &b->addrs[b->n_addrs++];
        memset(a, 0, sizeof(*a));
        a->key.prefixlen = CGP_ADDR_KEY_FIXED_BITS + r->prefixlen;
        a->key.policy = b->policy;
        a->key.dir = dir;
        a->key.family = r->family == AF_INET ? CGP_AF_INET : CGP_AF_INET6;
        memcpy(a->key.addr, r->address.bytes, r->family == AF_INET ? 4 : 16);

        rule_blocks(r, &bl);
        a->own = new_array(PortRule, (size_t) np * bl.n);
        if (!a->own)
                return -ENOMEM;
        for (int p = 0; p < np; p++)
                for (size_t i = 0; i < bl.n; i++)
                        a->own[a->n_own++] = (PortRule) {
                                .proto = protos[p],
                                .plen = bl.plen[i],
                                .port = bl.port[i],
                                .bits = bits,
                        };
        b->flags |= CGP_F_ADDRS(dir);
        return 0;
}

static int addr_nodes_finish(Builder *b) {
        size_t key_size = sizeof(struct cgp_addr_key), m = 0, depth = 0, total = 0;
        _cleanup_free_ size_t *stack = NULL;

        if (b->n_addrs == 0)
                return 0;

        qsort_r(b->addrs, b->n_addrs, sizeof(AddrNode), key_compare, &key_size);

        /* Merge nodes with the same address and prefix. */
        for (size_t i = 0; i < b->n_addrs; i++) {
                if (m > 0 && key_compare(&b->addrs[m - 1].key, &b->addrs[i].key, &key_size) == 0) {
                        AddrNode *d = &b->addrs[m - 1], *s = &b->addrs[i];
                        PortRule *n = reallocarray(d->own, d->n_own + s->n_own, sizeof(PortRule));

                        if (!n)
                                return -ENOMEM;
                        memcpy(n + d->n_own, s->own, s->n_own * sizeof(PortRule));
                        d->own = n;
                        d->n_own += s->n_own;
                        s->own = mfree(s->own);
                        s->n_own = 0;
                        continue;
                }
                if (m != i) {
                        b->addrs[m] = b->addrs[i];
                        b->addrs[i].own = NULL;
                        b->addrs[i].n_own = 0;
                }
                m++;
        }
        for (size_t i = m; i < b->n_addrs; i++)
                free(b->addrs[i].own);
        b->n_addrs = m;

        /* Push the port rules of covering prefixes down. */
        stack = new_array(size_t, m);
        if (!stack)
                return -ENOMEM;
        for (size_t i = 0; i < m; i++) {
                AddrNode *cur = &b->addrs[i];
                const AddrNode *up;

                while (depth > 0 && !cgp_lpm_covers(&b->addrs[stack[depth - 1]].key, &cur->key, key_size))
                        depth--;
                up = depth > 0 ? &b->addrs[stack[depth - 1]] : NULL;

                cur->n_eff = cur->n_own + (up ? up->n_eff : 0);
                total += cur->n_eff;
                if (total > CGP_MAX_TRIE_ENTRIES)
                        return -E2BIG;
                cur->eff = new_array(PortRule, MAX(cur->n_eff, (size_t) 1));
                if (!cur->eff)
                        return -ENOMEM;
                memcpy(cur->eff, cur->own, cur->n_own * sizeof(PortRule));
                if (up)
                        memcpy(cur->eff + cur->n_own, up->eff, up->n_eff * sizeof(PortRule));
                stack[depth++] = i;
        }

        /* One port set per address entry. */
        for (size_t i = 0; i < m; i++) {
                AddrNode *a = &b->addrs[i];

                if (!GROW(b->portsets, b->m_portsets, b->n_portsets + a->n_eff))
                        return -ENOMEM;
                for (size_t j = 0; j < a->n_eff; j++) {
                        CgpPortsetEntry *e = &b->portsets[b->n_portsets++];

                        memset(e, 0, sizeof(*e));
                        e->key.prefixlen = CGP_PORTSET_KEY_FIXED_BITS + a->eff[j].plen;
                        e->key.policy = b->policy;
                        e->key.portset = (uint32_t) i + 1;
                        e->key.proto = a->eff[j].proto;
                        e->key.port[0] = (uint8_t) (a->eff[j].port >> 8);
                        e->key.port[1] = (uint8_t) a->eff[j].port;
                        e->value.bits = a->eff[j].bits;
                }
        }
        return match_entries_finish(b->portsets, &b->n_portsets, sizeof(CgpPortsetEntry), sizeof(struct cgp_portset_key));
}

static void builder_done(Builder *b) {
        free(b->ports);
        for (size_t i = 0; i < b->n_addrs; i++) {
                free(b->addrs[i].own);
                free(b->addrs[i].eff);
        }
        free(b->addrs);
        free(b->portsets);
}

_Static_assert((unsigned) POLICY_SOCKET_PING == CGP_SOCK_PING && (unsigned) POLICY_SOCKET_RAW == CGP_SOCK_RAW &&
               (unsigned) POLICY_SOCKET_UDPLITE == CGP_SOCK_UDPLITE && (unsigned) POLICY_SOCKET_SCTP == CGP_SOCK_SCTP &&
               (unsigned) POLICY_SOCKET_OTHER == CGP_SOCK_OTHER && (unsigned) POLICY_SOCKET_ALL == CGP_SOCK_ALL,
               "policy.h's socket kinds are cgpolicy-abi.h's");

int policy_compile(const Policy *p, uint32_t policy, CompiledPolicy *ret) {
        _cleanup_(builder_done) Builder b = { .policy = policy };
        CgpAddrEntry *addrs = NULL;
        int r;

        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                for (int a = 0; a < _POLICY_ACTION_MAX; a++) {
                        const PolicyRuleList *l = &p->rules[d][a];
                        uint8_t bits = a == POLICY_ALLOW ? CGP_MATCH_ALLOW : CGP_MATCH_DENY;
                        uint8_t dir = d == POLICY_BIND ? CGP_DIR_BIND : CGP_DIR_CONNECT;

                        for (size_t i = 0; i < l->n; i++) {
                                const PolicyRule *rule = &l->rules[i];

                                if (policy_rule_is_name(rule))
                                        continue;       /* learned in the kernel (cgpolicy-dns.h) */
                                if (rule->has_address && !rule->any)
                                        r = add_addr_rule(&b, dir, rule, bits);
                                else
                                        r = add_port_rule(&b, dir, rule, bits);
                                if (r < 0)
                                        return r;
                        }
                }

        r = match_entries_finish(b.ports, &b.n_ports, sizeof(CgpPortEntry), sizeof(struct cgp_port_key));
        if (r < 0)
                return r;
        r = addr_nodes_finish(&b);
        if (r < 0)
                return r;
        if (b.n_addrs > CGP_MAX_TRIE_ENTRIES || b.n_portsets > CGP_MAX_TRIE_ENTRIES)
                return -E2BIG;

        if (b.n_addrs > 0) {
                addrs = new_array(CgpAddrEntry, b.n_addrs);
                if (!addrs)
                        return -ENOMEM;
                for (size_t i = 0; i < b.n_addrs; i++) {
                        addrs[i].key = b.addrs[i].key;
                        addrs[i].value.portset = (uint32_t) i + 1;
                }
        }

        *ret = (CompiledPolicy) {
                .policy = policy,
                .flags = b.flags | (p->mode == POLICY_MODE_AUDIT ? CGP_F_AUDIT : 0) |
                         (policy_has_network(p) ? CGP_F_SOCKETS : 0) |
                         (policy_n_names(p) > 0 ? CGP_F_NAMES : 0),
                .sockets = p->socket_allow,
                .ports = TAKE_PTR(b.ports),
                .n_ports = b.n_ports,
                .addrs = addrs,
                .n_addrs = b.n_addrs,
                .portsets = TAKE_PTR(b.portsets),
                .n_portsets = b.n_portsets,
        };
        r = dns_compile(p, policy, ret);
        if (r < 0) {
                compiled_policy_done(ret);
                return r;
        }
        return 0;
}

void compiled_policy_done(CompiledPolicy *c) {
        c->ports = mfree(c->ports);
        c->addrs = mfree(c->addrs);
        c->portsets = mfree(c->portsets);
        c->names = mfree(c->names);
        c->n_names = 0;
        c->n_ports = c->n_addrs = c->n_portsets = 0;
}
