/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The denial stream in a real kernel (issue 11): a denial produces one ring buffer record with
 * the right fields (and an allowed request none); a flood is bounded in the kernel by the
 * denial log's rate, the rest counted as suppressed; records the ring buffer has no room for
 * are counted per slot (cgp_events_lost, shown by status), so that records written = read +
 * lost. The ring buffer is read here directly with libbpf, as cgpolicy monitor reads it.
 *
 * Usage: test-stream PATH-TO-CGPOLICY. Needs root; exits 77 (skip) without it unless $CI is
 * set, where a missing privilege is a failure. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgpolicy-abi.h"
#include "cgpolicy-hooks.h"
#include "cgroup-util.h"
#include "macro.h"
#include "tap.h"
#include "test-util.h"

#define PORT_DENIED     47181u
#define PORT_ALLOWED    47182u  /* nothing listens: ECONNREFUSED, allowed by the policy */

static const char *cgpolicy;
static TestEnv env;

typedef struct Records {
        struct cgp_event *e;
        size_t n, allocated;
} Records;

static int collect(void *ctx, void *data, size_t size) {
        Records *r = ctx;

        if (size != sizeof(struct cgp_event))
                return -EBADMSG;
        if (r->n == r->allocated) {
                size_t a = r->allocated ? r->allocated * 2 : 64;
                struct cgp_event *e = reallocarray(r->e, a, sizeof(*e));

                if (!e)
                        return -ENOMEM;
                r->e = e;
                r->allocated = a;
        }
        memcpy(&r->e[r->n++], data, sizeof(struct cgp_event));
        return 0;
}

/* Everything in the ring buffer now. */
static int drain(struct ring_buffer *rb, Records *r) {
        r->n = 0;
        return ring_buffer__consume(rb);
}

static uint64_t boot_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_BOOTTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* Cgroup NAME with the connect programs attached and the policy of unit NAME.service applied. */
static char *policed(const char *name, const char *mode) {
        char *cg = test_env_cgroup(&env, name);
        char unit[64], allow[64];

        snprintf(unit, sizeof unit, "--unit=%s.service", name);
        snprintf(allow, sizeof allow, "--connect-allow=tcp:%u", PORT_ALLOWED);
        if (test_attach(&env, cg, CGP_DIRS(CGP_DIR_CONNECT)) < 0 ||
            test_cgpolicy(cgpolicy, cg, NULL, "apply", unit, mode, allow, "--connect-deny=any", NULL) != 0)
                die("cannot police %s", name);
        return cg;
}

/* connect() (TCP) or sendto() (UDP) count times from a process in cg; returns how many were
 * refused with EPERM, or -1. With ret_pid, the process's pid. */
static int requests(const char *cg, int type, const char *addr, unsigned port, unsigned count, pid_t *ret_pid) {
        struct sockaddr_storage ss;
        socklen_t sl;
        int family = sockaddr_parse(addr, (uint16_t) port, &ss, &sl);
        pid_t pid;

        if (family < 0)
                return -1;
        pid = test_fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                unsigned refused = 0;

                if (cgroup_join(cg) < 0)
                        _exit(255);
                (void) prctl(PR_SET_NAME, "stream-probe");
                for (unsigned i = 0; i < count; i++) {
                        int fd = socket(family, type | SOCK_CLOEXEC, 0), k;

                        if (fd < 0)
                                _exit(254);
                        if (type == SOCK_STREAM)
                                k = connect(fd, (struct sockaddr *) &ss, sl);
                        else
                                k = (int) sendto(fd, "x", 1, 0, (struct sockaddr *) &ss, sl);
                        if (k < 0 && errno == EPERM)
                                refused++;
                        close(fd);
                }
                /* The count as the exit status: at most 250 per run is enough to tell. */
                _exit(refused == count ? 0 : refused == 0 ? 1 : 2);
        }
        if (ret_pid)
                *ret_pid = pid;
        return test_wait(pid);
}

static int slot_of(const char *cg, uint32_t *ret) {
        _cleanup_close_ int fd = test_pin_get(&env, "maps/cgp_cgroups");
        struct cgp_cgroup v;
        uint64_t id;

        if (fd < 0 || cg_fs_get_id(cg, &id) < 0 || bpf_map_lookup_elem(fd, &id, &v) < 0)
                return -1;
        *ret = v.slot;
        return 0;
}

static uint64_t lost_of(uint32_t slot) {
        _cleanup_close_ int fd = test_pin_get(&env, "maps/cgp_events_lost");
        int n = libbpf_num_possible_cpus();
        uint64_t *v, sum = 0;

        if (fd < 0 || n <= 0 || !(v = calloc((size_t) n, sizeof(uint64_t))))
                return UINT64_MAX;
        if (bpf_map_lookup_elem(fd, &slot, v) >= 0)
                for (int i = 0; i < n; i++)
                        sum += v[i];
        else
                sum = UINT64_MAX;
        free(v);
        return sum;
}

static int slot_state(uint32_t slot, struct cgp_slot *ret) {
        _cleanup_close_ int fd = test_pin_get(&env, "maps/cgp_slots");

        return fd < 0 || bpf_map_lookup_elem(fd, &slot, ret) < 0 ? -1 : 0;
}

static void test_fields(struct ring_buffer *rb, Records *r) {
        char *cg = policed("api", "--mode=enforce"), *acg = policed("audited", "--mode=audit");
        uint64_t id, before, after;
        uint32_t slot = 0;
        struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
        const struct cgp_denial *d;
        pid_t pid = 0;
        int k;

        ok(drain(rb, r) >= 0, "fields: the ring buffer opens and drains");
        k = cg_fs_get_id(cg, &id) == 0 && slot_of(cg, &slot) == 0;
        ok(k, "fields: api's cgroup id %llu, slot %u", (unsigned long long) id, slot);

        k = requests(cg, SOCK_STREAM, "127.0.0.1", PORT_ALLOWED, 1, NULL);
        ok(k == 1, "fields: an allowed connect is not refused");
        k = drain(rb, r);
        ok(k == 0 && r->n == 0, "fields: an allowed request writes no record (%d)", k);

        before = boot_ns();
        k = requests(cg, SOCK_STREAM, "127.0.0.1", PORT_DENIED, 1, &pid);
        after = boot_ns();
        ok(k == 0, "fields: a denied connect is refused with EPERM");
        k = drain(rb, r);
        ok(k == 1 && r->n == 1, "fields: one denial, one record (%d)", k);
        if (r->n == 1) {
                d = &r->e[0].d;
                ok(d->cgroup_id == id && d->policy_cgroup_id == id && r->e[0].slot == slot,
                   "fields: cgroup %llu, policy cgroup %llu, slot %u", (unsigned long long) d->cgroup_id,
                   (unsigned long long) d->policy_cgroup_id, r->e[0].slot);
                ok(d->hook == CGP_HOOK_CONNECT && d->family == CGP_AF_INET && d->proto == CGP_PROTO_TCP &&
                   d->protocol == IPPROTO_TCP && d->type == SOCK_STREAM,
                   "fields: connect, IPv4, TCP (hook %u family %u proto %u protocol %u type %u)",
                   d->hook, d->family, d->proto, d->protocol, d->type);
                ok(memcmp(d->addr, (uint8_t[]) { 127, 0, 0, 1 }, 4) == 0 && d->port == PORT_DENIED,
                   "fields: address 127.0.0.1, port %u", d->port);
                ok(d->flags == 0, "fields: enforce mode (flags %u)", d->flags);
                ok(d->seq == 1 && r->e[0].suppressed == 0, "fields: the slot's first record, nothing suppressed");
                ok(d->time_ns >= before && d->time_ns <= after, "fields: the time of the denial (CLOCK_BOOTTIME)");
                ok(d->pid == (uint32_t) pid && strneq((const char *) d->comm, "stream-probe", 16),
                   "fields: pid %u (want %d), comm '%.16s'", d->pid, (int) pid, (const char *) d->comm);
                ok(d->pad[0] == 0 && r->e[0].pad == 0, "fields: padding zeroed");
        }

        k = requests(cg, SOCK_DGRAM, "::1", PORT_DENIED, 1, NULL);
        ok(k == 0 && drain(rb, r) == 1 && r->n == 1, "fields: a denied UDP sendto to ::1, one record");
        if (r->n == 1) {
                d = &r->e[0].d;
                ok(d->hook == CGP_HOOK_SENDMSG && d->family == CGP_AF_INET6 && d->proto == CGP_PROTO_UDP &&
                   memcmp(d->addr, &lo6, 16) == 0 && d->port == PORT_DENIED && d->seq == 2,
                   "fields: sendmsg, IPv6, UDP, ::1, the slot's second record");
        }

        k = requests(acg, SOCK_STREAM, "127.0.0.1", PORT_DENIED, 1, NULL);
        ok(k == 1, "fields: audit mode: the connect is not refused");
        ok(drain(rb, r) == 1 && r->n == 1 && (r->e[0].d.flags & CGP_DENIAL_AUDIT),
           "fields: audit mode: one record, marked audit");
        free(cg);
        free(acg);
}

static void test_flood(struct ring_buffer *rb, Records *r) {
        char *cg = policed("flood", "--mode=enforce");
        const unsigned count = 20000;
        uint64_t t0, t1, bound;
        struct cgp_slot s = {};
        uint32_t slot = 0;
        bool seq_ok = true;
        int k;

        k = slot_of(cg, &slot) == 0 && drain(rb, r) >= 0;
        ok(k, "flood: slot %u", slot);
        t0 = boot_ns();
        k = requests(cg, SOCK_STREAM, "127.0.0.1", PORT_DENIED, count, NULL);
        t1 = boot_ns();
        ok(k == 0, "flood: %u connects refused in %.3f s", count, (double) (t1 - t0) / 1e9);
        k = drain(rb, r);
        ok(k >= 0, "flood: %d records in the ring buffer", k);
        /* GCRA: a burst of CGP_LOG_BURST (+1), then one per CGP_LOG_INTERVAL_NS. */
        bound = CGP_LOG_BURST + 1 + (t1 - t0) / CGP_LOG_INTERVAL_NS + 1;
        ok(r->n >= CGP_LOG_BURST && r->n <= bound, "flood: bounded in the kernel: %zu records, at most %llu",
           r->n, (unsigned long long) bound);
        for (size_t i = 0; i < r->n; i++)
                if (r->e[i].d.seq != i + 1 || r->e[i].slot != slot)
                        seq_ok = false;
        ok(seq_ok, "flood: the records are the slot's, numbered 1..%zu without a gap", r->n);
        k = slot_state(slot, &s);
        ok(k == 0 && s.logged == r->n && s.logged + s.suppressed == count,
           "flood: every denial recorded or counted as suppressed (%llu + %llu = %u)",
           (unsigned long long) s.logged, (unsigned long long) s.suppressed, count);
        ok(r->n > 0 && r->e[r->n - 1].d.seq + r->e[r->n - 1].suppressed <= count &&
           r->e[r->n - 1].suppressed > 0,
           "flood: a record carries the slot's suppressed count (%llu at the last)",
           r->n ? (unsigned long long) r->e[r->n - 1].suppressed : 0ULL);
        ok(lost_of(slot) == 0, "flood: nothing lost (the ring buffer had room)");
        free(cg);
}

/* More records than the ring buffer holds, nobody reading: what does not fit is counted. */
static void test_full(struct ring_buffer *rb, Records *r) {
        enum { N = 8 };
        const size_t capacity = CGP_EVENTS_SIZE / (sizeof(struct cgp_event) + 8);
        char *cg[N], name[32];
        uint32_t slot[N];
        uint64_t logged = 0, lost = 0, deadline;
        pid_t pid[N];
        _cleanup_free_ char *json = NULL;
        char want[64];
        int k;

        ok(drain(rb, r) >= 0, "full: the ring buffer is empty (capacity about %zu records)", capacity);
        for (int i = 0; i < N; i++) {
                snprintf(name, sizeof name, "full%d", i);
                cg[i] = policed(name, "--mode=enforce");
                if (slot_of(cg[i], &slot[i]) < 0)
                        die("no slot for %s", name);
        }
        /* N units at the log's rate (100 records a second each after the burst) for 3.5 s:
         * about N * 380 records. */
        deadline = boot_ns() + 3500000000ULL;
        for (int i = 0; i < N; i++) {
                pid[i] = test_fork();
                if (pid[i] < 0)
                        die("fork");
                if (pid[i] == 0) {
                        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT_DENIED),
                                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                        if (cgroup_join(cg[i]) < 0)
                                _exit(255);
                        while (boot_ns() < deadline) {
                                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                                (void) connect(fd, (struct sockaddr *) &sa, sizeof sa);
                                close(fd);
                                usleep(1000);
                        }
                        _exit(0);
                }
        }
        for (int i = 0; i < N; i++)
                (void) test_wait(pid[i]);

        for (int i = 0; i < N; i++) {
                struct cgp_slot s;
                uint64_t l = lost_of(slot[i]);

                if (slot_state(slot[i], &s) == 0)
                        logged += s.logged;
                if (l != UINT64_MAX)
                        lost += l;
        }
        k = drain(rb, r);
        ok(k >= 0 && r->n <= capacity, "full: %d records in the ring buffer (at most %zu)", k, capacity);
        ok(logged > capacity && lost > 0, "full: %llu records written, %llu did not fit and are counted as lost",
           (unsigned long long) logged, (unsigned long long) lost);
        ok(r->n + lost == logged, "full: none lost silently: %zu read + %llu lost = %llu written",
           r->n, (unsigned long long) lost, (unsigned long long) logged);

        ok(test_cgpolicy(cgpolicy, NULL, &json, "status", "--json", NULL) == 0, "full: cgpolicy status --json");
        snprintf(want, sizeof want, "\"lost\":%llu,", (unsigned long long) lost);
        ok(json && strstr(json, want), "full: status shows the lost records (%s)", want);
        for (int i = 0; i < N; i++)
                free(cg[i]);
}

int main(int argc, char **argv) {
        struct ring_buffer *rb;
        Records r = {};
        int fd, k;

        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY\n", argv[0]);
                return 2;
        }
        cgpolicy = argv[1];
        k = test_start(&env, "cgpolicy-stream");
        if (k != 0)
                return k;
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "load", NULL) == 0, "cgpolicy load into a private bpffs");

        fd = test_pin_get(&env, "maps/cgp_events");
        rb = fd >= 0 ? ring_buffer__new(fd, collect, &r, NULL) : NULL;
        ok(rb, "the ring buffer cgp_events is pinned and opens (%s)", fd < 0 ? strerror(-fd) : "ok");
        if (!rb)
                return tap_done();

        test_fields(rb, &r);
        test_flood(rb, &r);
        test_full(rb, &r);

        ring_buffer__free(rb);
        close(fd);
        free(r.e);
        return tap_done();
}
