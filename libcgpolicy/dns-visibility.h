/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "policy.h"

/* Name rules (systemd.cgpolicy(5), "NAME RULES") allow what the kernel saw the unit's own
 * processes look up over UDP. Whether the host lets it see them:
 *
 *   int dns_lookups_visible(const char *root, char **ret_why);
 *       root: "" or NULL for "/", else a directory the paths below are read under (tests).
 *       Returns 1 when a unit's glibc lookups are its own UDP queries (nsswitch.conf's hosts
 *       line has "dns" before any "resolve", and nscd's socket, /run/nscd/socket, is absent),
 *       0 when they are not (*ret_why, to free, says why: "hosts: resolve in
 *       /etc/nsswitch.conf …", "nscd is running …"), -ENOMEM.
 *
 *   bool policy_names_resolver_reachable(const Policy *p);
 *       Can the unit send a DNS query at all: a connect allow rule (not a name) that matches
 *       udp port 53, or no connect deny rule (then everything is allowed)? When not, no lookup
 *       is ever seen and the name rules allow nothing. */

int dns_lookups_visible(const char *root, char **ret_why);
bool policy_names_resolver_reachable(const Policy *p);

/* Log, for a unit with name rules, why they allow nothing when they cannot (the journal of the
 * unit, at its start: "cgpolicy apply"): the same reasons as "cgpolicy check" gives. */
void policy_names_log_visibility(const Policy *p, const char *unit);
