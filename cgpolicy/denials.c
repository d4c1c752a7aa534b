/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "cgroup-util.h"
#include "denials.h"
#include "macro.h"
#include "runtime.h"

/* A record and where it is: the order records are printed in is (time, key). */
typedef struct Denial {
        struct cgp_denial d;
        uint32_t key;
} Denial;

static int denial_cmp(const void *a, const void *b) {
        const Denial *x = a, *y = b;

        if (x->d.time_ns != y->d.time_ns)
                return x->d.time_ns < y->d.time_ns ? -1 : 1;
        return x->key < y->key ? -1 : x->key > y->key;
}

static bool denial_after(const Denial *x, const DenialCursor *c) {
        return x->d.time_ns > c->time_ns || (x->d.time_ns == c->time_ns && x->key > c->key);
}

static const char *proto_name(uint8_t p) {
        return p == CGP_PROTO_TCP ? "tcp" : p == CGP_PROTO_UDP ? "udp" : "other";
}

const char *denial_hook_name(uint8_t h) {
        static const char *const names[CGP_HOOK_MAX] = {
                [CGP_HOOK_BIND]        = "bind",
                [CGP_HOOK_CONNECT]     = "connect",
                [CGP_HOOK_SENDMSG]     = "sendmsg",
                [CGP_HOOK_SOCK_CREATE] = "socket",
                [CGP_HOOK_LISTEN]      = "listen",
                [CGP_HOOK_EGRESS]      = "source-routed",
                [CGP_HOOK_BPF]         = "bpf",
        };

        return h < CGP_HOOK_MAX && names[h] ? names[h] : "?";
}

/* The kind of socket a sock_create record is about, as X-CgPolicySocketAllow= names it. */
static const char *socket_kind_name(const struct cgp_denial *d) {
        if (d->type == 3 /* SOCK_RAW */)
                return "raw";
        if (d->type == 2 /* SOCK_DGRAM */ && d->protocol == 136)
                return "udplite";
        if (d->type == 2 && (d->protocol == 1 || d->protocol == 58))
                return "ping";
        if (d->protocol == 132)
                return "sctp";
        return "other";
}

static void print_denial(const struct cgp_denial *d) {
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        _cleanup_free_ char *path = NULL;
        char addr[INET6_ADDRSTRLEN] = "?", when[64] = "?", comm[17] = {};
        struct timespec rt, bt;
        const char *who = NULL;
        char idbuf[48];

        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_BOOTTIME, &bt);
        {
                int64_t now_boot = (int64_t) bt.tv_sec * 1000000000 + bt.tv_nsec;
                int64_t ago = now_boot - (int64_t) d->time_ns;
                time_t t = (time_t) (rt.tv_sec - ago / 1000000000 - (rt.tv_nsec < ago % 1000000000 ? 1 : 0));
                struct tm tm;

                if (localtime_r(&t, &tm))
                        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        }

        if (d->policy_cgroup_id != 0 && runtime_read(d->policy_cgroup_id, &e) >= 0 && e.unit)
                who = e.unit;
        if (!who && cg_id_exists(d->cgroup_id, &path) > 0 && path) {
                const char *b = strrchr(path, '/');
                who = b ? b + 1 : path;
        }
        if (!who) {
                snprintf(idbuf, sizeof idbuf, "cgroup %" PRIu64, (uint64_t) d->cgroup_id);
                who = idbuf;
        }

        memcpy(comm, d->comm, 16);
        for (char *c = comm; *c; c++)
                if ((unsigned char) *c < 0x20)
                        *c = '?';

        printf("%s %s pid %" PRIu32 " (%s) %s ", when, who, d->pid, comm[0] ? comm : "?", denial_hook_name(d->hook));
        if (d->hook == CGP_HOOK_SOCK_CREATE)
                printf("%s %s protocol %u", d->family == CGP_AF_INET ? "ipv4" : "ipv6", socket_kind_name(d), d->protocol);
        else {
                inet_ntop(d->family == CGP_AF_INET ? AF_INET : AF_INET6, d->addr, addr, sizeof addr);
                printf("%s %s%s%s:%u", d->hook == CGP_HOOK_EGRESS ? "via" : proto_name(d->proto),
                       d->family == CGP_AF_INET6 ? "[" : "", addr, d->family == CGP_AF_INET6 ? "]" : "", d->port);
        }
        printf(" %s\n", d->flags & CGP_DENIAL_AUDIT ? "would be denied (audit)" :
                        d->flags & CGP_DENIAL_NO_POLICY ? "denied (no policy applies)" : "denied");
}

/* Appends the records after c in the log to *list. */
static int denials_collect(Maps *m, const DenialCursor *c, Denial **list, size_t *n) {
        enum { CHUNK = 1024 };
        _cleanup_free_ __u32 *keys = calloc(CHUNK, sizeof(__u32));
        _cleanup_free_ struct cgp_denial *values = calloc(CHUNK, sizeof(struct cgp_denial));
        __u32 in = 0, out = 0;
        bool first = true, done = false;

        if (!keys || !values)
                return -ENOMEM;
        while (!done) {
                __u32 count = CHUNK;

                if (bpf_map_lookup_batch(m->fd[MAP_DENIALS], first ? NULL : &in, &out, keys, values, &count, NULL) < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        done = true;    /* the last (possibly partial) chunk */
                }
                first = false;
                in = out;
                for (__u32 i = 0; i < count; i++) {
                        Denial x = { .d = values[i], .key = keys[i] };
                        Denial *l;

                        if (!denial_after(&x, c))
                                continue;
                        l = reallocarray(*list, *n + 1, sizeof(Denial));
                        if (!l)
                                return -ENOMEM;
                        *list = l;
                        l[(*n)++] = x;
                }
        }
        return 0;
}

int denials_print_new(Maps *m, DenialCursor *c) {
        _cleanup_free_ Denial *all = NULL;
        size_t n = 0;
        int r;

        assert(m);
        assert(c);

        r = denials_collect(m, c, &all, &n);
        if (r < 0)
                return r;
        if (n > 0)
                qsort(all, n, sizeof(Denial), denial_cmp);
        for (size_t i = 0; i < n; i++) {
                print_denial(&all[i].d);
                c->time_ns = all[i].d.time_ns;
                c->key = all[i].key;
        }
        fflush(stdout);
        return (int) MIN(n, (size_t) INT_MAX);
}
