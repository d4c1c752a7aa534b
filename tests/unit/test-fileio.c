/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* read_full_file(): what the generator and the unit-file reader see of a file; FileCache. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        ok(r == 0 && !data && size == 0, "an unreadable file gives NULL, 0 (r=%d)", r);
        r = file_cache_get(c, path, &data, &size);
        ok(r == 0 && !data && size == 0, "… also when asked again (r=%d)", r);

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

        test_file_cache(dir);

        snprintf(path, sizeof path, "%s/f", dir);
        (void) unlink(path);
        (void) rmdir(dir);
        return tap_done();
}
