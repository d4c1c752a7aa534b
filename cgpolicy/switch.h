/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "bpf-maps.h"
#include "policy.h"
#include "target.h"

/* Put a policy in force for a target's cgroup, whatever was in force before: what "apply",
 * "reload", "block" and "unblock" do (under the lock of m).
 *
 * p is the policy of the unit's helper line; NULL when the unit has no helper line any more (all
 * its keys were removed): its programs stay attached until it stops, and an explicit
 * allow-everything entry is put in force (CGP_F_OPEN for both directions; socket creation is left
 * to a policed ancestor that decides it, else allowed), shown by status as "keys removed". A
 * cgroup that has no entry and p NULL is left alone (returns 0).
 *
 * A unit in learn mode (p's mode, or "cgpolicy learn --start": runtime_is_learning()) gets its
 * policy with CGP_F_LEARN (nothing refused, every request recorded for its learner, learn.h),
 * every program attached and no fast-set words.
 *
 * A unit blocked by "cgpolicy block" (runtime_is_blocked()) gets a deny-all policy in force
 * instead (bind-deny=any, connect-deny=any, no socket kind; enforce even in audit mode) and every
 * bind and connect program attached; the runtime record keeps p, which "unblock" restores.
 *
 * The switch is atomic for the programs: see the comment in switch.c. The previous policy's tag is
 * retired (maps_retire_policy()): its entries go at maps_reclaim(). Returns 0, or a negative
 * errno (logged). */
int policy_switch(Maps *m, const Target *t, const Policy *p);

/* Put the policy of the cgroup's runtime record (what apply or reload last put in force) in force
 * again, as policy_switch() does with it: after "unblock", "learn --start" and "--stop". */
int policy_switch_recorded(Maps *m, const Target *t);
