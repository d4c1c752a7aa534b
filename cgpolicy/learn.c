/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Learning mode: the learners and their records in the maps (cgpolicy-abi.h), and "cgpolicy
 * learn". The kernel does the recording and the de-duplication; this reads the records back,
 * turns boot times into wall-clock times and hands them to the proposer (learn-propose.h). */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "check.h"
#include "learn.h"
#include "log.h"
#include "macro.h"
#include "privilege.h"
#include "runtime.h"
#include "strv.h"
#include "switch.h"
#include "target.h"
#include "unit-bus.h"
#include "unit-path.h"

static int name_key(const char *unit, struct cgp_learn_name *ret) {
        size_t l = strlen(unit);

        if (l == 0 || l >= sizeof(ret->name))
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        memcpy(ret->name, unit, l);
        return 0;
}

/* A learner's set of records: an LRU hash of the template's shape (the kernel refuses any other
 * as a value of cgp_learn). */
static int records_map_create(void) {
        int fd;

        fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "cgp_learn_rec", sizeof(struct cgp_learn_key),
                            sizeof(struct cgp_learn_value), CGP_LEARN_RECORDS, NULL);
        return fd < 0 ? -errno : fd;
}

/* A learner's names: likewise, of cgp_learn_dns's template. */
static int names_map_create(void) {
        int fd;

        fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "cgp_learn_dns", sizeof(struct cgp_learn_dns_key),
                            sizeof(struct cgp_learn_dns_value), CGP_LEARN_DNS_RECORDS, NULL);
        return fd < 0 ? -errno : fd;
}

/* A new, empty set of records and of names for learner id, in place of the old ones if any
 * (atomically for the programs, each), and its insert count zeroed. */
static int records_renew(Maps *m, uint32_t id) {
        _cleanup_close_ int fd = -EBADF, names_fd = -EBADF;
        uint64_t zero = 0;

        fd = records_map_create();
        if (fd < 0)
                return fd;
        names_fd = names_map_create();
        if (names_fd < 0)
                return names_fd;
        if (bpf_map_update_elem(m->fd[MAP_LEARN_DNS], &id, &names_fd, BPF_ANY) < 0)
                return -errno;
        if (bpf_map_update_elem(m->fd[MAP_LEARN], &id, &fd, BPF_ANY) < 0)
                return -errno;
        if (bpf_map_update_elem(m->fd[MAP_LEARN_INSERTS], &id, &zero, BPF_ANY) < 0)
                return -errno;
        return 0;
}

/* The learner of a name: 1 and *ret, or 0. */
static int learner_lookup(Maps *m, const char *unit, uint32_t *ret) {
        struct cgp_learn_name k;
        struct cgp_learner v;
        int r;

        r = name_key(unit, &k);
        if (r < 0)
                return r;
        if (bpf_map_lookup_elem(m->fd[MAP_LEARN_NAMES], &k, &v) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (v.id == 0 || v.id >= CGP_MAX_LEARNERS)
                return -EBADMSG;
        *ret = v.id;
        return 1;
}

/* Calls cb for every learner (name, id); stops at a negative return. */
static int learners_foreach(Maps *m, int (*cb)(Maps *m, const char *name, uint32_t id, void *userdata),
                            void *userdata) {
        _cleanup_free_ struct cgp_learn_name *keys = NULL;
        struct cgp_learn_name key, next;
        size_t n = 0;
        void *prev = NULL;
        int r;

        /* Collect first: callbacks may delete. */
        keys = calloc(CGP_MAX_LEARNERS, sizeof(struct cgp_learn_name));
        if (!keys)
                return -ENOMEM;
        while (n < CGP_MAX_LEARNERS && bpf_map_get_next_key(m->fd[MAP_LEARN_NAMES], prev, &next) == 0) {
                keys[n++] = next;
                key = next;
                prev = &key;
        }
        for (size_t i = 0; i < n; i++) {
                struct cgp_learner v;
                char name[CGP_LEARN_NAME_MAX];

                if (bpf_map_lookup_elem(m->fd[MAP_LEARN_NAMES], &keys[i], &v) < 0)
                        continue;
                memcpy(name, keys[i].name, sizeof(name));
                name[sizeof(name) - 1] = 0;
                r = cb(m, name, v.id, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int mark_id(Maps *m, const char *name, uint32_t id, void *userdata) {
        uint8_t *used = userdata;

        (void) m;
        (void) name;
        if (id < CGP_MAX_LEARNERS)
                used[id] = 1;
        return 0;
}

int learn_enable(Maps *m, const char *unit, uint32_t slot) {
        uint32_t id, inner_id;
        int r;

        assert(m);
        assert(unit);

        r = learner_lookup(m, unit, &id);
        if (r < 0)
                return r;
        if (r == 0) {
                _cleanup_free_ uint8_t *used = calloc(CGP_MAX_LEARNERS, 1);
                struct cgp_learn_name k;

                if (!used)
                        return -ENOMEM;
                r = learners_foreach(m, mark_id, used);
                if (r < 0)
                        return r;
                for (id = 1; id < CGP_MAX_LEARNERS && used[id]; id++)
                        ;
                if (id >= CGP_MAX_LEARNERS)
                        return -ENOSPC;
                /* The records first, then the name: a name always has its records. */
                r = records_renew(m, id);
                if (r < 0)
                        return r;
                r = name_key(unit, &k);
                if (r < 0)
                        return r;
                if (bpf_map_update_elem(m->fd[MAP_LEARN_NAMES], &k, &(struct cgp_learner) { .id = id }, BPF_NOEXIST) < 0)
                        return -errno;
                log_debug("%s: learner %" PRIu32 ", new.", unit, id);
        } else if (bpf_map_lookup_elem(m->fd[MAP_LEARN], &id, &inner_id) < 0) {
                if (errno != ENOENT)
                        return -errno;
                r = records_renew(m, id);
                if (r < 0)
                        return r;
        }

        if (bpf_map_update_elem(m->fd[MAP_LEARN_SLOTS], &slot, &id, BPF_ANY) < 0)
                return -errno;
        return 0;
}

int learn_disable(Maps *m, uint32_t slot) {
        uint32_t zero = 0;

        assert(m);

        if (bpf_map_update_elem(m->fd[MAP_LEARN_SLOTS], &slot, &zero, BPF_ANY) < 0)
                return -errno;
        return 0;
}

bool learn_name_matches(const char *pattern, const char *name) {
        const char *at, *dot, *n_at, *n_dot;

        if (streq(pattern, name))
                return true;
        if (!unit_name_is_template(pattern) || !unit_name_is_instance(name))
                return false;
        /* foo@.service: foo@INSTANCE.service, INSTANCE not empty. */
        at = strchr(pattern, '@');
        dot = strrchr(pattern, '.');
        n_at = strchr(name, '@');
        n_dot = strrchr(name, '.');
        if (!at || !dot || !n_at || !n_dot)
                return false;
        return at - pattern == n_at - name && strncmp(pattern, name, (size_t) (at - pattern)) == 0 &&
               streq(dot, n_dot) && n_dot > n_at + 1;
}

/* CLOCK_REALTIME - CLOCK_BOOTTIME now, in nanoseconds. Read once per read of the records: the
 * two clocks are read one after the other, so each reading differs by the time between them,
 * and a record whose first and last time are equal must not come out with first > last. */
static int64_t realtime_offset_ns(void) {
        struct timespec rt, bt;

        if (clock_gettime(CLOCK_REALTIME, &rt) < 0 || clock_gettime(CLOCK_BOOTTIME, &bt) < 0)
                return 0;
        return ((int64_t) rt.tv_sec - (int64_t) bt.tv_sec) * 1000000000LL + (rt.tv_nsec - bt.tv_nsec);
}

/* CLOCK_BOOTTIME nanoseconds → CLOCK_REALTIME microseconds, by the clocks' difference offset_ns. */
static uint64_t boot_to_realtime_usec(uint64_t boot_ns, int64_t offset_ns) {
        return (uint64_t) ((int64_t) boot_ns + offset_ns) / 1000;
}

/* The fd of learner id's inner map in outer (MAP_LEARN: its records, MAP_LEARN_DNS: its names),
 * or -ENOENT. */
static int inner_open(Maps *m, MapIndex outer, uint32_t id) {
        uint32_t inner_id;
        int fd;

        if (bpf_map_lookup_elem(m->fd[outer], &id, &inner_id) < 0)
                return -errno;
        fd = bpf_map_get_fd_by_id(inner_id);
        return fd < 0 ? -errno : fd;
}

static int records_open(Maps *m, uint32_t id) {
        return inner_open(m, MAP_LEARN, id);
}

/* A question as the kernel recorded it (wire format, lowercase) → "api.example.com", when it is
 * a name a rule can hold (policy_name_is_valid(): the grammar of systemd.cgpolicy(5), NAME
 * RULES): anything else the service asked (a name with a byte that would make the proposal
 * something else than a rule, or print as more than one line of --records) can never become a
 * rule, and is not read. NULL then. */
static char *question_to_name(const uint8_t *wire, uint32_t len) {
        char buf[CGP_DNS_NAME_BUF];
        size_t n = 0;

        if (len == 0 || len >= CGP_DNS_NAME_BUF)
                return NULL;
        for (uint32_t pos = 0; pos < len; ) {
                uint8_t l = wire[pos++];

                /* A '.' within a label would read as another name than the one asked. */
                if (l == 0 || pos + l > len || memchr(wire + pos, '.', l))
                        return NULL;
                if (n > 0)
                        buf[n++] = '.';
                memcpy(buf + n, wire + pos, l);         /* n + l < len < CGP_DNS_NAME_BUF */
                n += l;
                pos += l;
        }
        buf[n] = 0;
        if (strlen(buf) != n || !policy_name_is_valid(buf))
                return NULL;
        return strdup(buf);
}

/* The names learner id looked up into s (unit: its name in s->units). */
static int read_names(Maps *m, uint32_t id, const char *unit, int64_t offset_ns, LearnSet *s) {
        _cleanup_close_ int fd = -EBADF;
        struct cgp_learn_dns_key key, next;
        void *prev = NULL;

        fd = inner_open(m, MAP_LEARN_DNS, id);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        while (bpf_map_get_next_key(fd, prev, &next) == 0) {
                struct cgp_learn_dns_value v;
                LearnName *l;
                char *name;

                key = next;
                prev = &key;
                if (bpf_map_lookup_elem(fd, &key, &v) < 0)
                        continue;       /* evicted meanwhile */
                if (key.family != CGP_AF_INET && key.family != CGP_AF_INET6)
                        continue;
                name = question_to_name(v.name, v.len);
                if (!name)
                        continue;
                l = reallocarray(s->names, s->n_names + 1, sizeof(LearnName));
                if (!l) {
                        free(name);
                        return -ENOMEM;
                }
                s->names = l;
                l[s->n_names++] = (LearnName) {
                        .unit = unit,
                        .name = name,
                        .family = key.family == CGP_AF_INET ? AF_INET : AF_INET6,
                        .ttl = v.ttl_s,
                        .count = v.count,
                        .first_usec = boot_to_realtime_usec(v.first_ns, offset_ns),
                        .last_usec = boot_to_realtime_usec(v.last_ns, offset_ns),
                };
                memcpy(&l[s->n_names - 1].address, key.addr, key.family == CGP_AF_INET ? 4 : 16);
        }
        return 0;
}

static int socket_kind_bit(uint8_t kind) {
        switch (kind) {
        case CGP_SOCK_PING:    return POLICY_SOCKET_PING;
        case CGP_SOCK_RAW:     return POLICY_SOCKET_RAW;
        case CGP_SOCK_UDPLITE: return POLICY_SOCKET_UDPLITE;
        case CGP_SOCK_SCTP:    return POLICY_SOCKET_SCTP;
        case CGP_SOCK_OTHER:   return POLICY_SOCKET_OTHER;
        default:               return 0;
        }
}

typedef struct ReadContext {
        const char *pattern;
        LearnSet *set;
        int64_t offset_ns;      /* realtime_offset_ns(), the same for every record */
} ReadContext;

static int stats_of(Maps *m, uint32_t id, int fd, LearnStats *ret) {
        struct cgp_learn_key key, next;
        void *prev = NULL;
        uint64_t inserted = 0, present = 0;

        if (bpf_map_lookup_elem(m->fd[MAP_LEARN_INSERTS], &id, &inserted) < 0)
                return -errno;
        while (bpf_map_get_next_key(fd, prev, &next) == 0) {
                present++;
                key = next;
                prev = &key;
        }
        ret->records += present;
        ret->inserted += inserted;
        ret->evicted += inserted > present ? inserted - present : 0;
        return 0;
}

static int read_one(Maps *m, const char *name, uint32_t id, void *userdata) {
        ReadContext *c = userdata;
        LearnSet *s = c->set;
        _cleanup_close_ int fd = -EBADF;
        struct cgp_learn_key key, next;
        const char *unit;
        void *prev = NULL;
        int r;

        if (!learn_name_matches(c->pattern, name))
                return 0;
        fd = records_open(m, id);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return log_error_errno(fd, "Cannot open the records of %s: %m", name);

        r = strv_extend(&s->units, &s->n_units, name);
        if (r < 0)
                return log_oom();
        unit = s->units[s->n_units - 1];

        while (bpf_map_get_next_key(fd, prev, &next) == 0) {
                struct cgp_learn_value v;
                LearnRecord *l, *x;

                key = next;
                prev = &key;
                if (bpf_map_lookup_elem(fd, &key, &v) < 0)
                        continue;       /* evicted meanwhile */
                if (key.family != CGP_AF_INET && key.family != CGP_AF_INET6)
                        continue;
                if (key.dir != CGP_DIR_BIND && key.dir != CGP_DIR_CONNECT && key.dir != CGP_DIR_SOCKET)
                        continue;

                l = reallocarray(s->records, s->n + 1, sizeof(LearnRecord));
                if (!l)
                        return log_oom();
                s->records = l;
                x = &l[s->n++];
                *x = (LearnRecord) {
                        .unit = unit,
                        .dir = key.dir == CGP_DIR_BIND ? LEARN_BIND : key.dir == CGP_DIR_CONNECT ? LEARN_CONNECT : LEARN_SOCKET,
                        .family = key.family == CGP_AF_INET ? AF_INET : AF_INET6,
                        .protocol = key.proto == CGP_PROTO_TCP ? IPPROTO_TCP : key.proto == CGP_PROTO_UDP ? IPPROTO_UDP : 0,
                        .port = key.port,
                        .socket_kind = key.dir == CGP_DIR_SOCKET ? (unsigned) socket_kind_bit(key.kind) : 0,
                        .listen = key.dir == CGP_DIR_BIND && key.kind == CGP_LEARN_LISTEN,
                        .denied = v.denied > 0,
                        .count = v.count,
                        .first_usec = boot_to_realtime_usec(v.first_ns, c->offset_ns),
                        .last_usec = boot_to_realtime_usec(v.last_ns, c->offset_ns),
                };
                memcpy(&x->address, key.addr, key.family == CGP_AF_INET ? 4 : 16);
        }

        r = stats_of(m, id, fd, &s->stats);
        if (r < 0)
                return log_error_errno(r, "Cannot count the records of %s: %m", name);
        r = read_names(m, id, unit, c->offset_ns, s);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Cannot read the names %s looked up: %m", name);
        return 0;
}

static int name_cmp(const void *a, const void *b) {
        const LearnName *x = a, *y = b;
        int c;

        if ((c = strcmp(x->unit, y->unit)) != 0 || (c = strcmp(x->name, y->name)) != 0)
                return c;
        if (x->family != y->family)
                return x->family < y->family ? -1 : 1;
        return memcmp(&x->address, &y->address, x->family == AF_INET ? 4 : 16);
}

static int record_cmp(const void *a, const void *b) {
        const LearnRecord *x = a, *y = b;
        int c;

        if ((c = strcmp(x->unit, y->unit)) != 0)
                return c;
        if (x->dir != y->dir)
                return x->dir < y->dir ? -1 : 1;
        if (x->family != y->family)
                return x->family < y->family ? -1 : 1;
        if (x->protocol != y->protocol)
                return x->protocol < y->protocol ? -1 : 1;
        if (x->socket_kind != y->socket_kind)
                return x->socket_kind < y->socket_kind ? -1 : 1;
        if ((c = memcmp(&x->address, &y->address, x->family == AF_INET ? 4 : 16)) != 0)
                return c;
        return x->port < y->port ? -1 : x->port > y->port ? 1 : 0;
}

void learn_set_done(LearnSet *s) {
        assert(s);

        s->records = mfree(s->records);
        s->n = 0;
        for (size_t i = 0; i < s->n_names; i++)
                free((char *) s->names[i].name);
        s->names = mfree(s->names);
        s->n_names = 0;
        strv_freep(&s->units);
        s->n_units = 0;
        s->stats = (LearnStats) {};
}

int learn_read(Maps *m, const char *pattern, LearnSet *ret) {
        _cleanup_(learn_set_done) LearnSet s = {};
        int r;

        assert(m);
        assert(pattern);
        assert(ret);

        r = learners_foreach(m, read_one, &(ReadContext) { .pattern = pattern, .set = &s,
                                                           .offset_ns = realtime_offset_ns() });
        if (r < 0)
                return r;
        if (s.n > 1)
                qsort(s.records, s.n, sizeof(LearnRecord), record_cmp);
        if (s.n_names > 1)
                qsort(s.names, s.n_names, sizeof(LearnName), name_cmp);
        *ret = s;
        s = (LearnSet) {};
        return 0;
}

int learn_stats(Maps *m, const char *unit, LearnStats *ret) {
        _cleanup_close_ int fd = -EBADF;
        uint32_t id;
        int r;

        assert(m);
        assert(ret);

        *ret = (LearnStats) {};
        r = learner_lookup(m, unit, &id);
        if (r <= 0)
                return r;
        fd = records_open(m, id);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        return stats_of(m, id, fd, ret);
}

typedef struct ResetContext {
        const char *pattern;
        uint8_t *in_use;        /* learners a learning cgroup's slot points at */
        unsigned n;
} ResetContext;

typedef struct SlotScan {
        Maps *m;
        uint8_t *in_use;
} SlotScan;

static int mark_slot_learner(uint64_t cgroup_id, const struct cgp_cgroup *v, void *userdata) {
        SlotScan *s = userdata;
        uint32_t id;

        (void) cgroup_id;
        if (!(v->flags & CGP_F_LEARN))
                return 0;
        if (bpf_map_lookup_elem(s->m->fd[MAP_LEARN_SLOTS], &v->slot, &id) < 0)
                return -errno;
        if (id < CGP_MAX_LEARNERS)
                s->in_use[id] = 1;
        return 0;
}

static int reset_one(Maps *m, const char *name, uint32_t id, void *userdata) {
        ResetContext *c = userdata;
        struct cgp_learn_name k;
        uint64_t zero = 0;
        int r;

        if (!learn_name_matches(c->pattern, name))
                return 0;
        c->n++;
        if (c->in_use[id])
                /* Learning right now: a new, empty set of records under the same learner. */
                return records_renew(m, id);

        /* The name first: a name always has its records. */
        r = name_key(name, &k);
        if (r < 0)
                return r;
        if (bpf_map_delete_elem(m->fd[MAP_LEARN_NAMES], &k) < 0 && errno != ENOENT)
                return -errno;
        if (bpf_map_delete_elem(m->fd[MAP_LEARN], &id) < 0 && errno != ENOENT)
                return -errno;
        if (bpf_map_delete_elem(m->fd[MAP_LEARN_DNS], &id) < 0 && errno != ENOENT)
                return -errno;
        if (bpf_map_update_elem(m->fd[MAP_LEARN_INSERTS], &id, &zero, BPF_ANY) < 0)
                return -errno;
        return 0;
}

int learn_reset(Maps *m, const char *pattern, unsigned *ret_n) {
        _cleanup_free_ uint8_t *in_use = calloc(CGP_MAX_LEARNERS, 1);
        ResetContext c = { .pattern = pattern };
        int r;

        assert(m);
        assert(pattern);

        if (!in_use)
                return -ENOMEM;
        r = maps_foreach_cgroup(m, mark_slot_learner, &(SlotScan) { .m = m, .in_use = in_use });
        if (r < 0)
                return r;
        c.in_use = in_use;
        r = learners_foreach(m, reset_one, &c);
        if (r < 0)
                return r;
        if (ret_n)
                *ret_n = c.n;
        return 0;
}

/* ---- cgpolicy learn ---- */

int learn_parse_argv(int argc, char **argv, LearnArgs *a) {
        static const struct {
                const char *option;
                LearnAction action;
        } actions[] = {
                { "--start",   LEARN_ACTION_START },
                { "--stop",    LEARN_ACTION_STOP },
                { "--reset",   LEARN_ACTION_RESET },
                { "--records", LEARN_ACTION_RECORDS },
                { "--json",    LEARN_ACTION_JSON },
                { "--diff",    LEARN_ACTION_DIFF },
        };
        bool have_action = false, have_threshold = false;

        assert(a);

        a->action = LEARN_ACTION_PROPOSE;
        a->prefix_threshold = LEARN_PREFIX_THRESHOLD_DEFAULT;
        for (int i = 1; i < argc; i++) {
                const char *v;
                bool matched = false;

                for (size_t k = 0; k < ELEMENTSOF(actions); k++)
                        if (streq(argv[i], actions[k].option)) {
                                if (have_action && a->action != actions[k].action)
                                        return log_error_errno(EINVAL, "'learn' takes one of --start, --stop, --reset, "
                                                               "--records, --json and --diff.");
                                a->action = actions[k].action;
                                have_action = matched = true;
                        }
                if (matched)
                        continue;
                if ((v = startswith(argv[i], "--prefix-threshold="))) {
                        char *end;
                        unsigned long n;

                        errno = 0;
                        n = strtoul(v, &end, 10);
                        if (!*v || *end || errno != 0 || n > UINT32_MAX || !(*v >= '0' && *v <= '9'))
                                return log_error_errno(EINVAL, "--prefix-threshold=%s: a number of addresses is expected "
                                                       "(0: never).", v);
                        a->prefix_threshold = (unsigned) n;
                        have_threshold = true;
                } else if ((v = startswith(argv[i], "--cgroup=")) && *v == '/')
                        a->cgroup = v;
                else if (argv[i][0] == '-')
                        return log_error_errno(EINVAL, "Unknown option '%s' of 'learn'.", argv[i]);
                else if (a->unit)
                        return log_error_errno(EINVAL, "'learn' takes one unit.");
                else
                        a->unit = argv[i];
        }

        if (!a->unit)
                return log_error_errno(EINVAL, "'learn' takes one unit.");
        if (a->action == LEARN_ACTION_START || a->action == LEARN_ACTION_STOP) {
                /* A running unit: a service, an instance, a slice. */
                if (!unit_name_is_valid_full(a->unit, UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE) ||
                    !(endswith(a->unit, ".service") || endswith(a->unit, ".slice")))
                        return log_error_errno(EINVAL, "'%s' is not the name of a service or slice that can run.", a->unit);
        } else {
                if (!unit_name_is_valid_full(a->unit, UNIT_NAME_ANY) ||
                    !(endswith(a->unit, ".service") || endswith(a->unit, ".slice")))
                        return log_error_errno(EINVAL, "'%s' is not the name of a service, template or slice.", a->unit);
                if (a->cgroup)
                        return log_error_errno(EINVAL, "--cgroup= goes with --start and --stop only.");
        }
        if (have_threshold && a->action != LEARN_ACTION_PROPOSE && a->action != LEARN_ACTION_JSON &&
            a->action != LEARN_ACTION_DIFF)
                return log_error_errno(EINVAL, "--prefix-threshold= goes with a proposal only.");
        return 0;
}

/* --start, --stop: the marker (every apply of the unit from now on learns, or no longer), then
 * the unit's recorded policy in force again for its running cgroup. */
static int learn_start_stop(const LearnArgs *a) {
        bool start = a->action == LEARN_ACTION_START;
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        _cleanup_(target_done) Target t = {};
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        _cleanup_free_ char *cgroup = NULL;
        LearnStats st;
        int r;

        r = require_policy_privileges("learn");
        if (r < 0)
                return r;
        if (a->cgroup) {
                cgroup = strdup(a->cgroup);
                if (!cgroup)
                        return log_oom();
        } else {
                r = bus_unit_running_cgroup(a->unit, &cgroup);
                if (r < 0)
                        return r;
        }
        r = maps_open(&m, true);
        if (r < 0)
                return r;
        r = target_resolve_cgroup(a->unit, cgroup, &t);
        if (r < 0)
                return r;
        /* Only a policed unit has the helper that puts learning in force again at its next start
         * (and the programs): learning does not police a unit that has no keys. */
        if (runtime_read(t.id, &e) < 0 || strv_length(e.args) == 0)
                return log_error_errno(ENOENT, "%s has no cgpolicy policy in force: give it X-CgPolicyMode=learn "
                                       "(systemd.cgpolicy(5)) to learn what it does.", a->unit);

        r = runtime_set_learning(a->unit, start);
        if (r < 0)
                return log_error_errno(r, "Cannot %s the learning of %s in %s: %m", start ? "start" : "stop",
                                       a->unit, runtime_dir());
        r = policy_switch_recorded(&m, &t);
        if (r < 0)
                return r;
        maps_reclaim_in_background(&m);

        if (start && runtime_is_blocked(a->unit))
                log_notice("%s is blocked: the block stays in force; it learns once 'cgpolicy unblock %s' ends it.",
                           a->unit, a->unit);
        else if (start)
                log_info("%s is learning: nothing is refused, every request is recorded until 'cgpolicy learn %s --stop'.",
                         a->unit, a->unit);
        else {
                (void) learn_stats(&m, a->unit, &st);
                log_info("%s: learning stopped, its configured policy is in force; %" PRIu64 " records kept "
                         "('cgpolicy learn %s').", a->unit, st.records, a->unit);
        }
        return 0;
}

static int learn_reset_verb(const LearnArgs *a) {
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        unsigned n = 0;
        int r;

        r = require_policy_privileges("learn");
        if (r < 0)
                return r;
        r = maps_open(&m, true);
        if (r < 0)
                return r;
        r = learn_reset(&m, a->unit, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot forget the records of %s: %m", a->unit);
        log_info("%s: the records of %u unit%s forgotten.", a->unit, n, n == 1 ? "" : "s");
        return 0;
}

static void format_realtime(uint64_t usec, char buf[static 32]) {
        time_t sec = (time_t) (usec / 1000000);
        struct tm tm;

        if (!gmtime_r(&sec, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
                snprintf(buf, 32, "?");
                return;
        }
        snprintf(buf + strlen(buf), 32 - strlen(buf), ".%06uZ", (unsigned) (usec % 1000000));
}

/* --records: one line per record, the columns of cgpolicy(8), LEARNING. */
static void print_records(const LearnSet *s, FILE *f) {
        fputs("UNIT DIRECTION FAMILY PROTOCOL ADDRESS PORT COUNT DENIED FIRST LAST\n", f);
        for (size_t i = 0; i < s->n; i++) {
                const LearnRecord *x = &s->records[i];
                char addr[INET6_ADDRSTRLEN], first[32], last[32];
                const char *proto;

                if (x->dir == LEARN_SOCKET)
                        proto = policy_socket_kind_to_string((PolicySocketKind) x->socket_kind) ?: "?";
                else
                        proto = x->protocol == IPPROTO_TCP ? "tcp" : x->protocol == IPPROTO_UDP ? "udp" : "other";
                if (!inet_ntop(x->family, &x->address, addr, sizeof addr))
                        snprintf(addr, sizeof addr, "?");
                format_realtime(x->first_usec, first);
                format_realtime(x->last_usec, last);
                fprintf(f, "%s %s %s %s %s %u %" PRIu64 " %s %s %s\n", x->unit,
                        x->dir == LEARN_BIND ? (x->listen ? "listen" : "bind") :
                        x->dir == LEARN_CONNECT ? "connect" : "socket",
                        x->family == AF_INET ? "ipv4" : "ipv6", proto,
                        x->dir == LEARN_SOCKET ? "-" : addr, (unsigned) x->port, x->count,
                        x->denied ? "yes" : "no", first, last);
        }
        if (s->n_names == 0)
                return;
        /* The names looked up: a table of its own, after the records. */
        fputs("UNIT NAME FAMILY ADDRESS TTL ANSWERS FIRST LAST\n", f);
        for (size_t i = 0; i < s->n_names; i++) {
                const LearnName *x = &s->names[i];
                char addr[INET6_ADDRSTRLEN], first[32], last[32];

                if (!inet_ntop(x->family, &x->address, addr, sizeof addr))
                        snprintf(addr, sizeof addr, "?");
                format_realtime(x->first_usec, first);
                format_realtime(x->last_usec, last);
                fprintf(f, "%s %s %s %s %" PRIu32 " %" PRIu64 " %s %s\n", x->unit, x->name,
                        x->family == AF_INET ? "ipv4" : "ipv6", addr, x->ttl, x->count, first, last);
        }
}

/* The policy the unit files give unit now (its fragment and drop-ins, read with the one parser
 * as "cgpolicy check" and the generator read them), for --diff. A template's: its own files. */
static int unit_current_policy(const char *unit, Policy *ret) {
        _cleanup_strv_free_ char **path = NULL;
        _cleanup_free_ const char **dropins = NULL;
        UnitTree *tree = NULL;
        UnitPolicy u;
        const char *fragment = NULL;
        size_t n_dropins = 0;
        bool masked = false;
        int r;

        r = unit_search_path(&path);
        if (r < 0)
                return log_error_errno(r, "Cannot build the unit search path: %m");
        r = unit_tree_scan(path, &tree);
        if (r < 0)
                return log_error_errno(r, "Cannot read the unit directories: %m");
        unit_policy_init(&u, endswith(unit, ".slice") ? UNIT_KIND_SLICE : UNIT_KIND_SERVICE);
        r = unit_tree_fragment(tree, unit, &fragment, &masked);
        if (r >= 0)
                r = unit_tree_dropins(tree, unit, &dropins, &n_dropins);
        if (r < 0) {
                log_error_errno(r, "Cannot find the files of %s: %m", unit);
                goto finish;
        }
        if (masked)
                log_warning("%s is masked: its current policy is taken as empty.", unit);
        else {
                if (fragment) {
                        r = unit_policy_load_file(&u, fragment, NULL);
                        if (r < 0)
                                log_warning_errno(r, "Cannot read %s, ignoring: %m", fragment);
                }
                for (size_t i = 0; i < n_dropins; i++) {
                        r = unit_policy_load_file(&u, dropins[i], NULL);
                        if (r < 0)
                                log_warning_errno(r, "Cannot read %s, ignoring: %m", dropins[i]);
                }
        }
        if (u.policy.error)
                log_warning("The current policy of %s has an error (the unit would not start): %s", unit, u.policy.error);
        *ret = u.policy;
        policy_init(&u.policy);
        r = 0;
finish:
        unit_policy_done(&u);
        unit_tree_free(tree);
        return r;
}

int learn_run(const LearnArgs *a) {
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        _cleanup_(learn_set_done) LearnSet s = {};
        _cleanup_(policy_done) Policy current = {};
        _cleanup_free_ LearnAddress *resolvers = NULL;
        size_t n_resolvers = 0;
        LearnOptions o;
        int r;

        assert(a);

        switch (a->action) {
        case LEARN_ACTION_START:
        case LEARN_ACTION_STOP:
                return learn_start_stop(a);
        case LEARN_ACTION_RESET:
                return learn_reset_verb(a);
        default:
                break;
        }

        r = maps_open(&m, false);
        if (r < 0)
                return r;
        r = learn_read(&m, a->unit, &s);
        if (r < 0)
                return r;
        if (s.n_units == 0)
                log_notice("%s: nothing learned (no records since the last reset or boot).", a->unit);
        if (s.stats.evicted > 0)
                log_warning("%s: %" PRIu64 " records were evicted (at most %u are kept per unit, the least recently "
                            "used go): requests made once long ago may be missing.", a->unit, s.stats.evicted,
                            CGP_LEARN_RECORDS);

        switch (a->action) {
        case LEARN_ACTION_RECORDS:
                print_records(&s, stdout);
                printf("%zu records, %" PRIu64 " evicted.\n", s.n, s.stats.evicted);
                return fflush(stdout) == 0 ? 0 : log_error_errno(errno, "Cannot write: %m");
        default:
                break;
        }

        policy_init(&current);
        r = learn_read_resolvers("/etc/resolv.conf", &resolvers, &n_resolvers);
        if (r < 0)
                log_warning_errno(r, "Cannot read /etc/resolv.conf, the host's resolvers are not named: %m");
        o = (LearnOptions) {
                .prefix_threshold = a->prefix_threshold,
                .resolvers = resolvers,
                .n_resolvers = n_resolvers,
                .evictions = s.stats.evicted,
                .names = s.names,
                .n_names = s.n_names,
        };
        if (a->action == LEARN_ACTION_DIFF) {
                r = unit_current_policy(a->unit, &current);
                if (r < 0)
                        return r;
                o.current = &current;
        }

        if (a->action == LEARN_ACTION_JSON)
                r = learn_propose_json(a->unit, s.records, s.n, &o, stdout);
        else if (a->action == LEARN_ACTION_DIFF)
                r = learn_propose_diff(a->unit, s.records, s.n, &o, stdout);
        else
                r = learn_propose_dropin(a->unit, s.records, s.n, &o, stdout);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Cannot write the proposal for %s: %m", a->unit);
        return fflush(stdout) == 0 ? 0 : log_error_errno(errno, "Cannot write: %m");
}
