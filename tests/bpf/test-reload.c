/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Live policy changes on the real kernel (issue 11): "cgpolicy reload" of a running unit under
 * traffic, invalid new keys, keys removed, a 10,000-rule reload, "block" and "unblock", and
 * "release" with nothing applied. systemd is not PID 1 here: the unit's cgroup and helper line
 * are given with reload's --cgroup= and "-- apply …" (the D-Bus path is tested under real systemd
 * by the e2e scenario "reload"). The switch itself (policy_switch()) is the same.
 *
 * Usage: test-reload PATH-TO-CGPOLICY. Needs root; exits 77 (skip) without it unless $CI is set. */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "tap.h"
#include "test-util.h"

#define PORT_KEEP       47200u  /* allowed before and after the reload */
#define PORT_REMOVED    47201u  /* allowed before, not after */
#define PORT_ADDED      47202u  /* allowed after, not before */
#define PORT_UDP        47210u

static const char *cgpolicy;
static TestEnv env;

/* Run cgpolicy with the NULL-terminated argv args (any length), in cgroup cg (NULL: ours); the
 * exit status, the output in *out (may be NULL), the time from exec to exit in *exec_ns. */
/* The errno of one connect() (TCP, or a UDP sendto()) to 127.0.0.1:port, or bind() to it, made
 * by a process in cg. */
typedef enum Op { OP_CONNECT, OP_SENDTO, OP_BIND } Op;

static int do_req(Op op, unsigned port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd, k;

        fd = socket(AF_INET, (op == OP_SENDTO ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return 253;
        if (op == OP_CONNECT)
                k = connect(fd, (struct sockaddr *) &a, sizeof a);
        else if (op == OP_SENDTO)
                k = (int) sendto(fd, "x", 1, 0, (struct sockaddr *) &a, sizeof a);
        else
                k = bind(fd, (struct sockaddr *) &a, sizeof a);
        k = k < 0 ? errno : 0;
        /* Closed with a reset: thousands of connections must not leave their ephemeral ports in
         * TIME_WAIT, where a later bind() of another test (ports 47080-47600 are in the ephemeral
         * range) would get EADDRINUSE. */
        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger) { .l_onoff = 1, .l_linger = 0 },
                          sizeof(struct linger));
        close(fd);
        return k;
}

static int probe(const char *cg, Op op, unsigned port) {
        pid_t pid = test_fork();

        if (pid < 0)
                die("fork: %s", strerror(-pid));
        if (pid == 0) {
                if (cgroup_join(cg) < 0)
                        _exit(251);
                _exit(do_req(op, port));
        }
        return test_wait(pid);
}

static const char *op_name(Op op) {
        return op == OP_CONNECT ? "connect tcp" : op == OP_SENDTO ? "sendto udp" : "bind tcp";
}

static void expect(const char *cg, const char *what, Op op, unsigned port, int want) {
        int got = probe(cg, op, port);

        ok(got == want, "%s: %s 127.0.0.1:%u → %s (got %s)", what, op_name(op), port,
           want ? strerror(want) : "success", got ? strerror(got) : "success");
}

/* ---- reload under traffic ---- */

#define MAX_CALLS 400000

typedef struct Traffic {
        volatile int stop;
        unsigned long n;
        struct { uint64_t start_ns; uint16_t port; int16_t err; } calls[MAX_CALLS];
} Traffic;

static const char *const before[] = { "apply", "--unit=rl.service", "--connect-deny=any",
                                      "--connect-allow=tcp:47200", "--connect-allow=tcp:47201", NULL };
static const char *const after[] = { "apply", "--unit=rl.service", "--connect-deny=any",
                                     "--connect-allow=tcp:47200", "--connect-allow=tcp:47202", NULL };

/* reload --cgroup=CG UNIT [-- HELPER...] */
static int reload(const char *cgroup, const char *unit, const char *const *helper, char **out, uint64_t *exec_ns) {
        _cleanup_free_ char *opt = xasprintf("--cgroup=%s", cgroup);
        const char *a[16];
        size_t n = 0;

        a[n++] = "reload";
        a[n++] = opt;
        a[n++] = unit;
        if (helper) {
                a[n++] = "--";
                for (; *helper && n < 15; helper++)
                        a[n++] = *helper;
        }
        a[n] = NULL;
        return test_cgpolicy_argv(cgpolicy, NULL, out, exec_ns, a);
}

static void test_reload_traffic(const char *cg, const char *cgroup) {
        Traffic *t = mmap(NULL, sizeof(Traffic), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        unsigned long keep_refused = 0, removed_after = 0, added_after = 0, removed_ok_after = 0, added_refused_after = 0,
                      removed_before_ok = 0, added_before_refused = 0, n_keep = 0;
        uint64_t t_start, t_done;
        pid_t pid;
        int r;

        if (t == MAP_FAILED)
                die("mmap: %m");
        pid = test_fork();
        if (pid < 0)
                die("fork: %s", strerror(-pid));
        if (pid == 0) {
                static const uint16_t ports[] = { PORT_KEEP, PORT_REMOVED, PORT_ADDED };

                if (cgroup_join(cg) < 0)
                        _exit(1);
                for (unsigned long i = 0; i < MAX_CALLS && !t->stop; i++) {
                        uint16_t port = ports[i % 3];

                        t->calls[i].start_ns = now_ns();
                        t->calls[i].port = port;
                        t->calls[i].err = (int16_t) do_req(OP_CONNECT, port);
                        t->n = i + 1;
                }
                _exit(0);
        }
        usleep(200000);
        t_start = now_ns();
        r = reload(cgroup, "rl.service", after, NULL, NULL);
        t_done = now_ns();
        usleep(200000);
        t->stop = 1;
        (void) test_wait(pid);

        ok(r == 0, "reload under traffic: reload --cgroup= of the new helper line succeeds");
        for (unsigned long i = 0; i < t->n; i++) {
                uint64_t s = t->calls[i].start_ns;
                int e = t->calls[i].err;

                switch (t->calls[i].port) {
                case PORT_KEEP:
                        n_keep++;
                        if (e != 0)
                                keep_refused++;
                        break;
                case PORT_REMOVED:
                        if (s > t_done) {
                                removed_after++;
                                if (e != EPERM)
                                        removed_ok_after++;
                        } else if (s < t_start && e != 0)
                                removed_before_ok++;    /* counts wrong ones */
                        break;
                case PORT_ADDED:
                        if (s > t_done) {
                                added_after++;
                                if (e != 0)
                                        added_refused_after++;
                        } else if (s < t_start && e != EPERM)
                                added_before_refused++; /* counts wrong ones */
                        break;
                }
        }
        diag("%lu calls, reload took %.1f ms", t->n, (double) (t_done - t_start) / 1e6);
        ok(n_keep > 100 && keep_refused == 0, "reload under traffic: the address allowed before and after was never refused "
           "(%lu calls, %lu refused)", n_keep, keep_refused);
        ok(removed_after > 30 && removed_ok_after == 0, "reload under traffic: the removed address is refused from the moment reload "
           "returned (%lu calls after, %lu not refused)", removed_after, removed_ok_after);
        ok(added_after > 30 && added_refused_after == 0, "reload under traffic: the added address is allowed from the moment reload "
           "returned (%lu calls after, %lu refused)", added_after, added_refused_after);
        ok(removed_before_ok == 0 && added_before_refused == 0, "reload under traffic: before the reload, the old policy alone "
           "(%lu, %lu wrong)", removed_before_ok, added_before_refused);
        munmap(t, sizeof(Traffic));
}

static void test_invalid(const char *cg, const char *cgroup) {
        static const char *const bad_key[] = { "apply", "--unit=rl.service",
                                               "--error=/etc/systemd/system/rl.service.d/x.conf:3: X-CgPolicyConnectAlow: unknown key", NULL };
        static const char *const bad_rule[] = { "apply", "--unit=rl.service", "--connect-allow=tcp:0", NULL };
        _cleanup_free_ char *out = NULL, *out2 = NULL;
        int r;

        r = reload(cgroup, "rl.service", bad_key, &out, NULL);
        ok(r == 1 && out && strstr(out, "/etc/systemd/system/rl.service.d/x.conf:3: X-CgPolicyConnectAlow: unknown key"),
           "invalid keys: reload exits 1 with FILE:LINE: KEY: message (exit %d)", r);
        if (out && r != 1)
                diag("%s", out);
        r = reload(cgroup, "rl.service", bad_rule, &out2, NULL);
        ok(r == 1 && out2 && strstr(out2, "tcp:0"), "invalid rule: reload exits 1 and names it (exit %d)", r);
        expect(cg, "invalid keys keep the policy", OP_CONNECT, PORT_KEEP, 0);
        expect(cg, "invalid keys keep the policy", OP_CONNECT, PORT_REMOVED, EPERM);
        expect(cg, "invalid keys keep the policy", OP_CONNECT, PORT_ADDED, 0);
}

static char *status_of(const char *unit, bool json) {
        char *out = NULL;

        (void) test_cgpolicy(cgpolicy, NULL, &out, "status", unit, json ? "--json" : NULL, NULL);
        return out;
}

static void test_block(const char *cg, const char *cgroup) {
        _cleanup_free_ char *opt = xasprintf("--cgroup=%s", cgroup), *st = NULL, *js = NULL, *st2 = NULL;
        static const char *const third[] = { "apply", "--unit=rl.service", "--connect-deny=any",
                                             "--connect-allow=tcp:47201", NULL };

        ok(test_cgpolicy(cgpolicy, NULL, NULL, "block", opt, "rl.service", NULL) == 0, "block: exits 0");
        expect(cg, "blocked", OP_CONNECT, PORT_KEEP, EPERM);
        expect(cg, "blocked", OP_SENDTO, PORT_UDP, EPERM);
        expect(cg, "blocked", OP_BIND, 47220, EPERM);
        st = status_of("rl.service", false);
        ok(st && strstr(st, "blocked: yes") && strstr(st, "cgpolicy unblock rl.service"),
           "block: status shows the unit as blocked, with the command that unblocks it");
        js = status_of("rl.service", true);
        ok(js && strstr(js, "\"blocked\":true"), "block: status --json says \"blocked\":true");

        /* A reload while blocked changes the recorded policy, and the block stays. */
        ok(reload(cgroup, "rl.service", third, NULL, NULL) == 0, "block: reload while blocked exits 0");
        expect(cg, "blocked, after a reload", OP_CONNECT, PORT_REMOVED, EPERM);
        /* So does an apply (a restart of the unit). */
        ok(test_cgpolicy(cgpolicy, cg, NULL, "apply", "--unit=rl.service", "--connect-deny=any", "--connect-allow=tcp:47201", NULL) == 0,
           "block: apply while blocked exits 0");
        expect(cg, "blocked, after an apply", OP_CONNECT, PORT_REMOVED, EPERM);

        ok(test_cgpolicy(cgpolicy, NULL, NULL, "unblock", opt, "rl.service", NULL) == 0, "unblock: exits 0");
        expect(cg, "unblocked: the reloaded policy", OP_CONNECT, PORT_REMOVED, 0);
        expect(cg, "unblocked: the reloaded policy", OP_CONNECT, PORT_KEEP, EPERM);
        st2 = status_of("rl.service", false);
        ok(st2 && !strstr(st2, "blocked: yes"), "unblock: status no longer shows the block");
}

static void test_keys_removed(const char *cg, const char *cgroup) {
        _cleanup_free_ char *st = NULL, *js = NULL;

        ok(reload(cgroup, "rl.service", NULL, NULL, NULL) == 0, "keys removed: reload with no helper line exits 0");
        expect(cg, "keys removed", OP_CONNECT, PORT_KEEP, 0);
        expect(cg, "keys removed", OP_CONNECT, PORT_ADDED, 0);
        expect(cg, "keys removed", OP_SENDTO, PORT_UDP, 0);
        st = status_of("rl.service", false);
        ok(st && strstr(st, "keys removed"), "keys removed: status says so");
        if (st && !strstr(st, "keys removed"))
                diag("%s", st);
        js = status_of("rl.service", true);
        ok(js && strstr(js, "\"keys_removed\":true"), "keys removed: status --json says \"keys_removed\":true");
        /* And back: a reload with keys again. */
        ok(reload(cgroup, "rl.service", before, NULL, NULL) == 0, "keys added again: reload exits 0");
        expect(cg, "keys added again", OP_CONNECT, PORT_ADDED, EPERM);
        expect(cg, "keys added again", OP_CONNECT, PORT_KEEP, 0);
}

static void test_large(const char *cg, const char *cgroup) {
        enum { N = 10000 };
        const char **a = calloc(N + 8, sizeof(char *));
        _cleanup_free_ char *opt = xasprintf("--cgroup=%s", cgroup);
        uint64_t ns = 0;
        size_t n = 0;
        int r;

        if (!a)
                die("out of memory");
        a[n++] = "reload";
        a[n++] = opt;
        a[n++] = "rl.service";
        a[n++] = "--";
        a[n++] = "apply";
        a[n++] = "--unit=rl.service";
        a[n++] = "--connect-deny=any";
        for (unsigned i = 0; i < N - 1; i++)
                a[n++] = xasprintf("--connect-allow=10.%u.%u.1:%u", i / 250, i % 250, 1000 + i);
        a[n++] = "--connect-allow=tcp:47202";
        r = test_cgpolicy_argv(cgpolicy, NULL, NULL, &ns, a);
        ok(r == 0, "10,000 rules: reload exits 0 (%.1f ms from exec)", (double) ns / 1e6);
        expect(cg, "10,000 rules", OP_CONNECT, PORT_ADDED, 0);
        expect(cg, "10,000 rules", OP_CONNECT, PORT_KEEP, EPERM);
        for (size_t i = 7; i < 7 + N - 1; i++)
                free((char *) a[i]);
        free(a);
        ok(reload(cgroup, "rl.service", before, NULL, NULL) == 0, "10,000 rules: reload back to 2 rules exits 0");
        expect(cg, "back from 10,000 rules", OP_CONNECT, PORT_REMOVED, 0);
}

static void test_release_nothing(void) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "never");

        ok(test_cgpolicy(cgpolicy, cg, NULL, "release", "--unit=never.service", NULL) == 0, "release with nothing applied exits 0");
        ok(test_cgpolicy(cgpolicy, cg, NULL, "release", "--unit=never.service", NULL) == 0, "release again exits 0");
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "release", "--slice=never-applied.slice", NULL) == 0, "release of a slice never applied exits 0");
        /* Nothing loaded at all (a unit that got ExecStopPost= by a daemon-reload while it ran,
         * on a host where nothing was policed yet). */
        {
                _cleanup_free_ char *e = xasprintf("CGPOLICY_BPFFS_DIR=%s/never-loaded", env.bpffs);
                char *argv[] = { (char *) cgpolicy, (char *) "release", (char *) "--unit=never.service", NULL };
                char buf[4096];

                ok(test_run(argv, &(RunOptions) { .cgroup = cg, .env = e, .output = buf, .output_size = sizeof buf }) == 0,
                   "release with nothing loaded (no pin directory) exits 0");
        }
}

int main(int argc, char **argv) {
        static const ServerSocket socks[] = {
                { SOCK_STREAM, "127.0.0.1", PORT_KEEP },
                { SOCK_STREAM, "127.0.0.1", PORT_REMOVED },
                { SOCK_STREAM, "127.0.0.1", PORT_ADDED },
                { SOCK_DGRAM, "127.0.0.1", PORT_UDP },
        };
        _cleanup_free_ char *cg = NULL, *cgroup = NULL;
        pid_t srv;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY\n", argv[0]);
                return 2;
        }
        cgpolicy = argv[1];
        r = test_start(&env, "cgpolicy-reload");
        if (r != 0)
                return r;
        srv = server_start(socks, ELEMENTSOF(socks));
        if (srv < 0) {
                printf("not ok 1 - start the loopback server\n1..1\n");
                return 1;
        }
        test_env_add_child(&env, srv);

        ok(test_cgpolicy(cgpolicy, NULL, NULL, "load", NULL) == 0, "cgpolicy load into a private bpffs");

        cg = test_env_cgroup(&env, "rl");
        cgroup = xasprintf("%s/rl", env.cg_path);
        ok(test_cgpolicy_argv(cgpolicy, cg, NULL, NULL, before) == 0, "rl.service: apply from inside its cgroup");
        expect(cg, "before", OP_CONNECT, PORT_KEEP, 0);
        expect(cg, "before", OP_CONNECT, PORT_REMOVED, 0);
        expect(cg, "before", OP_CONNECT, PORT_ADDED, EPERM);

        test_reload_traffic(cg, cgroup);
        test_invalid(cg, cgroup);
        test_block(cg, cgroup);
        test_keys_removed(cg, cgroup);
        test_large(cg, cgroup);
        test_release_nothing();

        return tap_done();
}
