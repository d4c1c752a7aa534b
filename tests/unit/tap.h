/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A minimal TAP producer: ok(cond, "what") prints "ok N - what" or "not ok N - what";
 * tap_done() prints the plan and returns the exit status. */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused))
static bool ok(bool cond, const char *format, ...) {
        va_list ap;

        tap_n++;
        if (!cond)
                tap_failed++;
        printf("%sok %u - ", cond ? "" : "not ", tap_n);
        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        return cond;
}

/* A diagnostic: every line of it a TAP comment, so that a multi-line text (a command's output)
 * cannot be taken for a test line. */
__attribute__((format(printf, 1, 2), unused))
static void diag(const char *format, ...) {
        char *text = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&text, format, ap);
        va_end(ap);
        if (r < 0) {
                printf("# (out of memory)\n");
                return;
        }
        for (const char *l = text;;) {
                size_t n = strcspn(l, "\n");

                printf("# %.*s\n", (int) n, l);
                if (!l[n] || !l[n + 1])
                        break;
                l += n + 1;
        }
        free(text);
}

__attribute__((unused))
static int tap_done(void) {
        printf("1..%u\n", tap_n);
        return tap_failed > 0;
}
