/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Name rules (systemd.cgpolicy(5), NAME RULES), the kernel part; included by cgpolicy.bpf.c after
 * cgp_find(). See cgpolicy-abi.h for the maps.
 *
 *  - cgpolicy_dns_egress (cgroup_skb/egress, attached only to units with name rules): a DNS query
 *    over UDP to port 53 whose question a name rule of the deciding policy matches is noted in
 *    cgp_dns_queries, with the socket's cookie, the server's address, the transaction id and the
 *    question. Never drops anything.
 *  - cgpolicy_dns_ingress (cgroup_skb/ingress, likewise): a datagram from port 53 that matches a
 *    noted query (same socket, from the address the query went to, same id, a response, not
 *    truncated, same question) is read: the A and AAAA records of the question's name and of the
 *    names a CNAME chain from it leads to give addresses, which the rules the question matched
 *    allow for the answer's TTL clamped to CGP_DNS_TTL_MIN_S..CGP_DNS_TTL_MAX_S. The program runs
 *    in sk_filter(), before the datagram is queued to the socket: the address is in the map
 *    before the process can read the answer. Never drops anything.
 *  - cgp_dns_allows(): the connect and sendmsg programs ask it first when the policy has
 *    CGP_F_NAMES (an allow wins whatever the static rules say, and its two hash lookups cost less
 *    than the tries), then the static rules.
 *  - Learning units (CGP_F_LEARN) get both programs too: their queries are noted whatever the
 *    name, with the learner, and every address the answer gives (under the same checks) is
 *    recorded with the question in the learner's names (cgp_learn_dns), from which "cgpolicy
 *    learn" proposes name rules.
 *
 * The loops over the bytes of a message are bpf_loop() callbacks (kernel >= 5.17), verified once
 * each, so that the 6.1 verifier accepts them whatever the number of records. */

#define CGP_DNS_PORT            53
#define CGP_DNS_TYPE_A          1
#define CGP_DNS_TYPE_CNAME      5
#define CGP_DNS_TYPE_AAAA       28
#define CGP_DNS_CLASS_IN        1
#define CGP_DNS_MAX_JUMPS       16          /* compression pointers followed in one name */
#define CGP_DNS_NAME_STEPS      (CGP_DNS_NAME_BUF + CGP_DNS_MAX_JUMPS + 2)

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, CGP_DNS_MAX_NAMES);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, struct cgp_dns_name_key);
        __type(value, struct cgp_dns_name);
} cgp_dns_names SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, CGP_MAX_SLOTS * 2);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, struct cgp_dns_rules_key);
        __type(value, struct cgp_dns_rules);
} cgp_dns_rules SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, CGP_DNS_MAX_QUERIES);
        __type(key, struct cgp_dns_query_key);
        __type(value, struct cgp_dns_query);
} cgp_dns_queries SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, CGP_DNS_MAX_LEARNED);
        __type(key, struct cgp_dns_learned_key);
        __type(value, struct cgp_dns_learned);
} cgp_dns_learned SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 2);
        __type(key, __u32);
        __type(value, struct cgp_dns_scratch);
} cgp_dns_scratch SEC(".maps");

#define CGP_DNS_SCRATCH_EGRESS  0
#define CGP_DNS_SCRATCH_INGRESS 1

static __always_inline __u32 cgp_dns_now_s(void) {
        return (__u32) (bpf_ktime_get_boot_ns() / 1000000000ULL);
}

/* Is req allowed by a name rule of policy: an address a rule learned, not expired, the rule's
 * family, protocol class and ports? Only for connect requests. */
static __always_inline int cgp_dns_allows(__u32 policy, const struct cgp_request *req) {
        struct cgp_dns_learned_key lk = {};
        struct cgp_dns_rules_key rk = { .policy = policy };
        const struct cgp_dns_learned *l;
        const struct cgp_dns_rules *rs;
        __u32 now;

        if (req->dir != CGP_DIR_CONNECT)
                return 0;
        lk.family = req->family;
        lk.policy = policy;
        __builtin_memcpy(lk.addr, req->addr, 16);
        l = bpf_map_lookup_elem(&cgp_dns_learned, &lk);
        if (!l)
                return 0;
        rs = bpf_map_lookup_elem(&cgp_dns_rules, &rk);
        if (!rs)
                return 0;
        now = cgp_dns_now_s();
        for (__u32 i = 0; i < CGP_DNS_MAX_RULES; i++) {
                const struct cgp_dns_rule *r = &rs->rule[i];

                if (i >= rs->n)
                        break;
                if (l->expires_s[i] <= now)
                        continue;
                if (r->family != 0 && r->family != req->family)
                        continue;
                if (r->proto != CGP_DNS_PROTO_ANY && r->proto != req->proto)
                        continue;
                if ((r->port_min != 0 || r->port_max != 0) && (req->port < r->port_min || req->port > r->port_max))
                        continue;
                return 1;
        }
        return 0;
}

/* The UDP datagram of skb: family, the addresses, the ports (host order), and where its payload
 * starts and how long it is. 0, or -1 when skb is no unfragmented UDP datagram over IPv4 or IPv6
 * without extension headers. */
struct cgp_dns_dgram {
        __u8 family;
        __u8 saddr[16];
        __u8 daddr[16];
        __u16 sport, dport;
        __u32 off, len;
};

/* Can skb be a DNS datagram (UDP, to port 53 when egress, from it when not)? Read from the packet
 * itself where its headers are in the linear data (every TCP packet, most UDP ones): false means
 * surely not, and costs a few loads; true means maybe (cgp_dns_dgram() tells). */
static __always_inline bool cgp_dns_maybe(struct __sk_buff *skb, const bool egress) {
        const __u8 *p = (const __u8 *) (long) skb->data, *end = (const __u8 *) (long) skb->data_end;
        __u32 port_off = egress ? 2 : 0;

        if (skb->protocol == bpf_htons(ETH_P_IP_)) {
                if (p + 24 > end)
                        return true;
                if (p[9] != 17 /* UDP */)
                        return false;
                if ((p[0] & 0xf) != 5)
                        return true;
                return p[20 + port_off] == 0 && p[21 + port_off] == CGP_DNS_PORT;
        }
        if (skb->protocol == bpf_htons(ETH_P_IPV6_)) {
                if (p + 44 > end)
                        return true;
                if (p[6] != 17)
                        return false;   /* no extension header: cgp_dns_dgram() reads none */
                return p[40 + port_off] == 0 && p[41 + port_off] == CGP_DNS_PORT;
        }
        return false;
}

static __always_inline int cgp_dns_dgram(struct __sk_buff *skb, struct cgp_dns_dgram *d) {
        __u8 udp[8];
        __u32 l4;

        if (skb->protocol == bpf_htons(ETH_P_IP_)) {
                __u8 h[20];

                if (bpf_skb_load_bytes(skb, 0, h, sizeof(h)) < 0)
                        return -1;
                if (h[9] != 17 /* UDP */ || ((h[6] & 0x3f) | h[7]) != 0)      /* MF or an offset */
                        return -1;
                d->family = CGP_AF_INET;
                __builtin_memcpy(d->saddr, &h[12], 4);
                __builtin_memcpy(d->daddr, &h[16], 4);
                l4 = (__u32) (h[0] & 0xf) * 4;
        } else if (skb->protocol == bpf_htons(ETH_P_IPV6_)) {
                __u8 h[40];

                if (bpf_skb_load_bytes(skb, 0, h, sizeof(h)) < 0)
                        return -1;
                if (h[6] != 17)
                        return -1;
                d->family = CGP_AF_INET6;
                __builtin_memcpy(d->saddr, &h[8], 16);
                __builtin_memcpy(d->daddr, &h[24], 16);
                l4 = 40;
        } else
                return -1;

        if (l4 < 20 || bpf_skb_load_bytes(skb, l4, udp, sizeof(udp)) < 0)
                return -1;
        d->sport = (__u16) (udp[0] << 8 | udp[1]);
        d->dport = (__u16) (udp[2] << 8 | udp[3]);
        d->off = l4 + 8;
        d->len = (__u32) (udp[4] << 8 | udp[5]);
        if (d->len < 8 + 12 || d->off + d->len - 8 > skb->len)
                return -1;
        d->len -= 8;
        return 0;
}

/* The DNS message of d into scratch element idx (at most CGP_DNS_BUF bytes); its length, or 0. */
static __always_inline __u32 cgp_dns_load(struct __sk_buff *skb, const struct cgp_dns_dgram *d, __u32 idx) {
        struct cgp_dns_scratch *s = bpf_map_lookup_elem(&cgp_dns_scratch, &idx);
        __u32 len = d->len;

        if (!s)
                return 0;
        if (len > CGP_DNS_BUF)
                len = CGP_DNS_BUF;
        /* clang knows len >= 12 already (cgp_dns_dgram()) and drops the test below, which the 6.1
         * verifier then misses ("invalid access to map value, size=0"): hide what it knows. */
        asm volatile("" : "+r"(len));
        if (len < 12)
                return 0;
        if (bpf_skb_load_bytes(skb, d->off, s->pkt, len) < 0)
                return 0;
        return len;
}

/* The loop state, in the scratch element (cgpolicy-abi.h: a map value, whose contents the
 * verifier does not know, so that a callback's states converge whatever it counts). The
 * callbacks get a pointer to the element's index only. */
struct cgp_dns_state {
        /* cgp_dns_read_name() */
        __u32 len;              /* of the message */
        __u32 pos;              /* next byte to read */
        __u32 after;            /* where the name ends in the message (before the first jump) */
        __u32 n;                /* bytes written to name[] */
        __u32 label;            /* bytes of the current label still to copy */
        __u32 jumps;
        __u32 limit;            /* a pointer must point before this (no loops) */
        __s32 result;           /* 0 reading, 1 done, -1 malformed */
        /* cgp_dns_hash_name() */
        __u64 h;
        __u32 hn;
        /* cgp_dns_match() */
        __u32 mpos;             /* in key.name: the first byte of the name looked up */
        __u32 rules;
        /* the question compared */
        __u32 differ;
        /* the answer's records */
        __u32 apos, policy, arules, now, count, n_chain, n_addrs, learner;
        __u32 qlen, pad;
        __u64 chain[CGP_DNS_MAX_CHAIN];         /* chain[0]: the question's hash */
};
_Static_assert(sizeof(struct cgp_dns_state) <= CGP_DNS_STATE_BUF, "the loop state fits the scratch element");

static __always_inline struct cgp_dns_scratch *cgp_dns_scratch_get(__u32 *idx) {
        return bpf_map_lookup_elem(&cgp_dns_scratch, idx);
}

#define CGP_DNS_ST(s) ((struct cgp_dns_state *) (s)->state)

/* Reading a name: one step of bpf_loop() per byte, label length or compression pointer. */
static long cgp_dns_name_step(__u32 i, void *data) {
        struct cgp_dns_scratch *s = cgp_dns_scratch_get(data);
        struct cgp_dns_state *st;
        __u32 pos, n;
        __u8 b;

        if (!s)
                return 1;
        st = CGP_DNS_ST(s);
        pos = st->pos;
        n = st->n;
        if (pos >= st->len || pos >= CGP_DNS_BUF) {
                st->result = -1;
                return 1;
        }
        b = s->pkt[pos & (CGP_DNS_BUF - 1)];

        if (st->label > 0) {
                if (b >= 'A' && b <= 'Z')
                        b += 'a' - 'A';
                s->name[n & (CGP_DNS_NAME_BUF - 1)] = b;
                st->n = n + 1;
                st->pos = pos + 1;
                st->label--;
                return 0;
        }

        if (b == 0) {
                if (st->jumps == 0)
                        st->after = pos + 1;
                st->result = 1;
                return 1;
        }
        if ((b & 0xc0) == 0xc0) {
                __u32 target;

                if (pos + 1 >= st->len || pos + 1 >= CGP_DNS_BUF || st->jumps >= CGP_DNS_MAX_JUMPS) {
                        st->result = -1;
                        return 1;
                }
                target = (__u32) (b & 0x3f) << 8 | s->pkt[(pos + 1) & (CGP_DNS_BUF - 1)];
                if (st->jumps == 0)
                        st->after = pos + 2;
                if (target >= st->limit) {
                        st->result = -1;
                        return 1;
                }
                st->limit = target;
                st->pos = target;
                st->jumps++;
                return 0;
        }
        if ((b & 0xc0) != 0 || n + b + 1 > CGP_DNS_NAME_BUF - 1) {
                st->result = -1;
                return 1;
        }
        s->name[n & (CGP_DNS_NAME_BUF - 1)] = b;
        st->n = n + 1;
        st->pos = pos + 1;
        st->label = b;
        return 0;
}

/* The name at *pos of the message (len bytes) in scratch idx into its name[] (wire format,
 * lowercase, no final 0): its length (0: the root), *pos moved past it; -1 when malformed. */
static __always_inline int cgp_dns_read_name(__u32 idx, __u32 len, __u32 *pos) {
        struct cgp_dns_scratch *s = cgp_dns_scratch_get(&idx);
        struct cgp_dns_state *st;

        if (!s)
                return -1;
        st = CGP_DNS_ST(s);
        st->len = len;
        st->pos = *pos;
        st->limit = *pos;
        st->after = 0;
        st->n = 0;
        st->label = 0;
        st->jumps = 0;
        st->result = 0;
        bpf_loop(CGP_DNS_NAME_STEPS, cgp_dns_name_step, &idx, 0);
        if (st->result != 1 || st->n >= CGP_DNS_NAME_BUF)
                return -1;
        *pos = st->after;
        return (int) st->n;
}

/* A 64-bit FNV-1a of the name in scratch idx (n bytes): to tell the names of a CNAME chain
 * apart within one answer (the answer's own data, not a rule: a collision can only join names
 * of the same answer). */
static long cgp_dns_hash_step(__u32 i, void *data) {
        struct cgp_dns_scratch *s = cgp_dns_scratch_get(data);
        struct cgp_dns_state *st;

        if (!s)
                return 1;
        st = CGP_DNS_ST(s);
        if (i >= st->hn)
                return 1;
        st->h = (st->h ^ s->name[i & (CGP_DNS_NAME_BUF - 1)]) * 0x100000001b3ULL;
        return 0;
}

static __always_inline __u64 cgp_dns_hash_name(__u32 idx, __u32 n) {
        struct cgp_dns_scratch *s = cgp_dns_scratch_get(&idx);
        struct cgp_dns_state *st;

        if (!s)
                return 0;
        st = CGP_DNS_ST(s);
        st->h = 0xcbf29ce484222325ULL;
        st->hn = n;
        bpf_loop(CGP_DNS_NAME_BUF, cgp_dns_hash_step, &idx, 0);
        return st->h ^ n;
}

/* The rules of policy that the question name in scratch idx (n bytes) matches: the name itself
 * in cgp_dns_names (exact), and each name it is below (below). Built in the scratch key: the name
 * right-aligned, then its labels dropped one by one from the left. */
static long cgp_dns_copy_step(__u32 i, void *data) {
        struct cgp_dns_scratch *s = cgp_dns_scratch_get(data);
        __u32 n;

        if (!s)
                return 1;
        n = CGP_DNS_ST(s)->hn;
        if (i >= n || n > CGP_DNS_NAME_BUF)
                return 1;
        s->key.name[(CGP_DNS_NAME_BUF - n + i) & (CGP_DNS_NAME_BUF - 1)] = s->name[i & (CGP_DNS_NAME_BUF - 1)];
        return 0;
}

static long cgp_dns_label_step(__u32 i, void *data) {
        struct cgp_dns_scratch *s = cgp_dns_scratch_get(data);
        const struct cgp_dns_name *v;
        struct cgp_dns_state *st;
        __u32 l, pos;

        if (!s)
                return 1;
        st = CGP_DNS_ST(s);
        pos = st->mpos;
        if (pos >= CGP_DNS_NAME_BUF)
                return 1;
        /* Drop the first label: zero it and its length byte. */
        l = s->key.name[pos & (CGP_DNS_NAME_BUF - 1)];
        for (__u32 k = 0; k < 64; k++) {
                if (k > l)
                        break;
                s->key.name[(pos + k) & (CGP_DNS_NAME_BUF - 1)] = 0;
        }
        pos += l + 1;
        st->mpos = pos;
        if (pos >= CGP_DNS_NAME_BUF)
                return 1;
        s->key.len = CGP_DNS_NAME_BUF - pos;
        v = bpf_map_lookup_elem(&cgp_dns_names, &s->key);
        if (v)
                st->rules |= v->below;
        return 0;
}

static __always_inline __u32 cgp_dns_match(__u32 idx, __u32 n, __u32 policy) {
        struct cgp_dns_scratch *s = cgp_dns_scratch_get(&idx);
        const struct cgp_dns_name *v;
        struct cgp_dns_state *st;

        if (!s || n == 0 || n >= CGP_DNS_NAME_BUF)
                return 0;
        st = CGP_DNS_ST(s);
        __builtin_memset(&s->key, 0, sizeof(s->key));
        s->key.len = n;
        s->key.policy = policy;
        st->hn = n;
        st->rules = 0;
        bpf_loop(CGP_DNS_NAME_BUF, cgp_dns_copy_step, &idx, 0);
        v = bpf_map_lookup_elem(&cgp_dns_names, &s->key);
        if (v)
                st->rules = v->exact;
        st->mpos = CGP_DNS_NAME_BUF - n;
        bpf_loop(CGP_DNS_MAX_LABELS, cgp_dns_label_step, &idx, 0);
        return st->rules;
}

/* The deciding policy of skb's socket, when it has name rules or learns: its tag, else 0; and
 * *learner, the learner of a learning one, else 0, and *names, whether it has name rules. */
static __always_inline __u32 cgp_dns_policy(struct __sk_buff *skb, __u32 *learner, bool *names) {
        const __u32 *l;
        struct cgp_found f;
        __u32 slot;

        *learner = 0;
        *names = false;
        cgp_find(skb, true, CGP_F_HAS_DIR(CGP_DIR_CONNECT) | CGP_F_LEARN, 0, &f);
        if (f.policy_cgroup_id == 0 || !(f.v.flags & (CGP_F_NAMES | CGP_F_LEARN)))
                return 0;
        *names = (f.v.flags & CGP_F_NAMES) != 0;
        if (f.v.flags & CGP_F_LEARN) {
                slot = f.v.slot;
                l = bpf_map_lookup_elem(&cgp_learn_slots, &slot);
                if (l)
                        *learner = *l;
        }
        return f.v.policy;
}

SEC("cgroup_skb/egress")
int cgpolicy_dns_egress(struct __sk_buff *skb) {
        struct cgp_dns_query_key qk = {};
        struct cgp_dns_query *q;
        struct cgp_dns_scratch *s;
        struct cgp_dns_dgram d = {};
        __u32 idx = CGP_DNS_SCRATCH_EGRESS, len, pos = 12, policy, rules = 0, learner;
        bool names;
        int n;

        if (!cgp_dns_maybe(skb, true) || cgp_dns_dgram(skb, &d) < 0 || d.dport != CGP_DNS_PORT)
                return 1;
        len = cgp_dns_load(skb, &d, idx);
        s = bpf_map_lookup_elem(&cgp_dns_scratch, &idx);
        if (len == 0 || !s)
                return 1;
        /* A standard query (QR 0, opcode 0) with one question. */
        if ((s->pkt[2] & 0xf8) != 0 || s->pkt[4] != 0 || s->pkt[5] != 1)
                return 1;
        policy = cgp_dns_policy(skb, &learner, &names);
        if (policy == 0)
                return 1;
        n = cgp_dns_read_name(idx, len, &pos);
        if (n <= 0)
                return 1;
        /* A learning unit without name rules has none to match. */
        if (names)
                rules = cgp_dns_match(idx, (__u32) n, policy);
        if (rules == 0 && learner == 0)
                return 1;

        qk.cookie = bpf_get_socket_cookie(skb);
        __builtin_memcpy(qk.server, d.daddr, 16);
        __builtin_memcpy(&qk.txid, s->pkt, 2);
        qk.family = d.family;

        /* The value is built in the map (too large for the stack): insert, then fill. An answer
         * racing with the fill finds policy 0 (matches no policy) or the final values. */
        {
                struct cgp_dns_query zero = {};

                bpf_map_update_elem(&cgp_dns_queries, &qk, &zero, BPF_ANY);
        }
        q = bpf_map_lookup_elem(&cgp_dns_queries, &qk);
        if (!q)
                return 1;
        q->rules = rules;
        q->time_ns = bpf_ktime_get_boot_ns();
        q->len = (__u32) n;
        q->learner = learner;
        for (__u32 i = 0; i < CGP_DNS_NAME_BUF; i += 8)
                __builtin_memcpy(&q->name[i], &s->name[i], 8);
        q->policy = policy;
        return 1;
}

static __always_inline bool cgp_dns_in_chain(const struct cgp_dns_state *st, __u64 h) {
        __u32 n = st->n_chain;

        for (__u32 i = 0; i < CGP_DNS_MAX_CHAIN; i++)
                if (i < n && st->chain[i] == h)
                        return true;
        return false;
}

static __always_inline void cgp_dns_learn(__u32 policy, __u32 rules, __u32 now, __u8 family, const __u8 *addr,
                                          __u32 ttl) {
        struct cgp_dns_learned_key k = { .family = family, .policy = policy };
        struct cgp_dns_learned *v, nv = {};
        __u32 until;

        if (ttl < CGP_DNS_TTL_MIN_S)
                ttl = CGP_DNS_TTL_MIN_S;
        if (ttl > CGP_DNS_TTL_MAX_S)
                ttl = CGP_DNS_TTL_MAX_S;
        until = now + ttl;
        if (family == CGP_AF_INET)
                __builtin_memcpy(k.addr, addr, 4);
        else
                __builtin_memcpy(k.addr, addr, 16);

        v = bpf_map_lookup_elem(&cgp_dns_learned, &k);
        if (!v) {
                for (__u32 i = 0; i < CGP_DNS_MAX_RULES; i++)
                        if (rules & (1u << i))
                                nv.expires_s[i] = until;
                if (bpf_map_update_elem(&cgp_dns_learned, &k, &nv, BPF_NOEXIST) == 0)
                        return;
                v = bpf_map_lookup_elem(&cgp_dns_learned, &k);
                if (!v)
                        return;
        }
        for (__u32 i = 0; i < CGP_DNS_MAX_RULES; i++)
                if ((rules & (1u << i)) && v->expires_s[i] < until)
                        v->expires_s[i] = until;
}

/* A learner's name record (cgpolicy-abi.h): the question (in the scratch key, qlen bytes, hashed
 * to qhash) gave family/addr with ttl; one more answer, or a new record built in the scratch. */
static __always_inline void cgp_dns_learn_name(struct cgp_dns_scratch *s, __u32 learner, __u64 qhash, __u32 qlen,
                                               __u8 family, const __u8 *addr, __u32 ttl) {
        struct cgp_learn_dns_key k = { .family = family, .name_hash = qhash };
        struct cgp_learn_dns_value *v;
        __u64 now = bpf_ktime_get_boot_ns();
        void *names;

        names = bpf_map_lookup_elem(&cgp_learn_dns, &learner);
        if (!names)
                return;
        if (ttl < CGP_DNS_TTL_MIN_S)
                ttl = CGP_DNS_TTL_MIN_S;
        if (ttl > CGP_DNS_TTL_MAX_S)
                ttl = CGP_DNS_TTL_MAX_S;
        if (family == CGP_AF_INET)
                __builtin_memcpy(k.addr, addr, 4);
        else
                __builtin_memcpy(k.addr, addr, 16);

        v = bpf_map_lookup_elem(names, &k);
        if (!v) {
                s->lv.count = 1;
                s->lv.first_ns = now;
                s->lv.last_ns = now;
                s->lv.ttl_s = ttl;
                s->lv.len = qlen;
                for (__u32 i = 0; i < CGP_DNS_NAME_BUF; i += 8)
                        __builtin_memcpy(&s->lv.name[i], &s->key.name[i], 8);
                if (bpf_map_update_elem(names, &k, &s->lv, BPF_NOEXIST) == 0)
                        return;
                v = bpf_map_lookup_elem(names, &k);
                if (!v)
                        return;
        }
        __sync_fetch_and_add(&v->count, 1);
        if (v->last_ns < now)
                v->last_ns = now;
        v->ttl_s = ttl;
}

/* &s->pkt[pos] when size bytes from there are within the buffer, else NULL. The offset is masked
 * and compared after a barrier, so that clang, which may know a bound of pos already, keeps both
 * and the verifier (6.1: "unbounded memory access") sees the bound on the register it uses. */
static __always_inline const __u8 *cgp_dns_at(const struct cgp_dns_scratch *s, __u32 pos, __u32 size) {
        __u64 off = pos;

        asm volatile("" : "+r"(off));
        off &= CGP_DNS_BUF - 1;
        if (off != pos || off > CGP_DNS_BUF - size)
                return NULL;
        return &s->pkt[off];
}

/* Reading an answer's records: one step of bpf_loop() per record. */
static long cgp_dns_record_step(__u32 i, void *data) {
        __u32 idx = *(__u32 *) data, pos, type, class, ttl, rdlen, len;
        struct cgp_dns_scratch *s;
        const __u8 *p;
        struct cgp_dns_state *st;
        __u8 rr[10], addr[16];
        __u64 h;
        int n;

        s = cgp_dns_scratch_get(&idx);
        if (!s)
                return 1;
        st = CGP_DNS_ST(s);
        if (st->count == 0)
                return 1;
        st->count--;
        len = st->len;          /* read_name() keeps it */
        pos = st->apos;

        n = cgp_dns_read_name(idx, len, &pos);
        if (n < 0)
                return 1;
        h = cgp_dns_hash_name(idx, (__u32) n);

        if (pos + 10 > len)
                return 1;
        p = cgp_dns_at(s, pos, sizeof(rr));
        if (!p)
                return 1;
        __builtin_memcpy(rr, p, sizeof(rr));
        type = (__u32) rr[0] << 8 | rr[1];
        class = (__u32) rr[2] << 8 | rr[3];
        ttl = (__u32) rr[4] << 24 | (__u32) rr[5] << 16 | (__u32) rr[6] << 8 | rr[7];
        rdlen = (__u32) rr[8] << 8 | rr[9];
        pos += 10;
        if (pos + rdlen > len)
                return 1;
        st->apos = pos + rdlen;

        if (class != CGP_DNS_CLASS_IN || !cgp_dns_in_chain(st, h))
                return 0;

        if (type == CGP_DNS_TYPE_CNAME) {
                __u32 p = pos, k = st->n_chain;

                n = cgp_dns_read_name(idx, len, &p);
                if (n <= 0 || k >= CGP_DNS_MAX_CHAIN)
                        return 0;
                st->chain[k & (CGP_DNS_MAX_CHAIN - 1)] = cgp_dns_hash_name(idx, (__u32) n);
                st->n_chain = k + 1;
                return 0;
        }
        if ((type != CGP_DNS_TYPE_A || rdlen != 4) && (type != CGP_DNS_TYPE_AAAA || rdlen != 16))
                return 0;
        if (st->n_addrs >= CGP_DNS_MAX_ADDRS)
                return 1;
        p = cgp_dns_at(s, pos, sizeof(addr));
        if (!p)
                return 1;
        __builtin_memcpy(addr, p, sizeof(addr));
        if (st->arules != 0)
                cgp_dns_learn(st->policy, st->arules, st->now, type == CGP_DNS_TYPE_A ? CGP_AF_INET : CGP_AF_INET6,
                              addr, ttl);
        if (st->learner != 0)
                cgp_dns_learn_name(s, st->learner, st->chain[0], st->qlen,
                                   type == CGP_DNS_TYPE_A ? CGP_AF_INET : CGP_AF_INET6, addr, ttl);
        st->n_addrs++;
        return 0;
}

/* Does the question in scratch name[] (hn bytes) equal the query's, copied to key.name? */
static long cgp_dns_cmp_step(__u32 i, void *data) {
        struct cgp_dns_scratch *s = cgp_dns_scratch_get(data);
        struct cgp_dns_state *st;

        if (!s)
                return 1;
        st = CGP_DNS_ST(s);
        if (i >= st->hn)
                return 1;
        if (s->name[i & (CGP_DNS_NAME_BUF - 1)] != s->key.name[i & (CGP_DNS_NAME_BUF - 1)]) {
                st->differ = 1;
                return 1;
        }
        return 0;
}

SEC("cgroup_skb/ingress")
int cgpolicy_dns_ingress(struct __sk_buff *skb) {
        struct cgp_dns_query_key qk = {};
        struct cgp_dns_scratch *s;
        struct cgp_dns_state *st;
        struct cgp_dns_query *q;
        struct cgp_dns_dgram d = {};
        __u32 idx = CGP_DNS_SCRATCH_INGRESS, len, pos = 12, policy, rules, qlen, learner, now_learner;
        bool now_names;
        __u64 now_ns, h;
        int n;

        if (!cgp_dns_maybe(skb, false) || cgp_dns_dgram(skb, &d) < 0 || d.sport != CGP_DNS_PORT)
                return 1;

        /* Which query does it answer? Same socket, from the server the query went to, same id. */
        if (bpf_skb_load_bytes(skb, d.off, &qk.txid, 2) < 0)
                return 1;
        qk.cookie = bpf_get_socket_cookie(skb);
        __builtin_memcpy(qk.server, d.saddr, 16);
        qk.family = d.family;
        q = bpf_map_lookup_elem(&cgp_dns_queries, &qk);
        if (!q)
                return 1;
        policy = q->policy;
        rules = q->rules;
        qlen = q->len;
        learner = q->learner;
        now_ns = bpf_ktime_get_boot_ns();
        if (policy == 0 || now_ns - q->time_ns > CGP_DNS_QUERY_TTL_NS || policy != cgp_dns_policy(skb, &now_learner, &now_names) ||
            learner != now_learner) {
                bpf_map_delete_elem(&cgp_dns_queries, &qk);
                return 1;
        }

        len = cgp_dns_load(skb, &d, idx);
        s = cgp_dns_scratch_get(&idx);
        if (len == 0 || !s)
                return 1;
        st = CGP_DNS_ST(s);
        for (__u32 i = 0; i < CGP_DNS_NAME_BUF; i += 8)
                __builtin_memcpy(&s->key.name[i], &q->name[i], 8);
        /* A response (QR), to a standard query, not truncated (TC), no error, one question. */
        if ((s->pkt[2] & 0xfa) != 0x80 || (s->pkt[3] & 0x0f) != 0 || s->pkt[4] != 0 || s->pkt[5] != 1)
                return 1;
        n = cgp_dns_read_name(idx, len, &pos);
        if (n <= 0 || (__u32) n != qlen)
                return 1;
        st->hn = (__u32) n;
        st->differ = 0;
        bpf_loop(CGP_DNS_NAME_BUF, cgp_dns_cmp_step, &idx, 0);
        if (st->differ)
                return 1;
        /* The answer is used once. */
        bpf_map_delete_elem(&cgp_dns_queries, &qk);

        h = cgp_dns_hash_name(idx, (__u32) n);
        st->chain[0] = h;
        st->n_chain = 1;
        st->n_addrs = 0;
        st->apos = pos + 4;     /* QTYPE, QCLASS */
        st->policy = policy;
        st->arules = rules;
        st->learner = learner;
        st->qlen = qlen;
        st->now = (__u32) (now_ns / 1000000000ULL);
        st->count = (__u32) s->pkt[6] << 8 | s->pkt[7];
        st->len = len;
        bpf_loop(CGP_DNS_MAX_RECORDS, cgp_dns_record_step, &idx, 0);
        return 1;
}
