/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* bench-enforce: the cost of cgpolicy's enforcement, side by side in one run.
 *
 * One worker process per variant, each in a cgroup of its own that the benchmark creates below
 * the cgroup2 mount, and each in a network namespace of its own with a loopback server, loops
 * over loopback TCP connect()+close() and UDP sendto():
 *   (a) no program attached,
 *   (b) cgpolicy, 10 connect rules (an allow-list that allows the benchmark's destinations),
 *   (c) cgpolicy, 10,000 connect rules (ports, port ranges, IPv4 and IPv6 prefixes with ports),
 *   (d) nftables: the 10 rules of (b), output chain, "socket cgroupv2" of the worker's cgroup,
 *   (e) nftables: the 10,000 rules of (c) as the same chain with sets,
 *   (f) a trivial program ("return 1") on the same hooks: the floor of any sock_addr
 *       program, to tell the cost of running a cgroup program at all from cgpolicy's own.
 * A network namespace per variant keeps the nftables table of (d) and (e) out of the paths of
 * the others: netfilter hooks are per namespace, and a table in a shared namespace would run its
 * "socket cgroupv2" match for every packet of every variant.
 *
 * The variants run in many short batches, rotating within every round (a b c d e f,
 * b c d e f a, …), so that drift of the machine (other load, frequency) hits all of them alike; the
 * figures are medians over the batches. It also reports the programs' own run time per call
 * (kernel BPF statistics), the kernel memory of the maps per policed unit, and the wall time
 * of "cgpolicy apply" run as the generated drop-in runs it (ExecStartPre=+, from inside the
 * unit's fresh cgroup, the programs already attached).
 *
 * Cleanup (tests/lib): the bpffs is mounted in a private mount namespace (it goes away with the
 * process in any case); the cgroups (cgpolicy-bench-PID), the nftables tables and the worker
 * processes are removed at exit, also after SIGINT/SIGTERM/SIGHUP; the workers and their servers
 * die with the benchmark (PR_SET_PDEATHSIG) even when it is killed, and the next run removes the
 * cgroup and the /tmp directories a killed run left.
 *
 * Usage: bench-enforce PATH-TO-CGPOLICY [ROUNDS [TCP-PER-BATCH [UDP-PER-BATCH [APPLY-RUNS]]]]
 * (root; nft in $PATH). */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cgpolicy-abi.h"
#include "cgpolicy-hooks.h"
#include "macro.h"
#include "test-util.h"

#define TCP_PORT        47180
#define UDP_PORT        47190
#define NFT_TABLE       "cgpolicy_bench"
#define NFT_CGROUP_DIR  "/sys/fs/cgroup"        /* nft resolves "socket cgroupv2" paths below it */

enum {
        V_NONE,
        V_CGP10,
        V_CGP10K,
        V_NFT10,
        V_NFT10K,
        V_TRIVIAL,
        _V_MAX,
};

static const char *const variant_name[_V_MAX] = {
        [V_NONE]   = "(a) no program attached",
        [V_CGP10]  = "(b) cgpolicy, 10 rules",
        [V_CGP10K] = "(c) cgpolicy, 10,000 rules",
        [V_NFT10]  = "(d) nftables socket cgroupv2, 10 rules",
        [V_NFT10K] = "(e) nftables socket cgroupv2, 10,000 rules (sets)",
        [V_TRIVIAL] = "(f) a trivial BPF program (return 1) on the same hooks",
};

/* Variants whose policy refuses nothing. */
#define VARIANT_ALLOWS_ALL(v) ((v) == V_NONE || (v) == V_TRIVIAL)

static const char *const variant_cg[_V_MAX] = { "a", "b", "c", "d", "e", "f" };

/* A worker: a process in one cgroup and one network namespace that runs batches on request.
 * A request is a byte on cmd ('t' TCP connect()+close(), 'u' UDP sendto()); the answer on res
 * is the batch's ns per operation (a double), negative when a call failed. */
typedef struct Worker {
        pid_t pid;
        int cmd, res;
        int netns;              /* its network namespace, for nft */
        bool nft_table;         /* our nftables table exists there */
} Worker;

typedef struct Bench {
        const char *cgpolicy;
        TestEnv env;            /* the cgroup (NAME = cgpolicy-bench-PID), bpffs, runtime
                                 * directory (also for the nft rule files) */
        Worker w[_V_MAX];
        unsigned n_tcp, n_udp;
} Bench;

/* Does nft see path under NFT_CGROUP_DIR as it is? */
static bool path_is_below_nft_dir(const char *path) {
        const char *e = startswith(path, NFT_CGROUP_DIR);
        return e && (*e == 0 || *e == '/');
}

/* In a child that runs nft: the worker's network namespace, and the cgroup2 hierarchy where nft
 * looks for it. */
typedef struct NftNs {
        const Bench *b;
        int netns;
} NftNs;

static int enter_nft_ns(void *userdata) {
        const NftNs *n = userdata;

        if (setns(n->netns, CLONE_NEWNET) < 0)
                return -errno;
        /* nft resolves "socket cgroupv2" paths below /sys/fs/cgroup. When cgroup2 is mounted
         * elsewhere, show it there, in a mount namespace of this process only. */
        if (!path_is_below_nft_dir(n->b->env.cg_mount) &&
            (unshare(CLONE_NEWNS) < 0 ||
             mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
             mount(n->b->env.cg_mount, NFT_CGROUP_DIR, NULL, MS_BIND, NULL) < 0))
                return -errno;
        return 0;
}

/* ---- cleanup ---- */

static void workers_stop(Bench *b);

static int nft_in(const Bench *b, int netns, const char *cmd) {
        char *argv[] = { (char *) "nft", (char *) cmd, NULL };

        return test_run(argv, &(RunOptions) { .setup = enter_nft_ns, .userdata = &(NftNs) { b, netns } });
}

/* At exit, before the environment's cleanup removes the cgroups. */
static void bench_cleanup(void *userdata) {
        Bench *b = userdata;

        workers_stop(b);
        /* The servers die with their workers and, orphaned, come to us (child subreaper):
         * reap them, for at most two seconds. */
        for (int i = 0; i < 200; i++) {
                pid_t pid = waitpid(-1, NULL, WNOHANG);

                if (pid < 0 && errno == ECHILD)
                        break;
                if (pid <= 0)
                        usleep(10000);
        }
}

/* ---- the rules ---- */

typedef struct Strv {
        char **v;
        size_t n;
} Strv;

static void strv_add(Strv *s, const char *fmt, ...) _printf_(2, 3);
static void strv_add(Strv *s, const char *fmt, ...) {
        va_list ap;
        char *x;

        va_start(ap, fmt);
        if (vasprintf(&x, fmt, ap) < 0)
                abort();
        va_end(ap);
        s->v = reallocarray(s->v, s->n + 2, sizeof(char *));
        if (!s->v)
                abort();
        s->v[s->n++] = x;
        s->v[s->n] = NULL;
}

static void strv_done(Strv *s) {
        s->v = strv_free(s->v);
        s->n = 0;
}

/* (b): 10 rules, an allow-list that allows the benchmark's destinations (the last rules, so
 * that nftables' first-match evaluation has nothing to gain from the order). */
static void rules10(Strv *s) {
        strv_add(s, "--connect-deny=any");
        for (int i = 0; i < 4; i++)
                strv_add(s, "--connect-allow=tcp:%d", 1001 + i);
        strv_add(s, "--connect-allow=udp:2001");
        strv_add(s, "--connect-allow=udp:2002");
        strv_add(s, "--connect-allow=10.0.0.1:443");
        strv_add(s, "--connect-allow=tcp:%d", TCP_PORT);
        strv_add(s, "--connect-allow=udp:%d", UDP_PORT);
}

/* (c): 10,000 rules: TCP ports, UDP port ranges, IPv4 /24 prefixes with a port (TCP and UDP),
 * IPv6 /64 prefixes with a port (TCP and UDP). */
#define N10K_TCP        4000
#define N10K_UDP        1000
#define N10K_V4         3000
#define N10K_V6         1997

static void rules10000(Strv *s) {
        strv_add(s, "--connect-deny=any");
        for (int i = 0; i < N10K_TCP; i++)
                strv_add(s, "--connect-allow=tcp:%d", 10000 + i);
        for (int i = 0; i < N10K_UDP; i++)
                strv_add(s, "--connect-allow=udp:%d-%d", 20000 + 4 * i, 20001 + 4 * i);
        for (int i = 0; i < N10K_V4; i++)
                strv_add(s, "--connect-allow=10.%d.%d.0/24:%d", i / 256, i % 256, 443 + i % 7);
        for (int i = 0; i < N10K_V6; i++)
                strv_add(s, "--connect-allow=[fd00:%x::/64]:8443", (unsigned) i);
        strv_add(s, "--connect-allow=tcp:%d", TCP_PORT);
        strv_add(s, "--connect-allow=udp:%d", UDP_PORT);
}

/* argv in cgroup cg (NULL: ours), stdout to /dev/null. Returns the exit status; the wall time
 * from fork() to exit in *ret_ns, from execve() (after joining the cgroup) to exit in
 * *ret_exec_ns. */
static int run_in(char **argv, const char *cg, uint64_t *ret_ns, uint64_t *ret_exec_ns) {
        RunOptions o = { .cgroup = cg };
        int r;

        r = test_run(argv, &o);
        if (ret_ns)
                *ret_ns = o.ns;
        if (ret_exec_ns)
                *ret_exec_ns = o.exec_ns;
        return r;
}

/* "cgpolicy apply --unit=UNIT RULES…" from inside cg, as ExecStartPre=+ runs it. */
static int apply_in(const Bench *b, const char *cg, const char *unit, void (*rules)(Strv *),
                    uint64_t *ret_ns, uint64_t *ret_exec_ns) {
        Strv s = {};
        int r;

        strv_add(&s, "%s", b->cgpolicy);
        strv_add(&s, "apply");
        strv_add(&s, "--unit=%s", unit);
        rules(&s);
        r = run_in(s.v, cg, ret_ns, ret_exec_ns);
        strv_done(&s);
        return r;
}

/* A program that allows everything ("r0 = 1; exit") on the same hooks of cg, multi: those
 * systemd attaches (BPFProgram=); the LSM listen program, which "cgpolicy apply" attaches where
 * the kernel has BPF LSM, runs for listen() only, which the loops do not call. The fds of its
 * connect4 and sendmsg4 instances go to ret_fds[0] and [1] (for statistics). */
static int attach_trivial(const char *cg, int ret_fds[2]) {
        static const struct bpf_insn insns[] = {
                { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
                { .code = BPF_JMP | BPF_EXIT },
        };
        _cleanup_close_ int cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (cgfd < 0)
                return -errno;
        FOREACH_CGP_HOOK(h) {
                LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = h->attach_type);
                _cleanup_close_ int pfd = -EBADF;

                if (!(h->flags & CGP_HOOK_SYSTEMD))
                        continue;
                pfd = bpf_prog_load(h->prog_type, "bench_trivial", "GPL", insns, ELEMENTSOF(insns), &opts);
                if (pfd < 0)
                        return pfd;
                if (bpf_prog_attach(pfd, cgfd, h->attach_type, BPF_F_ALLOW_MULTI) < 0)
                        return -errno;
                if (streq(h->name, "connect4"))
                        ret_fds[0] = TAKE_FD(pfd);
                else if (streq(h->name, "sendmsg4"))
                        ret_fds[1] = TAKE_FD(pfd);
        }
        return 0;
}

/* ---- the workers ---- */

static const struct sockaddr_in tcp_dst = {
        .sin_family = AF_INET,
        .sin_port = __builtin_bswap16(TCP_PORT),
        .sin_addr.s_addr = __builtin_bswap32(INADDR_LOOPBACK),
};
static const struct sockaddr_in udp_dst = {
        .sin_family = AF_INET,
        .sin_port = __builtin_bswap16(UDP_PORT),
        .sin_addr.s_addr = __builtin_bswap32(INADDR_LOOPBACK),
};

/* The loopback server of a worker's network namespace. It stays in the cgroup the benchmark
 * was started in (started before the worker joins its variant's cgroup), on CPU 0, off the
 * worker's CPU (the last one), so that it does not preempt the worker. */
static int worker_server(void) {
        static const ServerSocket sockets[] = {
                { SOCK_STREAM, "127.0.0.1", TCP_PORT },
                { SOCK_DGRAM, "127.0.0.1", UDP_PORT },
        };
        cpu_set_t set;
        pid_t pid;

        pid = server_start(sockets, ELEMENTSOF(sockets));
        if (pid < 0)
                return pid;
        CPU_ZERO(&set);
        CPU_SET(0, &set);
        (void) sched_setaffinity(pid, sizeof set, &set);
        return 0;
}

static double batch_tcp(unsigned n) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        uint64_t t0 = now_ns();

        for (unsigned i = 0; i < n; i++) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (fd < 0)
                        return -1;
                /* RST on close: no TIME_WAIT piling up over the run. */
                (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                if (connect(fd, (const struct sockaddr *) &tcp_dst, sizeof tcp_dst) < 0) {
                        close(fd);
                        return -1;
                }
                close(fd);
        }
        return (double) (now_ns() - t0) / n;
}

static double batch_udp(int ufd, unsigned n) {
        uint64_t t0 = now_ns();

        for (unsigned i = 0; i < n; i++)
                if (sendto(ufd, "x", 1, 0, (const struct sockaddr *) &udp_dst, sizeof udp_dst) < 0)
                        return -1;
        return (double) (now_ns() - t0) / n;
}

static _Noreturn void worker_main(const Bench *b, size_t v, const char *cg, int cmd, int res) {
        _cleanup_close_ int ufd = -EBADF;
        cpu_set_t set;
        double ready = 0;
        char c;

        for (size_t i = 0; i < v; i++) {        /* the earlier workers' pipes */
                (void) close(b->w[i].cmd);
                (void) close(b->w[i].res);
                (void) close(b->w[i].netns);
        }

        /* Own network namespace with its loopback server, then into the variant's cgroup (the
         * server stays outside), pinned to the last CPU. */
        if (netns_new() < 0 || worker_server() < 0 || cgroup_join(cg) < 0)
                ready = -1;
        CPU_ZERO(&set);
        CPU_SET((unsigned) sysconf(_SC_NPROCESSORS_ONLN) - 1, &set);
        (void) sched_setaffinity(0, sizeof set, &set);
        ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (ufd < 0)
                ready = -1;
        if (write(res, &ready, sizeof ready) != sizeof ready || ready < 0)
                _exit(1);

        while (read(cmd, &c, 1) == 1) {
                double ns;

                if (c == 't')
                        ns = batch_tcp(b->n_tcp);
                else if (c == 'u')
                        ns = batch_udp(ufd, b->n_udp);
                else {
                        /* 'p': a UDP sendto() that the policies of (b)-(e) refuse: its errno. */
                        struct sockaddr_in d = udp_dst;

                        d.sin_port = htons(9);
                        ns = sendto(ufd, "x", 1, 0, (const struct sockaddr *) &d, sizeof d) < 0 ? errno : 0;
                }

                if (write(res, &ns, sizeof ns) != sizeof ns)
                        _exit(1);
        }
        _exit(0);
}

static int worker_start(Bench *b, size_t v, const char *cg) {
        Worker *w = &b->w[v];
        int c[2], r[2];
        double ready = -1;
        char ns[64];

        if (pipe2(c, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(r, O_CLOEXEC) < 0) {
                close(c[0]);
                close(c[1]);
                return -errno;
        }
        w->pid = test_fork();
        if (w->pid < 0) {
                int e = w->pid;

                w->pid = 0;
                close(c[0]);
                close(c[1]);
                close(r[0]);
                close(r[1]);
                return e;
        }
        if (w->pid == 0) {
                close(c[1]);
                close(r[0]);
                worker_main(b, v, cg, c[0], r[1]);
        }
        close(c[0]);
        close(r[1]);
        w->cmd = c[1];
        w->res = r[0];
        if (read(w->res, &ready, sizeof ready) != sizeof ready || ready < 0)
                return -EIO;
        snprintf(ns, sizeof ns, "/proc/%d/ns/net", (int) w->pid);
        w->netns = open(ns, O_RDONLY | O_CLOEXEC);
        return w->netns < 0 ? -errno : 0;
}

static double worker_batch(Worker *w, char what) {
        double ns = -1;

        test_check_interrupted();
        if (write(w->cmd, &what, 1) != 1 || read(w->res, &ns, sizeof ns) != sizeof ns || ns < 0) {
                test_check_interrupted();
                die("a %s batch failed: a call was refused or failed", what == 't' ? "TCP" : "UDP");
        }
        return ns;
}

/* The errno of a sendto() that every policy of the benchmark refuses (0: it was allowed). */
static int worker_probe(Worker *w) {
        double e = -1;
        char c = 'p';

        if (write(w->cmd, &c, 1) != 1 || read(w->res, &e, sizeof e) != sizeof e || e < 0)
                return -EIO;
        return (int) e;
}

static void workers_stop(Bench *b) {
        for (size_t v = 0; v < _V_MAX; v++) {
                Worker *w = &b->w[v];

                if (w->nft_table && nft_in(b, w->netns, "delete table inet " NFT_TABLE) != 0)
                        fprintf(stderr, "warning: could not delete nft table %s of variant %s\n",
                                NFT_TABLE, variant_cg[v]);
                w->nft_table = false;
                w->cmd = safe_close(w->cmd);            /* EOF: the worker exits */
                w->res = safe_close(w->res);
                if (w->pid > 0) {
                        (void) kill(w->pid, SIGKILL);
                        (void) test_wait(w->pid);
                        w->pid = 0;
                }
                w->netns = safe_close(w->netns);
        }
}

/* ---- nftables ---- */

/* The nft rule set of (d) or (e): an output chain that sends the packets of sockets of the
 * worker's cgroup to a policy chain, which accepts what the cgpolicy rules allow and drops the
 * rest, the allow-list of (b) or (c) expressed with nft sets (one lookup per kind of rule, as
 * an administrator would write it). */
static int nft_write_rules(const Bench *b, size_t v, const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        _cleanup_free_ char *cgpath = NULL, *full = NULL;
        const char *rel;
        int level = 0;

        if (!f)
                return -errno;

        /* The cgroup as nft names it (a path below /sys/fs/cgroup, see enter_nft_ns()) and its
         * level in the hierarchy (the root is level 0). */
        rel = path_is_below_nft_dir(b->env.cg_mount) ? b->env.cg_mount + strlen(NFT_CGROUP_DIR) : "";
        cgpath = xasprintf("%s%s%s/%s", rel, *rel ? "/" : "", b->env.name, variant_cg[v]);
        while (*cgpath == '/')
                memmove(cgpath, cgpath + 1, strlen(cgpath));
        full = xasprintf("%s/%s/%s", b->env.cg_root, b->env.name, variant_cg[v]);
        for (const char *p = full; *p; p++)
                if (*p != '/' && (p == full || p[-1] == '/'))
                        level++;

        fprintf(f, "table inet %s {\n", NFT_TABLE);
        if (v == V_NFT10) {
                fprintf(f,
                        "        chain pol {\n"
                        "                tcp dport { 1001, 1002, 1003, 1004, %d } accept\n"
                        "                udp dport { 2001, 2002, %d } accept\n"
                        "                ip daddr . th dport { 10.0.0.1 . 443 } accept\n"
                        "                drop\n"
                        "        }\n", TCP_PORT, UDP_PORT);
        } else {
                fprintf(f, "        set tcp_ports {\n                type inet_service\n                elements = { %d", TCP_PORT);
                for (int i = 0; i < N10K_TCP; i++)
                        fprintf(f, ", %d", 10000 + i);
                fprintf(f, " }\n        }\n");
                fprintf(f, "        set udp_ports {\n                type inet_service\n                flags interval\n                elements = { %d", UDP_PORT);
                for (int i = 0; i < N10K_UDP; i++)
                        fprintf(f, ", %d-%d", 20000 + 4 * i, 20001 + 4 * i);
                fprintf(f, " }\n        }\n");
                fprintf(f, "        set v4 {\n                type ipv4_addr . inet_service\n                flags interval\n                elements = { ");
                for (int i = 0; i < N10K_V4; i++)
                        fprintf(f, "%s10.%d.%d.0/24 . %d", i ? ", " : "", i / 256, i % 256, 443 + i % 7);
                fprintf(f, " }\n        }\n");
                fprintf(f, "        set v6 {\n                type ipv6_addr . inet_service\n                flags interval\n                elements = { ");
                for (int i = 0; i < N10K_V6; i++)
                        fprintf(f, "%sfd00:%x::/64 . 8443", i ? ", " : "", (unsigned) i);
                fprintf(f, " }\n        }\n");
                fprintf(f,
                        "        chain pol {\n"
                        "                tcp dport @tcp_ports accept\n"
                        "                udp dport @udp_ports accept\n"
                        "                ip daddr . th dport @v4 accept\n"
                        "                ip6 daddr . th dport @v6 accept\n"
                        "                drop\n"
                        "        }\n");
        }
        fprintf(f,
                "        chain out {\n"
                "                type filter hook output priority 0; policy accept;\n"
                "                socket cgroupv2 level %d \"%s\" jump pol\n"
                "        }\n"
                "}\n", level, cgpath);
        return fflush(f) == 0 ? 0 : -errno;
}

static int nft_setup(Bench *b, size_t v) {
        _cleanup_free_ char *file = xasprintf("%s/nft-%s.conf", b->env.rundir, variant_cg[v]);
        char *argv[] = { (char *) "nft", (char *) "-f", file, NULL };
        int r;

        r = nft_write_rules(b, v, file);
        if (r < 0)
                return r;
        /* "nft -f" is one transaction: the table exists afterwards, or nothing does. */
        r = test_run(argv, &(RunOptions) { .setup = enter_nft_ns, .userdata = &(NftNs) { b, b->w[v].netns } });
        if (r != 0)
                return -EIO;
        b->w[v].nft_table = true;
        return 0;
}

/* ---- kernel statistics and memory ---- */

/* run_time_ns and run_cnt of a program (while BPF statistics are enabled). */
static void prog_fd_stats(int fd, uint64_t *ret_ns, uint64_t *ret_cnt) {
        struct bpf_prog_info info = {};
        __u32 len = sizeof info;

        *ret_ns = *ret_cnt = 0;
        if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
                *ret_ns = info.run_time_ns;
                *ret_cnt = info.run_cnt;
        }
}

/* The same, of the pinned program NAME, or with fd >= 0, of that program. */
static void prog_stats(const Bench *b, const char *name, int fd, uint64_t *ret_ns, uint64_t *ret_cnt) {
        _cleanup_close_ int pfd = fd >= 0 ? -EBADF : test_pin_get(&b->env, name);

        prog_fd_stats(fd >= 0 ? fd : pfd, ret_ns, ret_cnt);
}

/* The kernel memory of a pinned map as the kernel accounts it: the "memlock" line of its
 * fdinfo, which since Linux 6.4 is the map type's own memory-usage estimate (LPM tries: the
 * allocated entries, each a trie node plus key and value; preallocated hashes and arrays: the
 * whole table, per-CPU values times the possible CPUs). */
static long long map_memlock(const Bench *b, const char *name) {
        _cleanup_free_ char *pin = xasprintf("maps/%s", name);
        _cleanup_close_ int fd = test_pin_get(&b->env, pin);
        _cleanup_fclose_ FILE *f = NULL;
        char fn[64], line[256];
        long long v = -1;

        if (fd < 0)
                return -1;
        snprintf(fn, sizeof fn, "/proc/self/fdinfo/%d", fd);
        f = fopen(fn, "re");
        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "memlock: %lld", &v) == 1)
                        break;
        return v;
}

/* The maps that grow with the rules: the three tries and the exact port map (a hash allocated
 * on demand, holding the single-port entries of cgp_ports again). */
static const char *const tries[] = { "cgp_ports", "cgp_addrs", "cgp_portsets", "cgp_port_exact" };

static long long tries_memlock(const Bench *b) {
        long long s = 0;

        for (size_t i = 0; i < ELEMENTSOF(tries); i++)
                s += map_memlock(b, tries[i]);
        return s;
}

static long long tries_entries(const Bench *b) {
        long long s = 0;

        for (size_t i = 0; i < ELEMENTSOF(tries); i++)
                s += test_map_entries(&b->env, tries[i]);
        return s;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* v[0..n), sorted, in a new array. */
static double *sorted_copy(const double *v, size_t n) {
        double *c = malloc(n * sizeof(double));

        if (!c)
                abort();
        memcpy(c, v, n * sizeof(double));
        qsort(c, n, sizeof(double), cmp_double);
        return c;
}

/* The q-quantile (nearest rank) of v[0..n). */
static double quantile(const double *v, size_t n, double q) {
        _cleanup_free_ double *c = sorted_copy(v, n);
        size_t i = (size_t) (q * (double) n + 0.999999);

        return c[MIN(MAX(i, (size_t) 1), n) - 1];
}

/* The median of v[0..n): the middle value, or the mean of the two middle ones. */
static double median(const double *v, size_t n) {
        _cleanup_free_ double *c = sorted_copy(v, n);

        return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

/* The median of the per-round ratios x[r]/y[r]: the same ratio, paired by round. */
static double paired_ratio(const double *x, const double *y, size_t n) {
        _cleanup_free_ double *q = malloc(n * sizeof(double));

        if (!q)
                abort();
        for (size_t i = 0; i < n; i++)
                q[i] = x[i] / y[i];
        return median(q, n);
}

/* ---- main ---- */

static unsigned arg_uint(int argc, char **argv, int i, unsigned def) {
        unsigned long v;
        char *e;

        if (argc <= i)
                return def;
        errno = 0;
        v = strtoul(argv[i], &e, 10);
        if (errno != 0 || *e || v == 0 || v > 10000000)
                die("bad number: %s", argv[i]);
        return (unsigned) v;
}

int main(int argc, char **argv) {
        static Bench b = {};
        double *tcp[_V_MAX] = {}, *udp[_V_MAX] = {};
        _cleanup_free_ double *t_apply = NULL, *t_apply_exec = NULL, *t_version = NULL, *t_version_exec = NULL,
                *t_true = NULL, *t_true_exec = NULL;
        double mt[_V_MAX], mu[_V_MAX], t_apply10k[5], mem10k[5];
        double prog_connect[_V_MAX] = {}, prog_sendmsg[_V_MAX] = {};
        unsigned rounds, n_apply;
        long long mem0, mem1, ent0, ent1, slot, fixed;
        struct utsname u;
        char *cg[_V_MAX];
        int trivial_fd[2] = { -EBADF, -EBADF };
        time_t now = time(NULL);
        char date[64];
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY [ROUNDS [TCP-PER-BATCH [UDP-PER-BATCH [APPLY-RUNS]]]]\n", argv[0]);
                return 2;
        }
        b.cgpolicy = argv[1];
        /* Short batches (a few ms): on a shared machine most of them run without being
         * preempted, and a batch that was is one outlier among many. */
        rounds = arg_uint(argc, argv, 2, 1001);
        b.n_tcp = arg_uint(argc, argv, 3, 100);
        b.n_udp = arg_uint(argc, argv, 4, 1000);
        n_apply = arg_uint(argc, argv, 5, 101);
        for (size_t v = 0; v < _V_MAX; v++)
                b.w[v] = (Worker) { .cmd = -EBADF, .res = -EBADF, .netns = -EBADF };
        if (geteuid() != 0) {
                fprintf(stderr, "bench-enforce needs root.\n");
                return 77;
        }
        if (access(b.cgpolicy, X_OK) < 0)
                die("%s: %m", b.cgpolicy);

        r = test_env_setup(&b.env, "cgpolicy-bench");
        if (r < 0)
                die("Cannot set up the benchmark's cgroup, bpffs and runtime directory.");
        b.env.cleanup = bench_cleanup;
        b.env.cleanup_userdata = &b;
        /* Orphaned servers of dead workers become our children, so that cleanup can reap them. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);

        {
                char *a[] = { (char *) b.cgpolicy, (char *) "load", NULL };

                if (run_in(a, NULL, NULL, NULL) != 0)
                        die("cgpolicy load failed");
        }
        fixed = 0;
        {
                static const char *const maps[] = { "cgp_meta", "cgp_cgroups", "cgp_ports", "cgp_addrs",
                                                     "cgp_portsets", "cgp_counters", "cgp_denials", "cgp_state" };
                for (size_t i = 0; i < ELEMENTSOF(maps); i++)
                        fixed += MAX(map_memlock(&b, maps[i]), 0LL);
        }

        for (size_t v = 0; v < _V_MAX; v++)
                cg[v] = test_env_cgroup(&b.env, variant_cg[v]);
        if ((r = test_attach(&b.env, cg[V_CGP10], CGP_DIRS_ALL)) < 0 || (r = test_attach(&b.env, cg[V_CGP10K], CGP_DIRS_ALL)) < 0)
                die("attaching the programs failed: %s", strerror(-r));
        if ((r = attach_trivial(cg[V_TRIVIAL], trivial_fd)) < 0)
                die("loading or attaching the trivial program failed: %s", strerror(-r));
        if (apply_in(&b, cg[V_CGP10], "b.service", rules10, NULL, NULL) != 0 ||
            apply_in(&b, cg[V_CGP10K], "c.service", rules10000, NULL, NULL) != 0)
                die("cgpolicy apply failed");

        for (size_t v = 0; v < _V_MAX; v++)
                if ((r = worker_start(&b, v, cg[v])) < 0)
                        die("starting worker %s failed: %s", variant_cg[v], strerror(-r));
        if ((r = nft_setup(&b, V_NFT10)) < 0 || (r = nft_setup(&b, V_NFT10K)) < 0)
                die("nft -f failed: %s", strerror(-r));

        /* Each variant is what it claims to be: its policy refuses a sendto() to port 9. */
        for (size_t v = 0; v < _V_MAX; v++) {
                int e = worker_probe(&b.w[v]);

                int want = VARIANT_ALLOWS_ALL(v) ? 0 : EPERM;

                if (e != want)
                        die("variant %s: sendto(127.0.0.1:9) gave errno %d, expected %d",
                            variant_cg[v], e, want);
        }

        for (size_t v = 0; v < _V_MAX; v++) {
                tcp[v] = calloc(rounds, sizeof(double));
                udp[v] = calloc(rounds, sizeof(double));
                if (!tcp[v] || !udp[v])
                        abort();
                (void) worker_batch(&b.w[v], 't');      /* warm up */
                (void) worker_batch(&b.w[v], 'u');
        }
        for (unsigned k = 0; k < rounds; k++)
                for (size_t i = 0; i < _V_MAX; i++) {
                        size_t v = (k + i) % _V_MAX;

                        tcp[v][k] = worker_batch(&b.w[v], 't');
                        udp[v][k] = worker_batch(&b.w[v], 'u');
                }
        for (size_t v = 0; v < _V_MAX; v++) {
                mt[v] = median(tcp[v], rounds);
                mu[v] = median(udp[v], rounds);
        }

        /* The programs' own run time per call, from the kernel's BPF statistics, enabled only
         * for this phase (they cost a little themselves) and only while we hold the fd. */
        {
                static const size_t with_prog[] = { V_CGP10, V_CGP10K, V_TRIVIAL };
                _cleanup_close_ int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);

                for (size_t j = 0; stats >= 0 && j < ELEMENTSOF(with_prog); j++) {
                        size_t v = with_prog[j];
                        int cfd = v == V_TRIVIAL ? trivial_fd[0] : -EBADF;
                        int sfd = v == V_TRIVIAL ? trivial_fd[1] : -EBADF;
                        uint64_t c0, n0, c1, n1, s0, m0, s1, m1;

                        prog_stats(&b, "connect4", cfd, &c0, &n0);
                        prog_stats(&b, "sendmsg4", sfd, &s0, &m0);
                        for (int i = 0; i < 20; i++) {
                                (void) worker_batch(&b.w[v], 't');
                                (void) worker_batch(&b.w[v], 'u');
                        }
                        prog_stats(&b, "connect4", cfd, &c1, &n1);
                        prog_stats(&b, "sendmsg4", sfd, &s1, &m1);
                        prog_connect[v] = n1 > n0 ? (double) (c1 - c0) / (double) (n1 - n0) : -1;
                        prog_sendmsg[v] = m1 > m0 ? (double) (s1 - s0) / (double) (m1 - m0) : -1;
                }
        }
        workers_stop(&b);

        /* "cgpolicy apply" as the drop-in runs it: ExecStartPre=+ in the unit's fresh cgroup,
         * the programs attached already (systemd attaches BPFProgram= before ExecStartPre).
         * Next to it, in the same cgroup, the bare start of the same binary (--version) and of
         * true(1), the floor of any process start. The applied units stay, for the memory
         * figures. */
        t_apply = calloc(n_apply, sizeof(double));
        t_apply_exec = calloc(n_apply, sizeof(double));
        t_version = calloc(n_apply, sizeof(double));
        t_version_exec = calloc(n_apply, sizeof(double));
        t_true = calloc(n_apply, sizeof(double));
        t_true_exec = calloc(n_apply, sizeof(double));
        if (!t_apply || !t_apply_exec || !t_version || !t_version_exec || !t_true || !t_true_exec)
                abort();
        mem0 = tries_memlock(&b);
        ent0 = tries_entries(&b);
        for (unsigned i = 0; i < n_apply; i++) {
                char name[64];
                _cleanup_free_ char *c = NULL;
                char *a[] = { (char *) b.cgpolicy, (char *) "--version", NULL };
                char *tr[] = { (char *) "true", NULL };
                uint64_t t, te;

                test_check_interrupted();
                snprintf(name, sizeof name, "apply-%u.service", i);
                c = test_env_cgroup(&b.env, name);
                if (test_attach(&b.env, c, CGP_DIRS_ALL) < 0 || apply_in(&b, c, name, rules10, &t, &te) != 0)
                        die("cgpolicy apply (%s) failed", name);
                t_apply[i] = (double) t / 1e6;
                t_apply_exec[i] = (double) te / 1e6;
                if (run_in(a, c, &t, &te) != 0)
                        die("cgpolicy --version failed");
                t_version[i] = (double) t / 1e6;
                t_version_exec[i] = (double) te / 1e6;
                if (run_in(tr, c, &t, &te) != 0)
                        die("true failed");
                t_true[i] = (double) t / 1e6;
                t_true_exec[i] = (double) te / 1e6;
        }
        mem1 = tries_memlock(&b);
        ent1 = tries_entries(&b);
        for (unsigned i = 0; i < ELEMENTSOF(t_apply10k); i++) {
                char name[64];
                _cleanup_free_ char *c = NULL;
                long long m0 = tries_memlock(&b);
                uint64_t t;

                test_check_interrupted();
                snprintf(name, sizeof name, "apply10k-%u.service", i);
                c = test_env_cgroup(&b.env, name);
                if (test_attach(&b.env, c, CGP_DIRS_ALL) < 0 || apply_in(&b, c, name, rules10000, &t, NULL) != 0)
                        die("cgpolicy apply (%s) failed", name);
                t_apply10k[i] = (double) t / 1e6;
                mem10k[i] = (double) (tries_memlock(&b) - m0);
        }
        /* Every policed unit holds one entry of cgp_cgroups, CGP_COUNTER_DIRS counters in
         * cgp_counters and one entry of cgp_slots, preallocated for CGP_MAX_SLOTS units: its
         * share of them. */
        slot = map_memlock(&b, "cgp_cgroups") / CGP_MAX_CGROUPS +
                map_memlock(&b, "cgp_counters") / CGP_MAX_SLOTS +
                map_memlock(&b, "cgp_slots") / CGP_MAX_SLOTS;

        /* ---- report ---- */
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
        (void) uname(&u);
        printf("bench-enforce %s: kernel %s, %ld CPUs, %s\n", b.cgpolicy, u.release,
               sysconf(_SC_NPROCESSORS_ONLN), date);
        printf("%u rounds, variants rotating within each round; per batch %u TCP connect()+close(), "
               "%u UDP sendto(); medians over the batches\n\n", rounds, b.n_tcp, b.n_udp);
        printf("| variant | TCP connect()+close(), ns | UDP sendto(), ns |\n| --- | ---: | ---: |\n");
        for (size_t v = 0; v < _V_MAX; v++)
                printf("| %s | %.0f | %.0f |\n", variant_name[v], mt[v], mu[v]);

        printf("\n| ratio | TCP | UDP | paired by round: TCP | UDP | of the p10s: TCP | UDP | target |\n"
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
        {
                static const struct {
                        const char *name;
                        size_t x, y;
                        const char *target;
                } ratios[] = {
                        { "(b)/(a)", V_CGP10, V_NONE, "<= 1.03" },
                        { "(c)/(b)", V_CGP10K, V_CGP10, "<= 1.02" },
                        { "(b)/(d)", V_CGP10, V_NFT10, "<= 1 (no slower than nftables)" },
                        { "(c)/(d)", V_CGP10K, V_NFT10, "<= 1" },
                        { "(c)/(e)", V_CGP10K, V_NFT10K, "<= 1" },
                        { "(d)/(a)", V_NFT10, V_NONE, "" },
                        { "(e)/(a)", V_NFT10K, V_NONE, "" },
                        { "(f)/(a)", V_TRIVIAL, V_NONE, "" },
                        { "(b)/(f)", V_CGP10, V_TRIVIAL, "" },
                };
                for (size_t i = 0; i < ELEMENTSOF(ratios); i++) {
                        size_t x = ratios[i].x, y = ratios[i].y;

                        printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %s |\n", ratios[i].name,
                               mt[x] / mt[y], mu[x] / mu[y],
                               paired_ratio(tcp[x], tcp[y], rounds), paired_ratio(udp[x], udp[y], rounds),
                               quantile(tcp[x], rounds, 0.1) / quantile(tcp[y], rounds, 0.1),
                               quantile(udp[x], rounds, 0.1) / quantile(udp[y], rounds, 0.1),
                               ratios[i].target);
                }
        }
        printf("\nspread (p10-p90 of the batches, ns):");
        for (size_t v = 0; v < _V_MAX; v++)
                printf(" %s TCP %.0f-%.0f UDP %.0f-%.0f;", variant_cg[v],
                       quantile(tcp[v], rounds, 0.1), quantile(tcp[v], rounds, 0.9),
                       quantile(udp[v], rounds, 0.1), quantile(udp[v], rounds, 0.9));
        printf("\n\nprogram run time per call (BPF statistics): 10 rules connect4 %.0f ns, sendmsg4 %.0f ns; "
               "10,000 rules connect4 %.0f ns, sendmsg4 %.0f ns; trivial program connect4 %.0f ns, sendmsg4 %.0f ns\n",
               prog_connect[V_CGP10], prog_sendmsg[V_CGP10], prog_connect[V_CGP10K], prog_sendmsg[V_CGP10K],
               prog_connect[V_TRIVIAL], prog_sendmsg[V_TRIVIAL]);

        printf("\nmemory (fdinfo memlock): all maps, no policy: %lld bytes (fixed)\n", fixed);
        printf("per unit, preallocated share of cgp_cgroups and cgp_counters: %lld bytes\n", slot);
        printf("per unit of 10 rules: tries +%lld bytes, %lld trie entries (%u units: +%lld bytes, +%lld entries)"
               " => %lld bytes per policed unit\n",
               (mem1 - mem0) / n_apply, (ent1 - ent0) / n_apply, n_apply, mem1 - mem0, ent1 - ent0,
               (mem1 - mem0) / n_apply + slot);
        printf("per unit of 10,000 rules: tries +%.0f bytes (median of %zu) => %.0f bytes per policed unit\n",
               median(mem10k, ELEMENTSOF(mem10k)), ELEMENTSOF(mem10k),
               median(mem10k, ELEMENTSOF(mem10k)) + (double) slot);

        printf("\ncgpolicy apply, 10 rules, %u runs, each in a fresh cgroup with the programs attached "
               "(median / p90, ms):\n", n_apply);
        printf("| process | fork to exit (incl. joining the cgroup) | execve() to exit |\n| --- | ---: | ---: |\n");
        printf("| cgpolicy apply, 10 rules | %.2f / %.2f | %.2f / %.2f |\n",
               median(t_apply, n_apply), quantile(t_apply, n_apply, 0.9),
               median(t_apply_exec, n_apply), quantile(t_apply_exec, n_apply, 0.9));
        printf("| cgpolicy --version (a bare start of the binary) | %.2f / %.2f | %.2f / %.2f |\n",
               median(t_version, n_apply), quantile(t_version, n_apply, 0.9),
               median(t_version_exec, n_apply), quantile(t_version_exec, n_apply, 0.9));
        printf("| true (the floor of any process start) | %.2f / %.2f | %.2f / %.2f |\n",
               median(t_true, n_apply), quantile(t_true, n_apply, 0.9),
               median(t_true_exec, n_apply), quantile(t_true_exec, n_apply, 0.9));
        printf("cgpolicy apply, 10,000 rules: fork to exit median %.1f ms (%zu runs)\n",
               median(t_apply10k, ELEMENTSOF(t_apply10k)), ELEMENTSOF(t_apply10k));

        for (size_t v = 0; v < _V_MAX; v++) {
                free(cg[v]);
                free(tcp[v]);
                free(udp[v]);
        }
        safe_close(trivial_fd[0]);
        safe_close(trivial_fd[1]);
        return 0;
}
