/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The ways around a policy (issue 10), tried on the real kernel as a compromised service would:
 * a private bpffs, cgroups under the cgroup2 mount, "cgpolicy load", the pinned programs
 * attached beforehand (multi, every cgroup hook of cgpolicy-hooks.h the policy needs; apply
 * attaches the rest), "cgpolicy apply" run from inside the cgroup as ExecStartPre=+ runs it, and then an
 * attacker: a process in the policed cgroup with exactly the uid and capabilities named in the
 * check (setresuid, capset, bounding set, no_new_privs; verified in /proc/self/status before it
 * acts). Everything happens in a network namespace of the test's own: only loopback targets.
 * Delivery is proven at the receiving side (a listener of the test, outside the policed
 * cgroups, got it; or a packet socket on lo saw it), refusals by the exact errno.
 *
 * Checks named "kernel level" assert what the kernel allows whatever cgpolicy does; they back
 * the threat model's claims about what only the seal (systemd's sandboxing settings, tested
 * in the VM suite) closes.
 *
 * Usage: test-seal PATH-TO-CGPOLICY. Needs root; exits 77 (skip) without it unless $CI is set,
 * where a missing privilege is a failure. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/io_uring.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cgpolicy-abi.h"
#include "cgpolicy-hooks.h"
#include "cgroup-util.h"
#include "macro.h"
#include "tap.h"
#include "test-util.h"

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

/* The pin owner "cgpolicy load" is given ($CGPOLICY_PIN_OWNER), a uid nothing runs as. */
#define PIN_OWNER 4242u

/* Ports, one block per item. */
#define P2_BIND         48200u  /* --bind-deny=udp:P2_BIND */
#define P2_SEND         48201u  /* --connect-deny=udp:P2_SEND */
#define P2_OK           48202u
#define P3              48300u
#define P4_OK           48400u
#define P5_RELEASED     48500u  /* allowed by the policy of a release killed half way */
#define P5_LEFTOVER     48501u  /* allowed by the entries of an apply killed half way */
#define P6_BIND         48600u
#define P6_OK           48601u
#define P6_NO           48602u
#define P7_A            48700u
#define P7_B            48710u  /* .. P7_B + 5 */
#define P9              48900u
#define P10             49000u
#define P11             49100u
#define P11_PACKET      49101u
#define PX_OK           49200u
#define PX_NO           49201u

static const TestCred NOBODY = { "uid 65534, no capabilities", 65534, 0 };
static const TestCred ROOT_NOCAPS = { "uid 0, empty capability set", 0, 0 };
static const TestCred ROOT_DAEMON = { "uid 0, CAP_NET_BIND_SERVICE+CAP_SETUID",
                                      0, TEST_CAP(CAP_NET_BIND_SERVICE) | TEST_CAP(CAP_SETUID) };
static const TestCred ROOT_RAW = { "uid 0, CAP_NET_RAW only", 0, TEST_CAP(CAP_NET_RAW) };

static const char *cgpolicy;
static TestEnv env;

/* What an attacker process reports back, in memory shared with it. */
typedef struct Shared {
        int v[1024];
        char err[256];
} Shared;

static Shared *shared;

/* "ok N # SKIP reason": a check that cannot run on this kernel. */
_printf_(1, 2)
static void skip(const char *fmt, ...) {
        va_list ap;

        tap_n++;
        printf("ok %u # SKIP ", tap_n);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
}

/* diag() for text of several lines (command output): each line a TAP comment. */
_printf_(1, 2)
static void diag_lines(const char *fmt, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (r < 0)
                return;
        for (char *p = text, *eol; *p; p = *eol ? eol + 1 : eol) {
                eol = strchrnul(p, '\n');
                printf("# %.*s\n", (int) (eol - p), p);
        }
        fflush(stdout);
}

static const char *errno_name(int e) {
        static char buf[4][64];
        static unsigned k;
        char *b = buf[k++ % 4];

        if (e < 0)
                return "(attacker did not run)";
        if (e >= 2000) {
                snprintf(b, 64, "a preparing step failed: %s", strerror(e - 2000));
                return b;
        }
        if (e >= 1000) {
                snprintf(b, 64, "socket() %s", errno_name(e - 1000));
                return b;
        }
        switch (e) {
        case 0: return "success";
        case EPERM: return "EPERM";
        case EACCES: return "EACCES";
        case EINVAL: return "EINVAL";
        case ECONNREFUSED: return "ECONNREFUSED";
        case EINPROGRESS: return "EINPROGRESS";
        default:
                snprintf(b, 64, "%s", strerror(e));
                return b;
        }
}

/* ---- cgpolicy ---- */

typedef struct Cmd {
        const char *cg;                 /* run in this cgroup (fs path), NULL: the test's */
        const TestCred *as;             /* become this first (after joining cg), NULL: root */
        const char *env;                /* "NAME=VALUE" or NULL */
        char **out;                     /* stdout + stderr, or NULL */
} Cmd;

static int become_setup(void *userdata) {
        return test_become(userdata, NULL, 0);
}

/* Run cgpolicy ARGS... (NULL-terminated) as c says; returns its exit status. */
static int run_cgpolicy(const Cmd *c, ...) {
        const char *argv[32] = { cgpolicy };
        char buf[65536];
        va_list ap;
        int n = 1, r;

        va_start(ap, c);
        for (const char *a; n < 31 && (a = va_arg(ap, const char *)); )
                argv[n++] = a;
        va_end(ap);
        argv[n] = NULL;

        r = test_run((char *const *) argv, &(RunOptions) {
                        .cgroup = c->cg, .env = c->env, .output = buf, .output_size = sizeof buf,
                        .setup = c->as ? become_setup : NULL, .userdata = (void *) c->as });
        if (c->out)
                *c->out = strdup(buf);
        else if (r != 0)
                diag_lines("cgpolicy %s: exit %d: %s", argv[1], r, buf);
        return r;
}

/* The directions (CGP_DIRS()) of the rules in options: what the hooks to attach depend on. */
static unsigned rule_dirs(const char *const *options) {
        unsigned dirs = 0;

        for (; *options; options++) {
                if (startswith(*options, "--bind-"))
                        dirs |= CGP_DIRS(CGP_DIR_BIND);
                if (startswith(*options, "--connect-"))
                        dirs |= CGP_DIRS(CGP_DIR_CONNECT);
        }
        return dirs;
}

/* A unit's cgroup NAME below the test's: the cgroup programs its policy needs attached
 * beforehand, then "cgpolicy apply --unit=NAME.service OPTIONS..." run in it.
 * Returns the fs path. */
static char *policed_v(const char *name, const char *const *options) {
        char *cg = test_env_cgroup(&env, name);
        const char *a[20] = { "apply" };
        char unit[128];
        unsigned n = 1;
        int r;

        ok(test_attach(&env, cg, rule_dirs(options)) == 0, "%s: programs attached (BPF_F_ALLOW_MULTI)", name);
        snprintf(unit, sizeof unit, "--unit=%s.service", name);
        a[n++] = unit;
        for (; *options && n < ELEMENTSOF(a) - 1; options++)
                a[n++] = *options;
        r = run_cgpolicy(&(Cmd) { .cg = cg }, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
                         a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], NULL);
        ok(r == 0, "%s: cgpolicy apply from inside the cgroup succeeds (exit %d)", name, r);
        return cg;
}

#define policed(name, ...) policed_v(name, (const char *const[]) { __VA_ARGS__, NULL })

/* ---- attackers ---- */

typedef void (*AttackFn)(Shared *res, const void *arg);

/* Start fn in a new process: it closes every inherited file descriptor, joins cgroup cg,
 * becomes c and runs fn, which reports through res. Returns its PID. */
static pid_t attack_start(const char *cg, const TestCred *c, AttackFn fn, const void *arg) {
        pid_t pid = test_fork();

        if (pid < 0)
                die("fork: %s", strerror(-pid));
        if (pid > 0)
                return pid;

        (void) close_range(3, ~0U, 0);
        if (cgroup_join(cg) < 0) {
                snprintf(shared->err, sizeof shared->err, "cannot join %s: %m", cg);
                _exit(200);
        }
        if (test_become(c, shared->err, sizeof shared->err) < 0)
                _exit(201);
        fn(shared, arg);
        _exit(0);
}

/* Wait for an attacker: true when it ran (its results are in shared). */
static bool attack_wait(pid_t pid, const TestCred *c) {
        int r = test_wait(pid);

        if (r != 0)
                diag_lines("the attacker (%s) did not run: exit %d: %s", c->name, r, shared->err);
        return r == 0;
}

static bool attack(const char *cg, const TestCred *c, AttackFn fn, const void *arg) {
        memset(shared, 0, sizeof *shared);
        return attack_wait(attack_start(cg, c, fn, arg), c);
}

/* ---- receivers: listeners of the test (outside every policed cgroup) ---- */

typedef struct Sink {
        int fd;
        int type;
        char name[80];
} Sink;

static Sink *sink_open(int type, int protocol, const char *addr, unsigned port) {
        Sink *s = calloc(1, sizeof(Sink));
        struct sockaddr_storage ss;
        socklen_t sl;
        int family, one = 1;

        if (!s)
                abort();
        family = sockaddr_parse(addr, (uint16_t) port, &ss, &sl);
        s->type = type;
        snprintf(s->name, sizeof s->name, "%s listener on %s%s%s:%u",
                 protocol == IPPROTO_UDPLITE ? "UDP-Lite" : type == SOCK_STREAM ? "TCP" : "UDP",
                 family == AF_INET6 ? "[" : "", addr, family == AF_INET6 ? "]" : "", port);
        s->fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
        if (s->fd < 0)
                die("%s: socket: %m", s->name);
        (void) setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (family == AF_INET6)
                (void) setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(s->fd, (struct sockaddr *) &ss, sl) < 0)
                die("%s: bind: %m", s->name);
        if (type == SOCK_STREAM && listen(s->fd, 128) < 0)
                die("%s: listen: %m", s->name);
        return s;
}

static void sink_free(Sink *s) {
        if (!s)
                return;
        safe_close(s->fd);
        free(s);
}

static void sink_freep(Sink **s) {
        sink_free(*s);
}

/* Take one arrival (a connection or a datagram) if there is one. */
static bool sink_take(Sink *s) {
        char buf[2048];

        if (s->type == SOCK_STREAM) {
                int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);

                if (c < 0)
                        return false;
                close(c);
                return true;
        }
        return recv(s->fd, buf, sizeof buf, MSG_DONTWAIT) >= 0;
}

static void sink_drain(Sink *s) {
        while (sink_take(s))
                ;
}

/* The arrivals within timeout_ms; returns as soon as there are at least want (want > 0). */
static unsigned sink_wait(Sink *s, unsigned want, int timeout_ms) {
        uint64_t end = now_ns() + (uint64_t) timeout_ms * 1000000ULL;
        unsigned n = 0;

        for (;;) {
                struct pollfd p = { s->fd, POLLIN, 0 };
                uint64_t now = now_ns();

                while (sink_take(s))
                        n++;
                if ((want > 0 && n >= want) || now >= end)
                        return n;
                (void) poll(&p, 1, (int) ((end - now) / 1000000ULL) + 1);
                test_check_interrupted();
        }
}

/* ok() for delivery: "delivered" waits up to 5 s for one arrival, "not delivered" 1 s for none. */
static void expect_delivery(Sink *s, bool want, const char *what) {
        unsigned n = sink_wait(s, want ? 1 : 0, want ? 5000 : 1000);

        ok(want ? n >= 1 : n == 0, "%s: %s at the %s (%u arrived)", what, want ? "delivered" : "nothing arrives",
           s->name, n);
}

/* ---- one request by an attacker ---- */

typedef enum Op {
        OP_SOCKET,              /* socket() only */
        OP_BIND,
        OP_CONNECT,
        OP_SENDTO,
        OP_LISTEN,              /* listen() (after bind() to addr:port when addr is set) */
} Op;

typedef struct Req {
        Op op;
        int type;               /* SOCK_STREAM, SOCK_DGRAM, SOCK_RAW */
        int protocol;           /* 0 or IPPROTO_* */
        const char *addr;       /* destination, or the address to bind */
        unsigned port;
        int family;             /* without addr (OP_SOCKET, OP_LISTEN): AF_INET or AF_INET6 */
        const char *src;        /* bind() the socket to SRC:0 first */
        bool unspec;            /* OP_SENDTO: sin_family AF_UNSPEC in the destination */
} Req;

/* Requests of the usual kinds: TCP(CONNECT, "127.0.0.1", 80), UDP(SENDTO, "::1", 53, .src = …). */
#define TCP(o, a, p, ...) ((Req) { .op = OP_##o, .type = SOCK_STREAM, .addr = (a), .port = (p), __VA_ARGS__ })
#define UDP(o, a, p, ...) ((Req) { .op = OP_##o, .type = SOCK_DGRAM, .addr = (a), .port = (p), __VA_ARGS__ })
#define UDPLITE(o, a, p) \
        ((Req) { .op = OP_##o, .type = SOCK_DGRAM, .protocol = IPPROTO_UDPLITE, .addr = (a), .port = (p) })
#define SOCKET(t, proto, f) ((Req) { .op = OP_SOCKET, .type = (t), .protocol = (proto), .family = (f) })

static const char *type_name(const Req *r) {
        if (r->protocol == IPPROTO_UDPLITE)
                return "udplite";
        if (r->type == SOCK_RAW)
                return "raw";
        if (r->protocol == IPPROTO_ICMP || r->protocol == IPPROTO_ICMPV6)
                return "ping";
        return r->type == SOCK_STREAM ? "tcp" : "udp";
}

static char *req_string(const Req *r) {
        static const char *const ops[] = { "socket", "bind", "connect", "sendto", "listen" };
        const char *a = r->addr;
        bool v6 = a && strchr(a, ':');

        if (!a)
                return xasprintf("%s %s %s%s", type_name(r), r->family == AF_INET6 ? "IPv6" : "IPv4",
                                 ops[r->op], r->op == OP_LISTEN ? " without bind" : "");
        return xasprintf("%s%s%s%s %s %s%s%s:%u%s", r->src ? "bound to " : "", r->src ?: "", r->src ? " " : "",
                         type_name(r), r->op == OP_LISTEN ? "bind+listen" : ops[r->op], v6 ? "[" : "", a, v6 ? "]" : "",
                         r->port, r->unspec ? " with sin_family AF_UNSPEC" : "");
}

/* In the attacker: the errno of the request (0: success); 1000 + errno when socket() failed,
 * 2000 + errno when a preparing bind() failed. */
static int do_req(const Req *r) {
        struct sockaddr_storage ss, src;
        socklen_t sl = 0, srcl;
        int family = r->family, fd, k = 0, zero = 0;

        if (r->addr) {
                family = sockaddr_parse(r->addr, (uint16_t) r->port, &ss, &sl);
                if (family < 0)
                        return 2000 + EINVAL;
        }
        fd = socket(family, r->type | SOCK_CLOEXEC, r->protocol);
        if (fd < 0)
                return 1000 + errno;
        if (family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (r->src && (sockaddr_parse(r->src, 0, &src, &srcl) < 0 || bind(fd, (struct sockaddr *) &src, srcl) < 0)) {
                k = 2000 + errno;
                close(fd);
                return k;
        }
        switch (r->op) {
        case OP_SOCKET:
                break;
        case OP_BIND:
                k = bind(fd, (struct sockaddr *) &ss, sl);
                break;
        case OP_CONNECT:
                k = connect(fd, (struct sockaddr *) &ss, sl);
                break;
        case OP_SENDTO:
                if (r->unspec)
                        ((struct sockaddr_in *) &ss)->sin_family = AF_UNSPEC;
                k = (int) sendto(fd, "x", 1, 0, (struct sockaddr *) &ss, sl);
                break;
        case OP_LISTEN:
                if (r->addr && bind(fd, (struct sockaddr *) &ss, sl) < 0) {
                        k = 2000 + errno;
                        close(fd);
                        return k;
                }
                k = listen(fd, 8);
                break;
        }
        k = k < 0 ? errno : 0;
        close(fd);
        return k;
}

static void act_req(Shared *res, const void *arg) {
        res->v[0] = do_req(arg);
}

/* The result of one request made by an attacker c in cg; -1 when the attacker did not run. */
static int req_result(const char *cg, const TestCred *c, const Req *r) {
        if (!attack(cg, c, act_req, r))
                return -1;
        return shared->v[0];
}

/* One request: its errno must be want; with a sink, it must (not) arrive there. */
static void expect_req(const char *what, const char *cg, const TestCred *c, Req r, int want, Sink *sink, bool delivered) {
        _cleanup_free_ char *s = req_string(&r), *w = xasprintf("%s: %s", what, s);
        int got;

        if (sink)
                sink_drain(sink);
        got = req_result(cg, c, &r);
        ok(got == want, "%s (%s) → %s (got %s)", w, c->name, errno_name(want), errno_name(got));
        if (sink)
                expect_delivery(sink, delivered, w);
}

/* A refusal that may come at socket() or at the call itself. */
static void expect_req_refused(const char *what, const char *cg, const TestCred *c, Req r, Sink *sink) {
        _cleanup_free_ char *s = req_string(&r), *w = xasprintf("%s: %s", what, s);
        int got;

        if (sink)
                sink_drain(sink);
        got = req_result(cg, c, &r);
        ok(got == EPERM || got == 1000 + EPERM, "%s (%s) → EPERM at socket() or at the call (got %s)", w, c->name,
           errno_name(got));
        if (sink)
                expect_delivery(sink, false, w);
}

/* ---- 1. ICMP echo ("ping") and raw sockets ---- */

typedef struct PingArgs {
        int family;
} PingArgs;

/* v[0]: socket(), v[1]: sendto() of an echo request to the loopback address, v[2]: 1 when
 * the echo reply came back (the request was delivered). */
static void act_ping(Shared *res, const void *arg) {
        const PingArgs *a = arg;
        struct sockaddr_storage ss;
        socklen_t sl;
        uint8_t pkt[16] = {}, reply[256];
        struct pollfd p;
        int fd;

        fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, a->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
        res->v[0] = fd < 0 ? errno : 0;
        if (fd < 0)
                return;
        (void) sockaddr_parse(a->family == AF_INET ? "127.0.0.1" : "::1", 0, &ss, &sl);
        pkt[0] = a->family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
        pkt[5] = 1;                             /* sequence 1; the kernel sets id and checksum */
        memcpy(pkt + 8, "cgpolicy", 8);
        res->v[1] = sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *) &ss, sl) < 0 ? errno : 0;
        p = (struct pollfd) { fd, POLLIN, 0 };
        res->v[2] = res->v[1] == 0 && poll(&p, 1, 5000) == 1 && recv(fd, reply, sizeof reply, 0) > 0;
        close(fd);
}

static void test_ping_raw(const char *free_cg) {
        const char *s = "#1";
        _cleanup_free_ char *deny = policed("ping-deny", "--connect-deny=any"),
                            *ping = policed("ping-allow", "--connect-deny=any", "--socket-allow=ping"),
                            *raw = policed("raw-allow", "--connect-deny=any", "--socket-allow=raw");
        const Req ping4 = SOCKET(SOCK_DGRAM, IPPROTO_ICMP, AF_INET), ping6 = SOCKET(SOCK_DGRAM, IPPROTO_ICMPV6, AF_INET6),
                  raw4 = SOCKET(SOCK_RAW, IPPROTO_UDP, AF_INET), raw6 = SOCKET(SOCK_RAW, IPPROTO_ICMPV6, AF_INET6);
        static const PingArgs v4 = { AF_INET }, v6 = { AF_INET6 };

        /* The attackers can open them where nothing is policed: a refusal below is the policy's. */
        expect_req("#1 control, unpoliced cgroup", free_cg, &NOBODY, ping4, 0, NULL, false);
        expect_req("#1 control, unpoliced cgroup", free_cg, &NOBODY, ping6, 0, NULL, false);
        expect_req("#1 control, unpoliced cgroup", free_cg, &ROOT_RAW, raw4, 0, NULL, false);
        expect_req("#1 control, unpoliced cgroup", free_cg, &ROOT_RAW, raw6, 0, NULL, false);

        /* X-CgPolicyConnectDeny=any: neither may be created. */
        expect_req("#1 --connect-deny=any", deny, &NOBODY, ping4, 1000 + EPERM, NULL, false);
        expect_req("#1 --connect-deny=any", deny, &NOBODY, ping6, 1000 + EPERM, NULL, false);
        expect_req("#1 --connect-deny=any", deny, &ROOT_RAW, raw4, 1000 + EPERM, NULL, false);
        expect_req("#1 --connect-deny=any", deny, &ROOT_RAW, raw6, 1000 + EPERM, NULL, false);
        if (attack(deny, &NOBODY, act_ping, &v4))
                ok(shared->v[0] == EPERM && !shared->v[2],
                   "%s: --connect-deny=any: no echo request gets through an IPv4 ping socket (socket() %s, reply %s)",
                   s, errno_name(shared->v[0]), shared->v[2] ? "received" : "none");

        /* --socket-allow=ping: created; as the man page says, sendto() is not judged. */
        expect_req("#1 --socket-allow=ping", ping, &NOBODY, ping4, 0, NULL, false);
        expect_req("#1 --socket-allow=ping", ping, &NOBODY, ping6, 0, NULL, false);
        if (attack(ping, &NOBODY, act_ping, &v4))
                ok(shared->v[0] == 0 && shared->v[1] == 0 && shared->v[2],
                   "%s: --socket-allow=ping: sendto() of an IPv4 echo request is not judged: allowed, the reply comes back "
                   "(socket() %s, sendto() %s)", s, errno_name(shared->v[0]), errno_name(shared->v[1]));
        if (attack(ping, &NOBODY, act_ping, &v6))
                ok(shared->v[0] == 0 && shared->v[1] == 0 && shared->v[2],
                   "%s: --socket-allow=ping: sendto() of an ICMPv6 echo request is not judged: allowed, the reply comes back "
                   "(socket() %s, sendto() %s)", s, errno_name(shared->v[0]), errno_name(shared->v[1]));
        /* connect() of a ping socket is judged by the connect rules (port 0). */
        expect_req("#1 --socket-allow=ping", ping, &NOBODY,
                   (Req) { .op = OP_CONNECT, .type = SOCK_DGRAM, .protocol = IPPROTO_ICMP, .addr = "127.0.0.1" },
                   EPERM, NULL, false);
        expect_req("#1 --socket-allow=ping does not allow raw", ping, &ROOT_RAW, raw4, 1000 + EPERM, NULL, false);

        /* --socket-allow=raw. */
        expect_req("#1 --socket-allow=raw", raw, &ROOT_RAW, raw4, 0, NULL, false);
        expect_req("#1 --socket-allow=raw", raw, &ROOT_RAW, raw6, 0, NULL, false);
        expect_req("#1 --socket-allow=raw does not allow ping", raw, &NOBODY, ping4, 1000 + EPERM, NULL, false);
}

/* ---- 2. UDP-Lite ---- */

static void test_udplite(void) {
        _cleanup_free_ char *plain = policed("udplite-default", "--bind-deny=udp:48200", "--connect-deny=udp:48201"),
                            *lite = policed("udplite-allow", "--bind-deny=udp:48200", "--connect-deny=udp:48201",
                                            "--socket-allow=udplite");
        _cleanup_(sink_freep) Sink *no4 = sink_open(SOCK_DGRAM, IPPROTO_UDPLITE, "127.0.0.1", P2_SEND),
             *no6 = sink_open(SOCK_DGRAM, IPPROTO_UDPLITE, "::1", P2_SEND),
             *ok4 = sink_open(SOCK_DGRAM, IPPROTO_UDPLITE, "127.0.0.1", P2_OK);

        /* By default a UDP-Lite socket cannot be created under a policy with network rules;
         * whatever it would do is refused. */
        expect_req("#2 default", plain, &NOBODY, SOCKET(SOCK_DGRAM, IPPROTO_UDPLITE, AF_INET), 1000 + EPERM, NULL, false);
        expect_req("#2 default", plain, &NOBODY, SOCKET(SOCK_DGRAM, IPPROTO_UDPLITE, AF_INET6), 1000 + EPERM, NULL, false);
        expect_req_refused("#2 default, --bind-deny=udp:48200", plain, &NOBODY,
                           UDPLITE(BIND, "127.0.0.1", P2_BIND), NULL);
        expect_req_refused("#2 default, --connect-deny=udp:48201", plain, &NOBODY,
                           UDPLITE(SENDTO, "127.0.0.1", P2_SEND), no4);

        /* --socket-allow=udplite: classed with UDP. */
        expect_req("#2 --socket-allow=udplite, --bind-deny=udp:48200", lite, &NOBODY,
                   UDPLITE(BIND, "127.0.0.1", P2_BIND), EPERM, NULL, false);
        expect_req("#2 --socket-allow=udplite, --bind-deny=udp:48200", lite, &NOBODY,
                   UDPLITE(BIND, "::1", P2_BIND), EPERM, NULL, false);
        expect_req("#2 --socket-allow=udplite, --connect-deny=udp:48201", lite, &NOBODY,
                   UDPLITE(SENDTO, "127.0.0.1", P2_SEND), EPERM, no4, false);
        expect_req("#2 --socket-allow=udplite, --connect-deny=udp:48201", lite, &NOBODY,
                   UDPLITE(SENDTO, "::1", P2_SEND), EPERM, no6, false);
        /* What the rules do not refuse works. */
        expect_req("#2 --socket-allow=udplite, other port", lite, &NOBODY,
                   UDPLITE(BIND, "127.0.0.1", P2_OK + 1), 0, NULL, false);
        expect_req("#2 --socket-allow=udplite, other port", lite, &NOBODY,
                   UDPLITE(SENDTO, "127.0.0.1", P2_OK), 0, ok4, true);
}

/* ---- 3. The unspecified destination ---- */

typedef struct UnspecSinks {
        Sink *tcp4, *tcp6, *udp4, *udp6, *tcp4_2, *udp4_2;
} UnspecSinks;

/* connect()/sendto() to 0.0.0.0, [::] and [::ffff:0.0.0.0] (port P3) reach 127.0.0.1 or ::1. */
static void unspec_requests(const char *what, const char *cg, int want, const UnspecSinks *k) {
        static const char *const addrs[] = { "0.0.0.0", "::", "::ffff:0.0.0.0" };

        for (size_t i = 0; i < ELEMENTSOF(addrs); i++) {
                Sink *tcp = i == 1 ? k->tcp6 : k->tcp4, *udp = i == 1 ? k->udp6 : k->udp4;

                expect_req(what, cg, &NOBODY, TCP(CONNECT, addrs[i], P3), want, tcp, want == 0);
                expect_req(what, cg, &NOBODY, UDP(SENDTO, addrs[i], P3), want, udp, want == 0);
        }
}

static void unspec_sinks_done(UnspecSinks *k) {
        sink_free(k->tcp4);
        sink_free(k->tcp6);
        sink_free(k->udp4);
        sink_free(k->udp6);
        sink_free(k->tcp4_2);
        sink_free(k->udp4_2);
}

static void test_unspecified(void) {
        _cleanup_(unspec_sinks_done) UnspecSinks k = {
                .tcp4 = sink_open(SOCK_STREAM, 0, "127.0.0.1", P3),
                .tcp6 = sink_open(SOCK_STREAM, 0, "::1", P3),
                .udp4 = sink_open(SOCK_DGRAM, 0, "127.0.0.1", P3),
                .udp6 = sink_open(SOCK_DGRAM, 0, "::1", P3),
                .tcp4_2 = sink_open(SOCK_STREAM, 0, "127.0.0.2", P3),
                .udp4_2 = sink_open(SOCK_DGRAM, 0, "127.0.0.2", P3),
        };
        _cleanup_free_ char *deny = policed("unspec-deny", "--connect-deny=127.0.0.0/8", "--connect-deny=[::1]"),
                            *allow = policed("unspec-allow", "--connect-deny=any", "--connect-allow=127.0.0.1:48300",
                                             "--connect-allow=[::1]:48300"),
                            *allow2 = policed("unspec-allow2", "--connect-deny=any", "--connect-allow=127.0.0.2:48300"),
                            *deny2 = policed("unspec-deny2", "--connect-deny=127.0.0.2");

        /* The loopback addresses are refused, so is what reaches them. */
        expect_req("#3 control, --connect-deny=127.0.0.0/8", deny, &NOBODY,
                   TCP(CONNECT, "127.0.0.1", P3), EPERM, k.tcp4, false);
        unspec_requests("#3 --connect-deny=127.0.0.0/8 --connect-deny=[::1]", deny, EPERM, &k);

        /* Exactly 127.0.0.1:P and [::1]:P allowed: what reaches them is allowed. */
        unspec_requests("#3 --connect-deny=any --connect-allow=127.0.0.1:P,[::1]:P", allow, 0, &k);

        /* A socket bound to 127.0.0.2 reaches 127.0.0.2 through 0.0.0.0. */
        expect_req("#3 --connect-allow=127.0.0.2:P only", allow2, &NOBODY,
                   TCP(CONNECT, "0.0.0.0", P3, .src = "127.0.0.2"), 0, k.tcp4_2, true);
        expect_req("#3 --connect-allow=127.0.0.2:P only", allow2, &NOBODY,
                   UDP(SENDTO, "0.0.0.0", P3, .src = "127.0.0.2"), 0, k.udp4_2, true);
        expect_req("#3 --connect-allow=127.0.0.2:P only", allow2, &NOBODY,
                   TCP(CONNECT, "0.0.0.0", P3), EPERM, k.tcp4, false);
        expect_req("#3 --connect-deny=127.0.0.2", deny2, &NOBODY,
                   TCP(CONNECT, "0.0.0.0", P3, .src = "127.0.0.2"), EPERM, k.tcp4_2, false);
        expect_req("#3 --connect-deny=127.0.0.2", deny2, &NOBODY,
                   UDP(SENDTO, "0.0.0.0", P3, .src = "127.0.0.2"), EPERM, k.udp4_2, false);
        expect_req("#3 --connect-deny=127.0.0.2", deny2, &NOBODY,
                   TCP(CONNECT, "0.0.0.0", P3), 0, k.tcp4, true);
}

/* ---- 4. listen() without bind() ---- */

static void test_listen(void) {
        _cleanup_free_ char *cg = policed("listen", "--bind-deny=any", "--bind-allow=tcp:48400"),
                            *pin = xasprintf("%s/socket_listen", env.pin_dir);
        const char *s = "#4 --bind-deny=any --bind-allow=tcp:48400";
        static const Req unbound4 = { .op = OP_LISTEN, .type = SOCK_STREAM, .protocol = 0, .family = AF_INET },
                         unbound6 = { .op = OP_LISTEN, .type = SOCK_STREAM, .protocol = 0, .family = AF_INET6 },
                         port0 = { .op = OP_LISTEN, .type = SOCK_STREAM, .protocol = 0, .addr = "127.0.0.1", .port = 0 },
                         port0_6 = { .op = OP_LISTEN, .type = SOCK_STREAM, .protocol = 0, .addr = "::1", .port = 0 };

        expect_req(s, cg, &NOBODY, TCP(LISTEN, "127.0.0.1", P4_OK), 0, NULL, false);
        expect_req(s, cg, &NOBODY, TCP(LISTEN, "::1", P4_OK), 0, NULL, false);

        /* Only a BPF LSM program can refuse the autobind of listen(): the VM suite covers
         * kernels without BPF LSM (like this host's, whose lockdown refuses LSM programs). */
        if (access(pin, F_OK) < 0) {
                _cleanup_fclose_ FILE *f = fopen("/sys/kernel/security/lsm", "re");
                char lsm[256] = "?";

                if (f && !fgets(lsm, sizeof lsm, f))
                        snprintf(lsm, sizeof lsm, "?");
                diag_lines("no %s after load; active LSMs: %s", pin, lsm);
                skip("no BPF LSM: %s: tcp IPv4 listen without bind → EPERM", s);
                skip("no BPF LSM: %s: tcp IPv6 listen without bind → EPERM", s);
                skip("no BPF LSM: %s: tcp bind 127.0.0.1:0 + listen → EPERM", s);
                skip("no BPF LSM: %s: tcp bind [::1]:0 + listen → EPERM", s);
                return;
        }
        expect_req(s, cg, &NOBODY, unbound4, EPERM, NULL, false);
        expect_req(s, cg, &NOBODY, unbound6, EPERM, NULL, false);
        expect_req(s, cg, &NOBODY, port0, EPERM, NULL, false);
        expect_req(s, cg, &NOBODY, port0_6, EPERM, NULL, false);
}

/* ---- what cgpolicy status and denials show ---- */

static char *status_of(const char *what) {
        char *out = NULL;

        (void) run_cgpolicy(&(Cmd) { .out = &out }, "status", what, NULL);
        return out ? out : strdup("");
}

static char *status_json(void) {
        char *out = NULL;
        int r = run_cgpolicy(&(Cmd) { .out = &out }, "status", "--json", NULL);

        if (r != 0)
                diag_lines("status --json: exit %d: %s", r, out ? out : "");
        return out ? out : strdup("");
}

/* The number after "FIELD": in the object of unit in status --json output (up to the next
 * unit's object); false when there is none. */
static bool json_unit_number(const char *json, const char *unit, const char *field, unsigned long long *ret) {
        char needle[256], key[128];
        const char *u, *end, *f;

        snprintf(needle, sizeof needle, "\"unit\":\"%s\"", unit);
        snprintf(key, sizeof key, "\"%s\":", field);
        u = strstr(json, needle);
        if (!u)
                return false;
        end = strstr(u + 1, "\"unit\":");
        f = strstr(u, key);
        if (!f || (end && f > end))
                return false;
        *ret = strtoull(f + strlen(key), NULL, 10);
        return true;
}

static bool json_top_number(const char *json, const char *field, unsigned long long *ret) {
        char key[128];
        const char *f;

        snprintf(key, sizeof key, "\"%s\":", field);
        f = strstr(json, key);
        if (!f)
                return false;
        *ret = strtoull(f + strlen(key), NULL, 10);
        return true;
}

/* Does a line of text contain both a and b? */
static bool has_line(const char *text, const char *a, const char *b) {
        for (const char *p = text; p && *p; ) {
                const char *eol = strchrnul(p, '\n');
                _cleanup_free_ char *line = strndup(p, (size_t) (eol - p));

                if (line && strstr(line, a) && (!b || strstr(line, b)))
                        return true;
                p = *eol ? eol + 1 : eol;
        }
        return false;
}

/* ---- 5. Stale rules ---- */

/* The pinned map NAME ("cgp_ports"): fd, key and value size. */
static int map_open(const char *name, __u32 *ret_key_size, __u32 *ret_value_size) {
        _cleanup_free_ char *p = xasprintf("maps/%s", name);
        struct bpf_map_info info = {};
        __u32 len = sizeof info;
        int fd = test_pin_get(&env, p);

        if (fd < 0)
                return fd;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (ret_key_size)
                *ret_key_size = info.key_size;
        if (ret_value_size)
                *ret_value_size = info.value_size;
        return fd;
}

/* The policy tags (ids) the cgroups in cgp_cgroups refer to (the first 32 bits of the value),
 * as used[0..n); returns the highest one. */
static int tags_in_use(uint8_t *used, uint32_t n, uint32_t *ret_max) {
        _cleanup_close_ int fd = -EBADF;
        __u32 ks, vs;
        uint64_t key, next;
        uint8_t value[256];

        fd = map_open("cgp_cgroups", &ks, &vs);
        if (fd < 0)
                return fd;
        if (ks != sizeof key || vs > sizeof value || vs < 4)
                return -EINVAL;
        memset(used, 0, n);
        *ret_max = 0;
        for (void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
                uint32_t tag;

                key = next;
                if (bpf_map_lookup_elem(fd, &key, value) < 0)
                        continue;
                memcpy(&tag, value, sizeof tag);
                if (tag >= n)
                        return -E2BIG;
                used[tag] = 1;
                *ret_max = MAX(*ret_max, tag);
        }
        return 0;
}

#define MAX_TAG 4096u

typedef struct Leftovers {
        struct cgp_port_key keys[2 * MAX_TAG];
        size_t n;
} Leftovers;

/* What an "apply" killed between writing its rules and pointing the cgroup at them leaves: an
 * entry allowing TCP port `port` (connect, both families), in the port trie and the exact port
 * map, under a tag (policy id) no cgroup refers to. Written under every such tag below the
 * highest one in use: on main, which gives a new policy the lowest unused id, the next apply
 * takes one of them; with tags from a counter (the fix), they are tags of the past, which no
 * new policy may ever see. (Not above the highest: no interrupted run can leave entries under
 * a tag the counter has not handed out yet.) */
static int write_leftovers(uint16_t port, Leftovers *l) {
        _cleanup_close_ int ports = -EBADF, exact = -EBADF;
        _cleanup_free_ uint8_t *used = calloc(MAX_TAG, 1);
        struct cgp_match allow = { CGP_MATCH_ALLOW };
        uint32_t max;
        int r;

        if (!used)
                return -ENOMEM;
        r = tags_in_use(used, MAX_TAG, &max);
        if (r < 0)
                return r;
        ports = map_open("cgp_ports", NULL, NULL);
        exact = map_open("cgp_port_exact", NULL, NULL);
        if (ports < 0 || exact < 0)
                return ports < 0 ? ports : exact;
        l->n = 0;
        for (uint32_t tag = 1; tag < max; tag++) {
                if (used[tag])
                        continue;
                for (int f = 0; f < 2; f++) {
                        struct cgp_port_key k = {
                                .prefixlen = CGP_PORT_KEY_FIXED_BITS + 16,
                                .policy = tag,
                                .dir = CGP_DIR_CONNECT,
                                .family = f == 0 ? CGP_AF_INET : CGP_AF_INET6,
                                .proto = CGP_PROTO_TCP,
                                .port = { (uint8_t) (port >> 8), (uint8_t) port },
                        };

                        if (bpf_map_update_elem(ports, &k, &allow, BPF_ANY) < 0 ||
                            bpf_map_update_elem(exact, &k, &allow, BPF_ANY) < 0)
                                return -errno;
                        l->keys[l->n++] = k;
                }
        }
        return 0;
}

/* How many of the leftover keys are still in map NAME. */
static long leftovers_remaining(const char *name, const Leftovers *l) {
        _cleanup_close_ int fd = -EBADF;
        struct cgp_port_key key, next;
        __u32 ks;
        long n = 0;

        fd = map_open(name, &ks, NULL);
        if (fd < 0)
                return fd;
        if (ks != sizeof key)
                return -EINVAL;
        for (void *prev = NULL; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
                key = next;
                for (size_t i = 0; i < l->n; i++)
                        if (memcmp(&key, &l->keys[i], sizeof key) == 0)
                                n++;
        }
        return n;
}

static void test_stale(void) {
        _cleanup_free_ char *json = NULL, *json2 = NULL, *released = NULL, *keep = NULL, *fresh = NULL;
        _cleanup_free_ Leftovers *l = calloc(1, sizeof(Leftovers));
        _cleanup_close_ int cgroups = -EBADF;
        _cleanup_(sink_freep) Sink *a4 = sink_open(SOCK_STREAM, 0, "127.0.0.1", P5_RELEASED),
             *b4 = sink_open(SOCK_STREAM, 0, "127.0.0.1", P5_LEFTOVER),
             *b6 = sink_open(SOCK_STREAM, 0, "::1", P5_LEFTOVER);
        unsigned long long orphans = 0;
        uint64_t id = 0;
        bool have;
        int r;

        if (!l)
                abort();

        /* A release killed half way: the cgroup's entry is gone, its rules are not. A later
         * policy stays, so that its tag is unused and below one in use. */
        released = policed("stale-released", "--connect-deny=any", "--connect-allow=tcp:48500");
        expect_req("#5 control, the policy that will be half released", released, &NOBODY,
                   TCP(CONNECT, "127.0.0.1", P5_RELEASED), 0, a4, true);
        keep = policed("stale-keep", "--connect-deny=any");
        cgroups = map_open("cgp_cgroups", NULL, NULL);
        r = cg_fs_get_id(released, &id);
        ok(r >= 0 && cgroups >= 0 && bpf_map_delete_elem(cgroups, &id) == 0,
           "#5 emulated: a release killed after removing the cgroup's entry, before its rules");

        /* An apply killed half way: rules written, no cgroup pointed at them. */
        r = write_leftovers(P5_LEFTOVER, l);
        ok(r >= 0 && l->n > 0, "#5 emulated: an apply killed after writing its rules (allow tcp:%u), under each of the "
           "%zu unused tags below one in use (%s)", P5_LEFTOVER, l->n / 2, r < 0 ? strerror(-r) : "ok");

        json = status_json();
        have = json_top_number(json, "orphaned_entries", &orphans);
        ok(have && orphans > 0, "#5 status --json shows the leftover entries: orphaned_entries > 0 (got %s%llu)",
           have ? "" : "no such field, ", orphans);

        /* The next policy gets none of those rules. */
        fresh = policed("stale-fresh", "--connect-deny=any");
        expect_req("#5 a new --connect-deny=any policy after a half release", fresh, &NOBODY,
                   TCP(CONNECT, "127.0.0.1", P5_RELEASED), EPERM, a4, false);
        expect_req("#5 a new --connect-deny=any policy after a half apply", fresh, &NOBODY,
                   TCP(CONNECT, "127.0.0.1", P5_LEFTOVER), EPERM, b4, false);
        expect_req("#5 a new --connect-deny=any policy after a half apply", fresh, &NOBODY,
                   TCP(CONNECT, "::1", P5_LEFTOVER), EPERM, b6, false);

        /* gc removes them, and only them. */
        r = run_cgpolicy(&(Cmd) {}, "gc", NULL);
        ok(r == 0, "#5 gc succeeds (exit %d)", r);
        json2 = status_json();
        orphans = 0;
        have = json_top_number(json2, "orphaned_entries", &orphans);
        ok(have && orphans == 0, "#5 after gc: status --json shows orphaned_entries 0 (got %s%llu)",
           have ? "" : "no such field, ", orphans);
        {
                long p = leftovers_remaining("cgp_ports", l), e = leftovers_remaining("cgp_port_exact", l);

                ok(p == 0 && e == 0, "#5 gc removed every leftover entry (%ld left in cgp_ports, %ld in cgp_port_exact)", p, e);
        }
        expect_req("#5 after gc", fresh, &NOBODY, TCP(CONNECT, "127.0.0.1", P5_LEFTOVER), EPERM,
                   b4, false);
        expect_req("#5 after gc, still none of the half-released rules", fresh, &NOBODY,
                   TCP(CONNECT, "127.0.0.1", P5_RELEASED), EPERM, a4, false);
}

/* ---- 6. Below a policed slice ---- */

static void test_below_slice(void) {
        _cleanup_free_ char *root_env = xasprintf("CGPOLICY_CGROUP_ROOT=%s", env.cg_path),
                            *slice = xasprintf("%s/seal6.slice", env.cg), *unit = NULL;
        const char *s = "#6 unit with bind programs and no policy, in a slice with a connect-only policy";
        _cleanup_(sink_freep) Sink *okc = sink_open(SOCK_STREAM, 0, "127.0.0.1", P6_OK);
        int r;

        r = run_cgpolicy(&(Cmd) { .env = root_env }, "apply", "--slice=seal6.slice", "--connect-deny=any",
                         "--connect-allow=tcp:48601", NULL);
        ok(r == 0, "#6 apply --slice=seal6.slice --connect-deny=any --connect-allow=tcp:48601 (exit %d)", r);
        ok(test_n_effective(slice, "connect4") == 1, "#6 apply attached the slice's programs");
        unit = test_env_cgroup(&env, "seal6.slice/unit6.service");
        ok(test_attach(&env, unit, CGP_DIRS(CGP_DIR_BIND)) == 0, "#6 the unit's bind programs attached, no policy applied");

        expect_req(s, unit, &NOBODY, TCP(BIND, "127.0.0.1", P6_BIND), EPERM, NULL, false);
        expect_req(s, unit, &NOBODY, UDP(BIND, "127.0.0.1", P6_BIND), EPERM, NULL, false);
        expect_req(s, unit, &NOBODY, TCP(BIND, "::1", P6_BIND), EPERM, NULL, false);
        expect_req(s, unit, &NOBODY, UDP(BIND, "::1", P6_BIND), EPERM, NULL, false);
        /* The slice's connect rules still hold for it. */
        expect_req(s, unit, &NOBODY, TCP(CONNECT, "127.0.0.1", P6_OK), 0, okc, true);
        expect_req(s, unit, &NOBODY, TCP(CONNECT, "127.0.0.1", P6_NO), EPERM, NULL, false);
}

/* ---- 7. A flood of denials ---- */

typedef struct SendArgs {
        unsigned port;
        unsigned n;             /* ports port..port+n-1, one sendto() each */
        unsigned seconds;       /* > 0: sendto(port) in a loop for that long */
        unsigned slot;          /* where to report the count of the loop */
} SendArgs;

static void act_send(Shared *res, const void *arg) {
        const SendArgs *a = arg;
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return;
        if (a->seconds > 0) {
                uint64_t end = now_ns() + (uint64_t) a->seconds * 1000000000ULL;
                unsigned long n = 0;

                sin.sin_port = htons((uint16_t) a->port);
                for (unsigned long i = 0; i % 1024 != 0 || now_ns() < end; i++)
                        if (sendto(fd, "f", 1, 0, (struct sockaddr *) &sin, sizeof sin) < 0 && errno == EPERM)
                                n++;
                res->v[a->slot] = (int) MIN(n, (unsigned long) INT32_MAX);
        } else
                for (unsigned i = 0; i < a->n && i < ELEMENTSOF(res->v); i++) {
                        sin.sin_port = htons((uint16_t) (a->port + i));
                        res->v[i] = sendto(fd, "b", 1, 0, (struct sockaddr *) &sin, sizeof sin) < 0 ? errno : 0;
                }
        close(fd);
}

static void test_flood(void) {
        _cleanup_free_ char *a = policed("flooda", "--connect-deny=any"), *b = policed("floodb", "--connect-deny=any"),
                            *den = NULL, *json = NULL, *st = NULL;
        enum { FLOODERS = 3 };
        pid_t pids[FLOODERS];
        SendArgs flood[FLOODERS], before = { P7_B, 3, 0, 0 }, during = { P7_B + 3, 3, 0, 0 };
        bool before_ok, during_ok, have;
        unsigned long long suppressed = 0, total = 0;
        unsigned missing_before = 0, missing_during = 0;

        before_ok = attack(b, &NOBODY, act_send, &before) && shared->v[0] == EPERM && shared->v[1] == EPERM &&
                    shared->v[2] == EPERM;
        ok(before_ok, "#7 unit B denied three times before the flood (EPERM)");

        /* Unit A: several processes refused in a tight loop for a few seconds; B is refused
         * three more times meanwhile. */
        memset(shared, 0, sizeof *shared);
        for (unsigned i = 0; i < FLOODERS; i++) {
                flood[i] = (SendArgs) { P7_A, 0, 4, 100 + i };
                pids[i] = attack_start(a, &NOBODY, act_send, &flood[i]);
        }
        usleep(1500000);
        {
                pid_t p = attack_start(b, &NOBODY, act_send, &during);

                during_ok = attack_wait(p, &NOBODY) && shared->v[0] == EPERM && shared->v[1] == EPERM &&
                            shared->v[2] == EPERM;
        }
        for (unsigned i = 0; i < FLOODERS; i++)
                if (attack_wait(pids[i], &NOBODY))
                        total += (unsigned long long) shared->v[100 + i];
        ok(during_ok, "#7 unit B denied three times during the flood (EPERM)");
        diag("unit A was refused %llu times", total);

        ok(run_cgpolicy(&(Cmd) { .out = &den }, "denials", NULL) == 0, "#7 denials succeeds");
        for (unsigned i = 0; i < 6; i++) {
                char port[32];

                snprintf(port, sizeof port, "127.0.0.1:%u ", P7_B + i);
                if (!has_line(den, "floodb.service pid", port))
                        (*(i < 3 ? &missing_before : &missing_during))++;
        }
        ok(missing_before == 0, "#7 after the flood, denials still lists B's three records from before it (%u missing)",
           missing_before);
        ok(missing_during == 0, "#7 after the flood, denials lists B's three records from during it (%u missing)",
           missing_during);

        json = status_json();
        have = json_unit_number(json, "flooda.service", "suppressed", &suppressed);
        ok(have && suppressed > 0, "#7 status --json: unit A's \"suppressed\" (refusals not recorded) is > 0 (got %s%llu)",
           have ? "" : "no such field, ", suppressed);
        st = status_of("flooda.service");
        ok(strstr(st, "not recorded (rate limit)") != NULL, "#7 status flooda.service: \"… not recorded (rate limit)\"");
        if (!strstr(st, "not recorded (rate limit)"))
                diag_lines("%s", st);
}

/* ---- 8. The pins, to a root process without capabilities ---- */

#define MAX_PINS 128

typedef struct PinArgs {
        char *paths[MAX_PINS];
        size_t n;
        const char *pin_dir;
        const char *victim;     /* fs path of another unit's cgroup */
} PinArgs;

/* Where act_pins() reports. */
enum {
        V_GET = 0,              /* + pin: bpf_obj_get() read-write */
        V_GET_RO = 200,         /* + pin: bpf_obj_get() with BPF_F_RDONLY (maps) */
        V_CHMOD = 400,          /* + pin */
        V_CHOWN = 600,          /* + pin */
        V_CHMOD_DIR = 800,
        V_CHOWN_DIR,
        V_DETACH = 810,         /* + hook: detach with the pinned program (1000 + errno: no fd) */
        V_DETACH_NOFD = 850,    /* + hook: detach without a program fd */
};

static PinArgs *pins_collecting;

static int collect_pin(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_F && pins_collecting->n < MAX_PINS)
                pins_collecting->paths[pins_collecting->n++] = strdup(path);
        return 0;
}

static bool is_map_pin(const char *path) {
        return strstr(path, "/maps/") != NULL;
}

static void act_pins(Shared *res, const void *arg) {
        const PinArgs *a = arg;
        _cleanup_close_ int victim = open(a->victim, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        unsigned h_i = 0;

        for (size_t i = 0; i < a->n; i++) {
                LIBBPF_OPTS(bpf_obj_get_opts, ro, .file_flags = BPF_F_RDONLY);
                int fd = bpf_obj_get(a->paths[i]);

                res->v[V_GET + i] = fd < 0 ? errno : 0;
                safe_close(fd);
                if (is_map_pin(a->paths[i])) {
                        fd = bpf_obj_get_opts(a->paths[i], &ro);
                        res->v[V_GET_RO + i] = fd < 0 ? errno : 0;
                        safe_close(fd);
                }
                /* Modes and owners as they are on main: a success changes nothing there. */
                res->v[V_CHMOD + i] = chmod(a->paths[i], 0600) < 0 ? errno : 0;
                res->v[V_CHOWN + i] = chown(a->paths[i], 0, 0) < 0 ? errno : 0;
        }
        res->v[V_CHMOD_DIR] = chmod(a->pin_dir, 0700) < 0 ? errno : 0;
        res->v[V_CHOWN_DIR] = chown(a->pin_dir, 0, 0) < 0 ? errno : 0;

        FOREACH_CGP_HOOK(h) {
                _cleanup_free_ char *p = xasprintf("%s/%s", a->pin_dir, h->name);
                int fd = bpf_obj_get(p);

                if (fd < 0)
                        res->v[V_DETACH + h_i] = 1000 + errno;
                else
                        res->v[V_DETACH + h_i] = bpf_prog_detach2(fd, victim, h->attach_type) < 0 ? errno : 0;
                safe_close(fd);
                res->v[V_DETACH_NOFD + h_i] = bpf_prog_detach(victim, h->attach_type) < 0 ? errno : 0;
                h_i++;
        }
}

typedef struct ModeChange {
        char *path;
        mode_t mode;            /* to put back */
} ModeChange;

/* As the owner (fsuid), chmod path to mode, noting its old mode in c[*n]. */
static void open_up(const char *path, mode_t mode, ModeChange *c, size_t *n) {
        struct stat st;

        if (stat(path, &st) < 0 || st.st_uid != PIN_OWNER || chmod(path, mode) < 0)
                return;
        c[(*n)++] = (ModeChange) { strdup(path), st.st_mode & 07777 };
}

/* With CAP_SETUID: take the pin owner's uid as fsuid, chmod the directories and pins it owns
 * open, and open the pins (as the pin owner, else as root). v[0]: 1 when the fsuid could be
 * taken, v[1]: how many directories and pins were chmod()ed, v[2]: how many pins opened. The
 * modes are put back. */
static void act_pins_setuid(Shared *res, const void *arg) {
        const PinArgs *a = arg;
        ModeChange c[2 * MAX_PINS + 1];
        size_t n = 0;

        (void) setfsuid(PIN_OWNER);
        res->v[0] = setfsuid((uid_t) -1) == (int) PIN_OWNER;
        if (!res->v[0])
                return;
        open_up(a->pin_dir, 0700, c, &n);
        for (size_t i = 0; i < a->n; i++) {
                _cleanup_free_ char *dir = strndup(a->paths[i], (size_t) (strrchr(a->paths[i], '/') - a->paths[i]));
                bool seen = streq(dir, a->pin_dir);
                int fd;

                for (size_t k = 0; k < n && !seen; k++)
                        seen = streq(c[k].path, dir);
                if (!seen)
                        open_up(dir, 0700, c, &n);
                open_up(a->paths[i], 0600, c, &n);
                fd = bpf_obj_get(a->paths[i]);
                if (fd < 0) {
                        (void) setfsuid(0);
                        fd = bpf_obj_get(a->paths[i]);
                        (void) setfsuid(PIN_OWNER);
                }
                if (fd >= 0)
                        res->v[2]++;
                safe_close(fd);
        }
        res->v[1] = (int) n;
        while (n > 0) {
                n--;
                (void) chmod(c[n].path, c[n].mode);
        }
        (void) setfsuid(0);
}

static bool refused(int e) {
        return e == EACCES || e == EPERM;
}

static void test_pins(void) {
        _cleanup_free_ char *victim = policed("victim8", "--connect-deny=any"),
                            *attacker = policed("attacker8", "--connect-deny=any");
        _cleanup_free_ PinArgs *a = calloc(1, sizeof(PinArgs));
        const TestCred *creds[] = { &ROOT_NOCAPS, &ROOT_DAEMON };
        unsigned before[CGP_HOOKS_MAX] = {}, h_i = 0, changed = 0;
        mode_t modes[MAX_PINS + 1] = {};
        _cleanup_(sink_freep) Sink *sink = sink_open(SOCK_STREAM, 0, "127.0.0.1", P9);
        struct stat st = {};

        if (!a)
                abort();
        if (stat(env.pin_dir, &st) < 0)
                st = (struct stat) { .st_mode = 07777 };
        ok(st.st_uid == PIN_OWNER && (st.st_mode & 07777) == 0,
           "#8 the pin directory belongs to the pin user ($CGPOLICY_PIN_OWNER=%u), mode 0000 (owner %u, mode %04o)",
           PIN_OWNER, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));

        a->pin_dir = env.pin_dir;
        a->victim = victim;
        pins_collecting = a;
        (void) nftw(env.pin_dir, collect_pin, 16, FTW_PHYS);
        pins_collecting = NULL;
        ok(a->n >= CGP_HOOKS_MAX, "#8 %zu pins found under the pin directory", a->n);
        FOREACH_CGP_HOOK(h)
                before[h_i++] = test_n_effective(victim, h->name);

        for (size_t c = 0; c < ELEMENTSOF(creds); c++) {
                char opened[2048] = "", opened_ro[2048] = "", moded[2048] = "";
                unsigned n_open = 0, n_open_ro = 0, n_maps = 0, n_moded = 0, n_detached = 0;
                const char *who = creds[c]->name;

                if (!attack(attacker, creds[c], act_pins, a)) {
                        ok(false, "#8 (%s): the attacker ran", who);
                        continue;
                }
                for (size_t i = 0; i < a->n; i++) {
                        const char *rel = a->paths[i] + strlen(env.pin_dir) + 1;

                        if (!refused(shared->v[V_GET + i])) {
                                n_open++;
                                snprintf(opened + strlen(opened), sizeof opened - strlen(opened), " %s (%s)", rel,
                                         errno_name(shared->v[V_GET + i]));
                        }
                        if (is_map_pin(a->paths[i])) {
                                n_maps++;
                                if (!refused(shared->v[V_GET_RO + i])) {
                                        n_open_ro++;
                                        snprintf(opened_ro + strlen(opened_ro), sizeof opened_ro - strlen(opened_ro),
                                                 " %s", rel);
                                }
                        }
                        if (!refused(shared->v[V_CHMOD + i]) || !refused(shared->v[V_CHOWN + i])) {
                                n_moded++;
                                snprintf(moded + strlen(moded), sizeof moded - strlen(moded), " %s (chmod %s, chown %s)",
                                         rel, errno_name(shared->v[V_CHMOD + i]), errno_name(shared->v[V_CHOWN + i]));
                        }
                }
                ok(n_open == 0, "#8 (%s): bpf_obj_get() of each of the %zu pins is refused with EACCES/EPERM (%u opened:%s)",
                   who, a->n, n_open, opened);
                ok(n_open_ro == 0, "#8 (%s): bpf_obj_get(BPF_F_RDONLY) of each of the %u map pins is refused (%u opened:%s)",
                   who, n_maps, n_open_ro, opened_ro);
                ok(shared->v[V_CHMOD_DIR] == EPERM, "#8 (%s): chmod() of the pin directory → EPERM (got %s)", who,
                   errno_name(shared->v[V_CHMOD_DIR]));
                ok(shared->v[V_CHOWN_DIR] == EPERM, "#8 (%s): chown() of the pin directory → EPERM (got %s)", who,
                   errno_name(shared->v[V_CHOWN_DIR]));
                ok(n_moded == 0, "#8 (%s): chmod() and chown() of each pin are refused with EPERM/EACCES (%u were not:%s)",
                   who, n_moded, moded);
                for (unsigned h = 0; h < CGP_HOOKS_MAX; h++)
                        if (shared->v[V_DETACH + h] == 0 || shared->v[V_DETACH_NOFD + h] == 0)
                                n_detached++;
                ok(n_detached == 0, "#8 (%s): cannot detach any of our programs from another unit's cgroup (%u detached)", who,
                   n_detached);
        }

        /* The pin owner is a uid like any other to CAP_SETUID, which many root daemons keep. */
        for (size_t i = 0; i <= a->n; i++)
                if (stat(i < a->n ? a->paths[i] : env.pin_dir, &st) == 0)
                        modes[i] = st.st_mode;
        if (attack(attacker, &ROOT_DAEMON, act_pins_setuid, a)) {
                unsigned moved = 0;

                ok(shared->v[0] && shared->v[2] > 0,
                   "#8 kernel level (the seal's InaccessiblePaths=/sys/fs/bpf stops it: VM suite): %s takes the pin owner's "
                   "uid with setfsuid(), chmod()s what it owns (%d directories and pins) and opens %d of the %zu pins",
                   ROOT_DAEMON.name, shared->v[1], shared->v[2], a->n);
                for (size_t i = 0; i <= a->n; i++)
                        if (stat(i < a->n ? a->paths[i] : env.pin_dir, &st) < 0 || st.st_mode != modes[i])
                                moved++;
                ok(moved == 0, "#8 (the attacker put the modes of the pins and directories back: %u differ)", moved);
        }

        h_i = 0;
        FOREACH_CGP_HOOK(h)
                if (test_n_effective(victim, h->name) != before[h_i++])
                        changed++;
        ok(changed == 0, "#8 the other unit's programs are all still in force (%u hooks changed)", changed);
        expect_req("#8 the other unit is still policed", victim, &NOBODY,
                   TCP(CONNECT, "127.0.0.1", P9), EPERM, sink, false);
        for (size_t i = 0; i < a->n; i++)
                free(a->paths[i]);
}

/* ---- 9. cgpolicy apply/release run by that process ---- */

static void test_helper_unprivileged(void) {
        _cleanup_free_ char *cg = policed("victim9", "--connect-deny=any");
        const TestCred *creds[] = { &ROOT_NOCAPS, &ROOT_DAEMON };
        _cleanup_(sink_freep) Sink *sink = sink_open(SOCK_STREAM, 0, "127.0.0.1", P9 + 1);

        for (size_t c = 0; c < ELEMENTSOF(creds); c++) {
                _cleanup_free_ char *st0 = status_of("victim9.service"), *st1 = NULL, *st2 = NULL, *st3 = NULL,
                                    *out = NULL, *out2 = NULL;
                const char *who = creds[c]->name;
                int r;

                r = run_cgpolicy(&(Cmd) { .cg = cg, .as = creds[c], .out = &out }, "apply", "--unit=victim9.service",
                                 "--connect-allow=any", NULL);
                ok(r == 1, "#9 (%s): cgpolicy apply --connect-allow=any in its own cgroup → exit status 1 (got %d)", who, r);
                diag_lines("%s", out ? out : "");
                st1 = status_of("victim9.service");
                ok(streq(st0, st1), "#9 (%s): status of the unit unchanged by that apply", who);
                if (!streq(st0, st1))
                        diag_lines("before:\n%s\nafter:\n%s", st0, st1);
                expect_req("#9 after the refused apply", cg, &NOBODY,
                           TCP(CONNECT, "127.0.0.1", P9 + 1), EPERM, sink, false);

                st2 = status_of("victim9.service");
                r = run_cgpolicy(&(Cmd) { .cg = cg, .as = creds[c], .out = &out2 }, "release", "--unit=victim9.service", NULL);
                ok(r == 1, "#9 (%s): cgpolicy release in its own cgroup → exit status 1 (got %d)", who, r);
                st3 = status_of("victim9.service");
                ok(streq(st2, st3), "#9 (%s): status of the unit unchanged by that release", who);
                if (!streq(st2, st3))
                        diag_lines("before:\n%s\nafter:\n%s", st2, st3);
                ok(has_line(st3, "connect-deny: any", NULL), "#9 (%s): status still shows the unit's connect-deny: any", who);
                expect_req("#9 after the refused release", cg, &NOBODY,
                           TCP(CONNECT, "127.0.0.1", P9 + 1), EPERM, sink, false);
        }
}

/* ---- 10. Moving out through cgroup.procs ---- */

typedef struct MoveArgs {
        const char *procs;      /* cgroup.procs of the unpoliced sibling */
        const char *name;       /* its last component, for /proc/self/cgroup */
} MoveArgs;

static void act_move(Shared *res, const void *arg) {
        const MoveArgs *a = arg;
        static const Req r = { .op = OP_CONNECT, .type = SOCK_STREAM, .protocol = 0, .addr = "127.0.0.1", .port = P10 };
        char pid[32], line[1024] = "";
        int fd;

        res->v[0] = do_req(&r);
        snprintf(pid, sizeof pid, "%d\n", (int) getpid());
        fd = open(a->procs, O_WRONLY | O_CLOEXEC);
        res->v[1] = fd < 0 || write(fd, pid, strlen(pid)) < 0 ? errno : 0;
        safe_close(fd);
        {
                _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");

                while (f && fgets(line, sizeof line, f))
                        if (startswith(line, "0::"))
                                res->v[2] = strstr(line, a->name) != NULL;
        }
        res->v[3] = do_req(&r);
}

static void test_move_out(void) {
        _cleanup_free_ char *cg = policed("mover10", "--connect-deny=any"), *free_cg = test_env_cgroup(&env, "free10"),
                            *procs = xasprintf("%s/cgroup.procs", free_cg);
        const char *s = "#10 kernel level (the seal's ProtectControlGroups= stops it under systemd: VM suite)";
        MoveArgs a = { procs, "/free10" };
        _cleanup_(sink_freep) Sink *sink = sink_open(SOCK_STREAM, 0, "127.0.0.1", P10);

        sink_drain(sink);
        if (!attack(cg, &ROOT_NOCAPS, act_move, &a)) {
                ok(false, "#10 the attacker ran");
                return;
        }
        ok(shared->v[0] == EPERM, "#10 control: before moving, connect tcp 127.0.0.1:%u → EPERM (got %s)", P10,
           errno_name(shared->v[0]));
        ok(shared->v[1] == 0 && shared->v[2], "%s: %s writes its pid into cgroup.procs of an unpoliced sibling: "
           "it moves (%s)", s, ROOT_NOCAPS.name, errno_name(shared->v[1]));
        ok(shared->v[3] == 0, "%s: after the move its new sockets are unpoliced: connect → success (got %s)", s,
           errno_name(shared->v[3]));
        expect_delivery(sink, true, s);
}

/* ---- a packet socket on lo: what leaves through the loopback device ---- */

static int sniffer_open(void) {
        struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
        int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));

        if (fd < 0)
                die("AF_PACKET socket: %m");
        ll.sll_ifindex = (int) if_nametoindex("lo");
        if (bind(fd, (struct sockaddr *) &ll, sizeof ll) < 0)
                die("bind the packet socket to lo: %m");
        return fd;
}

typedef bool (*PacketMatch)(const uint8_t *ip, size_t len, const void *userdata);

/* Outgoing packets on lo within timeout_ms that match (the drained ones before are dropped by
 * the caller with sniffer_count(..., 0)). Returns as soon as one matches when stop_at_first. */
static unsigned sniffer_count(int fd, PacketMatch match, const void *userdata, int timeout_ms, bool stop_at_first) {
        uint64_t end = now_ns() + (uint64_t) timeout_ms * 1000000ULL;
        unsigned n = 0;

        for (;;) {
                struct pollfd p = { fd, POLLIN, 0 };
                uint8_t b[4096];
                struct sockaddr_ll ll;
                socklen_t sl = sizeof ll;
                ssize_t k;
                uint64_t now;

                while ((k = recvfrom(fd, b, sizeof b, MSG_DONTWAIT, (struct sockaddr *) &ll, &sl)) >= 0) {
                        sl = sizeof ll;
                        /* lo frames have an Ethernet header; each packet is seen going out and
                         * coming in: count it once. */
                        if (ll.sll_pkttype != PACKET_OUTGOING || k <= ETH_HLEN)
                                continue;
                        if (match && match(b + ETH_HLEN, (size_t) k - ETH_HLEN, userdata))
                                n++;
                }
                now = now_ns();
                if ((stop_at_first && n > 0) || now >= end)
                        return n;
                (void) poll(&p, 1, (int) ((end - now) / 1000000ULL) + 1);
                test_check_interrupted();
        }
}

static void sniffer_drain(int fd) {
        (void) sniffer_count(fd, NULL, NULL, 0, false);
}

/* An IPv4 packet with a loose or strict source route option, or to addr (a struct in_addr). */
static bool match_ipv4_srr_or_to(const uint8_t *ip, size_t len, const void *userdata) {
        const struct in_addr *to = userdata;
        size_t ihl;

        if (len < 20 || ip[0] >> 4 != 4)
                return false;
        if (memcmp(ip + 16, &to->s_addr, 4) == 0)
                return true;
        ihl = (size_t) (ip[0] & 15) * 4;
        for (size_t i = 20; i < ihl && i < len; ) {
                uint8_t t = ip[i];

                if (t == 0)
                        break;
                if (t == 1) {
                        i++;
                        continue;
                }
                if (t == 0x83 || t == 0x89)
                        return true;
                if (i + 1 >= len || ip[i + 1] < 2)
                        break;
                i += ip[i + 1];
        }
        return false;
}

/* An IPv4 UDP packet to addr:port (struct sockaddr_in). */
static bool match_ipv4_udp_to(const uint8_t *ip, size_t len, const void *userdata) {
        const struct sockaddr_in *to = userdata;
        size_t ihl;

        if (len < 20 || ip[0] >> 4 != 4 || ip[9] != IPPROTO_UDP)
                return false;
        ihl = (size_t) (ip[0] & 15) * 4;
        return len >= ihl + 4 && memcmp(ip + 16, &to->sin_addr, 4) == 0 && memcmp(ip + ihl + 2, &to->sin_port, 2) == 0;
}

/* An IPv6 packet with a routing header (the first extension header: how the kernel builds it),
 * or to addr (a struct in6_addr). */
static bool match_ipv6_rh_or_to(const uint8_t *ip, size_t len, const void *userdata) {
        const struct in6_addr *to = userdata;

        if (len < 40 || ip[0] >> 4 != 6)
                return false;
        return ip[6] == IPPROTO_ROUTING || memcmp(ip + 24, to, 16) == 0;
}

/* An IPv6 UDP packet to addr (struct sockaddr_in6), without extension headers. */
static bool match_ipv6_udp_to(const uint8_t *ip, size_t len, const void *userdata) {
        const struct sockaddr_in6 *to = userdata;

        return len >= 44 && ip[0] >> 4 == 6 && ip[6] == IPPROTO_UDP && memcmp(ip + 24, &to->sin6_addr, 16) == 0 &&
               memcmp(ip + 42, &to->sin6_port, 2) == 0;
}

/* ---- 11. Source routes, and packet sockets ---- */

typedef enum SrrMode {
        SRR_PLAIN_UDP,          /* control: no option */
        SRR_UDP_SETSOCKOPT,     /* IP_OPTIONS LSRR, sendto() */
        SRR_UDP_CMSG,           /* sendmsg() with an IP_RETOPTS cmsg */
        SRR_TCP_SETSOCKOPT,     /* IP_OPTIONS LSRR, non-blocking connect() */
        RH_PLAIN_UDP,           /* control: IPv6 without routing header */
        RH4_UDP,                /* IPV6_RTHDR type 4 (SRH), sendto() */
        RH4_TCP,                /* IPV6_RTHDR type 4, non-blocking connect() */
        RH2_UDP,                /* IPV6_RTHDR type 2 (Mobile IPv6), sendto() */
        RH2_UDP_CMSG,           /* type 2 in an IPV6_RTHDR cmsg */
} SrrMode;

/* LSRR through the first hop 127.0.0.2; the kernel appends the final destination. */
static const uint8_t lsrr[8] = { 0x83, 7, 4, 127, 0, 0, 2, 1 /* NOP */ };

struct srh {
        uint8_t nexthdr, hdrlen, type, segments_left, first_segment, flags;
        uint16_t tag;
        struct in6_addr seg[2];
};

struct rt2 {
        uint8_t nexthdr, hdrlen, type, segments_left;
        uint32_t reserved;
        struct in6_addr addr;
};

/* v[0]: setsockopt() (or 0), v[1]: the sendto()/sendmsg()/connect(). */
static void act_srr(Shared *res, const void *arg) {
        SrrMode m = *(const SrrMode *) arg;
        bool v6 = m >= RH_PLAIN_UDP, tcp = m == SRR_TCP_SETSOCKOPT || m == RH4_TCP;
        struct sockaddr_storage d;
        socklen_t dl;
        struct srh srh = { .hdrlen = 4, .type = 4, .segments_left = 1, .first_segment = 1 };
        struct rt2 rt2 = { .hdrlen = 2, .type = 2, .segments_left = 1 };
        char cbuf[CMSG_SPACE(sizeof(struct rt2)) + CMSG_SPACE(sizeof lsrr)] = {};
        struct iovec iov = { (void *) "s", 1 };
        struct msghdr msg = { .msg_name = &d, .msg_iov = &iov, .msg_iovlen = 1 };
        struct cmsghdr *c;
        int fd;

        (void) inet_pton(AF_INET6, "::1", &srh.seg[0]);
        (void) inet_pton(AF_INET6, "fd00::2", &srh.seg[1]);
        (void) inet_pton(AF_INET6, "fd00::2", &rt2.addr);
        (void) sockaddr_parse(v6 ? "::1" : "127.0.0.3", P11, &d, &dl);
        msg.msg_namelen = dl;
        fd = socket(v6 ? AF_INET6 : AF_INET, (tcp ? SOCK_STREAM | SOCK_NONBLOCK : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                res->v[0] = 1000 + errno;
                return;
        }
        switch (m) {
        case SRR_UDP_SETSOCKOPT:
        case SRR_TCP_SETSOCKOPT:
                res->v[0] = setsockopt(fd, IPPROTO_IP, IP_OPTIONS, lsrr, sizeof lsrr) < 0 ? errno : 0;
                break;
        case RH4_UDP:
        case RH4_TCP:
                res->v[0] = setsockopt(fd, IPPROTO_IPV6, IPV6_RTHDR, &srh, sizeof srh) < 0 ? errno : 0;
                break;
        case RH2_UDP:
                res->v[0] = setsockopt(fd, IPPROTO_IPV6, IPV6_RTHDR, &rt2, sizeof rt2) < 0 ? errno : 0;
                break;
        case SRR_UDP_CMSG:
        case RH2_UDP_CMSG:
                msg.msg_control = cbuf;
                msg.msg_controllen = m == SRR_UDP_CMSG ? CMSG_SPACE(sizeof lsrr) : CMSG_SPACE(sizeof rt2);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = m == SRR_UDP_CMSG ? IPPROTO_IP : IPPROTO_IPV6;
                c->cmsg_type = m == SRR_UDP_CMSG ? IP_RETOPTS : IPV6_RTHDR;
                c->cmsg_len = m == SRR_UDP_CMSG ? CMSG_LEN(sizeof lsrr) : CMSG_LEN(sizeof rt2);
                memcpy(CMSG_DATA(c), m == SRR_UDP_CMSG ? (const void *) lsrr : (const void *) &rt2,
                       m == SRR_UDP_CMSG ? sizeof lsrr : sizeof rt2);
                break;
        default:
                break;
        }
        if (res->v[0] == 0) {
                if (tcp)
                        res->v[1] = connect(fd, (struct sockaddr *) &d, dl) < 0 ? errno : 0;
                else
                        res->v[1] = sendmsg(fd, &msg, 0) < 0 ? errno : 0;
        }
        close(fd);
}

/* v[0]: socket(AF_PACKET), v[1]: writing a handmade IPv6/UDP frame to [::1]:P11_PACKET on lo.
 * (IPv6: an IPv4 frame to 127.0.0.1 from 127.0.0.1 entering through lo would be a martian.) */
static void act_packet(Shared *res, const void *arg) {
        uint8_t f[ETH_HLEN + 40 + 8 + 4] = {};
        uint8_t *ip = f + ETH_HLEN, *udp = ip + 40;
        struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IPV6), .sll_halen = ETH_ALEN };
        uint32_t sum = 8 + 4 + IPPROTO_UDP;     /* pseudo header: length, next header */
        uint16_t c;
        int fd;

        (void) arg;
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        res->v[0] = fd < 0 ? errno : 0;
        if (fd < 0)
                return;
        f[12] = ETH_P_IPV6 >> 8;
        f[13] = ETH_P_IPV6 & 0xff;
        ip[0] = 0x60;
        ip[5] = 8 + 4;                          /* payload length */
        ip[6] = IPPROTO_UDP;
        ip[7] = 64;
        ip[23] = ip[39] = 1;                    /* ::1 → ::1 */
        udp[0] = 40000 >> 8;
        udp[1] = 40000 & 0xff;
        udp[2] = P11_PACKET >> 8;
        udp[3] = P11_PACKET & 0xff;
        udp[5] = 8 + 4;
        memcpy(udp + 8, "pkt!", 4);
        for (int i = 8; i < 40; i += 2)
                sum += (uint32_t) (ip[i] << 8 | ip[i + 1]);
        for (int i = 0; i < 8 + 4; i += 2)
                sum += (uint32_t) (udp[i] << 8 | udp[i + 1]);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        c = (uint16_t) ~sum ?: 0xffff;
        udp[6] = (uint8_t) (c >> 8);
        udp[7] = (uint8_t) c;
        ll.sll_ifindex = (int) if_nametoindex("lo");
        res->v[1] = sendto(fd, f, sizeof f, 0, (struct sockaddr *) &ll, sizeof ll) < 0 ? errno : 0;
        close(fd);
}

static void test_source_routes(void) {
        _cleanup_free_ char *cg = policed("srr", "--connect-deny=any", "--connect-allow=127.0.0.3:49100",
                                          "--connect-allow=[::1]:49100");
        int sniffer = sniffer_open();
        struct in_addr first_hop;
        struct in6_addr segment;
        struct sockaddr_in plain4 = { .sin_family = AF_INET, .sin_port = htons(P11) };
        struct sockaddr_in6 plain6 = { .sin6_family = AF_INET6, .sin6_port = htons(P11) };
        _cleanup_(sink_freep) Sink *final4 = sink_open(SOCK_DGRAM, 0, "127.0.0.3", P11), *hop4 = sink_open(SOCK_DGRAM, 0, "127.0.0.2", P11),
             *final6 = sink_open(SOCK_DGRAM, 0, "::1", P11), *pk = sink_open(SOCK_DGRAM, 0, "::1", P11_PACKET);
        static const struct {
                SrrMode mode;
                const TestCred *as;
                const char *what;
        } cases[] = {
                { SRR_UDP_SETSOCKOPT, &ROOT_RAW, "udp, IP_OPTIONS LSRR via 127.0.0.2, sendto 127.0.0.3" },
                { SRR_UDP_CMSG, &ROOT_RAW, "udp, sendmsg 127.0.0.3 with an IP_RETOPTS cmsg LSRR via 127.0.0.2" },
                { SRR_TCP_SETSOCKOPT, &ROOT_RAW, "tcp, IP_OPTIONS LSRR via 127.0.0.2, connect 127.0.0.3" },
                { RH4_UDP, &NOBODY, "udp, IPV6_RTHDR type 4 (segments [::1], fd00::2), sendto [::1]" },
                { RH4_TCP, &NOBODY, "tcp, IPV6_RTHDR type 4 (segments [::1], fd00::2), connect [::1]" },
                { RH2_UDP, &NOBODY, "udp, IPV6_RTHDR type 2 (fd00::2), sendto [::1]" },
                { RH2_UDP_CMSG, &NOBODY, "udp, sendmsg [::1] with an IPV6_RTHDR type 2 cmsg (fd00::2)" },
        };
        SrrMode m;
        unsigned n;

        (void) inet_pton(AF_INET, "127.0.0.2", &first_hop);
        (void) inet_pton(AF_INET6, "fd00::2", &segment);
        (void) inet_pton(AF_INET, "127.0.0.3", &plain4.sin_addr);
        (void) inet_pton(AF_INET6, "::1", &plain6.sin6_addr);

        /* Controls: the destinations are allowed, and the packet socket sees what leaves. */
        sniffer_drain(sniffer);
        sink_drain(final4);
        m = SRR_PLAIN_UDP;
        if (attack(cg, &ROOT_RAW, act_srr, &m))
                ok(shared->v[1] == 0, "#11 control (%s): udp sendto 127.0.0.3:%u, allowed → success (got %s)", ROOT_RAW.name,
                   P11, errno_name(shared->v[1]));
        n = sniffer_count(sniffer, match_ipv4_udp_to, &plain4, 5000, true);
        ok(n > 0, "#11 control: the packet socket on lo sees the datagram to 127.0.0.3:%u", P11);
        expect_delivery(final4, true, "#11 control: udp sendto 127.0.0.3");
        sniffer_drain(sniffer);
        m = RH_PLAIN_UDP;
        if (attack(cg, &NOBODY, act_srr, &m))
                ok(shared->v[1] == 0, "#11 control (%s): udp sendto [::1]:%u, allowed → success (got %s)", NOBODY.name, P11,
                   errno_name(shared->v[1]));
        n = sniffer_count(sniffer, match_ipv6_udp_to, &plain6, 5000, true);
        ok(n > 0, "#11 control: the packet socket on lo sees the datagram to [::1]:%u", P11);
        expect_delivery(final6, true, "#11 control: udp sendto [::1]");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                bool v6 = cases[i].mode >= RH_PLAIN_UDP, tcp = cases[i].mode == SRR_TCP_SETSOCKOPT || cases[i].mode == RH4_TCP;
                bool type2 = cases[i].mode == RH2_UDP || cases[i].mode == RH2_UDP_CMSG;
                int opt, call;

                sniffer_drain(sniffer);
                sink_drain(hop4);
                if (!attack(cg, cases[i].as, act_srr, &cases[i].mode)) {
                        ok(false, "#11 %s: the attacker ran", cases[i].what);
                        continue;
                }
                opt = shared->v[0];
                call = shared->v[1];
                if (type2 && (opt == EINVAL || call == EINVAL)) {
                        skip("#11 (%s) %s: type 2 routing headers need CONFIG_IPV6_MIP6 (off in this kernel: EINVAL; "
                             "on in Debian's)", cases[i].as->name, cases[i].what);
                        continue;
                }
                /* Refused when the option is set, or when the packet is sent. */
                if (tcp)
                        ok(opt == EPERM || (opt == 0 && (call == EINPROGRESS || call == EPERM)),
                           "#11 (%s) %s: setsockopt() EPERM, or connect() EINPROGRESS/EPERM (got %s, %s)",
                           cases[i].as->name, cases[i].what, errno_name(opt), errno_name(call));
                else
                        ok(opt == EPERM || (opt == 0 && call == EPERM), "#11 (%s) %s → EPERM (got setsockopt() %s, send %s)",
                           cases[i].as->name, cases[i].what, errno_name(opt), errno_name(call));
                n = v6 ? sniffer_count(sniffer, match_ipv6_rh_or_to, &segment, 1000, false)
                       : sniffer_count(sniffer, match_ipv4_srr_or_to, &first_hop, 1000, false);
                ok(n == 0, "#11 (%s) %s: no %s leaves on lo (%u seen)", cases[i].as->name, cases[i].what,
                   v6 ? "packet with a routing header" : tcp ? "SYN to the first hop" : "packet to the first hop", n);
                if (!v6 && !tcp)
                        expect_delivery(hop4, false, "#11 LSRR");
        }

        /* AF_PACKET: no inet hook runs; only the seal (no CAP_NET_RAW) keeps it out. */
        sink_drain(pk);
        if (attack(cg, &ROOT_RAW, act_packet, NULL)) {
                ok(shared->v[0] == 0 && shared->v[1] == 0,
                   "#11 kernel level (the seal removes CAP_NET_RAW): %s in a unit whose policy refuses [::1]:%u opens an "
                   "AF_PACKET socket and writes a handmade UDP frame to it on lo (socket %s, send %s)", ROOT_RAW.name, P11_PACKET,
                   errno_name(shared->v[0]), errno_name(shared->v[1]));
                expect_delivery(pk, true, "#11 kernel level: the AF_PACKET frame to a refused destination");
        }
        close(sniffer);
}

/* ---- 12. Names ---- */

static unsigned count_records(void) {
        _cleanup_(closedirp) DIR *d = opendir(env.rundir);
        unsigned n = 0;

        for (struct dirent *de; d && (de = readdir(d)); )
                if (de->d_name[0] != '.')
                        n++;
        return n;
}

static void test_names(void) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "names12");
        static const char *const bad[] = {
                "--unit=evil\nUNIT=forged",
                "--unit=evil\nUNIT=forged\nARG=--connect-allow=any",
                "--unit=../../forged.service",
                "--unit=forged\x7f.service",
        };
        static const char *const shown[] = { "evil\\nUNIT=forged", "evil\\nUNIT=forged\\nARG=…", "../../forged.service",
                                             "forged\\x7f.service" };

        ok(test_attach(&env, cg, CGP_DIRS_ALL) == 0, "#12 programs attached to a cgroup");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *st = NULL, *json = NULL;
                unsigned before = count_records(), after;
                int r;

                r = run_cgpolicy(&(Cmd) { .cg = cg }, "apply", bad[i], "--connect-deny=any", NULL);
                after = count_records();
                ok(r == 2, "#12 apply --unit=%s → exit status 2 (got %d)", shown[i], r);
                ok(after == before, "#12 apply --unit=%s writes no record (%u → %u)", shown[i], before, after);
                st = status_of(NULL);
                json = status_json();
                ok(!strstr(st, "forged"), "#12 after apply --unit=%s: status shows no unit named \"forged\"", shown[i]);
                ok(!strstr(json, "forged"), "#12 after apply --unit=%s: status --json shows no unit named \"forged\"",
                   shown[i]);
                if (strstr(st, "forged"))
                        diag_lines("%s", st);
                r = run_cgpolicy(&(Cmd) { .cg = cg }, "release", bad[i], NULL);
                ok(r == 2, "#12 release --unit=%s → exit status 2 (got %d)", shown[i], r);
        }
}

/* ---- also: AF_UNSPEC destinations, sendmmsg, io_uring ---- */

static void act_sendmmsg(Shared *res, const void *arg) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PX_OK), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons(PX_NO), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct iovec iov = { (void *) "m", 1 };
        struct mmsghdr m[2] = {
                { .msg_hdr = { .msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &iov, .msg_iovlen = 1 } },
                { .msg_hdr = { .msg_name = &b, .msg_namelen = sizeof b, .msg_iov = &iov, .msg_iovlen = 1 } },
        };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), n;

        (void) arg;
        n = sendmmsg(fd, m, 2, 0);
        res->v[0] = n;
        res->v[1] = n < 0 ? errno : 0;
        safe_close(fd);
}

typedef struct UringArgs {
        int op;                 /* IORING_OP_CONNECT (TCP) or IORING_OP_SENDMSG (UDP) */
        unsigned port;
} UringArgs;

/* v[0]: 0, or 1000 + errno when io_uring cannot be set up; v[1]: the errno of the operation. */
static void act_uring(Shared *res, const void *arg) {
        const UringArgs *a = arg;
        struct io_uring_params p = {};
        struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons((uint16_t) a->port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct iovec iov = { (void *) "u", 1 };
        struct msghdr msg = { .msg_name = &d, .msg_namelen = sizeof d, .msg_iov = &iov, .msg_iovlen = 1 };
        uint8_t *sq, *cq;
        struct io_uring_sqe *sqes;
        struct io_uring_cqe *cqe;
        unsigned tail, idx;
        int ring, fd;

        ring = (int) syscall(__NR_io_uring_setup, 4, &p);
        if (ring < 0) {
                res->v[0] = 1000 + errno;
                return;
        }
        sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(__u32), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                  ring, IORING_OFF_SQ_RING);
        cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
        sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    ring, IORING_OFF_SQES);
        if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
                res->v[0] = 1000 + errno;
                return;
        }
        fd = socket(AF_INET, (a->op == IORING_OP_CONNECT ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
        tail = atomic_load_explicit((_Atomic unsigned *) (sq + p.sq_off.tail), memory_order_acquire);
        idx = tail & *(unsigned *) (sq + p.sq_off.ring_mask);
        sqes[idx] = (struct io_uring_sqe) { .opcode = (uint8_t) a->op, .fd = fd };
        if (a->op == IORING_OP_CONNECT) {
                sqes[idx].addr = (uintptr_t) &d;
                sqes[idx].off = sizeof d;
        } else {
                sqes[idx].addr = (uintptr_t) &msg;
                sqes[idx].len = 1;
        }
        ((unsigned *) (sq + p.sq_off.array))[idx] = idx;
        atomic_store_explicit((_Atomic unsigned *) (sq + p.sq_off.tail), tail + 1, memory_order_release);
        if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
                res->v[0] = 1000 + errno;
                return;
        }
        cqe = (struct io_uring_cqe *) (cq + p.cq_off.cqes) +
              (atomic_load_explicit((_Atomic unsigned *) (cq + p.cq_off.head), memory_order_acquire) &
               *(unsigned *) (cq + p.cq_off.ring_mask));
        res->v[1] = cqe->res < 0 ? -cqe->res : 0;
        close(fd);
        close(ring);
}

static void test_more(void) {
        _cleanup_free_ char *cg = policed("more", "--connect-deny=any", "--connect-allow=127.0.0.1:49200");
        _cleanup_(sink_freep) Sink *yes = sink_open(SOCK_DGRAM, 0, "127.0.0.1", PX_OK), *no = sink_open(SOCK_DGRAM, 0, "127.0.0.1", PX_NO),
             *tno = sink_open(SOCK_STREAM, 0, "127.0.0.1", PX_NO);
        static const UringArgs u_connect = { IORING_OP_CONNECT, PX_NO }, u_send = { IORING_OP_SENDMSG, PX_NO },
                               u_send_ok = { IORING_OP_SENDMSG, PX_OK };
        const char *s = "--connect-deny=any --connect-allow=127.0.0.1:49200";

        /* The kernel delivers a UDP destination with sin_family AF_UNSPEC like AF_INET. */
        expect_req(s, cg, &NOBODY, UDP(SENDTO, "127.0.0.1", PX_NO, .unspec = true), EPERM, no, false);
        expect_req(s, cg, &NOBODY, UDP(SENDTO, "127.0.0.1", PX_OK, .unspec = true), 0, yes, true);

        /* sendmmsg: each message is judged. */
        sink_drain(yes);
        sink_drain(no);
        if (attack(cg, &NOBODY, act_sendmmsg, NULL)) {
                ok(shared->v[0] == 1, "%s: sendmmsg [allowed, refused] → 1 sent (got %d, %s)", s, shared->v[0],
                   errno_name(shared->v[1]));
                expect_delivery(yes, true, "sendmmsg, the allowed message");
                expect_delivery(no, false, "sendmmsg, the refused message");
        }

        /* io_uring. */
        sink_drain(tno);
        if (!attack(cg, &NOBODY, act_uring, &u_connect))
                return;
        if (shared->v[0] != 0) {
                skip("io_uring cannot be used here: %s", errno_name(shared->v[0] - 1000));
                return;
        }
        ok(shared->v[1] == EPERM, "%s: io_uring IORING_OP_CONNECT tcp 127.0.0.1:%u → EPERM (got %s)", s, PX_NO,
           errno_name(shared->v[1]));
        expect_delivery(tno, false, "io_uring IORING_OP_CONNECT");
        sink_drain(no);
        if (attack(cg, &NOBODY, act_uring, &u_send))
                ok(shared->v[1] == EPERM, "%s: io_uring IORING_OP_SENDMSG udp 127.0.0.1:%u → EPERM (got %s)", s, PX_NO,
                   errno_name(shared->v[1]));
        expect_delivery(no, false, "io_uring IORING_OP_SENDMSG");
        sink_drain(yes);
        if (attack(cg, &NOBODY, act_uring, &u_send_ok))
                ok(shared->v[1] == 0, "%s: io_uring IORING_OP_SENDMSG udp 127.0.0.1:%u → success (got %s)", s, PX_OK,
                   errno_name(shared->v[1]));
        expect_delivery(yes, true, "io_uring IORING_OP_SENDMSG, allowed");
}

/* ---- the run ---- */

/* The test's network namespace: lo up, fd00::2 on lo for routing headers, ping sockets open to
 * every group (as systemd's 50-default.conf sets it). */
static int setup_netns(void) {
        int r = netns_new();

        if (r < 0)
                return r;
        r = loopback_add_ipv6("fd00::2", 128);
        if (r < 0)
                return r;
        return sysctl_write("net/ipv4/ping_group_range", "0 2147483647");
}

static void test_credentials(const char *free_cg) {
        const TestCred *creds[] = { &NOBODY, &ROOT_NOCAPS, &ROOT_DAEMON, &ROOT_RAW };

        for (size_t i = 0; i < ELEMENTSOF(creds); i++) {
                memset(shared, 0, sizeof *shared);
                ok(attack(free_cg, creds[i], act_req, &SOCKET(SOCK_STREAM, 0, AF_INET)),
                   "attacker %s: uid, gid, groups, capability sets and no_new_privs verified in /proc/self/status",
                   creds[i]->name);
        }
}

int main(int argc, char **argv) {
        _cleanup_free_ char *free_cg = NULL;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY\n", argv[0]);
                return 2;
        }
        cgpolicy = argv[1];

        r = test_require_root();
        if (r != 0)
                return r;

        shared = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shared == MAP_FAILED) {
                printf("not ok 1 - mmap: %s\n1..1\n", strerror(errno));
                return 1;
        }
        r = test_env_setup(&env, "cgpolicy-seal");
        if (r < 0) {
                printf("not ok 1 - set up the test's cgroup, bpffs and runtime directory: %s\n1..1\n", strerror(-r));
                return 1;
        }
        r = setup_netns();
        if (r < 0) {
                printf("not ok 1 - a network namespace with lo, fd00::2 and ping_group_range: %s\n1..1\n", strerror(-r));
                return 1;
        }
        diag("cgroup %s, bpffs %s", env.cg, env.bpffs);

        r = run_cgpolicy(&(Cmd) { .env = "CGPOLICY_PIN_OWNER=4242" }, "load", NULL);
        ok(r == 0, "cgpolicy load into a private bpffs, pin owner %u (exit %d)", PIN_OWNER, r);
        if (r != 0)
                return tap_done();

        free_cg = test_env_cgroup(&env, "unpoliced");
        test_credentials(free_cg);

        test_ping_raw(free_cg);
        test_udplite();
        test_unspecified();
        test_listen();
        test_stale();
        test_below_slice();
        test_flood();
        test_pins();
        test_helper_unprivileged();
        test_move_out();
        test_source_routes();
        test_names();
        test_more();

        return tap_done();
}
