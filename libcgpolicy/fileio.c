/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

/* /dev/null, by its device number (1:3 on Linux): what masks a unit or drop-in. */
static bool is_dev_null(const struct stat *st) {
        return S_ISCHR(st->st_mode) && major(st->st_rdev) == 1 && minor(st->st_rdev) == 3;
}

int read_full_file(const char *path, char **ret_contents, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated;
        struct stat st;

        assert(path);
        assert(ret_contents);
        assert(ret_size);

        /* O_NONBLOCK: opening a FIFO without a writer would block (a generator that hangs at
         * boot is killed, and every unit after it starts without its drop-in). */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (is_dev_null(&st)) {
                buf = strdup("");
                if (!buf)
                        return -ENOMEM;
                *ret_contents = TAKE_PTR(buf);
                *ret_size = 0;
                return 0;
        }
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (st.st_size > (off_t) READ_FULL_FILE_MAX)
                return -EFBIG;

        /* A regular file is read in one go (one byte more, to see the end); files that report no
         * size (procfs) grow as they come. Either way, never past the bound: a file that grows
         * while it is read is refused as well. */
        allocated = st.st_size > 0 ? (size_t) st.st_size + 1 : 4096;

        for (;;) {
                ssize_t k;

                if (!buf || size + 1 >= allocated) {
                        char *x;

                        if (buf)
                                allocated = MIN(allocated * 2, (size_t) READ_FULL_FILE_MAX + 2);
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
                if (size > READ_FULL_FILE_MAX)
                        return -EFBIG;
        }

        buf[size] = 0;
        *ret_contents = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

const char *read_full_file_strerror(int r, char *buf, size_t size) {
        switch (r) {
        case -EISDIR:
        case -EBADFD:
                return "not a regular file";
        case -EFBIG:
                (void) snprintf(buf, size, "larger than %u bytes", READ_FULL_FILE_MAX);
                return buf;
        default:
                return strerror(r < 0 ? -r : r);
        }
}

typedef struct FileCacheEntry {
        char *path;             /* NULL: a free slot */
        char *contents;         /* NULL: the file could not be read */
        size_t size;
        int error;              /* the negative errno when it could not be read */
} FileCacheEntry;

/* Open addressing with linear probing; at most half full, so that a probe ends soon. */
struct FileCache {
        FileCacheEntry *entries;
        size_t n_entries;
        size_t n_slots;         /* 0 or a power of two */
};

int file_cache_new(FileCache **ret) {
        FileCache *c;

        assert(ret);

        c = calloc(1, sizeof(FileCache));
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

FileCache *file_cache_free(FileCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_slots; i++) {
                free(c->entries[i].path);
                free(c->entries[i].contents);
        }
        free(c->entries);
        free(c);
        return NULL;
}

/* FNV-1a. */
static size_t path_hash(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= UINT64_C(0x100000001b3);
        }
        return (size_t) h;
}

/* The slot of path, or the free slot where it belongs. */
static FileCacheEntry *find_slot(FileCacheEntry *entries, size_t n_slots, const char *path) {
        size_t i = path_hash(path) & (n_slots - 1);

        while (entries[i].path && !streq(entries[i].path, path))
                i = (i + 1) & (n_slots - 1);
        return &entries[i];
}

static int file_cache_grow(FileCache *c) {
        size_t n_slots = c->n_slots > 0 ? c->n_slots * 2 : 256;
        FileCacheEntry *entries;

        entries = calloc(n_slots, sizeof(FileCacheEntry));
        if (!entries)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_slots; i++)
                if (c->entries[i].path)
                        *find_slot(entries, n_slots, c->entries[i].path) = c->entries[i];
        free(c->entries);
        c->entries = entries;
        c->n_slots = n_slots;
        return 0;
}

int file_cache_get(FileCache *c, const char *path, const char **ret_contents, size_t *ret_size) {
        _cleanup_free_ char *key = NULL, *contents = NULL;
        FileCacheEntry *e;
        size_t size = 0;
        int r;

        assert(c);
        assert(path);
        assert(ret_contents);
        assert(ret_size);

        if (2 * (c->n_entries + 1) > c->n_slots) {
                r = file_cache_grow(c);
                if (r < 0)
                        return r;
        }

        e = find_slot(c->entries, c->n_slots, path);
        if (!e->path) {
                key = strdup(path);
                if (!key)
                        return -ENOMEM;
                r = read_full_file(path, &contents, &size);
                if (r == -ENOMEM)
                        return r;

                *e = (FileCacheEntry) {
                        .path = TAKE_PTR(key),
                        .contents = r < 0 ? NULL : TAKE_PTR(contents),
                        .size = r < 0 ? 0 : size,
                        .error = r < 0 ? r : 0,
                };
                c->n_entries++;
        }

        *ret_contents = e->contents;
        *ret_size = e->size;
        return e->error;
}
