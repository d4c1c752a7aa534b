/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* read_full_file(): what the generator and the unit-file reader see of a file; FileCache. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "tap.h"

static void put(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        fputs(text, f);
        fclose(f);
}

/* Many more files than the first table holds, each asked for twice, one unreadable. */
static void test_file_cache(const char *dir) {
        enum { N = 2000 };
        FileCache *c = NULL;
        char path[128], want[64];
        const char *data;
        size_t size;
        unsigned wrong = 0;
        int r;

        ok(file_cache_new(&c) == 0 && c, "file_cache_new()");
        for (int i = 0; i < N; i++) {
                snprintf(path, sizeof path, "%s/c%d", dir, i);
                snprintf(want, sizeof want, "[Service]\nN=%d\n", i);
                put(path, want);
        }
        for (int pass = 0; pass < 2; pass++)
                for (int i = 0; i < N; i++) {
                        snprintf(path, sizeof path, "%s/c%d", dir, i);
                        snprintf(want, sizeof want, "[Service]\nN=%d\n", i);
                        r = file_cache_get(c, path, &data, &size);
                        if (r < 0 || !data || size != strlen(want) || !streq(data, want))
                                wrong++;
                }
        ok(wrong == 0, "%d files, each asked for twice, give their own contents (%u wrong)", N, wrong);

        /* Read once: what the cache gave stays what it gives. */
        snprintf(path, sizeof path, "%s/c0", dir);
        put(path, "changed\n");
        r = file_cache_get(c, path, &data, &size);
        ok(r == 0 && data && streq(data, "[Service]\nN=0\n"), "a file is read once: a later change is not seen");

        snprintf(path, sizeof path, "%s/missing", dir);
        data = "x";
        size = 1;
        r = file_cache_get(c, path, &data, &size);
        ok(r == -ENOENT && !data && size == 0, "an unreadable file gives its error, NULL, 0 (r=%d)", r);
        data = "x";
        r = file_cache_get(c, path, &data, &size);
        ok(r == -ENOENT && !data && size == 0, "… also when asked again (r=%d)", r);

        file_cache_free(c);
        for (int i = 0; i < N; i++) {
                snprintf(path, sizeof path, "%s/c%d", dir, i);
                (void) unlink(path);
        }
}

int main(void) {
        char dir[] = "/tmp/test-fileio-XXXXXX";
        char path[64];
        char *data = NULL;
        size_t size = 12345;
        int r;

        log_set_max_level(LOG_CRIT);    /* the unreadable file is logged on purpose */
        if (!mkdtemp(dir))
                return 1;
        snprintf(path, sizeof path, "%s/f", dir);

        /* Contents with a NUL byte, larger than one page, come back whole, NUL-terminated. */
        {
                _cleanup_free_ char *want = malloc(10000);
                FILE *f = fopen(path, "we");

                for (size_t i = 0; i < 10000; i++)
                        want[i] = (char) (i % 251);
                fwrite(want, 1, 10000, f);
                fclose(f);
                r = read_full_file(path, &data, &size);
                ok(r == 0 && size == 10000 && memcmp(data, want, 10000) == 0 && data[10000] == 0,
                   "a 10000-byte file with NUL bytes is read whole (r=%d, size=%zu)", r, size);
                data = mfree(data);
        }

        /* An empty file and /dev/null (what a masked drop-in links to) read as empty. */
        fclose(fopen(path, "we"));
        r = read_full_file(path, &data, &size);
        ok(r == 0 && size == 0 && data && data[0] == 0, "an empty file reads as \"\" (r=%d)", r);
        data = mfree(data);
        r = read_full_file("/dev/null", &data, &size);
        ok(r == 0 && size == 0 && data && data[0] == 0, "/dev/null reads as \"\" (r=%d)", r);
        data = mfree(data);

        /* A file that reports size 0 but has contents (procfs) is read all the same. */
        r = read_full_file("/proc/self/status", &data, &size);
        ok(r == 0 && size > 0 && strstr(data, "Pid:"), "/proc/self/status (st_size 0) is read (r=%d, size=%zu)",
           r, size);
        data = mfree(data);

        /* Errors are negative errnos, the outputs untouched. */
        size = 12345;
        r = read_full_file(dir, &data, &size);
        ok(r == -EISDIR && !data && size == 12345, "a directory is -EISDIR (r=%d)", r);
        snprintf(path, sizeof path, "%s/missing", dir);
        r = read_full_file(path, &data, &size);
        ok(r == -ENOENT && !data, "a missing file is -ENOENT (r=%d)", r);

        /* Only regular files (and /dev/null) are read: a FIFO must neither block nor be read
         * (alarm() turns a hang into a failure), nor a device, and the size is bounded. */
        {
                char fifo[64], link[64], buf[64];

                snprintf(fifo, sizeof fifo, "%s/fifo", dir);
                snprintf(link, sizeof link, "%s/link.conf", dir);
                ok(mkfifo(fifo, 0600) == 0, "mkfifo");
                alarm(10);
                r = read_full_file(fifo, &data, &size);
                ok(r == -EBADFD && !data, "a FIFO is -EBADFD, at once (r=%d)", r);
                ok(symlink(fifo, link) == 0, "symlink to the FIFO");
                r = read_full_file(link, &data, &size);
                ok(r == -EBADFD && !data, "a symlink to a FIFO is -EBADFD (r=%d)", r);
                (void) unlink(link);
                ok(symlink("/dev/zero", link) == 0, "symlink to /dev/zero");
                r = read_full_file(link, &data, &size);
                ok(r == -EBADFD && !data, "a symlink to /dev/zero is -EBADFD, not read (r=%d)", r);
                r = read_full_file("/dev/zero", &data, &size);
                ok(r == -EBADFD && !data, "/dev/zero is -EBADFD (r=%d)", r);
                alarm(0);
                ok(streq(read_full_file_strerror(-EBADFD, buf, sizeof buf), "not a regular file") &&
                   streq(read_full_file_strerror(-EISDIR, buf, sizeof buf), "not a regular file"),
                   "-EBADFD, -EISDIR: \"not a regular file\"");
                (void) unlink(link);
                (void) unlink(fifo);

                /* Sparse files: READ_FULL_FILE_MAX bytes are read, one more is refused unread. */
                FILE *f = fopen(path, "we");
                ok(f && ftruncate(fileno(f), READ_FULL_FILE_MAX) == 0, "a file of READ_FULL_FILE_MAX bytes");
                fclose(f);
                r = read_full_file(path, &data, &size);
                ok(r == 0 && size == READ_FULL_FILE_MAX, "a file of %u bytes is read (r=%d)", READ_FULL_FILE_MAX, r);
                data = mfree(data);
                ok(truncate(path, (off_t) READ_FULL_FILE_MAX + 1) == 0, "one byte more");
                r = read_full_file(path, &data, &size);
                ok(r == -EFBIG && !data, "a file of %u bytes is -EFBIG (r=%d)", READ_FULL_FILE_MAX + 1, r);
                ok(streq(read_full_file_strerror(-EFBIG, buf, sizeof buf), "larger than 4194304 bytes"),
                   "-EFBIG: '%s'", read_full_file_strerror(-EFBIG, buf, sizeof buf));
                ok(streq(read_full_file_strerror(-ENOENT, buf, sizeof buf), strerror(ENOENT)), "other errors: strerror()");
                (void) unlink(path);
        }

        test_file_cache(dir);

        snprintf(path, sizeof path, "%s/f", dir);
        (void) unlink(path);
        (void) rmdir(dir);
        return tap_done();
}
