/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dns-visibility.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "strv.h"
#include "unit-file.h"

void unit_policy_init(UnitPolicy *u, UnitKind kind) {
        assert(u);

        *u = (UnitPolicy) { .kind = kind };
        policy_init(&u->policy);
}

void unit_policy_done(UnitPolicy *u) {
        assert(u);

        policy_done(&u->policy);
        strv_free(u->exec_start_pre);
        free(u->slice);
        *u = (UnitPolicy) {};
}

static UnitKind kind_from_name(const char *name, size_t len) {
        static const char *const others[] = {
                ".socket", ".target", ".device", ".mount", ".automount", ".swap", ".timer", ".path", ".scope",
        };
        char buf[256];

        if (len >= sizeof buf)
                return UNIT_KIND_UNKNOWN;
        memcpy(buf, name, len);
        buf[len] = 0;

        if (endswith(buf, ".service") || streq(buf, "service"))
                return UNIT_KIND_SERVICE;
        if (endswith(buf, ".slice") || streq(buf, "slice"))
                return UNIT_KIND_SLICE;
        for (size_t i = 0; i < ELEMENTSOF(others); i++)
                if (endswith(buf, others[i]) || streq(buf, others[i] + 1))
                        return UNIT_KIND_OTHER;
        return UNIT_KIND_UNKNOWN;
}

UnitKind unit_kind_from_path(const char *path) {
        const char *base;
        UnitKind k;

        assert(path);

        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        k = kind_from_name(base, strlen(base));
        if (k != UNIT_KIND_UNKNOWN || !endswith(base, ".conf") || base == path)
                return k;

        /* A drop-in: look at the directory, "foo.service.d". */
        const char *end = base - 1, *start = end;
        while (start > path && start[-1] != '/')
                start--;
        if (end - start < 3 || !strneq(end - 2, ".d", 2))
                return UNIT_KIND_UNKNOWN;
        return kind_from_name(start, (size_t) (end - 2 - start));
}

static const char *kind_section(UnitKind k) {
        return k == UNIT_KIND_SERVICE ? "Service" : k == UNIT_KIND_SLICE ? "Slice" : NULL;
}

static int on_assignment(const char *filename, unsigned line, const char *section,
                         const char *key, const char *value, void *userdata) {
        UnitPolicy *u = userdata;
        const PolicySource src = { .filename = filename, .line = line, .key = key };
        int r;

        if (policy_key_is_ours(key)) {
                const char *want = kind_section(u->kind);
                bool ignored;

                if (u->kind == UNIT_KIND_OTHER) {
                        u->n_errors++;
                        (void) policy_set_error(&u->policy, &src,
                                                "X-CgPolicy keys are supported in service and slice units only");
                        return 0;
                }
                if (want ? !streq(section, want) : !streq(section, "Service") && !streq(section, "Slice")) {
                        u->n_errors++;
                        (void) policy_set_error(&u->policy, &src, "belongs in the [%s] section, not in [%s]",
                                                want ?: "Service] or [Slice", section);
                        return 0;
                }

                if (streq(section, "Slice"))
                        u->slice_keys = true;

                /* The seal is made of the service's own execution settings (capabilities, mounts):
                 * a slice has none to give its services. */
                if (streq(key, "X-CgPolicySeal") && (u->kind == UNIT_KIND_SLICE || streq(section, "Slice"))) {
                        u->n_errors++;
                        (void) policy_set_error(&u->policy, &src, "sealing is per service: a slice cannot seal the "
                                                "services in it (set X-CgPolicySeal= in the services)");
                        return 0;
                }

                r = policy_assign_full(&u->policy, &src, value, &ignored);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || ignored)
                        u->n_errors++;
                return 0;
        }

        if (u->kind != UNIT_KIND_SERVICE || !streq(section, "Service"))
                return 0;

        if (streq(key, "ExecStartPre")) {
                if (!*value) {
                        u->exec_start_pre = strv_free(u->exec_start_pre);
                        u->n_exec_start_pre = 0;
                        u->exec_start_pre_reset = true;
                        return 0;
                }
                return strv_extend(&u->exec_start_pre, &u->n_exec_start_pre, value);
        }

        if ((streq(key, "CapabilityBoundingSet") && value[0] != '~') ||
            (streq(key, "ProtectControlGroups") && policy_parse_boolean(value) != 1 && !streq(value, "strict")) ||
            (streq(key, "InaccessiblePaths") && !*value))
                u->unseal = true;

        if (streq(key, "Slice")) {
                char *s = NULL;

                if (*value && !(s = strdup(value)))
                        return -ENOMEM;
                free(u->slice);
                u->slice = s;
        }

        return 0;
}

int unit_policy_load_file(UnitPolicy *u, const char *path, FILE *f) {
        assert(u);
        assert(path);

        return unit_file_parse(path, f, on_assignment, u);
}

/* What sealing adds to the unit of a file without errors that has network rules. */
static void print_seal(FILE *out, const char *path, const UnitPolicy *u) {
        const Policy *p = &u->policy;

        if (!policy_has_network(p) || p->error)
                return;
        if (u->kind == UNIT_KIND_SLICE || (u->kind == UNIT_KIND_UNKNOWN && u->slice_keys))
                fprintf(out, "%s: not sealed (a slice: sealing is per service)\n", path);
        else if (p->mode != POLICY_MODE_ENFORCE)
                fprintf(out, "%s: not sealed (%s mode)\n", path, policy_mode_to_string(p->mode));
        else if (p->seal == 0)
                fprintf(out, "%s: not sealed (X-CgPolicySeal=no)\n", path);
        else {
                assert(policy_is_sealed(p));
                fprintf(out, "%s: sealed:", path);
                for (const char *const *x = policy_seal_settings; *x; x++)
                        fprintf(out, " %s", *x);
                fputs(" (X-CgPolicySeal=no opts out)\n", out);
        }
}

/* What cgpolicy-monitor.service does with the unit when it is denied too often. */
static void print_on_denial(FILE *out, const char *path, const UnitPolicy *u) {
        const Policy *p = &u->policy;
        _cleanup_free_ char *t = NULL;

        if (!policy_has_network(p) || p->error || p->on_denial == POLICY_ON_DENIAL_NONE)
                return;
        if (policy_on_denial_threshold_to_string(p->on_denial_max, p->on_denial_interval_usec, &t) < 0)
                return;
        fprintf(out, "%s: on denial: %s when denied more than %s (by cgpolicy-monitor.service)%s\n", path,
                policy_on_denial_to_string(p->on_denial), t,
                p->mode == POLICY_MODE_AUDIT ? "; audit mode: logged, not taken" :
                p->mode == POLICY_MODE_LEARN ? "; learn mode: nothing is denied" : "");
}

/* What the name rules allow, and when they allow nothing (systemd.cgpolicy(5), NAME RULES). */
static int print_names(FILE *out, const char *path, const UnitPolicy *u, const char *root) {
        const Policy *p = &u->policy;
        const PolicyRuleList *l = &p->rules[POLICY_CONNECT][POLICY_ALLOW];
        _cleanup_free_ char *why = NULL;
        int r;

        if (p->error || policy_n_names(p) == 0)
                return 0;

        fprintf(out, "%s: names:", path);
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_free_ char *t = NULL;

                if (!policy_rule_is_name(&l->rules[i]))
                        continue;
                if (policy_rule_to_string(&l->rules[i], &t) < 0)
                        return -ENOMEM;
                fprintf(out, " %s", t);
        }
        fputs(" (the addresses the unit's own DNS lookups over UDP answer, for the answer's TTL, 5s..1h)\n", out);

        if (p->rules[POLICY_CONNECT][POLICY_DENY].n == 0)
                fprintf(out, "%s: names: no X-CgPolicyConnectDeny=: every connect is allowed anyway\n", path);
        else if (!policy_names_resolver_reachable(p))
                fprintf(out, "%s: names: no connect allow rule allows udp port 53: the unit can ask no resolver, "
                        "the name rules allow nothing\n", path);

        r = dns_lookups_visible(root, &why);
        if (r < 0)
                return r;
        if (r == 0)
                fprintf(out, "%s: names: lookups not seen on this host: %s; the name rules allow nothing\n", path, why);
        return 0;
}

int check_unit_files(char * const *paths, size_t n, FILE *out) {
        return check_unit_files_full(paths, n, NULL, out);
}

int check_unit_files_full(char * const *paths, size_t n, const char *root, FILE *out) {
        int ret = 0;
        bool bad = false;

        assert(paths || n == 0);
        assert(out);

        for (size_t i = 0; i < n; i++) {
                UnitPolicy u;
                int r;

                unit_policy_init(&u, unit_kind_from_path(paths[i]));
                r = unit_policy_load_file(&u, paths[i], NULL);
                if (r < 0) {
                        char buf[64];

                        log_error("%s: cannot read: %s", paths[i], read_full_file_strerror(r, buf, sizeof buf));
                        if (ret == 0)
                                ret = r;
                } else if (u.n_errors > 0)
                        bad = true;
                else {
                        print_seal(out, paths[i], &u);
                        print_on_denial(out, paths[i], &u);
                        r = print_names(out, paths[i], &u, root);
                        if (r < 0 && ret == 0)
                                ret = r;
                }
                unit_policy_done(&u);
        }

        return ret < 0 ? ret : bad ? -EINVAL : 0;
}
