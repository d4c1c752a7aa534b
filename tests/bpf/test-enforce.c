/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The programs in a real kernel: a private bpffs, cgroups this test creates under the cgroup2
 * mount, "cgpolicy load", the cgroup programs attached beforehand (multi) as "cgpolicy apply"
 * would (it then finds them in force), "cgpolicy apply" run from inside the cgroup, and real processes in the cgroup whose calls
 * must fail with exactly the expected errno. Only loopback addresses are ever targets.
 *
 * Usage: test-enforce PATH-TO-CGPOLICY CHECK-STATUS-OUTPUT PROMTOOL: check-status-output.py and
 * promtool check the machine output of "status" (PROMTOOL is "" when it is not installed, a
 * failure). Needs root; exits 77 (skip) without it unless $CI is set, where a missing privilege
 * is a failure. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cgpolicy-abi.h"
#include "cgpolicy-hooks.h"
#include "cgroup-util.h"
#include "macro.h"
#include "tap.h"
#include "test-util.h"

#define PORT_OK         47080u  /* TCP listeners on 127.0.0.1 and ::1 */
#define PORT_NO         47081u
#define PORT_UDP_OK     47090u
#define PORT_UDP_NO     47091u

static const char *cgpolicy;
static TestEnv env;

/* Run cgpolicy ARGS... inside cgroup cg (NULL: the test's own); returns the exit status, the
 * combined output in *out (may be NULL). extra_env: "NAME=VALUE" or NULL. */
static int run_cgpolicy(const char *cg, char **out, const char *extra_env, ...) {
        const char *argv[32] = { cgpolicy };
        char buf[65536];
        va_list ap;
        int n = 1, r;

        va_start(ap, extra_env);
        for (const char *a; n < 31 && (a = va_arg(ap, const char *)); )
                argv[n++] = a;
        va_end(ap);
        argv[n] = NULL;

        r = test_run((char *const *) argv, &(RunOptions) {
                        .cgroup = cg, .env = extra_env, .output = buf, .output_size = sizeof buf });
        if (out)
                *out = strdup(buf);
        else if (r != 0)
                diag("cgpolicy %s: %s", argv[1], buf);
        return r;
}


/* ---- probes: one real process in a cgroup doing one call ---- */

typedef enum Op { OP_BIND, OP_CONNECT, OP_SENDTO, OP_TFO } Op;

typedef struct Req {
        Op op;
        int type;               /* SOCK_STREAM or SOCK_DGRAM */
        const char *addr;       /* "127.0.0.1", "::1", "::ffff:127.0.0.1" */
        unsigned port;
} Req;

static int do_request(const Req *r) {
        struct sockaddr_storage ss;
        socklen_t sl;
        int fd, family, one = 1;

        family = sockaddr_parse(r->addr, (uint16_t) r->port, &ss, &sl);
        if (family < 0)
                return 254;

        fd = socket(family, r->type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return 253;
        if (family == AF_INET6) {
                int zero = 0;
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);

        int k = -1;
        switch (r->op) {
        case OP_BIND:
                k = bind(fd, (struct sockaddr *) &ss, sl);
                break;
        case OP_CONNECT:
                k = connect(fd, (struct sockaddr *) &ss, sl);
                break;
        case OP_SENDTO:
                k = (int) sendto(fd, "x", 1, 0, (struct sockaddr *) &ss, sl);
                break;
        case OP_TFO:
                k = (int) sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *) &ss, sl);
                break;
        }
        k = k < 0 ? errno : 0;
        close(fd);
        return k;
}

/* Returns the errno of the call (0 on success) made by a process in cg. */
static int probe(const char *cg, const Req *r, bool new_netns) {
        pid_t pid = test_fork();

        if (pid < 0)
                die("fork: %s", strerror(-pid));
        if (pid == 0) {
                if (cgroup_join(cg) < 0)
                        _exit(251);
                if (new_netns && netns_new() < 0)
                        _exit(250);
                _exit(do_request(r));
        }
        return test_wait(pid);
}

static const char *op_name(Op op) {
        return op == OP_BIND ? "bind" : op == OP_CONNECT ? "connect" : op == OP_SENDTO ? "sendto" : "sendto(MSG_FASTOPEN)";
}

static const char *errno_name(int e) {
        return e == 0 ? "success" : e == EPERM ? "EPERM" : e == ECONNREFUSED ? "ECONNREFUSED" : strerror(e);
}

static void expect(const char *cg, const char *scenario, Op op, int type, const char *addr, unsigned port, int want) {
        Req r = { op, type, addr, port };
        int got = probe(cg, &r, false);

        ok(got == want, "%s: %s %s %s%s%s:%u → %s (got %s)", scenario, op_name(op), type == SOCK_STREAM ? "tcp" : "udp",
           strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "", port, errno_name(want), errno_name(got));
}

/* ---- a TCP server on 127.0.0.1 and ::1 that accepts and closes, outside the policed cgroups ---- */

static int start_server(void) {
        static const ServerSocket sockets[] = {
                { SOCK_STREAM, "127.0.0.1", PORT_OK },
                { SOCK_STREAM, "::1", PORT_OK },
        };
        pid_t pid = server_start(sockets, ELEMENTSOF(sockets));

        if (pid < 0) {
                diag("cannot listen on port %u of 127.0.0.1/::1: %s", PORT_OK, strerror(-pid));
                return pid;
        }
        test_env_add_child(&env, pid);
        return 0;
}

/* ---- scenarios ---- */

/* The directions the rules (apply options) are for: the programs the generator attaches. */
static unsigned rules_dirs(const char *const *rules) {
        unsigned dirs = 0;

        for (; *rules; rules++)
                if (startswith(*rules, "--bind-"))
                        dirs |= CGP_DIRS(CGP_DIR_BIND);
                else if (startswith(*rules, "--connect-"))
                        dirs |= CGP_DIRS(CGP_DIR_CONNECT);
        return dirs;
}

/* The cgroup NAME with our programs for the rules' directions attached (multi) and the policy
 * applied from inside it, as unit UNIT (NULL: NAME.service; cgroup names may hold bytes that
 * unit names may not). */
static char *policed_unit(const char *name, const char *unit_name, const char *const *rules) {
        char *cg = test_env_cgroup(&env, name);
        const char *a[16] = {};
        char unit[128];
        int n = 0, r;

        ok(test_attach(&env, cg, rules_dirs(rules)) == 0, "%s: programs attached with BPF_F_ALLOW_MULTI", name);
        if (unit_name)
                snprintf(unit, sizeof unit, "--unit=%s", unit_name);
        else
                snprintf(unit, sizeof unit, "--unit=%s.service", name);
        a[n++] = "apply";
        a[n++] = unit;
        for (; *rules && n < 15; rules++)
                a[n++] = *rules;
        r = run_cgpolicy(cg, NULL, NULL, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], NULL);
        ok(r == 0, "%s: cgpolicy apply from inside the cgroup succeeds", name);
        return cg;
}

static char *policed(const char *name, const char *const *rules) {
        return policed_unit(name, NULL, rules);
}

static void test_allow_list(void) {
        static const char *const rules[] = {
                "--bind-deny=any", "--bind-allow=tcp:47100", "--bind-allow=udp:47101",
                "--connect-deny=any", "--connect-allow=tcp:47080", "--connect-allow=udp:47090", NULL,
        };
        _cleanup_free_ char *cg = policed("allowlist", rules);
        const char *s = "allow-list";
        static const char *const addrs[] = { "127.0.0.1", "::1", "::ffff:127.0.0.1" };

        for (size_t i = 0; i < ELEMENTSOF(addrs); i++) {
                const char *a = addrs[i];

                expect(cg, s, OP_BIND, SOCK_STREAM, a, 47100, 0);
                expect(cg, s, OP_BIND, SOCK_DGRAM, a, 47100, EPERM);
                expect(cg, s, OP_BIND, SOCK_DGRAM, a, 47101, 0);
                expect(cg, s, OP_BIND, SOCK_STREAM, a, 47102, EPERM);
                expect(cg, s, OP_BIND, SOCK_STREAM, a, 0, 0);
                expect(cg, s, OP_BIND, SOCK_DGRAM, a, 0, 0);
                expect(cg, s, OP_CONNECT, SOCK_STREAM, a, PORT_OK, 0);
                expect(cg, s, OP_CONNECT, SOCK_STREAM, a, PORT_NO, EPERM);
                expect(cg, s, OP_CONNECT, SOCK_STREAM, a, PORT_UDP_OK, EPERM);
                expect(cg, s, OP_CONNECT, SOCK_DGRAM, a, PORT_UDP_OK, 0);
                expect(cg, s, OP_CONNECT, SOCK_DGRAM, a, PORT_UDP_NO, EPERM);
                expect(cg, s, OP_SENDTO, SOCK_DGRAM, a, PORT_UDP_OK, 0);
                expect(cg, s, OP_SENDTO, SOCK_DGRAM, a, PORT_UDP_NO, EPERM);
                expect(cg, s, OP_SENDTO, SOCK_DGRAM, a, PORT_OK, EPERM);
        }
        /* TCP Fast Open: the destination of sendto(MSG_FASTOPEN) is judged as a connect. */
        expect(cg, s, OP_TFO, SOCK_STREAM, "127.0.0.1", PORT_NO, EPERM);
        expect(cg, s, OP_TFO, SOCK_STREAM, "::1", PORT_NO, EPERM);
        expect(cg, s, OP_TFO, SOCK_STREAM, "::ffff:127.0.0.1", PORT_NO, EPERM);
        expect(cg, s, OP_TFO, SOCK_STREAM, "127.0.0.1", PORT_OK, 0);
        expect(cg, s, OP_TFO, SOCK_STREAM, "::1", PORT_OK, 0);
}

static void test_deny_ranges(const char *mode) {
        static const char *const rules_enforce[] = {
                "--connect-deny=tcp:47200-47299", "--bind-deny=47300-47399", "--connect-deny=ipv6:udp:47090", NULL,
        };
        static const char *const rules_audit[] = {
                "--mode=audit", "--connect-deny=tcp:47200-47299", "--bind-deny=47300-47399", "--connect-deny=ipv6:udp:47090", NULL,
        };
        bool audit = streq(mode, "audit");
        _cleanup_free_ char *cg = policed(audit ? "denyaudit" : "denylist", audit ? rules_audit : rules_enforce);
        char s[64];
        int deny = audit ? 0 : EPERM;

        snprintf(s, sizeof s, "deny-list, ranges (%s)", mode);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.0.1", 47200, audit ? ECONNREFUSED : EPERM);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::1", 47250, audit ? ECONNREFUSED : EPERM);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::ffff:127.0.0.1", 47299, audit ? ECONNREFUSED : EPERM);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.0.1", 47300, ECONNREFUSED);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.0.1", 47199, ECONNREFUSED);
        expect(cg, s, OP_CONNECT, SOCK_DGRAM, "127.0.0.1", 47250, 0);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "127.0.0.1", 47250, 0);
        expect(cg, s, OP_BIND, SOCK_STREAM, "127.0.0.1", 47300, deny);
        expect(cg, s, OP_BIND, SOCK_DGRAM, "::1", 47399, deny);
        expect(cg, s, OP_BIND, SOCK_DGRAM, "::ffff:127.0.0.1", 47350, deny);
        expect(cg, s, OP_BIND, SOCK_STREAM, "127.0.0.1", 47400, 0);
        expect(cg, s, OP_BIND, SOCK_STREAM, "127.0.0.1", 47299, 0);
        /* ipv6:udp:47090 refuses IPv6 only; a v4-mapped destination is IPv4. */
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "::1", 47090, deny);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "::ffff:127.0.0.1", 47090, 0);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "127.0.0.1", 47090, 0);
}

static void test_cidrs(void) {
        static const char *const rules[] = {
                "--connect-deny=any", "--connect-allow=127.0.0.0/24:47080", "--connect-allow=[::1]:47080",
                "--connect-allow=127.0.1.0/24", "--connect-allow=udp:127.0.0.0/8:47090-47095", NULL,
        };
        _cleanup_free_ char *cg = policed("cidrs", rules);
        const char *s = "CIDRs";

        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, 0);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.0.2", PORT_OK, ECONNREFUSED);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.2.1", PORT_OK, EPERM);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.1.5", 47555, ECONNREFUSED);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::ffff:127.0.1.5", 47555, ECONNREFUSED);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::ffff:127.0.2.1", PORT_OK, EPERM);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::ffff:127.0.0.1", PORT_OK, 0);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::1", PORT_OK, 0);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::1", PORT_NO, EPERM);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "127.0.9.9", 47095, 0);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "127.0.9.9", 47096, EPERM);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "::ffff:127.0.9.9", 47092, 0);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "::1", 47092, EPERM);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.9.9.9", 47092, EPERM);
        /* No bind rules: no bind programs, binds are not restricted. */
        expect(cg, s, OP_BIND, SOCK_STREAM, "127.0.0.1", 47600, 0);
}

static void test_any(const char *mode) {
        static const char *const rules_enforce[] = { "--bind-deny=any", "--connect-deny=any", NULL };
        static const char *const rules_audit[] = { "--mode=audit", "--bind-deny=any", "--connect-deny=any", NULL };
        bool audit = streq(mode, "audit");
        _cleanup_free_ char *cg = policed(audit ? "anyaudit" : "anyenforce", audit ? rules_audit : rules_enforce);
        _cleanup_free_ char *json = NULL, *den = NULL;
        char s[64], needle[128];
        int deny = audit ? 0 : EPERM;

        snprintf(s, sizeof s, "any (%s)", mode);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, deny);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::1", PORT_OK, deny);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::ffff:127.0.0.1", PORT_OK, deny);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "127.0.0.1", PORT_UDP_OK, deny);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "::1", PORT_UDP_OK, deny);
        expect(cg, s, OP_BIND, SOCK_STREAM, "127.0.0.1", 47100, deny);
        expect(cg, s, OP_BIND, SOCK_DGRAM, "::1", 47100, deny);
        expect(cg, s, OP_BIND, SOCK_STREAM, "127.0.0.1", 0, 0);

        /* 5 connect-direction and 2 bind denials (would-be denials in audit mode). */
        ok(run_cgpolicy(NULL, &json, NULL, "status", "--json", NULL) == 0, "%s: status --json succeeds", s);
        snprintf(needle, sizeof needle, "\"unit\":\"%s.service\"", audit ? "anyaudit" : "anyenforce");
        {
                const char *u = json ? strstr(json, needle) : NULL;
                char want[128];

                if (audit)
                        snprintf(want, sizeof want, "\"denied\":{\"bind\":0,\"connect\":0,\"socket\":0},\"audited\":{\"bind\":2,\"connect\":5,\"socket\":0}");
                else
                        snprintf(want, sizeof want, "\"denied\":{\"bind\":2,\"connect\":5,\"socket\":0},\"audited\":{\"bind\":0,\"connect\":0,\"socket\":0}");
                const char *end = u ? strchrnul(u, '\n') : NULL;  /* end of this unit's line */
                const char *w = u ? strstr(u, want) : NULL;
                ok(w && end && w < end,
                   "%s: status --json counts the denials: %s", s, want);
                if (!(u && strstr(u, want)))
                        diag("%s", json ? json : "(none)");
                ok(u && strstr(u, audit ? "\"mode\":\"audit\"" : "\"mode\":\"enforce\""), "%s: status --json shows the mode", s);
        }
        ok(run_cgpolicy(NULL, &den, NULL, "denials", NULL) == 0, "%s: denials succeeds", s);
        snprintf(needle, sizeof needle, "%s.service pid", audit ? "anyaudit" : "anyenforce");
        ok(den && strstr(den, needle) && strstr(den, "127.0.0.1:47080") && strstr(den, "[::1]:47100") &&
           strstr(den, audit ? "would be denied (audit)" : "denied"),
           "%s: denials lists unit, pid, address and port", s);
        if (!(den && strstr(den, needle)))
                diag("%s", den ? den : "(none)");
}

/* ---- machine output: status --json against its documented schema, status --prometheus ---- */

static const char *check_script, *promtool;

/* Run argv with stdin from in_path (NULL: /dev/null); returns the exit status, stdout and
 * stderr in *out. */
static int run_cmd(const char *in_path, char **out, const char *const *argv) {
        char buf[65536];
        int r;

        r = test_run((char *const *) argv, &(RunOptions) { .stdin_path = in_path, .output = buf, .output_size = sizeof buf });
        *out = strdup(buf);
        return r;
}

static char *read_file(const char *path) {
        char *s = NULL;
        size_t n = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return NULL;
        if (getdelim(&s, &n, 0, f) < 0)
                s = mfree(s);
        fclose(f);
        return s;
}

static bool write_file(const char *path, const char *s) {
        FILE *f = fopen(path, "we");
        bool good;

        if (!f)
                return false;
        good = fputs(s, f) >= 0;
        return fclose(f) == 0 && good;
}

/* The values of the cgpolicy_requests_total samples of the unit whose label value (as written,
 * escaped) is unit_label, for direction and verdict; returns how many samples there are. */
static unsigned prom_requests(const char *text, const char *unit_label, const char *direction, const char *verdict,
                              unsigned long long *ret) {
        char head[256], tail[128];
        unsigned n = 0;

        snprintf(head, sizeof head, "cgpolicy_requests_total{unit=\"%s\",cgroup=\"", unit_label);
        snprintf(tail, sizeof tail, "\",direction=\"%s\",verdict=\"%s\"} ", direction, verdict);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                const char *eol = strchrnul(p, '\n'), *t;

                if (strncmp(p, head, strlen(head)) != 0)
                        continue;
                t = strstr(p, tail);
                if (!t || t > eol)
                        continue;
                *ret = strtoull(t + strlen(tail), NULL, 10);
                n++;
        }
        return n;
}

static void expect_requests(const char *text, const char *what, const char *unit_label, const char *direction,
                            const char *verdict, unsigned long long want) {
        unsigned long long v = ULLONG_MAX;
        unsigned n = prom_requests(text, unit_label, direction, verdict, &v);

        ok(n == 1 && v == want, "prometheus: %s: cgpolicy_requests_total{unit=\"%s\",direction=\"%s\",verdict=\"%s\"} is %llu "
           "(%u samples, value %llu)", what, unit_label, direction, verdict, want, n, v);
}

static void test_machine_output(void) {
        static const char *const deny_connect[] = { "--connect-deny=any", NULL };
        char dir[] = "/tmp/cgp-metrics-XXXXXX", json_path[64], prom_path[64], arg[96];
        _cleanup_free_ char *json = NULL, *prom = NULL, *prom_stdout = NULL, *out = NULL;
        struct stat st1 = {}, st2 = {};
        int r;

        /* A unit name with a backslash and a cgroup name with a backslash and a double quote,
         * which label values must escape. systemd's own cgroup names contain backslashes
         * ("foo@a\x2db.service"); a unit name cannot hold a quote (apply refuses it). */
        {
                _cleanup_free_ char *cg = policed_unit("esc\\x2d\"q", "esc\\x2dq.service", deny_connect);
                expect(cg, "escaped names", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
        }
        /* A byte that is not UTF-8 in a cgroup name: JSON and the Prometheus format must be
         * UTF-8, the byte becomes U+FFFD. (A unit name is ASCII: apply refuses anything else.) */
        {
                _cleanup_free_ char *cg = policed_unit("bad\xffutf8", "badutf8.service", deny_connect);
                expect(cg, "non-UTF-8 name", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
        }
        /* Two policies of one unit and cgroup path: a cgroup removed without release (a unit
         * killed without ExecStopPost=), and the same path again (its next start). */
        {
                _cleanup_free_ char *cg = policed("dup", deny_connect);
                expect(cg, "stale policy", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
                expect(cg, "stale policy", OP_CONNECT, SOCK_STREAM, "::1", PORT_OK, EPERM);
                ok(rmdir(cg) == 0, "dup: cgroup removed without release");
        }
        {
                _cleanup_free_ char *cg = policed("dup", deny_connect);
                expect(cg, "new policy, same cgroup path", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
        }

        if (!mkdtemp(dir)) {
                ok(false, "machine output: temporary directory: %s", strerror(errno));
                return;
        }
        snprintf(json_path, sizeof json_path, "%s/status.json", dir);
        snprintf(prom_path, sizeof prom_path, "%s/cgpolicy.prom", dir);
        snprintf(arg, sizeof arg, "--prometheus=%s", prom_path);

        r = run_cgpolicy(NULL, &json, NULL, "status", "--json", NULL);
        ok(r == 0 && json && write_file(json_path, json), "status --json succeeds (exit %d)", r);
        ok(json && strstr(json, "/bad\xef\xbf\xbdutf8\",\"cgroup_id\""), "status --json writes a byte that is not UTF-8 as U+FFFD");
        r = run_cgpolicy(NULL, &out, NULL, "status", arg, NULL);
        if (stat(prom_path, &st1) < 0)
                st1 = (struct stat) {};
        ok(r == 0 && st1.st_ino != 0 && (st1.st_mode & 07777) == 0644,
           "status --prometheus=FILE writes FILE with mode 0644 (exit %d, mode %o) %s", r,
           (unsigned) (st1.st_mode & 07777), out ? out : "");
        prom = read_file(prom_path);
        r = run_cgpolicy(NULL, &prom_stdout, NULL, "status", "--prometheus", NULL);
        ok(r == 0 && prom && prom_stdout && streq(prom, prom_stdout), "status --prometheus prints the same to stdout");

        /* The real Prometheus text parser and linter. */
        if (promtool && *promtool) {
                _cleanup_free_ char *o = NULL;
                const char *const argv[] = { promtool, "check", "metrics", NULL };

                r = run_cmd(prom_path, &o, argv);
                ok(r == 0, "promtool check metrics accepts the file, without lint problems (exit %d)", r);
                if (r != 0)
                        diag("%s", o ? o : "");
        } else
                ok(false, "promtool check metrics: promtool is not installed (tools/deps.sh test installs Debian's prometheus)");

        {
                _cleanup_free_ char *o = NULL, *o2 = NULL;
                const char *const argv[] = { "python3", check_script, "json", json_path, NULL };
                const char *const argv2[] = { "python3", check_script, "prom", prom_path, json_path, NULL };

                r = run_cmd(NULL, &o, argv);
                ok(r == 0, "status --json has every field of the schema in cgpolicy(8) with its type, and no other (exit %d)", r);
                if (r != 0)
                        diag("%s\n%s", o ? o : "", json ? json : "");
                r = run_cmd(NULL, &o2, argv2);
                ok(r == 0, "status --prometheus has one series per unit and cgroup, equal to the JSON counters (exit %d)", r);
                if (r != 0)
                        diag("%s", o2 ? o2 : "");
        }

        /* Values the scenarios above produced (test_any: 5 connect and 2 bind denials). */
        if (prom) {
                char cg_label[600];

                expect_requests(prom, "any (enforce)", "anyenforce.service", "connect", "denied", 5);
                expect_requests(prom, "any (enforce)", "anyenforce.service", "bind", "denied", 2);
                expect_requests(prom, "any (enforce)", "anyenforce.service", "connect", "audited", 0);
                expect_requests(prom, "any (audit)", "anyaudit.service", "connect", "audited", 5);
                expect_requests(prom, "any (audit)", "anyaudit.service", "bind", "audited", 2);
                expect_requests(prom, "any (audit)", "anyaudit.service", "connect", "denied", 0);
                expect_requests(prom, "escaped names", "esc\\\\x2dq.service", "connect", "denied", 1);
                expect_requests(prom, "non-UTF-8 name", "badutf8.service", "connect", "denied", 1);
                ok(strstr(prom, "/bad\xef\xbf\xbdutf8\""), "prometheus: the cgroup label writes a byte that is not UTF-8 as U+FFFD");
                /* The stale policy (2 denials) is not written: one series, the current one's. */
                expect_requests(prom, "one series for two policies of one cgroup path", "dup.service", "connect", "denied", 1);
                ok(strstr(prom, "cgpolicy_unit_info{unit=\"anyaudit.service\",cgroup=\"") &&
                   strstr(prom, "/anyaudit\",mode=\"audit\"} 1\n") &&
                   strstr(prom, "/anyenforce\",mode=\"enforce\"} 1\n"),
                   "prometheus: cgpolicy_unit_info has the mode of each unit");
                snprintf(cg_label, sizeof cg_label, "cgroup=\"%s/esc\\\\x2d\\\"q\"", env.cg_path);
                ok(strstr(prom, cg_label), "prometheus: the cgroup label is escaped: %s", cg_label);
                if (!strstr(prom, cg_label))
                        diag("%s", prom);
        }

        /* Atomic replacement: a new file renamed over the old one, no temporary file left. */
        {
                _cleanup_(closedirp) DIR *d = NULL;
                unsigned n = 0;

                free(out);
                out = NULL;
                r = run_cgpolicy(NULL, &out, NULL, "status", arg, NULL);
                if (stat(prom_path, &st2) < 0)
                        st2 = (struct stat) {};
                ok(r == 0 && st2.st_ino != 0 && st2.st_ino != st1.st_ino,
                   "status --prometheus=FILE again replaces FILE by a new file (inode %llu → %llu)",
                   (unsigned long long) st1.st_ino, (unsigned long long) st2.st_ino);
                d = opendir(dir);
                for (struct dirent *de; d && (de = readdir(d)); )
                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                n++;
                ok(n == 2, "no temporary file is left next to FILE (%u files)", n);
        }

        /* Errors. */
        free(out);
        out = NULL;
        r = run_cgpolicy(NULL, &out, NULL, "status", "--prometheus=/nonexistent-cgpolicy-dir/x.prom", NULL);
        ok(r == 1 && out && strstr(out, "/nonexistent-cgpolicy-dir/"), "status --prometheus= into a missing directory fails with exit 1 and names it");
        free(out);
        out = NULL;
        r = run_cgpolicy(NULL, &out, NULL, "status", "--json", "--prometheus", NULL);
        ok(r == 2, "status --json --prometheus is a bad command line: exit 2 (got %d)", r);

        (void) unlink(json_path);
        (void) unlink(prom_path);
        (void) rmdir(dir);
}

static void test_fail_closed(void) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "noapply");
        const char *s = "fail closed before apply";

        ok(test_attach(&env, cg, CGP_DIRS_ALL) == 0, "%s: programs attached", s);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
        expect(cg, s, OP_CONNECT, SOCK_STREAM, "::1", PORT_OK, EPERM);
        expect(cg, s, OP_SENDTO, SOCK_DGRAM, "127.0.0.1", PORT_UDP_OK, EPERM);
        expect(cg, s, OP_BIND, SOCK_STREAM, "127.0.0.1", 47100, EPERM);
        expect(cg, s, OP_BIND, SOCK_STREAM, "127.0.0.1", 0, EPERM);
}

static void test_netns(void) {
        static const char *const rules[] = { "--connect-deny=any", "--connect-allow=tcp:47080", "--bind-deny=tcp:47100", NULL };
        _cleanup_free_ char *cg = policed("netns", rules);
        Req a = { OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO }, b = { OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK },
            c = { OP_BIND, SOCK_STREAM, "::1", 47100 }, d = { OP_SENDTO, SOCK_DGRAM, "::1", PORT_UDP_OK };
        int r;

        r = probe(cg, &a, true);
        ok(r == EPERM, "new network namespace: connect tcp 127.0.0.1:%u → EPERM (got %s)", PORT_NO, errno_name(r));
        r = probe(cg, &b, true);
        ok(r == ECONNREFUSED, "new network namespace: connect tcp 127.0.0.1:%u allowed → ECONNREFUSED, nobody listens there (got %s)",
           PORT_OK, errno_name(r));
        r = probe(cg, &c, true);
        ok(r == EPERM, "new network namespace: bind tcp [::1]:47100 → EPERM (got %s)", errno_name(r));
        r = probe(cg, &d, true);
        ok(r == EPERM, "new network namespace: sendto udp [::1]:%u → EPERM (got %s)", PORT_UDP_OK, errno_name(r));
}

static void test_delegate(void) {
        static const char *const rules[] = { "--connect-deny=any", "--connect-allow=tcp:47080", NULL };
        _cleanup_free_ char *cg = policed("delegated", rules), *child = test_env_cgroup(&env, "delegated/payload"),
                            *grandchild = test_env_cgroup(&env, "delegated/payload/deeper"), *ctl = NULL, *st = NULL;
        const char *s = "Delegate= child";
        int r;

        expect(child, s, OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, 0);
        expect(child, s, OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, EPERM);
        expect(grandchild, s, OP_CONNECT, SOCK_STREAM, "::1", PORT_NO, EPERM);

        /* A policy of the child's own wins in the child (deepest policed cgroup). */
        r = run_cgpolicy(child, NULL, NULL, "apply", "--unit=payload.service", "--connect-deny=any", "--connect-allow=tcp:47081", NULL);
        ok(r == 0, "%s: apply in the child cgroup", s);
        expect(child, "child's own policy", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, ECONNREFUSED);
        expect(child, "child's own policy", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
        expect(grandchild, "child's own policy", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
        expect(cg, "parent keeps its policy", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, 0);
        expect(cg, "parent keeps its policy", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, EPERM);

        /* systemd runs control processes of Delegate=yes units in ".control": apply from there
         * polices the unit's cgroup. */
        {
                _cleanup_free_ char *unitcg = test_env_cgroup(&env, "ctlunit");
                char ctlp[600];

                snprintf(ctlp, sizeof ctlp, "%s/.control", unitcg);
                mkdir(ctlp, 0755);
                ctl = strdup(ctlp);
                ok(test_attach(&env, unitcg, CGP_DIRS_ALL) == 0, ".control: programs attached to the unit's cgroup");
                r = run_cgpolicy(ctl, NULL, NULL, "apply", "--unit=ctlunit.service", "--connect-deny=tcp:47080", NULL);
                ok(r == 0, ".control: apply run from the .control sub-cgroup");
                expect(unitcg, ".control", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
                expect(unitcg, ".control", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, ECONNREFUSED);
                r = run_cgpolicy(NULL, &st, NULL, "status", "ctlunit.service", NULL);
                ok(r == 0 && st && strstr(st, "/ctlunit (id"), ".control: status shows the unit's cgroup, not .control");
                if (st && !strstr(st, "/ctlunit (id"))
                        diag("%s", st);
        }
}

/* "load" again, twice, while a process in a policed cgroup keeps connecting and sending. */
static void test_reload_live(void) {
        static const char *const rules[] = { "--connect-deny=any", "--connect-allow=tcp:47080", "--connect-allow=udp:47090", NULL };
        _cleanup_free_ char *cg = policed("live", rules);
        int stop[2], res[2];
        unsigned long counts[2] = {};
        struct bpf_prog_info info = {};
        __u32 len = sizeof info, id_before = 0, id_after = 0;
        _cleanup_close_ int pfd = -EBADF;
        pid_t pid;
        int r1, r2;

        pfd = test_pin_get(&env, "connect4");
        if (pfd >= 0 && bpf_obj_get_info_by_fd(pfd, &info, &len) == 0)
                id_before = info.id;

        if (pipe2(stop, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
                die("pipe: %m");
        pid = test_fork();
        if (pid < 0)
                die("fork: %s", strerror(-pid));
        if (pid == 0) {
                static const Req reqs[] = {
                        { OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK },
                        { OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO },
                        { OP_SENDTO, SOCK_DGRAM, "::1", PORT_UDP_OK },
                        { OP_SENDTO, SOCK_DGRAM, "127.0.0.1", PORT_UDP_NO },
                };
                static const int want[] = { 0, EPERM, 0, EPERM };
                unsigned long n = 0, wrong = 0;
                struct pollfd p = { stop[0], POLLIN, 0 };

                close(stop[1]);
                if (cgroup_join(cg) < 0)
                        _exit(1);
                /* Until the parent closes the pipe, and at least 200 rounds of four calls. */
                while (n < 800 || poll(&p, 1, 0) == 0) {
                        if (do_request(&reqs[n % 4]) != want[n % 4])
                                wrong++;
                        n++;
                        if (n > 200000)
                                break;
                }
                unsigned long out[2] = { n, wrong };
                if (write(res[1], out, sizeof out) != sizeof out)
                        _exit(1);
                _exit(0);
        }
        close(stop[0]);
        close(res[1]);

        usleep(100000);
        r1 = run_cgpolicy(NULL, NULL, NULL, "load", NULL);
        usleep(50000);
        r2 = run_cgpolicy(NULL, NULL, NULL, "load", NULL);
        usleep(100000);
        close(stop[1]);
        if (read(res[0], counts, sizeof counts) != sizeof counts)
                counts[0] = 0;
        close(res[0]);
        (void) test_wait(pid);

        ok(r1 == 0 && r2 == 0, "load run twice more succeeds");
        ok(counts[0] >= 800 && counts[1] == 0, "live traffic during two reloads: %lu calls, %lu wrongly allowed or refused",
           counts[0], counts[1]);

        close(pfd);
        pfd = test_pin_get(&env, "connect4");
        memset(&info, 0, sizeof info);
        len = sizeof info;
        if (pfd >= 0 && bpf_obj_get_info_by_fd(pfd, &info, &len) == 0)
                id_after = info.id;
        ok(id_before != 0 && id_after != 0 && id_before != id_after, "the pin now names the newly loaded program (%u → %u)",
           id_before, id_after);

        /* The new programs use the same maps: a cgroup attached to them sees existing policies. */
        {
                _cleanup_free_ char *sub = test_env_cgroup(&env, "live/after");
                expect(sub, "after reload", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, EPERM);
                expect(sub, "after reload", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, 0);
                ok(test_attach(&env, sub, CGP_DIRS_ALL) == 0, "after reload: new programs attached to a child cgroup too");
                expect(sub, "after reload, new programs", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, EPERM);
                expect(sub, "after reload, new programs", OP_SENDTO, SOCK_DGRAM, "127.0.0.1", PORT_UDP_OK, 0);
        }
}

/* The words of the fast set (cgpolicy-abi.h) that belong to the cgroup at fs path cg. */
static unsigned fast_words(const char *cg) {
        _cleanup_free_ char *pin = xasprintf("%s/maps/cgp_fast", env.pin_dir);
        _cleanup_close_ int fd = bpf_obj_get(pin);
        _cleanup_free_ struct cgp_fast_set *set = malloc(sizeof(struct cgp_fast_set));
        uint64_t id = 0;
        unsigned n = 0;
        __u32 zero = 0;

        if (fd < 0 || !set || cg_fs_get_id(cg, &id) < 0 || bpf_map_lookup_elem(fd, &zero, set) < 0)
                return UINT_MAX;
        for (uint32_t i = 0; i < CGP_FAST_WORDS; i++)
                if (set->w[i] > CGP_FAST_TOMB && (uint32_t) (set->w[i] >> 32) == (uint32_t) id)
                        n++;
        return n;
}

/* A single-port allow is answered from the fast set; a new policy must hold from the moment
 * "apply" (or "release") returns, for a process that keeps sending on the same socket. */
static void test_fast_set(void) {
        static const char *const allow[] = { "--connect-deny=any", "--connect-allow=udp:47090", NULL };
        _cleanup_free_ char *cg = policed("fast", allow);
        int cmd[2], res[2], e[5] = { -1, -1, -1, -1, -1 };
        pid_t pid;
        char c;

        ok(fast_words(cg) == 2, "fast set: udp:47090 of the policy is in the set, for IPv4 and IPv6 (%u words)",
           fast_words(cg));

        if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
                die("pipe: %m");
        pid = test_fork();
        if (pid < 0)
                die("fork: %s", strerror(-pid));
        if (pid == 0) {
                struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(PORT_UDP_OK),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                int fd;

                close(cmd[1]);
                close(res[0]);
                if (cgroup_join(cg) < 0)
                        _exit(1);
                fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                /* One sendto() on the same socket per command byte; its errno back. */
                while (read(cmd[0], &c, 1) == 1) {
                        int err = sendto(fd, "x", 1, 0, (struct sockaddr *) &to, sizeof to) < 0 ? errno : 0;

                        if (write(res[1], &err, sizeof err) != sizeof err)
                                _exit(1);
                }
                _exit(0);
        }
        close(cmd[0]);
        close(res[1]);

#define SEND(i) (write(cmd[1], "s", 1) == 1 && read(res[0], &e[i], sizeof e[i]) == sizeof e[i])
        (void) SEND(0);
        ok(run_cgpolicy(cg, NULL, NULL, "apply", "--unit=fast.service", "--connect-deny=udp:47090", NULL) == 0,
           "fast set: apply of a policy denying udp:47090 succeeds");
        ok(fast_words(cg) == 0, "fast set: no word of the cgroup is left (%u)", fast_words(cg));
        (void) SEND(1);
        ok(run_cgpolicy(cg, NULL, NULL, "apply", "--unit=fast.service", "--connect-deny=any", "--connect-allow=udp:47090", NULL) == 0,
           "fast set: apply of the allow again succeeds");
        (void) SEND(2);
        ok(run_cgpolicy(cg, NULL, NULL, "release", "--unit=fast.service", NULL) == 0, "fast set: release succeeds");
        ok(fast_words(cg) == 0, "fast set: release removes the cgroup's words (%u)", fast_words(cg));
        (void) SEND(3);
#undef SEND
        close(cmd[1]);
        close(res[0]);
        (void) test_wait(pid);

        ok(e[0] == 0, "fast set: allowed before (%s)", strerror(e[0]));
        ok(e[1] == EPERM, "fast set: the next send on the same socket after apply of a deny is EPERM (%s)", strerror(e[1]));
        ok(e[2] == 0, "fast set: the next send after apply of the allow is allowed (%s)", strerror(e[2]));
        ok(e[3] == EPERM, "fast set: the next send after release is EPERM, no policy (%s)", strerror(e[3]));
}

static void test_release_gc(void) {
        static const char *const rules[] = { "--connect-deny=any", "--connect-allow=tcp:47080", NULL };
        _cleanup_free_ char *cg = policed("rel", rules), *gone = policed("gone", rules);
        _cleanup_free_ char *st = NULL, *st2 = NULL;
        long long exact0, exact1, exact2;
        int r;

        /* tcp:47080, both families: two entries of each policy in the exact port map. */
        exact0 = test_map_entries(&env, "cgp_port_exact");
        r = run_cgpolicy(cg, NULL, NULL, "release", "--unit=rel.service", NULL);
        ok(r == 0, "release from inside the cgroup succeeds");
        exact1 = test_map_entries(&env, "cgp_port_exact");
        ok(exact0 >= 4 && exact1 == exact0 - 2, "release removed the policy's two exact port entries (%lld -> %lld)",
           exact0, exact1);
        /* Programs still attached, policy gone: fail closed again. */
        expect(cg, "after release", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);
        r = run_cgpolicy(NULL, &st, NULL, "status", NULL);
        ok(st && !strstr(st, "rel.service") && strstr(st, "gone.service"), "status no longer lists the released unit");

        /* gc: the cgroup of "gone" disappears without release. */
        ok(rmdir(gone) == 0, "cgroup of gone.service removed without release");
        r = run_cgpolicy(NULL, NULL, NULL, "gc", NULL);
        ok(r == 0, "gc succeeds");
        r = run_cgpolicy(NULL, &st2, NULL, "status", NULL);
        ok(st2 && !strstr(st2, "gone.service") && strstr(st2, "allowlist.service"),
           "gc removed the policy of the removed cgroup and kept the others");
        exact2 = test_map_entries(&env, "cgp_port_exact");
        ok(exact2 == exact1 - 2, "gc removed its two exact port entries (%lld -> %lld)", exact1, exact2);
        {
                _cleanup_(closedirp) DIR *d = opendir(env.rundir);
                unsigned n = 0;
                for (struct dirent *de; d && (de = readdir(d)); )
                        if (de->d_name[0] != '.')
                                n++;
                free(st);
                st = NULL;
                r = run_cgpolicy(NULL, &st, NULL, "status", "--json", NULL);
                unsigned units = 0;
                for (const char *p = st; p && (p = strstr(p, "\"unit\":")); p++)
                        units++;
                ok(n == units, "runtime records (%u) match the policed cgroups (%u)", n, units);
        }
}

static void test_attach_repair(void) {
        static const char *const rules[] = { "--connect-deny=any", "--connect-allow=tcp:47080", "--bind-deny=any", NULL };
        _cleanup_free_ char *cg = policed("repair", rules), *bare = test_env_cgroup(&env, "bare"), *out = NULL;
        int r;

        ok(test_detach(&env, cg, "connect4") == 0 && test_n_effective(cg, "connect4") == 0, "repair: connect4 detached (as after systemctl restart)");
        r = run_cgpolicy(cg, &out, NULL, "apply", "--unit=repair.service", "--connect-deny=any", "--connect-allow=tcp:47080", "--bind-deny=any", NULL);
        ok(r == 0 && test_n_effective(cg, "connect4") == 1, "repair: apply re-attached connect4 (exit %d)", r);
        ok(test_n_effective(cg, "bind4") == 1 && test_n_effective(cg, "sendmsg6") == 1, "repair: the other programs are attached once");
        expect(cg, "repair", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, EPERM);
        expect(cg, "repair", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, 0);

        /* Nothing attached at all: apply attaches what the policy needs (connect only here). */
        r = run_cgpolicy(bare, NULL, NULL, "apply", "--unit=bare.service", "--connect-deny=tcp:47080", NULL);
        ok(r == 0 && test_n_effective(bare, "connect4") == 1 && test_n_effective(bare, "connect6") == 1 &&
           test_n_effective(bare, "sendmsg4") == 1 && test_n_effective(bare, "bind4") == 0,
           "repair: apply attaches the connect and sendmsg programs to a bare cgroup, and no bind program");
        expect(bare, "repair (bare)", OP_CONNECT, SOCK_STREAM, "::1", PORT_OK, EPERM);
}

static void test_errors(void) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "errors"), *out = NULL, *out2 = NULL;
        int r;

        r = run_cgpolicy(cg, &out, NULL, "apply", "--unit=bad.service", "--error=/etc/x.service:3: X-CgPolicyBindAlow: unknown key", NULL);
        ok(r == 1 && out && strstr(out, "/etc/x.service:3: X-CgPolicyBindAlow: unknown key"), "apply --error= logs the message and exits 1");
        r = run_cgpolicy(cg, &out2, NULL, "apply", "--unit=bad.service", "--connect-allow=tcp:0", NULL);
        ok(r == 1 && out2 && strstr(out2, "tcp:0"), "apply with a bad rule exits 1 and names it");
        expect(cg, "no policy after errors", OP_BIND, SOCK_STREAM, "127.0.0.1", 47100, 0);  /* nothing attached here */
}

static void test_slice(void) {
        char root_env[700], *out = NULL;
        _cleanup_free_ char *svc = NULL;
        struct stat st;
        int r;

        char slice[700];

        snprintf(root_env, sizeof root_env, "CGPOLICY_CGROUP_ROOT=%s", env.cg_path);
        snprintf(slice, sizeof slice, "%s/pol.slice/pol-web.slice", env.cg);
        r = run_cgpolicy(NULL, NULL, root_env, "apply", "--slice=pol-web.slice", "--connect-deny=any", "--connect-allow=tcp:47080", NULL);
        ok(r == 0, "apply --slice=pol-web.slice succeeds");
        ok(stat(slice, &st) == 0 && S_ISDIR(st.st_mode), "apply --slice created pol.slice/pol-web.slice");
        /* apply attaches the programs itself, also to the cgroup it created before systemd
         * realizes the slice (systemd attaches nothing of cgpolicy's). */
        ok(test_n_effective(slice, "connect4") == 1 && test_n_effective(slice, "sendmsg6") == 1 &&
           test_n_effective(slice, "bind4") == 0,
           "apply --slice attaches the connect programs, once, to the slice cgroup it created");
        svc = test_env_cgroup(&env, "pol.slice/pol-web.slice/app.service");
        expect(svc, "service in policed slice", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, EPERM);
        expect(svc, "service in policed slice", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, 0);
        r = run_cgpolicy(NULL, &out, NULL, "status", "pol-web.slice", NULL);
        ok(r == 0 && out && strstr(out, "pol-web.slice"), "status SLICE shows the slice");
        free(out);
        r = run_cgpolicy(NULL, NULL, root_env, "release", "--slice=pol-web.slice", NULL);
        ok(r == 0, "release --slice succeeds");
        expect(svc, "after slice release", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, EPERM);

        /* A slice systemd realized without the programs (the pins did not exist yet when it
         * did): apply --slice attaches them itself, the slice must not run unpoliced. */
        FOREACH_CGP_HOOK(h)
                if (cgp_hook_needed(h, CGP_DIRS(CGP_DIR_CONNECT)))
                        (void) test_detach(&env, slice, h->name);
        ok(test_n_effective(svc, "connect4") == 0, "slice realized without the programs");
        r = run_cgpolicy(NULL, NULL, root_env, "apply", "--slice=pol-web.slice", "--connect-deny=any", "--connect-allow=tcp:47080", NULL);
        ok(r == 0 && test_n_effective(slice, "connect4") == 1 && test_n_effective(slice, "sendmsg6") == 1 &&
           test_n_effective(slice, "bind4") == 0,
           "apply --slice attaches the connect programs to an existing slice cgroup without them");
        expect(svc, "slice repaired", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_NO, EPERM);
        expect(svc, "slice repaired", OP_CONNECT, SOCK_STREAM, "127.0.0.1", PORT_OK, 0);
        r = run_cgpolicy(NULL, NULL, root_env, "release", "--slice=pol-web.slice", NULL);
        ok(r == 0, "release --slice succeeds again");
}

static void test_incompatible_layout(void) {
        char dir[128], maps[160], pin[200], tmpl[] = "/tmp/cgp-layout-XXXXXX", dir_env[200];
        _cleanup_free_ char *out = NULL;
        struct cgp_meta meta = { .magic = CGP_MAGIC, .layout_version = CGP_LAYOUT_VERSION + 41 };
        __u32 zero = 0;
        int fd, r;

        if (!mkdtemp(tmpl) || mount("bpf", tmpl, "bpf", 0, NULL) < 0) {
                ok(false, "layout: private bpffs for the layout test: %s", strerror(errno));
                return;
        }
        snprintf(dir, sizeof dir, "%s/cgpolicy", tmpl);
        snprintf(maps, sizeof maps, "%s/maps", dir);
        mkdir(dir, 0700);
        mkdir(maps, 0700);
        snprintf(pin, sizeof pin, "%s/cgp_meta", maps);
        fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "cgp_meta", 4, sizeof meta, 1, NULL);
        ok(fd >= 0 && bpf_map_update_elem(fd, &zero, &meta, 0) == 0 && bpf_obj_pin(fd, pin) == 0,
           "layout: a meta map of layout version %u pinned", meta.layout_version);
        snprintf(dir_env, sizeof dir_env, "CGPOLICY_BPFFS_DIR=%s", dir);
        r = run_cgpolicy(NULL, &out, dir_env, "load", NULL);
        ok(r == 1 && out && strstr(out, "layout version"), "layout: load refuses an incompatible pinned layout, clearly (exit %d)", r);
        if (out)
                diag("%s", out);
        if (fd >= 0)
                close(fd);
        umount2(tmpl, MNT_DETACH);
        rmdir(tmpl);
}

int main(int argc, char **argv) {
        int r;

        if (argc != 4) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY CHECK-STATUS-OUTPUT PROMTOOL\n", argv[0]);
                return 2;
        }
        cgpolicy = argv[1];
        check_script = argv[2];
        promtool = argv[3];
        r = test_start(&env, "cgpolicy-test");
        if (r != 0)
                return r;
        diag("cgroup %s, bpffs %s", env.cg, env.bpffs);

        /* A network namespace of the test's own (lo up): its fixed ports never meet those of
         * another run on the same machine. */
        r = netns_new();
        if (r < 0) {
                printf("not ok 1 - a network namespace of the test's own: %s\n1..1\n", strerror(-r));
                return 1;
        }
        if (start_server() < 0) {
                printf("not ok 1 - start the loopback server\n1..1\n");
                return 1;
        }

        ok(run_cgpolicy(NULL, NULL, NULL, "load", NULL) == 0, "cgpolicy load into a private bpffs");
        ok(run_cgpolicy(NULL, NULL, NULL, "load", NULL) == 0, "cgpolicy load again (idempotent)");

        test_fail_closed();
        test_allow_list();
        test_deny_ranges("enforce");
        test_deny_ranges("audit");
        test_cidrs();
        test_any("enforce");
        test_any("audit");
        test_machine_output();
        test_netns();
        test_delegate();
        test_attach_repair();
        test_errors();
        test_slice();
        test_reload_live();
        test_fast_set();
        test_release_gc();
        test_incompatible_layout();

        return tap_done();
}
