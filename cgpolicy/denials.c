/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "cgroup-util.h"
#include "denials.h"
#include "macro.h"
#include "runtime.h"

static int denial_cmp(const void *a, const void *b) {
        const struct cgp_denial *x = a, *y = b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *proto_name(uint8_t p) {
        return p == CGP_PROTO_TCP ? "tcp" : p == CGP_PROTO_UDP ? "udp" : "other";
}

static const char *hook_name(uint8_t h) {
        return h == CGP_HOOK_BIND ? "bind" : h == CGP_HOOK_CONNECT ? "connect" : "sendmsg";
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

        inet_ntop(d->family == CGP_AF_INET ? AF_INET : AF_INET6, d->addr, addr, sizeof addr);
        memcpy(comm, d->comm, 16);
        for (char *c = comm; *c; c++)
                if ((unsigned char) *c < 0x20)
                        *c = '?';

        printf("%s %s pid %" PRIu32 " (%s) %s %s %s%s%s:%u %s\n",
               when, who, d->pid, comm[0] ? comm : "?", hook_name(d->hook), proto_name(d->proto),
               d->family == CGP_AF_INET6 ? "[" : "", addr, d->family == CGP_AF_INET6 ? "]" : "", d->port,
               d->flags & CGP_DENIAL_AUDIT ? "would be denied (audit)" :
               d->flags & CGP_DENIAL_NO_POLICY ? "denied (no policy written)" : "denied");
}

int denials_print_new(Maps *m, uint64_t *last) {
        _cleanup_free_ struct cgp_denial *all = calloc(CGP_MAX_DENIALS, sizeof(struct cgp_denial));
        size_t n = 0;

        assert(m);
        assert(last);

        if (!all)
                return -ENOMEM;
        for (__u32 i = 0; i < CGP_MAX_DENIALS; i++) {
                struct cgp_denial d;

                if (bpf_map_lookup_elem(m->fd[MAP_DENIALS], &i, &d) < 0)
                        return -errno;
                /* Skip empty slots and slots caught while being rewritten. */
                if (d.seq == 0 || d.seq % CGP_MAX_DENIALS != i || d.seq <= *last)
                        continue;
                all[n++] = d;
        }
        qsort(all, n, sizeof(struct cgp_denial), denial_cmp);
        for (size_t i = 0; i < n; i++) {
                print_denial(&all[i]);
                *last = all[i].seq;
        }
        fflush(stdout);
        return (int) n;
}
