/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* bench-enforce: the cost of cgpolicy's enforcement, side by side in one run.
 *
 * One worker process per variant, each in a cgroup of its own that the benchmark creates below
 * the cgroup2 mount, and each in a network namespace of its own with a loopback server, loops
 * over loopback TCP socket()+connect()+close() and UDP sendto():
 *   (a) no program attached,
 *   (b) cgpolicy, 10 connect rules (an allow-list that allows the benchmark's destinations), on
 *       every cgroup hook "cgpolicy apply" attaches for such a unit (the six sock_addr
 *       hooks, sock_create and egress),
 *   (c) cgpolicy, 10,000 connect rules (ports, port ranges, IPv4 and IPv6 prefixes with ports),
 *   (d) nftables: the 10 rules of (b), output chain, "socket cgroupv2" of the worker's cgroup,
 *   (e) nftables: the 10,000 rules of (c) as the same chain with sets,
 *   (f) a trivial program ("return 1") on the hooks of (b): the floor of any cgroup program, to
 *       tell the cost of running a cgroup program at all from cgpolicy's own,
 *   (g) unsealed, as before the seal: the policy of (b) on the six sock_addr hooks only (no
 *       sock_create, no egress), what a unit got before issue 10,
 *   (h) sealed: (b) applied with --seal (which attaches the bpf() guard where the kernel has the
 *       BPF LSM), and the worker does to itself what the seal of the generated drop-in does to
 *       the service's processes: the seal's capabilities dropped from its bounding set (and, as
 *       execve() would then leave a root process, from its effective and permitted sets). The
 *       seal's mounts (ProtectControlGroups=, InaccessiblePaths=) cost nothing per call and are
 *       not reproduced.
 *   (i) learn mode: (b) applied with --mode=learn: nothing refused, every request de-duplicated
 *       into the unit's records (one LRU hash lookup and atomic adds per request, no fast set).
 * A network namespace per variant keeps the nftables table of (d) and (e) out of the paths of
 * the others: netfilter hooks are per namespace, and a table in a shared namespace would run its
 * "socket cgroupv2" match for every packet of every variant.
 *
 * The variants run in many short batches, rotating within every round (a b c … h,
 * b c … h a, …), so that drift of the machine (other load, frequency) hits all of them alike; the
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
#include <inttypes.h>
#include <linux/capability.h>
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
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cgpolicy-abi.h"
#include "cgpolicy-hooks.h"
#include "macro.h"
#include "policy.h"
#include "test-util.h"

#define TCP_PORT        47180
#define UDP_PORT        47190
#define NFT_TABLE       "cgpolicy_bench"
#define NFT_CGROUP_DIR  "/sys/fs/cgroup"        /* nft resolves "socket cgroupv2" paths below it */
#define PIN_OWNER       "4242"                  /* $CGPOLICY_PIN_OWNER: a uid nothing runs as */
#define BPF_CMD_INVALID 0x7fff                  /* bpf() gives EINVAL, whatever the capabilities */

enum {
        V_NONE,
        V_CGP10,
        V_CGP10K,
        V_NFT10,
        V_NFT10K,
        V_TRIVIAL,
        V_UNSEALED,
        V_SEALED,
        V_LEARN,
        _V_MAX,
};

static const char *const variant_name[_V_MAX] = {
        [V_NONE]   = "(a) no program attached",
        [V_CGP10]  = "(b) cgpolicy, 10 rules",
        [V_CGP10K] = "(c) cgpolicy, 10,000 rules",
        [V_NFT10]  = "(d) nftables socket cgroupv2, 10 rules",
        [V_NFT10K] = "(e) nftables socket cgroupv2, 10,000 rules (sets)",
        [V_TRIVIAL] = "(f) a trivial BPF program (return 1) on the hooks of (b)",
        [V_UNSEALED] = "(g) unsealed, as before the seal: (b) on the six sock_addr hooks only",
        [V_SEALED] = "(h) sealed: (b) with --seal, the seal's capabilities dropped",
        [V_LEARN]  = "(i) learn mode: (b) with --mode=learn, every request recorded",
};

/* Variants whose policy refuses nothing. */
#define VARIANT_ALLOWS_ALL(v) ((v) == V_NONE || (v) == V_TRIVIAL || (v) == V_LEARN)

static const char *const variant_cg[_V_MAX] = { "a", "b", "c", "d", "e", "f", "g", "h", "i" };

/* A worker: a process in one cgroup and one network namespace that runs batches on request.
 * A request is a byte on cmd ('t' TCP socket()+connect()+close(), 'u' UDP sendto(), or a
 * question, see worker_main()); the answer on res is the batch's ns per operation (a double),
 * negative when a call failed. */
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
        uint64_t seal_caps;     /* the capabilities the seal removes (bit CAP_*) */
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
        if (streq(unit, "h.service"))
                strv_add(&s, "--seal");
        if (streq(unit, "i.service"))
                strv_add(&s, "--mode=learn");
        rules(&s);
        r = run_in(s.v, cg, ret_ns, ret_exec_ns);
        strv_done(&s);
        return r;
}

/* Detach from cg the pinned cgroup programs other than the six sock_addr hooks (sock_create,
 * egress): what "cgpolicy apply" and the generated drop-in attached before issue 10. */
static int detach_but_sock_addr(const Bench *b, const char *cg) {
        FOREACH_CGP_HOOK(h) {
                int r;

                /* Only the hooks apply attached: not those of name rules, which g has none of. */
                if (h->prog_type == BPF_PROG_TYPE_LSM || h->prog_type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR ||
                    !cgp_hook_needed(h, CGP_DIRS_ALL | CGP_DIRS_SEALED))
                        continue;
                r = test_detach(&b->env, cg, h->name);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A program that allows everything ("r0 = 1; exit") on the same hooks of cg, multi: the cgroup
 * program hooks; the LSM listen program, which "cgpolicy apply" attaches where
 * the kernel has BPF LSM, runs for listen() only, which the loops do not call. The fd of the
 * instance on hook cgp_hooks[i] goes to ret_fds[i] (for statistics). */
static int attach_trivial(const char *cg, int ret_fds[static CGP_HOOKS_MAX]) {
        static const struct bpf_insn insns[] = {
                { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
                { .code = BPF_JMP | BPF_EXIT },
        };
        _cleanup_close_ int cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (cgfd < 0)
                return -errno;
        FOREACH_CGP_HOOK(h) {
                LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = h->attach_type);
                int pfd;

                /* The hooks of a unit without name rules, as the variants it is compared with. */
                if (h->prog_type == BPF_PROG_TYPE_LSM || !cgp_hook_needed(h, CGP_DIRS_ALL | CGP_DIRS_SEALED))
                        continue;
                pfd = bpf_prog_load(h->prog_type, "bench_trivial", "GPL", insns, ELEMENTSOF(insns), &opts);
                if (pfd < 0)
                        return pfd;
                ret_fds[h - cgp_hooks] = pfd;
                if (bpf_prog_attach(pfd, cgfd, h->attach_type, BPF_F_ALLOW_MULTI) < 0)
                        return -errno;
        }
        return 0;
}

/* ---- the seal ---- */

/* What the seal of the generated drop-in (policy_seal_settings, the generator's own list) does
 * that can cost at run time, read from that list so that the benchmark follows it: the
 * capabilities of CapabilityBoundingSet=~ in *ret_caps; ProtectControlGroups= and InaccessiblePaths= are mounts of the
 * service's mount namespace, made once at start, with no cost per call. Dies on a setting it
 * does not know: the benchmark must learn it. */
static void seal_settings(uint64_t *ret_caps) {
#define CAP(c) [c] = #c
        static const char *const cap_names[] = {
                CAP(CAP_CHOWN), CAP(CAP_DAC_OVERRIDE), CAP(CAP_DAC_READ_SEARCH), CAP(CAP_FOWNER),
                CAP(CAP_FSETID), CAP(CAP_KILL), CAP(CAP_SETGID), CAP(CAP_SETUID), CAP(CAP_SETPCAP),
                CAP(CAP_LINUX_IMMUTABLE), CAP(CAP_NET_BIND_SERVICE), CAP(CAP_NET_BROADCAST),
                CAP(CAP_NET_ADMIN), CAP(CAP_NET_RAW), CAP(CAP_IPC_LOCK), CAP(CAP_IPC_OWNER),
                CAP(CAP_SYS_MODULE), CAP(CAP_SYS_RAWIO), CAP(CAP_SYS_CHROOT), CAP(CAP_SYS_PTRACE),
                CAP(CAP_SYS_PACCT), CAP(CAP_SYS_ADMIN), CAP(CAP_SYS_BOOT), CAP(CAP_SYS_NICE),
                CAP(CAP_SYS_RESOURCE), CAP(CAP_SYS_TIME), CAP(CAP_SYS_TTY_CONFIG), CAP(CAP_MKNOD),
                CAP(CAP_LEASE), CAP(CAP_AUDIT_WRITE), CAP(CAP_AUDIT_CONTROL), CAP(CAP_SETFCAP),
                CAP(CAP_MAC_OVERRIDE), CAP(CAP_MAC_ADMIN), CAP(CAP_SYSLOG), CAP(CAP_WAKE_ALARM),
                CAP(CAP_BLOCK_SUSPEND), CAP(CAP_AUDIT_READ), CAP(CAP_PERFMON), CAP(CAP_BPF),
                CAP(CAP_CHECKPOINT_RESTORE),
        };
#undef CAP
        *ret_caps = 0;
        for (const char *const *s = policy_seal_settings; *s; s++) {
                const char *v;

                if (startswith(*s, "ProtectControlGroups=") || startswith(*s, "InaccessiblePaths="))
                        continue;
                v = startswith(*s, "CapabilityBoundingSet=~");
                if (!v)
                        die("The seal sets %s, which bench-enforce does not reproduce: teach it.", *s);
                while (*v) {
                        size_t l = strcspn(v, " "), c;

                        for (c = 0; c < ELEMENTSOF(cap_names); c++)
                                if (cap_names[c] && strlen(cap_names[c]) == l && strneq(cap_names[c], v, l))
                                        break;
                        if (c == ELEMENTSOF(cap_names))
                                die("Unknown capability in the seal: %.*s", (int) l, v);
                        *ret_caps |= TEST_CAP(c);
                        v += l;
                        v += strspn(v, " ");
                }
        }
        if (*ret_caps == 0)
                die("The seal has no CapabilityBoundingSet=~: bench-enforce reproduces a seal it does not know.");
}

/* In the worker of (h): what systemd does to a sealed service's process between fork() and
 * execve() (the bounding set), then what execve() does to the capabilities of a uid-0 process:
 * permitted and effective become the bounding set. */
static int worker_seal(uint64_t caps) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};

        for (int cap = 0; cap < 64; cap++)
                if ((caps & TEST_CAP(cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        return -errno;
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        for (int i = 0; i < 2; i++) {
                uint32_t keep = ~(uint32_t) (caps >> (32 * i));

                d[i].effective &= keep;
                d[i].permitted &= keep;
                d[i].inheritable &= keep;
        }
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        return 0;
}

/* How many of caps the calling process still has in its bounding or its effective set. */
static int caps_left(uint64_t caps) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        uint64_t eff;
        int n = 0;

        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        eff = d[0].effective | (uint64_t) d[1].effective << 32;
        for (int cap = 0; cap < 64; cap++)
                if ((caps & TEST_CAP(cap)) &&
                    (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0 || (eff & TEST_CAP(cap))))
                        n++;
        return n;
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
         * server stays outside), pinned to the last CPU; (h) seals itself there, before it makes
         * its sockets, as a service's process is sealed before it starts. */
        if (netns_new() < 0 || worker_server() < 0 || cgroup_join(cg) < 0)
                ready = -1;
        CPU_ZERO(&set);
        CPU_SET((unsigned) sysconf(_SC_NPROCESSORS_ONLN) - 1, &set);
        (void) sched_setaffinity(0, sizeof set, &set);
        if (v == V_SEALED && worker_seal(b->seal_caps) < 0)
                ready = -1;
        ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (ufd < 0)
                ready = -1;
        if (write(res, &ready, sizeof ready) != sizeof ready || ready < 0)
                _exit(1);

        while (read(cmd, &c, 1) == 1) {
                struct sockaddr_in d = udp_dst;
                double ns;

                switch (c) {
                case 't':
                        ns = batch_tcp(b->n_tcp);
                        break;
                case 'u':
                        ns = batch_udp(ufd, b->n_udp);
                        break;
                case 'p':
                        /* A UDP sendto() that the policies of (b)-(e), (g) and (h) refuse: its errno. */
                        d.sin_port = htons(9);
                        ns = sendto(ufd, "x", 1, 0, (const struct sockaddr *) &d, sizeof d) < 0 ? errno : 0;
                        break;
                case 'b':
                        /* bpf() with a command that does not exist: its errno (EINVAL, unless the
                         * seal's bpf() guard answers first). */
                        ns = syscall(SYS_bpf, BPF_CMD_INVALID, NULL, 0) < 0 ? errno : 0;
                        break;
                case 'c':
                        /* How many of the seal's capabilities this process still has. */
                        ns = caps_left(b->seal_caps);
                        break;
                default:
                        ns = -1;
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

/* The worker's answer to a question ('p', 'b', 'c': see worker_main()), or -EIO. */
static int worker_ask(Worker *w, char what) {
        double e = -1;

        if (write(w->cmd, &what, 1) != 1 || read(w->res, &e, sizeof e) != sizeof e || e < 0)
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

/* The hooks whose programs' run time is reported: the two the loops' calls run (connect4 for
 * TCP's connect(), sendmsg4 for UDP's sendto()), sock_create (every TCP socket()) and egress
 * (every packet the worker sends: a TCP SYN, ACK and RST, a UDP datagram). */
static const char *const stat_hooks[] = { "connect4", "sendmsg4", "sock_create", "egress" };

/* The same, of the pinned program of hook NAME, or with fds, of the program fds[i] of the hook
 * cgp_hooks[i] of that name. */
static void prog_stats(const Bench *b, const char *name, const int *fds, uint64_t *ret_ns, uint64_t *ret_cnt) {
        const CgpHook *h = cgp_hook_by_name(name);
        _cleanup_close_ int pfd = fds ? -EBADF : test_pin_get(&b->env, name);

        prog_fd_stats(fds ? (h ? fds[h - cgp_hooks] : -EBADF) : pfd, ret_ns, ret_cnt);
}

/* The kernel memory of a pinned map as the kernel accounts it: the "memlock" line of its
 * fdinfo, which since Linux 6.4 is the map type's own memory-usage estimate (LPM tries: the
 * allocated entries, each a trie node plus key and value; hashes without preallocation: the
 * bucket array, sized for max_entries at creation, and the entries; preallocated hashes and
 * arrays: the whole table, per-CPU values times the possible CPUs). */
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

/* All the pinned maps together; each one's in *ret_detail ("name bytes, …"). */
static long long maps_memlock(const Bench *b, char **ret_detail) {
        _cleanup_free_ char *dir = xasprintf("%s/maps", b->env.pin_dir);
        _cleanup_(closedirp) DIR *d = opendir(dir);
        long long s = 0;

        *ret_detail = xasprintf("%s", "");
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d)); ) {
                long long m;
                char *x;

                if (de->d_name[0] == '.')
                        continue;
                m = MAX(map_memlock(b, de->d_name), 0LL);
                s += m;
                x = xasprintf("%s%s%s %lld", *ret_detail, **ret_detail ? ", " : "", de->d_name, m);
                free(*ret_detail);
                *ret_detail = x;
        }
        return s;
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

/* The UDP datagrams the kernel dropped at a full receive queue in the network namespace of
 * process pid (Udp RcvbufErrors of /proc/PID/net/snmp): those of the worker, sent to its server,
 * which should read them all. */
static long long udp_rcvbuf_errors(pid_t pid) {
        _cleanup_free_ char *fn = xasprintf("/proc/%d/net/snmp", (int) pid);
        _cleanup_fclose_ FILE *f = fopen(fn, "re");
        char names[1024], values[1024];

        while (f && fgets(names, sizeof names, f)) {
                char *sn = NULL, *sv = NULL;

                if (!startswith(names, "Udp: ") || !fgets(values, sizeof values, f))
                        continue;
                for (char *n = strtok_r(names, " \n", &sn), *v = strtok_r(values, " \n", &sv); n && v;
                     n = strtok_r(NULL, " \n", &sn), v = strtok_r(NULL, " \n", &sv))
                        if (streq(n, "RcvbufErrors"))
                                return atoll(v);
        }
        return -1;
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

/* The median of the per-round ratios x[r]/y[r]: the same ratio, paired by round. */
static double paired_ratio(const double *x, const double *y, size_t n) {
        _cleanup_free_ double *q = malloc(n * sizeof(double));

        if (!q)
                abort();
        for (size_t i = 0; i < n; i++)
                q[i] = x[i] / y[i];
        return test_median(q, n);
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
        _cleanup_free_ char *fixed_detail = NULL;
        _cleanup_free_ double *t_apply = NULL, *t_apply_exec = NULL, *t_version = NULL, *t_version_exec = NULL,
                *t_true = NULL, *t_true_exec = NULL;
        double mt[_V_MAX], mu[_V_MAX], t_apply10k[5], mem10k[5];
        double prog_ns[_V_MAX][ELEMENTSOF(stat_hooks)] = {};
        uint64_t prog_runs[_V_MAX][ELEMENTSOF(stat_hooks)] = {};
        long long rcvbuf_errors[_V_MAX];
        unsigned rounds, n_apply;
        long long mem0, mem1, ent0, ent1, slot, fixed;
        struct utsname u;
        char *cg[_V_MAX];
        int trivial_fd[CGP_HOOKS_MAX], guard;
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
        for (size_t i = 0; i < CGP_HOOKS_MAX; i++)
                trivial_fd[i] = -EBADF;
        if (geteuid() != 0) {
                fprintf(stderr, "bench-enforce needs root.\n");
                return 77;
        }
        if (access(b.cgpolicy, X_OK) < 0)
                die("%s: %m", b.cgpolicy);
        seal_settings(&b.seal_caps);
        /* The owner "cgpolicy load" gives the pin directory (a uid nothing runs as): without it,
         * load warns that the _cgpolicy user does not exist. */
        if (setenv("CGPOLICY_PIN_OWNER", PIN_OWNER, 1) < 0)
                die("setenv: %m");

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
        fixed = maps_memlock(&b, &fixed_detail);

        for (size_t v = 0; v < _V_MAX; v++)
                cg[v] = test_env_cgroup(&b.env, variant_cg[v]);
        if ((r = test_attach(&b.env, cg[V_CGP10], CGP_DIRS_ALL)) < 0 ||
            (r = test_attach(&b.env, cg[V_CGP10K], CGP_DIRS_ALL)) < 0 ||
            (r = test_attach(&b.env, cg[V_SEALED], CGP_DIRS_ALL)) < 0 ||
            (r = test_attach(&b.env, cg[V_UNSEALED], CGP_DIRS_ALL)) < 0 ||
            (r = test_attach(&b.env, cg[V_LEARN], CGP_DIRS_ALL)) < 0)
                die("attaching the programs failed: %s", strerror(-r));
        if ((r = attach_trivial(cg[V_TRIVIAL], trivial_fd)) < 0)
                die("loading or attaching the trivial program failed: %s", strerror(-r));
        if (apply_in(&b, cg[V_CGP10], "b.service", rules10, NULL, NULL) != 0 ||
            apply_in(&b, cg[V_CGP10K], "c.service", rules10000, NULL, NULL) != 0 ||
            apply_in(&b, cg[V_UNSEALED], "g.service", rules10, NULL, NULL) != 0 ||
            apply_in(&b, cg[V_SEALED], "h.service", rules10, NULL, NULL) != 0 ||
            apply_in(&b, cg[V_LEARN], "i.service", rules10, NULL, NULL) != 0)
                die("cgpolicy apply failed");
        /* (g): only the six sock_addr programs, as before issue 10. "cgpolicy apply" attaches the
         * hooks a unit needs now that are not in force (and says so): take the others away after
         * it. */
        if ((r = detach_but_sock_addr(&b, cg[V_UNSEALED])) < 0)
                die("detaching sock_create and egress from g failed: %s", strerror(-r));
        FOREACH_CGP_HOOK(h) {
                unsigned want = h->prog_type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR;

                if (test_n_effective(cg[V_UNSEALED], h->name) != want)
                        die("variant g: %u programs on %s, expected %u",
                            test_n_effective(cg[V_UNSEALED], h->name), h->name, want);
        }

        for (size_t v = 0; v < _V_MAX; v++)
                if ((r = worker_start(&b, v, cg[v])) < 0)
                        die("starting worker %s failed: %s", variant_cg[v], strerror(-r));
        if ((r = nft_setup(&b, V_NFT10)) < 0 || (r = nft_setup(&b, V_NFT10K)) < 0)
                die("nft -f failed: %s", strerror(-r));

        /* Each variant is what it claims to be: its policy refuses a sendto() to port 9; the
         * worker of (h), and only it, is refused bpf() by the guard where the kernel has the BPF
         * LSM (the others, and (h) elsewhere, get EINVAL for the command that does not exist),
         * and lacks the seal's capabilities. */
        guard = test_pin_get(&b.env, "bpf_guard");
        if (guard >= 0)
                safe_close(guard);
        for (size_t v = 0; v < _V_MAX; v++) {
                int e = worker_ask(&b.w[v], 'p'), want = VARIANT_ALLOWS_ALL(v) ? 0 : EPERM;
                int n_caps = __builtin_popcountll(b.seal_caps);

                if (e != want)
                        die("variant %s: sendto(127.0.0.1:9) gave errno %d, expected %d",
                            variant_cg[v], e, want);
                e = worker_ask(&b.w[v], 'b');
                want = v == V_SEALED && guard >= 0 ? EPERM : EINVAL;
                if (e != want)
                        die("variant %s: bpf(%d) gave errno %d, expected %d", variant_cg[v], BPF_CMD_INVALID, e, want);
                e = worker_ask(&b.w[v], 'c');
                want = v == V_SEALED ? 0 : n_caps;
                if (e != want)
                        die("variant %s: the worker has %d of the seal's %d capabilities, expected %d",
                            variant_cg[v], e, n_caps, want);
        }
        /* (i) learns: its sendto() to port 9 (a would-be denial) is recorded. */
        {
                char *a[] = { (char *) b.cgpolicy, (char *) "learn", (char *) "i.service", (char *) "--records", NULL };
                static char out[65536];
                RunOptions o = { .output = out, .output_size = sizeof out };

                if (test_run(a, &o) != 0 || !strstr(out, "connect ipv4 udp 127.0.0.1 9 1 yes"))
                        die("variant i: its sendto(127.0.0.1:9) is not among its records: %s", out);
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
                mt[v] = test_median(tcp[v], rounds);
                mu[v] = test_median(udp[v], rounds);
                rcvbuf_errors[v] = udp_rcvbuf_errors(b.w[v].pid);
        }

        /* The programs' own run time per call, from the kernel's BPF statistics, enabled only
         * for this phase (they cost a little themselves) and only while we hold the fd. */
        {
                static const size_t with_prog[] = { V_CGP10, V_CGP10K, V_TRIVIAL, V_LEARN };
                _cleanup_close_ int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);

                for (size_t j = 0; stats >= 0 && j < ELEMENTSOF(with_prog); j++) {
                        size_t v = with_prog[j];
                        uint64_t t0[ELEMENTSOF(stat_hooks)], n0[ELEMENTSOF(stat_hooks)], t1, n1;

                        for (size_t i = 0; i < ELEMENTSOF(stat_hooks); i++)
                                prog_stats(&b, stat_hooks[i], v == V_TRIVIAL ? trivial_fd : NULL, &t0[i], &n0[i]);
                        for (int i = 0; i < 20; i++) {
                                (void) worker_batch(&b.w[v], 't');
                                (void) worker_batch(&b.w[v], 'u');
                        }
                        for (size_t i = 0; i < ELEMENTSOF(stat_hooks); i++) {
                                prog_stats(&b, stat_hooks[i], v == V_TRIVIAL ? trivial_fd : NULL, &t1, &n1);
                                prog_ns[v][i] = n1 > n0[i] ? (double) (t1 - t0[i]) / (double) (n1 - n0[i]) : -1;
                                prog_runs[v][i] = n1 - n0[i];
                        }
                }
        }
        workers_stop(&b);

        /* "cgpolicy apply" as the drop-in runs it: ExecStartPre=+ in the unit's fresh cgroup,
         * here with the programs attached already (as at a re-apply; at a start, apply attaches
         * them itself, which the e2e latency figures include).
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
         * cgp_counters and one entry of cgp_slots, maps sized for CGP_MAX_SLOTS units when they
         * are created: its share of them. */
        slot = map_memlock(&b, "cgp_cgroups") / CGP_MAX_CGROUPS +
                map_memlock(&b, "cgp_counters") / CGP_MAX_SLOTS +
                map_memlock(&b, "cgp_slots") / CGP_MAX_SLOTS;

        /* ---- report ---- */
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
        (void) uname(&u);
        printf("bench-enforce %s: kernel %s, %ld CPUs, %s\n", b.cgpolicy, u.release,
               sysconf(_SC_NPROCESSORS_ONLN), date);
        printf("%u rounds, variants rotating within each round; per batch %u TCP socket()+connect()+close(), "
               "%u UDP sendto(); medians over the batches\n\n", rounds, b.n_tcp, b.n_udp);
        printf("| variant | TCP socket()+connect()+close(), ns | UDP sendto(), ns |\n| --- | ---: | ---: |\n");
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
                        { "(h)/(g)", V_SEALED, V_UNSEALED, "TCP <= 1.02 (sock_create, egress and the seal)" },
                        { "(b)/(f)", V_CGP10, V_TRIVIAL, "<= 1.02 (10 rules against a program returning 1)" },
                        { "(b)/(g)", V_CGP10, V_UNSEALED, "(sock_create and egress)" },
                        { "(h)/(b)", V_SEALED, V_CGP10, "(the seal: capabilities, the bpf() guard where the kernel has it)" },
                        { "(b)/(a)", V_CGP10, V_NONE, "<= 1.03" },
                        { "(c)/(b)", V_CGP10K, V_CGP10, "<= 1.02" },
                        { "(b)/(d)", V_CGP10, V_NFT10, "<= 1 (no slower than nftables)" },
                        { "(c)/(d)", V_CGP10K, V_NFT10, "<= 1" },
                        { "(c)/(e)", V_CGP10K, V_NFT10K, "<= 1" },
                        { "(d)/(a)", V_NFT10, V_NONE, "" },
                        { "(e)/(a)", V_NFT10K, V_NONE, "" },
                        { "(f)/(a)", V_TRIVIAL, V_NONE, "" },
                        { "(g)/(a)", V_UNSEALED, V_NONE, "" },
                        { "(i)/(b)", V_LEARN, V_CGP10, "(learn against enforce: recording every request; bounded)" },
                        { "(i)/(a)", V_LEARN, V_NONE, "" },
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
        printf("\nUDP datagrams dropped at the server's full receive queue (Udp RcvbufErrors):");
        for (size_t v = 0; v < _V_MAX; v++)
                printf(" %s %lld%s", variant_cg[v], rcvbuf_errors[v], v + 1 < _V_MAX ? "," : "\n");

        printf("\nprogram run time per run (BPF statistics, 20 more TCP and UDP batches each), ns (runs):");
        {
                static const size_t with_prog[] = { V_CGP10, V_CGP10K, V_TRIVIAL, V_LEARN };
                static const char *const with_prog_name[] = { "10 rules", "10,000 rules", "trivial program",
                                                              "learn mode" };

                for (size_t j = 0; j < ELEMENTSOF(with_prog); j++) {
                        printf("%s %s", j ? ";" : "", with_prog_name[j]);
                        for (size_t i = 0; i < ELEMENTSOF(stat_hooks); i++)
                                printf(" %s %.0f (%" PRIu64 ")", stat_hooks[i], prog_ns[with_prog[j]][i],
                                       prog_runs[with_prog[j]][i]);
                }
        }
        printf("\n");

        printf("\nmemory (fdinfo memlock): all maps, no policy: %lld bytes (fixed: %s)\n", fixed, fixed_detail);
        printf("per unit, share of cgp_cgroups, cgp_counters and cgp_slots (sized at load): %lld bytes\n", slot);
        printf("per unit of 10 rules: tries +%lld bytes, %lld trie entries (%u units: +%lld bytes, +%lld entries)"
               " => %lld bytes per policed unit\n",
               (mem1 - mem0) / n_apply, (ent1 - ent0) / n_apply, n_apply, mem1 - mem0, ent1 - ent0,
               (mem1 - mem0) / n_apply + slot);
        printf("per unit of 10,000 rules: tries +%.0f bytes (median of %zu) => %.0f bytes per policed unit\n",
               test_median(mem10k, ELEMENTSOF(mem10k)), ELEMENTSOF(mem10k),
               test_median(mem10k, ELEMENTSOF(mem10k)) + (double) slot);

        printf("\ncgpolicy apply, 10 rules, %u runs, each in a fresh cgroup with the programs attached "
               "(median / p90, ms):\n", n_apply);
        printf("| process | fork to exit (incl. joining the cgroup) | execve() to exit |\n| --- | ---: | ---: |\n");
        printf("| cgpolicy apply, 10 rules | %.2f / %.2f | %.2f / %.2f |\n",
               test_median(t_apply, n_apply), quantile(t_apply, n_apply, 0.9),
               test_median(t_apply_exec, n_apply), quantile(t_apply_exec, n_apply, 0.9));
        printf("| cgpolicy --version (a bare start of the binary) | %.2f / %.2f | %.2f / %.2f |\n",
               test_median(t_version, n_apply), quantile(t_version, n_apply, 0.9),
               test_median(t_version_exec, n_apply), quantile(t_version_exec, n_apply, 0.9));
        printf("| true (the floor of any process start) | %.2f / %.2f | %.2f / %.2f |\n",
               test_median(t_true, n_apply), quantile(t_true, n_apply, 0.9),
               test_median(t_true_exec, n_apply), quantile(t_true_exec, n_apply, 0.9));
        printf("cgpolicy apply, 10,000 rules: fork to exit median %.1f ms (%zu runs)\n",
               test_median(t_apply10k, ELEMENTSOF(t_apply10k)), ELEMENTSOF(t_apply10k));

        for (size_t v = 0; v < _V_MAX; v++) {
                free(cg[v]);
                free(tcp[v]);
                free(udp[v]);
        }
        for (size_t i = 0; i < CGP_HOOKS_MAX; i++)
                safe_close(trivial_fd[i]);
        return 0;
}
