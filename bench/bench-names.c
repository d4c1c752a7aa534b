/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* bench-names: what name rules (issue 14) cost a unit, side by side in one run.
 *
 * Two cgroups with the same static connect rules (an allow-list by port: tcp:47311, udp:47312,
 * udp:53, and one address rule, tcp:127.0.0.3:47313; then deny any):
 *   static: those rules only (no DNS programs attached);
 *   names:  the same plus three name rules (so the DNS programs run on every packet of it).
 * In rounds, alternating which goes first, the benchmark process joins each cgroup in turn and
 * measures, with fresh sockets each time:
 *   - TCP bulk over loopback, to a server outside the cgroups: MB sent, then MB received;
 *   - UDP request/response against an echo server: round trips;
 * and reports the median ratio names/static of the time each took (1.00: no cost).
 * With the kernel's BPF statistics on, it also reports the DNS programs' own run time as a share
 * of the names unit's time, which the noise of the ratios does not blur.
 * Then, in the names cgroup, the run time per call of the connect4 program (kernel BPF
 * statistics) for a connect() allowed by: a single-port rule (the fast set), the address rule
 * (the tries), and a learned address (a lookup of learned.bench.test answered 127.0.0.2; the
 * static rules deny it, the name rule allows it).
 *
 * Usage: bench-names PATH-TO-CGPOLICY [ROUNDS [MB [ROUND-TRIPS [CONNECTS]]]]   (root) */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "macro.h"
#include "test-util.h"

#define TCP_PORT        47311
#define UDP_PORT        47312
#define ADDR_PORT       47313
#define CHUNK           (256u * 1024)

static const char *cgpolicy;
static TestEnv env;

static int run_cgpolicy(const char *cg, ...) {
        const char *argv[24] = { cgpolicy };
        char buf[16384];
        va_list ap;
        int n = 1, r;

        va_start(ap, cg);
        for (const char *a; n < 23 && (a = va_arg(ap, const char *)); )
                argv[n++] = a;
        va_end(ap);
        argv[n] = NULL;
        r = test_run((char *const *) argv, &(RunOptions) { .cgroup = cg, .output = buf, .output_size = sizeof buf });
        if (r != 0)
                fprintf(stderr, "cgpolicy %s: %s\n", argv[1], buf);
        return r;
}

static struct sockaddr_in lo(const char *a, uint16_t port) {
        struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };

        (void) inet_pton(AF_INET, a, &s.sin_addr);
        return s;
}

/* TCP: per connection, a first byte 's' (the client sends until it closes) or 'r' (the server
 * sends MB megabytes and closes). UDP: echo. */
static _Noreturn void servers(unsigned mb) {
        static char buf[CHUNK];
        struct sockaddr_in t = lo("0.0.0.0", TCP_PORT), u = lo("127.0.0.1", UDP_PORT), a = lo("0.0.0.0", ADDR_PORT);
        int tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int afd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

        setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(afd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(tfd, (struct sockaddr *) &t, sizeof t) < 0 || listen(tfd, 128) < 0 ||
            bind(afd, (struct sockaddr *) &a, sizeof a) < 0 || listen(afd, 4096) < 0 ||
            bind(ufd, (struct sockaddr *) &u, sizeof u) < 0)
                _exit(1);
        memset(buf, 'x', sizeof buf);
        for (;;) {
                struct pollfd p[3] = { { .fd = tfd, .events = POLLIN }, { .fd = ufd, .events = POLLIN },
                                       { .fd = afd, .events = POLLIN } };

                if (poll(p, 3, -1) < 0)
                        continue;
                if (p[2].revents & POLLIN) {
                        int c = accept4(afd, NULL, NULL, SOCK_CLOEXEC);

                        if (c >= 0)
                                close(c);
                }
                if (p[1].revents & POLLIN) {
                        struct sockaddr_in peer;
                        socklen_t pl = sizeof peer;
                        ssize_t k = recvfrom(ufd, buf, 2048, 0, (struct sockaddr *) &peer, &pl);

                        if (k > 0)
                                (void) sendto(ufd, buf, (size_t) k, 0, (struct sockaddr *) &peer, pl);
                }
                if (p[0].revents & POLLIN) {
                        int c = accept4(tfd, NULL, NULL, SOCK_CLOEXEC);
                        char what = 0;

                        if (c < 0)
                                continue;
                        if (read(c, &what, 1) == 1 && what == 'r') {
                                for (size_t left = (size_t) mb << 20; left > 0;) {
                                        ssize_t k = write(c, buf, MIN(left, sizeof buf));

                                        if (k <= 0)
                                                break;
                                        left -= (size_t) k;
                                }
                        } else
                                while (read(c, buf, sizeof buf) > 0)
                                        ;
                        close(c);
                }
        }
}

/* The DNS server: every A query is answered learned.bench.test's 127.0.0.2, TTL 3600. */
static _Noreturn void dns_server(void) {
        struct sockaddr_in s = lo("127.0.0.1", 53);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        uint8_t m[512];

        if (bind(fd, (struct sockaddr *) &s, sizeof s) < 0)
                _exit(1);
        for (;;) {
                struct sockaddr_in peer;
                socklen_t pl = sizeof peer;
                ssize_t k = recvfrom(fd, m, sizeof m - 16, 0, (struct sockaddr *) &peer, &pl);
                static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 127, 0, 0, 2 };

                if (k < 12)
                        continue;
                m[2] = 0x81;
                m[3] = 0x80;
                m[7] = 1;
                memcpy(m + k, rr, sizeof rr);
                (void) sendto(fd, m, (size_t) k + sizeof rr, 0, (struct sockaddr *) &peer, pl);
        }
}

static void lookup_learned(void) {
        static const uint8_t q[] = { 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'l', 'e', 'a', 'r', 'n', 'e', 'd',
                                     5, 'b', 'e', 'n', 'c', 'h', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1 };
        struct sockaddr_in s = lo("127.0.0.1", 53);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        uint8_t a[512];

        if (fd < 0 || sendto(fd, q, sizeof q, 0, (struct sockaddr *) &s, sizeof s) < 0 || recv(fd, a, sizeof a, 0) <= 0)
                die("lookup of learned.bench.test failed");
        close(fd);
}

static double tcp_bulk(char what, unsigned mb) {
        static char buf[CHUNK];
        struct sockaddr_in t = lo("127.0.0.1", TCP_PORT);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        uint64_t t0;

        if (fd < 0 || connect(fd, (struct sockaddr *) &t, sizeof t) < 0 || write(fd, &what, 1) != 1)
                die("tcp connect: %m");
        t0 = now_ns();
        if (what == 's') {
                for (size_t left = (size_t) mb << 20; left > 0;) {
                        ssize_t k = write(fd, buf, MIN(left, sizeof buf));

                        if (k <= 0)
                                die("write: %m");
                        left -= (size_t) k;
                }
                shutdown(fd, SHUT_WR);
                while (read(fd, buf, sizeof buf) > 0)
                        ;
        } else
                while (read(fd, buf, sizeof buf) > 0)
                        ;
        close(fd);
        return (double) (now_ns() - t0);
}

static double udp_rr(unsigned n) {
        struct sockaddr_in u = lo("127.0.0.1", UDP_PORT);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        char b[64] = "ping";
        uint64_t t0 = now_ns();

        for (unsigned i = 0; i < n; i++)
                if (sendto(fd, b, 32, 0, (struct sockaddr *) &u, sizeof u) != 32 || recv(fd, b, sizeof b, 0) <= 0)
                        die("udp: %m");
        close(fd);
        return (double) (now_ns() - t0);
}

/* The connect4 program's run time per call over n connect()s to a:port; dies unless allowed. */
static double connect_ns(int prog, const char *a, uint16_t port, unsigned n) {
        struct sockaddr_in s = lo(a, port);
        struct bpf_prog_info i0 = {}, i1 = {};
        __u32 len = sizeof i0;

        (void) bpf_obj_get_info_by_fd(prog, &i0, &len);
        for (unsigned k = 0; k < n; k++) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (fd < 0 || connect(fd, (struct sockaddr *) &s, sizeof s) < 0)
                        die("connect %s:%u: %m", a, port);
                close(fd);
        }
        len = sizeof i1;
        (void) bpf_obj_get_info_by_fd(prog, &i1, &len);
        return i1.run_cnt > i0.run_cnt ? (double) (i1.run_time_ns - i0.run_time_ns) / (double) (i1.run_cnt - i0.run_cnt) : 0;
}

/* The run time so far of the two DNS programs (kernel BPF statistics), in ns. */
static uint64_t dns_prog_ns(const int fds[2]) {
        uint64_t ns = 0;

        for (int i = 0; i < 2; i++) {
                struct bpf_prog_info info = {};
                __u32 len = sizeof info;

                if (bpf_obj_get_info_by_fd(fds[i], &info, &len) == 0)
                        ns += info.run_time_ns;
        }
        return ns;
}

static unsigned arg(int argc, char **argv, int i, unsigned def) {
        return argc > i ? (unsigned) strtoul(argv[i], NULL, 10) : def;
}

#define STATIC_RULES "--connect-allow=tcp:47311", "--connect-allow=udp:47312", "--connect-allow=udp:53", \
        "--connect-allow=tcp:127.0.0.3:47313", "--connect-deny=any"

int main(int argc, char **argv) {
        unsigned rounds, mb, rts, connects;
        char *cg[2];
        double *r_send, *r_recv, *r_udp, port_ns, addr_ns, learned_ns, prog_share[3] = {}, names_time[3] = {};
        int k, prog, stats, dns_fds[2];
        pid_t pid;

        if (argc < 2) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY [ROUNDS [MB [ROUND-TRIPS [CONNECTS]]]]\n", argv[0]);
                return 2;
        }
        cgpolicy = argv[1];
        rounds = arg(argc, argv, 2, 21);
        mb = arg(argc, argv, 3, 256);
        rts = arg(argc, argv, 4, 20000);
        connects = arg(argc, argv, 5, 20000);

        k = test_require_root();
        if (k != 0)
                return k;
        if (test_env_setup(&env, "cgpolicy-bench-names") < 0)
                return 1;
        if (netns_new() < 0)
                die("cannot make a network namespace");
        if (run_cgpolicy(NULL, "load", NULL) != 0)
                die("cgpolicy load failed");

        pid = test_fork();
        if (pid == 0)
                servers(mb);
        test_env_add_child(&env, pid);
        pid = test_fork();
        if (pid == 0)
                dns_server();
        test_env_add_child(&env, pid);
        usleep(200000);

        cg[0] = test_env_cgroup(&env, "static");
        cg[1] = test_env_cgroup(&env, "names");
        if (run_cgpolicy(cg[0], "apply", "--unit=static.service", STATIC_RULES, NULL) != 0 ||
            run_cgpolicy(cg[1], "apply", "--unit=names.service", STATIC_RULES, "--connect-allow=learned.bench.test:tcp:47313",
                         "--connect-allow=*.cdn.bench.test:443", "--connect-allow=api.bench.test:tcp:443", NULL) != 0)
                die("cgpolicy apply failed");
        printf("bench-names: %u rounds, TCP %u MB each way, %u UDP round trips, %u connects; kernel BPF stats for "
               "connect4\n", rounds, mb, rts, connects);

        stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
        dns_fds[0] = test_pin_get(&env, "dns_egress");
        dns_fds[1] = test_pin_get(&env, "dns_ingress");
        if (stats < 0 || dns_fds[0] < 0 || dns_fds[1] < 0)
                die("cannot enable BPF statistics or open the DNS programs");

        r_send = calloc(rounds, sizeof(double));
        r_recv = calloc(rounds, sizeof(double));
        r_udp = calloc(rounds, sizeof(double));
        if (!r_send || !r_recv || !r_udp)
                die("out of memory");
        for (unsigned i = 0; i < rounds; i++) {
                double t[2][3];

                for (unsigned j = 0; j < 2; j++) {
                        unsigned v = (i + j) % 2;

                        if (cgroup_join(cg[v]) < 0)
                                die("cannot join %s", cg[v]);
                        for (unsigned w = 0; w < 3; w++) {
                                uint64_t p0 = dns_prog_ns(dns_fds);

                                t[v][w] = w == 2 ? udp_rr(rts) : tcp_bulk(w == 0 ? 's' : 'r', mb);
                                if (v == 1) {
                                        prog_share[w] += (double) (dns_prog_ns(dns_fds) - p0);
                                        names_time[w] += t[v][w];
                                }
                        }
                }
                r_send[i] = t[1][0] / t[0][0];
                r_recv[i] = t[1][1] / t[0][1];
                r_udp[i] = t[1][2] / t[0][2];
                test_check_interrupted();
        }

        prog = test_pin_get(&env, "connect4");
        if (prog < 0)
                die("cannot open connect4");
        if (cgroup_join(cg[1]) < 0)
                die("cannot join %s", cg[1]);
        lookup_learned();
        port_ns = addr_ns = learned_ns = 0;
        {
                double p[5], a[5], l[5];

                for (unsigned i = 0; i < 5; i++) {
                        p[i] = connect_ns(prog, "127.0.0.1", TCP_PORT, connects / 5);
                        a[i] = connect_ns(prog, "127.0.0.3", ADDR_PORT, connects / 5);
                        l[i] = connect_ns(prog, "127.0.0.2", ADDR_PORT, connects / 5);
                }
                port_ns = test_median(p, 5);
                addr_ns = test_median(a, 5);
                learned_ns = test_median(l, 5);
        }
        close(stats);
        close(prog);
        close(dns_fds[0]);
        close(dns_fds[1]);
        /* Out of the run's cgroup, whose processes the cleanup kills. */
        if (cgroup_join(env.cg_mount) < 0)
                die("cannot leave the cgroups");

        printf("names/static, median of %u rounds (1.000: no cost):\n", rounds);
        printf("  TCP bulk send  %.3f\n", test_median(r_send, rounds));
        printf("  TCP bulk recv  %.3f\n", test_median(r_recv, rounds));
        printf("  UDP req/resp   %.3f\n", test_median(r_udp, rounds));
        printf("the DNS programs' own run time, share of the names unit's time (all rounds):\n");
        printf("  TCP bulk send  %.2f %%\n", 100 * prog_share[0] / names_time[0]);
        printf("  TCP bulk recv  %.2f %%\n", 100 * prog_share[1] / names_time[1]);
        printf("  UDP req/resp   %.2f %%\n", 100 * prog_share[2] / names_time[2]);
        printf("connect4 run time per call in the names unit (median of 5 x %u):\n", connects / 5);
        printf("  single-port rule (fast set)   %.0f ns\n", port_ns);
        printf("  address rule (tries)          %.0f ns\n", addr_ns);
        printf("  learned address (name rule)   %.0f ns\n", learned_ns);

        free(r_send);
        free(r_recv);
        free(r_udp);
        free(cg[0]);
        free(cg[1]);
        return 0;
}
