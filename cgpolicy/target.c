/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-util.h"
#include "log.h"
#include "macro.h"
#include "target.h"

void target_done(Target *t) {
        assert(t);

        t->unit = mfree(t->unit);
        t->cgroup = mfree(t->cgroup);
        t->fs_path = mfree(t->fs_path);
}

int target_resolve(const char *unit, const char *slice, bool create, Target *ret) {
        _cleanup_(target_done) Target t = {};
        int r;

        assert(ret);

        if (slice) {
                r = cg_slice_path(slice, &t.cgroup);
                if (r < 0)
                        return log_error_errno(r, "Cannot find the cgroup of slice %s: %m", slice);
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
                if (r == -EBADMSG)
                        return log_error_errno(r, "The own cgroup cannot be told from /proc/self/cgroup (a cgroup "
                                               "name with a control character?), refusing.");
                if (r < 0)
                        return log_error_errno(r, "Cannot find the own cgroup (is cgroup v2 mounted?): %m");
        }

        r = cg_fs_path(t.cgroup, &t.fs_path);
        if (r < 0)
                return log_error_errno(r, "Cannot find cgroup %s in the cgroup2 mount: %m", t.cgroup);
        if (slice && !create && access(t.fs_path, F_OK) < 0 && errno == ENOENT)
                return 0;       /* the slice is gone (or was never started) */
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
        return 1;
}

int target_resolve_cgroup(const char *unit, const char *cgroup, Target *ret) {
        _cleanup_(target_done) Target t = {};
        int r;

        assert(unit);
        assert(cgroup);
        assert(ret);

        t.unit = strdup(unit);
        t.cgroup = strdup(cgroup);
        if (!t.unit || !t.cgroup)
                return log_oom();
        r = cg_fs_path(t.cgroup, &t.fs_path);
        if (r < 0)
                return log_error_errno(r, "Cannot find cgroup %s of %s in the cgroup2 mount: %m", cgroup, unit);
        r = cg_fs_get_id(t.fs_path, &t.id);
        if (r < 0)
                return log_error_errno(r, "Cannot get the id of cgroup %s of %s: %m", t.fs_path, unit);

        *ret = t;
        t = (Target) {};
        return 1;
}
