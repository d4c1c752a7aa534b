/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* "cgpolicy monitor", run by cgpolicy-monitor.service: follows the denial stream (the ring buffer
 * cgp_events, cgpolicy-abi.h) and writes each denial to the journal for the unit it happened in,
 * and carries out X-CgPolicyOnDenial= through systemd's D-Bus API. See
 * cgpolicy-monitor.service(8).
 *
 * Choices where issue 11 left them open:
 *  - A verb of the cgpolicy binary, not a binary of its own: it shares the maps code (the pins,
 *    the layout check), the runtime records and the cgroup helpers.
 *  - The unit of a denial is the unit whose cgroup made the request (from the cgroup's path, the
 *    last component that is a unit's name), so that "journalctl -u api.service" shows api.service's
 *    denials also where the policy is its slice's; the action is taken on the unit of the policy
 *    that decided (its runtime record), the slice for a slice's policy.
 *  - Rate per unit: at most MONITOR_BURST lines in MONITOR_WINDOW_USEC (monitor's clock); the rest
 *    are counted, and the count is written in one line when the window ends (or at exit). The
 *    records themselves are already bounded in the kernel (the denial log's rate per slot).
 *  - Threshold windows use the records' own times (CLOCK_BOOTTIME of the denial) and counts (the
 *    slot's records plus what its log suppressed), so that a backlog read after a restart counts
 *    at the times the denials happened, and denials the log did not record count too.
 *  - Nothing is lost silently: what the ring buffer had no room for is counted by the programs
 *    (cgp_events_lost), what the monitor read, journaled and suppressed in cgp_streamed, both
 *    shown by "cgpolicy status"; a rise of the lost count is written to the journal too.
 *  - systemd is reached on its private socket when possible (as systemctl does for root: no
 *    D-Bus broker needed), else on the system bus. */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "bpf-maps.h"
#include "cgroup-util.h"
#include "log.h"
#include "macro.h"
#include "monitor.h"
#include "policy-args.h"
#include "policy.h"
#include "runtime.h"

/* journalctl MESSAGE_ID=… (generated once with systemd-id128 new; documented in
 * cgpolicy-monitor.service(8)). */
#define MONITOR_MESSAGE_DENIAL          "046d1b2c57a742b68b64ee71c6d581fd"
#define MONITOR_MESSAGE_SUPPRESSED      "73388cd6e10b418ebd91bd2782865874"
#define MONITOR_MESSAGE_LOST            "03505dedcbe84c71bbed97e6c7503238"
#define MONITOR_MESSAGE_ACTION          "07d740ff358145bda0d0371e81dee072"

#define MONITOR_BURST                   10u
#define MONITOR_WINDOW_USEC             (5ULL * 1000 * 1000)
#define MONITOR_MAX_UNITS               4096u   /* per-unit states kept; the oldest go first */
#define USEC_PER_SEC                    1000000ULL
#define MONITOR_LOST_CHECK_USEC         (2ULL * USEC_PER_SEC)   /* cgp_events_lost looked at */
#define NSEC_PER_USEC                   1000ULL

/* What the monitor keeps per unit (the unit's cgroup, by id). */
typedef struct UnitState {
        uint64_t cgroup_id;             /* the cgroup that made the requests */
        char *unit;                     /* its unit, NULL if it has none */
        uint64_t window_start;          /* journal rate: monotonic µs, 0: no window */
        unsigned in_window;
        uint64_t suppressed;            /* lines not written in this window */
        uint32_t slot;                  /* for cgp_streamed */
        uint64_t last_used;             /* monotonic µs */
} UnitState;

/* Per deciding policy (its cgroup): the threshold of X-CgPolicyOnDenial=. */
typedef struct PolicyState {
        uint64_t policy_cgroup_id;
        uint32_t tag;                   /* the policy the settings below were read for */
        char *unit;                     /* from the runtime record */
        PolicyOnDenial action;
        unsigned max;
        uint64_t interval_usec;
        uint64_t window_start_ns;       /* threshold window: boottime of its first denial, 0: none */
        uint64_t window_base;           /* the slot's total before the window's first denial */
        bool acted;                     /* taken (or logged) in this window */
        char first[160];                /* the window's first denial, described */
        uint64_t last_used;
} PolicyState;

typedef struct Monitor {
        Maps maps;
        struct ring_buffer *rb;
        sd_bus *bus;
        UnitState *units;
        size_t n_units;
        PolicyState *policies;
        size_t n_policies;
        uint64_t *lost_seen;            /* cgp_events_lost per slot when last looked at */
        uint64_t watchdog_usec;
        uint64_t last_watchdog;
        uint64_t last_lost_check;
        int error;                      /* a fatal error in the ring buffer callback */
        bool pid_foreign;               /* in a container: the records' pids (of the initial PID
                                         * namespace) are not ours, nor journald's */
} Monitor;

static uint64_t now_usec(clockid_t c) {
        struct timespec ts;

        clock_gettime(c, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static const char *direction_name(const struct cgp_denial *d) {
        switch (d->hook) {
        case CGP_HOOK_BIND:
        case CGP_HOOK_LISTEN:
                return "bind";
        case CGP_HOOK_CONNECT:
        case CGP_HOOK_SENDMSG:
        case CGP_HOOK_EGRESS:
                return "connect";
        case CGP_HOOK_SOCK_CREATE:
                return "socket";
        case CGP_HOOK_BPF:
                return "bpf";
        default:
                return "?";
        }
}

static const char *hook_name(uint8_t h) {
        static const char *const names[CGP_HOOK_MAX] = {
                [CGP_HOOK_BIND]        = "bind",
                [CGP_HOOK_CONNECT]     = "connect",
                [CGP_HOOK_SENDMSG]     = "sendmsg",
                [CGP_HOOK_SOCK_CREATE] = "socket",
                [CGP_HOOK_LISTEN]      = "listen",
                [CGP_HOOK_EGRESS]      = "source-routed",
                [CGP_HOOK_BPF]         = "bpf",
        };

        return h < CGP_HOOK_MAX ? names[h] : "?";
}

/* The socket's protocol by name (IPPROTO_* of the record), as a rule would name its class. */
static const char *protocol_name(const struct cgp_denial *d) {
        switch (d->protocol) {
        case 6:
                return "tcp";
        case 262:
                return "mptcp";
        case 17:
                return "udp";
        case 136:
                return "udplite";
        case 132:
                return "sctp";
        case 1:
                return "icmp";
        case 58:
                return "icmpv6";
        default:
                return d->proto == CGP_PROTO_TCP ? "tcp" : d->proto == CGP_PROTO_UDP ? "udp" : "other";
        }
}

static const char *mode_name(const struct cgp_denial *d) {
        return d->flags & CGP_DENIAL_AUDIT ? "audit" : "enforce";
}

/* The comm of a record, with control characters replaced. */
static void denial_comm(const struct cgp_denial *d, char comm[static 17]) {
        memcpy(comm, d->comm, 16);
        comm[16] = 0;
        for (char *c = comm; *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c == 0x7f)
                        *c = '?';
}

static void denial_address(const struct cgp_denial *d, char addr[static INET6_ADDRSTRLEN]) {
        if (!inet_ntop(d->family == CGP_AF_INET6 ? AF_INET6 : AF_INET, d->addr, addr, INET6_ADDRSTRLEN))
                strcpy(addr, "?");
}

/* "connect tcp 192.0.2.1:80 by curl[1234]" */
static void denial_describe(const struct cgp_denial *d, char *buf, size_t size) {
        char addr[INET6_ADDRSTRLEN], comm[17];
        const bool v6 = d->family == CGP_AF_INET6;

        denial_comm(d, comm);
        denial_address(d, addr);
        if (d->hook == CGP_HOOK_SOCK_CREATE)
                snprintf(buf, size, "socket %s %s (type %u) by %s[%" PRIu32 "]", v6 ? "ipv6" : "ipv4",
                         protocol_name(d), d->type, comm[0] ? comm : "?", d->pid);
        else if (d->hook == CGP_HOOK_BPF)
                snprintf(buf, size, "bpf() command %u by %s[%" PRIu32 "]", d->port, comm[0] ? comm : "?", d->pid);
        else
                snprintf(buf, size, "%s %s %s%s%s:%u by %s[%" PRIu32 "]", hook_name(d->hook), protocol_name(d),
                         v6 ? "[" : "", addr, v6 ? "]" : "", d->port, comm[0] ? comm : "?", d->pid);
}

/* The unit of a cgroup path: its last component that names a unit ("/system.slice/api.service/x"
 * → "api.service"), or NULL. */
static char *unit_from_cgroup_path(const char *path) {
        static const char *const suffixes[] = { ".service", ".scope", ".socket", ".mount", ".swap", ".slice" };
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return NULL;
        for (;;) {
                char *b = strrchr(p, '/');
                const char *c = b ? b + 1 : p;

                for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                        if (endswith(c, suffixes[i]) && strlen(c) > strlen(suffixes[i]))
                                return strdup(c);
                if (!b)
                        return NULL;
                *b = 0;
        }
}

static void unit_state_done(UnitState *u) {
        free(u->unit);
}

static void policy_state_done(PolicyState *p) {
        free(p->unit);
}

static void monitor_done(Monitor *m) {
        for (size_t i = 0; i < m->n_units; i++)
                unit_state_done(&m->units[i]);
        free(m->units);
        for (size_t i = 0; i < m->n_policies; i++)
                policy_state_done(&m->policies[i]);
        free(m->policies);
        free(m->lost_seen);
        ring_buffer__free(m->rb);
        sd_bus_flush_close_unref(m->bus);
        maps_close(&m->maps);
}

/* The journal, with our identifier; errors are logged to stderr (which journald reads too). */
#define JOURNAL_SEND(...)                                                                       \
        ({                                                                                      \
                int _r = sd_journal_send("SYSLOG_IDENTIFIER=cgpolicy-monitor", __VA_ARGS__, NULL); \
                if (_r < 0)                                                                     \
                        log_warning_errno(_r, "Cannot write to the journal: %m");              \
                _r;                                                                             \
        })

static int streamed_add(Monitor *m, uint32_t slot, uint64_t read, uint64_t journaled, uint64_t suppressed,
                        uint64_t actions) {
        struct cgp_stream s;
        int r;

        if (slot >= CGP_MAX_SLOTS)
                return 0;
        r = maps_read_streamed(&m->maps, slot, &s);
        if (r < 0)
                return log_warning_errno(r, "Cannot read cgp_streamed: %m");
        s.read += read;
        s.journaled += journaled;
        s.suppressed += suppressed;
        s.actions += actions;
        r = maps_write_streamed(&m->maps, slot, &s);
        if (r < 0)
                return log_warning_errno(r, "Cannot write cgp_streamed: %m");
        return 0;
}

/* A unit's suppressed lines, in one line of their own. */
static void flush_suppressed(Monitor *m, UnitState *u) {
        char n[32];

        if (u->suppressed == 0)
                return;
        snprintf(n, sizeof n, "%" PRIu64, u->suppressed);
        if (u->unit)
                JOURNAL_SEND("MESSAGE_ID=" MONITOR_MESSAGE_SUPPRESSED, "PRIORITY=%i", LOG_WARNING,
                             "OBJECT_SYSTEMD_UNIT=%s", u->unit, "CGPOLICY_SUPPRESSED=%s", n,
                             "MESSAGE=%s: %s more denials not logged (at most %u in %llus; cgpolicy status counts them)",
                             u->unit, n, MONITOR_BURST, (unsigned long long) (MONITOR_WINDOW_USEC / USEC_PER_SEC));
        else
                JOURNAL_SEND("MESSAGE_ID=" MONITOR_MESSAGE_SUPPRESSED, "PRIORITY=%i", LOG_WARNING,
                             "CGPOLICY_CGROUP_ID=%" PRIu64, u->cgroup_id, "CGPOLICY_SUPPRESSED=%s", n,
                             "MESSAGE=cgroup %" PRIu64 ": %s more denials not logged (at most %u in %llus)",
                             u->cgroup_id, n, MONITOR_BURST,
                             (unsigned long long) (MONITOR_WINDOW_USEC / USEC_PER_SEC));
        u->suppressed = 0;
}

/* The unit of a cgroup: its own runtime record (a policed unit), else the unit in its path (a
 * unit in a policed slice; open_by_handle_at(), which a container's seccomp filter may refuse),
 * else the record of the policy that decided (the slice). */
static char *unit_of_cgroup(uint64_t cgroup_id, uint64_t policy_cgroup_id) {
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        _cleanup_free_ char *path = NULL;

        if (runtime_read(cgroup_id, &e) >= 0 && e.unit)
                return TAKE_PTR(e.unit);
        if (cg_id_exists(cgroup_id, &path) > 0 && path) {
                char *u = unit_from_cgroup_path(path);

                if (u)
                        return u;
        }
        runtime_entry_done(&e);
        if (policy_cgroup_id != 0 && runtime_read(policy_cgroup_id, &e) >= 0 && e.unit)
                return TAKE_PTR(e.unit);
        return NULL;
}

static UnitState *unit_state_get(Monitor *m, uint64_t cgroup_id, uint64_t policy_cgroup_id, uint32_t slot,
                                 uint64_t now) {
        UnitState *u;

        for (size_t i = 0; i < m->n_units; i++)
                if (m->units[i].cgroup_id == cgroup_id) {
                        m->units[i].last_used = now;
                        m->units[i].slot = slot;
                        return &m->units[i];
                }

        if (m->n_units >= MONITOR_MAX_UNITS) {
                /* Forget the least recently used (after writing what it suppressed). */
                size_t oldest = 0;

                for (size_t i = 1; i < m->n_units; i++)
                        if (m->units[i].last_used < m->units[oldest].last_used)
                                oldest = i;
                flush_suppressed(m, &m->units[oldest]);
                unit_state_done(&m->units[oldest]);
                m->units[oldest] = m->units[--m->n_units];
        } else {
                u = reallocarray(m->units, m->n_units + 1, sizeof(UnitState));
                if (!u)
                        return NULL;
                m->units = u;
        }

        u = &m->units[m->n_units++];
        *u = (UnitState) { .cgroup_id = cgroup_id, .slot = slot, .last_used = now };
        u->unit = unit_of_cgroup(cgroup_id, policy_cgroup_id);
        return u;
}

static PolicyState *policy_state_get(Monitor *m, uint64_t policy_cgroup_id, uint32_t tag, uint64_t now) {
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        _cleanup_(policy_done) Policy p;
        PolicyState *s = NULL;

        policy_init(&p);
        for (size_t i = 0; i < m->n_policies; i++)
                if (m->policies[i].policy_cgroup_id == policy_cgroup_id) {
                        s = &m->policies[i];
                        break;
                }
        if (s && s->tag == tag) {
                s->last_used = now;
                return s;
        }

        if (!s) {
                if (m->n_policies >= MONITOR_MAX_UNITS) {
                        size_t oldest = 0;

                        for (size_t i = 1; i < m->n_policies; i++)
                                if (m->policies[i].last_used < m->policies[oldest].last_used)
                                        oldest = i;
                        policy_state_done(&m->policies[oldest]);
                        m->policies[oldest] = m->policies[--m->n_policies];
                } else {
                        s = reallocarray(m->policies, m->n_policies + 1, sizeof(PolicyState));
                        if (!s)
                                return NULL;
                        m->policies = s;
                }
                s = &m->policies[m->n_policies++];
                *s = (PolicyState) { .policy_cgroup_id = policy_cgroup_id };
        }

        /* A new policy (apply again): its settings, from the runtime record apply wrote. The
         * window goes on. */
        s->tag = tag;
        s->last_used = now;
        s->action = POLICY_ON_DENIAL_NONE;
        s->max = POLICY_ON_DENIAL_MAX_DEFAULT;
        s->interval_usec = POLICY_ON_DENIAL_INTERVAL_DEFAULT;
        s->unit = mfree(s->unit);
        if (runtime_read(policy_cgroup_id, &e) >= 0) {
                _cleanup_free_ char *why = NULL;

                s->unit = TAKE_PTR(e.unit);
                if (e.args && policy_from_args(e.args, strv_length(e.args), &p, &why) >= 0) {
                        s->action = p.on_denial;
                        s->max = p.on_denial_max;
                        s->interval_usec = p.on_denial_interval_usec;
                } else if (e.args)
                        log_warning("The runtime record of cgroup %" PRIu64 " (%s) cannot be read: %s",
                                    policy_cgroup_id, s->unit ?: "?", why ?: "out of memory");
        }
        return s;
}

static int bus_get(Monitor *m) {
        int r;

        if (m->bus)
                return 0;

        /* systemd's private socket first, as systemctl does for root; else the system bus. */
        r = sd_bus_new(&m->bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(m->bus, "unix:path=/run/systemd/private");
        if (r >= 0)
                r = sd_bus_start(m->bus);
        if (r < 0) {
                m->bus = sd_bus_flush_close_unref(m->bus);
                r = sd_bus_open_system(&m->bus);
                if (r < 0)
                        return r;
        }
        (void) sd_bus_set_method_call_timeout(m->bus, 10 * USEC_PER_SEC);
        return 0;
}

/* Ask systemd to act on the unit; "" or the error's text in *ret_error. */
static int take_action(Monitor *m, const char *unit, PolicyOnDenial action, char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        *ret_error = NULL;
        r = bus_get(m);
        if (r < 0) {
                if (asprintf(ret_error, "cannot connect to systemd: %s", strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }

        switch (action) {
        case POLICY_ON_DENIAL_FREEZE:
                r = sd_bus_call_method(m->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                       "org.freedesktop.systemd1.Manager", "FreezeUnit", &error, &reply, "s", unit);
                break;
        case POLICY_ON_DENIAL_STOP:
                r = sd_bus_call_method(m->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                       "org.freedesktop.systemd1.Manager", "StopUnit", &error, &reply, "ss", unit,
                                       "replace");
                break;
        case POLICY_ON_DENIAL_KILL:
                r = sd_bus_call_method(m->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                       "org.freedesktop.systemd1.Manager", "KillUnit", &error, &reply, "ssi", unit,
                                       "all", SIGKILL);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0) {
                if (asprintf(ret_error, "%s", error.message ?: strerror(-r)) < 0)
                        *ret_error = NULL;
                /* A broken connection is opened again next time. */
                if (!sd_bus_is_open(m->bus))
                        m->bus = sd_bus_flush_close_unref(m->bus);
                return r;
        }
        return 0;
}

static const char *action_past(PolicyOnDenial a) {
        return a == POLICY_ON_DENIAL_FREEZE ? "froze" : a == POLICY_ON_DENIAL_STOP ? "stopped" : "killed";
}

/* The threshold of the deciding policy: count the denial, act once per window. */
static void check_threshold(Monitor *m, const struct cgp_event *e, const char *what, uint64_t now) {
        const struct cgp_denial *d = &e->d;
        _cleanup_free_ char *threshold = NULL, *err = NULL, *result = NULL;
        char count[32], interval[32];
        uint64_t total = d->seq + e->suppressed, n;
        bool audit = d->flags & CGP_DENIAL_AUDIT;
        PolicyState *s;
        int r, r2;

        if (d->policy_cgroup_id == 0)
                return;
        s = policy_state_get(m, d->policy_cgroup_id, d->policy, now);
        if (!s || s->action == POLICY_ON_DENIAL_NONE)
                return;

        if (s->window_start_ns == 0 || d->time_ns < s->window_start_ns ||
            d->time_ns - s->window_start_ns > s->interval_usec * NSEC_PER_USEC || total <= s->window_base) {
                s->window_start_ns = d->time_ns;
                s->window_base = total - 1;
                s->acted = false;
                snprintf(s->first, sizeof s->first, "%s", what);
        }
        n = total - s->window_base;
        if (n <= s->max || s->acted)
                return;
        s->acted = true;

        if (policy_on_denial_threshold_to_string(s->max, s->interval_usec, &threshold) < 0)
                return (void) log_oom();
        snprintf(count, sizeof count, "%" PRIu64, n);
        snprintf(interval, sizeof interval, "%.3fs", (double) (d->time_ns - s->window_start_ns) / 1e9);

        if (!s->unit) {
                log_warning("cgroup %" PRIu64 ": more than %s denials, but it has no runtime record: no unit to act on.",
                            (uint64_t) d->policy_cgroup_id, threshold);
                return;
        }
        if (audit)
                r = 0;
        else
                r = take_action(m, s->unit, s->action, &err);
        (void) streamed_add(m, e->slot, 0, 0, 0, 1);

        if (audit)
                r2 = asprintf(&result, "would have %s the unit (audit mode: not taken)", action_past(s->action));
        else if (r < 0)
                r2 = asprintf(&result, "could not %s the unit: %s", policy_on_denial_to_string(s->action),
                              err ?: strerror(-r));
        else
                r2 = asprintf(&result, "%s the unit", action_past(s->action));
        if (r2 < 0)
                return (void) log_oom();

        JOURNAL_SEND("MESSAGE_ID=" MONITOR_MESSAGE_ACTION, "PRIORITY=%i", audit ? LOG_NOTICE : r < 0 ? LOG_ERR : LOG_WARNING,
                     "OBJECT_SYSTEMD_UNIT=%s", s->unit,
                     "CGPOLICY_ACTION=%s", policy_on_denial_to_string(s->action),
                     "CGPOLICY_ACTION_RESULT=%s", audit ? "audit" : r < 0 ? "failed" : "done",
                     "CGPOLICY_DENIALS=%s", count, "CGPOLICY_THRESHOLD=%s", threshold,
                     "CGPOLICY_MODE=%s", mode_name(d),
                     "CGPOLICY_FIRST_DENIAL=%s", s->first, "CGPOLICY_LAST_DENIAL=%s", what,
                     "MESSAGE=%s: %s denials in %s, more than X-CgPolicyOnDenialThreshold=%s: %s "
                     "(X-CgPolicyOnDenial=%s). First: %s; last: %s.",
                     s->unit, count, interval, threshold, result,
                     policy_on_denial_to_string(s->action), s->first, what);
        if (r < 0)
                log_error("%s: %s failed: %s", s->unit, policy_on_denial_to_string(s->action), err ?: strerror(-r));
}

static int on_event(void *ctx, void *data, size_t size) {
        Monitor *m = ctx;
        const struct cgp_event *e = data;
        const struct cgp_denial *d = &e->d;
        char addr[INET6_ADDRSTRLEN], comm[17], what[160];
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        UnitState *u;
        int r;

        if (size < sizeof(struct cgp_event)) {
                log_warning("Ignoring a denial record of %zu bytes (expected %zu).", size, sizeof(struct cgp_event));
                return 0;
        }

        denial_describe(d, what, sizeof what);
        u = unit_state_get(m, d->cgroup_id, d->policy_cgroup_id, e->slot, now);
        if (!u) {
                m->error = log_oom();
                return m->error;
        }

        if (u->window_start == 0 || now - u->window_start >= MONITOR_WINDOW_USEC) {
                flush_suppressed(m, u);
                u->window_start = now;
                u->in_window = 0;
        }

        if (u->in_window >= MONITOR_BURST) {
                u->suppressed++;
                (void) streamed_add(m, e->slot, 1, 0, 1, 0);
        } else {
                bool audit = d->flags & CGP_DENIAL_AUDIT;
                const char *verdict = audit ? "would deny (audit mode)" :
                                      d->flags & CGP_DENIAL_NO_POLICY ? "denied (no policy applies)" : "denied";

                u->in_window++;
                denial_comm(d, comm);
                denial_address(d, addr);
                r = JOURNAL_SEND("MESSAGE_ID=" MONITOR_MESSAGE_DENIAL, "PRIORITY=%i", audit ? LOG_NOTICE : LOG_WARNING,
                             u->unit ? "OBJECT_SYSTEMD_UNIT=%s" : "CGPOLICY_NO_UNIT=%s", u->unit ?: "1",
                             m->pid_foreign ? "CGPOLICY_PID=%" PRIu32 : "OBJECT_PID=%" PRIu32, d->pid,
                             "OBJECT_COMM=%s", comm,
                             "CGPOLICY_DIRECTION=%s", direction_name(d), "CGPOLICY_HOOK=%s", hook_name(d->hook),
                             "CGPOLICY_PROTOCOL=%s", protocol_name(d),
                             "CGPOLICY_FAMILY=%s", d->family == CGP_AF_INET6 ? "ipv6" : "ipv4",
                             "CGPOLICY_ADDRESS=%s", addr, "CGPOLICY_PORT=%u", d->port,
                             "CGPOLICY_MODE=%s", mode_name(d),
                             "CGPOLICY_CGROUP_ID=%" PRIu64, (uint64_t) d->cgroup_id,
                             "CGPOLICY_SEQ=%" PRIu64, (uint64_t) d->seq,
                             "MESSAGE=%s: %s %s", u->unit ?: "(no unit)", verdict, what);
                /* A record the journal refused is read, neither journaled nor suppressed (the
                 * error went to standard error). */
                (void) streamed_add(m, e->slot, 1, r >= 0, 0, 0);
        }

        check_threshold(m, e, what, now);
        return 0;
}

/* The unit last seen with records of a slot, or NULL. */
static const char *slot_unit(Monitor *m, uint32_t slot) {
        const UnitState *best = NULL;

        for (size_t i = 0; i < m->n_units; i++)
                if (m->units[i].slot == slot && m->units[i].unit && (!best || m->units[i].last_used > best->last_used))
                        best = &m->units[i];
        return best ? best->unit : NULL;
}

/* Write a line for every slot whose records the ring buffer had no room for since last time. */
static void check_lost(Monitor *m, bool first) {
        for (uint32_t slot = 0; slot < CGP_MAX_SLOTS; slot++) {
                uint64_t lost;

                if (maps_read_events_lost(&m->maps, slot, &lost) < 0)
                        continue;
                if (lost > m->lost_seen[slot] || (first && lost > 0)) {
                        uint64_t delta = first ? lost : lost - m->lost_seen[slot];
                        const char *unit = slot_unit(m, slot);

                        JOURNAL_SEND("MESSAGE_ID=" MONITOR_MESSAGE_LOST, "PRIORITY=%i", LOG_WARNING,
                                     unit ? "OBJECT_SYSTEMD_UNIT=%s" : "CGPOLICY_NO_UNIT=%s", unit ?: "1",
                                     "CGPOLICY_SLOT=%" PRIu32, slot, "CGPOLICY_LOST=%" PRIu64, delta,
                                     "MESSAGE=%s: %" PRIu64 " denial records (slot %" PRIu32 ") did not fit into the ring "
                                     "buffer%s: not in the journal, counted as lost by cgpolicy status.",
                                     unit ?: "(unit unknown)", delta, slot, first ? " before this start" : "");
                }
                m->lost_seen[slot] = lost;
        }
}

static void watchdog(Monitor *m, uint64_t now) {
        if (m->watchdog_usec > 0 && now - m->last_watchdog >= m->watchdog_usec / 2) {
                (void) sd_notify(false, "WATCHDOG=1");
                m->last_watchdog = now;
        }
}

/* Until the next thing to do without an event: a watchdog ping, a window's suppressed line, the
 * check of the lost counts. In ms for epoll_wait(). */
static int next_timeout_ms(Monitor *m, uint64_t now) {
        uint64_t next = now + 10 * USEC_PER_SEC;

        if (m->watchdog_usec > 0)
                next = MIN(next, m->last_watchdog + m->watchdog_usec / 2);
        next = MIN(next, m->last_lost_check + MONITOR_LOST_CHECK_USEC);
        for (size_t i = 0; i < m->n_units; i++)
                if (m->units[i].suppressed > 0)
                        next = MIN(next, m->units[i].window_start + MONITOR_WINDOW_USEC);
        return next <= now ? 0 : (int) ((next - now + 999) / 1000);
}

int monitor_run(void) {
        _cleanup_(monitor_done) Monitor m = { .maps = MAPS_NULL };
        _cleanup_close_ int ep = -EBADF, sfd = -EBADF;
        struct epoll_event ev;
        sigset_t mask;
        int r, rb_fd;

        r = maps_open_monitor(&m.maps);
        if (r < 0)
                return r;
        m.lost_seen = calloc(CGP_MAX_SLOTS, sizeof(uint64_t));
        if (!m.lost_seen)
                return log_oom();

        m.rb = ring_buffer__new(m.maps.fd[MAP_EVENTS], on_event, &m, NULL);
        if (!m.rb)
                return log_error_errno(errno, "Cannot open the denial ring buffer: %m");
        rb_fd = ring_buffer__epoll_fd(m.rb);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m");
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return log_error_errno(errno, "Cannot create a signalfd: %m");

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
                return log_error_errno(errno, "Cannot create an epoll instance: %m");
        ev = (struct epoll_event) { .events = EPOLLIN, .data.fd = rb_fd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, rb_fd, &ev) < 0)
                return log_error_errno(errno, "Cannot watch the ring buffer: %m");
        ev = (struct epoll_event) { .events = EPOLLIN, .data.fd = sfd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0)
                return log_error_errno(errno, "Cannot watch the signals: %m");

        /* systemd-nspawn and other container managers tell their payload so (systemd's
         * /run/systemd/container); the kernel records pids of the initial namespace, which
         * journald would resolve in ours, maybe to another process: then CGPOLICY_PID=. */
        m.pid_foreign = access("/run/systemd/container", F_OK) >= 0 || getenv("container");

        if (sd_watchdog_enabled(false, &m.watchdog_usec) <= 0)
                m.watchdog_usec = 0;
        m.last_watchdog = m.last_lost_check = now_usec(CLOCK_MONOTONIC);
        check_lost(&m, true);

        (void) sd_notify(false, "READY=1\nSTATUS=Following the denial stream.");
        log_info("Following the denial stream of %s.", pin_dir());

        for (;;) {
                struct epoll_event events[4];
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                bool stop = false;
                int n;

                n = epoll_wait(ep, events, ELEMENTSOF(events), next_timeout_ms(&m, now));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "epoll_wait() failed: %m");
                }
                for (int i = 0; i < n; i++)
                        if (events[i].data.fd == sfd)
                                stop = true;

                /* Read what there is also when stopping: what is consumed is journaled. */
                r = ring_buffer__consume(m.rb);
                if (r < 0 && m.error == 0)
                        return log_error_errno(r, "Cannot read the denial ring buffer: %m");
                if (m.error < 0)
                        return m.error;

                now = now_usec(CLOCK_MONOTONIC);
                for (size_t i = 0; i < m.n_units; i++)
                        if (m.units[i].suppressed > 0 && now - m.units[i].window_start >= MONITOR_WINDOW_USEC) {
                                flush_suppressed(&m, &m.units[i]);
                                m.units[i].window_start = 0;
                        }
                if (now - m.last_lost_check >= MONITOR_LOST_CHECK_USEC) {
                        check_lost(&m, false);
                        m.last_lost_check = now;
                }
                watchdog(&m, now);

                if (stop)
                        break;
        }

        (void) sd_notify(false, "STOPPING=1");
        for (size_t i = 0; i < m.n_units; i++)
                flush_suppressed(&m, &m.units[i]);
        check_lost(&m, false);
        return 0;
}
