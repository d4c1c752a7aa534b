/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dns-maps.h"
#include "macro.h"

int maps_dns_write(Maps *m, const CompiledPolicy *c) {
        struct cgp_dns_rules_key rk = { .policy = c->policy };

        if (c->n_names == 0)
                return 0;
        /* The rules first: a name found refers to them. */
        if (bpf_map_update_elem(m->fd[MAP_DNS_RULES], &rk, &c->dns_rules, BPF_ANY) < 0)
                return -errno;
        for (size_t i = 0; i < c->n_names; i++)
                if (bpf_map_update_elem(m->fd[MAP_DNS_NAMES], &c->names[i].key, &c->names[i].value, BPF_ANY) < 0)
                        return -errno;
        return 0;
}

uint32_t dns_now_s(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
                return 0;
        return (uint32_t) ts.tv_sec;
}

static int learned_cmp(const void *a, const void *b) {
        const DnsLearned *x = a, *y = b;

        if (x->rule != y->rule)
                return x->rule < y->rule ? -1 : 1;
        if (x->family != y->family)
                return x->family < y->family ? -1 : 1;
        return memcmp(x->addr, y->addr, sizeof x->addr);
}

int maps_dns_learned(Maps *m, uint32_t tag, DnsLearned **ret, size_t *ret_n) {
        struct cgp_dns_learned_key key, next;
        _cleanup_free_ DnsLearned *l = NULL;
        uint32_t now = dns_now_s();
        size_t n = 0;
        void *prev = NULL;

        while (bpf_map_get_next_key(m->fd[MAP_DNS_LEARNED], prev, &next) == 0) {
                struct cgp_dns_learned v;

                key = next;
                prev = &key;
                if (key.policy != tag)
                        continue;
                if (bpf_map_lookup_elem(m->fd[MAP_DNS_LEARNED], &key, &v) < 0)
                        continue;       /* evicted meanwhile */
                for (unsigned i = 0; i < CGP_DNS_MAX_RULES; i++) {
                        DnsLearned *x;

                        if (v.expires_s[i] <= now)
                                continue;
                        x = reallocarray(l, n + 1, sizeof(DnsLearned));
                        if (!x)
                                return -ENOMEM;
                        l = x;
                        l[n] = (DnsLearned) {
                                .rule = i,
                                .family = key.family == CGP_AF_INET ? AF_INET : AF_INET6,
                                .expires_s = v.expires_s[i],
                        };
                        memcpy(l[n].addr, key.addr, sizeof key.addr);
                        n++;
                }
        }
        if (n > 0)
                qsort(l, n, sizeof(DnsLearned), learned_cmp);
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}
