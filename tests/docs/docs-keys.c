/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Prints, one per line and sorted, every X-CgPolicy key the policy parser accepts, so that
 * test-docs-complete.sh can check that systemd.cgpolicy(5) documents each of them. The list
 * is taken from the parser itself, not written down here:
 *
 *   - the parser's error for an unknown key lists the known ones ("unknown key (known: A, B)");
 *   - every further candidate given on the command line (the test passes every X-CgPolicy…
 *     word found in libcgpolicy/'s sources) is tried too.
 *
 * A key counts as accepted when an empty assignment of it (which every key allows: it resets
 * or unsets) leaves no error. Exits 1 when a key the parser names as known is refused, or
 * when no key was found at all. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "policy.h"
#include "strv.h"

static bool key_accepted(const char *key) {
        const PolicySource src = { .filename = "docs-keys", .line = 1, .key = key };
        Policy p;
        bool ok;

        policy_init(&p);
        ok = policy_assign(&p, &src, "") >= 0 && !p.error;
        policy_done(&p);
        return ok;
}

static int cmp(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

static int add(char ***keys, size_t *n, const char *k, size_t len) {
        _cleanup_free_ char *s = strndup(k, len);

        if (!s)
                return -1;
        for (size_t i = 0; i < *n; i++)
                if (streq((*keys)[i], s))
                        return 0;
        return strv_push(keys, n, TAKE_PTR(s)) < 0 ? -1 : 0;
}

int main(int argc, char *argv[]) {
        const PolicySource probe = { .filename = "docs-keys", .line = 1, .key = "X-CgPolicyNoSuchKeyForDocs" };
        char **keys = NULL;
        size_t n = 0;
        int ret = EXIT_SUCCESS;
        Policy p;

        log_set_max_level(LOG_CRIT);    /* the probes log errors on purpose */

        policy_init(&p);
        (void) policy_assign(&p, &probe, "");
        if (!p.error) {
                fprintf(stderr, "docs-keys: the parser accepted the unknown key %s\n", probe.key);
                return EXIT_FAILURE;
        }

        /* "…: unknown key (known: X-CgPolicyA, X-CgPolicyB)" */
        const char *k = strstr(p.error, "known: ");
        if (k) {
                k += strlen("known: ");
                for (;;) {
                        size_t len = strcspn(k, ", )");

                        if (len == 0)
                                break;
                        if (!key_accepted(strndupa(k, len))) {
                                fprintf(stderr, "docs-keys: the parser lists %.*s as known but refuses it\n",
                                        (int) len, k);
                                ret = EXIT_FAILURE;
                        } else if (add(&keys, &n, k, len) < 0)
                                return EXIT_FAILURE;
                        k += len;
                        k += strspn(k, ", ");
                        if (*k == ')' || !*k)
                                break;
                }
        }
        policy_done(&p);

        for (int i = 1; i < argc; i++)
                if (key_accepted(argv[i]) && add(&keys, &n, argv[i], strlen(argv[i])) < 0)
                        return EXIT_FAILURE;

        if (n == 0) {
                fprintf(stderr, "docs-keys: found no accepted key\n");
                return EXIT_FAILURE;
        }

        qsort(keys, n, sizeof(char *), cmp);
        for (size_t i = 0; i < n; i++) {
                puts(keys[i]);
                free(keys[i]);
        }
        free(keys);
        return ret;
}
