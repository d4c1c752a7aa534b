/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* cgpolicy: loads the programs (load), puts a unit's policy in force from its ExecStartPre=+
 * (apply) and removes it (release, gc), and shows what happens (status, denials); check
 * validates unit files. See cgpolicy(8) and HACKING.md.
 *
 * Exit status: 0 success; 1 failure (also: "apply --error=", a bad rule, "check" found an
 * error, the programs could not be attached); 2 bad command line, which is what parse_argv()
 * returns -EINVAL for. Once the verb runs, every error is a failure: an EINVAL from the kernel
 * (bpf_prog_attach(), say) or from check_unit_files() ("a file has an error") as well. */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf-maps.h"
#include "cgroup-util.h"
#include "check.h"
#include "config.h"
#include "denials.h"
#include "dns-visibility.h"
#include "exec-escape.h"
#include "learn.h"
#include "log.h"
#include "macro.h"
#include "monitor.h"
#include "policy-args.h"
#include "policy-compile.h"
#include "policy.h"
#include "privilege.h"
#include "runtime.h"
#include "status-output.h"
#include "status.h"
#include "strv.h"
#include "switch.h"
#include "target.h"
#include "unit-bus.h"
#include "unit-path.h"
#include "verbs.h"

#define EXIT_USAGE 2

/* The command line: the verb and its options, filled by parse_argv() before the verb runs. */
typedef struct Args {
        const Verb *verb;
        const char *unit;               /* apply, release: --unit= */
        const char *slice;              /* apply, release: --slice= */
        Policy policy;                  /* apply: --mode=, --error=, the rules */
        const char *filter;             /* status: UNIT */
        StatusFormat format;            /* status: --json, --prometheus */
        const char *output;             /* status: --prometheus=FILE */
        bool follow;                    /* denials: --follow */
        char **files;                   /* check: FILE... */
        size_t n_files;
        char **units;                   /* reload, block, unblock: UNIT... (an array of argv's strings) */
        size_t n_units;
        const char *cgroup;             /* reload, block, unblock: --cgroup= (without systemd: tests) */
        char **helper;                  /* reload --cgroup=: the helper line after "--", from "apply" */
        size_t n_helper;
        LearnArgs learn;                /* learn: its unit and options */
} Args;

static void args_done(Args *args) {
        policy_done(&args->policy);
        args->units = mfree(args->units);     /* the strings are argv's */
}

static int help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Load, apply and inspect in-kernel network policies of systemd units.\n\n"
               "Commands:\n"
               "  load                          Load and pin the BPF programs and maps (idempotent)\n"
               "  apply [--unit=NAME|--slice=NAME] [--mode=enforce|audit|learn]\n"
               "        [--socket-allow=KIND]...\n"
               "        [--on-denial=ACTION] [--on-denial-threshold=N/INTERVAL]\n"
               "        [--bind-allow=RULE]... [--bind-deny=RULE]...\n"
               "        [--connect-allow=RULE]... [--connect-deny=RULE]...\n"
               "                                Put a policy in force for the own cgroup or a slice\n"
               "  apply [--unit=NAME|--slice=NAME] --error=MESSAGE\n"
               "                                Log MESSAGE as an error and fail\n"
               "  release [--unit=NAME|--slice=NAME]\n"
               "                                Remove the policy of the own cgroup or a slice\n"
               "  gc                            Remove policies of cgroups that no longer exist\n"
               "  unload                        Detach the programs from every policed cgroup (removal)\n"
               "  status [UNIT] [--json|--prometheus[=FILE]]\n"
               "                                Show policed units, rules and counters\n"
               "  denials [--follow]            Show recent denied (and audited) requests\n"
               "  monitor                       Write denials to the journal, act on X-CgPolicyOnDenial=\n"
               "                                (cgpolicy-monitor.service)\n"
               "  check FILE...                 Validate X-CgPolicy keys of unit files\n"
               "  reload [UNIT...] [--follow]   Put the keys systemd has loaded in force for running units\n"
               "  block UNIT                    Refuse every new bind/connect/sendmsg of a unit (runtime)\n"
               "  unblock UNIT                  Restore the policy of a blocked unit\n"
               "  learn UNIT [--json|--diff] [--prefix-threshold=N]\n"
               "                                Propose a policy from what the unit was seen doing\n"
               "  learn UNIT --records          Show what the unit was seen doing\n"
               "  learn UNIT --start|--stop     Make a running unit learn (runtime), or stop\n"
               "  learn UNIT --reset            Forget what the unit was seen doing\n\n"
               "Options:\n"
               "  -h --help                     Show this help\n"
               "     --version                  Show the version\n\n"
               "Environment: $CGPOLICY_BPFFS_DIR (pin directory, default %s),\n"
               "$CGPOLICY_RUNTIME_DIR (state, default %s), $SYSTEMD_LOG_LEVEL.\n\n"
               "Exit status: 0 success; 1 failure (also apply --error=, a bad rule, check found\n"
               "errors, programs could not be attached); 2 invalid command line.\n",
               program_invocation_short_name, CGPOLICY_BPFFS_DIR, CGPOLICY_RUNTIME_DIR);
        return 0;
}

/* ---- verbs ---- */

static int verb_load(void *userdata) {
        return bpf_load_and_pin();
}

/* --unit=NAME and --slice=NAME, the target of apply and release: true when arg is one of them. */
static bool parse_target_arg(Args *args, const char *arg) {
        const char *v;

        if ((v = startswith(arg, "--unit=")))
                args->unit = v;
        else if ((v = startswith(arg, "--slice=")))
                args->slice = v;
        else
                return false;
        return true;
}

/* --unit= and --slice= as systemd validates unit names, before anything is opened: the name
 * goes into the runtime record and messages, the slice name into a cgroup path. --unit= is
 * what %n expands to: any unit type, no template. */
static int parse_target_names(const Args *args) {
        _cleanup_free_ char *e = NULL;

        if (args->unit && !unit_name_is_valid_full(args->unit, UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE)) {
                if (escape_cc(args->unit, &e) < 0)
                        return log_oom();
                return log_error_errno(EINVAL, "--unit=%s: not a valid unit name.", e);
        }
        if (args->slice && !cg_slice_name_is_valid(args->slice)) {
                if (escape_cc(args->slice, &e) < 0)
                        return log_oom();
                return log_error_errno(EINVAL, "--slice=%s: not a valid slice name.", e);
        }
        return 0;
}

static int parse_apply(int argc, char **argv, void *userdata) {
        Args *args = userdata;
        int r;

        for (int i = 1; i < argc; i++) {
                _cleanup_free_ char *reason = NULL;

                if (parse_target_arg(args, argv[i]))
                        continue;
                r = policy_arg_parse(&args->policy, argv[i], &reason);
                if (r == 0)
                        return log_error_errno(EINVAL, "Unknown argument '%s' of 'apply'.", argv[i]);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0) {
                        /* Not a usage error: a bad rule must stop the unit (exit status 1), with
                         * the reason in its journal. */
                        log_error("%s%s%s", args->unit ?: "", args->unit ? ": " : "", reason ?: argv[i]);
                        return -EBADMSG;
                }
        }

        /* With --error= the verb fails with that message, whatever the target (and writes nothing). */
        if (args->policy.error)
                return 0;
        return parse_target_names(args);
}

static int verb_apply(void *userdata) {
        const Args *args = userdata;
        const Policy *p = &args->policy;
        _cleanup_(target_done) Target t = {};
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        int r;

        if (p->error) {
                log_error("%s", p->error);
                return -EBADMSG;
        }

        r = require_policy_privileges("apply");
        if (r < 0)
                return r;

        r = target_resolve(args->unit, args->slice, true, &t);
        if (r < 0)
                return r;

        r = maps_open(&m, true);
        if (r < 0)
                return r;

        policy_names_log_visibility(p, t.unit);
        return policy_switch(&m, &t, p);
}

static int release_one(Maps *m, uint64_t id, const char *what) {
        struct cgp_cgroup v;
        int r;

        r = maps_get_cgroup(m, id, &v);
        if (r < 0)
                return log_error_errno(r, "Cannot read the policy map: %m");
        if (r > 0) {
                r = maps_fast_remove(m, id);
                if (r < 0)
                        return log_error_errno(r, "Cannot remove the allows of %s from the fast set: %m", what);
                r = maps_delete_cgroup(m, id);
                if (r < 0)
                        return log_error_errno(r, "Cannot remove the policy of %s: %m", what);
                /* A program that read the entry may still look up the rules (policy_switch()). */
                (void) maps_wait_programs();
                r = maps_delete_policy(m, v.policy);
                if (r < 0)
                        return log_error_errno(r, "Cannot remove the rules of %s: %m", what);
        }
        runtime_remove(id);
        return 0;
}

typedef struct ReleaseByName {
        Maps *m;
        const char *name;
} ReleaseByName;

static int release_if_named(uint64_t id, void *userdata) {
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        ReleaseByName *rn = userdata;

        if (runtime_read(id, &e) < 0 || !e.unit || strcmp(e.unit, rn->name) != 0)
                return 0;
        return release_one(rn->m, id, rn->name);
}

/* Releases every policy recorded (in the runtime directory) for the unit or slice NAME. */
static int release_by_name(Maps *m, const char *name) {
        return runtime_foreach(release_if_named, &(ReleaseByName) { .m = m, .name = name });
}

static int parse_release(int argc, char **argv, void *userdata) {
        Args *args = userdata;

        for (int i = 1; i < argc; i++)
                if (!parse_target_arg(args, argv[i]))
                        return log_error_errno(EINVAL, "Unknown argument '%s' of 'release'.", argv[i]);
        return parse_target_names(args);
}

static int verb_release(void *userdata) {
        const Args *args = userdata;
        _cleanup_(target_done) Target t = {};
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        int r;

        r = require_policy_privileges("release");
        if (r < 0)
                return r;

        if (access(pin_dir(), F_OK) < 0 && errno == ENOENT) {
                /* Nothing was ever loaded, so nothing was applied: there is nothing to release
                 * (a unit that got its drop-in while it ran, stopped before the loader ran). */
                log_debug("%s does not exist: nothing to release.", pin_dir());
                return 0;
        }

        r = maps_open(&m, true);
        if (r < 0)
                return r;

        r = target_resolve(args->unit, args->slice, false, &t);
        if (r < 0)
                return r;
        if (r == 0)
                /* systemd stops a slice before the cgpolicy-apply@ unit ordered before it, and
                 * removes its cgroup first: find the entries by the slice's name. */
                return release_by_name(&m, args->slice);

        return release_one(&m, t.id, t.unit);
}

typedef struct GcState {
        Maps *m;
        unsigned removed;
} GcState;

static int gc_one(uint64_t id, const struct cgp_cgroup *v, void *userdata) {
        GcState *s = userdata;
        int r;

        r = cg_id_exists(id, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot tell whether cgroup %" PRIu64 " exists: %m", id);
        if (r > 0)
                return 0;
        r = release_one(s->m, id, "a removed cgroup");
        if (r < 0)
                return r;
        log_debug("Removed the policy of cgroup %" PRIu64 ", which no longer exists.", id);
        s->removed++;
        return 0;
}

static int runtime_remove_if_unpoliced(uint64_t id, void *userdata) {
        struct cgp_cgroup v;

        if (maps_get_cgroup(userdata, id, &v) == 0)
                runtime_remove(id);
        return 0;
}

static int verb_gc(void *userdata) {
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        GcState s = { .m = &m };
        unsigned orphans = 0;
        int r;

        r = require_policy_privileges("gc");
        if (r < 0)
                return r;

        r = maps_open(&m, true);
        if (r < 0)
                return r;

        r = maps_foreach_cgroup(&m, gc_one, &s);
        if (r < 0)
                return r;

        r = maps_delete_orphans(&m, &orphans);
        if (r < 0)
                return log_error_errno(r, "Cannot remove orphaned map entries: %m");
        r = maps_fast_gc(&m);
        if (r < 0)
                return log_error_errno(r, "Cannot clean up the fast set: %m");

        /* Runtime records whose cgroup has no policy (any more). */
        r = runtime_foreach(runtime_remove_if_unpoliced, &m);
        if (r < 0)
                return r;

        log_info("Removed %u stale policies and %u orphaned map entries.", s.removed, orphans);
        return 0;
}

static int verb_unload(void *userdata) {
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        unsigned n = 0;
        int r;

        r = require_policy_privileges("unload");
        if (r < 0)
                return r;
        if (access(pin_dir(), F_OK) < 0 && errno == ENOENT)
                return 0;       /* nothing loaded, nothing attached */

        r = maps_open(&m, true);
        if (r < 0)
                return r;
        r = maps_detach_own(&m, &n);
        if (r < 0)
                return r;
        log_info("Detached %u program%s.", n, n == 1 ? "" : "s");
        return 0;
}

static int parse_status(int argc, char **argv, void *userdata) {
        Args *args = userdata;

        for (int i = 1; i < argc; i++) {
                const char *v;

                if (streq(argv[i], "--json") || streq(argv[i], "--prometheus") ||
                    startswith(argv[i], "--prometheus=")) {
                        if (args->format != STATUS_FORMAT_TEXT)
                                return log_error_errno(EINVAL, "'status' takes only one of --json and --prometheus.");
                        args->format = streq(argv[i], "--json") ? STATUS_FORMAT_JSON : STATUS_FORMAT_PROMETHEUS;
                        v = startswith(argv[i], "--prometheus=");
                        if (v) {
                                if (!*v)
                                        return log_error_errno(EINVAL, "--prometheus= needs a file name.");
                                args->output = v;
                        }
                } else if (argv[i][0] == '-')
                        return log_error_errno(EINVAL, "Unknown option '%s' of 'status'.", argv[i]);
                else if (!args->filter)
                        args->filter = argv[i];
                else
                        return log_error_errno(EINVAL, "'status' takes at most one unit.");
        }
        return 0;
}

static bool helper_differs(const UnitHelper *h);

/* The drift marker: only when systemd answers; otherwise no marker and no error. */
static void status_mark_drift(Status *s) {
        sd_bus *bus = NULL;
        int r;

        if (bus_open_system(&bus) < 0)
                return;
        for (size_t i = 0; i < s->n; i++) {
                StatusEntry *x = &s->entries[i];
                _cleanup_(unit_helper_done) UnitHelper h = {};
                _cleanup_free_ char *fs = NULL;
                uint64_t id;

                if (!x->unit)
                        continue;
                r = bus_unit_helper(bus, x->unit, false, &h);
                if (r == -ETIMEDOUT)
                        break;          /* systemd does not answer: no marker for the rest either */
                if (r < 0)
                        continue;
                /* The running unit's own cgroup only (not a stale one of an earlier start). */
                if (!h.loaded || !h.running || !h.cgroup || cg_fs_path(h.cgroup, &fs) < 0 ||
                    cg_fs_get_id(fs, &id) < 0 || id != x->cgroup_id)
                        continue;
                x->drift = helper_differs(&h);
        }
        sd_bus_flush_close_unref(bus);
}

static int verb_status(void *userdata) {
        const Args *args = userdata;
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        _cleanup_(status_done) Status s = {};
        int r;

        r = maps_open(&m, false);
        if (r < 0)
                return r;
        r = status_collect(&m, args->filter, &s);
        if (r < 0)
                return r;
        status_mark_drift(&s);

        if (args->output) {
                r = status_write_file(args->output, &s, args->format);
                if (r < 0)
                        return r;
        } else {
                r = status_print(stdout, &s, args->format);
                if (r < 0)
                        return r;
                if (fflush(stdout) != 0 || ferror(stdout))
                        return log_error_errno(EIO, "Cannot write the output: %m");
        }
        if (args->filter && s.n == 0)
                return -ENOENT;
        return 0;
}

static int parse_denials(int argc, char **argv, void *userdata) {
        Args *args = userdata;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--follow") || streq(argv[i], "-f"))
                        args->follow = true;
                else
                        return log_error_errno(EINVAL, "Unknown argument '%s' of 'denials'.", argv[i]);
        }
        return 0;
}

static int verb_denials(void *userdata) {
        const Args *args = userdata;
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        DenialCursor last = {};
        int r;

        r = maps_open(&m, false);
        if (r < 0)
                return r;

        r = denials_print_new(&m, &last);
        if (r < 0)
                return log_error_errno(r, "Cannot read the denial log: %m");
        if (r == 0 && !args->follow)
                printf("No denials recorded.\n");

        while (args->follow) {
                (void) poll(NULL, 0, 250);
                r = denials_print_new(&m, &last);
                if (r < 0)
                        return log_error_errno(r, "Cannot read the denial log: %m");
        }
        return 0;
}

static int verb_monitor(void *userdata) {
        return monitor_run();
}

static int parse_check(int argc, char **argv, void *userdata) {
        Args *args = userdata;

        args->files = argv + 1;
        args->n_files = (size_t) argc - 1;
        return 0;
}

static int verb_check(void *userdata) {
        const Args *args = userdata;
        int r;

        /* Diagnostics about files read like a compiler's: "FILE:LINE: KEY: what is wrong",
         * without our name in front, so that editors and CI annotators pick them up. */
        log_set_program_name(NULL);
        r = check_unit_files(args->files, args->n_files, stdout);
        if (fflush(stdout) != 0 || ferror(stdout))
                return log_error_errno(EIO, "Cannot write the output: %m");
        return r;
}

/* ---- reload, block, unblock ---- */

/* reload [UNIT...] [--follow]; block UNIT; unblock UNIT. For tests without systemd, with one
 * UNIT: --cgroup=PATH names its cgroup, and (reload) "-- apply ARGS..." its helper line (none:
 * its keys were removed). */
static int parse_unit_verb(int argc, char **argv, void *userdata) {
        Args *args = userdata;
        bool reload = streq(argv[0], "reload");
        int i;

        for (i = 1; i < argc; i++) {
                const char *v;

                if (streq(argv[i], "--")) {
                        i++;
                        break;
                }
                if (reload && streq(argv[i], "--follow"))
                        args->follow = true;
                else if ((v = startswith(argv[i], "--cgroup=")) && *v == '/')
                        args->cgroup = v;
                else if (argv[i][0] == '-')
                        return log_error_errno(EINVAL, "Unknown option '%s' of '%s'.", argv[i], argv[0]);
                else if (!unit_name_is_valid_full(argv[i], UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE))
                        return log_error_errno(EINVAL, "'%s' is not a valid unit name.", argv[i]);
                else {
                        char **l = reallocarray(args->units, args->n_units + 2, sizeof(char *));

                        if (!l)
                                return log_oom();
                        args->units = l;
                        l[args->n_units++] = argv[i];
                        l[args->n_units] = NULL;
                }
        }
        if (i < argc) {
                if (!reload || !args->cgroup)
                        return log_error_errno(EINVAL, "'%s': a helper line after '--' needs --cgroup=.", argv[0]);
                if (!streq(argv[i], "apply"))
                        return log_error_errno(EINVAL, "The helper line after '--' starts with 'apply'.");
                args->helper = argv + i;
                args->n_helper = (size_t) (argc - i);
        }
        if (!reload && args->n_units != 1)
                return log_error_errno(EINVAL, "'%s' takes one unit.", argv[0]);
        if (args->cgroup && args->n_units != 1)
                return log_error_errno(EINVAL, "--cgroup= takes exactly one unit.");
        if (args->follow && (args->n_units > 0 || args->cgroup))
                return log_error_errno(EINVAL, "'reload --follow' takes no unit.");
        return 0;
}

/* Put the helper line argv (from "apply" on; NULL: none, the keys were removed) of a running unit
 * in force for its cgroup, parsed by the parser of apply itself. A line that does not parse, or
 * says --error= (the generator found an invalid key), leaves the policy in force as it is. */
static int reload_apply(Maps *m, const char *unit, const char *cgroup, char **argv) {
        _cleanup_(args_done) Args a = {};
        _cleanup_(target_done) Target t = {};
        int r;

        policy_init(&a.policy);
        if (argv) {
                r = parse_apply((int) strv_length(argv), argv, &a);
                if (r >= 0 && a.policy.error) {
                        log_error("%s", a.policy.error);
                        r = -EBADMSG;
                }
                if (r < 0) {
                        log_error("%s: its new keys are not valid: the policy in force is left as it is.", unit);
                        return r == -ENOMEM ? r : -EBADMSG;
                }
        }

        r = target_resolve_cgroup(unit, cgroup, &t);
        if (r < 0)
                return r;
        r = policy_switch(m, &t, argv ? &a.policy : NULL);
        if (r < 0)
                return r;
        log_info("%s: %s in force for %s.", unit,
                 !argv ? "its keys were removed, everything allowed until it stops," : "its current policy", cgroup);
        return 0;
}

/* Does the helper line differ from what the runtime record of the unit's cgroup says is in force
 * (or is there a helper line for a cgroup with no record)? */
static bool helper_differs(const UnitHelper *h) {
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        _cleanup_(target_done) Target t = {};
        _cleanup_(args_done) Args a = {};
        _cleanup_strv_free_ char **canon = NULL;
        size_t n_rec, n_canon;
        uint64_t id;
        int r, level;

        if (!h->cgroup || cg_fs_path(h->cgroup, &t.fs_path) < 0 || cg_fs_get_id(t.fs_path, &id) < 0)
                return false;
        r = runtime_read(id, &e);
        if (r < 0)
                return h->argv != NULL;         /* newly policed */
        if (!h->argv)
                return strv_length(e.args) > 0;  /* keys removed */

        policy_init(&a.policy);
        level = log_get_max_level();
        log_set_max_level(LOG_CRIT);            /* a bad line is a difference; reload says what is bad */
        r = parse_apply((int) strv_length(h->argv), h->argv, &a);
        log_set_max_level(level);
        if (r < 0 || a.policy.error || policy_to_args(&a.policy, &canon) < 0)
                return true;
        n_rec = strv_length(e.args);
        n_canon = strv_length(canon);
        if (n_rec != n_canon)
                return true;
        for (size_t i = 0; i < n_rec; i++)
                if (!streq(e.args[i], canon[i]))
                        return true;
        return false;
}

/* What reload puts in force, asked from systemd before the maps are locked: the D-Bus calls of
 * many units must not hold up the "apply" of a unit that starts meanwhile. */
typedef struct Pending {
        char **units;
        UnitHelper *helpers;
        size_t n;
} Pending;

static void pending_done(Pending *p) {
        for (size_t i = 0; i < p->n; i++)
                unit_helper_done(&p->helpers[i]);
        p->helpers = mfree(p->helpers);
        p->units = strv_free(p->units);
        p->n = 0;
}

static int pending_add(Pending *p, const char *unit, UnitHelper *h) {
        UnitHelper *l = reallocarray(p->helpers, p->n + 1, sizeof(UnitHelper));
        size_t n = p->n;

        if (!l)
                return log_oom();
        p->helpers = l;
        if (strv_extend(&p->units, &n, unit) < 0)
                return log_oom();
        l[p->n++] = *h;
        *h = (UnitHelper) {};
        return 0;
}

/* One unit named on the command line: a running service or slice. Returns 0 (added to p, or
 * nothing to do) or a negative errno (logged). */
static int reload_prepare(sd_bus *bus, const char *unit, Pending *p) {
        _cleanup_(unit_helper_done) UnitHelper h = {};
        int r;

        r = bus_unit_helper(bus, unit, true, &h);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "%s: only services and slices have policies.", unit);
        if (r < 0)
                return r;
        if (!h.loaded)
                return log_error_errno(ENOENT, "%s is not loaded.", unit);
        if (!h.running || !h.cgroup) {
                log_info("%s is not running: its next start puts its keys in force.", unit);
                return 0;
        }
        if (h.need_daemon_reload)
                log_warning("%s: its unit files changed since systemd loaded them; putting in force what systemd has "
                            "loaded ('systemctl daemon-reload' loads the files).", unit);
        return pending_add(p, unit, &h);
}

static int add_unit_of_record(uint64_t id, void *userdata) {
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        char ***l = userdata;
        size_t n = strv_length(*l);

        if (runtime_read(id, &e) < 0 || !e.unit)
                return 0;
        STRV_FOREACH(u, *l)
                if (streq(*u, e.unit))
                        return 0;
        return strv_extend(l, &n, e.unit);
}

/* Every running unit whose policy in force differs from its helper line: the policed ones (the
 * runtime records), and the running services and slices that got keys while they ran. */
static int reload_collect_changed(sd_bus *bus, Pending *p) {
        _cleanup_strv_free_ char **units = NULL, **running = NULL;
        size_t n;
        int r;

        r = runtime_foreach(add_unit_of_record, &units);
        if (r < 0)
                return r;
        r = bus_list_running(bus, &running);
        if (r < 0)
                return r;
        n = strv_length(units);
        STRV_FOREACH(u, running) {
                bool seen = false;

                STRV_FOREACH(v, units)
                        if (streq(*u, *v))
                                seen = true;
                if (!seen && strv_extend(&units, &n, *u) < 0)
                        return log_oom();
        }

        STRV_FOREACH(u, units) {
                _cleanup_(unit_helper_done) UnitHelper h = {};

                if (bus_unit_helper(bus, *u, false, &h) < 0 || !h.loaded || !h.running || !h.cgroup)
                        continue;
                if (!helper_differs(&h))
                        continue;
                r = pending_add(p, *u, &h);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Put what p holds in force, under the lock; every unit is tried. */
static int reload_pending(const Pending *p) {
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        int r, ret = 0;

        if (p->n == 0)
                return 0;
        r = maps_open(&m, true);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n; i++) {
                r = reload_apply(&m, p->units[i], p->helpers[i].cgroup, p->helpers[i].argv);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        maps_reclaim_in_background(&m);
        return ret;
}

static int reload_changed(sd_bus *bus) {
        _cleanup_(pending_done) Pending p = {};
        int r;

        r = reload_collect_changed(bus, &p);
        if (r < 0)
                return r;
        log_debug("%zu unit%s to reload.", p.n, p.n == 1 ? "" : "s");
        return reload_pending(&p);
}

static int on_reloading(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int active = 1;

        /* Reloading(true) at the start, Reloading(false) when the new configuration is loaded. */
        if (sd_bus_message_read(msg, "b", &active) < 0 || active)
                return 0;
        (void) reload_changed(userdata);
        return 0;
}

/* reload --follow: after every daemon-reload, reload the units whose helper line changed. */
static int reload_follow(sd_bus *bus) {
        sd_bus_slot *slot = NULL;
        int r;

        /* The children that remove previous policies (maps_reclaim_in_background()) are reaped
         * by the kernel: this process never waits for them. */
        (void) signal(SIGCHLD, SIG_IGN);

        r = bus_watch_reloads(bus, on_reloading, bus, &slot);
        if (r < 0)
                return r;
        /* What changed before we listened. */
        (void) reload_changed(bus);
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "Cannot read from the system bus: %m");
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return log_error_errno(r, "Cannot wait on the system bus: %m");
        }
}

static int verb_reload(void *userdata) {
        const Args *args = userdata;
        _cleanup_(pending_done) Pending p = {};
        sd_bus *bus = NULL;
        int r, ret = 0;

        r = require_policy_privileges("reload");
        if (r < 0)
                return r;

        if (args->cgroup) {
                _cleanup_(maps_close) Maps m = MAPS_NULL;

                r = maps_open(&m, true);
                if (r < 0)
                        return r;
                r = reload_apply(&m, args->units[0], args->cgroup, args->helper);
                maps_reclaim_in_background(&m);
                return r;
        }

        r = bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the system bus (systemd): %m");
        if (args->follow) {
                r = reload_follow(bus);
                sd_bus_flush_close_unref(bus);
                return r;
        }

        if (args->n_units == 0)
                ret = reload_collect_changed(bus, &p);
        else
                for (size_t i = 0; i < args->n_units; i++) {
                        r = reload_prepare(bus, args->units[i], &p);
                        if (r < 0 && ret == 0)
                                ret = r;        /* the others are reloaded all the same */
                }
        sd_bus_flush_close_unref(bus);
        r = reload_pending(&p);
        return ret < 0 ? ret : r;
}

/* The cgroup of the unit to block or unblock: --cgroup=, else systemd's ControlGroup=. */
static int unit_cgroup(const Args *args, char **ret) {
        if (args->cgroup) {
                *ret = strdup(args->cgroup);
                return *ret ? 0 : log_oom();
        }
        return bus_unit_running_cgroup(args->units[0], ret);
}

/* block: the marker first (an apply of the unit from now on puts the block in force), then the
 * deny-all policy for its running cgroup. unblock: the marker removed, then the policy of the
 * runtime record (what apply or reload last put in force) back in force. */
static int verb_block(void *userdata) {
        const Args *args = userdata;
        const char *unit = args->units[0];
        bool block = streq(args->verb->name, "block");
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        _cleanup_(target_done) Target t = {};
        _cleanup_free_ char *cgroup = NULL;
        int r;

        r = require_policy_privileges(args->verb->name);
        if (r < 0)
                return r;
        r = unit_cgroup(args, &cgroup);
        if (r < 0)
                return r;
        r = maps_open(&m, true);
        if (r < 0)
                return r;
        r = target_resolve_cgroup(unit, cgroup, &t);
        if (r < 0)
                return r;

        r = runtime_set_blocked(unit, block);
        if (r < 0)
                return log_error_errno(r, "Cannot %s %s in %s: %m", args->verb->name, unit, runtime_dir());

        r = policy_switch_recorded(&m, &t);
        if (r < 0)
                return r;
        maps_reclaim_in_background(&m);
        if (block)
                log_info("%s blocked: every new bind, connect and sendmsg is refused until 'cgpolicy unblock %s'.",
                         unit, unit);
        else
                log_info("%s unblocked: its policy is in force again.", unit);
        return 0;
}

/* ---- learn ---- */

static int parse_learn(int argc, char **argv, void *userdata) {
        Args *args = userdata;

        return learn_parse_argv(argc, argv, &args->learn);
}

static int verb_learn(void *userdata) {
        const Args *args = userdata;

        return learn_run(&args->learn);
}

static const Verb verbs[] = {
        { "load",    1, 1,        "takes no arguments",      NULL,          verb_load },
        { "apply",   1, VERB_ANY, NULL,                      parse_apply,   verb_apply },
        { "release", 1, VERB_ANY, NULL,                      parse_release, verb_release },
        { "gc",      1, 1,        "takes no arguments",      NULL,          verb_gc },
        { "unload",  1, 1,        "takes no arguments",      NULL,          verb_unload },
        { "status",  1, VERB_ANY, NULL,                      parse_status,  verb_status },
        { "denials", 1, VERB_ANY, NULL,                      parse_denials, verb_denials },
        { "check",   2, VERB_ANY, "needs at least one file", parse_check,   verb_check },
        { "monitor", 1, 1,        "takes no arguments",      NULL,          verb_monitor },
        { "reload",  1, VERB_ANY, NULL,                      parse_unit_verb, verb_reload },
        { "block",   2, VERB_ANY, "takes one unit",          parse_unit_verb, verb_block },
        { "unblock", 2, VERB_ANY, "takes one unit",          parse_unit_verb, verb_block },
        { "learn",   2, VERB_ANY, "takes one unit",          parse_learn,   verb_learn },
};

/* Options come before the verb and are matched whole, as cgpolicy(8) lists them. Returns 1 to
 * run args->verb, 0 when there is nothing to do (--help, --version), -EINVAL (logged) for a bad
 * command line, another negative errno (logged) for a failure (a bad rule of apply). */
static int parse_argv(int argc, char **argv, Args *args) {
        int i, r;

        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                if (streq(argv[i], "-h") || streq(argv[i], "--help"))
                        return help();
                if (streq(argv[i], "--version")) {
                        printf("cgpolicy %s\n", CGPOLICY_VERSION);
                        return 0;
                }
                return log_error_errno(EINVAL, "Unknown option '%s'. See '%s --help'.",
                                       argv[i], program_invocation_short_name);
        }
        if (i >= argc)
                return log_error_errno(EINVAL, "No command given. See '%s --help'.", program_invocation_short_name);

        r = verbs_parse(argc - i, argv + i, verbs, ELEMENTSOF(verbs), args, &args->verb);
        if (r < 0)
                return r;
        return 1;
}

int main(int argc, char **argv) {
        _cleanup_(args_done) Args args = { .format = STATUS_FORMAT_TEXT };
        int r;

        log_set_program_name(program_invocation_short_name);
        log_parse_environment();

        policy_init(&args.policy);
        r = parse_argv(argc, argv, &args);
        if (r <= 0)
                return r == 0 ? EXIT_SUCCESS : r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;

        r = args.verb->run(&args);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
