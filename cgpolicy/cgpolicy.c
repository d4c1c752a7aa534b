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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf-maps.h"
#include "cgroup-util.h"
#include "check.h"
#include "config.h"
#include "denials.h"
#include "exec-escape.h"
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
#include "target.h"
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
} Args;

static void args_done(Args *args) {
        policy_done(&args->policy);
}

static int help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Load, apply and inspect in-kernel network policies of systemd units.\n\n"
               "Commands:\n"
               "  load                          Load and pin the BPF programs and maps (idempotent)\n"
               "  apply [--unit=NAME|--slice=NAME] [--mode=enforce|audit]\n"
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
               "  check FILE...                 Validate X-CgPolicy keys of unit files\n\n"
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

/* The directions (CGP_DIRS()) a policy has rules for. */
static unsigned policy_dirs(const Policy *p) {
        unsigned dirs = 0;

        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                if (policy_has_direction(p, d))
                        dirs |= CGP_DIRS(d == POLICY_BIND ? CGP_DIR_BIND : CGP_DIR_CONNECT);
        return dirs;
}

/* A direction whose rules a new policy for a cgroup drops while the old one had them (or was
 * open already) is open: its programs stay attached to the cgroup until the unit stops, and with
 * no rules for it they allow what they judge, rather than deny it as for a cgroup where nothing
 * was ever applied (fail closed). */
static uint32_t open_flags(const struct cgp_cgroup *old, uint32_t new_flags) {
        uint32_t f = 0;

        for (int d = 0; d < CGP_DIR_MAX; d++)
                if (!(new_flags & CGP_F_HAS_DIR(d)) && (old->flags & (CGP_F_HAS_DIR(d) | CGP_F_OPEN(d))))
                        f |= CGP_F_OPEN(d);
        return f;
}

static int verb_apply(void *userdata) {
        const Args *args = userdata;
        const Policy *p = &args->policy;
        _cleanup_(target_done) Target t = {};
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        _cleanup_(compiled_policy_done) CompiledPolicy c = {};
        struct cgp_cgroup old = {}, v;
        uint32_t tag, slot;
        unsigned dirs;
        int r, had;

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

        had = maps_get_cgroup(&m, t.id, &old);
        if (had < 0)
                return log_error_errno(had, "Cannot read the policy map: %m");

        /* A new tag, whose entries nobody can have left behind, and the cgroup's slot (its
         * counters go on) or a free one. */
        r = maps_new_tag(&m, &tag);
        if (r < 0)
                return log_error_errno(r, "Cannot take a new policy tag: %m");
        if (had > 0)
                slot = old.slot;
        else {
                r = maps_alloc_slot(&m, &slot);
                if (r < 0)
                        return log_error_errno(r, "Cannot allocate a slot for the policy (at most %u policed cgroups): %m",
                                               CGP_MAX_SLOTS - 1);
        }

        r = policy_compile(p, tag, &c);
        if (r == -E2BIG)
                return log_error_errno(r, "%s: the policy is too large for the maps.", t.unit);
        if (r < 0)
                return log_error_errno(r, "Cannot compile the policy: %m");

        /* New entries first, then switch the cgroup over in one map update, then drop the old
         * entries: the programs never see a half-written policy. */
        v = (struct cgp_cgroup) {
                .policy = tag,
                .slot = slot,
                .flags = c.flags | (had > 0 ? open_flags(&old, c.flags) : 0),
                .sockets = c.sockets,
        };
        r = maps_write_policy(&m, &c);
        if (r >= 0)
                r = maps_fast_remove(&m, t.id);
        if (r >= 0)
                r = maps_set_cgroup(&m, t.id, &v);
        if (r < 0) {
                (void) maps_delete_policy(&m, tag);
                return log_error_errno(r, "Cannot write the policy of %s into the maps: %m", t.unit);
        }
        r = maps_fast_add(&m, t.id, slot, &c);
        if (r < 0)
                log_warning_errno(r, "Cannot add the allows of %s to the fast set (they take the slow way): %m", t.unit);
        if (had > 0) {
                r = maps_delete_policy(&m, old.policy);
                if (r < 0)
                        log_warning_errno(r, "Cannot remove the previous policy of %s (cgpolicy gc will): %m", t.unit);
        }

        r = runtime_write(t.id, t.unit, t.cgroup, tag, p);
        if (r < 0)
                log_warning_errno(r, "Cannot record the policy of %s in %s (status will not show it): %m",
                                  t.unit, runtime_dir());

        /* The unit must not start unpoliced: our programs must be effective on its cgroup. They
         * are attached here, not by systemd's BPFProgram= (systemd.cgpolicy(5), ATTACHMENT), and
         * stay attached until the cgroup is removed. A slice's cgroup we just created is realized
         * by systemd as it is. */
        dirs = policy_dirs(p) | (p->seal == 1 && p->mode == POLICY_MODE_ENFORCE ? CGP_DIRS_SEALED : 0);
        r = ensure_attached(&m, t.fs_path, dirs);
        if (r < 0)
                return log_error_errno(r, "%s: the cgpolicy programs are not attached to %s and cannot be attached; "
                                       "refusing to start the unit unpoliced.", t.unit, t.cgroup);

        log_debug("%s: policy %" PRIu32 " (slot %" PRIu32 ") in force for cgroup %s (id %" PRIu64 ", %zu+%zu+%zu map entries).",
                  t.unit, tag, slot, t.cgroup, t.id, c.n_ports, c.n_addrs, c.n_portsets);
        return 0;
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
