/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the helper writes into its runtime records, and the cgroup path it reads from
 * /proc/self/cgroup: a value with a line break must never become lines of a record (a forged
 * "UNIT=" with "ARG=--connect-allow=any", issue 10 item 12), and a cgroup name that forges
 * lines of /proc/self/cgroup must not be taken for the process's cgroup. Unprivileged. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup-util.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "runtime.h"
#include "tap.h"

static void test_parse_proc_cgroup(void) {
        static const struct {
                const char *contents, *path;    /* path NULL: refused */
                int error;
        } cases[] = {
                { "0::/system.slice/foo.service\n", "/system.slice/foo.service", 0 },
                { "0::/\n", "/", 0 },
                { "9:name=systemd:/\n4:memory:/x\n1:cpu,cpuacct:/\n0::/a b/c\n", "/a b/c", 0 },
                /* A cgroup named "x\n0::/" below the unit: two "0::" lines. */
                { "0::/system.slice/foo.service/x\n0::/\n", NULL, -EBADMSG },
                /* A v1 path with a forged unified line before the real one. */
                { "9:name=systemd:/x\n0::/fake\n0::/system.slice/foo.service\n", NULL, -EBADMSG },
                /* A forged line after the unified one, or one that is no cgroup line at all. */
                { "0::/system.slice/foo.service/x\n1:cpu:/\n", NULL, -EBADMSG },
                { "0::/system.slice/foo.service/x\nUNIT=evil.service\n", NULL, -EBADMSG },
                { "1:cpu:/x\nARG=--connect-allow=any\n0::/a\n", NULL, -EBADMSG },
                /* Other control characters in the path. */
                { "0::/system.slice/a\tb\n", NULL, -EBADMSG },
                { "0::/system.slice/a\033[31m\n", NULL, -EBADMSG },
                { "0::/system.slice/a\x7f\n", NULL, -EBADMSG },
                /* Not ended by a line break, empty, v1 only. */
                { "0::/a", NULL, -EBADMSG },
                { "", NULL, -EBADMSG },
                { "1:cpu:/\n", NULL, -ENOMEDIUM },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *path = NULL;
                int r = cg_parse_proc_cgroup(cases[i].contents, strlen(cases[i].contents), &path);

                if (cases[i].path)
                        ok(r == 0 && path && streq(path, cases[i].path), "/proc/self/cgroup case %zu: '%s' (r=%d)",
                           i, cases[i].path, r);
                else
                        ok(r == cases[i].error && !path, "/proc/self/cgroup case %zu refused: %d (r=%d)",
                           i, cases[i].error, r);
        }

        _cleanup_free_ char *self = NULL;
        ok(cg_pid_get_path(0, &self) == 0 && self && self[0] == '/', "the own cgroup: %s", self ?: "(none)");
}

static int read_record(const char *dir, const char *name, char *buf, size_t size) {
        char path[256];
        FILE *f;
        size_t n;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        n = fread(buf, 1, size - 1, f);
        buf[n] = 0;
        fclose(f);
        return 0;
}

static void test_runtime_write(void) {
        char dir[] = "/tmp/test-runtime-XXXXXX", buf[1024];
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        Policy p;
        int r;

        if (!ok(mkdtemp(dir) != NULL, "mkdtemp"))
                return;
        setenv("CGPOLICY_RUNTIME_DIR", dir, 1);

        policy_init(&p);
        (void) policy_assign(&p, &(PolicySource) { "a.service", 1, "X-CgPolicyConnectDeny" }, "any");
        (void) policy_assign(&p, &(PolicySource) { "a.service", 2, "X-CgPolicySocketAllow" }, "ping");

        r = runtime_write(1, "a.service", "/system.slice/a.service", 7, &p);
        ok(r == 0 && read_record(dir, "1", buf, sizeof buf) == 0 &&
           streq(buf, "UNIT=a.service\nCGROUP=/system.slice/a.service\nPOLICY=7\n"
                 "ARG=--socket-allow=ping\nARG=--connect-deny=any\n"), "a record is written");
        ok(runtime_read(1, &e) == 0 && e.unit && streq(e.unit, "a.service") && e.policy == 7 &&
           strv_length(e.args) == 2, "… reads back");

        r = runtime_write(2, "a.service\nUNIT=evil.service\nARG=--connect-allow=any", "/system.slice/a.service", 8, &p);
        ok(r == -EINVAL && read_record(dir, "2", buf, sizeof buf) == -ENOENT, "a unit with a line break: refused, "
           "nothing written (r=%d)", r);
        r = runtime_write(3, "a.service", "/system.slice/a.service/x\nUNIT=evil.service", 8, &p);
        ok(r == -EINVAL && read_record(dir, "3", buf, sizeof buf) == -ENOENT, "a cgroup with a line break: refused "
           "(r=%d)", r);
        r = runtime_write(4, "a\033.service", "/system.slice/a.service", 8, &p);
        ok(r == -EINVAL && read_record(dir, "4", buf, sizeof buf) == -ENOENT, "a unit with ESC: refused (r=%d)", r);
        r = runtime_write(5, "a.service", "/system.slice/a\tb", 8, &p);
        ok(r == -EINVAL && read_record(dir, "5", buf, sizeof buf) == -ENOENT, "a cgroup with a tab: refused (r=%d)", r);
        policy_done(&p);

        /* An argument with a line break (an --error= message, which apply never records, but the
         * writer must not trust its caller). */
        policy_init(&p);
        p.error = strdup("x\nUNIT=evil.service");
        r = runtime_write(6, "a.service", "/system.slice/a.service", 8, &p);
        ok(r == -EINVAL && read_record(dir, "6", buf, sizeof buf) == -ENOENT, "an argument with a line break: refused "
           "(r=%d)", r);
        policy_done(&p);

        runtime_entry_done(&e);
        ok(runtime_read(1, &e) == 0 && streq(e.unit, "a.service"), "the good record is untouched");

        runtime_remove(1);
        ok(rmdir(dir) == 0, "nothing else was written (the directory is empty)");
}

int main(void) {
        log_set_max_level(LOG_CRIT);

        test_parse_proc_cgroup();
        test_runtime_write();

        return tap_done();
}
