/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "policy.h"

/* The policy part of the helper's command line (HACKING.md, "The helper's command line").
 * The generator writes it with policy_to_args(), "cgpolicy apply" reads it back with
 * policy_from_args()/policy_arg_parse(), so both sides agree by construction.
 *
 *   int policy_to_args(const Policy *p, char ***ret);
 *       A NULL-terminated strv to free with strv_free(), unescaped:
 *       - p->error set: exactly one element, "--error=MESSAGE";
 *       - else "--mode=audit" first when in audit mode, then "--socket-allow=KIND" for each
 *         kind of p->socket_allow in the order ping, raw, udplite, sctp, other (never "any"),
 *         then "--on-denial=ACTION" unless none, "--on-denial-threshold=N/INTERVAL" unless
 *         the default (canonical: policy_on_denial_threshold_to_string()),
 *         then "--bind-allow=RULE"…,
 *         "--bind-deny=RULE"…, "--connect-allow=RULE"…, "--connect-deny=RULE"…, each list in
 *         assignment order, each rule in its canonical spelling (policy_rule_to_string()).
 *       CPU/memory values are not part of it (they are CPUQuota=/MemoryMax= in the drop-in),
 *       nor is the seal: the generator adds "--seal" for a sealed service itself.
 *       Returns 0 or -ENOMEM.
 *
 *   int policy_arg_parse(Policy *p, const char *arg, char **ret_reason);
 *       One argument: "--mode=enforce|audit|learn", "--error=MESSAGE", "--socket-allow=KIND" (a kind
 *       of policy_socket_kind_from_string(), "any" included; repeated options add up),
 *       "--on-denial=none|freeze|stop|kill", "--on-denial-threshold=N/INTERVAL",
 *       "--bind-allow=RULE",
 *       "--bind-deny=RULE", "--connect-allow=RULE", "--connect-deny=RULE". Returns 1 when
 *       arg was one of those and was applied to p, 0 when arg is not a policy option (p is
 *       untouched), -EINVAL when the value is bad (*ret_reason, to free, says why, e.g.
 *       "--bind-allow=tcp:0: port 0 is out of range 1..65535"), -ENOMEM.
 *
 *   int policy_from_args(char * const *args, size_t n, Policy *ret, char **ret_reason);
 *       policy_init(ret) then policy_arg_parse() of every argument; an argument that is not
 *       a policy option is an error (-EINVAL, "unknown argument '…'"). On error ret is left
 *       initialized-empty (policy_done() is safe either way).
 */

int policy_to_args(const Policy *p, char ***ret);
int policy_arg_parse(Policy *p, const char *arg, char **ret_reason);
int policy_from_args(char * const *args, size_t n, Policy *ret, char **ret_reason);
