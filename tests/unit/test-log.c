/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* $SYSTEMD_LOG_LEVEL: the names and numbers systemd takes, and nothing else. */

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "tap.h"

static void test_from_string(void) {
        static const struct {
                const char *s;
                int level;
        } cases[] = {
                { "emerg", LOG_EMERG }, { "alert", LOG_ALERT }, { "crit", LOG_CRIT }, { "err", LOG_ERR },
                { "warning", LOG_WARNING }, { "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
                { "0", LOG_EMERG }, { "3", LOG_ERR }, { "7", LOG_DEBUG }, { "07", LOG_DEBUG }, { "+4", LOG_WARNING },
                { " 6", LOG_INFO },
                { "", -EINVAL }, { " ", -EINVAL }, { "+", -EINVAL }, { "8", -EINVAL }, { "-1", -EINVAL },
                { "10", -EINVAL }, { "DEBUG", -EINVAL }, { "error", -EINVAL }, { "warn", -EINVAL },
                { "debug ", -EINVAL }, { "3x", -EINVAL }, { "99999999999999999999", -EINVAL },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                int l = log_level_from_string(cases[i].s);
                ok(l == cases[i].level, "log_level_from_string(\"%s\") = %d (want %d)", cases[i].s, l, cases[i].level);
        }
        ok(log_level_from_string(NULL) == -EINVAL, "log_level_from_string(NULL) = -EINVAL");
}

static void test_parse_environment(void) {
        log_set_max_level(LOG_INFO);
        setenv("SYSTEMD_LOG_LEVEL", "debug", 1);
        log_parse_environment();
        ok(log_get_max_level() == LOG_DEBUG, "SYSTEMD_LOG_LEVEL=debug sets LOG_DEBUG");

        setenv("SYSTEMD_LOG_LEVEL", "3", 1);
        log_parse_environment();
        ok(log_get_max_level() == LOG_ERR, "SYSTEMD_LOG_LEVEL=3 sets LOG_ERR");

        /* A bad value leaves the level as it was (and says so, at warning: not shown at err). */
        setenv("SYSTEMD_LOG_LEVEL", "loud", 1);
        log_parse_environment();
        ok(log_get_max_level() == LOG_ERR, "SYSTEMD_LOG_LEVEL=loud leaves the level alone");

        unsetenv("SYSTEMD_LOG_LEVEL");
        log_set_max_level(LOG_NOTICE);
        log_parse_environment();
        ok(log_get_max_level() == LOG_NOTICE, "without SYSTEMD_LOG_LEVEL the level is left alone");
}

int main(void) {
        test_from_string();
        test_parse_environment();
        return tap_done();
}
