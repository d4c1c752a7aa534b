/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* "cgpolicy reload" timed (issue 11): the real binary putting a new helper line in force for a
 * running unit's cgroup, timed from execve() to exit, median over rounds, for 10 and for 10,000
 * rules; and, on its own, the wait for the programs that every switch of an existing policy
 * ends with (maps_wait_programs(): one update of a map-in-map element, an RCU grace period).
 * The cgroup and the helper line are given with --cgroup= and "-- apply …" (systemd is not
 * asked: the D-Bus queries are not timed; the e2e scenario "reload" prints the time of the whole
 * command under real systemd). reload returns when the new policy is in force and leaves the
 * removal of the previous one to a child that holds the pin directory's lock through the grace
 * period: each round starts when the lock is free, and the time until it is free again is shown
 * too.
 *
 *   bench-reload PATH-TO-CGPOLICY [ROUNDS (default 51)] [ROUNDS-10K (default 5)]
 *
 * Each round switches between two policies of the same size that differ in one rule, so every
 * reload writes a whole new policy and removes the old one. Root; a private bpffs and cgroup. */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "macro.h"
#include "test-util.h"

static const char *cgpolicy;
static TestEnv env;

typedef struct Argv {
        char **v;
        size_t n;
} Argv;

_printf_(2, 3)
static void add(Argv *a, const char *fmt, ...) {
        va_list ap;
        char **l = reallocarray(a->v, a->n + 2, sizeof(char *));

        if (!l)
                die("out of memory");
        a->v = l;
        va_start(ap, fmt);
        if (vasprintf(&l[a->n], fmt, ap) < 0)
                die("out of memory");
        va_end(ap);
        l[++a->n] = NULL;
}

static void argv_done(Argv *a) {
        for (size_t i = 0; i < a->n; i++)
                free(a->v[i]);
        free(a->v);
        *a = (Argv) {};
}

/* The helper line of a policy of n rules (n >= 2); variant picks the last rule's port. */
static void helper(Argv *a, unsigned n, unsigned variant) {
        add(a, "apply");
        add(a, "--unit=bench.service");
        add(a, "--connect-deny=any");
        for (unsigned i = 0; i < n - 2; i++)
                if (i % 2)
                        add(a, "--connect-allow=tcp:%u", 10000 + i);
                else
                        add(a, "--connect-allow=10.%u.%u.0/24:%u", (i / 256) % 256, i % 256, 443 + i % 7);
        add(a, "--connect-allow=udp:%u", 2000 + variant);
}

/* Wait until no writer holds the pin directory's lock (the child of the last reload that
 * removes the previous policy after the grace period): the ns it took. */
static uint64_t wait_unlocked(void) {
        uint64_t s = now_ns();
        int fd = open(env.pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || flock(fd, LOCK_EX) < 0)
                die("lock %s: %m", env.pin_dir);
        close(fd);
        return now_ns() - s;
}

/* Median ms from exec of "reload --cgroup=… bench.service -- HELPER" to its exit, over rounds, and
 * (*ret_done) to the moment the previous policy's entries are gone (the lock is free again). */
static double time_reload(const char *cgroup, unsigned n_rules, unsigned rounds, double *ret_max, double *ret_done) {
        _cleanup_free_ double *t = calloc(rounds, sizeof(double)), *d = calloc(rounds, sizeof(double));
        double max = 0;

        if (!t || !d)
                die("out of memory");
        for (unsigned r = 0; r < rounds; r++) {
                Argv a = {};
                RunOptions o = { .env = "SYSTEMD_LOG_LEVEL=warning" };
                int k;

                add(&a, "%s", cgpolicy);
                add(&a, "reload");
                add(&a, "--cgroup=%s", cgroup);
                add(&a, "bench.service");
                add(&a, "--");
                helper(&a, n_rules, r % 2);
                (void) wait_unlocked();
                k = test_run(a.v, &o);
                argv_done(&a);
                if (k != 0)
                        die("cgpolicy reload failed (exit %d)", k);
                t[r] = (double) o.exec_ns / 1e6;
                d[r] = t[r] + (double) wait_unlocked() / 1e6;
                if (t[r] > max)
                        max = t[r];
        }
        *ret_max = max;
        *ret_done = test_median(d, rounds);
        return test_median(t, rounds);
}

/* Median ms of one update of a map-in-map element (the kernel's synchronize_rcu()). */
static double time_wait(unsigned rounds) {
        _cleanup_free_ double *t = calloc(rounds, sizeof(double));

        if (!t)
                die("out of memory");
        for (unsigned r = 0; r < rounds; r++) {
                LIBBPF_OPTS(bpf_map_create_opts, opts);
                int inner, outer, fd;
                uint32_t zero = 0;
                uint64_t s;

                inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_inner", 4, 4, 1, NULL);
                opts.inner_map_fd = inner;
                outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "bench_outer", 4, 4, 1, &opts);
                if (inner < 0 || outer < 0)
                        die("bpf_map_create: %m");
                fd = inner;
                s = now_ns();
                if (bpf_map_update_elem(outer, &zero, &fd, BPF_ANY) < 0)
                        die("bpf_map_update_elem: %m");
                t[r] = (double) (now_ns() - s) / 1e6;
                close(outer);
                close(inner);
        }
        return test_median(t, rounds);
}

/* Median ms from exec of "cgpolicy --version" to exit: the floor of any command on this machine now. */
static double time_version(unsigned rounds) {
        _cleanup_free_ double *t = calloc(rounds, sizeof(double));
        char *argv[] = { (char *) cgpolicy, (char *) "--version", NULL };

        if (!t)
                die("out of memory");
        for (unsigned r = 0; r < rounds; r++) {
                RunOptions o = {};

                if (test_run(argv, &o) != 0)
                        die("cgpolicy --version failed");
                t[r] = (double) o.exec_ns / 1e6;
        }
        return test_median(t, rounds);
}

static unsigned arg_uint(int argc, char **argv, int i, unsigned def) {
        return argc > i ? (unsigned) strtoul(argv[i], NULL, 10) : def;
}

int main(int argc, char **argv) {
        _cleanup_free_ char *cg = NULL, *cgroup = NULL;
        unsigned rounds, rounds10k;
        double m10, m10k, max10, max10k, d10, d10k, w, v;
        Argv a = {};
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY [ROUNDS] [ROUNDS-10K]\n", argv[0]);
                return 2;
        }
        cgpolicy = argv[1];
        rounds = arg_uint(argc, argv, 2, 51);
        rounds10k = arg_uint(argc, argv, 3, 5);
        if (rounds == 0 || rounds10k == 0)
                die("rounds must be at least 1");

        r = test_env_setup(&env, "cgpolicy-bench-reload");
        if (r < 0)
                die("set up the bench's cgroup, bpffs and runtime directory: %s", strerror(-r));

        add(&a, "%s", cgpolicy);
        add(&a, "load");
        if (test_run(a.v, &(RunOptions) {}) != 0)
                die("cgpolicy load failed");
        argv_done(&a);

        cg = test_env_cgroup(&env, "bench");
        cgroup = xasprintf("%s/bench", env.cg_path);
        add(&a, "%s", cgpolicy);
        helper(&a, 10, 0);
        if (test_run(a.v, &(RunOptions) { .cgroup = cg }) != 0)
                die("cgpolicy apply failed");
        argv_done(&a);

        w = time_wait(rounds);
        v = time_version(rounds);
        m10 = time_reload(cgroup, 10, rounds, &max10, &d10);
        m10k = time_reload(cgroup, 10000, rounds10k, &max10k, &d10k);

        printf("cgpolicy reload, from execve() to exit (the new policy in force), median (max):\n");
        printf("  10 rules:      %8.2f ms (%.2f ms), %u rounds\n", m10, max10, rounds);
        printf("  10,000 rules:  %8.2f ms (%.2f ms), %u rounds\n", m10k, max10k, rounds10k);
        printf("from execve() until the previous policy is removed (its child, after the grace period), median:\n");
        printf("  10 rules:      %8.2f ms\n", d10);
        printf("  10,000 rules:  %8.2f ms\n", d10k);
        printf("cgpolicy --version, from execve() to exit, median (the floor of any command):\n");
        printf("                 %8.2f ms\n", v);
        printf("the wait for the programs alone (one map-in-map update, an RCU grace period), median:\n");
        printf("                 %8.2f ms, %u rounds\n", w, rounds);
        return 0;
}
