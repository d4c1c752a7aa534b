/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The cgroup programs of cgpolicy. One set is loaded and pinned per boot ("cgpolicy load");
 * "cgpolicy apply" attaches them to a policed unit's cgroup (multi, each once) and writes the
 * unit's policy into the maps below, keyed by cgroup id. See cgpolicy-abi.h for the layout.
 *
 *  - bind4/6, connect4/6, sendmsg4/6 (sock_addr): judge every bind(), connect() and sendmsg()
 *    with a destination by the unit's rules. An unspecified destination (0.0.0.0, ::) is judged
 *    as the address it reaches.
 *  - sock_create: every AF_INET/AF_INET6 socket. TCP, MPTCP and UDP sockets are created (the
 *    programs above judge all they do); the kinds those programs cannot judge (ICMP echo, raw,
 *    UDP-Lite, SCTP, any other protocol) only where the policy allows them.
 *  - egress (cgroup_skb): drops a packet carrying an IPv4 source route or an IPv6 routing header,
 *    which would go first to an address the connect/sendmsg programs never saw.
 *  - listen (lsm_cgroup, where the kernel has BPF LSM): judges listen() as a bind of the port
 *    listened on, so that a port the kernel chose (listen() without bind(), or after a bind to
 *    port 0) is allowed only by rules for every port. Not attached by systemd: "cgpolicy apply"
 *    attaches it.
 *  - bpf guard (lsm_cgroup, likewise): in a sealed unit, bpf() is refused to every task without
 *    CAP_BPF or CAP_SYS_ADMIN (which the seal removes from the unit, not from its privileged
 *    ExecStartPre=+/ExecStopPost=+ helper): a root process that keeps CAP_SETUID or
 *    CAP_DAC_OVERRIDE and reaches the pins through another process's /proc/PID/root cannot use
 *    them.
 *
 * The cgroup the policy is looked up for is the cgroup of the calling task (and its ancestors);
 * for egress, which may run outside the task's context, the socket's. The kernel runs these
 * programs for the cgroup the SOCKET was created in; the two differ only when a socket is passed
 * to, or kept by a task that moved to, another cgroup. A socket created in a policed unit and
 * used by a task outside any policed cgroup is therefore denied (fail closed); one created
 * outside and passed in is not policed at all (as with systemd's own SocketBindDeny=). */

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "cgpolicy-abi.h"

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct cgp_meta);
} cgp_meta SEC(".maps");

/* Not preallocated: a preallocated hash reuses a deleted or replaced element at once, so a
 * program still reading it could see another cgroup's entry; these are freed after an RCU grace
 * period. */
struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, CGP_MAX_CGROUPS);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, __u64);
        __type(value, struct cgp_cgroup);
} cgp_cgroups SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_LPM_TRIE);
        __uint(max_entries, CGP_MAX_TRIE_ENTRIES);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, struct cgp_port_key);
        __type(value, struct cgp_match);
} cgp_ports SEC(".maps");

/* The full-length (single port) entries of cgp_ports again, for a lookup whose cost does not
 * depend on the size of the trie; as many as fit (cgp_ports has them all). */
struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, CGP_MAX_EXACT_ENTRIES);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, struct cgp_port_key);
        __type(value, struct cgp_match);
} cgp_port_exact SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_LPM_TRIE);
        __uint(max_entries, CGP_MAX_TRIE_ENTRIES);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, struct cgp_addr_key);
        __type(value, struct cgp_addr_value);
} cgp_addrs SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_LPM_TRIE);
        __uint(max_entries, CGP_MAX_TRIE_ENTRIES);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, struct cgp_portset_key);
        __type(value, struct cgp_match);
} cgp_portsets SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, CGP_MAX_SLOTS * CGP_COUNTER_DIRS);
        __type(key, __u32);
        __type(value, struct cgp_counter);
} cgp_counters SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, CGP_MAX_SLOTS);
        __type(key, __u32);
        __type(value, struct cgp_slot);
} cgp_slots SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, CGP_MAX_DENIALS);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, __u32);
        __type(value, struct cgp_denial);
} cgp_denials SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct cgp_state);
} cgp_state SEC(".maps");

/* The denial stream (cgpolicy-abi.h): written only where a denial is recorded. */
struct {
        __uint(type, BPF_MAP_TYPE_RINGBUF);
        __uint(max_entries, CGP_EVENTS_SIZE);
} cgp_events SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, CGP_MAX_SLOTS);
        __type(key, __u32);
        __type(value, __u64);
} cgp_events_lost SEC(".maps");

/* Written by "cgpolicy monitor", read by status; the programs never touch it. */
struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, CGP_MAX_SLOTS);
        __type(key, __u32);
        __type(value, struct cgp_stream);
} cgp_streamed SEC(".maps");

/* See cgpolicy-abi.h. */
struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __uint(map_flags, BPF_F_MMAPABLE);
        __type(key, __u32);
        __type(value, struct cgp_fast_set);
} cgp_fast SEC(".maps");

/* Learning (cgpolicy-abi.h): the records of each learner, in an LRU hash of its own that user
 * space creates (this one is only the template of the inner maps). */
struct cgp_learn_records {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, CGP_LEARN_RECORDS);
        __uint(key_size, sizeof(struct cgp_learn_key));         /* sizes, not types: the BTF of */
        __uint(value_size, sizeof(struct cgp_learn_value));     /* an inner map's is not emitted */
};

struct {
        __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
        __uint(max_entries, CGP_MAX_LEARNERS);
        __type(key, __u32);
        __array(values, struct cgp_learn_records);
} cgp_learn SEC(".maps");

/* The names each learner looked up (cgpolicy-abi.h, cgpolicy-dns.h), likewise. */
struct cgp_learn_dns_records {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, CGP_LEARN_DNS_RECORDS);
        __uint(key_size, sizeof(struct cgp_learn_dns_key));
        __uint(value_size, sizeof(struct cgp_learn_dns_value));
};

struct {
        __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
        __uint(max_entries, CGP_MAX_LEARNERS);
        __type(key, __u32);
        __array(values, struct cgp_learn_dns_records);
} cgp_learn_dns SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, CGP_MAX_SLOTS);
        __type(key, __u32);
        __type(value, __u32);
} cgp_learn_slots SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, CGP_MAX_LEARNERS);
        __type(key, __u32);
        __type(value, __u64);
} cgp_learn_inserts SEC(".maps");

/* Written by user space only (under the lock): the learner of each unit name. */
struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, CGP_MAX_LEARNERS);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, struct cgp_learn_name);
        __type(value, struct cgp_learner);
} cgp_learn_names SEC(".maps");

/* Set by the loader when the running kernel offers bpf_get_current_pid_tgid() and
 * bpf_get_current_comm() to sock_addr programs; when 0 the verifier removes those calls as
 * dead code and denial records carry no pid/comm. */
const volatile __u32 cgp_have_task_helpers = 1;

#define CGP_LOOKUP_PORT_EXACT(lctx, k) ((const struct cgp_match *) bpf_map_lookup_elem(&cgp_port_exact, (k)))
#define CGP_LOOKUP_PORT(lctx, k)    ((const struct cgp_match *) bpf_map_lookup_elem(&cgp_ports, (k)))
#define CGP_LOOKUP_ADDR(lctx, k)    ((const struct cgp_addr_value *) bpf_map_lookup_elem(&cgp_addrs, (k)))
#define CGP_LOOKUP_PORTSET(lctx, k) ((const struct cgp_match *) bpf_map_lookup_elem(&cgp_portsets, (k)))
#include "cgpolicy-match.h"

#define SOCK_STREAM_    1
#define SOCK_DGRAM_     2
#define SOCK_RAW_       3
#define SOCK_SEQPACKET_ 5

#define ETH_P_IP_       0x0800
#define ETH_P_IPV6_     0x86DD

/* What a request is counted as, in struct cgp_counter. */
enum cgp_verdict {
        CGP_VERDICT_ALLOWED,
        CGP_VERDICT_DENIED,             /* EPERM (mode enforce) */
        CGP_VERDICT_AUDITED,            /* would have been denied, allowed (mode audit) */
};

/* The policy that decides a request, found from a cgroup upwards. */
struct cgp_found {
        __u64 cgroup_id;                /* the cgroup the request was made in */
        __u64 policy_cgroup_id;         /* the deciding cgroup; 0: none */
        struct cgp_cgroup v;            /* its entry */
        __u32 open_slot;                /* none decides: the slot of the deepest entry that says
                                         * "open" (allowed), 0 if none does */
        __u32 pad;
};

/* The deepest entry, from cgroup_id upwards, whose flags have a bit of decide; and failing that,
 * the deepest whose flags have a bit of open. With from_skb (a constant: the helpers of the
 * other kind do not exist for the program type, and the verifier refuses even a dead call), the
 * cgroup of skb's socket and its ancestors, else the current task's. */
static __always_inline void cgp_find_from(struct __sk_buff *skb, const bool from_skb, __u64 cg, __u32 decide,
                                          __u32 open, struct cgp_found *f) {
        const struct cgp_cgroup *v;
        __u32 own_open = 0, anc_open = 0;

        f->cgroup_id = cg;
        f->policy_cgroup_id = 0;
        f->open_slot = 0;

        v = bpf_map_lookup_elem(&cgp_cgroups, &cg);
        if (v) {
                if (v->flags & decide) {
                        f->v = *v;
                        f->policy_cgroup_id = cg;
                        return;
                }
                if (v->flags & open)
                        own_open = v->slot;
        }

        /* Ancestors from the root down: the last match is the deepest. */
        for (int level = 0; level < CGP_MAX_CGROUP_DEPTH; level++) {
                __u64 a = from_skb ? bpf_skb_ancestor_cgroup_id(skb, level) : bpf_get_current_ancestor_cgroup_id(level);

                if (a == 0 || a == cg)
                        break;
                v = bpf_map_lookup_elem(&cgp_cgroups, &a);
                if (!v)
                        continue;
                if (v->flags & decide) {
                        f->v = *v;
                        f->policy_cgroup_id = a;
                } else if (v->flags & open)
                        anc_open = v->slot;
        }
        if (f->policy_cgroup_id == 0)
                f->open_slot = own_open ? own_open : anc_open;
}

static __always_inline void cgp_find(struct __sk_buff *skb, const bool from_skb, __u32 decide, __u32 open,
                                     struct cgp_found *f) {
        cgp_find_from(skb, from_skb, from_skb ? bpf_skb_cgroup_id(skb) : bpf_get_current_cgroup_id(), decide, open, f);
}

/* The slot when the fast set says that cgroup cg's own policy allows (dir, family, class, port),
 * else 0 (then only the full judgement can tell). */
static __always_inline __u32 fast_allows(__u64 cg, __u8 dir, __u8 family, __u8 proto, __u16 port) {
        __u64 want = cgp_fast_word((__u32) cg, port, 0, dir, family, proto);
        const struct cgp_fast_set *s;
        __u32 zero = 0, h;

        s = bpf_map_lookup_elem(&cgp_fast, &zero);
        if (!s)
                return 0;
        h = cgp_fast_hash(want);
        for (__u32 i = 0; i < CGP_FAST_PROBES; i++) {
                __u64 w = *(volatile const __u64 *) &s->w[(h + i) & (CGP_FAST_WORDS - 1)];

                if ((w & ~CGP_FAST_SLOT_MASK) == want)
                        return (__u32) ((w & CGP_FAST_SLOT_MASK) >> 4);
                if (w == 0)
                        break;
        }
        return 0;
}

static __always_inline void count(__u32 slot, __u8 dir, enum cgp_verdict verdict) {
        __u32 idx = slot * CGP_COUNTER_DIRS + dir;
        struct cgp_counter *c;

        c = bpf_map_lookup_elem(&cgp_counters, &idx);
        if (!c)
                return;
        switch (verdict) {
        case CGP_VERDICT_ALLOWED:
                c->allowed++;
                break;
        case CGP_VERDICT_DENIED:
                c->denied++;
                break;
        case CGP_VERDICT_AUDITED:
                c->audited++;
                break;
        }
}

/* What a denial record says of the request beyond struct cgp_request. */
struct cgp_what {
        __u16 protocol;                 /* IPPROTO_* of the socket */
        __u8 type;                      /* SOCK_* */
        __u8 hook;                      /* CGP_HOOK_* */
        bool task;                      /* the current task made the request: record its pid and
                                         * comm (not in egress, which may run in softirq) */
};

/* Sends a recorded denial to the ring buffer, or counts it as lost there. */
static __always_inline void stream_denial(__u32 slot, const struct cgp_denial *d, __u64 suppressed) {
        struct cgp_event *e;
        __u64 *lost;

        e = bpf_ringbuf_reserve(&cgp_events, sizeof(*e), 0);
        if (!e) {
                lost = bpf_map_lookup_elem(&cgp_events_lost, &slot);
                if (lost)
                        (*lost)++;
                return;
        }
        __builtin_memcpy(&e->d, d, sizeof(*d));
        e->slot = slot;
        e->pad = 0;
        e->suppressed = suppressed;
        bpf_ringbuf_submit(e, 0);
}

/* Records a denial (or a would-be denial) in the slot's own part of the log, unless the slot
 * is over its rate: then it is only counted as suppressed. Only the slot's own cache lines
 * are written, so a unit denied in a loop slows no other unit. */
static __always_inline void log_denial(__u32 slot, const struct cgp_found *f, const struct cgp_request *req,
                                       const struct cgp_what *w, __u8 flags) {
        struct cgp_denial d = {};
        struct cgp_slot *s;
        __u64 now, tat, seq;
        __u32 key;

        s = bpf_map_lookup_elem(&cgp_slots, &slot);
        if (!s)
                return;

        now = bpf_ktime_get_boot_ns();
        tat = s->tat_ns;
        if (tat < now)
                tat = now;
        if (tat - now > CGP_LOG_BURST * CGP_LOG_INTERVAL_NS) {
                __sync_fetch_and_add(&s->suppressed, 1);
                return;
        }
        s->tat_ns = tat + CGP_LOG_INTERVAL_NS;
        seq = __sync_fetch_and_add(&s->logged, 1) + 1;

        d.seq = seq;
        d.time_ns = now;
        d.cgroup_id = f->cgroup_id;
        d.policy_cgroup_id = f->policy_cgroup_id;
        d.policy = f->policy_cgroup_id ? f->v.policy : 0;
        if (w->task && cgp_have_task_helpers) {
                d.pid = (__u32) (bpf_get_current_pid_tgid() >> 32);
                bpf_get_current_comm(d.comm, sizeof(d.comm));
        }
        d.family = req->family;
        d.proto = req->proto;
        d.hook = w->hook;
        d.flags = flags;
        __builtin_memcpy(d.addr, req->addr, 16);
        d.port = req->port;
        d.protocol = w->protocol;
        d.type = w->type;

        key = slot * CGP_DENIALS_PER_SLOT + (__u32) (seq % CGP_DENIALS_PER_SLOT);
        bpf_map_update_elem(&cgp_denials, &key, &d, BPF_ANY);

        stream_denial(slot, &d, s->suppressed);
}

/* Records a request of a learning slot in its learner's records (cgpolicy-abi.h): one more hit
 * of its key, or a new record. */
static __always_inline void learn_record(__u32 slot, const struct cgp_request *req, __u8 kind, bool denied) {
        struct cgp_learn_value *v, nv = {};
        struct cgp_learn_key k = {};
        __u32 *learner;
        __u64 *inserts, now;
        void *records;

        learner = bpf_map_lookup_elem(&cgp_learn_slots, &slot);
        if (!learner || *learner == 0)
                return;
        records = bpf_map_lookup_elem(&cgp_learn, learner);
        if (!records)
                return;

        k.dir = req->dir;
        k.family = req->family;
        k.proto = req->proto;
        k.kind = kind;
        k.port = req->port;
        __builtin_memcpy(k.addr, req->addr, 16);
        now = bpf_ktime_get_boot_ns();

        v = bpf_map_lookup_elem(records, &k);
        if (!v) {
                nv.count = 1;
                nv.denied = denied;
                nv.first_ns = now;
                nv.last_ns = now;
                if (bpf_map_update_elem(records, &k, &nv, BPF_NOEXIST) == 0) {
                        inserts = bpf_map_lookup_elem(&cgp_learn_inserts, learner);
                        if (inserts)
                                __sync_fetch_and_add(inserts, 1);
                        return;
                }
                /* Inserted by another CPU meanwhile: add to that one. */
                v = bpf_map_lookup_elem(records, &k);
                if (!v)
                        return;
        }
        __sync_fetch_and_add(&v->count, 1);
        if (denied)
                __sync_fetch_and_add(&v->denied, 1);
        if (v->last_ns < now)
                v->last_ns = now;
}

/* The end of a learning cgroup's request: allowed; counted as allowed, or as audited when the
 * rules in force would have refused it (logged as such only in audit mode); recorded. listen()
 * is recorded only on a port the kernel will choose (port 0): any other was bound, and that
 * bind recorded. */
static __always_inline int conclude_learn(const struct cgp_found *f, const struct cgp_request *req,
                                          const struct cgp_what *w, int allowed, bool count_allowed, __u8 kind) {
        __u32 slot = f->v.slot;

        if (!allowed) {
                count(slot, req->dir, CGP_VERDICT_AUDITED);
                if (f->v.flags & CGP_F_AUDIT)
                        log_denial(slot, f, req, w, CGP_DENIAL_AUDIT);
        } else if (count_allowed)
                count(slot, req->dir, CGP_VERDICT_ALLOWED);
        if (w->hook != CGP_HOOK_LISTEN)
                learn_record(slot, req, kind, !allowed);
        else if (req->port == 0)
                learn_record(slot, req, CGP_LEARN_LISTEN, !allowed);
        return 1;
}

/* The end of every program: count, log, and return 1 to let the call proceed or 0 to make it
 * fail with EPERM. allowed is what the deciding policy's rules say (ignored when none decides).
 * With count_allowed false, an allowed request is not counted (listen(): its bind was). */
static __always_inline int conclude(const struct cgp_found *f, const struct cgp_request *req,
                                    const struct cgp_what *w, int allowed, bool count_allowed, __u8 kind) {
        __u32 slot = f->v.slot;

        if (f->policy_cgroup_id == 0) {
                if (f->open_slot != 0) {
                        if (count_allowed)
                                count(f->open_slot, req->dir, CGP_VERDICT_ALLOWED);
                        return 1;
                }
                /* Our program is attached, but no policy applies: fail closed. */
                count(0, req->dir, CGP_VERDICT_DENIED);
                log_denial(0, f, req, w, CGP_DENIAL_NO_POLICY);
                return 0;
        }

        if (f->v.flags & CGP_F_LEARN)
                return conclude_learn(f, req, w, allowed, count_allowed, kind);

        if (allowed) {
                if (count_allowed)
                        count(slot, req->dir, CGP_VERDICT_ALLOWED);
                return 1;
        }

        if (f->v.flags & CGP_F_AUDIT) {
                count(slot, req->dir, CGP_VERDICT_AUDITED);
                log_denial(slot, f, req, w, CGP_DENIAL_AUDIT);
                return 1;
        }

        count(slot, req->dir, CGP_VERDICT_DENIED);
        log_denial(slot, f, req, w, 0);
        return 0;
}

static __always_inline bool addr_is_zero(const struct cgp_request *req) {
        const __u32 *w = (const __u32 *) req->addr;

        return (w[0] | w[1] | w[2] | w[3]) == 0;
}

/* A connect() or sendmsg() to the unspecified address reaches a local one (see ip_route_connect()
 * and ip6_datagram_connect()): for IPv4 the source address of the datagram (IP_PKTINFO), else
 * the address the socket is bound to, else 127.0.0.1; for IPv6 always ::1. Judge that one. */
static __always_inline void resolve_unspecified(struct bpf_sock_addr *ctx, struct cgp_request *req, __u8 hook,
                                                int family) {
        __u32 src = 0;

        if (!addr_is_zero(req))
                return;

        if (req->family == CGP_AF_INET6) {
                req->addr[15] = 1;
                return;
        }

        if (hook == CGP_HOOK_SENDMSG) {
                if (family == CGP_AF_INET)
                        src = ctx->msg_src_ip4;
                else if (ctx->msg_src_ip6[0] == 0 && ctx->msg_src_ip6[1] == 0 &&
                         ctx->msg_src_ip6[2] == bpf_htonl(0xffff))
                        src = ctx->msg_src_ip6[3];
        }
        if (src == 0) {
                struct bpf_sock *sk = ctx->sk;

                if (sk)
                        src = sk->src_ip4;
        }
        if (src == 0)
                src = bpf_htonl(0x7f000001);
        __builtin_memcpy(req->addr, &src, sizeof(src));
}

/* Name rules: the skb programs that learn addresses, and cgp_dns_allows(). */
#include "cgpolicy-dns.h"

static __always_inline int judge(struct bpf_sock_addr *ctx, int family, __u8 dir, __u8 hook) {
        struct cgp_what w = { .protocol = (__u16) ctx->protocol, .type = (__u8) ctx->type, .hook = hook,
                            .task = true };
        __u16 port = bpf_ntohs((__u16) ctx->user_port);
        __u64 cg = bpf_get_current_cgroup_id();
        struct cgp_request req;
        struct cgp_found f;
        __u32 ip[4] = {}, slot;
        int allowed = 0;

        /* The fast set first. Port 0 (bind: an ephemeral port; connect: ping sockets) and
         * IPv4-mapped destinations (judged as IPv4) only the slow way. */
        if (port != 0 && (family == CGP_AF_INET || ctx->user_ip6[0] != 0 || ctx->user_ip6[1] != 0 ||
                          ctx->user_ip6[2] != bpf_htonl(0xffff))) {
                slot = fast_allows(cg, dir, (__u8) family, cgp_proto_class(ctx->protocol), port);
                if (slot != 0) {
                        count(slot, dir, CGP_VERDICT_ALLOWED);
                        return 1;
                }
        }

        if (family == CGP_AF_INET)
                ip[0] = ctx->user_ip4;
        else {
                ip[0] = ctx->user_ip6[0];
                ip[1] = ctx->user_ip6[1];
                ip[2] = ctx->user_ip6[2];
                ip[3] = ctx->user_ip6[3];
        }
        cgp_request_init(&req, dir, ctx->protocol, family, ip, port);
        if (dir == CGP_DIR_CONNECT)
                resolve_unspecified(ctx, &req, hook, family);

        cgp_find_from(NULL, false, cg, CGP_F_HAS_DIR(dir) | CGP_F_LEARN, CGP_F_OPEN(dir), &f);
        if (f.policy_cgroup_id != 0) {
                /* An allow wins whatever else matches: a learned address first (two hash
                 * lookups, cheaper than the tries), then the static rules. */
                if ((f.v.flags & CGP_F_NAMES) && cgp_dns_allows(f.v.policy, &req))
                        allowed = 1;
                else
                        allowed = cgp_policy_allows(NULL, f.v.policy, f.v.flags, &req);
        }
        return conclude(&f, &req, &w, allowed, true, 0);
}

SEC("cgroup/bind4")
int cgpolicy_bind4(struct bpf_sock_addr *ctx) {
        return judge(ctx, CGP_AF_INET, CGP_DIR_BIND, CGP_HOOK_BIND);
}

SEC("cgroup/bind6")
int cgpolicy_bind6(struct bpf_sock_addr *ctx) {
        return judge(ctx, CGP_AF_INET6, CGP_DIR_BIND, CGP_HOOK_BIND);
}

SEC("cgroup/connect4")
int cgpolicy_connect4(struct bpf_sock_addr *ctx) {
        return judge(ctx, CGP_AF_INET, CGP_DIR_CONNECT, CGP_HOOK_CONNECT);
}

SEC("cgroup/connect6")
int cgpolicy_connect6(struct bpf_sock_addr *ctx) {
        return judge(ctx, CGP_AF_INET6, CGP_DIR_CONNECT, CGP_HOOK_CONNECT);
}

SEC("cgroup/sendmsg4")
int cgpolicy_sendmsg4(struct bpf_sock_addr *ctx) {
        return judge(ctx, CGP_AF_INET, CGP_DIR_CONNECT, CGP_HOOK_SENDMSG);
}

SEC("cgroup/sendmsg6")
int cgpolicy_sendmsg6(struct bpf_sock_addr *ctx) {
        return judge(ctx, CGP_AF_INET6, CGP_DIR_CONNECT, CGP_HOOK_SENDMSG);
}

/* The kind (CGP_SOCK_*) of a new socket, or 0 for those the sock_addr programs judge in full. */
static __always_inline __u32 sock_kind(__u32 family, __u32 type, __u32 protocol) {
        if (type == SOCK_STREAM_) {
                if (protocol == 6 /* TCP */ || protocol == 262 /* MPTCP */)
                        return 0;
                return protocol == 132 /* SCTP */ ? CGP_SOCK_SCTP : CGP_SOCK_OTHER;
        }
        if (type == SOCK_DGRAM_) {
                if (protocol == 17 /* UDP */)
                        return 0;
                if (protocol == 136 /* UDP-Lite */)
                        return CGP_SOCK_UDPLITE;
                if ((family == CGP_AF_INET && protocol == 1 /* ICMP */) ||
                    (family == CGP_AF_INET6 && protocol == 58 /* ICMPv6 */))
                        return CGP_SOCK_PING;
                return CGP_SOCK_OTHER;
        }
        if (type == SOCK_RAW_)
                return CGP_SOCK_RAW;
        if (type == SOCK_SEQPACKET_ && protocol == 132)
                return CGP_SOCK_SCTP;
        return CGP_SOCK_OTHER;
}

SEC("cgroup/sock_create")
int cgpolicy_sock_create(struct bpf_sock *ctx) {
        __u32 family = ctx->family, type = ctx->type, protocol = ctx->protocol, kind;
        struct cgp_what w = { .protocol = (__u16) protocol, .type = (__u8) type,
                            .hook = CGP_HOOK_SOCK_CREATE, .task = true };
        struct cgp_request req = {};
        struct cgp_found f;

        kind = sock_kind(family, type, protocol);
        if (kind == 0)
                return 1;

        req.dir = CGP_DIR_SOCKET;
        req.family = (__u8) family;
        req.proto = cgp_proto_class(protocol);
        cgp_find(NULL, false, CGP_F_SOCKETS, 0, &f);
        return conclude(&f, &req, &w, f.policy_cgroup_id != 0 && (f.v.sockets & kind), true, (__u8) kind);
}

/* Does the IPv4 header at the start of skb carry a source route option (LSRR, SSRR)? */
static __always_inline bool ipv4_source_routed(struct __sk_buff *skb, __u8 ihl) {
        __u32 off = 20, end = (__u32) ihl * 4;

        for (int i = 0; i < 40; i++) {
                __u8 opt[2];

                if (off >= end)
                        break;
                if (bpf_skb_load_bytes(skb, off, opt, 1) < 0)
                        break;
                if (opt[0] == 0)                /* end of options */
                        break;
                if (opt[0] == 1) {              /* no-op */
                        off++;
                        continue;
                }
                if (opt[0] == 0x83 || opt[0] == 0x89)
                        return true;
                if (off + 1 >= end || bpf_skb_load_bytes(skb, off + 1, &opt[1], 1) < 0 || opt[1] < 2)
                        break;
                off += opt[1];
        }
        return false;
}

/* Does the IPv6 header at the start of skb have a routing header, after at most three
 * hop-by-hop or destination options headers? */
static __always_inline bool ipv6_source_routed(struct __sk_buff *skb, __u8 nexthdr) {
        __u32 off = 40;

        for (int i = 0; i < 4; i++) {
                __u8 h[2];

                if (nexthdr == 43)              /* routing header */
                        return true;
                if (nexthdr != 0 && nexthdr != 60)
                        return false;
                if (bpf_skb_load_bytes(skb, off, h, 2) < 0)
                        return false;
                nexthdr = h[0];
                off += ((__u32) h[1] + 1) * 8;
        }
        return false;
}

SEC("cgroup_skb/egress")
int cgpolicy_egress(struct __sk_buff *skb) {
        struct cgp_what w = { .hook = CGP_HOOK_EGRESS };
        void *data = (void *) (long) skb->data, *data_end = (void *) (long) skb->data_end;
        struct cgp_request req = {};
        struct cgp_found f;
        __u8 b[8];

        /* The common case, read directly from the packet: no options, no extension header. */
        if (skb->protocol == bpf_htons(ETH_P_IP_)) {
                if (data + 1 <= data_end && (*(__u8 *) data & 0xf) <= 5)
                        return 1;
                if (bpf_skb_load_bytes(skb, 0, b, 1) < 0 || (b[0] & 0xf) <= 5)
                        return 1;
                if (!ipv4_source_routed(skb, b[0] & 0xf))
                        return 1;
                req.family = CGP_AF_INET;
                if (bpf_skb_load_bytes(skb, 16, req.addr, 4) < 0 || bpf_skb_load_bytes(skb, 9, &b[1], 1) < 0)
                        return 0;
                w.protocol = b[1];
        } else if (skb->protocol == bpf_htons(ETH_P_IPV6_)) {
                if (data + 7 <= data_end) {
                        __u8 nh = *((__u8 *) data + 6);

                        if (nh != 0 && nh != 43 && nh != 60)
                                return 1;
                }
                if (bpf_skb_load_bytes(skb, 6, b, 1) < 0)
                        return 1;
                if (b[0] != 0 && b[0] != 43 && b[0] != 60)
                        return 1;
                if (!ipv6_source_routed(skb, b[0]))
                        return 1;
                req.family = CGP_AF_INET6;
                if (bpf_skb_load_bytes(skb, 24, req.addr, 16) < 0)
                        return 0;
                w.protocol = b[0];
        } else
                return 1;

        /* A source-routed packet goes first to an address no connect/sendmsg program judged:
         * judged by nothing, it is dropped where a connect policy applies. */
        req.dir = CGP_DIR_CONNECT;
        req.proto = cgp_proto_class(w.protocol);
        cgp_find(skb, true, CGP_F_HAS_DIR(CGP_DIR_CONNECT) | CGP_F_LEARN, CGP_F_OPEN(CGP_DIR_CONNECT), &f);
        return conclude(&f, &req, &w, 0, true, 0);
}

/* The kernel's types, as far as the listen program reads them: CO-RE (the offsets come from the
 * running kernel's BTF when the program is loaded). */
struct in6_addr___cgp {
        union {
                __u8 u6_addr8[16];
                __u32 u6_addr32[4];
        } in6_u;
} __attribute__((preserve_access_index));

struct sock_common___cgp {
        __u32 skc_rcv_saddr;
        __u16 skc_num;
        unsigned short skc_family;
        struct in6_addr___cgp skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock___cgp {
        struct sock_common___cgp __sk_common;
        __u16 sk_type;
        __u16 sk_protocol;
} __attribute__((preserve_access_index));

struct socket___cgp {
        struct sock___cgp *sk;
} __attribute__((preserve_access_index));

/* listen(): no sock_addr program runs when it binds a socket to a port of the kernel's choice,
 * so judge it here as a bind of the address and port it listens on; port 0 (not bound yet: the
 * kernel binds it after this hook) is matched only by rules for every port. Counted only when
 * not allowed: an allowed listen() follows a bind() that was counted. */
SEC("lsm_cgroup/socket_listen")
int BPF_PROG(cgpolicy_listen, struct socket___cgp *sock, int backlog) {
        struct cgp_what w = { .hook = CGP_HOOK_LISTEN, .task = true };
        struct sock___cgp *sk = sock->sk;
        struct cgp_request req;
        struct cgp_found f;
        __u32 ip[4] = {};
        int family, allowed = 0;

        if (!sk)
                return 1;
        family = sk->__sk_common.skc_family;
        if (family != CGP_AF_INET && family != CGP_AF_INET6)
                return 1;
        w.protocol = sk->sk_protocol;
        w.type = (__u8) sk->sk_type;

        if (family == CGP_AF_INET)
                ip[0] = sk->__sk_common.skc_rcv_saddr;
        else
                for (int i = 0; i < 4; i++)
                        ip[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
        cgp_request_init(&req, CGP_DIR_BIND, w.protocol, family, ip, sk->__sk_common.skc_num);

        cgp_find(NULL, false, CGP_F_HAS_DIR(CGP_DIR_BIND) | CGP_F_LEARN, CGP_F_OPEN(CGP_DIR_BIND), &f);
        if (f.policy_cgroup_id != 0)
                allowed = cgp_rules_allow(NULL, f.v.policy, f.v.flags, &req);
        return conclude(&f, &req, &w, allowed, false, 0);
}

struct kernel_cap___cgp {
        __u64 bits;     /* 6.1: __u32 cap[2]; since 6.3: u64 val; the same 8 bytes */
};

struct cred___cgp {
        struct kernel_cap___cgp cap_effective;
} __attribute__((preserve_access_index));

struct task_struct___cgp {
        const struct cred___cgp *cred;
} __attribute__((preserve_access_index));

#define CAP_SYS_ADMIN_  21
#define CAP_BPF_        39

SEC("lsm_cgroup/bpf")
int BPF_PROG(cgpolicy_bpf_guard, int cmd, void *attr, unsigned int size) {
        struct task_struct___cgp *task = (void *) bpf_get_current_task_btf();
        struct cgp_what w = { .hook = CGP_HOOK_BPF, .task = true };
        struct cgp_request req = {};
        struct cgp_found f;
        __u64 caps = 0;

        if (bpf_probe_read_kernel(&caps, sizeof(caps), &task->cred->cap_effective) < 0)
                caps = 0;
        if (caps & ((1ULL << CAP_SYS_ADMIN_) | (1ULL << CAP_BPF_)))
                return 1;

        /* Refused; recorded (not counted) in the unit's own log, the command as the port. */
        req.dir = CGP_DIR_SOCKET;
        req.port = (__u16) cmd;
        cgp_find(NULL, false, CGP_F_SOCKETS, 0, &f);
        log_denial(f.policy_cgroup_id ? f.v.slot : 0, &f, &req, &w, 0);
        return 0;
}

char LICENSE[] SEC("license") = "GPL";
