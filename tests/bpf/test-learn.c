/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Learning mode on the real kernel (issue 13): a process making a known set of requests yields
 * exactly the expected records, counts and would-be denials; the records' bound holds under a
 * flood of distinct addresses and evicts only the flooding unit's own; records survive "cgpolicy
 * load" again and a restart of the unit (a new cgroup under the same name); enforce mode refuses
 * as before while another unit learns; "learn --start" of an audit unit and "--stop";
 * "--reset"; a template's instances. systemd is not PID 1 here: the units' cgroups are the test's
 * own and "apply" runs inside them, as their ExecStartPre=+ would.
 *
 * Usage: test-learn PATH-TO-CGPOLICY. Needs root; exits 77 (skip) without it unless $CI is set. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cgpolicy-abi.h"
#include "macro.h"
#include "tap.h"
#include "test-util.h"

#define PORT_TCP4       47320u  /* a server on 127.0.0.1 */
#define PORT_TCP6       47321u  /* a server on ::1 */
#define PORT_UDP        47310u  /* nobody listens: sendto() works all the same */
#define PORT_BIND4      47301u
#define PORT_BIND6      47302u
#define PORT_OUTSIDE    47399u

static const char *cgpolicy;
static TestEnv env;
static bool have_listen;        /* the kernel has BPF LSM: listen() is judged and learned */

/* ---- requests, made by a child in a cgroup ---- */

typedef enum Op {
        OP_BIND,        /* TCP bind() */
        OP_CONNECT,     /* TCP connect() */
        OP_SENDTO,      /* UDP sendto() */
        OP_SENDTO6,     /* UDP sendto() from an AF_INET6 socket (to a v4-mapped address, say) */
        OP_PING,        /* an ICMP echo socket */
        OP_LISTEN,      /* listen() without bind(): the kernel chooses the port */
} Op;

typedef struct Req {
        Op op;
        const char *addr;
        unsigned port;
} Req;

/* 0 or the errno of one request. */
static int do_req(const Req *q) {
        struct sockaddr_storage sa;
        socklen_t len = 0;
        int family = AF_INET, fd, k;

        if (q->addr) {
                family = sockaddr_parse(q->addr, (uint16_t) q->port, &sa, &len);
                if (family < 0)
                        return 252;
        }
        switch (q->op) {
        case OP_BIND:
        case OP_CONNECT:
        case OP_LISTEN:
                fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                break;
        case OP_SENDTO:
                fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                break;
        case OP_SENDTO6:
                fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                break;
        case OP_PING:
                fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
                break;
        default:
                return 253;
        }
        if (fd < 0)
                return errno;
        if (q->op == OP_BIND)
                k = bind(fd, (struct sockaddr *) &sa, len);
        else if (q->op == OP_CONNECT)
                k = connect(fd, (struct sockaddr *) &sa, len);
        else if (q->op == OP_SENDTO || q->op == OP_SENDTO6)
                k = (int) sendto(fd, "x", 1, 0, (struct sockaddr *) &sa, len);
        else if (q->op == OP_LISTEN)
                k = listen(fd, 1);
        else
                k = 0;
        k = k < 0 ? errno : 0;
        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger) { .l_onoff = 1, .l_linger = 0 },
                          sizeof(struct linger));
        close(fd);
        return k;
}

/* Run the n requests in a child in cg; returns the number that failed, each failure's errno
 * in errs (may be NULL). */
static int workload(const char *cg, const Req *q, size_t n, int *errs) {
        int pipefd[2], failed = 0;
        pid_t pid;

        if (pipe(pipefd) < 0)
                die("pipe: %m");
        pid = test_fork();
        if (pid < 0)
                die("fork: %s", strerror(-pid));
        if (pid == 0) {
                close(pipefd[0]);
                if (cgroup_join(cg) < 0)
                        _exit(251);
                for (size_t i = 0; i < n; i++) {
                        int e = do_req(&q[i]);

                        if (write(pipefd[1], &e, sizeof e) != sizeof e)
                                _exit(250);
                }
                _exit(0);
        }
        close(pipefd[1]);
        for (size_t i = 0; i < n; i++) {
                int e = 255;

                if (read(pipefd[0], &e, sizeof e) != sizeof e)
                        e = 254;
                if (e != 0)
                        failed++;
                if (errs)
                        errs[i] = e;
        }
        close(pipefd[0]);
        if (test_wait(pid) != 0)
                failed++;
        return failed;
}

static int one(const char *cg, Op op, const char *addr, unsigned port) {
        int e = 0;
        Req q = { op, addr, port };

        (void) workload(cg, &q, 1, &e);
        return e;
}

/* ---- records ---- */

/* The records of unit (--records) without their times, sorted, one a line; the times checked:
 * first <= last for every record (ISO 8601 UTC compares as text). */
static char *records(const char *unit, unsigned *ret_n, unsigned long long *ret_evicted, bool *times_ok) {
        _cleanup_free_ char *out = NULL;
        char *res = NULL, *line, *save = NULL;
        size_t size = 0;
        FILE *f;
        unsigned n = 0;
        unsigned long long evicted = ~0ULL;

        if (times_ok)
                *times_ok = true;
        if (test_cgpolicy(cgpolicy, NULL, &out, "learn", unit, "--records", NULL) != 0) {
                diag("learn %s --records failed: %s", unit, out ?: "");
                return strdup("(failed)");
        }
        f = open_memstream(&res, &size);
        if (!f)
                die("out of memory");
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char u[256], dir[16], fam[8], proto[16], addr[64], first[40], last[40], denied[4];
                unsigned port;
                unsigned long long count;
                unsigned nrec;

                if (sscanf(line, "%u records, %llu evicted.", &nrec, &evicted) == 2)
                        continue;
                if (sscanf(line, "%255s %15s %7s %15s %63s %u %llu %3s %39s %39s", u, dir, fam, proto, addr, &port,
                           &count, denied, first, last) != 10)
                        continue;       /* the header */
                n++;
                fprintf(f, "%s %s %s %s %s %u %llu %s\n", u, dir, fam, proto, addr, port, count, denied);
                if (times_ok && strcmp(first, last) > 0) {
                        diag("first %s > last %s: %s", first, last, line);
                        *times_ok = false;
                }
        }
        fclose(f);
        if (ret_n)
                *ret_n = n;
        if (ret_evicted)
                *ret_evicted = evicted;
        return res;
}

static bool expect_records(const char *what, const char *unit, const char *want) {
        _cleanup_free_ char *got = NULL;
        bool times_ok, r;

        got = records(unit, NULL, NULL, &times_ok);
        r = ok(got && streq(got, want) && times_ok, "%s: the records of %s are exactly the requests made, "
               "with their counts, first <= last", what, unit);
        if (!r)
                diag("want:\n%sgot:\n%s", want, got ?: "(null)");
        return r;
}

/* ---- the tests ---- */

static const Req lw_requests[] = {
        { OP_BIND,    "127.0.0.1",        PORT_BIND4 },
        { OP_BIND,    "127.0.0.1",        PORT_BIND4 },
        { OP_BIND,    "::1",              PORT_BIND6 },
        { OP_CONNECT, "127.0.0.1",        PORT_TCP4 },
        { OP_CONNECT, "127.0.0.1",        PORT_TCP4 },
        { OP_CONNECT, "127.0.0.1",        PORT_TCP4 },
        { OP_CONNECT, "::1",              PORT_TCP6 },
        { OP_SENDTO,  "127.0.0.1",        PORT_UDP },
        { OP_SENDTO,  "127.0.0.1",        PORT_UDP },
        { OP_SENDTO6, "::ffff:127.0.0.1", PORT_UDP },   /* v4-mapped: the same record */
        { OP_PING,    NULL,               0 },
};

/* What lw.service's records must be: its requests, connects4 connects to PORT_TCP4, and the
 * connect to PORT_OUTSIDE once test_enforce_while_learning() made it. The ping socket is a
 * would-be denial: no X-CgPolicySocketAllow=ping. */
static char *lw_expected(unsigned connects4, bool outside) {
        char *s = xasprintf("%s"
                            "lw.service bind ipv4 tcp 127.0.0.1 %u 2 no\n"
                            "lw.service bind ipv6 tcp ::1 %u 1 no\n"
                            "lw.service connect ipv4 tcp 127.0.0.1 %u %u no\n"
                            "%s"
                            "lw.service connect ipv4 udp 127.0.0.1 %u 3 no\n"
                            "lw.service connect ipv6 tcp ::1 %u 1 no\n"
                            "lw.service socket ipv4 ping - 0 1 yes\n",
                            have_listen ? "lw.service bind ipv4 tcp 0.0.0.0 0 1 no\n" : "",
                            PORT_BIND4, PORT_BIND6, PORT_TCP4, connects4,
                            outside ? "lw.service connect ipv4 tcp 127.0.0.1 47399 1 no\n" : "",
                            PORT_UDP, PORT_TCP6);
        return s;
}

static void test_records(const char *cg) {
        _cleanup_free_ char *want = NULL, *st = NULL, *js = NULL;
        int errs[ELEMENTSOF(lw_requests)];

        ok(test_cgpolicy(cgpolicy, cg, NULL, "apply", "--unit=lw.service", "--mode=learn", NULL) == 0,
           "lw.service: apply --mode=learn without rules, from inside its cgroup");
        ok(workload(cg, lw_requests, ELEMENTSOF(lw_requests), errs) == 0,
           "learn mode: binds, connects, UDP sendto (v4, v6, v4-mapped) and a ping socket all succeed");
        if (have_listen)
                ok(one(cg, OP_LISTEN, NULL, 0) == 0, "learn mode: listen() on a port the kernel chooses succeeds");

        want = lw_expected(3, false);
        expect_records("learn mode", "lw.service", want);

        ok(test_cgpolicy(cgpolicy, NULL, &st, "status", "lw.service", NULL) == 0 && st && strstr(st, "mode: learn") &&
           strstr(st, "learned: "),
           "status shows the mode learn and what was learned");
        ok(test_cgpolicy(cgpolicy, NULL, &js, "status", "lw.service", "--json", NULL) == 0 && js && strstr(js, "\"mode\":\"learn\"") &&
           strstr(js, "\"learning\":true") && strstr(js, "\"learn_evicted\":0"),
           "status --json: mode learn, learning, learn_evicted");
}

static void test_denied_flags(void) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "lr"), *cga = test_env_cgroup(&env, "la");
        _cleanup_free_ char *cgroup_a = xasprintf("%s/la", env.cg_path), *opt = xasprintf("--cgroup=%s", cgroup_a);
        _cleanup_free_ char *st = NULL, *before = NULL, *after = NULL;

        /* Learn mode with rules: nothing refused, the would-be denials marked. */
        ok(test_cgpolicy(cgpolicy, cg, NULL, "apply", "--unit=lr.service", "--mode=learn", "--connect-allow=tcp:47320",
               "--connect-deny=any", NULL) == 0, "lr.service: apply --mode=learn with rules");
        ok(one(cg, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0, "learn with rules: an allowed connect succeeds");
        ok(one(cg, OP_SENDTO, "127.0.0.1", PORT_UDP) == 0, "learn with rules: a would-be denied sendto succeeds");
        ok(one(cg, OP_PING, NULL, 0) == 0, "learn with rules: a ping socket no rule allows is created");
        expect_records("learn with rules", "lr.service",
                       "lr.service connect ipv4 tcp 127.0.0.1 47320 1 no\n"
                       "lr.service connect ipv4 udp 127.0.0.1 47310 1 yes\n"
                       "lr.service socket ipv4 ping - 0 1 yes\n");
        ok(test_cgpolicy(cgpolicy, NULL, &st, "status", "lr.service", NULL) == 0 && st &&
           strstr(st, "connect: 1 allowed, 0 denied, 1 would be denied"),
           "learn with rules: the would-be denial is counted as such");

        /* An audit unit made to learn at runtime, and stopped. */
        ok(test_cgpolicy(cgpolicy, cga, NULL, "apply", "--unit=la.service", "--mode=audit", "--connect-deny=any", NULL) == 0,
           "la.service: apply --mode=audit");
        ok(one(cga, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0, "audit: a would-be denied connect succeeds");
        before = records("la.service", NULL, NULL, NULL);
        ok(before && streq(before, ""), "audit mode alone records nothing");
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "learn", "la.service", "--start", opt, NULL) == 0, "learn la.service --start");
        ok(one(cga, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0 && one(cga, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0,
           "audit, learning: connects succeed");
        expect_records("audit, learning", "la.service", "la.service connect ipv4 tcp 127.0.0.1 47320 2 yes\n");
        free(st);
        st = NULL;
        ok(test_cgpolicy(cgpolicy, NULL, &st, "status", "la.service", NULL) == 0 && st && strstr(st, "mode: audit, learning") &&
           strstr(st, "3 would be denied (audit)"),
           "status: audit, learning; the would-be denials are still counted");
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "learn", "la.service", "--stop", opt, NULL) == 0, "learn la.service --stop");
        ok(one(cga, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0, "audit again: the connect succeeds");
        after = records("la.service", NULL, NULL, NULL);
        ok(after && streq(after, "la.service connect ipv4 tcp 127.0.0.1 47320 2 yes\n"),
           "after --stop nothing more is recorded, the records stay");
        free(st);
        st = NULL;
        ok(test_cgpolicy(cgpolicy, NULL, &st, "status", "la.service", NULL) == 0 && st && strstr(st, "mode: audit\n"),
           "status: the configured mode again");
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "learn", "la.service", "--start", "--cgroup=/nonexistent", NULL) != 0,
           "learn --start of a cgroup that does not exist fails");
}

static void test_enforce_while_learning(const char *lw_cg) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "le");

        ok(test_cgpolicy(cgpolicy, cg, NULL, "apply", "--unit=le.service", "--connect-allow=tcp:47320", "--connect-deny=any", NULL) == 0,
           "le.service: apply in enforce mode");
        ok(one(cg, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0, "enforce while another unit learns: allowed connect");
        ok(one(cg, OP_CONNECT, "127.0.0.1", PORT_OUTSIDE) == EPERM,
           "enforce while another unit learns: the connect outside the rules gets EPERM");
        ok(one(cg, OP_SENDTO, "127.0.0.1", PORT_UDP) == EPERM,
           "enforce while another unit learns: the sendto outside the rules gets EPERM");
        ok(one(lw_cg, OP_CONNECT, "127.0.0.1", PORT_OUTSIDE) == ECONNREFUSED,
           "the learning unit meanwhile reaches the same port (nobody listens: ECONNREFUSED, not EPERM)");
}

static void test_flood(void) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "lf"), *before = NULL, *after = NULL, *st = NULL;
        const unsigned n_flood = CGP_LEARN_RECORDS + 1000;
        _cleanup_free_ Req *q = calloc(n_flood, sizeof(Req));
        _cleanup_free_ char *addrs = calloc(n_flood, 32);
        unsigned long long evicted = 0;
        unsigned n = 0;

        if (!q || !addrs)
                die("out of memory");
        before = records("lw.service", NULL, NULL, NULL);
        ok(test_cgpolicy(cgpolicy, cg, NULL, "apply", "--unit=lf.service", "--mode=learn", NULL) == 0, "lf.service: apply --mode=learn");
        for (unsigned i = 0; i < n_flood; i++) {
                char *a = addrs + i * 32;

                snprintf(a, 32, "127.1.%u.%u", (i >> 8) & 0xff, i & 0xff);
                q[i] = (Req) { OP_SENDTO, a, PORT_UDP };
        }
        ok(workload(cg, q, n_flood, NULL) == 0, "flood: %u UDP datagrams to distinct addresses succeed", n_flood);
        free(records("lf.service", &n, &evicted, NULL));
        ok(n <= CGP_LEARN_RECORDS && n > 0, "flood: %u records kept, at most %u", n, CGP_LEARN_RECORDS);
        ok(evicted == n_flood - n, "flood: the evictions are counted: %llu = %u requests - %u kept", evicted, n_flood, n);
        after = records("lw.service", NULL, NULL, NULL);
        ok(before && after && streq(before, after), "flood: another learning unit's records are untouched");
        ok(test_cgpolicy(cgpolicy, NULL, &st, "status", "lf.service", NULL) == 0 && st && strstr(st, "evicted"),
           "status shows the evictions");
        if (st)
                diag("%s", st);
}

static void test_persistence(const char *cg) {
        _cleanup_free_ char *cg2 = NULL, *want = NULL;

        ok(test_cgpolicy(cgpolicy, NULL, NULL, "load", NULL) == 0, "cgpolicy load again");
        want = lw_expected(3, true);
        expect_records("after load again", "lw.service", want);

        /* A restart: release (ExecStopPost=), the cgroup goes, a new one under the same name. */
        ok(test_cgpolicy(cgpolicy, cg, NULL, "release", "--unit=lw.service", NULL) == 0, "lw.service: release (stop)");
        ok(cgroup_remove_tree(cg) >= 0, "lw.service's cgroup removed");
        expect_records("after the unit stopped", "lw.service", want);
        cg2 = test_env_cgroup(&env, "lw2");
        ok(test_cgpolicy(cgpolicy, cg2, NULL, "apply", "--unit=lw.service", "--mode=learn", NULL) == 0,
           "lw.service restarted: apply --mode=learn in a new cgroup");
        ok(one(cg2, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0, "restarted: a connect");
        free(want);
        want = lw_expected(4, true);
        expect_records("after a restart", "lw.service", want);
}

static void test_template_and_reset(void) {
        _cleanup_free_ char *ca = test_env_cgroup(&env, "tpa"), *cb = test_env_cgroup(&env, "tpb");
        _cleanup_free_ char *lw_before = NULL, *lw_after = NULL, *lf = NULL, *out = NULL;
        unsigned n = 99;

        ok(test_cgpolicy(cgpolicy, ca, NULL, "apply", "--unit=tp@a.service", "--mode=learn", NULL) == 0 &&
           test_cgpolicy(cgpolicy, cb, NULL, "apply", "--unit=tp@b.service", "--mode=learn", NULL) == 0,
           "tp@a.service, tp@b.service: apply --mode=learn");
        ok(one(ca, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0 && one(cb, OP_CONNECT, "::1", PORT_TCP6) == 0,
           "each instance connects");
        expect_records("template", "tp@.service",
                       "tp@a.service connect ipv4 tcp 127.0.0.1 47320 1 no\n"
                       "tp@b.service connect ipv6 tcp ::1 47321 1 no\n");
        expect_records("one instance", "tp@b.service", "tp@b.service connect ipv6 tcp ::1 47321 1 no\n");

        lw_before = records("lw.service", NULL, NULL, NULL);
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "learn", "lf.service", "--reset", NULL) == 0, "learn lf.service --reset");
        lf = records("lf.service", &n, NULL, NULL);
        ok(n == 0, "reset: lf.service has no records left");
        lw_after = records("lw.service", NULL, NULL, NULL);
        ok(lw_before && lw_after && streq(lw_before, lw_after), "reset: other units' records stay");
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "learn", "tp@.service", "--reset", NULL) == 0, "learn tp@.service --reset");
        ok(one(cb, OP_CONNECT, "127.0.0.1", PORT_TCP4) == 0, "tp@b.service connects again after the reset");
        expect_records("template after reset", "tp@.service", "tp@b.service connect ipv4 tcp 127.0.0.1 47320 1 no\n");

        ok(test_cgpolicy(cgpolicy, NULL, &out, "learn", "lw.service", "--start", "--stop", NULL) == 2,
           "learn with two actions is a usage error (exit 2)");
        free(out);
        out = NULL;
        ok(test_cgpolicy(cgpolicy, NULL, &out, "learn", "lw.service", "--prefix-threshold=x", NULL) == 2,
           "learn --prefix-threshold=x is a usage error (exit 2)");
}

/* A slice learns what the processes in it do that no policy of their own decides; its records
 * are the slice's. */
static void test_slice(void) {
        _cleanup_free_ char *svc = NULL;

        ok(test_cgpolicy(cgpolicy, NULL, NULL, "apply", "--slice=lrn.slice", "--mode=learn", NULL) == 0,
           "apply --slice=lrn.slice --mode=learn");
        svc = test_env_cgroup(&env, "lrn.slice/app.service");
        ok(one(svc, OP_CONNECT, "::1", PORT_TCP6) == 0 && one(svc, OP_SENDTO, "127.0.0.1", PORT_UDP) == 0,
           "a service in the learning slice connects and sends");
        expect_records("slice", "lrn.slice",
                       "lrn.slice connect ipv4 udp 127.0.0.1 47310 1 no\n"
                       "lrn.slice connect ipv6 tcp ::1 47321 1 no\n");
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "release", "--slice=lrn.slice", NULL) == 0, "release --slice=lrn.slice");
        expect_records("slice released", "lrn.slice",
                       "lrn.slice connect ipv4 udp 127.0.0.1 47310 1 no\n"
                       "lrn.slice connect ipv6 tcp ::1 47321 1 no\n");
}

static void test_proposal(const char *lw_cg) {
        _cleanup_free_ char *proposal = NULL, *cg = test_env_cgroup(&env, "lp"), *js = NULL;
        char **args = NULL;
        int n, errs[ELEMENTSOF(lw_requests)];

        ok(test_cgpolicy(cgpolicy, NULL, &proposal, "learn", "lw.service", NULL) == 0 && proposal && strstr(proposal, "X-CgPolicyMode=enforce"),
           "learn lw.service: a proposal in enforce mode");
        diag("%s", proposal ?: "");
        {
                _cleanup_free_ char *j = NULL, *d = NULL;

                ok(test_cgpolicy(cgpolicy, NULL, &j, "learn", "lw.service", "--json", NULL) == 0 && j && strstr(j, "lw.service") &&
                   strstr(j, "tcp:127.0.0.1:47320"), "learn --json: the same proposal for tools");
                /* lw.service has no unit file: its current policy is empty, every rule is new. */
                ok(test_cgpolicy(cgpolicy, NULL, &d, "learn", "lw.service", "--diff", NULL) == 0 && d &&
                   strstr(d, "+ X-CgPolicyConnectAllow=tcp:127.0.0.1:47320"),
                   "learn --diff: against the unit files' policy (none), the allow rules are added");
                if (d)
                        diag("%s", d);
        }
        n = proposal ? test_proposal_to_args(proposal, "lp.service", &args) : -EINVAL;
        ok(n > 2, "the proposal's keys as apply options (%d)", n);
        if (n <= 2)
                return;
        ok(test_cgpolicy_argv(cgpolicy, cg, NULL, NULL, (const char *const *) args) == 0, "lp.service: apply the proposal of lw.service (enforce)");
        ok(workload(cg, lw_requests, ELEMENTSOF(lw_requests), errs) == 0,
           "under the proposal the same workload has no failure");
        ok(test_cgpolicy(cgpolicy, NULL, &js, "status", "lp.service", "--json", NULL) == 0 && js && strstr(js, "\"mode\":\"enforce\"") &&
           strstr(js, "\"denied\":{\"bind\":0,\"connect\":0,\"socket\":0}"),
           "under the proposal: zero denials counted");
        ok(one(cg, OP_CONNECT, "127.0.0.1", PORT_OUTSIDE - 1) == EPERM,
           "under the proposal: a connect the unit never made gets EPERM");
        ok(one(cg, OP_BIND, "127.0.0.1", PORT_BIND4 + 2) == EPERM,
           "under the proposal: a bind the unit never made gets EPERM");
        ok(one(cg, OP_SENDTO, "::1", PORT_UDP) == EPERM,
           "under the proposal: a sendto over IPv6 the unit only made over IPv4 gets EPERM");
        ok(one(lw_cg, OP_CONNECT, "127.0.0.1", PORT_OUTSIDE - 1) == ECONNREFUSED,
           "meanwhile the learning unit is refused nothing");
        strv_free(args);
}

int main(int argc, char **argv) {
        static const ServerSocket socks[] = {
                { SOCK_STREAM, "127.0.0.1", PORT_TCP4 },
                { SOCK_STREAM, "::1",       PORT_TCP6 },
        };
        _cleanup_free_ char *cg = NULL, *pin = NULL;
        pid_t srv;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY\n", argv[0]);
                return 2;
        }
        cgpolicy = argv[1];
        r = test_start(&env, "cgpolicy-learn");
        if (r != 0)
                return r;
        r = netns_new();
        if (r >= 0)
                r = sysctl_write("net/ipv4/ping_group_range", "0 2147483647");
        if (r < 0) {
                printf("not ok 1 - a network namespace with lo and ping sockets: %s\n1..1\n", strerror(-r));
                return 1;
        }
        srv = server_start(socks, ELEMENTSOF(socks));
        if (srv < 0) {
                printf("not ok 1 - start the loopback server\n1..1\n");
                return 1;
        }
        test_env_add_child(&env, srv);

        /* --slice= looks for slices below the test's cgroup. */
        if (setenv("CGPOLICY_CGROUP_ROOT", env.cg_path, 1) < 0)
                die("setenv: %m");
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "load", NULL) == 0, "cgpolicy load into a private bpffs");
        pin = xasprintf("%s/socket_listen", env.pin_dir);
        have_listen = access(pin, F_OK) >= 0;
        if (!have_listen)
                diag("no BPF LSM: listen() is not learned on this kernel");

        cg = test_env_cgroup(&env, "lw");
        test_records(cg);
        test_denied_flags();
        test_enforce_while_learning(cg);
        test_flood();
        test_persistence(cg);
        free(cg);
        cg = test_env_cgroup(&env, "lw2");
        test_proposal(cg);
        test_template_and_reset();
        test_slice();

        return tap_done();
}
