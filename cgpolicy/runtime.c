/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "policy-args.h"
#include "privilege.h"
#include "runtime.h"

const char *runtime_dir(void) {
        const char *e = getenv("CGPOLICY_RUNTIME_DIR");

        return e && *e ? e : CGPOLICY_RUNTIME_DIR;
}

void runtime_entry_done(RuntimeEntry *e) {
        assert(e);

        e->unit = mfree(e->unit);
        e->cgroup = mfree(e->cgroup);
        e->args = strv_free(e->args);
}

/* "cgpolicy load" made it; if it went missing, make it again, as private. */
static int runtime_dir_ensure(void) {
        int r;

        if (mkdir(runtime_dir(), 0) >= 0) {
                uid_t owner;

                r = private_owner(&owner);
                if (r < 0)
                        return r;
                r = dir_make_private(runtime_dir(), owner);
                if (r < 0)
                        return r;
        } else if (errno != EEXIST)
                return -errno;
        return 0;
}

int runtime_write(uint64_t cgroup_id, const char *unit, const char *cgroup, uint32_t policy, const Policy *p) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        assert(unit);
        assert(cgroup);
        assert(p);

        r = runtime_dir_ensure();
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/%" PRIu64, runtime_dir(), cgroup_id) < 0 ||
            asprintf(&tmp, "%s/.%" PRIu64 ".tmp", runtime_dir(), cgroup_id) < 0)
                return -ENOMEM;
        r = policy_to_args(p, &args);
        if (r < 0)
                return r;

        /* One KEY=VALUE a line: a value with a line break would add lines of its own (a forged
         * "UNIT=" with "ARG=--connect-allow=any" that status shows), so none may have a control
         * character. --unit= and the cgroup path are checked before this already. */
        if (string_has_cc(unit) || string_has_cc(cgroup))
                return -EINVAL;
        STRV_FOREACH(a, args)
                if (string_has_cc(*a))
                        return -EINVAL;

        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f, "UNIT=%s\nCGROUP=%s\nPOLICY=%" PRIu32 "\n", unit, cgroup, policy);
        STRV_FOREACH(a, args)
                fprintf(f, "ARG=%s\n", *a);
        if (fflush(f) != 0 || ferror(f)) {
                (void) unlink(tmp);
                return -EIO;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

int runtime_read(uint64_t cgroup_id, RuntimeEntry *ret) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0, n = 0;

        assert(ret);

        *ret = (RuntimeEntry) { .cgroup_id = cgroup_id };
        if (asprintf(&path, "%s/%" PRIu64, runtime_dir(), cgroup_id) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return -errno;

        while (getline(&line, &size, f) > 0) {
                const char *v;

                line[strcspn(line, "\n")] = 0;
                if ((v = startswith(line, "UNIT=")))
                        free(ret->unit), ret->unit = strdup(v);
                else if ((v = startswith(line, "CGROUP=")))
                        free(ret->cgroup), ret->cgroup = strdup(v);
                else if ((v = startswith(line, "POLICY=")))
                        ret->policy = (uint32_t) strtoul(v, NULL, 10);
                else if ((v = startswith(line, "ARG="))) {
                        char **l = reallocarray(ret->args, n + 2, sizeof(char *));

                        if (!l)
                                return -ENOMEM;
                        ret->args = l;
                        l[n] = strdup(v);
                        if (!l[n])
                                return -ENOMEM;
                        l[++n] = NULL;
                }
        }
        return 0;
}

void runtime_remove(uint64_t cgroup_id) {
        char path[PATH_MAX];

        snprintf(path, sizeof path, "%s/%" PRIu64, runtime_dir(), cgroup_id);
        if (unlink(path) < 0 && errno != ENOENT)
                log_debug_errno(errno, "Cannot remove %s: %m", path);
}

int runtime_foreach(int (*cb)(uint64_t id, void *userdata), void *userdata) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        assert(cb);

        d = opendir(runtime_dir());
        if (!d)
                return errno == ENOENT ? 0 : log_error_errno(errno, "Cannot open %s: %m", runtime_dir());

        while ((de = readdir(d))) {
                char *end;
                uint64_t id;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                errno = 0;
                id = strtoull(de->d_name, &end, 10);
                if (errno != 0 || *end != 0)
                        continue;
                r = cb(id, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A marker of a unit by name, RUNTIME_DIR/WHAT/UNIT ("blocked", "learning"). */
static int marker_path(const char *what, const char *unit, char **ret) {
        /* A unit name has no "/" and is not "." or "..": one file name (checked by the callers,
         * unit_name_is_valid_full()). */
        if (!unit || !*unit || strchr(unit, '/') || streq(unit, ".") || streq(unit, ".."))
                return -EINVAL;
        if (asprintf(ret, "%s/%s/%s", runtime_dir(), what, unit) < 0)
                return -ENOMEM;
        return 0;
}

static int marker_set(const char *what, const char *unit, bool on) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        int fd, r;

        r = marker_path(what, unit, &path);
        if (r < 0)
                return r;
        if (!on)
                return unlink(path) < 0 && errno != ENOENT ? -errno : 0;

        r = runtime_dir_ensure();
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/%s", runtime_dir(), what) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

static bool marker_is_set(const char *what, const char *unit) {
        _cleanup_free_ char *path = NULL;

        if (marker_path(what, unit, &path) < 0)
                return false;
        return access(path, F_OK) >= 0;
}

int runtime_set_blocked(const char *unit, bool blocked) {
        return marker_set("blocked", unit, blocked);
}

bool runtime_is_blocked(const char *unit) {
        return marker_is_set("blocked", unit);
}

int runtime_set_learning(const char *unit, bool learning) {
        return marker_set("learning", unit, learning);
}

bool runtime_is_learning(const char *unit) {
        return marker_is_set("learning", unit);
}
