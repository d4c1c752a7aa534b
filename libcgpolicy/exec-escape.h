/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Escape one argument for a systemd exec line (ExecStart=, ExecStartPre=, …), so that
 * systemd's parser (specifier expansion, $-variable expansion, C unquoting) gives back
 * exactly s:
 *   '%' → "%%", '$' → "$$";
 *   the argument is quoted with '"' when it is empty or contains whitespace, a quote, a
 *   backslash, ';' or a control character; inside the quotes '"' and '\' are written
 *   "\"" and "\\", control characters as "\n", "\t", "\xNN".
 * Returns 0 and a string to free in *ret, or -ENOMEM. */
int exec_escape_arg(const char *s, char **ret);

/* s for a log message: control characters (and DEL) as "\xNN", '\' as "\\", so that a name that
 * holds a line break cannot start a forged log line. Returns 0 and a string to free in *ret,
 * or -ENOMEM. */
int escape_cc(const char *s, char **ret);
