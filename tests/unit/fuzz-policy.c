/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the one parser: the input is read as a unit file; every X-CgPolicy
 * assignment goes through policy_assign(), every rule that parses must print to a canonical
 * spelling that parses back to the same rule, and the policy must survive the helper's
 * argv round trip unchanged. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "log.h"
#include "macro.h"
#include "policy-args.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rules(const Policy *p) {
        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                for (int a = 0; a < _POLICY_ACTION_MAX; a++)
                        for (size_t i = 0; i < p->rules[d][a].n; i++) {
                                const PolicyRule *r = &p->rules[d][a].rules[i];
                                _cleanup_free_ char *s = NULL;
                                PolicyRule back;

                                if (policy_rule_to_string(r, &s) < 0)
                                        abort();
                                if (policy_rule_from_string(s, &back, NULL) < 0)
                                        abort();
                                if (memcmp(&back, r, sizeof back) != 0)
                                        abort();
                        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        UnitPolicy u;
        FILE *f;

        log_set_max_level(LOG_CRIT);
        if (size == 0)
                return 0;

        f = fmemopen((void *) data, size, "r");
        if (!f)
                return 0;

        unit_policy_init(&u, size % 2 ? UNIT_KIND_SERVICE : UNIT_KIND_UNKNOWN);
        (void) unit_policy_load_file(&u, "fuzz.service", f);
        fclose(f);

        check_rules(&u.policy);

        /* Round trip through the helper's command line. */
        _cleanup_strv_free_ char **args = NULL;
        if (policy_to_args(&u.policy, &args) >= 0) {
                Policy q;

                if (policy_from_args(args, strv_length(args), &q, NULL) < 0)
                        abort();
                /* CPU/memory and the seal are not part of the argv. */
                if (!u.policy.error) {
                        q.cpu_quota = u.policy.cpu_quota ? strdup(u.policy.cpu_quota) : NULL;
                        q.memory_max = u.policy.memory_max ? strdup(u.policy.memory_max) : NULL;
                        q.mode_set = u.policy.mode_set;
                        if (q.seal != -1 || (u.policy.socket_allow & ~(unsigned) POLICY_SOCKET_ALL))
                                abort();
                        q.seal = u.policy.seal;
                        if (q.mode != u.policy.mode && u.policy.mode == POLICY_MODE_ENFORCE)
                                abort();
                        if (!policy_equal(&u.policy, &q))
                                abort();
                }
                policy_done(&q);
        }

        unit_policy_done(&u);
        return 0;
}
