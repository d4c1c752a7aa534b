/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "exec-escape.h"

int exec_escape_arg(const char *s, char **ret) {
        bool quote;
        char *out, *o;

        assert(s);
        assert(ret);

        quote = !*s;
        for (const char *p = s; *p; p++)
                if (strchr(" \t\n\r\"'\\;", *p) || (unsigned char) *p < 0x20 || *p == 0x7f)
                        quote = true;

        /* Worst case: every byte becomes "\xNN" (4 bytes), plus two quotes and the NUL. */
        out = malloc(strlen(s) * 4 + 3);
        if (!out)
                return -ENOMEM;
        o = out;

        if (quote)
                *o++ = '"';
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;

                if (c == '%' || c == '$') {
                        *o++ = (char) c;
                        *o++ = (char) c;
                } else if (c == '"' || c == '\\') {
                        *o++ = '\\';
                        *o++ = (char) c;
                } else if (c == '\n') {
                        *o++ = '\\';
                        *o++ = 'n';
                } else if (c == '\t') {
                        *o++ = '\\';
                        *o++ = 't';
                } else if (c < 0x20 || c == 0x7f) {
                        static const char hex[] = "0123456789abcdef";

                        *o++ = '\\';
                        *o++ = 'x';
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 15];
                } else
                        *o++ = (char) c;
        }
        if (quote)
                *o++ = '"';
        *o = 0;

        *ret = out;
        return 0;
}

int escape_cc(const char *s, char **ret) {
        static const char hex[] = "0123456789abcdef";
        char *out, *o;

        assert(s);
        assert(ret);

        out = malloc(strlen(s) * 4 + 1);
        if (!out)
                return -ENOMEM;
        o = out;
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;

                if (c < 0x20 || c == 0x7f) {
                        *o++ = '\\';
                        *o++ = 'x';
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 15];
                } else if (c == '\\') {
                        *o++ = '\\';
                        *o++ = '\\';
                } else
                        *o++ = (char) c;
        }
        *o = 0;

        *ret = out;
        return 0;
}
