/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stddef.h>

/* The verbs (subcommands) of a tool in a table, dispatched as systemd's verbs.c does: each verb
 * says how many arguments it takes, so that a count out of bounds is a usage error before the
 * verb runs. Argument counts include the verb itself, as argc does. */

#define VERB_ANY UINT_MAX

typedef struct Verb {
        const char *name;
        unsigned min_args;
        unsigned max_args;              /* VERB_ANY: no limit */
        const char *arity;              /* the error when the count is out of bounds:
                                         * "'NAME' ARITY.", e.g. "takes no arguments" */
        /* The verb's own options into userdata: 0, -EINVAL for a bad command line, another
         * negative errno for a failure; logged. NULL: nothing to parse. */
        int (*parse)(int argc, char **argv, void *userdata);
        int (*run)(void *userdata);
} Verb;

/* Finds the verb argv[0] names in verbs[], checks its argument count and calls its parse().
 * Returns 0 and the verb in *ret, or -EINVAL (logged) for an unknown verb or a count out of
 * bounds, or what parse() returned. */
int verbs_parse(int argc, char **argv, const Verb verbs[], size_t n_verbs, void *userdata, const Verb **ret);
