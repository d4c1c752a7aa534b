/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>

#include "log.h"
#include "macro.h"
#include "verbs.h"

static const Verb *verbs_find(const char *name, const Verb verbs[], size_t n_verbs) {
        for (size_t i = 0; i < n_verbs; i++)
                if (streq(name, verbs[i].name))
                        return &verbs[i];
        return NULL;
}

int verbs_parse(int argc, char **argv, const Verb verbs[], size_t n_verbs, void *userdata, const Verb **ret) {
        const Verb *verb;
        int r;

        assert(argc >= 1);
        assert(argv);
        assert(verbs);
        assert(ret);

        verb = verbs_find(argv[0], verbs, n_verbs);
        if (!verb)
                return log_error_errno(EINVAL, "Unknown command '%s'. See '%s --help'.",
                                       argv[0], program_invocation_short_name);

        if ((unsigned) argc < verb->min_args ||
            (verb->max_args != VERB_ANY && (unsigned) argc > verb->max_args)) {
                assert(verb->arity);    /* a verb with bounds says what it takes */
                return log_error_errno(EINVAL, "'%s' %s.", verb->name, verb->arity);
        }

        if (verb->parse) {
                r = verb->parse(argc, argv, userdata);
                if (r < 0)
                        return r;
        }

        *ret = verb;
        return 0;
}
