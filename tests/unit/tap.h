/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A minimal TAP producer: ok(cond, "what") prints "ok N - what" or "not ok N - what";
 * tap_done() prints the plan and returns the exit status. */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

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

__attribute__((format(printf, 1, 2), unused))
static void diag(const char *format, ...) {
        va_list ap;

        printf("# ");
        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        printf("\n");
}

__attribute__((unused))
static int tap_done(void) {
        printf("1..%u\n", tap_n);
        return tap_failed > 0;
}
