/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the learning mode's proposer: the input is read as learned records
 * (16 bytes each, after one byte of threshold), some of which come with a lookup that answered
 * their address (a LearnName); the proposed drop-in must parse through the one parser without
 * an error and allow every record (by address, or by a name rule matching a name that reached
 * it), and the JSON and the diff (against the proposal itself: everything kept) must be made.
 * No seed corpus is needed. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "learn-propose.h"
#include "log.h"
#include "macro.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const units[] = { "fuzz@a.service", "fuzz@b.service" };
static const char *const names[] = {
        "a.example.com", "b.example.com", "c.example.com", "d.example.com", "x.a.example.com", "example.com",
        "a.com", "b.com", "localhost", "1.2.3.4", "Upper.example.com", "a.b.c.example.net", "b.b.c.example.net",
        "c.b.c.example.net", "_srv.example.net", "-x.example.net",
};

/* The rule of learn-propose.h (NAMES), apart from the proposer's. */
static bool reached(const LearnName *nm, const LearnRecord *r) {
        if (r->dir != LEARN_CONNECT || (r->protocol != IPPROTO_TCP && r->protocol != IPPROTO_UDP) ||
            r->port == 0 || r->port == 53 || !streq(nm->unit, r->unit) || nm->family != r->family ||
            memcmp(nm->address.bytes, r->address.bytes, r->family == AF_INET ? 4 : 16) != 0)
                return false;
        return nm->first_usec <= r->first_usec && r->last_usec <= nm->last_usec + (uint64_t) nm->ttl * 1000000;
}

static bool name_allowed(const Policy *p, const LearnRecord *r, const LearnName *nm, size_t n) {
        const PolicyRuleList *l = &p->rules[POLICY_CONNECT][POLICY_ALLOW];

        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; reached(&nm[i], r) && j < l->n; j++) {
                        const PolicyRule *x = &l->rules[j];

                        if (policy_rule_is_name(x) && policy_rule_name_matches(x, nm[i].name) &&
                            (!x->family || x->family == r->family) && (!x->protocol || x->protocol == r->protocol) &&
                            ((!x->port_min && !x->port_max) || (r->port >= x->port_min && r->port <= x->port_max)))
                                return true;
                }
        return false;
}

static char *propose(int (*fn)(const char *, const LearnRecord *, size_t, const LearnOptions *, FILE *),
                     const LearnRecord *r, size_t n, const LearnOptions *o) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                abort();
        if (fn("fuzz@.service", r, n, o, f) < 0)
                abort();
        fclose(f);
        return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ LearnRecord *r = NULL;
        _cleanup_free_ LearnName *nm = NULL;
        _cleanup_free_ char *text = NULL, *json = NULL, *diff = NULL;
        Policy p;
        LearnOptions o = {};
        size_t n, n_nm = 0;
        unsigned line = 0;

        log_set_max_level(LOG_CRIT);
        if (size < 1)
                return 0;
        o.prefix_threshold = data[0] % 8;
        data++;
        size--;
        n = size / 16;
        r = calloc(n + 1, sizeof(LearnRecord));
        nm = calloc(n + 1, sizeof(LearnName));
        if (!r || !nm)
                abort();
        for (size_t i = 0; i < n; i++) {
                const uint8_t *b = data + i * 16;
                LearnRecord *x = &r[i];

                x->dir = (LearnDirection) (b[0] % 3);
                x->family = b[0] & 0x80 ? AF_INET6 : AF_INET;
                x->protocol = (int[]) { IPPROTO_TCP, IPPROTO_UDP, 0, IPPROTO_SCTP }[(b[0] >> 2) % 4];
                x->socket_kind = 1u << ((b[0] >> 4) % 5);
                x->port = (uint16_t) (b[1] << 8 | b[2]);
                x->count = b[3];
                x->first_usec = (uint64_t) b[4] * 1000000;
                x->last_usec = (uint64_t) b[5] * 1000000;
                x->denied = b[6] & 1;
                /* Addresses from few bytes, so that prefixes form: the first byte, the third
                 * and the last vary. */
                x->address.bytes[0] = b[7];
                x->address.bytes[2] = b[8] & 3;
                x->address.bytes[x->family == AF_INET ? 3 : 15] = b[9];
                if (x->family == AF_INET6)
                        x->address.bytes[7] = b[10] & 1;
                x->unit = units[(b[6] >> 1) & 1];

                /* A lookup that answered this address, by this unit or the other. */
                if (b[11] & 0x80) {
                        LearnName *y = &nm[n_nm++];

                        y->unit = units[(b[11] >> 6) & 1];
                        y->name = names[b[11] % ELEMENTSOF(names)];
                        y->family = x->family;
                        y->address = x->address;
                        y->ttl = b[12];
                        y->count = b[15];
                        y->first_usec = (uint64_t) b[13] * 1000000;
                        y->last_usec = y->first_usec + (uint64_t) (b[14] % 32) * 1000000;
                }
        }
        o.names = nm;
        o.n_names = n_nm;

        text = propose(learn_propose_dropin, r, n, &o);

        policy_init(&p);
        for (char *l = text, *end; l && *l; l = end ? end + 1 : NULL) {
                char *eq;

                end = strchr(l, '\n');
                if (end)
                        *end = 0;
                line++;
                if (*l == '#' || *l == '[' || !*l)
                        continue;
                eq = strchr(l, '=');
                if (!eq)
                        abort();
                *eq = 0;
                if (policy_assign(&p, &(PolicySource) { "fuzz", line, l }, eq + 1) < 0)
                        abort();
        }
        if (p.error)
                abort();
        for (size_t i = 0; i < n; i++) {
                const LearnRecord *x = &r[i];

                if (x->dir == LEARN_SOCKET) {
                        if (!(p.socket_allow & x->socket_kind))
                                abort();
                } else if (!policy_allows(&p, x->dir == LEARN_BIND ? POLICY_BIND : POLICY_CONNECT, x->family,
                                          x->protocol == IPPROTO_SCTP ? 0 : x->protocol, x->address.bytes, x->port) &&
                           !name_allowed(&p, x, nm, n_nm))
                        abort();
        }

        o.current = &p;
        json = propose(learn_propose_json, r, n, &o);
        diff = propose(learn_propose_diff, r, n, &o);
        if (strstr(diff, "\n+ ") || strstr(diff, "\n- "))
                abort();
        policy_done(&p);
        return 0;
}
