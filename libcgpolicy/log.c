/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "macro.h"

static int max_level = LOG_INFO;
static int prefix_priority = -1; /* -1: detect */
static const char *program_name;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_prefix_priority(int on) {
        prefix_priority = on;
}

void log_set_program_name(const char *name) {
        program_name = name;
}

static const char *const level_table[] = {
        [LOG_EMERG] = "emerg",
        [LOG_ALERT] = "alert",
        [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
        unsigned long v = 0;
        const char *p;

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_table); i++)
                if (streq(s, level_table[i]))
                        return (int) i;

        /* A number, as systemd's safe_atou() takes it: leading whitespace, an optional '+',
         * decimal digits. */
        p = s + strspn(s, " \t\n\r");
        if (*p == '+')
                p++;
        if (!*p)
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long) (*p - '0');
                if (v > LOG_DEBUG)
                        return -EINVAL;
        }
        return (int) v;
}

void log_parse_environment(void) {
        const char *e;

        e = getenv("SYSTEMD_LOG_LEVEL");
        if (e) {
                int l = log_level_from_string(e);

                if (l < 0)
                        log_warning("Failed to parse log level '%s', ignoring.", e);
                else
                        log_set_max_level(l);
        }
}

/* $JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected us to. */
static int stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return 0;
        if (fstat(STDERR_FILENO, &st) < 0)
                return 0;
        return st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
}

int log_internal(int level, int error, const char *format, ...) {
        int saved = errno;
        va_list ap;

        if (error < 0)
                error = -error;

        if (level <= max_level) {
                if (prefix_priority < 0)
                        prefix_priority = stderr_is_journal();

                /* Build the whole line first so that it reaches stderr in one write. */
                char buf[4096];
                size_t n = 0;

                if (prefix_priority)
                        n += (size_t) snprintf(buf, sizeof buf, "<%i>", level);
                if (program_name && !prefix_priority)
                        n += (size_t) snprintf(buf + n, sizeof buf - n, "%s: ", program_name);

                errno = error;
                va_start(ap, format);
                if (n < sizeof buf)
                        n += (size_t) vsnprintf(buf + n, sizeof buf - n, format, ap);
                va_end(ap);
                if (n >= sizeof buf - 1)
                        n = sizeof buf - 2;
                buf[n++] = '\n';
                (void) fwrite(buf, 1, n, stderr);
                (void) fflush(stderr);
        }

        errno = saved;
        return error > 0 ? -error : 0;
}
