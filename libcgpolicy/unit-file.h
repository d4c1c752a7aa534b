/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* A reader for systemd unit-file syntax (systemd.syntax(7)): [Section] headers,
 * lines starting with '#' or ';' are comments, a trailing backslash joins the next
 * line (comment lines inside a continuation are skipped, as systemd does), keys and
 * values are stripped of surrounding whitespace. Every assignment is reported with the
 * line number of the line the assignment *starts* on. */

typedef int (*unit_file_assignment_t)(
                const char *filename,  /* as given to unit_file_parse() */
                unsigned line,
                const char *section,   /* without brackets */
                const char *key,
                const char *value,     /* never NULL, may be "" */
                void *userdata);

/* Reads f (or opens filename when f is NULL) and calls cb for every assignment. A syntax
 * error (a line outside any section, a line without '=', an unterminated section header)
 * is logged as "FILE:LINE: what is wrong" and skipped, like systemd does. Returns 0, a
 * negative errno when the file cannot be read, or the first negative value cb returned
 * (which stops parsing). */
int unit_file_parse(const char *filename, FILE *f, unit_file_assignment_t cb, void *userdata);
