/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cgpolicy-generator NORMAL EARLY LATE
 *
 * Turns the X-CgPolicy… keys of service and slice units into drop-ins in NORMAL, in the format
 * HACKING.md ("The generated drop-in") specifies. Writes nothing anywhere else: only valid unit
 * names become paths. A unit one of whose files cannot be read (not a regular file, larger than
 * READ_FULL_FILE_MAX, an I/O error) fails closed, as for a bad key: skipped, it would start
 * unpoliced. A unit that cannot be handled otherwise (out of memory) is logged and skipped; the
 * exit status is non-zero only when nothing could be written at all. In a user manager it does
 * nothing.
 *
 * Design choices (see also systemd.cgpolicy(5)):
 * - The unit's own ExecStartPre= lines are re-listed after the helper. Only those of the unit
 *   file and of drop-ins whose name sorts before zz-cgpolicy.conf are re-listed: systemd
 *   appends the ones of later drop-ins itself, after ours. A later drop-in that resets
 *   ExecStartPre= would remove the helper too: then the helper is written as ExecCondition=
 *   instead, which that drop-in leaves alone, and a warning is logged. A unit whose helper fails
 *   there is skipped (not started), not failed.
 * - An instance (foo@bar.service) gets a drop-in of its own when it has a drop-in directory of
 *   its own; it hides the template's (same file name, more specific directory).
 * - No BPFProgram= lines: "cgpolicy apply" attaches the programs itself, each once per cgroup
 *   (none where an ancestor's are in force already). What systemd attaches from BPFProgram= it
 *   also detaches on its own: 252 drops them at a restart (systemd#26845) and attaches them to a
 *   running unit at a daemon-reload that added them, with no policy written yet (every request
 *   refused); 257 detaches them from running units at every daemon-reload. See
 *   systemd.cgpolicy(5), ATTACHMENT.
 * - A sealed service (policy_is_sealed()) gets policy_seal_settings[].
 *   A drop-in sorting after ours that may undo them is warned about.
 * - cgpolicy's own units (unit_name_is_own(): every unit in units/) are never policed, even by
 *   a type-wide service.d/ drop-in: the loader would require itself.
 * - Network keys on -.slice are refused with an error and ignored (resource keys are kept):
 *   every unit, cgpolicy-apply@.service included, runs below it.
 * - Slices are known to the generator when they have a unit file or a drop-in directory of
 *   their own, or when a service with keys runs in them (Slice=, system.slice, or
 *   system-PREFIX.slice for template instances); type-wide slice.d/ and prefix drop-ins are
 *   applied to those.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgpolicy-hooks.h"
#include "check.h"
#include "config.h"
#include "exec-escape.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "own-units.h"
#include "policy-args.h"
#include "policy.h"
#include "unit-path.h"

#define DROPIN_NAME "zz-cgpolicy.conf"

/* Masks of directions are the same for both: 1 << POLICY_* = CGP_DIRS(CGP_DIR_*). */
_Static_assert(POLICY_BIND == CGP_DIR_BIND && POLICY_CONNECT == CGP_DIR_CONNECT &&
               _POLICY_DIRECTION_MAX <= CGP_DIR_MAX, "policy.h's directions are cgpolicy-abi.h's");

typedef struct SliceState {
        char *name;
        bool loaded, written;
} SliceState;

typedef struct Context {
        const char *dest;
        UnitTree *tree;
        FileCache *files;        /* every unit file and drop-in, read once */
        SliceState *slices;
        size_t n_slices;
        unsigned n_written, n_failed;
} Context;

/* One unit, read. */
typedef struct Loaded {
        bool found, masked, has_keys;
        UnitPolicy up;
        char **exec_start_pre;          /* re-listed lines (before zz-cgpolicy.conf) */
        const char **sources;           /* files with content, in applied order */
        size_t n_sources;
        bool late_exec_reset;
        bool late_unseal;               /* a drop-in after ours may undo the seal */
} Loaded;

static void loaded_done(Loaded *l) {
        unit_policy_done(&l->up);
        strv_free(l->exec_start_pre);
        free(l->sources);
        *l = (Loaded) {};
}

static const char *base_name(const char *path) {
        const char *b = strrchr(path, '/');
        return b ? b + 1 : path;
}

static int load_unit(Context *c, const char *name, Loaded *ret) {
        _cleanup_free_ const char **dropins = NULL, **files = NULL;
        const char *fragment;
        size_t n_dropins, n_files = 0;
        bool is_slice = endswith(name, ".slice");
        int r;

        *ret = (Loaded) {};
        unit_policy_init(&ret->up, is_slice ? UNIT_KIND_SLICE : UNIT_KIND_SERVICE);

        r = unit_tree_fragment(c->tree, name, &fragment, &ret->masked);
        if (r < 0)
                return r;
        if (ret->masked)
                return 0;
        if (!fragment && !is_slice)
                return 0;       /* a service without unit file does not exist */

        r = unit_tree_dropins(c->tree, name, &dropins, &n_dropins);
        if (r < 0)
                return r;

        /* The unit file, then every drop-in, however many there are. */
        files = calloc(n_dropins + 1, sizeof(char *));
        if (!files)
                return -ENOMEM;
        if (fragment)
                files[n_files++] = fragment;
        for (size_t i = 0; i < n_dropins; i++)
                files[n_files++] = dropins[i];

        ret->found = true;
        ret->sources = calloc(n_files + 1, sizeof(char *));
        if (!ret->sources)
                return -ENOMEM;

        for (size_t i = 0; i < n_files; i++) {
                const char *data;
                size_t size;

                r = file_cache_get(c->files, files[i], &data, &size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && r != -ENOENT) {
                        char buf[64];

                        /* A file that systemd reads but we cannot (not a regular file, too large,
                         * an I/O error) might hold keys: the unit fails closed rather than start
                         * unpoliced. (A dangling symlink, ENOENT, is skipped silently by systemd
                         * too: it adds nothing, and a unit file that is gone is no unit.) */
                        (void) policy_set_error(&ret->up.policy, &(PolicySource) { .filename = files[i] },
                                                "%s", read_full_file_strerror(r, buf, sizeof buf));
                        ret->has_keys = true;
                        continue;
                }
                if (r == -ENOENT) {
                        if (i == 0 && fragment)
                                log_warning_errno(r, "%s: cannot read, ignoring: %m", files[i]);
                        else
                                log_debug_errno(r, "%s: cannot read, ignoring: %m", files[i]);
                }
                if (!data || size == 0) {
                        /* An empty unit file (or /dev/null) masks the unit, as in systemd. */
                        if (i == 0 && fragment) {
                                ret->masked = true;
                                ret->found = false;
                                return 0;
                        }
                        continue;
                }
                ret->sources[ret->n_sources++] = files[i];
                if (!ret->has_keys && memmem(data, size, "X-CgPolicy", 10))
                        ret->has_keys = true;
        }

        if (!ret->has_keys)
                return 0;

        bool snapshotted = false;
        for (size_t i = 0; i < ret->n_sources; i++) {
                const char *path = ret->sources[i];
                bool late = path != fragment && strcmp(base_name(path), DROPIN_NAME) >= 0;
                const char *data;
                size_t size;
                FILE *f;

                if (late && !snapshotted) {
                        /* What is re-listed ends here; systemd applies the later drop-ins itself. */
                        ret->exec_start_pre = TAKE_PTR(ret->up.exec_start_pre);
                        ret->up.n_exec_start_pre = 0;
                        ret->up.exec_start_pre_reset = false;
                        ret->up.unseal = false;
                        snapshotted = true;
                }

                r = file_cache_get(c->files, path, &data, &size);
                if (r < 0)
                        return r;       /* read fine above */
                f = fmemopen((void *) data, size, "r");
                if (!f)
                        return -errno;
                r = unit_policy_load_file(&ret->up, path, f);
                fclose(f);
                if (r < 0)
                        return r;
        }
        if (snapshotted) {
                ret->late_exec_reset = ret->up.exec_start_pre_reset;
                ret->late_unseal = ret->up.unseal;
        } else {
                ret->exec_start_pre = TAKE_PTR(ret->up.exec_start_pre);
                ret->up.n_exec_start_pre = 0;
        }

        return 0;
}

static int write_dropin(Context *c, const char *unit, const char *text, size_t size) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        /* The name becomes a path: only a valid unit name (no '/', no "..", no control
         * character) can never point outside the output directory. Every name here comes from
         * a directory listing or a validated Slice=, so this is a last line of defence. */
        if (!unit_name_is_valid_full(unit, UNIT_NAME_ANY)) {
                _cleanup_free_ char *e = NULL;

                c->n_failed++;
                if (escape_cc(unit, &e) < 0)
                        return log_oom();
                log_error("Refusing to write a drop-in for '%s', which is not a valid unit name.", e);
                return -EINVAL;
        }

        if (asprintf(&dir, "%s/%s.d", c->dest, unit) < 0 ||
            asprintf(&path, "%s/%s", dir, DROPIN_NAME) < 0)
                return log_oom();

        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                goto fail;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                goto fail;
        for (size_t done = 0; done < size;) {
                ssize_t k = write(fd, text + done, size - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        goto fail;
                }
                done += (size_t) k;
        }
        if (close(TAKE_FD(fd)) < 0)
                goto fail;
        c->n_written++;
        log_debug("%s: wrote %s.", unit, path);
        return 0;

fail:
        c->n_failed++;
        return log_error_errno(errno, "Failed to write %s: %m", path);
}

static void write_header(FILE *f, const Loaded *l) {
        fputs("# Automatically generated by cgpolicy-generator.\n", f);
        for (size_t i = 0; i < l->n_sources; i++)
                fprintf(f, "# Source: %s\n", l->sources[i]);
}

/* The helper's command line, after a reset of key: "KEY=", then
 * "KEY=[+]cgpolicy apply TARGET --rule…" (TARGET already escaped). */
/* The helper line, after a reset of key when reset: ExecStartPre= and ExecStart= are reset and
 * re-listed so that the helper runs first; an ExecCondition= helper is added to the unit's own. */
static int write_helper(FILE *f, const char *key, bool reset, bool privileged, const char *target, bool sealed,
                        const Policy *p) {
        _cleanup_strv_free_ char **args = NULL;
        int r;

        r = policy_to_args(p, &args);
        if (r < 0)
                return r;
        if (reset)
                fprintf(f, "%s=\n", key);
        fprintf(f, "%s=%s%s apply %s%s", key, privileged ? "+" : "", CGPOLICY_BINARY_PATH, target,
                sealed ? " --seal" : "");
        STRV_FOREACH(a, args) {
                _cleanup_free_ char *e = NULL;

                r = exec_escape_arg(*a, &e);
                if (r < 0)
                        return r;
                fprintf(f, " %s", e);
        }
        fputc('\n', f);
        return 0;
}

/* The seal of a service (systemd.cgpolicy(5), SEALING). */
static void write_seal(FILE *f) {
        fputs("# Sealed (systemd.cgpolicy(5), SEALING); X-CgPolicySeal=no opts out.\n", f);
        for (const char *const *s = policy_seal_settings; *s; s++)
                fprintf(f, "%s\n", *s);
}

static void write_resources(FILE *f, const Policy *p) {
        if (p->cpu_quota)
                fprintf(f, "CPUQuota=%s\n", p->cpu_quota);
        if (p->memory_max)
                fprintf(f, "MemoryMax=%s\n", p->memory_max);
}

/* The parent slice: "a-b-c.slice" → "a-b.slice" → "a.slice" → "-.slice" → none. */
static char *slice_parent(const char *slice) {
        const char *suffix = endswith(slice, ".slice"), *dash = NULL;
        char *p;

        if (!suffix || streq(slice, "-.slice"))
                return NULL;
        for (const char *s = slice; s < suffix; s++)
                if (*s == '-')
                        dash = s;
        if (!dash)
                return strdup("-.slice");
        return asprintf(&p, "%.*s.slice", (int) (dash - slice), slice) < 0 ? NULL : p;
}

/* The slice a service runs in when it names none: system.slice, or for an instance of
 * foo@.service "system-foo.slice" (the prefix escaped as systemd's unit_name_escape()). */
static char *default_slice(const char *service) {
        const char *at = strchr(service, '@');
        char *s, *o;

        if (!at)
                return strdup("system.slice");
        s = malloc(strlen("system-") + (size_t) (at - service) * 4 + strlen(".slice") + 1);
        if (!s)
                return NULL;
        o = stpcpy(s, "system-");
        for (const char *p = service; p < at; p++) {
                unsigned char ch = (unsigned char) *p;

                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == ':' || ch == '_' || (ch == '.' && p != service))
                        *o++ = (char) ch;
                else
                        o += sprintf(o, "\\x%02x", ch);
        }
        strcpy(o, ".slice");
        return s;
}

/* The slice a service runs in, as systemd picks it: its Slice= (value, NULL when unset) when
 * that names a slice, else default_slice(). *ret is NULL when it cannot be told (the generator
 * then knows nothing of that slice's keys unless it has a unit file or drop-in directory of its
 * own). Returns 0 or -ENOMEM. */
static int service_slice(const char *service, const char *value, char **ret) {
        _cleanup_free_ char *e = NULL, *def = NULL;

        *ret = NULL;
        if (value && strchr(value, '%')) {
                if (escape_cc(value, &e) < 0)
                        return -ENOMEM;
                log_info("%s: Slice=%s has specifiers, which cgpolicy-generator does not expand: a policy of "
                         "that slice is found only if the slice has a unit file or drop-ins of its own.", service, e);
                return 0;
        }

        if (value && unit_name_is_valid_full(value, UNIT_NAME_PLAIN) && endswith(value, ".slice")) {
                if (!slice_name_is_valid(value)) {
                        /* systemd takes the name, but fails to load such a slice. */
                        log_warning("%s: Slice=%s is not a valid slice name, which systemd fails to load.",
                                    service, value);
                        return 0;
                }
                *ret = strdup(value);
                return *ret ? 0 : -ENOMEM;
        }

        def = default_slice(service);
        if (!def)
                return -ENOMEM;
        if (value) {
                /* systemd ignores a Slice= that is not a slice's name: the service runs in the
                 * default slice. Never a path: "../x.slice" is no unit name. */
                if (escape_cc(value, &e) < 0)
                        return -ENOMEM;
                log_warning("%s: Slice=%s is not a slice name, ignored as systemd ignores it: the service "
                            "runs in %s.", service, e, def);
        }
        *ret = TAKE_PTR(def);
        return 0;
}

static SliceState *slice_state(Context *c, const char *name) {
        SliceState *x;

        for (size_t i = 0; i < c->n_slices; i++)
                if (streq(c->slices[i].name, name))
                        return &c->slices[i];
        x = reallocarray(c->slices, c->n_slices + 1, sizeof(SliceState));
        if (!x)
                return NULL;
        c->slices = x;
        x = &c->slices[c->n_slices];
        *x = (SliceState) { .name = strdup(name) };
        if (!x->name)
                return NULL;
        c->n_slices++;
        return x;
}

static int process_slice(Context *c, const char *name);

static int write_service(Context *c, const char *name, Loaded *l) {
        _cleanup_free_ char *text = NULL, *slice = NULL;
        const Policy *p = &l->up.policy;
        size_t size = 0;
        bool network = policy_has_network(p) || p->error;
        FILE *f;
        int r;

        if (policy_is_empty(p) || (!network && !p->cpu_quota && !p->memory_max))
                return 0;

        if (network && !p->error) {
                /* The slices the service runs in, so that their keys are written too. */
                r = service_slice(name, l->up.slice, &slice);
                if (r < 0)
                        return log_oom();
                if (slice) {
                        r = process_slice(c, slice);
                        if (r < 0)
                                return r;
                }
        }

        f = open_memstream(&text, &size);
        if (!f)
                return log_oom();

        write_header(f, l);
        /* Wants=, not Requires=: restarting the loader (an upgrade, an administrator) must not
         * restart every policed service, which Requires= would propagate. Failing closed does not
         * depend on it: when the programs are not pinned, "cgpolicy apply" cannot find them
         * attached nor attach them, and refuses the start. */
        if (network)
                fprintf(f, "\n[Unit]\nWants=%s\nAfter=%s\n", CGPOLICY_LOAD_UNIT, CGPOLICY_LOAD_UNIT);
        fputs("\n[Service]\n", f);
        write_resources(f, p);

        if (network) {
                if (policy_is_sealed(p)) {
                        write_seal(f);
                        if (l->late_unseal)
                                log_warning("%s: a drop-in sorting after %s sets CapabilityBoundingSet= without '~', "
                                            "ProtectControlGroups= or an empty InaccessiblePaths=, which can undo the "
                                            "seal (use X-CgPolicySeal=no to opt out).", name, DROPIN_NAME);
                }
                /* A later drop-in that resets ExecStartPre= would remove the helper, and the unit
                 * would start unpoliced: the helper goes into ExecCondition=, which runs before
                 * ExecStartPre=, instead. */
                r = write_helper(f, l->late_exec_reset ? "ExecCondition" : "ExecStartPre", !l->late_exec_reset,
                                 true, "--unit=%n", policy_is_sealed(p), p);
                /* With an error the helper reports it and fails the start: nothing more to list. */
                if (!p->error) {
                        if (!l->late_exec_reset)
                                STRV_FOREACH(e, l->exec_start_pre)
                                        fprintf(f, "ExecStartPre=%s\n", *e);
                        fprintf(f, "ExecStopPost=+%s release --unit=%%n\n", CGPOLICY_BINARY_PATH);
                }
                if (l->late_exec_reset)
                        log_warning("%s: a drop-in sorting after %s resets ExecStartPre=: the policy helper is "
                                    "written as ExecCondition= instead (a failure skips the unit).",
                                    name, DROPIN_NAME);
        } else
                r = 0;

        if (fclose(f) != 0 || r < 0)
                return log_oom();

        if (p->error)
                log_error("%s: the unit will refuse to start, see the error above.", name);

        return write_dropin(c, name, text, size);
}

static int write_slice(Context *c, const char *name, Loaded *l) {
        _cleanup_free_ char *text = NULL, *apply_unit = NULL;
        const Policy *p = &l->up.policy;
        size_t size = 0;
        bool network = policy_has_network(p) || p->error;
        FILE *f;
        int r = 0;

        if (!network && !p->cpu_quota && !p->memory_max)
                return 0;

        if (asprintf(&apply_unit, "cgpolicy-apply@%s.service", name) < 0)
                return log_oom();

        f = open_memstream(&text, &size);
        if (!f)
                return log_oom();
        write_header(f, l);
        if (network)
                fprintf(f, "\n[Unit]\nRequires=%s\nAfter=%s\n", apply_unit, apply_unit);
        fputs("\n[Slice]\n", f);
        write_resources(f, p);
        if (fclose(f) != 0)
                return log_oom();

        r = write_dropin(c, name, text, size);
        if (r < 0 || !network)
                return r;

        /* The oneshot that puts the slice's policy into force. */
        _cleanup_free_ char *text2 = NULL, *slice_arg = NULL, *esc = NULL;
        size = 0;
        if (asprintf(&slice_arg, "--slice=%s", name) < 0 || exec_escape_arg(slice_arg, &esc) < 0)
                return log_oom();
        f = open_memstream(&text2, &size);
        if (!f)
                return log_oom();
        write_header(f, l);
        fputs("\n[Service]\n", f);
        r = write_helper(f, "ExecStart", true, false, esc, false, p);
        if (fclose(f) != 0 || r < 0)
                return log_oom();

        if (p->error)
                log_error("%s: the unit will refuse to start, see the error above.", name);

        return write_dropin(c, apply_unit, text2, size);
}

/* Load (once) and write (once) a slice, after the slices above it. */
static int process_slice(Context *c, const char *name) {
        _cleanup_free_ char *parent = NULL;
        SliceState *s;
        Loaded l;
        int r;

        s = slice_state(c, name);
        if (!s)
                return log_oom();
        if (s->loaded)
                return 0;
        s->loaded = true;

        /* The slices above first: a parent's policy is written whether it has a file or not. */
        parent = slice_parent(name);
        if (parent) {
                r = process_slice(c, parent);
                if (r < 0)
                        return r;
        }

        r = load_unit(c, name, &l);
        if (r < 0) {
                loaded_done(&l);
                return log_error_errno(r, "%s: failed to load: %m", name);
        }
        if (l.found && l.has_keys && streq(name, "-.slice") &&
            (policy_has_network(&l.up.policy) || l.up.policy.error)) {
                /* Everything runs below the root slice, also cgpolicy-apply@.service itself:
                 * a policy there would order -.slice after a unit inside it. */
                log_error("-.slice: X-CgPolicy network and mode keys are not supported on the root slice, "
                          "ignoring them (police system.slice instead).");
                for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                        for (int a = 0; a < _POLICY_ACTION_MAX; a++)
                                policy_reset_rules(&l.up.policy, d, a);
                l.up.policy.socket_allow = 0;
                l.up.policy.error = mfree(l.up.policy.error);
        }

        /* Look the state up again: the recursion may have moved the array. */
        s = slice_state(c, name);
        if (!s) {
                loaded_done(&l);
                return log_oom();
        }
        if (l.found && l.has_keys && !s->written) {
                s->written = true;
                (void) write_slice(c, name, &l);
        }
        loaded_done(&l);
        return 0;
}

static int process_service(Context *c, const char *name) {
        Loaded l;
        int r;

        r = load_unit(c, name, &l);
        if (r < 0) {
                loaded_done(&l);
                return log_error_errno(r, "%s: failed to load: %m", name);
        }
        if (l.found && l.has_keys && unit_name_is_own(name)) {
                log_warning("%s: cgpolicy does not police its own units, ignoring its X-CgPolicy keys.", name);
                loaded_done(&l);
                return 0;
        }
        if (l.found && l.has_keys)
                r = write_service(c, name, &l);
        loaded_done(&l);
        return r;
}

static int run(int argc, char *argv[]) {
        _cleanup_strv_free_ char **path = NULL;
        Context c = {};
        char * const *names;
        size_t n_names;
        const char *scope;
        int r;

        log_set_program_name("cgpolicy-generator");
        log_parse_environment();

        scope = getenv("SYSTEMD_SCOPE");
        if (scope && streq(scope, "user")) {
                log_info("Running in a user manager: cgpolicy polices system units only, nothing to do.");
                return 0;
        }

        if (argc != 2 && argc != 4) {
                log_error("Usage: %s NORMAL [EARLY LATE]", argv[0]);
                return 1;
        }
        c.dest = argv[1];

        r = unit_search_path(&path);
        if (r < 0)
                return log_oom(), 1;
        r = unit_tree_scan(path, &c.tree);
        if (r < 0) {
                log_error_errno(r, "Failed to scan the unit directories: %m");
                return 1;
        }
        names = unit_tree_names(c.tree, &n_names);
        r = file_cache_new(&c.files);
        if (r < 0) {
                log_oom();
                r = 1;
                goto finish;
        }

        if (mkdir(c.dest, 0755) < 0 && errno != EEXIST) {
                log_error_errno(errno, "Cannot create %s: %m", c.dest);
                r = 1;
                goto finish;
        }

        /* Slices first, so that services know which slices are policed. */
        for (size_t i = 0; i < n_names; i++)
                if (endswith(names[i], ".slice"))
                        (void) process_slice(&c, names[i]);
        for (size_t i = 0; i < n_names; i++)
                if (endswith(names[i], ".service"))
                        (void) process_service(&c, names[i]);

        r = c.n_failed > 0 && c.n_written == 0 ? 1 : 0;

finish:
        for (size_t i = 0; i < c.n_slices; i++)
                free(c.slices[i].name);
        free(c.slices);
        file_cache_free(c.files);
        unit_tree_free(c.tree);
        return r;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
