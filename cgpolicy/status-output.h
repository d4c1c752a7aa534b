/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "status.h"

/* The three output formats of "cgpolicy status": text for people, JSON (cgpolicy(8), JSON
 * OUTPUT) and the Prometheus text exposition format (cgpolicy(8), PROMETHEUS METRICS). */

typedef enum StatusFormat {
        STATUS_FORMAT_TEXT,
        STATUS_FORMAT_JSON,
        STATUS_FORMAT_PROMETHEUS,
        _STATUS_FORMAT_MAX,
} StatusFormat;

/* Print s to f. Returns 0 or a negative errno (logged); write errors are left to the caller
 * (ferror(f)). */
int status_print(FILE *f, const Status *s, StatusFormat format);

/* Write s to the file path atomically, as node_exporter's textfile collector needs. Errors are
 * logged. */
int status_write_file(const char *path, const Status *s, StatusFormat format);
