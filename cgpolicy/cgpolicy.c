/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* cgpolicy: loads the programs (load), puts a unit's policy in force from its ExecStartPre=+
 * (apply) and removes it (release, gc), and shows what happens (status, denials); check
 * validates unit files. See cgpolicy(8) and HACKING.md.
 *
 * Exit status: 0 success; 1 failure (also: "apply --error=", a bad rule, "check" found an
 * error, the programs could not be attached); 2 bad command line. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf-maps.h"
#include "denials.h"
#include "cgroup-util.h"
#include "check.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "policy-args.h"
#include "policy-compile.h"
#include "policy.h"
#include "runtime.h"
#include "status.h"
#include "status-output.h"

#define EXIT_USAGE 2

/* What a verb returns for a bad command line, for main() to exit with EXIT_USAGE. Out of the
 * errno range on purpose: an EINVAL from the kernel (bpf_prog_attach(), say) or from
 * check_unit_files() ("a file has an error") is a failure, exit status 1. */
#define ERR_USAGE (-4096)

static void policy_donep(Policy *p) {
        policy_done(p);
}

static void compiled_policy_donep(CompiledPolicy *c) {
        compiled_policy_done(c);
}

static int help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Load, apply and inspect in-kernel network policies of systemd units.\n\n"
               "Commands:\n"
               "  load                          Load and pin the BPF programs and maps (idempotent)\n"
               "  apply [--unit=NAME|--slice=NAME] [--mode=enforce|audit]\n"
               "        [--bind-allow=RULE]... [--bind-deny=RULE]...\n"
               "        [--connect-allow=RULE]... [--connect-deny=RULE]...\n"
               "                                Put a policy in force for the own cgroup or a slice\n"
               "  apply [--unit=NAME|--slice=NAME] --error=MESSAGE\n"
               "                                Log MESSAGE as an error and fail\n"
               "  release [--unit=NAME|--slice=NAME]\n"
               "                                Remove the policy of the own cgroup or a slice\n"
               "  gc                            Remove policies of cgroups that no longer exist\n"
               "  status [UNIT] [--json|--prometheus[=FILE]]\n"
               "                                Show policed units, rules and counters\n"
               "  denials [--follow]            Show recent denied (and audited) requests\n"
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

/* ---- target cgroup of apply/release ---- */

typedef struct Target {
        char *unit;             /* for messages and status */
        char *cgroup;           /* cgroup path */
        char *fs_path;
        uint64_t id;
        bool created;           /* the slice's cgroup did not exist: systemd has not realized it */
} Target;

static void target_done(Target *t) {
        t->unit = mfree(t->unit);
        t->cgroup = mfree(t->cgroup);
        t->fs_path = mfree(t->fs_path);
}

/* The cgroup path of a slice; ERR_USAGE for a name that is not a slice's. */
static int slice_cgroup(const char *slice, char **ret) {
        int r;

        r = cg_slice_path(slice, ret);
        if (r == -EINVAL) {
                log_error("'%s' is not a slice name.", slice);
                return ERR_USAGE;
        }
        if (r < 0)
                return log_error_errno(r, "Cannot find the cgroup of slice %s: %m", slice);
        return 0;
}

static int target_resolve(const char *unit, const char *slice, bool create, Target *ret) {
        _cleanup_(target_done) Target t = {};
        int r;

        if (slice) {
                r = slice_cgroup(slice, &t.cgroup);
                if (r < 0)
                        return r;
                if (create) {
                        /* systemd reuses an existing directory when it realizes the slice, so
                         * the id the policy is keyed by stays valid. */
                        r = cg_create(t.cgroup);
                        if (r < 0)
                                return log_error_errno(r, "Cannot create cgroup %s of %s: %m", t.cgroup, slice);
                        t.created = r > 0;
                }
        } else {
                r = cg_self_target(&t.cgroup);
                if (r < 0)
                        return log_error_errno(r, "Cannot find the own cgroup (is cgroup v2 mounted?): %m");
        }

        r = cg_fs_path(t.cgroup, &t.fs_path);
        if (r < 0)
                return log_error_errno(r, "Cannot find cgroup %s in the cgroup2 mount: %m", t.cgroup);
        r = cg_fs_get_id(t.fs_path, &t.id);
        if (r < 0)
                return log_error_errno(r, "Cannot get the id of cgroup %s: %m", t.fs_path);

        if (unit)
                t.unit = strdup(unit);
        else if (slice)
                t.unit = strdup(slice);
        else {
                const char *b = strrchr(t.cgroup, '/');
                t.unit = strdup(b && b[1] ? b + 1 : t.cgroup);
        }
        if (!t.unit)
                return log_oom();

        *ret = t;
        t = (Target) {};
        return 0;
}

/* ---- verbs ---- */

static int verb_load(int argc, char **argv) {
        if (argc > 1) {
                log_error("'load' takes no arguments.");
                return ERR_USAGE;
        }
        return bpf_load_and_pin();
}

static int verb_apply(int argc, char **argv) {
        _cleanup_(policy_donep) Policy p;
        _cleanup_(target_done) Target t = {};
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        _cleanup_(compiled_policy_donep) CompiledPolicy c = {};
        const char *unit = NULL, *slice = NULL;
        struct cgp_cgroup old = {};
        uint32_t policy;
        unsigned dirs = 0;
        int r, had;

        policy_init(&p);
        for (int i = 1; i < argc; i++) {
                _cleanup_free_ char *reason = NULL;
                const char *v;

                if ((v = startswith(argv[i], "--unit=")))
                        unit = v;
                else if ((v = startswith(argv[i], "--slice=")))
                        slice = v;
                else {
                        r = policy_arg_parse(&p, argv[i], &reason);
                        if (r == 0) {
                                log_error("Unknown argument '%s' of 'apply'.", argv[i]);
                                return ERR_USAGE;
                        }
                        if (r == -ENOMEM)
                                return log_oom();
                        if (r < 0) {
                                /* A bad rule must stop the unit, with the reason in its journal. */
                                log_error("%s%s%s", unit ? unit : "", unit ? ": " : "", reason ? reason : argv[i]);
                                return -EBADMSG;
                        }
                }
        }

        if (p.error) {
                log_error("%s", p.error);
                return -EBADMSG;
        }

        r = target_resolve(unit, slice, true, &t);
        if (r < 0)
                return r;

        r = maps_open(&m, true);
        if (r < 0)
                return r;

        had = maps_get_cgroup(&m, t.id, &old);
        if (had < 0)
                return log_error_errno(had, "Cannot read the policy map: %m");

        r = maps_alloc_policy(&m, had > 0 ? old.policy : 0, &policy);
        if (r < 0)
                return log_error_errno(r, "Cannot allocate a policy id (at most %u policed cgroups): %m",
                                       CGP_MAX_POLICIES - 1);

        r = policy_compile(&p, policy, &c);
        if (r == -E2BIG)
                return log_error_errno(r, "%s: the policy is too large for the maps.", t.unit);
        if (r < 0)
                return log_error_errno(r, "Cannot compile the policy: %m");

        /* New entries first, then switch the cgroup over in one map update, then drop the old
         * entries: the programs never see a half-written policy. */
        r = maps_write_policy(&m, &c);
        if (r < 0) {
                (void) maps_delete_policy(&m, policy);
                return log_error_errno(r, "Cannot write the policy of %s into the maps: %m", t.unit);
        }
        r = maps_set_cgroup(&m, t.id, policy, c.flags);
        if (r < 0) {
                (void) maps_delete_policy(&m, policy);
                return log_error_errno(r, "Cannot write the policy of %s into the maps: %m", t.unit);
        }
        if (had > 0) {
                r = maps_delete_policy(&m, old.policy);
                if (r < 0)
                        log_warning_errno(r, "Cannot remove the previous policy of %s (cgpolicy gc will): %m", t.unit);
        }

        r = runtime_write(t.id, t.unit, t.cgroup, policy, &p);
        if (r < 0)
                log_warning_errno(r, "Cannot record the policy of %s in %s (status will not show it): %m",
                                  t.unit, runtime_dir());

        /* The unit must not start unpoliced: our programs must be effective on its cgroup.
         * Except for a slice whose cgroup we just created: systemd has not realized it yet and
         * attaches the BPFProgram= lines of the slice's drop-in when it does, before any unit in
         * it starts (they are ordered after the slice, the slice after us), provided the
         * programs are pinned, which is checked here. Attaching them here as well would make
         * systemd's attach fail ("Invalid argument": the kernel refuses the same program twice
         * on one cgroup) at every start of a unit in the slice. */
        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                if (policy_has_direction(&p, d))
                        dirs |= 1u << (d == POLICY_BIND ? CGP_DIR_BIND : CGP_DIR_CONNECT);
        if (t.created) {
                r = check_pinned(dirs);
                if (r < 0)
                        return log_error_errno(r, "%s: the cgpolicy programs are not pinned; refusing to start "
                                               "the slice unpoliced.", t.unit);
                log_debug("%s: created cgroup %s; systemd attaches the programs when it realizes the slice.",
                          t.unit, t.cgroup);
                return 0;
        }
        r = ensure_attached(&m, t.fs_path, dirs);
        if (r < 0)
                return log_error_errno(r, "%s: the cgpolicy programs are not attached to %s and cannot be attached; "
                                       "refusing to start the unit unpoliced.", t.unit, t.cgroup);

        log_debug("%s: policy %" PRIu32 " in force for cgroup %s (id %" PRIu64 ", %zu+%zu+%zu map entries).",
                  t.unit, policy, t.cgroup, t.id, c.n_ports, c.n_addrs, c.n_portsets);
        return 0;
}

static int release_one(Maps *m, uint64_t id, const char *what) {
        struct cgp_cgroup v;
        int r;

        r = maps_get_cgroup(m, id, &v);
        if (r < 0)
                return log_error_errno(r, "Cannot read the policy map: %m");
        if (r > 0) {
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

static int runtime_remove_if_unpoliced(uint64_t id, void *userdata) {
        struct cgp_cgroup v;

        if (maps_get_cgroup(userdata, id, &v) == 0)
                runtime_remove(id);
        return 0;
}

static int verb_release(int argc, char **argv) {
        _cleanup_(target_done) Target t = {};
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        const char *unit = NULL, *slice = NULL;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *v;

                if ((v = startswith(argv[i], "--unit=")))
                        unit = v;
                else if ((v = startswith(argv[i], "--slice=")))
                        slice = v;
                else {
                        log_error("Unknown argument '%s' of 'release'.", argv[i]);
                        return ERR_USAGE;
                }
        }

        r = maps_open(&m, true);
        if (r < 0)
                return r;

        if (slice) {
                r = slice_cgroup(slice, &t.cgroup);
                if (r < 0)
                        return r;
                r = cg_fs_path(t.cgroup, &t.fs_path);
                if (r < 0)
                        return log_error_errno(r, "Cannot find cgroup %s in the cgroup2 mount: %m", t.cgroup);
                if (access(t.fs_path, F_OK) < 0 && errno == ENOENT)
                        /* systemd stops a slice before the cgpolicy-apply@ unit ordered before it,
                         * and removes its cgroup first: find the entries by the slice's name. */
                        return release_by_name(&m, slice);
                target_done(&t);
        }

        r = target_resolve(unit, slice, false, &t);
        if (r < 0)
                return r;

        return release_one(&m, t.id, t.unit);
}

static int verb_gc(int argc, char **argv) {
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        GcState s = { .m = &m };
        unsigned orphans = 0;
        int r;

        if (argc > 1) {
                log_error("'gc' takes no arguments.");
                return ERR_USAGE;
        }

        r = maps_open(&m, true);
        if (r < 0)
                return r;

        r = maps_foreach_cgroup(&m, gc_one, &s);
        if (r < 0)
                return r;

        r = maps_delete_orphans(&m, &orphans);
        if (r < 0)
                return log_error_errno(r, "Cannot remove orphaned map entries: %m");

        /* Runtime records whose cgroup has no policy (any more). */
        r = runtime_foreach(runtime_remove_if_unpoliced, &m);
        if (r < 0)
                return r;

        log_info("Removed %u stale policies and %u orphaned map entries.", s.removed, orphans);
        return 0;
}

static int verb_status(int argc, char **argv) {
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        _cleanup_(status_done) Status s = {};
        StatusFormat format = STATUS_FORMAT_TEXT;
        const char *filter = NULL, *output = NULL;
        int r;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--json") || streq(argv[i], "--prometheus") ||
                    startswith(argv[i], "--prometheus=")) {
                        if (format != STATUS_FORMAT_TEXT) {
                                log_error("'status' takes only one of --json and --prometheus.");
                                return ERR_USAGE;
                        }
                        format = streq(argv[i], "--json") ? STATUS_FORMAT_JSON : STATUS_FORMAT_PROMETHEUS;
                        if (startswith(argv[i], "--prometheus=")) {
                                output = argv[i] + strlen("--prometheus=");
                                if (!*output) {
                                        log_error("--prometheus= needs a file name.");
                                        return ERR_USAGE;
                                }
                        }
                } else if (argv[i][0] == '-') {
                        log_error("Unknown option '%s' of 'status'.", argv[i]);
                        return ERR_USAGE;
                } else if (!filter)
                        filter = argv[i];
                else {
                        log_error("'status' takes at most one unit.");
                        return ERR_USAGE;
                }
        }

        r = maps_open(&m, false);
        if (r < 0)
                return r;
        r = status_collect(&m, filter, &s);
        if (r < 0)
                return r;

        if (output) {
                r = status_write_file(output, &s, format);
                if (r < 0)
                        return r;
        } else {
                r = status_print(stdout, &s, format);
                if (r < 0)
                        return r;
                if (fflush(stdout) != 0 || ferror(stdout))
                        return log_error_errno(EIO, "Cannot write the output: %m");
        }
        if (filter && s.n == 0)
                return -ENOENT;
        return 0;
}

static int verb_denials(int argc, char **argv) {
        _cleanup_(maps_close) Maps m = MAPS_NULL;
        bool follow = false;
        uint64_t last = 0;
        int r;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--follow") || streq(argv[i], "-f"))
                        follow = true;
                else {
                        log_error("Unknown argument '%s' of 'denials'.", argv[i]);
                        return ERR_USAGE;
                }
        }

        r = maps_open(&m, false);
        if (r < 0)
                return r;

        r = denials_print_new(&m, &last);
        if (r < 0)
                return log_error_errno(r, "Cannot read the denial log: %m");
        if (r == 0 && !follow)
                printf("No denials recorded.\n");

        while (follow) {
                (void) poll(NULL, 0, 250);
                r = denials_print_new(&m, &last);
                if (r < 0)
                        return log_error_errno(r, "Cannot read the denial log: %m");
        }
        return 0;
}

static int verb_check(int argc, char **argv) {
        if (argc < 2) {
                log_error("'check' needs at least one file.");
                return ERR_USAGE;
        }
        /* Diagnostics about files read like a compiler's: "FILE:LINE: KEY: what is wrong",
         * without our name in front, so that editors and CI annotators pick them up. */
        log_set_program_name(NULL);
        return check_unit_files(argv + 1, (size_t) argc - 1);
}

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} verbs[] = {
        { "load",    verb_load },
        { "apply",   verb_apply },
        { "release", verb_release },
        { "gc",      verb_gc },
        { "status",  verb_status },
        { "denials", verb_denials },
        { "check",   verb_check },
};

int main(int argc, char **argv) {
        const char *e;
        int i = 1, r;

        log_set_program_name(program_invocation_short_name);
        e = getenv("SYSTEMD_LOG_LEVEL");
        if (e) {
                static const char *const levels[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
                for (int l = 0; l < (int) ELEMENTSOF(levels); l++)
                        if (streq(e, levels[l]) || (e[0] >= '0' && e[0] <= '7' && e[1] == 0 && e[0] - '0' == l))
                                log_set_max_level(l);
        }

        for (; i < argc && argv[i][0] == '-'; i++) {
                if (streq(argv[i], "-h") || streq(argv[i], "--help"))
                        return help();
                if (streq(argv[i], "--version")) {
                        printf("cgpolicy %s\n", CGPOLICY_VERSION);
                        return 0;
                }
                log_error("Unknown option '%s'. See '%s --help'.", argv[i], program_invocation_short_name);
                return EXIT_USAGE;
        }
        if (i >= argc) {
                log_error("No command given. See '%s --help'.", program_invocation_short_name);
                return EXIT_USAGE;
        }

        for (size_t v = 0; v < ELEMENTSOF(verbs); v++) {
                if (!streq(argv[i], verbs[v].name))
                        continue;
                r = verbs[v].run(argc - i, argv + i);
                if (r == ERR_USAGE)
                        return EXIT_USAGE;
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        log_error("Unknown command '%s'. See '%s --help'.", argv[i], program_invocation_short_name);
        return EXIT_USAGE;
}
