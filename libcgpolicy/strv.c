/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

int strv_push(char ***l, size_t *n, char *s) {
        char **x;

        assert(l);
        assert(n);

        if (!s)
                return -ENOMEM;
        x = reallocarray(*l, *n + 2, sizeof(char *));
        if (!x) {
                free(s);
                return -ENOMEM;
        }
        *l = x;
        x[(*n)++] = s;
        x[*n] = NULL;
        return 0;
}

int strv_extend(char ***l, size_t *n, const char *s) {
        assert(s);

        return strv_push(l, n, strdup(s));
}
