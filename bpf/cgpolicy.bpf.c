/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The cgroup sock_addr programs of cgpolicy: bind4/6, connect4/6, sendmsg4/6. One set is
 * loaded and pinned per boot ("cgpolicy load"); systemd attaches it to policed units with
 * BPFProgram= (multi). Each unit's policy lives in the maps below, keyed by cgroup id and
 * written by "cgpolicy apply". See cgpolicy-abi.h for the map layout.
 *
 * The cgroup the policy is looked up for is the cgroup of the calling task (and its
 * ancestors). The kernel runs these programs for the cgroup the SOCKET was created in; the two
 * differ only when a socket is passed to, or kept by a task that moved to, another cgroup. A
 * socket created in a policed unit and used by a task outside any policed cgroup is therefore
 * denied (fail closed); one created outside and passed in is not policed at all (as with
 * systemd's own SocketBindDeny=). */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "cgpolicy-abi.h"

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct cgp_meta);
} cgp_meta SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, CGP_MAX_CGROUPS);
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
 * depend on the size of the trie. cgp_ports keeps them too, so programs of an older load that
 * look only there (running units keep their programs across "cgpolicy load") still see them. */
struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, CGP_MAX_TRIE_ENTRIES);
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
        __uint(max_entries, CGP_MAX_POLICIES * CGP_DIR_MAX);
        __type(key, __u32);
        __type(value, struct cgp_counter);
} cgp_counters SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, CGP_MAX_DENIALS);
        __type(key, __u32);
        __type(value, struct cgp_denial);
} cgp_denials SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct cgp_state);
} cgp_state SEC(".maps");

/* Set by the loader when the running kernel offers bpf_get_current_pid_tgid() and
 * bpf_get_current_comm() to sock_addr programs; when 0 the verifier removes those calls as
 * dead code and denial records carry no pid/comm. */
const volatile __u32 cgp_have_task_helpers = 1;

#define CGP_LOOKUP_PORT_EXACT(lctx, k) ((const struct cgp_match *) bpf_map_lookup_elem(&cgp_port_exact, (k)))
#define CGP_LOOKUP_PORT(lctx, k)    ((const struct cgp_match *) bpf_map_lookup_elem(&cgp_ports, (k)))
#define CGP_LOOKUP_ADDR(lctx, k)    ((const struct cgp_addr_value *) bpf_map_lookup_elem(&cgp_addrs, (k)))
#define CGP_LOOKUP_PORTSET(lctx, k) ((const struct cgp_match *) bpf_map_lookup_elem(&cgp_portsets, (k)))
#include "cgpolicy-match.h"

/* What a request is counted as, in struct cgp_counter. */
enum cgp_verdict {
        CGP_VERDICT_ALLOWED,
        CGP_VERDICT_DENIED,             /* EPERM (mode enforce) */
        CGP_VERDICT_AUDITED,            /* would have been denied, allowed (mode audit) */
};

static __always_inline void count(__u32 policy, __u8 dir, enum cgp_verdict verdict) {
        __u32 idx = policy * CGP_DIR_MAX + dir;
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

static __always_inline void log_denial(const struct cgp_request *req, __u8 hook, __u8 flags,
                                       __u64 cgroup_id, __u64 policy_cgroup_id) {
        struct cgp_state *st;
        struct cgp_denial *d;
        __u32 zero = 0, slot;
        __u64 seq;

        st = bpf_map_lookup_elem(&cgp_state, &zero);
        if (!st)
                return;
        seq = __sync_fetch_and_add(&st->denial_seq, 1) + 1;
        slot = (__u32) (seq % CGP_MAX_DENIALS);
        d = bpf_map_lookup_elem(&cgp_denials, &slot);
        if (!d)
                return;

        d->seq = 0;
        d->time_ns = bpf_ktime_get_boot_ns();
        d->cgroup_id = cgroup_id;
        d->policy_cgroup_id = policy_cgroup_id;
        if (cgp_have_task_helpers) {
                d->pid = (__u32) (bpf_get_current_pid_tgid() >> 32);
                bpf_get_current_comm(d->comm, sizeof(d->comm));
        } else {
                d->pid = 0;
                __builtin_memset(d->comm, 0, sizeof(d->comm));
        }
        d->family = req->family;
        d->proto = req->proto;
        d->hook = hook;
        d->flags = flags;
        __builtin_memcpy(d->addr, req->addr, 16);
        d->port = req->port;
        d->seq = seq;
}

/* Returns 1 to let the call proceed, 0 to make it fail with EPERM. */
static __always_inline int judge(struct bpf_sock_addr *ctx, int family, __u8 dir, __u8 hook) {
        struct cgp_request req;
        struct cgp_cgroup *v;
        __u32 ip[4] = {};
        __u32 policy = 0, flags = 0, found_policy = 0;
        __u64 cg, policy_cg = 0;

        if (family == CGP_AF_INET)
                ip[0] = ctx->user_ip4;
        else {
                ip[0] = ctx->user_ip6[0];
                ip[1] = ctx->user_ip6[1];
                ip[2] = ctx->user_ip6[2];
                ip[3] = ctx->user_ip6[3];
        }
        cgp_request_init(&req, dir, ctx->protocol, family, ip, bpf_ntohs((__u16) ctx->user_port));

        /* The deepest policed cgroup, from the task's own cgroup upwards, whose policy has rules
         * for this direction decides. */
        cg = bpf_get_current_cgroup_id();
        v = bpf_map_lookup_elem(&cgp_cgroups, &cg);
        if (v) {
                found_policy = v->policy;
                if (v->flags & CGP_F_HAS_DIR(dir)) {
                        policy = v->policy;
                        flags = v->flags;
                        policy_cg = cg;
                }
        }
        if (policy == 0) {
                __u32 found_depth_policy = 0;

                for (int level = 0; level < CGP_MAX_CGROUP_DEPTH; level++) {
                        __u64 a = bpf_get_current_ancestor_cgroup_id(level);

                        if (a == 0 || a == cg)
                                break;
                        v = bpf_map_lookup_elem(&cgp_cgroups, &a);
                        if (!v)
                                continue;
                        found_depth_policy = v->policy;
                        if (v->flags & CGP_F_HAS_DIR(dir)) {
                                policy = v->policy;
                                flags = v->flags;
                                policy_cg = a;
                        }
                }
                if (found_policy == 0)
                        found_policy = found_depth_policy;
        }

        if (policy == 0) {
                if (found_policy != 0) {
                        /* Policed, but no rules for this direction: allowed. */
                        count(found_policy, dir, CGP_VERDICT_ALLOWED);
                        return 1;
                }
                /* Our program is attached but no policy was written: fail closed. */
                count(0, dir, CGP_VERDICT_DENIED);
                log_denial(&req, hook, CGP_DENIAL_NO_POLICY, cg, 0);
                return 0;
        }

        if (cgp_policy_allows(NULL, policy, flags, &req)) {
                count(policy, dir, CGP_VERDICT_ALLOWED);
                return 1;
        }

        if (flags & CGP_F_AUDIT) {
                count(policy, dir, CGP_VERDICT_AUDITED);
                log_denial(&req, hook, CGP_DENIAL_AUDIT, cg, policy_cg);
                return 1;
        }

        count(policy, dir, CGP_VERDICT_DENIED);
        log_denial(&req, hook, 0, cg, policy_cg);
        return 0;
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

char LICENSE[] SEC("license") = "GPL";
