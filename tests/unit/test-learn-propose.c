/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The learning mode's proposer (libcgpolicy/learn-propose.c):
 *
 * - golden cases, one directory each under tests/unit/learn/: "records" (the learned records,
 *   one a line, see read_records()), "unit", and optionally "names" (the lookups, see
 *   read_names()), "threshold", "evictions", "resolv.conf" and "current.conf" (the current
 *   policy, KEY=VALUE lines); the drop-in, the
 *   JSON and the diff must equal "proposal.conf", "proposal.json" and "proposal.diff" byte for
 *   byte (LEARN_UPDATE_GOLDEN=1 writes them instead, to be reviewed);
 * - every proposal (golden and random) is parsed back through the one parser (policy_assign())
 *   and must allow every learned request (policy_allows(), the socket kinds, or a name rule
 *   matching a name that reached it: reached() below, written apart from the proposer), and
 *   is valid JSON;
 * - requests outside a proposal are refused: another port, an address outside the proposed
 *   prefix, another protocol;
 * - the grouping options, bad input, the order of the records not mattering, name rules
 *   (which lookups count, wildcards, the limit, the diff against name rules), and the reader
 *   of resolv.conf. */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "fileio.h"
#include "learn-propose.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "tap.h"

static const char *cases_dir;

typedef int (*propose_fn)(const char *unit, const LearnRecord *r, size_t n, const LearnOptions *o, FILE *f);

/* Run fn into a string. */
static int propose_to_string(propose_fn fn, const char *unit, const LearnRecord *r, size_t n,
                             const LearnOptions *o, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int k;

        f = open_memstream(&buf, &size);
        if (!f)
                return -errno;
        k = fn(unit, r, n, o, f);
        if (fclose(f) != 0 && k >= 0)
                k = -errno;
        if (k < 0)
                return k;
        *ret = TAKE_PTR(buf);
        return 0;
}

static bool parse_address(const char *s, int *ret_family, PolicyAddress *ret) {
        *ret = (PolicyAddress) {};
        if (inet_pton(AF_INET, s, &ret->in) == 1) {
                *ret_family = AF_INET;
                return true;
        }
        if (inet_pton(AF_INET6, s, &ret->in6) == 1) {
                *ret_family = AF_INET6;
                return true;
        }
        return false;
}

static LearnRecord rec(LearnDirection d, int protocol, const char *address, uint16_t port, uint64_t count) {
        LearnRecord r = {
                .dir = d,
                .protocol = protocol,
                .port = port,
                .count = count,
                .first_usec = 1764000000ULL * 1000000,
                .last_usec = 1764003600ULL * 1000000,
        };

        if (!parse_address(address, &r.family, &r.address))
                abort();
        return r;
}

/* One record a line:
 *   bind|listen|connect tcp|udp|other ADDRESS PORT COUNT FIRST LAST [denied]
 * ("listen": a bind record of listen() on a port the kernel chose, PORT 0)
 *   socket KIND COUNT FIRST LAST [denied]
 * FIRST and LAST in seconds since the epoch; '#' comments. */
static int read_records(const char *path, LearnRecord **ret, size_t *ret_n) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ LearnRecord *l = NULL;
        char line[512];
        size_t n = 0;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f)) {
                char dir[16], a[64], b[64], denied[16] = "";
                unsigned long long count, first, last;
                unsigned port;
                LearnRecord r = {};
                LearnRecord *x;
                int k;

                if (line[0] == '#' || line[0] == '\n')
                        continue;
                if (sscanf(line, "%15s", dir) != 1)
                        return -EINVAL;
                if (streq(dir, "socket")) {
                        k = sscanf(line, "%15s %63s %llu %llu %llu %15s", dir, a, &count, &first, &last, denied);
                        if (k < 5)
                                return -EINVAL;
                        r.dir = LEARN_SOCKET;
                        k = policy_socket_kind_from_string(a);
                        if (k < 0)
                                return k;
                        r.socket_kind = (unsigned) k;
                        r.family = AF_INET;
                } else {
                        k = sscanf(line, "%15s %63s %63s %u %llu %llu %llu %15s", dir, a, b, &port, &count,
                                   &first, &last, denied);
                        if (k < 7 || port > 65535)
                                return -EINVAL;
                        r.dir = streq(dir, "bind") || streq(dir, "listen") ? LEARN_BIND :
                                streq(dir, "connect") ? LEARN_CONNECT : _LEARN_DIRECTION_MAX;
                        r.listen = streq(dir, "listen");
                        if (r.dir == _LEARN_DIRECTION_MAX)
                                return -EINVAL;
                        r.protocol = streq(a, "tcp") ? IPPROTO_TCP : streq(a, "udp") ? IPPROTO_UDP : 0;
                        if (!parse_address(b, &r.family, &r.address))
                                return -EINVAL;
                        r.port = (uint16_t) port;
                }
                r.count = count;
                r.first_usec = first * 1000000ULL;
                r.last_usec = last * 1000000ULL;
                r.denied = streq(denied, "denied");

                x = reallocarray(l, n + 1, sizeof(LearnRecord));
                if (!x)
                        return -ENOMEM;
                l = x;
                l[n++] = r;
        }
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

/* One lookup a line:
 *   NAME ADDRESS TTL COUNT FIRST LAST [UNIT]
 * FIRST and LAST in seconds since the epoch; UNIT (the unit that looked it up) NULL when not
 * given, as the records' unit; '#' comments. The names and units are strdup()ed into *ret_strings
 * (freed with strv_free()). */
static int read_names(const char *path, LearnName **ret, size_t *ret_n, char ***ret_strings) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ LearnName *l = NULL;
        _cleanup_strv_free_ char **strings = NULL;
        size_t n = 0, n_strings = 0;
        char line[512];

        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f)) {
                char name[300], a[64], unit[256] = "";
                unsigned long long count, first, last;
                unsigned ttl;
                LearnName x = {};
                int k;

                if (line[0] == '#' || line[0] == '\n')
                        continue;
                k = sscanf(line, "%299s %63s %u %llu %llu %llu %255s", name, a, &ttl, &count, &first, &last, unit);
                if (k < 6 || !parse_address(a, &x.family, &x.address))
                        return -EINVAL;
                x.ttl = ttl;
                x.count = count;
                x.first_usec = first * 1000000ULL;
                x.last_usec = last * 1000000ULL;

                char **s = reallocarray(strings, n_strings + 3, sizeof(char *));
                if (!s)
                        return -ENOMEM;
                strings = s;
                strings[n_strings] = strdup(name);
                strings[n_strings + 1] = NULL;
                if (!strings[n_strings])
                        return -ENOMEM;
                x.name = strings[n_strings++];
                if (unit[0]) {
                        strings[n_strings] = strdup(unit);
                        strings[n_strings + 1] = NULL;
                        if (!strings[n_strings])
                                return -ENOMEM;
                        x.unit = strings[n_strings++];
                }

                LearnName *y = reallocarray(l, n + 1, sizeof(LearnName));
                if (!y)
                        return -ENOMEM;
                l = y;
                l[n++] = x;
        }
        *ret = TAKE_PTR(l);
        *ret_n = n;
        *ret_strings = TAKE_PTR(strings);
        return 0;
}

/* KEY=VALUE lines of a drop-in through the one parser; comments, blank lines and section
 * headers skipped. Returns the number of lines assigned, or -EINVAL at the first error. */
static int parse_dropin(const char *text, const char *name, Policy *p) {
        unsigned line = 0;
        int n = 0;

        for (const char *l = text; *l;) {
                size_t len = strcspn(l, "\n");
                _cleanup_free_ char *s = strndup(l, len);
                char *eq;

                line++;
                l += len + (l[len] == '\n');
                if (!s)
                        return -ENOMEM;
                if (!*s || *s == '#' || *s == '[')
                        continue;
                eq = strchr(s, '=');
                if (!eq)
                        return -EINVAL;
                *eq = 0;
                if (policy_assign(p, &(PolicySource) { name, line, s }, eq + 1) < 0)
                        return -EINVAL;
                n++;
        }
        return n;
}

/* A small JSON validator (RFC 8259 syntax only). */
static const char *json_ws(const char *p) {
        return p + strspn(p, " \t\r\n");
}

static const char *json_value(const char *p, unsigned depth);

static const char *json_string_end(const char *p) {
        if (*p != '"')
                return NULL;
        for (p++; *p != '"'; p++) {
                if ((unsigned char) *p < 0x20)
                        return NULL;
                if (*p == '\\') {
                        p++;
                        if (*p == 'u') {
                                for (int i = 1; i <= 4; i++)
                                        if (!isxdigit((unsigned char) p[i]))
                                                return NULL;
                                p += 4;
                        } else if (!*p || !strchr("\"\\/bfnrt", *p))
                                return NULL;
                }
        }
        return p + 1;
}

static const char *json_value(const char *p, unsigned depth) {
        if (depth > 64)
                return NULL;
        p = json_ws(p);
        if (*p == '{' || *p == '[') {
                char close = *p == '{' ? '}' : ']';

                p = json_ws(p + 1);
                if (*p == close)
                        return p + 1;
                for (;;) {
                        if (close == '}') {
                                p = json_string_end(json_ws(p));
                                if (!p)
                                        return NULL;
                                p = json_ws(p);
                                if (*p != ':')
                                        return NULL;
                                p++;
                        }
                        p = json_value(p, depth + 1);
                        if (!p)
                                return NULL;
                        p = json_ws(p);
                        if (*p == close)
                                return p + 1;
                        if (*p != ',')
                                return NULL;
                        p++;
                }
        }
        if (*p == '"')
                return json_string_end(p);
        if (startswith(p, "true"))
                return p + 4;
        if (startswith(p, "false"))
                return p + 5;
        if (startswith(p, "null"))
                return p + 4;
        if (*p == '-' || isdigit((unsigned char) *p)) {
                const char *q = p + (*p == '-');
                if (!isdigit((unsigned char) *q))
                        return NULL;
                if (*q == '0' && isdigit((unsigned char) q[1]))
                        return NULL;
                return q + strspn(q, "0123456789");
        }
        return NULL;
}

static bool json_valid(const char *s) {
        const char *p = json_value(s, 0);
        return p && !*json_ws(p);
}

/* Was connect record r reached by the lookup nm? The rule of learn-propose.h (NAMES), written
 * here apart from the proposer: the same unit, family and address, the lookup before the first
 * connect, the last connect within the lifetime of the last answer. */
static bool reached(const LearnName *nm, const LearnRecord *r) {
        if (r->dir != LEARN_CONNECT || (r->protocol != IPPROTO_TCP && r->protocol != IPPROTO_UDP) ||
            r->port == 0 || r->port == 53)
                return false;
        if (!(nm->unit == r->unit || (nm->unit && r->unit && streq(nm->unit, r->unit))))
                return false;
        if (nm->family != r->family ||
            memcmp(nm->address.bytes, r->address.bytes, nm->family == AF_INET ? 4 : 16) != 0)
                return false;
        return nm->first_usec <= r->first_usec &&
                (long double) r->last_usec <= (long double) nm->last_usec + (long double) nm->ttl * 1e6L;
}

/* Does a name rule of p allow r, reached by a name of names (as the kernel would, had the unit
 * looked it up again)? */
static bool name_allowed(const Policy *p, const LearnRecord *r, const LearnName *names, size_t n_names) {
        const PolicyRuleList *l = &p->rules[POLICY_CONNECT][POLICY_ALLOW];

        for (size_t i = 0; i < n_names; i++) {
                if (!reached(&names[i], r))
                        continue;
                for (size_t j = 0; j < l->n; j++) {
                        const PolicyRule *x = &l->rules[j];

                        if (policy_rule_is_name(x) && policy_rule_name_matches(x, names[i].name) &&
                            (x->family == 0 || x->family == r->family) &&
                            (x->protocol == 0 || x->protocol == r->protocol) &&
                            ((x->port_min == 0 && x->port_max == 0) ||
                             (r->port >= x->port_min && r->port <= x->port_max)))
                                return true;
                }
        }
        return false;
}

static bool record_allowed_by_address(const Policy *p, const LearnRecord *r) {
        if (r->dir == LEARN_SOCKET)
                return (p->socket_allow & r->socket_kind) == r->socket_kind;
        if (r->listen)
                return policy_allows_listen(p, r->family, r->protocol == IPPROTO_TCP || r->protocol == IPPROTO_UDP ?
                                            r->protocol : 0, r->address.bytes, r->port);
        return policy_allows(p, r->dir == LEARN_BIND ? POLICY_BIND : POLICY_CONNECT, r->family,
                             r->protocol == IPPROTO_TCP || r->protocol == IPPROTO_UDP ? r->protocol : 0,
                             r->address.bytes, r->port);
}

static bool record_allowed(const Policy *p, const LearnRecord *r, const LearnOptions *o) {
        return record_allowed_by_address(p, r) || (o && name_allowed(p, r, o->names, o->n_names));
}

/* The proposal for r, parsed back: valid, deny by default, and allowing every record.
 * *ret (may be NULL) gets the policy. */
static bool check_proposal(const char *what, const char *unit, const LearnRecord *r, size_t n,
                           const LearnOptions *o, Policy *ret) {
        _cleanup_free_ char *text = NULL, *json = NULL;
        _cleanup_(policy_done) Policy p = {};
        bool good = true;
        int k;

        policy_init(&p);
        k = propose_to_string(learn_propose_dropin, unit, r, n, o, &text);
        if (!ok(k == 0, "%s: a proposal is made (%s)", what, k < 0 ? strerror(-k) : "ok"))
                return false;
        k = parse_dropin(text, "proposal", &p);
        if (!ok(k > 0 && !p.error, "%s: the proposal parses through the one parser", what)) {
                diag("%s", text);
                return false;
        }
        good = ok(p.mode == POLICY_MODE_ENFORCE && p.rules[POLICY_BIND][POLICY_DENY].n == 1 &&
                  p.rules[POLICY_BIND][POLICY_DENY].rules[0].any &&
                  p.rules[POLICY_CONNECT][POLICY_DENY].n == 1 && p.rules[POLICY_CONNECT][POLICY_DENY].rules[0].any,
                  "%s: enforce mode, bind and connect denied by default", what);
        for (size_t i = 0; i < n; i++)
                if (!record_allowed(&p, &r[i], o)) {
                        char a[INET6_ADDRSTRLEN] = "-";

                        inet_ntop(r[i].family, &r[i].address, a, sizeof a);
                        diag("not allowed: record %zu: dir %d protocol %d %s port %u kind %u", i, (int) r[i].dir,
                             r[i].protocol, a, r[i].port, r[i].socket_kind);
                        good = false;
                }
        ok(good, "%s: the proposal allows each of the %zu records", what, n);

        /* Where it is to be installed, read as the generator reads unit files: the keys in the
         * unit type's own section, no error. */
        _cleanup_free_ char *path = NULL;
        UnitPolicy u;
        FILE *f;

        if (asprintf(&path, "/etc/systemd/system/%s.d/cgpolicy.conf", unit) < 0)
                abort();
        unit_policy_init(&u, unit_kind_from_path(path));
        f = fmemopen(text, strlen(text), "r");
        if (!f)
                abort();
        k = unit_policy_load_file(&u, path, f);
        fclose(f);
        ok(k == 0 && u.n_errors == 0 && !u.policy.error && policy_equal(&u.policy, &p),
           "%s: the unit-file reader reads the same policy from %s", what, path);
        unit_policy_done(&u);

        k = propose_to_string(learn_propose_json, unit, r, n, o, &json);
        if (!ok(k == 0 && json_valid(json), "%s: the JSON is valid", what))
                diag("%s", json ?: "(none)");

        if (ret) {
                *ret = p;               /* moved: p is left empty */
                policy_init(&p);
        }
        return good;
}

static int read_text(const char *dir, const char *name, char **ret) {
        _cleanup_free_ char *path = NULL;
        size_t size;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        return read_full_file(path, ret, &size);
}

static void compare_golden(const char *dir, const char *name, const char *got) {
        _cleanup_free_ char *expected = NULL, *path = NULL;
        int k;

        if (getenv("LEARN_UPDATE_GOLDEN")) {
                _cleanup_fclose_ FILE *f = NULL;

                if (asprintf(&path, "%s/%s", dir, name) < 0 || !(f = fopen(path, "we")))
                        abort();
                fputs(got, f);
        }
        k = read_text(dir, name, &expected);
        if (!ok(k == 0 && streq(expected, got), "%s/%s is what was proposed", dir, name))
                diag("got:\n%s", got);
}

static void strip_newline(char *s) {
        s[strcspn(s, "\n")] = 0;
}

static void test_golden_case(const char *name) {
        _cleanup_free_ char *dir = NULL, *unit = NULL, *threshold = NULL, *evictions = NULL, *current_text = NULL,
                *resolv = NULL, *text = NULL, *json = NULL, *diff = NULL;
        _cleanup_free_ LearnRecord *r = NULL;
        _cleanup_free_ LearnAddress *resolvers = NULL;
        _cleanup_free_ LearnName *names = NULL;
        _cleanup_strv_free_ char **name_strings = NULL;
        _cleanup_(policy_done) Policy current = {};
        LearnOptions o = { .prefix_threshold = LEARN_PREFIX_THRESHOLD_DEFAULT };
        size_t n = 0;
        int k;

        policy_init(&current);
        if (asprintf(&dir, "%s/%s", cases_dir, name) < 0)
                abort();
        if (asprintf(&resolv, "%s/records", dir) < 0)
                abort();
        k = read_records(resolv, &r, &n);
        resolv = mfree(resolv);
        if (!ok(k == 0, "%s: records read", name))
                return;
        if (!ok(read_text(dir, "unit", &unit) == 0, "%s: unit read", name))
                return;
        strip_newline(unit);
        if (read_text(dir, "threshold", &threshold) == 0)
                o.prefix_threshold = (unsigned) strtoul(threshold, NULL, 10);
        if (read_text(dir, "evictions", &evictions) == 0)
                o.evictions = strtoull(evictions, NULL, 10);
        if (asprintf(&resolv, "%s/names", dir) < 0)
                abort();
        if (access(resolv, F_OK) == 0) {
                k = read_names(resolv, &names, &o.n_names, &name_strings);
                if (!ok(k == 0, "%s: names read (%zu)", name, o.n_names))
                        return;
                o.names = names;
        }
        resolv = mfree(resolv);
        if (asprintf(&resolv, "%s/resolv.conf", dir) < 0)
                abort();
        k = learn_read_resolvers(resolv, &resolvers, &o.n_resolvers);
        ok(k == 0, "%s: resolvers read (%zu)", name, o.n_resolvers);
        o.resolvers = resolvers;
        if (read_text(dir, "current.conf", &current_text) == 0) {
                ok(parse_dropin(current_text, "current.conf", &current) >= 0 && !current.error,
                   "%s: current policy parses", name);
                o.current = &current;
        }

        check_proposal(name, unit, r, n, &o, NULL);

        ok(propose_to_string(learn_propose_dropin, unit, r, n, &o, &text) == 0, "%s: drop-in", name);
        ok(propose_to_string(learn_propose_json, unit, r, n, &o, &json) == 0, "%s: JSON", name);
        ok(propose_to_string(learn_propose_diff, unit, r, n, &o, &diff) == 0, "%s: diff", name);
        compare_golden(dir, "proposal.conf", text ?: "");
        compare_golden(dir, "proposal.json", json ?: "");
        compare_golden(dir, "proposal.diff", diff ?: "");

        /* The order of the records does not matter. */
        for (size_t i = 0; i < n / 2; i++) {
                LearnRecord t = r[i];
                r[i] = r[n - 1 - i];
                r[n - 1 - i] = t;
        }
        _cleanup_free_ char *text2 = NULL;
        ok(propose_to_string(learn_propose_dropin, unit, r, n, &o, &text2) == 0 && text && streq(text, text2),
           "%s: the same proposal from the records in reverse order", name);
}

static void test_golden(void) {
        static const char *const cases[] = {
                "web", "udp-lan", "udp-internet", "other-slice", "template", "empty", "listen",
                "names", "names-wildcard", "names-limit",
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                test_golden_case(cases[i]);
}

static bool allows(const Policy *p, PolicyDirection d, int protocol, const char *address, uint16_t port) {
        PolicyAddress a;
        int family;

        if (!parse_address(address, &family, &a))
                abort();
        return policy_allows(p, d, family, protocol, a.bytes, port);
}

/* listen() of address on a port the kernel chooses, as the kernel judges it. */
static bool listens(const Policy *p, int protocol, const char *address) {
        PolicyAddress a;
        int family;

        if (!parse_address(address, &family, &a))
                abort();
        return policy_allows_listen(p, family, protocol, a.bytes, 0);
}

/* Requests outside the proposal are refused. */
static void test_refusals(void) {
        const LearnRecord r[] = {
                rec(LEARN_BIND, IPPROTO_TCP, "0.0.0.0", 80, 3),
                rec(LEARN_BIND, IPPROTO_TCP, "127.0.0.1", 8080, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "192.0.2.1", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "192.0.2.2", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "192.0.2.3", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "192.0.2.4", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "198.51.100.7", 5432, 1),
                rec(LEARN_CONNECT, IPPROTO_UDP, "2001:db8::53", 53, 1),
        };
        _cleanup_(policy_done) Policy p = {};
        const LearnOptions o = { .prefix_threshold = 4 };

        policy_init(&p);
        if (!check_proposal("refusals", "web.service", r, ELEMENTSOF(r), &o, &p))
                return;

        ok(allows(&p, POLICY_CONNECT, IPPROTO_TCP, "192.0.2.200", 443),
           "refusals: another address in the proposed prefix 192.0.2.0/24 is allowed");
        ok(!allows(&p, POLICY_CONNECT, IPPROTO_TCP, "192.0.3.1", 443),
           "refusals: an address outside the proposed prefix is refused");
        ok(!allows(&p, POLICY_CONNECT, IPPROTO_TCP, "192.0.2.1", 444), "refusals: another port is refused");
        ok(!allows(&p, POLICY_CONNECT, IPPROTO_UDP, "192.0.2.1", 443), "refusals: another protocol is refused");
        ok(!allows(&p, POLICY_CONNECT, 0, "192.0.2.1", 443), "refusals: protocol other is refused");
        ok(!allows(&p, POLICY_CONNECT, IPPROTO_TCP, "198.51.100.8", 5432),
           "refusals: a single address stays that address (its neighbour is refused)");
        ok(!allows(&p, POLICY_CONNECT, IPPROTO_TCP, "2001:db8::53", 53), "refusals: tcp to a udp target is refused");
        ok(!allows(&p, POLICY_CONNECT, IPPROTO_UDP, "2001:db8::54", 53), "refusals: another IPv6 address is refused");
        ok(allows(&p, POLICY_BIND, IPPROTO_TCP, "::", 80), "refusals: the wildcard bind is proposed for both families");
        ok(!allows(&p, POLICY_BIND, IPPROTO_UDP, "0.0.0.0", 80), "refusals: bind udp:80 is refused");
        ok(!allows(&p, POLICY_BIND, IPPROTO_TCP, "0.0.0.0", 8080), "refusals: bind to the wildcard address of 8080 is refused");
        ok(!allows(&p, POLICY_BIND, IPPROTO_TCP, "0.0.0.0", 81), "refusals: bind to another port is refused");
        ok(allows(&p, POLICY_BIND, IPPROTO_TCP, "0.0.0.0", 0), "refusals: bind to port 0 stays allowed (contract)");
        ok(p.socket_allow == 0, "refusals: no socket kind allowed when none was seen");
        ok(!listens(&p, IPPROTO_TCP, "0.0.0.0"), "refusals: listen() on a port the kernel chose is refused when none was seen");
}

/* listen() on a port the kernel chose: the narrowest rule for every port that allows it. */
static void test_listen(void) {
        LearnRecord r[] = {
                rec(LEARN_BIND, IPPROTO_TCP, "0.0.0.0", 0, 3),
                rec(LEARN_BIND, IPPROTO_TCP, "::1", 0, 2),
                rec(LEARN_BIND, IPPROTO_TCP, "::", 0, 5),
        };
        _cleanup_(policy_done) Policy p = {};

        r[0].listen = r[1].listen = true;       /* the last one is a bind() to port 0 */
        policy_init(&p);
        if (!check_proposal("listen", "listen.service", r, ELEMENTSOF(r), NULL, &p))
                return;
        ok(listens(&p, IPPROTO_TCP, "10.0.0.1"), "listen: on the IPv4 wildcard: every IPv4 TCP port is allowed");
        ok(listens(&p, IPPROTO_TCP, "::1"), "listen: on ::1: every TCP port of ::1 is allowed");
        ok(!listens(&p, IPPROTO_TCP, "::2"), "listen: another IPv6 address is refused (a bind() to port 0 opens nothing)");
        ok(allows(&p, POLICY_BIND, IPPROTO_TCP, "::1", 80) && !allows(&p, POLICY_BIND, IPPROTO_TCP, "::2", 80),
           "listen: the every-port rule of ::1 allows a bind() there too, not elsewhere");
        ok(!allows(&p, POLICY_BIND, IPPROTO_UDP, "10.0.0.1", 53), "listen: UDP is not opened by a TCP listen()");
}

/* The options of the grouping. */
static void test_threshold(void) {
        const LearnRecord r[] = {
                rec(LEARN_CONNECT, IPPROTO_TCP, "10.1.2.1", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "10.1.2.2", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "10.1.2.3", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_UDP, "10.1.2.4", 1500, 1),
                rec(LEARN_CONNECT, IPPROTO_UDP, "10.1.2.4", 1501, 1),
                rec(LEARN_CONNECT, IPPROTO_UDP, "10.1.2.4", 1502, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "fd00::1:1", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "fd00::1:2", 443, 1),
                rec(LEARN_CONNECT, IPPROTO_TCP, "fd00::2:3", 443, 1),
        };
        struct {
                unsigned threshold;
                const char *expect, *absent;
        } t[] = {
                { 0, "X-CgPolicyConnectAllow=tcp:10.1.2.3:443\n", "/24" },
                { 0, "X-CgPolicyConnectAllow=udp:10.1.2.4:1502\n", "1024-65535" },
                { 1, "X-CgPolicyConnectAllow=tcp:10.1.2.0/24:443\n", "tcp:10.1.2.1:443" },
                { 2, "X-CgPolicyConnectAllow=tcp:[fd00::/64]:443\n", "=tcp:[fd00::1:1]:443" },
                { 3, "X-CgPolicyConnectAllow=udp:10.1.2.4:1024-65535\n", "1502" },
                { 3, "X-CgPolicyConnectAllow=tcp:10.1.2.0/24:443\n", "=tcp:10.1.2.1:443" },
                { 4, "X-CgPolicyConnectAllow=tcp:[fd00::1:1]:443\n", "fd00::/64" },
                { 4, "X-CgPolicyConnectAllow=tcp:10.1.2.1:443\n", "/24" },
                { 4, "X-CgPolicyConnectAllow=udp:10.1.2.4:1500\n", "1024-65535" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *text = NULL;
                const LearnOptions o = { .prefix_threshold = t[i].threshold };

                ok(propose_to_string(learn_propose_dropin, "x.service", r, ELEMENTSOF(r), &o, &text) == 0 &&
                   strstr(text, t[i].expect) && !strstr(text, t[i].absent),
                   "threshold %u: has '%.*s', not '%s'", t[i].threshold, (int) strlen(t[i].expect) - 1,
                   t[i].expect, t[i].absent);
                check_proposal("threshold", "x.service", r, ELEMENTSOF(r), &o, NULL);
        }

        /* No options: the default threshold. */
        _cleanup_free_ char *text = NULL;
        ok(propose_to_string(learn_propose_dropin, "x.service", r, ELEMENTSOF(r), NULL, &text) == 0 &&
           strstr(text, "tcp:10.1.2.1:443") && !strstr(text, "/24"),
           "no options: the default threshold %u", LEARN_PREFIX_THRESHOLD_DEFAULT);
}

static void test_bad_input(void) {
        LearnRecord r[] = { rec(LEARN_CONNECT, IPPROTO_TCP, "10.0.0.1", 443, 1) };
        _cleanup_free_ char *text = NULL;
        static const char *const bad_units[] = {
                "", "foo", "foo.socket", ".service", "a/b.service", "a\nb.service", "a\tb.slice", "\xff.service",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad_units); i++) {
                char *s = NULL;
                ok(propose_to_string(learn_propose_dropin, bad_units[i], r, 1, NULL, &s) == -EINVAL,
                   "unit name %zu refused", i);
                free(s);
        }
        ok(propose_to_string(learn_propose_dropin, NULL, r, 1, NULL, &text) == -EINVAL, "no unit name refused");

        r[0].family = AF_UNIX;
        ok(propose_to_string(learn_propose_json, "a.service", r, 1, NULL, &text) == -EINVAL,
           "a record of family AF_UNIX is refused");
        r[0] = (LearnRecord) { .dir = LEARN_SOCKET, .socket_kind = 0 };
        ok(propose_to_string(learn_propose_diff, "a.service", r, 1, NULL, &text) == -EINVAL,
           "a socket record without a kind is refused");
        r[0] = (LearnRecord) { .dir = _LEARN_DIRECTION_MAX, .family = AF_INET };
        ok(propose_to_string(learn_propose_dropin, "a.service", r, 1, NULL, &text) == -EINVAL,
           "a record with an unknown direction is refused");

        /* A socket record with two kinds gives both; a protocol other than TCP/UDP is "other";
         * bytes of the union beyond an IPv4 address do not matter. */
        LearnRecord s[] = {
                { .dir = LEARN_SOCKET, .family = AF_INET, .socket_kind = POLICY_SOCKET_RAW | POLICY_SOCKET_SCTP, .count = 1 },
                rec(LEARN_CONNECT, IPPROTO_SCTP, "10.0.0.1", 9899, 2),
                rec(LEARN_CONNECT, 0, "10.0.0.1", 9899, 3),
        };
        memset(s[1].address.bytes + 4, 0xaa, 12);
        ok(propose_to_string(learn_propose_dropin, "a.service", s, ELEMENTSOF(s), NULL, &text) == 0 &&
           strstr(text, "X-CgPolicySocketAllow=raw\n") && strstr(text, "X-CgPolicySocketAllow=sctp\n") &&
           strstr(text, "X-CgPolicyConnectAllow=10.0.0.1:9899\n") && strstr(text, ": 5 times"),
           "two kinds in one record, SCTP as other, merged with the other record");
        check_proposal("bad input", "a.service", s, ELEMENTSOF(s), NULL, NULL);
}

/* Random records and lookups: every proposal is valid and allows them all. */
static void test_random(void) {
        static const char *const units[] = { NULL, "r@a.service", "r@b.service" };
        static const char *const odd_names[] = {
                "localhost", "1.2.3.4", "a.com", "b.com", "x.n1.example.net", "Upper.example.net",
                "under_score.example.net", "-bad.example.net", "*.n2.example.net", "n3.example.net.",
        };
        char name_pool[40][32];
        unsigned seed = 13, failures = 0, name_rules = 0, rounds_with_name_rules = 0, rounds_over_limit = 0;

        for (unsigned i = 0; i < ELEMENTSOF(name_pool); i++)
                snprintf(name_pool[i], sizeof name_pool[i], "n%u.p%u.example.net", i, i % 13);

        for (unsigned round = 0; round < 300; round++) {
                _cleanup_free_ LearnRecord *r = NULL;
                _cleanup_free_ LearnName *names = NULL;
                _cleanup_(policy_done) Policy p = {};
                _cleanup_free_ char *text = NULL, *json = NULL, *diff = NULL;
                size_t n = (size_t) (rand_r(&seed) % 60), n_names = (size_t) (rand_r(&seed) % 80);
                LearnOptions o = { .prefix_threshold = (unsigned) (rand_r(&seed) % 6) };

                policy_init(&p);
                r = calloc(n + 1, sizeof(LearnRecord));
                if (!r)
                        abort();
                for (size_t i = 0; i < n; i++) {
                        LearnRecord *x = &r[i];
                        unsigned v = (unsigned) rand_r(&seed);

                        x->dir = (LearnDirection) (v % 3);
                        x->family = (v >> 2) & 1 ? AF_INET6 : AF_INET;
                        x->protocol = (int[]) { IPPROTO_TCP, IPPROTO_UDP, 0, IPPROTO_SCTP }[(v >> 3) % 4];
                        if (round % 5 == 0) {
                                /* Every fifth set only TCP and UDP connects: many name rules. */
                                x->dir = LEARN_CONNECT;
                                x->protocol = (v >> 3) & 1 ? IPPROTO_UDP : IPPROTO_TCP;
                        }
                        x->socket_kind = 1u << ((v >> 5) % 5);
                        x->count = (v >> 8) % 5;
                        x->first_usec = (uint64_t) (v % 1000) * 1000000;
                        x->last_usec = x->first_usec + 5000000;
                        x->denied = (v >> 12) & 1;
                        /* Few distinct values, so that groups form. */
                        v = (unsigned) rand_r(&seed);
                        x->port = (uint16_t[]) { 0, 53, 80, 443, 1024, 5000, 40000, 65535 }[v % 8];
                        if ((v >> 3) % 4 == 0)
                                x->port = (uint16_t) (rand_r(&seed) % 65536);
                        x->address.bytes[0] = x->family == AF_INET ? (uint8_t[]) { 0, 10, 127, 192 }[(v >> 5) % 4] : 0xfd;
                        x->address.bytes[2] = (uint8_t) ((v >> 7) % 2);
                        x->address.bytes[x->family == AF_INET ? 3 : 15] = (uint8_t) ((v >> 8) % 7);
                        if (x->family == AF_INET6 && (v >> 11) % 4 == 0)
                                memset(x->address.bytes, 0, 16);
                        x->unit = units[(v >> 13) % 2];
                }

                /* Lookups: most of them answered an address a record went to. */
                names = calloc(n_names + 1, sizeof(LearnName));
                if (!names)
                        abort();
                for (size_t i = 0; i < n_names; i++) {
                        LearnName *x = &names[i];
                        unsigned v = (unsigned) rand_r(&seed);

                        x->name = (v % 8) == 0 ? odd_names[(v >> 3) % ELEMENTSOF(odd_names)] :
                                name_pool[(v >> 3) % ELEMENTSOF(name_pool)];
                        x->unit = units[(v >> 9) % 3];
                        x->family = (v >> 13) & 1 ? AF_INET6 : AF_INET;
                        x->address.bytes[0] = x->family == AF_INET ? 192 : 0xfd;
                        x->address.bytes[x->family == AF_INET ? 3 : 15] = (uint8_t) ((v >> 14) % 7);
                        x->first_usec = (uint64_t) ((v >> 17) % 1000) * 1000000;
                        if (n > 0 && (v >> 11) % 4 != 0) {
                                /* Around a record: its unit mostly, the lookup a little before
                                 * or after its first connect. */
                                const LearnRecord *y = &r[(size_t) rand_r(&seed) % n];

                                x->family = y->family;
                                x->address = y->address;
                                if ((v >> 27) % 4 != 0)
                                        x->unit = y->unit;
                                x->first_usec = y->first_usec - MIN(y->first_usec, (uint64_t) ((v >> 29) % 8) * 1000000);
                                if ((v >> 16) % 8 == 0)
                                        x->first_usec = y->first_usec + 1000000;
                        }
                        v = (unsigned) rand_r(&seed);
                        x->ttl = v % 30;
                        x->count = (v >> 5) % 4;
                        x->last_usec = x->first_usec + (uint64_t) ((v >> 7) % 10) * 1000000;
                }
                o.names = names;
                o.n_names = n_names;

                if (propose_to_string(learn_propose_dropin, "r@.service", r, n, &o, &text) < 0 ||
                    parse_dropin(text, "random", &p) < 0 || p.error) {
                        failures++;
                        continue;
                }
                for (size_t i = 0; i < n; i++)
                        if (!record_allowed(&p, &r[i], &o)) {
                                if (failures++ == 0)
                                        diag("round %u: record %zu not allowed by:\n%s", round, i, text);
                                break;
                        }
                name_rules += (unsigned) policy_n_names(&p);
                rounds_with_name_rules += policy_n_names(&p) > 0;
                rounds_over_limit += strstr(text, "# At most 16 name rules per unit") != NULL;
                o.current = &p;
                if (propose_to_string(learn_propose_json, "r@.service", r, n, &o, &json) < 0 || !json_valid(json) ||
                    propose_to_string(learn_propose_diff, "r@.service", r, n, &o, &diff) < 0 ||
                    strstr(diff, "\n+ ") || strstr(diff, "\n- ")) {
                        /* Against itself, the diff keeps everything. */
                        if (failures++ == 0)
                                diag("round %u: JSON or diff wrong:\n%s\n%s", round, json ?: "", diff ?: "");
                }
        }
        ok(failures == 0, "300 random sets of records and lookups: each proposal parses, allows every record, "
           "is valid JSON and is its own diff's base (%u failures)", failures);
        ok(rounds_with_name_rules >= 100 && rounds_over_limit >= 5,
           "random: %u of the proposals have name rules (%u in all), %u more than the limit",
           rounds_with_name_rules, name_rules, rounds_over_limit);
}

static LearnName lookup(const char *name, const char *address, uint32_t ttl, uint64_t first_s, uint64_t last_s) {
        LearnName x = {
                .name = name,
                .ttl = ttl,
                .count = 1,
                .first_usec = first_s * 1000000,
                .last_usec = last_s * 1000000,
        };

        if (!parse_address(address, &x.family, &x.address))
                abort();
        return x;
}

static LearnRecord connect_at(int protocol, const char *address, uint16_t port, uint64_t first_s, uint64_t last_s) {
        LearnRecord r = rec(LEARN_CONNECT, protocol, address, port, 1);

        r.first_usec = first_s * 1000000;
        r.last_usec = last_s * 1000000;
        return r;
}

/* Propose r with names (threshold t) into *ret; is line (a whole line) in it? */
static bool proposes(const LearnRecord *r, size_t n, const LearnName *names, size_t n_names, unsigned t,
                     const char *line) {
        _cleanup_free_ char *text = NULL, *want = NULL;
        const LearnOptions o = { .prefix_threshold = t, .names = names, .n_names = n_names };

        if (asprintf(&want, "\n%s\n", line) < 0)
                abort();
        if (propose_to_string(learn_propose_dropin, "n.service", r, n, &o, &text) < 0)
                return false;
        check_proposal("names", "n.service", r, n, &o, NULL);
        return strstr(text, want);
}

/* Which connects become name rules, and which stay addresses (learn-propose.h, NAMES). */
static void test_names(void) {
        LearnRecord r[1];
        LearnName nm[2];

        /* The lookup at 1000 s with a TTL of 60 s, answered again at 1100 s: connects from 1000 s
         * to 1160 s are reached by it. */
        nm[0] = lookup("api.example.com", "192.0.2.1", 60, 1000, 1100);
        r[0] = connect_at(IPPROTO_TCP, "192.0.2.1", 443, 1000, 1160);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:api.example.com:443"),
           "names: a connect right at the lookup, the last at the end of the TTL: a name rule");
        r[0] = connect_at(IPPROTO_TCP, "192.0.2.1", 443, 999, 1100);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:192.0.2.1:443"),
           "names: the first connect a second before the lookup: the address");
        r[0] = connect_at(IPPROTO_TCP, "192.0.2.1", 443, 1000, 1161);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:192.0.2.1:443"),
           "names: the last connect a second after the TTL ran out: the address");
        r[0] = connect_at(IPPROTO_TCP, "192.0.2.2", 443, 1000, 1000);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:192.0.2.2:443"),
           "names: another address than the answer: the address");
        r[0] = connect_at(IPPROTO_TCP, "::ffff:192.0.2.1", 443, 1000, 1000);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:[::ffff:192.0.2.1]:443"),
           "names: another family than the answer (an A record, an IPv6 connect): the address");
        r[0] = connect_at(IPPROTO_UDP, "192.0.2.1", 53, 1000, 1000);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=udp:192.0.2.1:53"),
           "names: port 53 (a resolver): the address, never a name");
        r[0] = connect_at(IPPROTO_TCP, "192.0.2.1", 0, 1000, 1000);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:192.0.2.1"),
           "names: port 0: the address, every port");
        r[0] = connect_at(IPPROTO_SCTP, "192.0.2.1", 443, 1000, 1000);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=192.0.2.1:443"),
           "names: another protocol than TCP and UDP: the address");
        r[0] = connect_at(IPPROTO_UDP, "192.0.2.1", 443, 1000, 1000);
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=udp:api.example.com:443"), "names: UDP: a name rule");

        /* Another unit's lookup does not count; the unit's own does. */
        r[0] = connect_at(IPPROTO_TCP, "192.0.2.1", 443, 1000, 1000);
        r[0].unit = "n@a.service";
        nm[0].unit = "n@b.service";
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:192.0.2.1:443"),
           "names: a lookup by another instance: the address");
        nm[0].unit = "n@a.service";
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:api.example.com:443"),
           "names: a lookup by the same instance: a name rule");

        /* Two names for one address (a CNAME and its target, or two names of one host). */
        r[0].unit = nm[0].unit = NULL;
        nm[1] = lookup("www.example.org", "192.0.2.1", 60, 900, 1100);
        ok(proposes(r, 1, nm, 2, 4, "X-CgPolicyConnectAllow=tcp:api.example.com:443") &&
           proposes(r, 1, nm, 2, 4, "X-CgPolicyConnectAllow=tcp:www.example.org:443"),
           "names: two names looked up for one address: a rule for each");

        /* Names the rule grammar does not take stay addresses. */
        static const char *const odd[] = { "localhost", "1.2.3.4", "Api.example.com", "a..example.com",
                                           "*.example.com", "a b.example.com", "api.example.com:443" };
        for (size_t i = 0; i < ELEMENTSOF(odd); i++) {
                nm[0].name = odd[i];
                ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:192.0.2.1:443"),
                   "names: '%s' is no name of a rule: the address", odd[i]);
        }

        /* The longest name a rule takes (253 characters), and one longer. */
        char longest[256], line[320];
        memset(longest, 'a', 253);
        longest[63] = longest[127] = longest[191] = '.';
        longest[253] = 0;
        nm[0].name = longest;
        snprintf(line, sizeof line, "X-CgPolicyConnectAllow=tcp:%s:443", longest);
        ok(proposes(r, 1, nm, 1, 4, line), "names: a name of 253 characters: a name rule");
        longest[253] = 'a';
        longest[254] = 0;
        ok(proposes(r, 1, nm, 1, 4, "X-CgPolicyConnectAllow=tcp:192.0.2.1:443"),
           "names: a name of 254 characters: the address");

        /* Bad input. */
        _cleanup_free_ char *text = NULL;
        LearnOptions o = { .names = nm, .n_names = 1 };
        nm[0] = lookup("api.example.com", "192.0.2.1", 60, 1000, 1100);
        nm[0].name = NULL;
        ok(propose_to_string(learn_propose_dropin, "n.service", r, 1, &o, &text) == -EINVAL, "names: a name NULL: -EINVAL");
        nm[0].name = "api.example.com";
        nm[0].family = AF_UNIX;
        ok(propose_to_string(learn_propose_json, "n.service", r, 1, &o, &text) == -EINVAL, "names: family AF_UNIX: -EINVAL");
        o.names = NULL;
        ok(propose_to_string(learn_propose_diff, "n.service", r, 1, &o, &text) == -EINVAL, "names: names NULL, n_names 1: -EINVAL");
}

/* T or more names below one parent: its wildcard. */
static void test_names_wildcard(void) {
        LearnRecord r[4];
        LearnName nm[4];
        static const char *const names[] = { "a.pool.example.org", "b.pool.example.org", "a.com", "b.com" };
        static const char *const v4[] = { "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4" };

        for (size_t i = 0; i < 4; i++) {
                nm[i] = lookup(names[i], v4[i], 60, 1000, 1000);
                r[i] = connect_at(IPPROTO_UDP, v4[i], 123, 1000, 1000);
        }
        ok(proposes(r, 2, nm, 2, 2, "X-CgPolicyConnectAllow=udp:*.pool.example.org:123"),
           "wildcard: 2 names below pool.example.org, threshold 2: its wildcard");
        ok(proposes(r, 2, nm, 2, 1, "X-CgPolicyConnectAllow=udp:*.pool.example.org:123"),
           "wildcard: threshold 1 counts as 2");
        ok(proposes(r, 2, nm, 2, 3, "X-CgPolicyConnectAllow=udp:a.pool.example.org:123"),
           "wildcard: 2 names, threshold 3: the names");
        ok(proposes(r, 2, nm, 2, 0, "X-CgPolicyConnectAllow=udp:b.pool.example.org:123"),
           "wildcard: threshold 0: never");
        ok(proposes(r + 2, 2, nm + 2, 2, 2, "X-CgPolicyConnectAllow=udp:a.com:123") &&
           proposes(r + 2, 2, nm + 2, 2, 2, "X-CgPolicyConnectAllow=udp:b.com:123"),
           "wildcard: never below a parent of one label (*.com)");
        r[1].port = 124;
        ok(proposes(r, 2, nm, 2, 2, "X-CgPolicyConnectAllow=udp:a.pool.example.org:123"),
           "wildcard: names on different ports are not grouped");
}

/* A proposal with name rules against a current policy with name rules. */
static void test_names_diff(void) {
        const LearnRecord r[] = { connect_at(IPPROTO_TCP, "192.0.2.1", 443, 1000, 1000) };
        const LearnName nm[] = { lookup("api.example.com", "192.0.2.1", 60, 1000, 1000) };
        static const struct {
                const char *current, *expect;
        } t[] = {
                { "tcp:api.example.com:443", "\n  X-CgPolicyConnectAllow=tcp:api.example.com:443\n" },
                { "*.example.com:443", "(a name rule: looked up, 1 answer; address 192.0.2.1): once, at 1970-01-01T00:16:40Z\n" },
                { "api.example.com:80", "; 1 refused by the current policy\n" },
                { "udp:api.example.com", "; 1 refused by the current policy\n" },
                { "www.example.com:443", "; 1 refused by the current policy\n" },
                { "tcp:192.0.2.1:443", "\n- X-CgPolicyConnectAllow=tcp:192.0.2.1:443  # used by 1 learned requests" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_(policy_done) Policy current = {};
                _cleanup_free_ char *text = NULL, *conf = NULL;
                LearnOptions o = { .names = nm, .n_names = 1, .current = &current };

                policy_init(&current);
                if (asprintf(&conf, "X-CgPolicyConnectDeny=any\nX-CgPolicyConnectAllow=%s\n", t[i].current) < 0)
                        abort();
                if (parse_dropin(conf, "current", &current) < 0)
                        abort();
                ok(propose_to_string(learn_propose_diff, "n.service", r, 1, &o, &text) == 0 && strstr(text, t[i].expect),
                   "diff against %s: '%.*s'", t[i].current,
                   (int) strcspn(t[i].expect + (t[i].expect[0] == '\n'), "\n"), t[i].expect + (t[i].expect[0] == '\n'));
                if (!strstr(text ?: "", t[i].expect))
                        diag("%s", text ?: "");
        }
}

static int write_file(const char *path, const char *text) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0)
                return -errno;
        return 0;
}

static void test_resolvers(void) {
        char dir[] = "/tmp/test-learn-propose-XXXXXX", path[64];
        _cleanup_free_ LearnAddress *l = NULL;
        char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], c[INET6_ADDRSTRLEN];
        size_t n = 99;
        int k;

        if (!mkdtemp(dir))
                abort();
        snprintf(path, sizeof path, "%s/resolv.conf", dir);

        write_file(path,
                   "# Generated by NetworkManager\n"
                   "search example.com\n"
                   "nameserver 192.0.2.53\n"
                   "  nameserver\t2001:db8::53%eth0 # comment\n"
                   ";nameserver 198.51.100.1\n"
                   "#nameserver 198.51.100.2\n"
                   "nameservers 198.51.100.3\n"
                   "nameserver not-an-address\n"
                   "nameserver\n"
                   "nameserver ::ffff:203.0.113.9\n"
                   "nameserver 192.0.2.53\n"
                   "options edns0\n"
                   "nameserver 127.0.0.53;x");
        k = learn_read_resolvers(path, &l, &n);
        ok(k == 0 && n == 4, "resolv.conf: 4 nameservers (got %zu)", n);
        if (k == 0 && n == 4) {
                inet_ntop(l[0].family, &l[0].address, a, sizeof a);
                inet_ntop(l[1].family, &l[1].address, b, sizeof b);
                inet_ntop(l[2].family, &l[2].address, c, sizeof c);
                ok(l[0].family == AF_INET && streq(a, "192.0.2.53") &&
                   l[1].family == AF_INET6 && streq(b, "2001:db8::53") &&
                   l[2].family == AF_INET && streq(c, "203.0.113.9"),
                   "resolv.conf: in file order, scope dropped, v4-mapped as IPv4, duplicates once (%s %s %s)", a, b, c);
                inet_ntop(l[3].family, &l[3].address, a, sizeof a);
                ok(streq(a, "127.0.0.53"), "resolv.conf: last line without a newline, ';' comment after it");
        }
        l = mfree(l);

        write_file(path, "");
        n = 99;
        ok(learn_read_resolvers(path, &l, &n) == 0 && n == 0, "resolv.conf: empty, no resolvers");
        l = mfree(l);

        unlink(path);
        n = 99;
        ok(learn_read_resolvers(path, &l, &n) == 0 && n == 0 && !l, "resolv.conf missing: no resolvers");
        ok(learn_read_resolvers(dir, &l, &n) == -EISDIR, "resolv.conf a directory: -EISDIR");
        rmdir(dir);
}

int main(int argc, char *argv[]) {
        log_set_max_level(LOG_CRIT);    /* the parser logs errors of the bad-input tests */

        if (argc != 2) {
                fprintf(stderr, "usage: %s CASES-DIR\n", argv[0]);
                return 2;
        }
        cases_dir = argv[1];

        test_golden();
        test_refusals();
        test_listen();
        test_threshold();
        test_bad_input();
        test_names();
        test_names_wildcard();
        test_names_diff();
        test_random();
        test_resolvers();
        return tap_done();
}
