/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup-util.h"
#include "log.h"
#include "macro.h"
#include "status-output.h"

/* The length of the valid UTF-8 sequence at p (1..4), or 0 if p does not start one. JSON and
 * the Prometheus text format must be valid UTF-8; unit names and cgroup paths are bytes. */
static size_t utf8_valid_len(const unsigned char *p) {
        size_t n;
        uint32_t c;

        if (*p < 0x80)
                return 1;
        if ((*p & 0xe0) == 0xc0)
                n = 2, c = *p & 0x1f;
        else if ((*p & 0xf0) == 0xe0)
                n = 3, c = *p & 0x0f;
        else if ((*p & 0xf8) == 0xf0)
                n = 4, c = *p & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (p[i] & 0x3f);
        }
        /* No overlong forms, no surrogates, nothing above U+10FFFF. */
        if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
            (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
                return 0;
        return n;
}

#define UTF8_REPLACEMENT "\xef\xbf\xbd"        /* U+FFFD, for each byte that is not UTF-8 */

typedef enum QuoteStyle {
        QUOTE_JSON,             /* \" \\ and \u00XX for control characters */
        QUOTE_PROMETHEUS,       /* a label value of the text exposition format: \" \\ and \n */
} QuoteStyle;

/* s in double quotes, escaped for style; each byte that is not part of valid UTF-8 becomes
 * U+FFFD, so that the output is valid UTF-8 whatever a unit or cgroup name holds. */
static void quoted_string(FILE *f, const char *s, QuoteStyle style) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; ) {
                size_t n = utf8_valid_len(p);

                if (n == 0) {
                        fputs(UTF8_REPLACEMENT, f);
                        p++;
                        continue;
                }
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (style == QUOTE_PROMETHEUS && *p == '\n')
                        fputs("\\n", f);
                else if (style == QUOTE_JSON && *p < 0x20)
                        fprintf(f, "\\u%04x", *p);
                else
                        fwrite(p, 1, n, f);
                p += n;
        }
        fputc('"', f);
}

static void json_string(FILE *f, const char *s) {
        quoted_string(f, s, QUOTE_JSON);
}

static void prom_label_value(FILE *f, const char *s) {
        quoted_string(f, s, QUOTE_PROMETHEUS);
}

/* The counters' directions, as the outputs name them. */
static const char *const counter_dir_names[CGP_COUNTER_DIRS] = {
        [CGP_DIR_BIND] = "bind",
        [CGP_DIR_CONNECT] = "connect",
        [CGP_DIR_SOCKET] = "socket",
};

/* The mode in force: a unit in audit mode made to learn ("cgpolicy learn --start") is still in
 * audit mode, and learning. */
static const char *entry_mode(const StatusEntry *x) {
        return x->audit ? "audit" : x->learning ? "learn" : "enforce";
}

/* The name rules of x in order: calls cb for each, with its index among them. */
static void foreach_name_rule(const StatusEntry *x, void (*cb)(FILE *f, const StatusEntry *x, const PolicyRule *r,
                                                               unsigned k, void *userdata),
                              FILE *f, void *userdata) {
        const PolicyRuleList *l = &x->rules.rules[POLICY_CONNECT][POLICY_ALLOW];
        unsigned k = 0;

        for (size_t i = 0; x->have_rules && i < l->n; i++)
                if (policy_rule_is_name(&l->rules[i]))
                        cb(f, x, &l->rules[i], k++, userdata);
}

static void learned_address(const DnsLearned *d, char buf[static INET6_ADDRSTRLEN]) {
        if (!inet_ntop(d->family, d->addr, buf, INET6_ADDRSTRLEN))
                strcpy(buf, "?");
}

/* "      name: RULE: ADDRESS (N s), …" or "…: none now". */
static void text_name_rule(FILE *f, const StatusEntry *x, const PolicyRule *r, unsigned k, void *userdata) {
        _cleanup_free_ char *t = NULL;
        unsigned n = 0;

        if (policy_rule_to_string(r, &t) < 0)
                return;
        fprintf(f, "%10s: %s:", "name", t);
        for (size_t i = 0; i < x->n_learned; i++) {
                char a[INET6_ADDRSTRLEN];

                if (x->learned[i].rule != k)
                        continue;
                learned_address(&x->learned[i], a);
                fprintf(f, "%s %s (%" PRIu32 " s)", n++ > 0 ? "," : "", a, x->learned[i].expires_s - x->now_s);
        }
        fputs(n == 0 ? " none now\n" : "\n", f);
}

static void json_name_rule(FILE *f, const StatusEntry *x, const PolicyRule *r, unsigned k, void *userdata) {
        _cleanup_free_ char *t = NULL;
        unsigned *n_rules = userdata, n = 0;

        if (policy_rule_to_string(r, &t) < 0)
                return;
        fputs((*n_rules)++ > 0 ? ",{\"rule\":" : "{\"rule\":", f);
        json_string(f, t);
        fputs(",\"addresses\":[", f);
        for (size_t i = 0; i < x->n_learned; i++) {
                char a[INET6_ADDRSTRLEN];

                if (x->learned[i].rule != k)
                        continue;
                learned_address(&x->learned[i], a);
                fprintf(f, "%s{\"address\":\"%s\",\"expires_in_s\":%" PRIu32 "}", n++ > 0 ? "," : "", a,
                        x->learned[i].expires_s - x->now_s);
        }
        fputs("]}", f);
}

static int status_print_text(FILE *f, const Status *s) {
        for (size_t k = 0; k < s->n; k++) {
                const StatusEntry *x = &s->entries[k];

                if (k > 0)
                        fputc('\n', f);
                fprintf(f, "%s\n", x->unit ? x->unit : "(unknown unit)");
                fprintf(f, "    cgroup: %s (id %" PRIu64 ")\n", x->cgroup ? x->cgroup : "?", x->cgroup_id);
                fprintf(f, "      mode: %s%s\n", entry_mode(x), x->learning && x->audit ? ", learning" : "");
                if (x->blocked)
                        fprintf(f, "   blocked: yes, every new bind, connect and sendmsg is refused "
                                "('cgpolicy unblock %s' restores the policy)\n", x->unit);
                if (x->keys_removed && !x->blocked)
                        fputs("     rules: none, keys removed (everything allowed until the unit stops)\n", f);
                if (x->drift)
                        fprintf(f, "     drift: the unit files differ from the policy in force ('cgpolicy reload %s')\n",
                                x->unit);
                for (int d = 0; d < _POLICY_DIRECTION_MAX; d++) {
                        if (!x->have_rules || !policy_has_direction(&x->rules, d))
                                continue;
                        for (int a = 0; a < _POLICY_ACTION_MAX; a++) {
                                if (x->rules.rules[d][a].n == 0)
                                        continue;
                                fprintf(f, "%10s:", d == POLICY_BIND ? (a == POLICY_ALLOW ? "bind-allow" : "bind-deny")
                                                                     : (a == POLICY_ALLOW ? "connect-allow" : "connect-deny"));
                                for (size_t i = 0; i < x->rules.rules[d][a].n; i++) {
                                        _cleanup_free_ char *r = NULL;

                                        if (policy_rule_to_string(&x->rules.rules[d][a].rules[i], &r) >= 0)
                                                fprintf(f, " %s", r);
                                }
                                fputc('\n', f);
                        }
                }
                foreach_name_rule(x, text_name_rule, f, NULL);
                if (x->have_rules && x->rules.socket_allow != 0) {
                        fprintf(f, "%10s:", "socket-allow");
                        for (unsigned kind = 1; kind < POLICY_SOCKET_ALL; kind <<= 1)
                                if (x->rules.socket_allow & kind)
                                        fprintf(f, " %s", policy_socket_kind_to_string((PolicySocketKind) kind));
                        fputc('\n', f);
                }
                for (int d = 0; d < CGP_COUNTER_DIRS; d++) {
                        const struct cgp_counter *c = &x->cnt[d];

                        /* Socket creation is counted only for the kinds the other programs
                         * cannot judge: shown when there is something to show. */
                        if (d == CGP_DIR_SOCKET && c->allowed + c->denied + c->audited == 0 &&
                            !(x->have_rules && x->rules.socket_allow != 0))
                                continue;
                        fprintf(f, "%10s: %llu allowed, %llu denied", counter_dir_names[d],
                                (unsigned long long) c->allowed, (unsigned long long) c->denied);
                        if (x->audit || c->audited > 0)
                                fprintf(f, ", %llu would be denied (audit)", (unsigned long long) c->audited);
                        fputc('\n', f);
                }
                if (x->learning || x->learn_records + x->learn_evicted > 0)
                        fprintf(f, "%10s: %llu records, %llu evicted (at most %u kept; 'cgpolicy learn %s')\n", "learned",
                                (unsigned long long) x->learn_records, (unsigned long long) x->learn_evicted,
                                CGP_LEARN_RECORDS, x->unit ?: "UNIT");
                if (x->suppressed > 0)
                        fprintf(f, "%10s: %llu denials not recorded (rate limit)\n", "log",
                                (unsigned long long) x->suppressed);
                if (x->stream.read + x->stream_lost + x->stream.actions > 0)
                        fprintf(f, "%10s: %llu journaled, %llu suppressed (monitor's rate limit), %llu lost "
                                "(ring buffer full), %llu actions on denial\n", "journal",
                                (unsigned long long) x->stream.journaled, (unsigned long long) x->stream.suppressed,
                                (unsigned long long) x->stream_lost, (unsigned long long) x->stream.actions);
        }
        if (s->n == 0) {
                if (s->filter)
                        fprintf(f, "%s is not policed.\n", s->filter);
                else
                        fputs("No policed units.\n", f);
        }
        if (!s->filter && s->denials_logged > 0)
                fprintf(f, "\nDenial records: %llu written, %llu read by cgpolicy-monitor (%llu journaled, %llu "
                        "suppressed), %llu lost (ring buffer full).\n", (unsigned long long) s->denials_logged,
                        (unsigned long long) s->stream.read, (unsigned long long) s->stream.journaled,
                        (unsigned long long) s->stream.suppressed, (unsigned long long) s->stream_lost);
        if (!s->filter && s->orphaned_entries > 0)
                fprintf(f, "\n%u map entries belong to no policed cgroup (left by an interrupted apply or release; "
                        "no cgroup will ever use them): 'cgpolicy gc' removes them.\n", s->orphaned_entries);
        return 0;
}

/* The schema is documented in cgpolicy(8), JSON OUTPUT; tests/bpf/check-status-output.py checks
 * it. Adding a field keeps STATUS_JSON_SCHEMA_VERSION; renaming, removing or changing the
 * meaning of one bumps it. */
#define STATUS_JSON_SCHEMA_VERSION 1

/* "name":{"bind":N,"connect":N,"socket":N} of one field of the counters. */
static void json_dir_counters(FILE *f, const char *name, const struct cgp_counter cnt[static CGP_COUNTER_DIRS],
                              size_t offset) {
        fprintf(f, "\"%s\":{", name);
        for (int d = 0; d < CGP_COUNTER_DIRS; d++) {
                uint64_t v;

                memcpy(&v, (const uint8_t *) &cnt[d] + offset, sizeof v);
                fprintf(f, "%s\"%s\":%llu", d > 0 ? "," : "", counter_dir_names[d], (unsigned long long) v);
        }
        fputc('}', f);
}

static void json_stream(FILE *f, const struct cgp_stream *st, uint64_t lost) {
        fprintf(f, "\"stream\":{\"read\":%llu,\"journaled\":%llu,\"suppressed\":%llu,\"lost\":%llu,\"actions\":%llu}",
                (unsigned long long) st->read, (unsigned long long) st->journaled,
                (unsigned long long) st->suppressed, (unsigned long long) lost, (unsigned long long) st->actions);
}

static int status_print_json(FILE *f, const Status *s) {
        fprintf(f, "{\"schema_version\":%d,\"denials_logged\":%llu,\"denials_suppressed\":%llu,"
                "\"orphaned_entries\":%u,", STATUS_JSON_SCHEMA_VERSION,
                (unsigned long long) s->denials_logged, (unsigned long long) s->denials_suppressed,
                s->orphaned_entries);
        json_stream(f, &s->stream, s->stream_lost);
        fputc(',', f);
        json_dir_counters(f, "no_policy_denied", s->no_policy, offsetof(struct cgp_counter, denied));
        fputs(",\"units\":[", f);
        for (size_t k = 0; k < s->n; k++) {
                const StatusEntry *x = &s->entries[k];

                fputs(k > 0 ? ",\n    {" : "\n    {", f);
                fputs("\"unit\":", f);
                json_string(f, x->unit);
                fputs(",\"cgroup\":", f);
                json_string(f, x->cgroup);
                fprintf(f, ",\"cgroup_id\":%" PRIu64 ",\"mode\":\"%s\",\"rules\":{", x->cgroup_id, entry_mode(x));
                for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                        for (int a = 0; a < _POLICY_ACTION_MAX; a++) {
                                fprintf(f, "%s\"%s_%s\":[", d + a > 0 ? "," : "",
                                        policy_direction_to_string(d), policy_action_to_string(a));
                                for (size_t i = 0; x->have_rules && i < x->rules.rules[d][a].n; i++) {
                                        _cleanup_free_ char *r = NULL;

                                        if (policy_rule_to_string(&x->rules.rules[d][a].rules[i], &r) < 0)
                                                continue;
                                        if (i > 0)
                                                fputc(',', f);
                                        json_string(f, r);
                                }
                                fputc(']', f);
                        }
                fputs(",\"socket_allow\":[", f);
                for (unsigned kind = 1, n = 0; x->have_rules && kind < POLICY_SOCKET_ALL; kind <<= 1)
                        if (x->rules.socket_allow & kind) {
                                fputs(n++ > 0 ? "," : "", f);
                                json_string(f, policy_socket_kind_to_string((PolicySocketKind) kind));
                        }
                fputs("]},\"names\":[", f);
                foreach_name_rule(x, json_name_rule, f, &(unsigned) { 0 });
                fputs("],", f);
                json_dir_counters(f, "allowed", x->cnt, offsetof(struct cgp_counter, allowed));
                fputc(',', f);
                json_dir_counters(f, "denied", x->cnt, offsetof(struct cgp_counter, denied));
                fputc(',', f);
                json_dir_counters(f, "audited", x->cnt, offsetof(struct cgp_counter, audited));
                fprintf(f, ",\"suppressed\":%llu,", (unsigned long long) x->suppressed);
                json_stream(f, &x->stream, x->stream_lost);
                fprintf(f, ",\"blocked\":%s,\"keys_removed\":%s,\"drift\":%s", x->blocked ? "true" : "false",
                        x->keys_removed && !x->blocked ? "true" : "false", x->drift ? "true" : "false");
                fprintf(f, ",\"learning\":%s,\"learn_records\":%llu,\"learn_evicted\":%llu}",
                        x->learning ? "true" : "false", (unsigned long long) x->learn_records,
                        (unsigned long long) x->learn_evicted);
        }
        fputs(s->n > 0 ? "\n]}\n" : "]}\n", f);
        return 0;
}

/* The Prometheus labels of an entry: {unit="…",cgroup="…" (without the closing brace). */
static void prom_entry_labels(FILE *f, const StatusEntry *x) {
        fputs("{unit=", f);
        prom_label_value(f, x->unit);
        fputs(",cgroup=", f);
        prom_label_value(f, x->cgroup);
}

static bool prom_same_series(const StatusEntry *a, const StatusEntry *b) {
        return streq(a->unit ? a->unit : "", b->unit ? b->unit : "") &&
               streq(a->cgroup ? a->cgroup : "", b->cgroup ? b->cgroup : "");
}

/* Prometheus text exposition format (version 0.0.4), as node_exporter's textfile collector
 * reads it. The metric names are documented in cgpolicy(8), PROMETHEUS METRICS.
 *
 * The series of a unit are labelled by unit name and cgroup path, not by cgroup id: the id
 * changes at every start of the unit, and the counters start again from zero then, which
 * Prometheus handles as a counter reset. Two policies can carry the same unit and cgroup for a
 * moment (the cgroup of a unit killed without ExecStopPost= and the new one of its next start,
 * until "cgpolicy gc"); a series may appear only once, so only the first one whose cgroup
 * still exists (else the first one) is written. */
static int status_print_prometheus(FILE *f, const Status *s) {
        _cleanup_free_ bool *skip = calloc(s->n ? s->n : 1, sizeof(bool));
        size_t n_series = 0;

        if (!skip)
                return log_oom();
        for (size_t i = 0; i < s->n; i++) {
                size_t keep = SIZE_MAX;

                if (skip[i])
                        continue;
                for (size_t j = i; j < s->n; j++) {
                        if (j != i && (skip[j] || !prom_same_series(&s->entries[i], &s->entries[j])))
                                continue;
                        if (keep == SIZE_MAX && cg_id_exists(s->entries[j].cgroup_id, NULL) > 0)
                                keep = j;
                        if (j != i)
                                skip[j] = true;
                }
                if (keep != SIZE_MAX && keep != i) {
                        skip[keep] = false;
                        skip[i] = true;
                }
        }
        for (size_t i = 0; i < s->n; i++)
                if (!skip[i])
                        n_series++;

        fputs("# HELP cgpolicy_policed_cgroups Number of cgroups with a cgpolicy network policy.\n"
              "# TYPE cgpolicy_policed_cgroups gauge\n", f);
        fprintf(f, "cgpolicy_policed_cgroups %zu\n", n_series);

        fputs("# HELP cgpolicy_unit_info The policy mode of a policed unit (enforce, audit or learn); always 1.\n"
              "# TYPE cgpolicy_unit_info gauge\n", f);
        for (size_t i = 0; i < s->n; i++) {
                if (skip[i])
                        continue;
                fputs("cgpolicy_unit_info", f);
                prom_entry_labels(f, &s->entries[i]);
                fprintf(f, ",mode=\"%s\"} 1\n", entry_mode(&s->entries[i]));
        }

        fputs("# HELP cgpolicy_unit_blocked 1 while the unit is blocked by cgpolicy block, else 0.\n"
              "# TYPE cgpolicy_unit_blocked gauge\n", f);
        for (size_t i = 0; i < s->n; i++) {
                if (skip[i])
                        continue;
                fputs("cgpolicy_unit_blocked", f);
                prom_entry_labels(f, &s->entries[i]);
                fprintf(f, "} %d\n", s->entries[i].blocked);
        }

        fputs("# HELP cgpolicy_unit_drift 1 when the unit files (as systemd has loaded them) differ from the "
              "policy in force: cgpolicy reload puts them in force; 0 otherwise or when systemd cannot tell.\n"
              "# TYPE cgpolicy_unit_drift gauge\n", f);
        for (size_t i = 0; i < s->n; i++) {
                if (skip[i])
                        continue;
                fputs("cgpolicy_unit_drift", f);
                prom_entry_labels(f, &s->entries[i]);
                fprintf(f, "} %d\n", s->entries[i].drift);
        }

        fputs("# HELP cgpolicy_requests_total Requests judged by the policy of a policed unit, by direction "
              "(bind; connect, which includes UDP sendmsg; socket: the creation of a socket of a kind the "
              "other programs cannot judge) and verdict (allowed, denied, audited: would have been denied in "
              "audit mode).\n"
              "# TYPE cgpolicy_requests_total counter\n", f);
        for (size_t i = 0; i < s->n; i++) {
                const StatusEntry *x = &s->entries[i];

                if (skip[i])
                        continue;
                for (int d = 0; d < CGP_COUNTER_DIRS; d++) {
                        const struct { const char *verdict; uint64_t value; } v[] = {
                                { "allowed", x->cnt[d].allowed },
                                { "denied", x->cnt[d].denied },
                                { "audited", x->cnt[d].audited },
                        };

                        for (size_t k = 0; k < ELEMENTSOF(v); k++) {
                                fputs("cgpolicy_requests_total", f);
                                prom_entry_labels(f, x);
                                fprintf(f, ",direction=\"%s\",verdict=\"%s\"} %llu\n",
                                        counter_dir_names[d], v[k].verdict, (unsigned long long) v[k].value);
                        }
                }
        }

        fputs("# HELP cgpolicy_no_policy_denied_total Requests denied because the cgpolicy programs "
              "were attached but no policy was written for the cgroup (fail closed).\n"
              "# TYPE cgpolicy_no_policy_denied_total counter\n", f);
        for (int d = 0; d < CGP_COUNTER_DIRS; d++)
                fprintf(f, "cgpolicy_no_policy_denied_total{direction=\"%s\"} %llu\n",
                        counter_dir_names[d], (unsigned long long) s->no_policy[d].denied);

        fputs("# HELP cgpolicy_denials_suppressed_total Denials of a policed unit not written to the "
              "recent-denials log because the unit went over its rate.\n"
              "# TYPE cgpolicy_denials_suppressed_total counter\n", f);
        for (size_t i = 0; i < s->n; i++) {
                if (skip[i])
                        continue;
                fputs("cgpolicy_denials_suppressed_total", f);
                prom_entry_labels(f, &s->entries[i]);
                fprintf(f, "} %llu\n", (unsigned long long) s->entries[i].suppressed);
        }

        fputs("# HELP cgpolicy_denials_streamed_total Denial records of a policed unit by what became of "
              "them in the denial stream: journaled (written to the journal by cgpolicy-monitor), suppressed "
              "(over the monitor's rate for the unit, counted in a journal line), lost (the ring buffer had "
              "no room).\n"
              "# TYPE cgpolicy_denials_streamed_total counter\n", f);
        for (size_t i = 0; i < s->n; i++) {
                const StatusEntry *x = &s->entries[i];
                const struct { const char *outcome; uint64_t value; } v[] = {
                        { "journaled", x->stream.journaled },
                        { "suppressed", x->stream.suppressed },
                        { "lost", x->stream_lost },
                };

                if (skip[i])
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(v); k++) {
                        fputs("cgpolicy_denials_streamed_total", f);
                        prom_entry_labels(f, x);
                        fprintf(f, ",outcome=\"%s\"} %llu\n", v[k].outcome, (unsigned long long) v[k].value);
                }
        }

        fputs("# HELP cgpolicy_on_denial_actions_total X-CgPolicyOnDenial= actions cgpolicy-monitor took "
              "(or logged, in audit mode) for a policed unit.\n"
              "# TYPE cgpolicy_on_denial_actions_total counter\n", f);
        for (size_t i = 0; i < s->n; i++) {
                if (skip[i])
                        continue;
                fputs("cgpolicy_on_denial_actions_total", f);
                prom_entry_labels(f, &s->entries[i]);
                fprintf(f, "} %llu\n", (unsigned long long) s->entries[i].stream.actions);
        }

        fputs("# HELP cgpolicy_denials_stream_lost_total Denial records the ring buffer had no room for, "
              "all units and requests without a policy.\n"
              "# TYPE cgpolicy_denials_stream_lost_total counter\n", f);
        fprintf(f, "cgpolicy_denials_stream_lost_total %llu\n", (unsigned long long) s->stream_lost);

        fputs("# HELP cgpolicy_denials_logged_total Denials (and would-be denials in audit mode) "
              "written to the recent-denials log since the maps were created.\n"
              "# TYPE cgpolicy_denials_logged_total counter\n", f);
        fprintf(f, "cgpolicy_denials_logged_total %llu\n", (unsigned long long) s->denials_logged);

        fputs("# HELP cgpolicy_orphaned_entries Map entries of policies no cgroup uses (left by an "
              "interrupted apply or release); cgpolicy gc removes them.\n"
              "# TYPE cgpolicy_orphaned_entries gauge\n", f);
        fprintf(f, "cgpolicy_orphaned_entries %u\n", s->orphaned_entries);
        return 0;
}

int status_print(FILE *f, const Status *s, StatusFormat format) {
        static int (*const printers[_STATUS_FORMAT_MAX])(FILE *f, const Status *s) = {
                [STATUS_FORMAT_TEXT]       = status_print_text,
                [STATUS_FORMAT_JSON]       = status_print_json,
                [STATUS_FORMAT_PROMETHEUS] = status_print_prometheus,
        };

        assert(f);
        assert(s);
        assert(format >= 0 && format < _STATUS_FORMAT_MAX);

        return printers[format](f, s);
}

/* Into a temporary file in the same directory whose name does not end in ".prom" (so that the
 * collector ignores it), then renamed over PATH. Mode 0644: the collector runs as another user. */
int status_write_file(const char *path, const Status *s, StatusFormat format) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        const char *slash;
        int fd, r;

        assert(path);
        assert(s);

        slash = strrchr(path, '/');
        if (asprintf(&tmp, "%.*s.%s.XXXXXX", slash ? (int) (slash - path + 1) : 0, path, slash ? slash + 1 : path) < 0)
                return log_oom();
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create a temporary file next to %s: %m", path);
        if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
                r = -errno;
                if (!f)
                        close(fd);
                (void) unlink(tmp);
                return log_error_errno(r, "Cannot write %s: %m", tmp);
        }
        r = status_print(f, s, format);
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        if (fflush(f) != 0 || ferror(f)) {
                r = errno > 0 ? -errno : -EIO;
                (void) unlink(tmp);
                return log_error_errno(r, "Cannot write %s: %m", tmp);
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return log_error_errno(r, "Cannot rename %s to %s: %m", tmp, path);
        }
        return 0;
}
