/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "unit-file.h"

#define WHITESPACE " \t\n\r"

static char *strip(char *s) {
        char *e;

        s += strspn(s, WHITESPACE);
        e = s + strlen(s);
        while (e > s && strchr(WHITESPACE, e[-1]))
                e--;
        *e = 0;
        return s;
}

/* A line continues when it ends in an unescaped backslash ("\\" at the end does not continue),
 * as in systemd's config_parse(). */
static bool line_continues(const char *l) {
        bool escaped = false;

        for (const char *p = l; *p; p++)
                escaped = escaped ? false : *p == '\\';
        return escaped;
}

static int parse_line(const char *filename, unsigned line, char **section, char *l,
                      unit_file_assignment_t cb, void *userdata) {
        char *eq, *key, *value;

        if (*l == '[') {
                size_t n = strlen(l);
                char *s;

                if (n < 2 || l[n - 1] != ']') {
                        log_warning("%s:%u: invalid section header '%s', ignoring.", filename, line, l);
                        return 0;
                }
                s = strndup(l + 1, n - 2);
                if (!s)
                        return log_oom();
                free(*section);
                *section = s;
                return 0;
        }

        if (!*section) {
                log_warning("%s:%u: assignment outside of a section, ignoring.", filename, line);
                return 0;
        }

        eq = strchr(l, '=');
        if (!eq) {
                log_warning("%s:%u: missing '=', ignoring line.", filename, line);
                return 0;
        }
        *eq = 0;
        key = strip(l);
        value = strip(eq + 1);
        if (!*key) {
                log_warning("%s:%u: missing key name before '=', ignoring line.", filename, line);
                return 0;
        }

        return cb(filename, line, *section, key, value, userdata);
}

int unit_file_parse(const char *filename, FILE *f, unit_file_assignment_t cb, void *userdata) {
        _cleanup_free_ char *contents = NULL;   /* declared before owned: freed after it is closed */
        _cleanup_fclose_ FILE *owned = NULL;
        _cleanup_free_ char *buf = NULL, *continuation = NULL, *section = NULL;
        size_t bufsize = 0, cont_len = 0;
        unsigned line = 0, cont_line = 0;
        int r;

        assert(filename);
        assert(cb);

        if (!f) {
                size_t size;

                /* Read as the generator reads unit files, then parse from memory. */
                r = read_full_file(filename, &contents, &size);
                if (r < 0)
                        return r;
                if (size == 0)
                        return 0;
                owned = fmemopen(contents, size, "r");
                if (!owned)
                        return -errno;
                f = owned;
        }

        for (;;) {
                ssize_t n;
                char *l;

                errno = 0;
                n = getline(&buf, &bufsize, f);
                if (n < 0) {
                        if (ferror(f))
                                return errno > 0 ? -errno : -EIO;
                        break;
                }
                line++;

                /* Drop the line break; a UTF-8 byte order mark on the first line is ignored. */
                if (n > 0 && buf[n - 1] == '\n')
                        buf[--n] = 0;
                if (n > 0 && buf[n - 1] == '\r')
                        buf[--n] = 0;
                if (strlen(buf) != (size_t) n) {
                        log_warning("%s:%u: line contains a NUL byte, ignoring.", filename, line);
                        continue;
                }
                l = buf;
                if (line == 1 && strncmp(l, "\xef\xbb\xbf", 3) == 0)
                        l += 3;

                /* Comment lines are skipped, also in the middle of a continuation. */
                if (strchr("#;", l[strspn(l, WHITESPACE)]) && l[strspn(l, WHITESPACE)])
                        continue;

                /* A continuation keeps the leading whitespace of its lines, as systemd's does. */
                if (!continuation)
                        l += strspn(l, WHITESPACE);

                if (continuation || line_continues(l)) {
                        bool more = line_continues(l);
                        size_t k = strlen(l);
                        char *c;

                        if (!continuation)
                                cont_line = line;

                        c = realloc(continuation, cont_len + k + 1);
                        if (!c)
                                return log_oom();
                        continuation = c;
                        memcpy(continuation + cont_len, l, k + 1);
                        cont_len += k;

                        if (more) {
                                /* systemd replaces the backslash with a space. */
                                continuation[cont_len - 1] = ' ';
                                continue;
                        }

                        r = parse_line(filename, cont_line, &section, strip(continuation), cb, userdata);
                        continuation = mfree(continuation);
                        cont_len = 0;
                        if (r < 0)
                                return r;
                        continue;
                }

                l = strip(l);
                if (!*l)
                        continue;

                r = parse_line(filename, line, &section, l, cb, userdata);
                if (r < 0)
                        return r;
        }

        /* A file ending in a backslash: what was collected is still an assignment. */
        if (continuation) {
                r = parse_line(filename, cont_line, &section, strip(continuation), cb, userdata);
                if (r < 0)
                        return r;
        }

        return 0;
}
