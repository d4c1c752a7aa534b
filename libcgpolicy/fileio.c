/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

int read_full_file(const char *path, char **ret_contents, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated;
        struct stat st;

        assert(path);
        assert(ret_contents);
        assert(ret_size);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        /* A regular file is read in one go (one byte more, to see the end); anything else, and
         * files that report no size (procfs), grow as they come. */
        allocated = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t) st.st_size + 1 : 4096;

        for (;;) {
                ssize_t k;

                if (!buf || size + 1 >= allocated) {
                        char *x;

                        if (buf)
                                allocated *= 2;
                        x = realloc(buf, allocated);
                        if (!x)
                                return -ENOMEM;
                        buf = x;
                }
                k = read(fd, buf + size, allocated - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }

        buf[size] = 0;
        *ret_contents = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}
