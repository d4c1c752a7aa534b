/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup-util.h"
#include "fileio.h"
#include "macro.h"
#include "unit-path.h"

#define FILEID_KERNFS 0xfe

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unoctal(char *s) {
        char *w = s;

        for (char *r = s; *r; ) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = 0;
}

int cg_find_mount(char **ret_mountpoint, char **ret_root) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;

        assert(ret_mountpoint);

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;

        while (getline(&line, &size, f) > 0) {
                char *fields[10] = {}, *p = line, *sep, *fstype, *save = NULL;
                size_t n = 0;

                sep = strstr(line, " - ");
                if (!sep)
                        continue;
                *sep = 0;
                fstype = strtok_r(sep + 3, " \n", &save);
                if (!fstype || !streq(fstype, "cgroup2"))
                        continue;

                for (char *t = strtok_r(p, " ", &save); t && n < ELEMENTSOF(fields); t = strtok_r(NULL, " ", &save))
                        fields[n++] = t;
                if (n < 5)
                        continue;

                unoctal(fields[3]);
                unoctal(fields[4]);
                if (ret_root) {
                        *ret_root = strdup(fields[3]);
                        if (!*ret_root)
                                return -ENOMEM;
                }
                *ret_mountpoint = strdup(fields[4]);
                if (!*ret_mountpoint) {
                        if (ret_root)
                                *ret_root = mfree(*ret_root);
                        return -ENOMEM;
                }
                return 0;
        }
        return -ENOMEDIUM;
}

/* Does line look like a line of /proc/PID/cgroup: "ID:CONTROLLERS:/PATH", ID a number? */
static bool cgroup_line_valid(const char *line, size_t len) {
        const char *end = line + len, *p = line, *colon;

        if (p >= end || *p < '0' || *p > '9')
                return false;
        while (p < end && *p >= '0' && *p <= '9')
                p++;
        if (p >= end || *p++ != ':')
                return false;
        colon = memchr(p, ':', (size_t) (end - p));
        return colon && colon + 1 < end && colon[1] == '/';
}

int cg_parse_proc_cgroup(const char *contents, size_t size, char **ret) {
        const char *unified = NULL;
        char *s;

        assert(contents || size == 0);
        assert(ret);

        /* The kernel writes cgroup paths as they are, and a cgroup's name may hold any byte but
         * '/': a name with a line break adds lines, one of which may look like the unified
         * hierarchy's "0::/…". Take the path only when the file is unambiguous: every line is
         * "ID:CONTROLLERS:/PATH", exactly one is "0::", it is the last (as the kernel writes it),
         * and its path has no control character. Anything else is -EBADMSG. */
        if (size == 0 || contents[size - 1] != '\n' || memchr(contents, 0, size))
                return -EBADMSG;
        for (const char *line = contents; line < contents + size;) {
                const char *nl = memchr(line, '\n', (size_t) (contents + size - line));

                if (!cgroup_line_valid(line, (size_t) (nl - line)))
                        return -EBADMSG;
                if (startswith(line, "0::")) {
                        if (unified)
                                return -EBADMSG;
                        unified = line + 3;
                }
                line = nl + 1;
        }
        if (!unified)
                return -ENOMEDIUM;
        s = strndup(unified, strcspn(unified, "\n"));
        if (!s)
                return -ENOMEM;
        if (unified + strlen(s) + 1 != contents + size || string_has_cc(s)) {
                free(s);
                return -EBADMSG;
        }
        *ret = s;
        return 0;
}

int cg_pid_get_path(int pid, char **ret) {
        _cleanup_free_ char *contents = NULL;
        char fn[64];
        size_t size;
        int r;

        assert(pid >= 0);
        assert(ret);

        if (pid == 0)
                snprintf(fn, sizeof fn, "/proc/self/cgroup");
        else
                snprintf(fn, sizeof fn, "/proc/%i/cgroup", pid);
        r = read_full_file(fn, &contents, &size);
        if (r < 0)
                return r;
        return cg_parse_proc_cgroup(contents, size, ret);
}

int cg_self_target(char **ret) {
        _cleanup_free_ char *p = NULL;
        char *slash;
        int r;

        assert(ret);

        r = cg_pid_get_path(0, &p);
        if (r < 0)
                return r;

        slash = strrchr(p, '/');
        if (slash && streq(slash + 1, ".control")) {
                if (slash == p)
                        slash[1] = 0;
                else
                        *slash = 0;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

bool cg_slice_name_is_valid(const char *slice) {
        assert(slice);

        /* As systemd validates it (no '/', no control character, dash-separated parts none empty:
         * a-b-c.slice lives in a.slice/a-b.slice/a-b-c.slice), and no hidden directory. */
        return slice_name_is_valid(slice) && slice[0] != '.';
}

int cg_slice_path(const char *slice, char **ret) {
        _cleanup_free_ char *root = NULL, *path = NULL;
        const char *e, *suffix;
        size_t len;
        int r;

        assert(slice);
        assert(ret);

        if (!cg_slice_name_is_valid(slice))
                return -EINVAL;
        suffix = endswith(slice, ".slice");

        e = getenv("CGPOLICY_CGROUP_ROOT");
        if (e) {
                root = strdup(e);
                if (!root)
                        return -ENOMEM;
        } else {
                char *t;

                r = cg_pid_get_path(1, &root);
                if (r < 0)
                        return r;
                t = (char *) endswith(root, "/init.scope");
                if (t)
                        *t = 0;
        }
        len = strlen(root);
        while (len > 0 && root[len - 1] == '/')
                root[--len] = 0;

        path = strdup(root);
        if (!path)
                return -ENOMEM;

        if (!streq(slice, "-.slice")) {
                /* Every dash-separated prefix is a parent slice: a-b-c.slice lives in
                 * a.slice/a-b.slice/a-b-c.slice. */
                size_t stem = (size_t) (suffix - slice);

                for (size_t i = 0; i <= stem; i++) {
                        if (i < stem && slice[i] != '-')
                                continue;
                        char *n;
                        if (asprintf(&n, "%s/%.*s.slice", path, (int) i, slice) < 0)
                                return -ENOMEM;
                        free(path);
                        path = n;
                }
        }
        if (path[0] == 0) {
                free(path);
                path = strdup("/");
                if (!path)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(path);
        return 0;
}

int cg_fs_path(const char *cgroup_path, char **ret) {
        _cleanup_free_ char *mnt = NULL, *root = NULL;
        const char *rel = cgroup_path;
        char *s;
        int r;

        assert(cgroup_path);
        assert(ret);

        r = cg_find_mount(&mnt, &root);
        if (r < 0)
                return r;

        /* The mount may show a subtree (a bind mount in a container); map into it. */
        if (!streq(root, "/")) {
                const char *t = startswith(cgroup_path, root);

                if (!t || (*t != 0 && *t != '/'))
                        return -EXDEV;
                rel = t;
        }
        if (asprintf(&s, "%s%s%s", mnt, *rel == '/' ? "" : "/", rel) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int cg_create(const char *cgroup_path) {
        _cleanup_free_ char *fs = NULL;
        int r;

        assert(cgroup_path);

        r = cg_fs_path(cgroup_path, &fs);
        if (r < 0)
                return r;

        for (char *p = fs + 1; ; p++) {
                bool end = *p == 0;

                if (*p != '/' && !end)
                        continue;
                *p = 0;
                if (mkdir(fs, 0755) < 0) {
                        if (errno != EEXIST)
                                return -errno;
                } else if (end)
                        return 1;
                if (end)
                        break;
                *p = '/';
        }
        return 0;
}

int cg_fs_get_id(const char *fs_path, uint64_t *ret) {
        union {
                struct file_handle fh;
                uint8_t buf[sizeof(struct file_handle) + 64];
        } h = { .fh.handle_bytes = 64 };
        struct stat st;
        int mnt_id;

        assert(fs_path);
        assert(ret);

        if (name_to_handle_at(AT_FDCWD, fs_path, &h.fh, &mnt_id, 0) >= 0 &&
            h.fh.handle_type == FILEID_KERNFS && h.fh.handle_bytes == sizeof(uint64_t)) {
                memcpy(ret, h.fh.f_handle, sizeof(uint64_t));
                return 0;
        }

        /* On 64-bit systems the inode number is the kernfs id too. */
        if (stat(fs_path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        *ret = (uint64_t) st.st_ino;
        return 0;
}

int cg_id_exists(uint64_t id, char **ret_path) {
        _cleanup_free_ char *mnt = NULL;
        _cleanup_close_ int mfd = -EBADF, fd = -EBADF;
        union {
                struct file_handle fh;
                uint8_t buf[sizeof(struct file_handle) + sizeof(uint64_t)];
        } h = { .fh.handle_bytes = sizeof(uint64_t), .fh.handle_type = FILEID_KERNFS };
        int r;

        r = cg_find_mount(&mnt, NULL);
        if (r < 0)
                return r;
        mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (mfd < 0)
                return -errno;

        memcpy(h.fh.f_handle, &id, sizeof id);
        fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ESTALE || errno == ENOENT)
                        return 0;
                return -errno;
        }

        if (ret_path) {
                char fn[64], buf[PATH_MAX];
                ssize_t n;

                snprintf(fn, sizeof fn, "/proc/self/fd/%i", fd);
                n = readlink(fn, buf, sizeof buf - 1);
                if (n < 0)
                        return -errno;
                buf[n] = 0;
                *ret_path = strdup(buf);
                if (!*ret_path)
                        return -ENOMEM;
        }
        return 1;
}
