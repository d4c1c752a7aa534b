/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

/* Logging as systemd's small tools do it: to stderr, with a "<N>" priority prefix when
 * stderr is connected to the journal ($JOURNAL_STREAM matches stderr) or to the kernel
 * log (generators: systemd routes their stderr to /dev/kmsg, which understands <N>).
 * Functions return -abs(error) so that "return log_error_errno(r, ...)" reads naturally. */

void log_set_max_level(int level);
int log_get_max_level(void);
/* Force or disable the "<N>" prefix; by default it is detected from $JOURNAL_STREAM. */
void log_set_prefix_priority(int on);
void log_set_program_name(const char *name);

/* "emerg" … "debug" or 0 … 7 (also with leading whitespace or a '+', as systemd takes them)
 * → LOG_EMERG … LOG_DEBUG; -EINVAL otherwise. */
int log_level_from_string(const char *s);

/* Apply $SYSTEMD_LOG_LEVEL, as systemd's tools do; a value that is not a level is ignored
 * with a warning. */
void log_parse_environment(void);

int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_full(level, ...) (void) log_internal((level), 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...)    log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
