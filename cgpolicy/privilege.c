/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "privilege.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int effective_caps(uint64_t *ret) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        *ret = (uint64_t) d[0].effective | ((uint64_t) d[1].effective << 32);
        return 0;
}

#define CAP_BIT(c) (UINT64_C(1) << (c))

int require_policy_privileges(const char *verb) {
        static const struct {
                uint64_t any_of;
                const char *name;
        } needed[] = {
                { CAP_BIT(CAP_BPF) | CAP_BIT(CAP_SYS_ADMIN), "CAP_BPF (or CAP_SYS_ADMIN)" },
                { CAP_BIT(CAP_NET_ADMIN),                    "CAP_NET_ADMIN" },
                { CAP_BIT(CAP_DAC_OVERRIDE),                 "CAP_DAC_OVERRIDE" },
        };
        char missing[128] = "";
        uint64_t eff = 0;
        int r;

        assert(verb);

        r = effective_caps(&eff);
        if (r < 0)
                return log_error_errno(r, "Cannot read the capabilities of this process: %m");
        for (size_t i = 0; i < ELEMENTSOF(needed); i++)
                if (!(eff & needed[i].any_of)) {
                        if (missing[0])
                                strncat(missing, ", ", sizeof missing - strlen(missing) - 1);
                        strncat(missing, needed[i].name, sizeof missing - strlen(missing) - 1);
                }
        if (missing[0])
                return log_error_errno(EPERM,
                                       "'%s' needs %s, which this process lacks: refusing to change anything. "
                                       "It runs as ExecStartPre=+/ExecStopPost=+ of the generated drop-in, "
                                       "with full privileges.", verb, missing);
        return 0;
}

int private_owner(uid_t *ret) {
        const char *e = getenv("CGPOLICY_PIN_OWNER"), *name = e && *e ? e : CGPOLICY_PIN_USER;
        struct passwd *pw;
        char *end;
        unsigned long u;

        assert(ret);

        errno = 0;
        u = strtoul(name, &end, 10);
        if (errno == 0 && *end == 0 && end != name && u < (unsigned long) (uid_t) -1) {
                *ret = (uid_t) u;
                return 0;
        }
        errno = 0;
        pw = getpwnam(name);
        if (pw) {
                *ret = pw->pw_uid;
                return 0;
        }
        if (errno != 0 && errno != ENOENT && errno != ESRCH)
                return log_error_errno(errno, "Cannot look up user %s: %m", name);
        log_warning("User %s does not exist (is the package installed, and systemd-sysusers run?): the private "
                    "directories stay owned by root, and a uid-0 process without capabilities could chmod them "
                    "open again.", name);
        *ret = 0;
        return 0;
}

static int make_private(const char *path, uid_t owner) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if ((st.st_mode & 07777) == 0 && st.st_uid == owner && st.st_gid == (gid_t) owner)
                return 0;
        if (chown(path, owner, (gid_t) owner) < 0)
                return -errno;
        if (chmod(path, 0) < 0)
                return -errno;
        return 1;
}

int dir_make_private(const char *path, uid_t owner) {
        assert(path);

        if (mkdir(path, 0) < 0 && errno != EEXIST)
                return -errno;
        return make_private(path, owner);
}

int file_make_private(const char *path, uid_t owner) {
        assert(path);

        return make_private(path, owner);
}
