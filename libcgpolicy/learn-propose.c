/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "fileio.h"
#include "learn-propose.h"
#include "macro.h"
#include "policy.h"

/* The proposer: learned records in, a proposed policy out (learn-propose.h has the grouping
 * rules, the order and the formats). Pure: no kernel, no unit files, no logging (the caller
 * words the errors). The three outputs are made from one Proposal, so that they cannot
 * disagree. */

/* One proposed rule (or socket kind) and the merged records it covers. */
typedef struct Candidate {
        LearnDirection dir;
        PolicyRule rule;                /* LEARN_BIND, LEARN_CONNECT */
        unsigned kind;                  /* LEARN_SOCKET: one PolicySocketKind bit */
        size_t *recs;                   /* indices into Proposal.recs */
        size_t n_recs;
        bool dropped;
        /* Filled by candidate_finish(): */
        char *text;                     /* the canonical rule, or the kind's name */
        char *covers;
        uint64_t count, first, last;
        bool denied;
        bool ports_collapsed;           /* made from UDP replies, see GROUPING */
        /* A name rule (rule.name set): the names looked up that it covers, indices into
         * Proposal.names, sorted, distinct (one, or several for a wildcard). */
        size_t *names;
        size_t n_names;
} Candidate;

/* The names that reached one merged record (NAMES in learn-propose.h): indices into
 * Proposal.names, sorted, distinct. */
typedef struct NameSet {
        size_t *ids;
        size_t n;
} NameSet;

/* A distinct name the unit looked up. */
typedef struct LearnedName {
        const char *name;               /* the caller's string */
        bool usable;                    /* a name the rule grammar takes as it is */
        uint64_t answers;               /* sum of the counts of its LearnNames */
} LearnedName;

typedef struct Proposal {
        LearnRecord *recs;              /* merged, sorted; unit is NULL */
        NameSet *rec_names;             /* per record: the names that reached it */
        bool *by_name;                  /* per record: covered by a proposed name rule */
        size_t n_recs;
        Candidate *c;
        size_t n_c;
        uint64_t requests, first, last;
        uint64_t ephemeral_binds;       /* requests of the bind records to port 0 left out */
        bool slice;
        LearnedName *names;             /* sorted by name */
        size_t n_names;
        uint64_t name_answers;
        char **names_left_out;          /* name rules over POLICY_NAME_RULES_MAX, canonical */
        size_t n_names_left_out;
} Proposal;

static const char *const key_table[_LEARN_DIRECTION_MAX][_POLICY_ACTION_MAX] = {
        [LEARN_BIND]    = { [POLICY_ALLOW] = "X-CgPolicyBindAllow",    [POLICY_DENY] = "X-CgPolicyBindDeny" },
        [LEARN_CONNECT] = { [POLICY_ALLOW] = "X-CgPolicyConnectAllow", [POLICY_DENY] = "X-CgPolicyConnectDeny" },
        [LEARN_SOCKET]  = { [POLICY_ALLOW] = "X-CgPolicySocketAllow" },
};

/* qsort() with n == 0 and base NULL is undefined (the C standard wants a valid pointer). */
static void qsort_safe(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
        if (n > 1)
                qsort(base, n, size, cmp);
}

static void proposal_done(Proposal *p) {
        free(p->recs);
        if (p->rec_names)
                for (size_t i = 0; i < p->n_recs; i++)
                        free(p->rec_names[i].ids);
        free(p->rec_names);
        free(p->by_name);
        for (size_t i = 0; i < p->n_c; i++) {
                free(p->c[i].recs);
                free(p->c[i].names);
                free(p->c[i].text);
                free(p->c[i].covers);
        }
        free(p->c);
        free(p->names);
        for (size_t i = 0; i < p->n_names_left_out; i++)
                free(p->names_left_out[i]);
        free(p->names_left_out);
        *p = (Proposal) {};
}

static unsigned address_size(int family) {
        return family == AF_INET ? 4 : 16;
}

static unsigned effective_threshold(const LearnOptions *o) {
        unsigned t = o ? o->prefix_threshold : LEARN_PREFIX_THRESHOLD_DEFAULT;

        /* 0: never group; 1 would make a single address its prefix, which the contract of the
         * feature excludes ("a single address stays an address"). */
        return t == 1 ? 2 : t;
}

static bool unit_name_ok(const char *unit, bool *ret_slice) {
        if (!unit || !*unit || strlen(unit) > 255 || string_has_cc(unit) || strchr(unit, '/'))
                return false;
        /* Unit names are ASCII: the JSON output then needs no UTF-8 check. */
        for (const char *c = unit; *c; c++)
                if ((unsigned char) *c >= 0x80)
                        return false;
        if (endswith(unit, ".slice") && strlen(unit) > strlen(".slice")) {
                *ret_slice = true;
                return true;
        }
        if (endswith(unit, ".service") && strlen(unit) > strlen(".service")) {
                *ret_slice = false;
                return true;
        }
        return false;
}

static int protocol_rank(int protocol) {
        /* tcp, udp, then none */
        return protocol == 0 ? 256 : protocol;
}

static int cmp_u64(uint64_t a, uint64_t b) {
        return a < b ? -1 : a > b;
}

static int record_cmp(const void *x, const void *y) {
        const LearnRecord *a = x, *b = y;
        int k;

        if (a->dir != b->dir)
                return a->dir < b->dir ? -1 : 1;
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        if (a->protocol != b->protocol)
                return protocol_rank(a->protocol) < protocol_rank(b->protocol) ? -1 : 1;
        k = memcmp(a->address.bytes, b->address.bytes, sizeof a->address.bytes);
        if (k != 0)
                return k;
        if (a->port != b->port)
                return a->port < b->port ? -1 : 1;
        if (a->listen != b->listen)
                return a->listen ? 1 : -1;
        return cmp_u64(a->socket_kind, b->socket_kind);
}

static void stats_add(uint64_t *count, uint64_t *first, uint64_t *last, const LearnRecord *r) {
        *count = r->count > UINT64_MAX - *count ? UINT64_MAX : *count + r->count;
        /* 0 is "unknown", not the epoch. */
        if (r->first_usec != 0 && (*first == 0 || r->first_usec < *first))
                *first = r->first_usec;
        if (r->last_usec > *last)
                *last = r->last_usec;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
        return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

static bool same_unit(const char *a, const char *b) {
        return a == b || (a && b && streq(a, b));
}

static int learned_name_cmp(const void *x, const void *y) {
        return strcmp(((const LearnedName *) x)->name, ((const LearnedName *) y)->name);
}

static size_t name_id(const Proposal *p, const char *name) {
        const LearnedName key = { .name = name }, *x;

        x = bsearch(&key, p->names, p->n_names, sizeof(LearnedName), learned_name_cmp);
        assert(x);
        return (size_t) (x - p->names);
}

/* The distinct names of o->names, sorted, with their answers. A name the rule grammar does not
 * take as it is (one label, an all-digit last label, a character a rule cannot have) is counted
 * but never becomes a rule. */
static int proposal_add_names(Proposal *p, const LearnOptions *o) {
        size_t n = o ? o->n_names : 0, m = 0;

        if (n == 0)
                return 0;
        if (!o->names)
                return -EINVAL;

        p->names = calloc(n, sizeof(LearnedName));
        if (!p->names)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (!o->names[i].name || (o->names[i].family != AF_INET && o->names[i].family != AF_INET6))
                        return -EINVAL;
                p->names[i].name = o->names[i].name;
        }
        qsort_safe(p->names, n, sizeof(LearnedName), learned_name_cmp);
        for (size_t i = 0; i < n; i++)
                if (m == 0 || !streq(p->names[m - 1].name, p->names[i].name))
                        p->names[m++] = p->names[i];
        p->n_names = m;

        for (size_t i = 0; i < m; i++)
                p->names[i].usable = policy_name_is_valid(p->names[i].name);
        for (size_t i = 0; i < n; i++) {
                LearnedName *x = &p->names[name_id(p, o->names[i].name)];

                x->answers = add_sat(x->answers, o->names[i].count);
                p->name_answers = add_sat(p->name_answers, o->names[i].count);
        }
        return 0;
}

/* Was connect record x reached by the lookup nm (NAMES in learn-propose.h)? */
static bool name_reached(const LearnName *nm, const LearnRecord *x) {
        return nm->family == x->family &&
                memcmp(nm->address.bytes, x->address.bytes, address_size(x->family)) == 0 &&
                same_unit(nm->unit, x->unit) &&
                nm->first_usec <= x->first_usec &&
                x->last_usec <= add_sat(nm->last_usec, (uint64_t) nm->ttl * 1000000);
}

/* The usable names that reached the caller's record x, sorted, distinct. */
static int record_names(const Proposal *p, const LearnOptions *o, const LearnRecord *x, NameSet *ret) {
        NameSet s = {};

        *ret = (NameSet) {};
        if (p->n_names == 0 || x->dir != LEARN_CONNECT ||
            (x->protocol != IPPROTO_TCP && x->protocol != IPPROTO_UDP) || x->port == 0 || x->port == 53)
                return 0;

        for (size_t j = 0; j < o->n_names; j++) {
                size_t id, k;

                if (!name_reached(&o->names[j], x))
                        continue;
                id = name_id(p, o->names[j].name);
                if (!p->names[id].usable)
                        continue;
                /* Keep the ids sorted: insert in place. */
                for (k = 0; k < s.n && s.ids[k] < id; k++)
                        ;
                if (k < s.n && s.ids[k] == id)
                        continue;
                size_t *a = reallocarray(s.ids, s.n + 1, sizeof(size_t));
                if (!a) {
                        free(s.ids);
                        return -ENOMEM;
                }
                s.ids = a;
                memmove(s.ids + k + 1, s.ids + k, (s.n - k) * sizeof(size_t));
                s.ids[k] = id;
                s.n++;
        }
        *ret = s;
        return 0;
}

/* A record with the names that reached it, while the records are merged. */
typedef struct RecordIn {
        LearnRecord r;
        NameSet names;
} RecordIn;

static int record_in_cmp(const void *x, const void *y) {
        const RecordIn *a = x, *b = y;
        int k;

        k = record_cmp(&a->r, &b->r);
        if (k != 0)
                return k;
        if (a->names.n != b->names.n)
                return a->names.n < b->names.n ? -1 : 1;
        for (size_t i = 0; i < a->names.n; i++)
                if (a->names.ids[i] != b->names.ids[i])
                        return a->names.ids[i] < b->names.ids[i] ? -1 : 1;
        return 0;
}

typedef struct RecordInArray {
        RecordIn *a;
        size_t n;
} RecordInArray;

static void record_in_array_done(RecordInArray *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->a[i].names.ids);
        free(l->a);
}

/* Copy, check, normalize and merge the records. Socket records with several kind bits are
 * split into one per bit. Records reached by different names stay apart. */
static int proposal_add_records(Proposal *p, const LearnRecord *r, size_t n, const LearnOptions *o) {
        _cleanup_(record_in_array_done) RecordInArray l = {};
        size_t m = 0;
        int k;

        for (size_t i = 0; i < n; i++) {
                if (r[i].dir < 0 || r[i].dir >= _LEARN_DIRECTION_MAX)
                        return -EINVAL;
                if (r[i].dir == LEARN_SOCKET) {
                        unsigned kind = r[i].socket_kind & POLICY_SOCKET_ALL;
                        if (kind == 0)
                                return -EINVAL;
                        m += (size_t) __builtin_popcount(kind);
                } else {
                        if (r[i].family != AF_INET && r[i].family != AF_INET6)
                                return -EINVAL;
                        m++;
                }
        }

        l.a = calloc(MAX(m, (size_t) 1), sizeof(RecordIn));
        if (!l.a)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                LearnRecord x = {
                        .dir = r[i].dir,
                        .denied = r[i].denied,
                        .count = r[i].count,
                        .first_usec = r[i].first_usec,
                        .last_usec = r[i].last_usec,
                };

                stats_add(&p->requests, &p->first, &p->last, &r[i]);

                if (r[i].dir == LEARN_SOCKET) {
                        for (unsigned bit = 1; bit & POLICY_SOCKET_ALL; bit <<= 1)
                                if (r[i].socket_kind & bit) {
                                        x.socket_kind = bit;
                                        l.a[l.n++].r = x;
                                }
                        continue;
                }

                if (r[i].dir == LEARN_BIND && r[i].port == 0 && !r[i].listen) {
                        p->ephemeral_binds = add_sat(p->ephemeral_binds, r[i].count);
                        continue;
                }

                x.family = r[i].family;
                x.protocol = r[i].protocol == IPPROTO_TCP || r[i].protocol == IPPROTO_UDP ? r[i].protocol : 0;
                /* Only the family's bytes: the rest of the caller's union may be anything. */
                memcpy(x.address.bytes, r[i].address.bytes, address_size(x.family));
                x.port = r[i].port;
                x.listen = r[i].dir == LEARN_BIND && r[i].port == 0 && r[i].listen;
                k = record_names(p, o, &r[i], &l.a[l.n].names);
                if (k < 0)
                        return k;
                l.a[l.n++].r = x;
        }

        qsort_safe(l.a, l.n, sizeof(RecordIn), record_in_cmp);

        /* Merge equal keys. */
        m = 0;
        for (size_t i = 0; i < l.n; i++) {
                if (m > 0 && record_in_cmp(&l.a[m - 1], &l.a[i]) == 0) {
                        LearnRecord *t = &l.a[m - 1].r;

                        stats_add(&t->count, &t->first_usec, &t->last_usec, &l.a[i].r);
                        t->denied = t->denied || l.a[i].r.denied;
                        l.a[i].names.ids = mfree(l.a[i].names.ids);
                        continue;
                }
                l.a[m++] = l.a[i];
        }
        l.n = m;

        p->recs = calloc(MAX(m, (size_t) 1), sizeof(LearnRecord));
        p->rec_names = calloc(MAX(m, (size_t) 1), sizeof(NameSet));
        p->by_name = calloc(MAX(m, (size_t) 1), sizeof(bool));
        if (!p->recs || !p->rec_names || !p->by_name)
                return -ENOMEM;
        for (size_t i = 0; i < m; i++) {
                p->recs[i] = l.a[i].r;
                p->rec_names[i] = l.a[i].names;
                l.a[i].names = (NameSet) {};
        }
        p->n_recs = m;
        return 0;
}

static int proposal_add_candidate(Proposal *p, LearnDirection dir, const PolicyRule *rule, unsigned kind, size_t rec) {
        Candidate *c;

        c = reallocarray(p->c, p->n_c + 1, sizeof(Candidate));
        if (!c)
                return -ENOMEM;
        p->c = c;
        c = &p->c[p->n_c];
        *c = (Candidate) {
                .dir = dir,
                .kind = kind,
        };
        if (rule)
                c->rule = *rule;
        c->recs = malloc(sizeof(size_t));
        if (!c->recs)
                return -ENOMEM;
        c->recs[0] = rec;
        c->n_recs = 1;
        p->n_c++;
        return 0;
}

/* Append the n indices of b to *a (*n_a of them). */
static int append_ids(size_t **a, size_t *n_a, const size_t *b, size_t n) {
        size_t *x;

        if (n == 0)
                return 0;
        x = reallocarray(*a, *n_a + n, sizeof(size_t));
        if (!x)
                return -ENOMEM;
        *a = x;
        memcpy(x + *n_a, b, n * sizeof(size_t));
        *n_a += n;
        return 0;
}

/* Move the records (and names) of src to dst; src is dropped. */
static int candidate_absorb(Candidate *dst, Candidate *src) {
        int r;

        r = append_ids(&dst->recs, &dst->n_recs, src->recs, src->n_recs);
        if (r < 0)
                return r;
        r = append_ids(&dst->names, &dst->n_names, src->names, src->n_names);
        if (r < 0)
                return r;
        dst->ports_collapsed = dst->ports_collapsed || src->ports_collapsed;
        src->recs = mfree(src->recs);
        src->n_recs = 0;
        src->names = mfree(src->names);
        src->n_names = 0;
        src->dropped = true;
        return 0;
}

static void proposal_compact(Proposal *p) {
        size_t m = 0;

        for (size_t i = 0; i < p->n_c; i++) {
                if (p->c[i].dropped) {
                        free(p->c[i].recs);
                        free(p->c[i].names);
                        continue;
                }
                p->c[m++] = p->c[i];
        }
        p->n_c = m;
}

/* A rule's name with its labels in reverse order ("net\1example\1cdn\1*" for
 * "*.cdn.example.net"), separated by a byte below every character of a label, so that strcmp()
 * sorts names label by label from the last one: the names below one parent come together, a
 * name before the wildcard below it ('*' sorts before every character of a label), and that
 * before the names below it. */
static void name_sort_key(const PolicyRule *r, char buf[static POLICY_NAME_MAX + 4]) {
        size_t n = strlen(r->name), k = 0;

        for (size_t end = n; end > 0;) {
                size_t start = end;

                while (start > 0 && r->name[start - 1] != '.')
                        start--;
                if (k > 0)
                        buf[k++] = '\1';
                memcpy(buf + k, r->name + start, end - start);
                k += end - start;
                end = start > 0 ? start - 1 : 0;
        }
        if (r->wildcard) {
                buf[k++] = '\1';
                buf[k++] = '*';
        }
        buf[k] = 0;
}

static int rule_cmp(const PolicyRule *a, const PolicyRule *b) {
        int k;

        if (a->any != b->any)
                return a->any ? -1 : 1;
        /* Name rules first, by name (name_sort_key()), protocol, ports. */
        if (policy_rule_is_name(a) != policy_rule_is_name(b))
                return policy_rule_is_name(a) ? -1 : 1;
        if (policy_rule_is_name(a)) {
                char x[POLICY_NAME_MAX + 4], y[POLICY_NAME_MAX + 4];

                name_sort_key(a, x);
                name_sort_key(b, y);
                k = strcmp(x, y);
                if (k != 0)
                        return k;
        }
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;       /* 0 < AF_INET < AF_INET6 */
        if (a->has_address != b->has_address)
                return a->has_address ? 1 : -1;
        if (a->has_address) {
                k = memcmp(a->address.bytes, b->address.bytes, sizeof a->address.bytes);
                if (k != 0)
                        return k;
                if (a->prefixlen != b->prefixlen)
                        return a->prefixlen < b->prefixlen ? -1 : 1;
        }
        if (a->protocol != b->protocol)
                return protocol_rank(a->protocol) < protocol_rank(b->protocol) ? -1 : 1;
        if (a->port_min != b->port_min)
                return a->port_min < b->port_min ? -1 : 1;
        if (a->port_max != b->port_max)
                return a->port_max < b->port_max ? -1 : 1;
        return 0;
}

static int candidate_cmp(const void *x, const void *y) {
        const Candidate *a = x, *b = y;

        if (a->dir != b->dir)
                return a->dir < b->dir ? -1 : 1;
        if (a->dir == LEARN_SOCKET)
                return a->kind < b->kind ? -1 : a->kind > b->kind;
        return rule_cmp(&a->rule, &b->rule);
}

/* Sort, and merge candidates with the same rule. */
static int proposal_dedup(Proposal *p) {
        int r;

        qsort_safe(p->c, p->n_c, sizeof(Candidate), candidate_cmp);
        for (size_t i = 1, last = 0; i < p->n_c; i++) {
                if (candidate_cmp(&p->c[last], &p->c[i]) != 0) {
                        last = i;
                        continue;
                }
                r = candidate_absorb(&p->c[last], &p->c[i]);
                if (r < 0)
                        return r;
        }
        proposal_compact(p);
        return 0;
}

static bool is_ephemeral_range(const PolicyRule *r) {
        return r->port_min == LEARN_EPHEMERAL_PORT_MIN && r->port_max == LEARN_EPHEMERAL_PORT_MAX;
}

/* The first candidates: one per record. */
static int proposal_seed(Proposal *p, unsigned threshold) {
        bool collapse[2] = {};
        int r;

        /* Replies of a UDP server (GROUPING): T or more distinct UDP ports >= 1024 in a family.
         * The records are sorted by (dir, family, protocol, address, port): count the distinct
         * ports with a small bitmap per family. */
        if (threshold > 0)
                for (unsigned f = 0; f < 2; f++) {
                        int family = f == 0 ? AF_INET : AF_INET6;
                        uint8_t seen[65536 / 8] = {};
                        unsigned distinct = 0;

                        for (size_t i = 0; i < p->n_recs; i++) {
                                const LearnRecord *x = &p->recs[i];

                                if (x->dir != LEARN_CONNECT || x->family != family || x->protocol != IPPROTO_UDP ||
                                    x->port < LEARN_EPHEMERAL_PORT_MIN || p->by_name[i])
                                        continue;
                                if (!(seen[x->port / 8] & (1u << (x->port % 8)))) {
                                        seen[x->port / 8] |= (uint8_t) (1u << (x->port % 8));
                                        distinct++;
                                }
                        }
                        collapse[f] = distinct >= threshold;
                }

        for (size_t i = 0; i < p->n_recs; i++) {
                const LearnRecord *x = &p->recs[i];
                PolicyRule rule = {
                        .family = x->family,
                        .protocol = x->protocol,
                        .has_address = true,
                        .prefixlen = address_size(x->family) * 8,
                        .address = x->address,
                        .port_min = x->port,
                        .port_max = x->port,
                };
                bool collapsed = false;

                if (p->by_name[i])
                        continue;       /* a name rule covers it */

                switch (x->dir) {

                case LEARN_SOCKET:
                        r = proposal_add_candidate(p, LEARN_SOCKET, NULL, x->socket_kind, i);
                        if (r < 0)
                                return r;
                        continue;

                case LEARN_BIND: {
                        static const uint8_t zero[16] = {};

                        if (x->listen) {
                                /* listen() on a port the kernel chose: every port (GROUPING). */
                                rule.port_min = rule.port_max = 0;
                                if (memcmp(x->address.bytes, zero, address_size(x->family)) == 0)
                                        rule = (PolicyRule) {
                                                .family = x->family,
                                                .protocol = x->protocol,
                                        };
                        } else if (memcmp(x->address.bytes, zero, address_size(x->family)) == 0)
                                /* The wildcard address: PROTO:PORT, both families. */
                                rule = (PolicyRule) {
                                        .protocol = x->protocol,
                                        .port_min = x->port,
                                        .port_max = x->port,
                                };
                        break;
                }

                case LEARN_CONNECT:
                        if (x->protocol == IPPROTO_UDP && x->port >= LEARN_EPHEMERAL_PORT_MIN &&
                            collapse[x->family == AF_INET ? 0 : 1]) {
                                rule.port_min = LEARN_EPHEMERAL_PORT_MIN;
                                rule.port_max = LEARN_EPHEMERAL_PORT_MAX;
                                collapsed = true;
                        }
                        break;

                default:
                        assert(false);
                }

                r = proposal_add_candidate(p, x->dir, &rule, 0, i);
                if (r < 0)
                        return r;
                p->c[p->n_c - 1].ports_collapsed = collapsed;
        }

        return proposal_dedup(p);
}

static int ids_cmp(const void *x, const void *y) {
        size_t a = *(const size_t *) x, b = *(const size_t *) y;

        return a < b ? -1 : a > b;
}

/* Sort the n indices of a and leave each once. */
static void ids_unique(size_t *a, size_t *n) {
        size_t m = 0;

        qsort_safe(a, *n, sizeof(size_t), ids_cmp);
        for (size_t i = 0; i < *n; i++)
                if (m == 0 || a[m - 1] != a[i])
                        a[m++] = a[i];
        *n = m;
}

static uint64_t candidate_count(const Proposal *p, const Candidate *c) {
        uint64_t n = 0;

        for (size_t i = 0; i < c->n_recs; i++)
                n = add_sat(n, p->recs[c->recs[i]].count);
        return n;
}

/* The name a wildcard for name would be below: its parent, when that has two labels at least
 * (so never "*.com"). NULL otherwise. */
static const char *name_parent(const char *name) {
        const char *dot = strchr(name, '.');

        if (!dot || !strchr(dot + 1, '.'))
                return NULL;
        return dot + 1;
}

static bool same_name_target(const Candidate *a, const Candidate *b) {
        return a->rule.protocol == b->rule.protocol && a->rule.port_min == b->rule.port_min &&
                a->rule.port_max == b->rule.port_max;
}

/* Highest count first, then in the order of the drop-in. */
static int candidate_count_cmp(const void *x, const void *y) {
        const Candidate *a = x, *b = y;

        if (a->count != b->count)
                return a->count > b->count ? -1 : 1;
        return candidate_cmp(a, b);
}

/* The name rules (NAMES in learn-propose.h), before every other rule: one per (name, protocol,
 * port) reached, T or more names directly below one parent as its wildcard, at most
 * POLICY_NAME_RULES_MAX. The records they cover are marked p->by_name; the others are left to
 * the rules by address. */
static int proposal_names(Proposal *p, unsigned threshold) {
        int r;

        assert(p->n_c == 0);

        for (size_t i = 0; i < p->n_recs; i++)
                for (size_t j = 0; j < p->rec_names[i].n; j++) {
                        size_t id = p->rec_names[i].ids[j];
                        PolicyRule rule = {
                                .protocol = p->recs[i].protocol,
                                .port_min = p->recs[i].port,
                                .port_max = p->recs[i].port,
                        };
                        Candidate *c;

                        assert(strlen(p->names[id].name) <= POLICY_NAME_MAX);
                        strcpy(rule.name, p->names[id].name);
                        r = proposal_add_candidate(p, LEARN_CONNECT, &rule, 0, i);
                        if (r < 0)
                                return r;
                        c = &p->c[p->n_c - 1];
                        r = append_ids(&c->names, &c->n_names, &id, 1);
                        if (r < 0)
                                return r;
                }
        if (p->n_c == 0)
                return 0;

        /* One candidate per (name, protocol, ports). */
        r = proposal_dedup(p);
        if (r < 0)
                return r;

        /* T or more names directly below one parent, for the same protocol and ports. */
        if (threshold > 0)
                for (size_t i = 0; i < p->n_c; i++) {
                        Candidate *c = &p->c[i];
                        const char *parent;
                        size_t n = 1;

                        if (c->dropped || c->rule.wildcard || !(parent = name_parent(c->rule.name)))
                                continue;
                        for (size_t j = i + 1; j < p->n_c; j++) {
                                const char *q;

                                if (!p->c[j].dropped && !p->c[j].rule.wildcard && same_name_target(c, &p->c[j]) &&
                                    (q = name_parent(p->c[j].rule.name)) && streq(q, parent))
                                        n++;
                        }
                        if (n < threshold)
                                continue;
                        for (size_t j = i + 1; j < p->n_c; j++) {
                                const char *q;

                                if (!p->c[j].dropped && !p->c[j].rule.wildcard && same_name_target(c, &p->c[j]) &&
                                    (q = name_parent(p->c[j].rule.name)) && streq(q, parent)) {
                                        r = candidate_absorb(c, &p->c[j]);
                                        if (r < 0)
                                                return r;
                                }
                        }
                        memmove(c->rule.name, parent, strlen(parent) + 1);
                        c->rule.wildcard = true;
                }

        /* A name rule that a wildcard of the same protocol and ports covers is left out, its
         * records counted with the wildcard. */
        for (size_t i = 0; i < p->n_c; i++) {
                Candidate *w = &p->c[i];

                if (w->dropped || !w->rule.wildcard)
                        continue;
                for (size_t j = 0; j < p->n_c; j++)
                        if (j != i && !p->c[j].dropped && same_name_target(w, &p->c[j]) &&
                            policy_rule_name_matches(&w->rule, p->c[j].rule.name)) {
                                r = candidate_absorb(w, &p->c[j]);
                                if (r < 0)
                                        return r;
                        }
        }
        proposal_compact(p);
        for (size_t i = 0; i < p->n_c; i++) {
                ids_unique(p->c[i].recs, &p->c[i].n_recs);
                ids_unique(p->c[i].names, &p->c[i].n_names);
        }

        /* At most POLICY_NAME_RULES_MAX: the most used stay, the others go back to rules by
         * address (and are named in the header). */
        if (p->n_c > POLICY_NAME_RULES_MAX) {
                for (size_t i = 0; i < p->n_c; i++)
                        p->c[i].count = candidate_count(p, &p->c[i]);
                qsort_safe(p->c, p->n_c, sizeof(Candidate), candidate_count_cmp);
                for (size_t i = 0; i < p->n_c; i++)
                        p->c[i].count = 0;      /* candidate_finish() counts */
                qsort_safe(p->c + POLICY_NAME_RULES_MAX, p->n_c - POLICY_NAME_RULES_MAX, sizeof(Candidate),
                           candidate_cmp);

                p->names_left_out = calloc(p->n_c - POLICY_NAME_RULES_MAX, sizeof(char *));
                if (!p->names_left_out)
                        return -ENOMEM;
                for (size_t i = POLICY_NAME_RULES_MAX; i < p->n_c; i++) {
                        r = policy_rule_to_string(&p->c[i].rule, &p->names_left_out[p->n_names_left_out]);
                        if (r < 0)
                                return r;
                        p->n_names_left_out++;
                        p->c[i].dropped = true;
                }
                proposal_compact(p);
        }
        qsort_safe(p->c, p->n_c, sizeof(Candidate), candidate_cmp);

        for (size_t i = 0; i < p->n_c; i++)
                for (size_t j = 0; j < p->c[i].n_recs; j++)
                        p->by_name[p->c[i].recs[j]] = true;
        return 0;
}

static void mask_bytes(uint8_t *a, unsigned prefixlen) {
        for (unsigned i = 0; i < 16; i++) {
                unsigned keep = prefixlen >= (i + 1) * 8 ? 8 : prefixlen > i * 8 ? prefixlen - i * 8 : 0;
                a[i] &= (uint8_t) (0xff00u >> keep);
        }
}

static unsigned group_prefixlen(int family) {
        return family == AF_INET ? 24 : 64;
}

/* Is a connect candidate one single address, and in which group (family, protocol, ports,
 * /24 or /64) does it fall? */
static bool same_group(const Candidate *a, const Candidate *b) {
        uint8_t x[16], y[16];

        if (a->dir != LEARN_CONNECT || b->dir != LEARN_CONNECT ||
            !a->rule.has_address || !b->rule.has_address ||
            a->rule.family != b->rule.family || a->rule.protocol != b->rule.protocol ||
            a->rule.port_min != b->rule.port_min || a->rule.port_max != b->rule.port_max ||
            a->rule.prefixlen != address_size(a->rule.family) * 8 ||
            b->rule.prefixlen != address_size(b->rule.family) * 8)
                return false;
        memcpy(x, a->rule.address.bytes, 16);
        memcpy(y, b->rule.address.bytes, 16);
        mask_bytes(x, group_prefixlen(a->rule.family));
        mask_bytes(y, group_prefixlen(b->rule.family));
        return memcmp(x, y, 16) == 0;
}

static int group_key_cmp(const void *x, const void *y) {
        const Candidate *a = x, *b = y;
        uint8_t u[16], v[16];
        int k;

        if (a->dir != b->dir)
                return a->dir < b->dir ? -1 : 1;
        if (a->rule.family != b->rule.family)
                return a->rule.family < b->rule.family ? -1 : 1;
        if (a->rule.protocol != b->rule.protocol)
                return protocol_rank(a->rule.protocol) < protocol_rank(b->rule.protocol) ? -1 : 1;
        if (a->rule.port_min != b->rule.port_min)
                return a->rule.port_min < b->rule.port_min ? -1 : 1;
        if (a->rule.port_max != b->rule.port_max)
                return a->rule.port_max < b->rule.port_max ? -1 : 1;
        if (a->rule.has_address != b->rule.has_address)
                return a->rule.has_address ? 1 : -1;
        memcpy(u, a->rule.address.bytes, 16);
        memcpy(v, b->rule.address.bytes, 16);
        if (a->rule.has_address) {
                mask_bytes(u, group_prefixlen(a->rule.family));
                mask_bytes(v, group_prefixlen(b->rule.family));
        }
        k = memcmp(u, v, 16);
        if (k != 0)
                return k;
        return rule_cmp(&a->rule, &b->rule);
}

/* T or more addresses of one (family, protocol, ports) under one /24 or /64: the prefix. */
static int proposal_group_prefixes(Proposal *p, unsigned threshold) {
        int r;

        if (threshold == 0)
                return 0;

        qsort_safe(p->c, p->n_c, sizeof(Candidate), group_key_cmp);
        for (size_t i = 0; i < p->n_c;) {
                size_t j = i + 1;

                while (j < p->n_c && same_group(&p->c[i], &p->c[j]))
                        j++;
                if (j - i >= threshold) {
                        Candidate *c = &p->c[i];

                        c->rule.prefixlen = group_prefixlen(c->rule.family);
                        mask_bytes(c->rule.address.bytes, c->rule.prefixlen);
                        for (size_t k = i + 1; k < j; k++) {
                                r = candidate_absorb(c, &p->c[k]);
                                if (r < 0)
                                        return r;
                        }
                }
                i = j;
        }
        proposal_compact(p);
        return proposal_dedup(p);
}

/* T or more targets of UDP replies in one family: the whole family (GROUPING). */
static int proposal_group_replies(Proposal *p, unsigned threshold) {
        int r;

        if (threshold == 0)
                return 0;

        for (unsigned f = 0; f < 2; f++) {
                int family = f == 0 ? AF_INET : AF_INET6;
                size_t first = SIZE_MAX, n = 0;

                for (size_t i = 0; i < p->n_c; i++) {
                        const Candidate *c = &p->c[i];

                        if (c->dir != LEARN_CONNECT || c->rule.family != family || c->rule.protocol != IPPROTO_UDP ||
                            !c->rule.has_address || !c->ports_collapsed || !is_ephemeral_range(&c->rule))
                                continue;
                        if (first == SIZE_MAX)
                                first = i;
                        n++;
                }
                if (n < threshold)
                        continue;

                for (size_t i = first + 1; i < p->n_c; i++) {
                        Candidate *c = &p->c[i];

                        if (c->dir != LEARN_CONNECT || c->rule.family != family || c->rule.protocol != IPPROTO_UDP ||
                            !c->rule.has_address || !c->ports_collapsed || !is_ephemeral_range(&c->rule))
                                continue;
                        r = candidate_absorb(&p->c[first], c);
                        if (r < 0)
                                return r;
                }
                p->c[first].rule = (PolicyRule) {
                        .family = family,
                        .protocol = IPPROTO_UDP,
                        .port_min = LEARN_EPHEMERAL_PORT_MIN,
                        .port_max = LEARN_EPHEMERAL_PORT_MAX,
                };
        }
        proposal_compact(p);
        return proposal_dedup(p);
}

/* Does rule b match every request rule a matches? For the rules the proposer makes (never
 * "any"; an address rule always has its family). */
static bool rule_covers(const PolicyRule *b, const PolicyRule *a) {
        /* Name rules are decided apart (proposal_names()): never covered, never covering. */
        if (policy_rule_is_name(a) || policy_rule_is_name(b))
                return false;
        if (b->any)
                return true;
        if (a->any)
                return false;
        if (b->family != 0 && b->family != a->family)
                return false;
        if (b->protocol != 0 && b->protocol != a->protocol)
                return false;
        if (b->port_min != 0 || b->port_max != 0) {
                if (a->port_min == 0 && a->port_max == 0)
                        return false;
                if (a->port_min < b->port_min || a->port_max > b->port_max)
                        return false;
        }
        if (b->has_address) {
                uint8_t x[16];

                if (!a->has_address || a->family != b->family || a->prefixlen < b->prefixlen)
                        return false;
                memcpy(x, a->address.bytes, 16);
                mask_bytes(x, b->prefixlen);
                if (memcmp(x, b->address.bytes, 16) != 0)
                        return false;
        }
        return true;
}

/* Leave out rules that another rule of the same direction covers, their records counted with
 * the widest one. Coverage is transitive: a rule dropped here is covered by one that stays. */
static int proposal_drop_covered(Proposal *p) {
        int r;

        for (size_t i = 0; i < p->n_c; i++)
                for (size_t j = 0; j < p->n_c; j++) {
                        const Candidate *a = &p->c[i], *b = &p->c[j];

                        /* After proposal_dedup() no two rules are the same. */
                        if (i == j || a->dir != b->dir || a->dir == LEARN_SOCKET)
                                continue;
                        if (rule_covers(&b->rule, &a->rule)) {
                                p->c[i].dropped = true;
                                break;
                        }
                }

        for (size_t i = 0; i < p->n_c; i++) {
                if (!p->c[i].dropped)
                        continue;
                for (size_t j = 0; j < p->n_c; j++)
                        if (!p->c[j].dropped && p->c[j].dir == p->c[i].dir &&
                            rule_covers(&p->c[j].rule, &p->c[i].rule)) {
                                r = candidate_absorb(&p->c[j], &p->c[i]);
                                if (r < 0)
                                        return r;
                                break;
                        }
        }
        proposal_compact(p);
        qsort_safe(p->c, p->n_c, sizeof(Candidate), candidate_cmp);
        return 0;
}

static bool is_loopback(int family, const PolicyAddress *a) {
        static const uint8_t v6_loopback[16] = { [15] = 1 };

        if (family == AF_INET)
                return a->bytes[0] == 127;
        return memcmp(a->bytes, v6_loopback, 16) == 0;
}

static bool is_resolver(const LearnOptions *o, int family, const PolicyAddress *a) {
        if (!o)
                return false;
        for (size_t i = 0; i < o->n_resolvers; i++)
                if (o->resolvers[i].family == family &&
                    memcmp(o->resolvers[i].address.bytes, a->bytes, address_size(family)) == 0)
                        return true;
        return false;
}

static int format_address(int family, const PolicyAddress *a, char *buf, size_t size) {
        if (!inet_ntop(family, a, buf, (socklen_t) size))
                return -EINVAL;
        return 0;
}

static int addr_cmp(const void *x, const void *y) {
        const LearnRecord *a = *(const LearnRecord * const *) x, *b = *(const LearnRecord * const *) y;

        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        return memcmp(a->address.bytes, b->address.bytes, 16);
}

/* The records of c with distinct (family, address), sorted; *ret freed by the caller. */
static int candidate_addresses(const Proposal *p, const Candidate *c, const LearnRecord ***ret, size_t *ret_n) {
        _cleanup_free_ const LearnRecord **l = NULL;
        size_t m = 0;

        l = calloc(MAX(c->n_recs, (size_t) 1), sizeof(LearnRecord *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_recs; i++)
                l[i] = &p->recs[c->recs[i]];
        qsort_safe(l, c->n_recs, sizeof(LearnRecord *), addr_cmp);
        for (size_t i = 0; i < c->n_recs; i++)
                if (m == 0 || addr_cmp(&l[m - 1], &l[i]) != 0)
                        l[m++] = l[i];
        *ret = TAKE_PTR(l);
        *ret_n = m;
        return 0;
}

static size_t candidate_distinct_ports(const Proposal *p, const Candidate *c) {
        uint8_t seen[65536 / 8] = {};
        size_t n = 0;

        for (size_t i = 0; i < c->n_recs; i++) {
                uint16_t port = p->recs[c->recs[i]].port;

                if (!(seen[port / 8] & (1u << (port % 8)))) {
                        seen[port / 8] |= (uint8_t) (1u << (port % 8));
                        n++;
                }
        }
        return n;
}

/* A growing string. */
typedef struct Text {
        char *s;
        size_t n;
        bool oom;
} Text;

static void text_add(Text *t, const char *format, ...) _printf_(2, 3);
static void text_add(Text *t, const char *format, ...) {
        va_list ap;
        char *x;
        int k;

        if (t->oom)
                return;
        va_start(ap, format);
        k = vasprintf(&x, format, ap);
        va_end(ap);
        if (k < 0) {
                t->oom = true;
                return;
        }
        char *s = realloc(t->s, t->n + (size_t) k + 1);
        if (!s) {
                free(x);
                t->oom = true;
                return;
        }
        memcpy(s + t->n, x, (size_t) k + 1);
        free(x);
        t->s = s;
        t->n += (size_t) k;
}

static const char *protocol_word(int protocol) {
        return protocol == IPPROTO_TCP ? "tcp" : protocol == IPPROTO_UDP ? "udp" : "any protocol";
}

#define ADDRESSES_LISTED 4u

/* What a rule covers, in words (learn-propose.h). */
static int candidate_describe(const Proposal *p, const LearnOptions *o, Candidate *c) {
        _cleanup_free_ const LearnRecord **addrs = NULL;
        const PolicyRule *r = &c->rule;
        bool v4 = false, v6 = false, loopback = true;
        size_t n_addrs, n_resolvers = 0;
        char a[INET6_ADDRSTRLEN];
        Text t = {};
        int k;

        if (c->dir == LEARN_SOCKET) {
                text_add(&t, "%s sockets", policy_socket_kind_to_string(c->kind));
                goto done;
        }

        k = candidate_addresses(p, c, &addrs, &n_addrs);
        if (k < 0)
                return k;

        if (policy_rule_is_name(r)) {
                uint64_t answers = 0;

                for (size_t i = 0; i < c->n_names; i++)
                        answers = add_sat(answers, p->names[c->names[i]].answers);

                text_add(&t, "connect %s to %s%s", protocol_word(r->protocol), r->wildcard ? "*." : "", r->name);
                if (r->port_min == r->port_max)
                        text_add(&t, ", port %u", r->port_min);
                else
                        text_add(&t, ", ports %u-%u", r->port_min, r->port_max);
                text_add(&t, " (a name rule: ");
                if (r->wildcard) {
                        text_add(&t, "%zu names looked up, %" PRIu64 " %s:", c->n_names, answers,
                                 answers == 1 ? "answer" : "answers");
                        for (size_t i = 0; i < MIN(c->n_names, (size_t) ADDRESSES_LISTED); i++)
                                text_add(&t, " %s", p->names[c->names[i]].name);
                        if (c->n_names > ADDRESSES_LISTED)
                                text_add(&t, " and %zu more", c->n_names - ADDRESSES_LISTED);
                } else
                        text_add(&t, "looked up, %" PRIu64 " %s", answers, answers == 1 ? "answer" : "answers");
                if (n_addrs == 1)
                        text_add(&t, "; address");
                else
                        text_add(&t, "; %zu addresses:", n_addrs);
                for (size_t i = 0; i < MIN(n_addrs, (size_t) ADDRESSES_LISTED); i++) {
                        k = format_address(addrs[i]->family, &addrs[i]->address, a, sizeof a);
                        if (k < 0)
                                return k;
                        text_add(&t, " %s", a);
                }
                if (n_addrs > ADDRESSES_LISTED)
                        text_add(&t, " and %zu more", n_addrs - ADDRESSES_LISTED);
                text_add(&t, ")");
                goto done;
        }
        for (size_t i = 0; i < n_addrs; i++) {
                v4 = v4 || addrs[i]->family == AF_INET;
                v6 = v6 || addrs[i]->family == AF_INET6;
                loopback = loopback && is_loopback(addrs[i]->family, &addrs[i]->address);
        }
        for (size_t i = 0; i < c->n_recs; i++) {
                const LearnRecord *x = &p->recs[c->recs[i]];
                if (x->port == 53 && is_resolver(o, x->family, &x->address))
                        n_resolvers++;
        }

        text_add(&t, "%s %s ", c->dir == LEARN_BIND ? "bind" : "connect", protocol_word(r->protocol));
        if (r->has_address) {
                k = format_address(r->family, &r->address, a, sizeof a);
                if (k < 0)
                        return k;
                if (r->prefixlen != address_size(r->family) * 8)
                        text_add(&t, "%s %s/%u", c->dir == LEARN_BIND ? "on" : "to", a, r->prefixlen);
                else
                        text_add(&t, "%s %s", c->dir == LEARN_BIND ? "on" : "to", a);
        } else
                text_add(&t, "%s every %saddress", c->dir == LEARN_BIND ? "on" : "to",
                         r->family == AF_INET ? "IPv4 " : r->family == AF_INET6 ? "IPv6 " : "");

        if (r->port_min == 0 && r->port_max == 0)
                text_add(&t, ", every port");
        else if (r->port_min == r->port_max)
                text_add(&t, ", port %u", r->port_min);
        else
                text_add(&t, ", ports %u-%u", r->port_min, r->port_max);

        /* Notes, in parentheses. */
        const char *sep = " (";
        for (size_t i = 0; i < c->n_recs; i++)
                if (p->recs[c->recs[i]].listen) {
                        text_add(&t, "%slisten() on a port the kernel chose: only a rule for every port allows it", sep);
                        sep = "; ";
                        break;
                }
        if (c->dir == LEARN_BIND && !r->has_address) {
                text_add(&t, "%sseen over %s", sep, v4 && v6 ? "IPv4 and IPv6" : v4 ? "IPv4" : "IPv6");
                sep = "; ";
        }
        if (loopback && n_addrs > 0 && r->has_address) {
                text_add(&t, "%sloopback", sep);
                sep = "; ";
        }
        if (n_resolvers > 0 && n_addrs == 1) {
                text_add(&t, "%sthe host's resolver", sep);
                sep = "; ";
        }
        if (c->ports_collapsed) {
                size_t ports = candidate_distinct_ports(p, c);

                text_add(&t, "%s%zu %s seen, taken as replies of a UDP server to its clients' ephemeral ports",
                         sep, ports, ports == 1 ? "port" : "ports");
                sep = "; ";
        }
        if (n_addrs > 1 && (r->prefixlen != address_size(r->family) * 8 || !r->has_address) && c->dir == LEARN_CONNECT) {
                text_add(&t, "%s%zu addresses:", sep, n_addrs);
                for (size_t i = 0; i < MIN(n_addrs, (size_t) ADDRESSES_LISTED); i++) {
                        k = format_address(addrs[i]->family, &addrs[i]->address, a, sizeof a);
                        if (k < 0)
                                return k;
                        text_add(&t, " %s%s", a, addrs[i]->port == 53 &&
                                 is_resolver(o, addrs[i]->family, &addrs[i]->address) ? " (the host's resolver)" : "");
                }
                if (n_addrs > ADDRESSES_LISTED)
                        text_add(&t, " and %zu more", n_addrs - ADDRESSES_LISTED);
                sep = "; ";
        }
        if (!streq(sep, " ("))
                text_add(&t, ")");

done:
        if (t.oom) {
                free(t.s);
                return -ENOMEM;
        }
        c->covers = t.s;
        return 0;
}

static int candidate_finish(const Proposal *p, const LearnOptions *o, Candidate *c) {
        int r;

        for (size_t i = 0; i < c->n_recs; i++) {
                const LearnRecord *x = &p->recs[c->recs[i]];

                stats_add(&c->count, &c->first, &c->last, x);
                c->denied = c->denied || x->denied;
        }

        if (c->dir == LEARN_SOCKET) {
                c->text = strdup(policy_socket_kind_to_string(c->kind));
                if (!c->text)
                        return -ENOMEM;
        } else {
                r = policy_rule_to_string(&c->rule, &c->text);
                if (r < 0)
                        return r;
        }
        return candidate_describe(p, o, c);
}

static int proposal_build(Proposal *p, const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o) {
        unsigned threshold = effective_threshold(o);
        int k;

        assert(p);

        *p = (Proposal) {};
        if (!unit_name_ok(unit, &p->slice))
                return -EINVAL;
        if (n > 0 && !r)
                return -EINVAL;

        k = proposal_add_names(p, o);
        if (k < 0)
                return k;
        k = proposal_add_records(p, r, n, o);
        if (k < 0)
                return k;
        k = proposal_names(p, threshold);
        if (k < 0)
                return k;
        k = proposal_seed(p, threshold);
        if (k < 0)
                return k;
        k = proposal_group_prefixes(p, threshold);
        if (k < 0)
                return k;
        k = proposal_group_replies(p, threshold);
        if (k < 0)
                return k;
        k = proposal_drop_covered(p);
        if (k < 0)
                return k;
        for (size_t i = 0; i < p->n_c; i++) {
                k = candidate_finish(p, o, &p->c[i]);
                if (k < 0)
                        return k;
        }
        return 0;
}

static void format_time(uint64_t usec, char buf[static 32]) {
        time_t s = (time_t) (usec / 1000000);
        struct tm tm;

        if (usec == 0 || !gmtime_r(&s, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                strcpy(buf, "-");
}

static void write_usage(FILE *f, uint64_t count, uint64_t first, uint64_t last) {
        char a[32], b[32];

        format_time(first, a);
        format_time(last, b);
        if (count == 1)
                fprintf(f, "once, at %s", a);
        else
                fprintf(f, "%" PRIu64 " times, first %s, last %s", count, a, b);
}

static int finish_write(FILE *f) {
        if (fflush(f) != 0 || ferror(f))
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static void write_header(FILE *f, const char *unit, const Proposal *p, const LearnOptions *o, const char *verb) {
        fprintf(f, "# %s for %s by \"cgpolicy learn\", from what the unit did in learn mode.\n", verb, unit);
        fprintf(f, "# Review it, install it as /etc/systemd/system/%s.d/cgpolicy.conf,\n", unit);
        fprintf(f, "# then run \"systemctl daemon-reload\" and \"cgpolicy reload %s\" (or restart it).\n", unit);
        fprintf(f, "# Learned: %" PRIu64 " requests", p->requests);
        if (p->requests > 0) {
                char a[32], b[32];

                format_time(p->first, a);
                format_time(p->last, b);
                fprintf(f, ", from %s to %s", a, b);
        }
        fprintf(f, ".\n");
        if (p->ephemeral_binds > 0)
                fprintf(f, "# Left out: %" PRIu64 " binds to port 0 (ephemeral ports, always allowed).\n",
                        p->ephemeral_binds);
        if (o && o->evictions > 0)
                fprintf(f, "# Incomplete: the kernel dropped %" PRIu64 " records (its table was full);\n"
                        "# the unit did more than this proposal allows.\n", o->evictions);
        if (p->n_names > 0) {
                size_t rules = 0;

                for (size_t i = 0; i < p->n_c; i++)
                        rules += p->c[i].dir == LEARN_CONNECT && policy_rule_is_name(&p->c[i].rule);
                fprintf(f, "# Names: %zu looked up (%" PRIu64 " %s); %zu name %s for the connects to their answers.\n",
                        p->n_names, p->name_answers, p->name_answers == 1 ? "answer" : "answers",
                        rules, rules == 1 ? "rule" : "rules");
        }
        if (p->n_names_left_out > 0) {
                fprintf(f, "# At most %u name rules per unit: the %zu least used stay rules by address:",
                        POLICY_NAME_RULES_MAX, p->n_names_left_out);
                for (size_t i = 0; i < p->n_names_left_out; i++)
                        fprintf(f, " %s", p->names_left_out[i]);
                fprintf(f, ".\n");
        }
}

int learn_propose_dropin(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f) {
        _cleanup_(proposal_done) Proposal p = {};
        int k;

        assert(f);

        k = proposal_build(&p, unit, r, n, o);
        if (k < 0)
                return k;

        write_header(f, unit, &p, o, "Policy proposed");
        fprintf(f, "\n[%s]\n", p.slice ? "Slice" : "Service");
        fprintf(f, "X-CgPolicyMode=enforce\n");

        for (LearnDirection d = 0; d < _LEARN_DIRECTION_MAX; d++) {
                const char *allow = key_table[d][POLICY_ALLOW], *deny = key_table[d][POLICY_DENY];

                fprintf(f, "%s=\n", allow);
                if (deny)
                        fprintf(f, "%s=\n%s=any\n", deny, deny);
                for (size_t i = 0; i < p.n_c; i++) {
                        const Candidate *c = &p.c[i];

                        if (c->dir != d)
                                continue;
                        fprintf(f, "# %s: ", c->covers);
                        write_usage(f, c->count, c->first, c->last);
                        fprintf(f, "%s\n%s=%s\n", c->denied ? "; refused by the policy in force" : "",
                                allow, c->text);
                }
        }

        return finish_write(f);
}

static void json_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                switch (*c) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        if (*c < 0x20 || *c == 0x7f)
                                fprintf(f, "\\u%04x", *c);
                        else
                                fputc(*c, f);
                }
        fputc('"', f);
}

static void json_time(FILE *f, uint64_t usec) {
        char buf[32];

        if (usec == 0) {
                fputs("null", f);
                return;
        }
        format_time(usec, buf);
        json_string(f, buf);
}

static int json_entry(FILE *f, bool *first, const char *key, const char *rule, const char *covers,
                      const Candidate *c, const Proposal *p) {
        fprintf(f, "%s\n    {\"key\": ", *first ? "" : ",");
        *first = false;
        json_string(f, key);
        fputs(", \"rule\": ", f);
        json_string(f, rule);
        fputs(", \"covers\": ", f);
        json_string(f, covers);
        fprintf(f, ", \"count\": %" PRIu64 ", \"first\": ", c ? c->count : 0);
        json_time(f, c ? c->first : 0);
        fputs(", \"last\": ", f);
        json_time(f, c ? c->last : 0);
        fprintf(f, ", \"first_usec\": %" PRIu64 ", \"last_usec\": %" PRIu64 ", \"denied\": %s, \"names\": [",
                c ? c->first : 0, c ? c->last : 0, c && c->denied ? "true" : "false");
        for (size_t i = 0; c && i < c->n_names; i++) {
                fprintf(f, "%s", i > 0 ? ", " : "");
                json_string(f, p->names[c->names[i]].name);
        }
        fputs("], \"addresses\": [", f);
        if (c && c->dir != LEARN_SOCKET) {
                _cleanup_free_ const LearnRecord **addrs = NULL;
                size_t n_addrs = 0;
                int r;

                r = candidate_addresses(p, c, &addrs, &n_addrs);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n_addrs; i++) {
                        char a[INET6_ADDRSTRLEN];

                        r = format_address(addrs[i]->family, &addrs[i]->address, a, sizeof a);
                        if (r < 0)
                                return r;
                        fprintf(f, "%s", i > 0 ? ", " : "");
                        json_string(f, a);
                }
        }
        fputs("]}", f);
        return 0;
}

int learn_propose_json(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f) {
        _cleanup_(proposal_done) Proposal p = {};
        _cleanup_free_ char *path = NULL;
        bool first = true;
        int k;

        assert(f);

        k = proposal_build(&p, unit, r, n, o);
        if (k < 0)
                return k;
        if (asprintf(&path, "/etc/systemd/system/%s.d/cgpolicy.conf", unit) < 0)
                return -ENOMEM;

        fputs("{\"unit\": ", f);
        json_string(f, unit);
        fputs(", \"path\": ", f);
        json_string(f, path);
        fprintf(f, ", \"section\": \"%s\", \"mode\": \"enforce\", \"prefix_threshold\": %u,"
                " \"requests\": %" PRIu64 ", \"first\": ",
                p.slice ? "Slice" : "Service", effective_threshold(o), p.requests);
        json_time(f, p.first);
        fputs(", \"last\": ", f);
        json_time(f, p.last);
        fprintf(f, ", \"ephemeral_binds_left_out\": %" PRIu64 ", \"evictions\": %" PRIu64 ",\n"
                "  \"names_looked_up\": %zu, \"name_answers\": %" PRIu64 ", \"name_rules_left_out\": [",
                p.ephemeral_binds, o ? o->evictions : 0, p.n_names, p.name_answers);
        for (size_t i = 0; i < p.n_names_left_out; i++) {
                fprintf(f, "%s", i > 0 ? ", " : "");
                json_string(f, p.names_left_out[i]);
        }
        fputs("],\n  \"keys\": [", f);

        for (LearnDirection d = 0; d < _LEARN_DIRECTION_MAX; d++) {
                if (key_table[d][POLICY_DENY]) {
                        k = json_entry(f, &first, key_table[d][POLICY_DENY], "any", "deny by default", NULL, &p);
                        if (k < 0)
                                return k;
                }
                for (size_t i = 0; i < p.n_c; i++) {
                        if (p.c[i].dir != d)
                                continue;
                        k = json_entry(f, &first, key_table[d][POLICY_ALLOW], p.c[i].text, p.c[i].covers,
                                       &p.c[i], &p);
                        if (k < 0)
                                return k;
                }
        }
        fputs("\n  ]\n}\n", f);

        return finish_write(f);
}

/* Does the name rule allow record i, reached by the names p->rec_names[i]? As the kernel would,
 * had the unit looked them up again: a matching name, and the protocol, port and family. */
static bool name_rule_matches(const Proposal *p, const PolicyRule *rule, size_t i) {
        const LearnRecord *x = &p->recs[i];

        if (!policy_rule_is_name(rule) || x->dir != LEARN_CONNECT ||
            (rule->family != 0 && rule->family != x->family) ||
            (rule->protocol != 0 && rule->protocol != x->protocol) ||
            ((rule->port_min != 0 || rule->port_max != 0) && (x->port < rule->port_min || x->port > rule->port_max)))
                return false;
        for (size_t j = 0; j < p->rec_names[i].n; j++)
                if (policy_rule_name_matches(rule, p->names[p->rec_names[i].ids[j]].name))
                        return true;
        return false;
}

/* Does a name rule of the current policy allow record i? (policy_allows() cannot tell: the
 * addresses of a name rule are learned.) */
static bool current_names_allow(const Proposal *p, const Policy *current, size_t i) {
        const PolicyRuleList *l = &current->rules[POLICY_CONNECT][POLICY_ALLOW];

        for (size_t j = 0; j < l->n; j++)
                if (name_rule_matches(p, &l->rules[j], i))
                        return true;
        return false;
}

/* How many learned requests of direction d does rule match? */
static uint64_t rule_used(const Proposal *p, PolicyDirection d, const PolicyRule *rule) {
        uint64_t n = 0;

        for (size_t i = 0; i < p->n_recs; i++) {
                const LearnRecord *x = &p->recs[i];

                if (x->dir != (d == POLICY_BIND ? LEARN_BIND : LEARN_CONNECT))
                        continue;
                /* Protocol 0 ("other") requests are matched as the kernel matches them: only by
                 * rules without a protocol, which policy_rule_matches() does with protocol 0. */
                if (policy_rule_matches(rule, x->family, x->protocol, x->address.bytes, x->port) ||
                    name_rule_matches(p, rule, i))
                        n = add_sat(n, x->count);
        }
        return n;
}

/* Requests of c the current policy refuses. */
static uint64_t refused_now(const Proposal *p, const Policy *current, const Candidate *c) {
        uint64_t n = 0;

        for (size_t i = 0; i < c->n_recs; i++) {
                const LearnRecord *x = &p->recs[c->recs[i]];
                bool allowed;

                if (x->dir == LEARN_SOCKET)
                        /* Socket kinds are only policed in a unit with network rules. */
                        allowed = !policy_has_network(current) || (current->socket_allow & x->socket_kind);
                else if (x->listen)
                        allowed = policy_allows_listen(current, x->family, x->protocol, x->address.bytes, x->port);
                else
                        allowed = policy_allows(current, x->dir == LEARN_BIND ? POLICY_BIND : POLICY_CONNECT,
                                                x->family, x->protocol, x->address.bytes, x->port) ||
                                current_names_allow(p, current, c->recs[i]);
                if (!allowed)
                        n = x->count > UINT64_MAX - n ? UINT64_MAX : n + x->count;
        }
        return n;
}

#define FOREACH_ACTION_DENY_FIRST(a) \
        for (PolicyAction a, *_i = (PolicyAction[]) { POLICY_DENY, POLICY_ALLOW, _POLICY_ACTION_MAX }; \
             (a = *_i) != _POLICY_ACTION_MAX; _i++)

typedef struct DiffCounts {
        unsigned added, removed, kept;
} DiffCounts;

static int diff_rule_list(FILE *f, const Proposal *p, const Policy *current, LearnDirection d, PolicyAction a,
                          DiffCounts *counts) {
        PolicyDirection pd = d == LEARN_BIND ? POLICY_BIND : POLICY_CONNECT;
        const PolicyRuleList *l = &current->rules[pd][a];
        const char *key = key_table[d][a];
        _cleanup_free_ bool *matched = NULL;
        int r;

        matched = calloc(MAX(l->n, (size_t) 1), sizeof(bool));
        if (!matched)
                return -ENOMEM;

        /* Proposed rules, in the drop-in's order. */
        for (size_t i = 0; i < (a == POLICY_DENY ? 1 : p->n_c); i++) {
                const Candidate *c = a == POLICY_DENY ? NULL : &p->c[i];
                const PolicyRule any = { .any = true };
                const PolicyRule *rule = c ? &c->rule : &any;
                bool found = false;

                if (c && c->dir != d)
                        continue;
                for (size_t j = 0; j < l->n; j++) {
                        _cleanup_free_ char *s = NULL, *t = NULL;

                        /* The same canonical spelling is the same rule. */
                        r = policy_rule_to_string(&l->rules[j], &s);
                        if (r < 0)
                                return r;
                        r = policy_rule_to_string(rule, &t);
                        if (r < 0)
                                return r;
                        if (streq(s, t)) {
                                matched[j] = true;
                                found = true;
                        }
                }

                if (found) {
                        fprintf(f, "  %s=%s\n", key, c ? c->text : "any");
                        counts->kept++;
                } else if (c) {
                        uint64_t refused = refused_now(p, current, c);

                        fprintf(f, "+ %s=%s  # %s: ", key, c->text, c->covers);
                        write_usage(f, c->count, c->first, c->last);
                        if (refused > 0)
                                fprintf(f, "; %" PRIu64 " refused by the current policy", refused);
                        fputc('\n', f);
                        counts->added++;
                } else {
                        fprintf(f, "+ %s=any  # deny by default\n", key);
                        counts->added++;
                }
        }

        /* Current rules the proposal does not have. */
        for (size_t j = 0; j < l->n; j++) {
                _cleanup_free_ char *s = NULL;
                uint64_t used;

                if (matched[j])
                        continue;
                r = policy_rule_to_string(&l->rules[j], &s);
                if (r < 0)
                        return r;
                used = a == POLICY_ALLOW ? rule_used(p, pd, &l->rules[j]) : 0;
                if (a == POLICY_DENY)
                        fprintf(f, "- %s=%s  # the proposal denies everything it does not allow\n", key, s);
                else if (used == 0)
                        fprintf(f, "- %s=%s  # nothing learned used it\n", key, s);
                else
                        fprintf(f, "- %s=%s  # used by %" PRIu64 " learned requests, which the rules above cover\n",
                                key, s, used);
                counts->removed++;
        }
        return 0;
}

int learn_propose_diff(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f) {
        _cleanup_(proposal_done) Proposal p = {};
        _cleanup_(policy_done) Policy empty = {};
        const Policy *current;
        DiffCounts counts = {};
        unsigned proposed_kinds = 0;
        const char *mode;
        int k;

        assert(f);

        policy_init(&empty);
        current = o && o->current ? o->current : &empty;

        k = proposal_build(&p, unit, r, n, o);
        if (k < 0)
                return k;

        write_header(f, unit, &p, o, "Policy proposed");
        fprintf(f, "# Against the policy %s has now: \"+\" to add, \"-\" to remove, \"  \" kept.\n", unit);
        if (current->error)
                fprintf(f, "# The current policy has an error: %s\n", current->error);
        fprintf(f, "\n[%s]\n", p.slice ? "Slice" : "Service");

        mode = policy_mode_to_string(current->mode) ?: "?";
        if (streq(mode, "enforce")) {
                fprintf(f, "  X-CgPolicyMode=enforce\n");
                counts.kept++;
        } else {
                fprintf(f, "- X-CgPolicyMode=%s\n+ X-CgPolicyMode=enforce\n", mode);
                counts.removed++;
                counts.added++;
        }

        /* Deny before allow, as in the drop-in. */
        for (LearnDirection d = LEARN_BIND; d <= LEARN_CONNECT; d++)
                FOREACH_ACTION_DENY_FIRST(a) {
                        k = diff_rule_list(f, &p, current, d, a, &counts);
                        if (k < 0)
                                return k;
                }

        for (size_t i = 0; i < p.n_c; i++) {
                const Candidate *c = &p.c[i];

                if (c->dir != LEARN_SOCKET)
                        continue;
                proposed_kinds |= c->kind;
                if (current->socket_allow & c->kind) {
                        fprintf(f, "  X-CgPolicySocketAllow=%s\n", c->text);
                        counts.kept++;
                } else {
                        uint64_t refused = refused_now(&p, current, c);

                        fprintf(f, "+ X-CgPolicySocketAllow=%s  # %s: ", c->text, c->covers);
                        write_usage(f, c->count, c->first, c->last);
                        if (refused > 0)
                                fprintf(f, "; %" PRIu64 " refused by the current policy", refused);
                        fputc('\n', f);
                        counts.added++;
                }
        }
        for (unsigned bit = 1; bit & POLICY_SOCKET_ALL; bit <<= 1)
                if ((current->socket_allow & bit) && !(proposed_kinds & bit)) {
                        fprintf(f, "- X-CgPolicySocketAllow=%s  # nothing learned used it\n",
                                policy_socket_kind_to_string(bit));
                        counts.removed++;
                }

        fprintf(f, "# %u to add, %u to remove, %u kept.\n", counts.added, counts.removed, counts.kept);
        return finish_write(f);
}

int learn_read_resolvers(const char *path, LearnAddress **ret, size_t *ret_n) {
        _cleanup_free_ char *contents = NULL;
        _cleanup_free_ LearnAddress *l = NULL;
        size_t size, n = 0;
        int r;

        assert(path);
        assert(ret);
        assert(ret_n);

        r = read_full_file(path, &contents, &size);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;

        for (char *line = contents; line && line < contents + size;) {
                char *end = memchr(line, '\n', (size_t) (contents + size - line)), *p, *word;
                LearnAddress a = {};
                size_t len;

                if (end)
                        *end = 0;
                p = line;
                line = end ? end + 1 : NULL;

                p += strspn(p, " \t");
                if (!startswith(p, "nameserver") || !strchr(" \t", p[strlen("nameserver")]) ||
                    p[strlen("nameserver")] == 0)
                        continue;
                p += strlen("nameserver");
                p += strspn(p, " \t");
                word = p;
                len = strcspn(word, " \t\r#;%");
                word[len] = 0;

                if (inet_pton(AF_INET, word, &a.address.in) == 1)
                        a.family = AF_INET;
                else if (inet_pton(AF_INET6, word, &a.address.in6) == 1) {
                        if (IN6_IS_ADDR_V4MAPPED(&a.address.in6)) {
                                memmove(a.address.bytes, a.address.bytes + 12, 4);
                                memset(a.address.bytes + 4, 0, 12);
                                a.family = AF_INET;
                        } else
                                a.family = AF_INET6;
                } else
                        continue;

                bool dup = false;
                for (size_t i = 0; i < n; i++)
                        if (l[i].family == a.family && memcmp(l[i].address.bytes, a.address.bytes, 16) == 0)
                                dup = true;
                if (dup)
                        continue;

                LearnAddress *x = reallocarray(l, n + 1, sizeof(LearnAddress));
                if (!x)
                        return -ENOMEM;
                l = x;
                l[n++] = a;
        }

        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}
