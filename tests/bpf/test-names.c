/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Connect rules by name (issue 14) in a real kernel, in a network namespace of the test's own
 * with a small DNS server on loopback (in this file): a lookup of an allowed name and a connect
 * to its answer are allowed on the first try, thousands of times in a row (no race between the
 * answer and the connect); the same address without a lookup, after the TTL, from another unit,
 * or on another port is refused with EPERM; a CNAME chain, a wildcard, AAAA; answers with the
 * wrong id, from the wrong port or address, for another question, truncated, or sent to a
 * socket that asked nothing open nothing; a flood of answers stays within the map's bound;
 * status shows the addresses a rule allows now. A learning unit's lookups are recorded with what
 * they answered (no spoofed one, no name that is no rule's), "cgpolicy learn" proposes name
 * rules from them, and that proposal in force lets the same workload through and refuses the
 * address without a lookup.
 *
 * Usage: test-names PATH-TO-CGPOLICY. Needs root; exits 77 (skip) without it unless $CI is
 * set, where a missing privilege is a failure. */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cgpolicy-abi.h"
#include "cgpolicy-hooks.h"
#include "macro.h"
#include "tap.h"
#include "test-util.h"

#define PORT            47301u          /* the TCP servers the names point at */
#define PORT_OTHER      47302u          /* a port no rule names */
#define LOOP            3000u           /* lookups then connects in a row */
#define FLOOD_QUERIES   2200u           /* x 16 addresses: more than CGP_DNS_MAX_LEARNED */

static const char *cgpolicy;
static TestEnv env;

/* ---- DNS messages ---- */

/* "a.b" → 1 a 1 b 0 at p; returns the bytes written. */
static size_t put_name(uint8_t *p, const char *name) {
        size_t n = 0;

        for (const char *l = name; *l;) {
                size_t len = strcspn(l, ".");

                p[n++] = (uint8_t) len;
                memcpy(p + n, l, len);
                n += len;
                l += len;
                if (*l == '.')
                        l++;
        }
        p[n++] = 0;
        return n;
}

/* The name at off (no compression: queries have none) as "a.b" into buf; the offset after it. */
static size_t get_name(const uint8_t *m, size_t len, size_t off, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = 0;
        while (off < len && m[off] != 0) {
                size_t l = m[off++];

                if (off + l > len || n + l + 2 > size)
                        return len + 1;
                if (n > 0)
                        buf[n++] = '.';
                for (size_t i = 0; i < l; i++)
                        buf[n + i] = (char) tolower(m[off + i]);
                n += l;
                off += l;
        }
        buf[n] = 0;
        return off + 1;
}

static size_t put_query(uint8_t *m, uint16_t id, const char *name, uint16_t qtype) {
        size_t n = 12;

        memset(m, 0, 12);
        m[0] = (uint8_t) (id >> 8);
        m[1] = (uint8_t) id;
        m[2] = 0x01;                    /* RD */
        m[5] = 1;                       /* QDCOUNT */
        n += put_name(m + n, name);
        m[n++] = (uint8_t) (qtype >> 8);
        m[n++] = (uint8_t) qtype;
        m[n++] = 0;
        m[n++] = 1;                     /* IN */
        return n;
}

/* A record owned by the name at offset owner (a compression pointer), or by name when owner is
 * 0. */
static size_t put_rr(uint8_t *m, size_t n, size_t owner, const char *name, uint16_t type, uint32_t ttl,
                     const void *rdata, size_t rdlen) {
        if (owner) {
                m[n++] = (uint8_t) (0xc0 | owner >> 8);
                m[n++] = (uint8_t) owner;
        } else
                n += put_name(m + n, name);
        m[n++] = (uint8_t) (type >> 8);
        m[n++] = (uint8_t) type;
        m[n++] = 0;
        m[n++] = 1;
        m[n++] = (uint8_t) (ttl >> 24);
        m[n++] = (uint8_t) (ttl >> 16);
        m[n++] = (uint8_t) (ttl >> 8);
        m[n++] = (uint8_t) ttl;
        m[n++] = (uint8_t) (rdlen >> 8);
        m[n++] = (uint8_t) rdlen;
        memcpy(m + n, rdata, rdlen);
        return n + rdlen;
}

/* ---- the DNS server ---- */

enum { SRV_MAIN4, SRV_MAIN6, SRV_OTHER_PORT, SRV_OTHER_ADDR, _SRV_MAX };

static void answer_with(uint8_t *m, size_t qend, uint16_t an) {
        m[2] = 0x81;                    /* QR, RD */
        m[3] = 0x80;                    /* RA */
        m[6] = (uint8_t) (an >> 8);
        m[7] = (uint8_t) an;
}

static uint32_t ipv4(const char *a) {
        struct in_addr in;

        if (inet_pton(AF_INET, a, &in) != 1)
                abort();
        return in.s_addr;
}

/* Answers one query received on fds[i] from peer: see the names in main(). */
static void serve_one(const int fds[_SRV_MAX], int i, const uint8_t *q, size_t qlen,
                      const struct sockaddr_storage *peer, socklen_t peer_len) {
        uint8_t m[4096];
        char name[256];
        size_t n, qend;
        uint16_t qtype, an = 0;
        int out = fds[i];
        bool truncated = false;
        uint32_t a;

        if (qlen < 12 || qlen > sizeof m)
                return;
        memcpy(m, q, qlen);
        qend = get_name(m, qlen, 12, name, sizeof name);
        if (qend + 4 > qlen)
                return;
        qtype = (uint16_t) (m[qend] << 8 | m[qend + 1]);
        n = qend + 4;

        if (qtype == 1 && streq(name, "allowed.test")) {
                a = ipv4("127.0.0.2");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
        } else if (qtype == 1 && streq(name, "short.test")) {
                a = ipv4("127.0.0.3");
                n = put_rr(m, n, 12, NULL, 1, 1, &a, 4), an = 1;
        } else if (qtype == 1 && streq(name, "alias.test")) {
                /* alias.test CNAME cdn.other.test, cdn.other.test CNAME edge.other.test,
                 * edge.other.test A 127.0.0.4 (the owners as pointers into the rdata). */
                uint8_t rd[64];
                size_t l = put_name(rd, "cdn.other.test"), at;

                at = n + 12;
                n = put_rr(m, n, 12, NULL, 5, 300, rd, l);
                l = put_name(rd, "edge.other.test");
                n = put_rr(m, n, at, NULL, 5, 300, rd, l);
                a = ipv4("127.0.0.4");
                n = put_rr(m, n, 0, "edge.other.test", 1, 300, &a, 4);
                an = 3;
        } else if (qtype == 1 && streq(name, "a.wild.test")) {
                a = ipv4("127.0.0.5");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
        } else if (qtype == 1 && streq(name, "deep.down.wild.test")) {
                a = ipv4("127.0.0.6");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
        } else if (qtype == 1 && streq(name, "wild.test")) {
                a = ipv4("127.0.0.17");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
        } else if (qtype == 28 && streq(name, "v6.test")) {
                struct in6_addr a6;

                if (inet_pton(AF_INET6, "fd00::6", &a6) != 1)
                        abort();
                n = put_rr(m, n, 12, NULL, 28, 300, &a6, 16), an = 1;
        } else if (qtype == 1 && streq(name, "unlisted.test")) {
                a = ipv4("127.0.0.7");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
        } else if (qtype == 1 && streq(name, "spoof-id.test")) {
                a = ipv4("127.0.0.8");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
                m[1] ^= 0x55;
        } else if (qtype == 1 && streq(name, "spoof-port.test")) {
                a = ipv4("127.0.0.12");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
                out = fds[SRV_OTHER_PORT];
        } else if (qtype == 1 && streq(name, "spoof-src.test")) {
                a = ipv4("127.0.0.13");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
                out = fds[SRV_OTHER_ADDR];
        } else if (qtype == 1 && streq(name, "tc.test")) {
                a = ipv4("127.0.0.16");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
                truncated = true;
        } else if (qtype == 1 && streq(name, "mismatch.wild.test")) {
                /* The answer names another question of the same rule: same id, same socket. */
                uint8_t r[512];
                size_t k = put_query(r, (uint16_t) (m[0] << 8 | m[1]), "other.wild.test", 1);

                a = ipv4("127.0.0.15");
                k = put_rr(r, k, 12, NULL, 1, 300, &a, 4);
                answer_with(r, 0, 1);
                (void) sendto(out, r, k, 0, (const struct sockaddr *) peer, peer_len);
                return;
        } else if (qtype == 1 && strncmp(name, "evil", 4) == 0) {
                /* A name no rule can hold (a newline, '='), as a service may ask it. */
                a = ipv4("127.0.0.10");
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
        } else if (qtype == 1 && strncmp(name, "p", 1) == 0 && strstr(name, ".pushed.test")) {
                /* pPORT.pushed.test: an empty answer, and an answer to a question never asked
                 * sent to PORT of the asker's address. */
                struct sockaddr_in to = *(const struct sockaddr_in *) peer;
                uint8_t r[512];
                size_t k = put_query(r, 0x4242, "x.pushed.test", 1);

                a = ipv4("127.0.0.14");
                k = put_rr(r, k, 12, NULL, 1, 300, &a, 4);
                answer_with(r, 0, 1);
                to.sin_port = htons((uint16_t) atoi(name + 1));
                (void) sendto(out, r, k, 0, (const struct sockaddr *) &to, sizeof to);
        } else if (qtype == 1 && name[0] == 'r' && strstr(name, ".wild.test")) {
                /* rN.wild.test: 127.3.N/256.N%256 */
                unsigned k = (unsigned) atoi(name + 1);

                a = htonl(0x7f030000u | (k & 0xffff));
                n = put_rr(m, n, 12, NULL, 1, 300, &a, 4), an = 1;
        } else if (qtype == 1 && name[0] == 'f' && strstr(name, ".wild.test")) {
                /* fN.wild.test: 16 addresses of 10.0.0.0/8 of its own. */
                unsigned k = (unsigned) atoi(name + 1);

                for (unsigned j = 0; j < 16; j++) {
                        a = htonl(0x0a000000u | ((k * 16 + j) & 0xffffff));
                        n = put_rr(m, n, 12, NULL, 1, 300, &a, 4);
                }
                an = 16;
        }

        answer_with(m, qend, an);
        if (truncated)
                m[2] |= 0x02;
        (void) sendto(out, m, n, 0, (const struct sockaddr *) peer, peer_len);
}

static int udp_bound(const char *addr, uint16_t port) {
        struct sockaddr_storage ss;
        socklen_t sl;
        int family = sockaddr_parse(addr, port, &ss, &sl), fd;

        if (family < 0)
                return -EINVAL;
        fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &ss, sl) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

static pid_t dns_server_start(void) {
        int fds[_SRV_MAX];
        pid_t pid;

        fds[SRV_MAIN4] = udp_bound("127.0.0.1", 53);
        fds[SRV_MAIN6] = udp_bound("::1", 53);
        fds[SRV_OTHER_PORT] = udp_bound("127.0.0.1", 5353);
        fds[SRV_OTHER_ADDR] = udp_bound("127.0.0.9", 53);
        for (int i = 0; i < _SRV_MAX; i++)
                if (fds[i] < 0)
                        return fds[i];

        pid = test_fork();
        if (pid != 0) {
                for (int i = 0; i < _SRV_MAX; i++)
                        close(fds[i]);
                return pid;
        }
        for (;;) {
                struct pollfd p[2] = { { .fd = fds[SRV_MAIN4], .events = POLLIN },
                                       { .fd = fds[SRV_MAIN6], .events = POLLIN } };

                if (poll(p, 2, -1) < 0)
                        continue;
                for (int i = 0; i < 2; i++) {
                        struct sockaddr_storage peer;
                        socklen_t pl = sizeof peer;
                        uint8_t q[1500];
                        ssize_t k;

                        if (!(p[i].revents & POLLIN))
                                continue;
                        k = recvfrom(fds[i], q, sizeof q, MSG_DONTWAIT, (struct sockaddr *) &peer, &pl);
                        if (k > 0)
                                serve_one(fds, i, q, (size_t) k, &peer, pl);
                }
        }
}

/* ---- the unit's side ---- */

/* One lookup as glibc's resolver makes it: a query from a socket of its own to the server, the
 * answer read; returns 0 when an answer came, -1 when none did within 2 s. */
static int lookup(const char *server, const char *name, uint16_t qtype) {
        struct sockaddr_storage ss;
        socklen_t sl;
        int family = sockaddr_parse(server, 53, &ss, &sl), fd, r = -1;
        uint8_t m[512], a[4096];
        size_t n;

        fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        n = put_query(m, (uint16_t) random(), name, qtype);
        if (sendto(fd, m, n, 0, (struct sockaddr *) &ss, sl) == (ssize_t) n) {
                struct pollfd p = { .fd = fd, .events = POLLIN };

                /* The first datagram that comes, from wherever (an answer from another port or
                 * address is read too, as the process would read it), and any queued after it. */
                for (int t = 2000; poll(&p, 1, t) > 0; t = 0)
                        if (recv(fd, a, sizeof a, MSG_DONTWAIT) > 0)
                                r = 0;
        }
        close(fd);
        return r;
}

/* connect() over TCP: 0, or the errno. */
static int tcp_connect(const char *addr, uint16_t port) {
        struct sockaddr_storage ss;
        socklen_t sl;
        int family = sockaddr_parse(addr, port, &ss, &sl), fd, r = 0;

        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errno;
        if (connect(fd, (struct sockaddr *) &ss, sl) < 0)
                r = errno;
        close(fd);
        return r;
}

typedef struct Step {
        const char *server;     /* NULL: no lookup */
        const char *name;
        uint16_t qtype;
        const char *addr;       /* then connect here */
        uint16_t port;
} Step;

/* In a child process in cg: the lookup (if any), then the connect. The connect's errno (0 when
 * it succeeded), or 250 + something when the run itself failed. */
static int in_unit(const char *cg, const Step *s) {
        pid_t pid = test_fork();

        if (pid < 0)
                return 254;
        if (pid == 0) {
                if (cgroup_join(cg) < 0)
                        _exit(251);
                srandom((unsigned) getpid());
                if (s->server && lookup(s->server, s->name, s->qtype) < 0)
                        _exit(252);
                _exit(tcp_connect(s->addr, s->port));
        }
        return test_wait(pid);
}

static const char *errname(int e) {
        return e == 0 ? "allowed" : e == EPERM ? "EPERM" : e == 252 ? "no answer" : strerror(e);
}

#define EXPECT(cg, want, desc, ...) do {                                                        \
                int _r = in_unit((cg), &(Step) { __VA_ARGS__ });                                 \
                ok(_r == (want), "%s: %s (got %s)", desc, errname(want), errname(_r));           \
        } while (0)

#define RULES "--connect-allow=udp:53", "--connect-allow=allowed.test:tcp:47301", \
        "--connect-allow=short.test:47301", "--connect-allow=alias.test:47301", \
        "--connect-allow=*.wild.test:tcp:47301", "--connect-allow=ipv6:v6.test:47301", \
        "--connect-allow=spoof-id.test:47301", "--connect-allow=spoof-port.test:47301", \
        "--connect-allow=spoof-src.test:47301", "--connect-allow=*.pushed.test:47301", \
        "--connect-allow=tc.test:47301", "--connect-deny=any"

static char *policed(const char *name) {
        char *cg = test_env_cgroup(&env, name);
        char unit[64];

        snprintf(unit, sizeof unit, "--unit=%s.service", name);
        if (test_cgpolicy(cgpolicy, cg, NULL, "apply", unit, RULES, NULL) != 0)
                die("cannot police %s", name);
        return cg;
}

static void test_allowed(const char *a, const char *b) {
        EXPECT(a, EPERM, "no lookup yet: connect to 127.0.0.2", .addr = "127.0.0.2", .port = PORT);
        EXPECT(a, 0, "lookup allowed.test, connect to its 127.0.0.2", .server = "127.0.0.1", .name = "allowed.test",
               .qtype = 1, .addr = "127.0.0.2", .port = PORT);
        EXPECT(a, 0, "later, without another lookup: still allowed (TTL 300 s)", .addr = "127.0.0.2", .port = PORT);
        EXPECT(a, EPERM, "the same address on a port the rule does not name", .addr = "127.0.0.2", .port = PORT_OTHER);
        EXPECT(b, EPERM, "another unit with the same rules, which made no lookup", .addr = "127.0.0.2", .port = PORT);
        EXPECT(a, EPERM, "lookup unlisted.test (no rule), connect to its 127.0.0.7", .server = "127.0.0.1",
               .name = "unlisted.test", .qtype = 1, .addr = "127.0.0.7", .port = PORT);
        EXPECT(a, EPERM, "lookup over IPv6 (::1) of wild.test (a wildcard does not match its own name)",
               .server = "::1", .name = "wild.test", .qtype = 1, .addr = "127.0.0.17", .port = PORT);
        EXPECT(a, 0, "lookup *.wild.test: a.wild.test, connect to 127.0.0.5", .server = "127.0.0.1",
               .name = "a.wild.test", .qtype = 1, .addr = "127.0.0.5", .port = PORT);
        EXPECT(a, 0, "lookup deep.down.wild.test (two labels below), over IPv6", .server = "::1",
               .name = "deep.down.wild.test", .qtype = 1, .addr = "127.0.0.6", .port = PORT);
        EXPECT(a, 0, "lookup alias.test: a chain of two CNAMEs to 127.0.0.4", .server = "127.0.0.1",
               .name = "Alias.TEST", .qtype = 1, .addr = "127.0.0.4", .port = PORT);
        EXPECT(a, 0, "lookup AAAA v6.test, connect to fd00::6", .server = "127.0.0.1", .name = "v6.test",
               .qtype = 28, .addr = "fd00::6", .port = PORT);
}

static void test_spoofed(const char *a) {
        EXPECT(a, EPERM, "an answer with another transaction id opens nothing", .server = "127.0.0.1",
               .name = "spoof-id.test", .qtype = 1, .addr = "127.0.0.8", .port = PORT);
        EXPECT(a, EPERM, "an answer from another port (5353) opens nothing", .server = "127.0.0.1",
               .name = "spoof-port.test", .qtype = 1, .addr = "127.0.0.12", .port = PORT);
        EXPECT(a, EPERM, "an answer from another address (127.0.0.9) opens nothing", .server = "127.0.0.1",
               .name = "spoof-src.test", .qtype = 1, .addr = "127.0.0.13", .port = PORT);
        EXPECT(a, EPERM, "an answer for another question (other.wild.test) opens nothing", .server = "127.0.0.1",
               .name = "mismatch.wild.test", .qtype = 1, .addr = "127.0.0.15", .port = PORT);
        EXPECT(a, EPERM, "a truncated answer (TC) opens nothing", .server = "127.0.0.1", .name = "tc.test",
               .qtype = 1, .addr = "127.0.0.16", .port = PORT);

        /* An answer to a socket that sent no query. */
        {
                pid_t pid = test_fork();
                int r;

                if (pid == 0) {
                        int fd;
                        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                        socklen_t sl = sizeof sin;
                        char name[64];
                        uint8_t buf[512];
                        struct pollfd p;

                        if (cgroup_join(a) < 0)
                                _exit(251);
                        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                        if (fd < 0 || bind(fd, (struct sockaddr *) &sin, sizeof sin) < 0 ||
                            getsockname(fd, (struct sockaddr *) &sin, &sl) < 0)
                                _exit(253);
                        snprintf(name, sizeof name, "p%u.pushed.test", ntohs(sin.sin_port));
                        if (lookup("127.0.0.1", name, 1) < 0)
                                _exit(252);
                        p = (struct pollfd) { .fd = fd, .events = POLLIN };
                        if (poll(&p, 1, 2000) <= 0 || recv(fd, buf, sizeof buf, 0) <= 0)
                                _exit(252);
                        _exit(tcp_connect("127.0.0.14", PORT));
                }
                r = test_wait(pid);
                ok(r == EPERM, "an answer sent to a socket that asked nothing opens nothing: EPERM (got %s)",
                   errname(r));
        }
}

/* status: per name rule, the addresses allowed now and the seconds they have left. */
static void test_status(void) {
        _cleanup_free_ char *out = NULL, *json = NULL, *plain = NULL;
        const char *l;
        unsigned left = 0;

        ok(test_cgpolicy(cgpolicy, NULL, &out, "status", "names-a.service", NULL) == 0 && out, "status names-a.service");
        if (!out)
                return;
        l = strstr(out, "      name: tcp:allowed.test:47301: 127.0.0.2 (");
        ok(l && sscanf(l + strlen("      name: tcp:allowed.test:47301: 127.0.0.2 ("), "%u s)", &left) == 1 &&
           left > 250 && left <= 300, "status shows allowed.test's 127.0.0.2 with its lifetime left (%u s of 300)", left);
        ok(strstr(out, "      name: ipv6:v6.test:47301: fd00::6 (") != NULL, "status shows v6.test's fd00::6");
        ok(strstr(out, "      name: tcp:*.wild.test:47301: 127.0.0.5 (") != NULL &&
           strstr(out, ", 127.0.0.6 (") != NULL, "status shows both addresses the wildcard allows");
        ok(strstr(out, "      name: spoof-id.test:47301: none now\n") != NULL,
           "status shows a rule that allows nothing now (the spoofed answer taught it nothing)");
        if (!strstr(out, "127.0.0.2 ("))
                diag("%s", out);

        ok(test_cgpolicy(cgpolicy, NULL, &json, "status", "--json", "names-a.service", NULL) == 0 && json &&
           strstr(json, "\"names\":[{\"rule\":\"tcp:allowed.test:47301\",\"addresses\":[{\"address\":\"127.0.0.2\","
                  "\"expires_in_s\":") != NULL, "status --json lists the addresses of each name rule");
        ok(test_cgpolicy(cgpolicy, NULL, &plain, "status", "--json", "plain.service", NULL) == 0 && plain &&
           strstr(plain, "\"names\":[]") != NULL, "status --json: no name rules, no names");
}

/* The race: each lookup answers a new address, connected to at once. */
static void test_race(const char *a) {
        pid_t pid = test_fork();
        int r;

        if (pid == 0) {
                unsigned refused = 0, failed = 0;

                if (cgroup_join(a) < 0)
                        _exit(251);
                for (unsigned i = 0; i < LOOP; i++) {
                        char name[64], addr[32];
                        int k;

                        snprintf(name, sizeof name, "r%u.wild.test", i + 1);
                        snprintf(addr, sizeof addr, "127.3.%u.%u", ((i + 1) >> 8) & 0xff, (i + 1) & 0xff);
                        if (lookup("127.0.0.1", name, 1) < 0) {
                                failed++;
                                continue;
                        }
                        k = tcp_connect(addr, PORT);
                        if (k == EPERM)
                                refused++;
                        else if (k != 0)
                                failed++;
                }
                _exit(refused > 0 ? 1 : failed > 0 ? 2 : 0);
        }
        r = test_wait(pid);
        ok(r == 0, "%u lookups of new names, each followed at once by a connect to its answer: all allowed "
           "(exit %d: 1 = some refused, 2 = other failures)", LOOP, r);
}

static void test_ttl(const char *a) {
        EXPECT(a, 0, "lookup short.test (TTL 1 s, kept 5 s), connect at once", .server = "127.0.0.1",
               .name = "short.test", .qtype = 1, .addr = "127.0.0.3", .port = PORT);
        sleep(CGP_DNS_TTL_MIN_S + 2);
        EXPECT(a, EPERM, "after the TTL (clamped to 5 s) has run out", .addr = "127.0.0.3", .port = PORT);
}

static void test_flood(const char *a) {
        long long before, after;
        pid_t pid;
        int r;

        before = test_map_entries(&env, "cgp_dns_learned");
        pid = test_fork();
        if (pid == 0) {
                if (cgroup_join(a) < 0)
                        _exit(251);
                for (unsigned i = 0; i < FLOOD_QUERIES; i++) {
                        char name[64];

                        snprintf(name, sizeof name, "f%u.wild.test", i);
                        (void) lookup("127.0.0.1", name, 1);
                }
                _exit(0);
        }
        r = test_wait(pid);
        after = test_map_entries(&env, "cgp_dns_learned");
        ok(r == 0 && after > before && after <= (long long) CGP_DNS_MAX_LEARNED,
           "a flood of %u answers of 16 addresses: the learned addresses stay within the bound "
           "(%lld before, %lld after, at most %u)", FLOOD_QUERIES, before, after, CGP_DNS_MAX_LEARNED);
        EXPECT(a, 0, "after the flood, a lookup and a connect still work", .server = "127.0.0.1",
               .name = "allowed.test", .qtype = 1, .addr = "127.0.0.2", .port = PORT);
}

static void test_attached(const char *a, const char *plain) {
        /* egress: the source-route program of every connect policy, and the DNS one. */
        ok(test_n_effective(a, "dns_egress") == 2 && test_n_effective(a, "dns_ingress") == 1,
           "a unit with name rules has the two DNS programs, once each (egress %u, ingress %u)",
           test_n_effective(a, "dns_egress"), test_n_effective(a, "dns_ingress"));
        ok(test_n_effective(plain, "dns_egress") == 1 && test_n_effective(plain, "dns_ingress") == 0,
           "a unit without name rules has none of them (egress %u: the source-route program; ingress %u)",
           test_n_effective(plain, "dns_egress"), test_n_effective(plain, "dns_ingress"));
}

/* What a learning unit does (test_learn()): lookups, each followed by a connect to its answer;
 * a spoofed answer, a name no rule can hold and a connect without a lookup keep address rules. */
static const Step learn_steps[] = {
        { "127.0.0.1", "allowed.test",  1,  "127.0.0.2", PORT },
        { "127.0.0.1", "Alias.TEST",    1,  "127.0.0.4", PORT },
        { "::1",       "v6.test",       28, "fd00::6",   PORT },
        { "127.0.0.1", "a.wild.test",   1,  "127.0.0.5", PORT },
        { "127.0.0.1", "r1.wild.test",  1,  "127.3.0.1", PORT },
        { "::1",       "r2.wild.test",  1,  "127.3.0.2", PORT },
        { "127.0.0.1", "r3.wild.test",  1,  "127.3.0.3", PORT },
        { "127.0.0.1", "spoof-id.test", 1,  "127.0.0.8", PORT },
        { "127.0.0.1", "evil\nX-CgPolicyConnectAllow=any.test", 1, "127.0.0.10", PORT },
        { NULL,        NULL,            0,  "127.0.0.3", PORT },
        { "127.0.0.1", "allowed.test",  1,  "127.0.0.2", PORT },
};

/* The steps in cg: how many failed (a connect refused, an answer missing). */
static unsigned learn_workload(const char *cg) {
        unsigned failed = 0;

        for (size_t i = 0; i < ELEMENTSOF(learn_steps); i++) {
                int r = in_unit(cg, &learn_steps[i]);

                if (r != 0) {
                        diag("step %zu (%s, %s): %s", i, learn_steps[i].name ?: "no lookup", learn_steps[i].addr,
                             errname(r));
                        failed++;
                }
        }
        return failed;
}

/* The names table of "learn --records" (after the records), without its times. */
static char *learned_names(const char *unit) {
        _cleanup_free_ char *out = NULL;
        char *res = NULL, *line, *save = NULL;
        size_t size = 0;
        bool in_names = false;
        FILE *f;

        if (test_cgpolicy(cgpolicy, NULL, &out, "learn", unit, "--records", NULL) != 0 || !out)
                return strdup("(failed)");
        f = open_memstream(&res, &size);
        if (!f)
                die("out of memory");
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char u[256], name[256], fam[8], addr[64];
                unsigned ttl;
                unsigned long long count;

                if (startswith(line, "UNIT NAME FAMILY ADDRESS TTL ANSWERS")) {
                        in_names = true;
                        continue;
                }
                if (in_names && sscanf(line, "%255s %255s %7s %63s %u %llu", u, name, fam, addr, &ttl, &count) == 6)
                        fprintf(f, "%s %s %s %s %u %llu\n", u, name, fam, addr, ttl, count);
        }
        fclose(f);
        return res;
}

static void test_learn(void) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "learner"), *enforced = test_env_cgroup(&env, "learned");
        _cleanup_free_ char *names = NULL, *proposal = NULL;
        _cleanup_strv_free_ char **args = NULL;
        int n;

        ok(test_cgpolicy(cgpolicy, cg, NULL, "apply", "--unit=ln.service", "--mode=learn", NULL) == 0,
           "ln.service: apply --mode=learn, no rules");
        ok(test_n_effective(cg, "dns_ingress") == 1, "a learning unit has the DNS programs: its lookups are read");
        ok(learn_workload(cg) == 0, "learning: every lookup answered and every connect allowed");

        names = learned_names("ln.service");
        ok(names && streq(names,
                          "ln.service a.wild.test ipv4 127.0.0.5 300 1\n"
                          "ln.service alias.test ipv4 127.0.0.4 300 1\n"
                          "ln.service allowed.test ipv4 127.0.0.2 300 2\n"
                          "ln.service r1.wild.test ipv4 127.3.0.1 300 1\n"
                          "ln.service r2.wild.test ipv4 127.3.0.2 300 1\n"
                          "ln.service r3.wild.test ipv4 127.3.0.3 300 1\n"
                          "ln.service v6.test ipv6 fd00::6 300 1\n"),
           "learn --records: the names looked up with their answers (the CNAME chain's address under the "
           "question; not the spoofed answer, not the name no rule can hold), each with its count");
        if (names)
                diag("names:\n%s", names);

        ok(test_cgpolicy(cgpolicy, NULL, &proposal, "learn", "ln.service", NULL) == 0 && proposal,
           "learn ln.service: a proposal");
        if (!proposal)
                return;
        diag("%s", proposal);
        ok(strstr(proposal, "\nX-CgPolicyConnectAllow=tcp:allowed.test:47301\n") &&
           strstr(proposal, "\nX-CgPolicyConnectAllow=tcp:alias.test:47301\n") &&
           strstr(proposal, "\nX-CgPolicyConnectAllow=tcp:v6.test:47301\n") &&
           strstr(proposal, "\nX-CgPolicyConnectAllow=tcp:*.wild.test:47301\n"),
           "the proposal has name rules for the names looked up (4 names below wild.test: *.wild.test)");
        ok(!strstr(proposal, "=tcp:127.0.0.2:") && !strstr(proposal, "=tcp:[fd00::6]:") && !strstr(proposal, "=tcp:127.3.0."),
           "the addresses reached through a lookup get no address rule");
        ok(strstr(proposal, "\nX-CgPolicyConnectAllow=tcp:127.0.0.8:47301\n") &&
           strstr(proposal, "\nX-CgPolicyConnectAllow=tcp:127.0.0.10:47301\n") &&
           strstr(proposal, "\nX-CgPolicyConnectAllow=tcp:127.0.0.3:47301\n") && !strstr(proposal, "evil"),
           "a spoofed answer's address, a name no rule can hold and a connect without a lookup keep address rules");
        ok(strstr(proposal, "\nX-CgPolicyConnectAllow=udp:127.0.0.1:53\n") &&
           strstr(proposal, "\nX-CgPolicyConnectAllow=udp:[::1]:53\n"),
           "the resolvers stay address rules (a name rule never allows a resolver)");

        n = test_proposal_to_args(proposal, "lne.service", &args);
        ok(n > 2, "the proposal's keys as apply options (%d)", n);
        if (n <= 2)
                return;
        ok(test_cgpolicy_argv(cgpolicy, enforced, NULL, NULL, (const char *const *) args) == 0,
           "lne.service: apply the proposal of ln.service (enforce)");
        EXPECT(enforced, EPERM, "enforcing: no lookup yet, connect to allowed.test's 127.0.0.2", .addr = "127.0.0.2",
               .port = PORT);
        ok(learn_workload(enforced) == 0, "enforcing the proposal: the same workload has no failure");
        EXPECT(enforced, EPERM, "enforcing: lookup unlisted.test, connect to its 127.0.0.7", .server = "127.0.0.1",
               .name = "unlisted.test", .qtype = 1, .addr = "127.0.0.7", .port = PORT);
        EXPECT(enforced, EPERM, "enforcing: allowed.test on a port it never used", .server = "127.0.0.1",
               .name = "allowed.test", .qtype = 1, .addr = "127.0.0.2", .port = PORT_OTHER);
        EXPECT(enforced, 0, "enforcing: a name below wild.test never looked up while learning", .server = "127.0.0.1",
               .name = "r9.wild.test", .qtype = 1, .addr = "127.3.0.9", .port = PORT);
}

/* The names a learner keeps are bounded, per learner: a flood of answers in one learning unit
 * keeps at most CGP_LEARN_DNS_RECORDS of them and leaves another learner's alone. */
static void test_learn_flood(void) {
        _cleanup_free_ char *cg = test_env_cgroup(&env, "learn-flood"), *before = NULL, *after = NULL, *flood = NULL;
        unsigned queries = CGP_LEARN_DNS_RECORDS / 16 + 40, lines = 0;
        pid_t pid;

        before = learned_names("ln.service");
        ok(test_cgpolicy(cgpolicy, cg, NULL, "apply", "--unit=lf.service", "--mode=learn", NULL) == 0,
           "lf.service: apply --mode=learn");
        pid = test_fork();
        if (pid == 0) {
                if (cgroup_join(cg) < 0)
                        _exit(251);
                srandom((unsigned) getpid());
                for (unsigned i = 0; i < queries; i++) {
                        char name[64];

                        snprintf(name, sizeof name, "f%u.wild.test", i);
                        if (lookup("127.0.0.1", name, 1) < 0)
                                _exit(1);
                }
                _exit(0);
        }
        ok(test_wait(pid) == 0, "lf.service: %u lookups answered with 16 addresses each", queries);
        flood = learned_names("lf.service");
        for (const char *p = flood; p && (p = strchr(p, '\n')); p++)
                lines++;
        ok(lines > 0 && lines <= CGP_LEARN_DNS_RECORDS, "lf.service keeps %u names and addresses of %u answered, "
           "at most %u", lines, queries * 16, CGP_LEARN_DNS_RECORDS);
        after = learned_names("ln.service");
        ok(before && after && streq(before, after), "ln.service's names are untouched by lf.service's flood");
}

int main(int argc, char **argv) {
        const ServerSocket tcp[] = {
                { SOCK_STREAM, "0.0.0.0", PORT },
                { SOCK_STREAM, "0.0.0.0", PORT_OTHER },
                { SOCK_STREAM, "fd00::6", PORT },
        };
        char *a, *b, *plain;
        pid_t pid;
        int k;

        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-TO-CGPOLICY\n", argv[0]);
                return 2;
        }
        cgpolicy = argv[1];
        k = test_start(&env, "cgpolicy-names");
        if (k != 0)
                return k;
        if (netns_new() < 0 || loopback_add_ipv6("fd00::6", 128) < 0)
                die("cannot make a network namespace with fd00::6 on lo");
        ok(test_cgpolicy(cgpolicy, NULL, NULL, "load", NULL) == 0, "cgpolicy load into a private bpffs");

        pid = server_start(tcp, ELEMENTSOF(tcp));
        if (pid < 0)
                die("cannot start the TCP servers: %s", strerror((int) -pid));
        test_env_add_child(&env, pid);
        pid = dns_server_start();
        if (pid < 0)
                die("cannot start the DNS server: %s", strerror((int) -pid));
        test_env_add_child(&env, pid);

        a = policed("names-a");
        b = policed("names-b");
        plain = test_env_cgroup(&env, "plain");
        if (test_cgpolicy(cgpolicy, plain, NULL, "apply", "--unit=plain.service", "--connect-allow=udp:53",
                         "--connect-allow=tcp:47301", "--connect-deny=any", NULL) != 0)
                die("cannot police plain");

        test_attached(a, plain);
        test_allowed(a, b);
        test_spoofed(a);
        test_status();
        test_race(a);
        test_ttl(a);
        test_flood(a);
        test_learn();
        test_learn_flood();

        free(a);
        free(b);
        free(plain);
        return tap_done();
}
