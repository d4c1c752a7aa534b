/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "policy-args.h"
#include "strv.h"

static const struct {
        const char *option;
        PolicyDirection d;
        PolicyAction a;
} options[] = {
        { "--bind-allow=",    POLICY_BIND,    POLICY_ALLOW },
        { "--bind-deny=",     POLICY_BIND,    POLICY_DENY },
        { "--connect-allow=", POLICY_CONNECT, POLICY_ALLOW },
        { "--connect-deny=",  POLICY_CONNECT, POLICY_DENY },
};

static char *concat(const char *a, const char *b) {
        char *s;

        return asprintf(&s, "%s%s", a, b) < 0 ? NULL : s;
}

int policy_to_args(const Policy *p, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        int r;

        assert(p);
        assert(ret);

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        if (p->error) {
                r = strv_push(&l, &n, concat("--error=", p->error));
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(l);
                return 0;
        }

        if (p->mode != POLICY_MODE_ENFORCE) {
                r = strv_push(&l, &n, concat("--mode=", policy_mode_to_string(p->mode)));
                if (r < 0)
                        return r;
        }

        /* One option per kind, in the order of the bits (the canonical order). */
        for (unsigned bit = 1; bit & POLICY_SOCKET_ALL; bit <<= 1)
                if (p->socket_allow & bit) {
                        r = strv_push(&l, &n, concat("--socket-allow=", policy_socket_kind_to_string(bit)));
                        if (r < 0)
                                return r;
                }

        /* What cgpolicy-monitor.service does with a unit denied too often (it reads these from
         * the runtime record apply writes); the threshold only when it is not the default. */
        if (p->on_denial != POLICY_ON_DENIAL_NONE) {
                r = strv_push(&l, &n, concat("--on-denial=", policy_on_denial_to_string(p->on_denial)));
                if (r < 0)
                        return r;
        }
        if (p->on_denial_max != POLICY_ON_DENIAL_MAX_DEFAULT ||
            p->on_denial_interval_usec != POLICY_ON_DENIAL_INTERVAL_DEFAULT) {
                _cleanup_free_ char *t = NULL;

                r = policy_on_denial_threshold_to_string(p->on_denial_max, p->on_denial_interval_usec, &t);
                if (r < 0)
                        return r;
                r = strv_push(&l, &n, concat("--on-denial-threshold=", t));
                if (r < 0)
                        return r;
        }

        for (size_t o = 0; o < ELEMENTSOF(options); o++) {
                const PolicyRuleList *list = &p->rules[options[o].d][options[o].a];

                for (size_t i = 0; i < list->n; i++) {
                        _cleanup_free_ char *rule = NULL;

                        r = policy_rule_to_string(&list->rules[i], &rule);
                        if (r < 0)
                                return r;
                        r = strv_push(&l, &n, concat(options[o].option, rule));
                        if (r < 0)
                                return r;
                }
        }

        *ret = TAKE_PTR(l);
        return 0;
}

/* A bad argument: "ARG: WHY" into *ret_reason (when asked), -EINVAL; -ENOMEM without why. */
static int arg_invalid(const char *arg, const char *why, char **ret_reason) {
        if (!why)
                return -ENOMEM;
        if (ret_reason && asprintf(ret_reason, "%s: %s", arg, why) < 0)
                return -ENOMEM;
        return -EINVAL;
}

int policy_arg_parse(Policy *p, const char *arg, char **ret_reason) {
        const char *v;
        int r;

        assert(p);
        assert(arg);

        if (ret_reason)
                *ret_reason = NULL;

        if ((v = startswith(arg, "--mode="))) {
                r = policy_mode_from_string(v);
                if (r < 0) {
                        if (ret_reason && asprintf(ret_reason, "%s: 'enforce', 'audit' or 'learn' is expected", arg) < 0)
                                return -ENOMEM;
                        return -EINVAL;
                }
                p->mode = r;
                p->mode_set = true;
                return 1;
        }

        if (streq(arg, "--seal")) {
                /* The generator passes it for a sealed service: apply attaches what the seal
                 * needs beyond systemd's settings (the bpf() guard). */
                p->seal = 1;
                return 1;
        }

        if ((v = startswith(arg, "--socket-allow="))) {
                r = policy_socket_kind_from_string(v);
                if (r < 0) {
                        if (ret_reason && asprintf(ret_reason, "%s: 'ping', 'raw', 'udplite', 'sctp', 'other' or "
                                                   "'any' is expected", arg) < 0)
                                return -ENOMEM;
                        return -EINVAL;
                }
                p->socket_allow |= (unsigned) r;
                return 1;
        }

        if ((v = startswith(arg, "--on-denial="))) {
                r = policy_on_denial_from_string(v);
                if (r < 0) {
                        if (ret_reason && asprintf(ret_reason, "%s: 'none', 'freeze', 'stop' or 'kill' is expected",
                                                   arg) < 0)
                                return -ENOMEM;
                        return -EINVAL;
                }
                p->on_denial = r;
                return 1;
        }

        if ((v = startswith(arg, "--on-denial-threshold="))) {
                _cleanup_free_ char *why = NULL;

                r = policy_parse_on_denial_threshold(v, &p->on_denial_max, &p->on_denial_interval_usec, &why);
                if (r < 0)
                        return arg_invalid(arg, why, ret_reason);
                return 1;
        }

        if ((v = startswith(arg, "--error="))) {
                char *e = strdup(v);

                if (!e)
                        return -ENOMEM;
                free(p->error);
                p->error = e;
                return 1;
        }

        for (size_t o = 0; o < ELEMENTSOF(options); o++) {
                _cleanup_free_ char *why = NULL;
                PolicyRule rule;

                v = startswith(arg, options[o].option);
                if (!v)
                        continue;

                r = policy_rule_from_string(v, &rule, &why);
                if (r >= 0)
                        r = policy_rule_check_list(p, options[o].d, options[o].a, &rule, &why);
                if (r < 0)
                        return arg_invalid(arg, why, ret_reason);
                r = policy_add_rule(p, options[o].d, options[o].a, &rule);
                if (r < 0)
                        return r;
                return 1;
        }

        return 0;
}

int policy_from_args(char * const *args, size_t n, Policy *ret, char **ret_reason) {
        Policy p;
        int r;

        assert(args || n == 0);
        assert(ret);

        if (ret_reason)
                *ret_reason = NULL;
        policy_init(&p);

        for (size_t i = 0; i < n; i++) {
                r = policy_arg_parse(&p, args[i], ret_reason);
                if (r == 0) {
                        r = -EINVAL;
                        if (ret_reason && asprintf(ret_reason, "unknown argument '%s'", args[i]) < 0)
                                r = -ENOMEM;
                }
                if (r < 0) {
                        policy_done(&p);
                        policy_init(ret);
                        return r;
                }
        }

        *ret = p;
        return 0;
}
