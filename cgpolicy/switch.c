/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-util.h"
#include "learn.h"
#include "log.h"
#include "macro.h"
#include "policy-args.h"
#include "policy-compile.h"
#include "runtime.h"
#include "switch.h"

/* The directions (CGP_DIRS()) a policy has rules for. */
static unsigned policy_dirs(const Policy *p) {
        unsigned dirs = 0;

        for (int d = 0; d < _POLICY_DIRECTION_MAX; d++)
                if (policy_has_direction(p, d))
                        dirs |= CGP_DIRS(d == POLICY_BIND ? CGP_DIR_BIND : CGP_DIR_CONNECT);
        return dirs;
}

/* A direction whose rules a new policy for a cgroup drops while the old one had them (or was
 * open already) is open: its programs stay attached to the cgroup until the unit stops, and with
 * no rules for it they allow what they judge, rather than deny it as for a cgroup where nothing
 * was ever applied (fail closed). */
static uint32_t open_flags(const struct cgp_cgroup *old, uint32_t new_flags) {
        uint32_t f = 0;

        for (int d = 0; d < CGP_DIR_MAX; d++)
                if (!(new_flags & CGP_F_HAS_DIR(d)) && (old->flags & (CGP_F_HAS_DIR(d) | CGP_F_OPEN(d))))
                        f |= CGP_F_OPEN(d);
        return f;
}

/* Does a policed ancestor of cgroup (a path) decide socket creation? Then a unit whose keys were
 * removed leaves it to that ancestor, as after a restart. */
static bool ancestor_decides_sockets(Maps *m, const char *cgroup) {
        _cleanup_free_ char *path = strdup(cgroup);
        char *slash;

        if (!path)
                return false;
        while ((slash = strrchr(path, '/')) && slash != path) {
                _cleanup_free_ char *fs = NULL;
                struct cgp_cgroup v;
                uint64_t id;

                *slash = 0;
                if (cg_fs_path(path, &fs) < 0 || cg_fs_get_id(fs, &id) < 0)
                        continue;
                if (maps_get_cgroup(m, id, &v) > 0 && (v.flags & CGP_F_SOCKETS))
                        return true;
        }
        return false;
}

/* The policy a blocked unit has in force: every bind, connect and sendmsg refused (a bind to
 * port 0, an ephemeral port, is matched by no rule; the listen() or connect() that follows is
 * refused), no socket of a kind the other programs cannot judge. */
static int blocked_policy(Policy *ret) {
        static const char *const args[] = { "--bind-deny=any", "--connect-deny=any" };
        _cleanup_free_ char *reason = NULL;

        return policy_from_args((char * const *) args, ELEMENTSOF(args), ret, &reason);
}

/* The switch, and why no request is judged by a mix of the old and the new rules, or by none.
 * A program reads the cgroup's entry (one hash lookup: the tag, the slot, the flags, copied at
 * once; cgp_cgroups is not preallocated, so a replaced element is freed only after an RCU grace
 * period and the copy is never torn) and then looks up the entries of that tag, or it finds a
 * word of the cgroup in the fast set first. So:
 *   1. the new tag's entries are written in full while nothing refers to them;
 *   2. the cgroup's fast-set words are removed (a program that found one before judged by the
 *      old policy alone: the word says that the old policy allows);
 *   3. the entry is pointed at the new tag in one map update: a program reads the old entry or
 *      the new one, and the old tag's entries are all still there;
 *   4. the new policy's fast-set words are added (each says what the new policy allows);
 *   5. maps_wait_programs(): an RCU grace period, after which no program that read the old entry
 *      or an old word is still running (the programs are not sleepable);
 *   6. the old tag's entries are removed.
 * A request that starts after step 3 reads the new entry: when the command returns, every request
 * from then on is judged by the new policy alone. The old entries are removed only after step 5,
 * so a request is never judged with some of them gone (a missing deny entry would allow). An
 * allow that both policies have is allowed all along (steps 2–4 only send it the slow way for a
 * moment). Steps 5 and 6 are maps_reclaim(): apply does them before it exits (at maps_close());
 * reload, block and unblock leave them to a child process (maps_reclaim_in_background()) that
 * holds the lock until they are done, so that the command returns without waiting for the grace
 * period, and the next writer waits for it instead. */
int policy_switch(Maps *m, const Target *t, const Policy *p) {
        _cleanup_(compiled_policy_done) CompiledPolicy c = {};
        _cleanup_(policy_done) Policy blocked_p = {}, none = {};
        const Policy *enforce = p;
        struct cgp_cgroup old = {}, v;
        bool blocked, learning;
        uint32_t tag, slot;
        unsigned dirs = 0;
        int r, had;

        assert(m);
        assert(t);

        policy_init(&blocked_p);
        policy_init(&none);

        blocked = runtime_is_blocked(t->unit);
        if (blocked) {
                r = blocked_policy(&blocked_p);
                if (r < 0)
                        return log_error_errno(r, "Cannot make the policy of a blocked unit: %m");
                enforce = &blocked_p;
                log_notice("%s is blocked ('cgpolicy unblock %s' restores its policy): every bind, connect and "
                           "sendmsg is refused.", t->unit, t->unit);
        }

        /* Learning (X-CgPolicyMode=learn, or "cgpolicy learn --start"): the policy is compiled
         * as for enforce or audit mode (its rules tell what would be refused), and the entry gets
         * CGP_F_LEARN: nothing is refused, every request is recorded. A block wins. */
        learning = !blocked && p && (p->mode == POLICY_MODE_LEARN || runtime_is_learning(t->unit));

        had = maps_get_cgroup(m, t->id, &old);
        if (had < 0)
                return log_error_errno(had, "Cannot read the policy map: %m");
        if (!enforce && had == 0) {
                log_debug("%s: no keys and no policy in force for %s: nothing to do.", t->unit, t->cgroup);
                return 0;
        }

        /* A new tag, whose entries nobody can have left behind, and the cgroup's slot (its
         * counters go on) or a free one. */
        r = maps_new_tag(m, &tag);
        if (r < 0)
                return log_error_errno(r, "Cannot take a new policy tag: %m");
        if (had > 0)
                slot = old.slot;
        else {
                r = maps_alloc_slot(m, &slot);
                if (r < 0)
                        return log_error_errno(r, "Cannot allocate a slot for the policy (at most %u policed cgroups): %m",
                                               CGP_MAX_SLOTS - 1);
        }

        if (enforce) {
                r = policy_compile(enforce, tag, &c);
                if (r == -E2BIG)
                        return log_error_errno(r, "%s: the policy is too large for the maps.", t->unit);
                if (r < 0)
                        return log_error_errno(r, "Cannot compile the policy: %m");
                v = (struct cgp_cgroup) {
                        .policy = tag,
                        .slot = slot,
                        .flags = c.flags | (had > 0 ? open_flags(&old, c.flags) : 0) |
                                 (learning ? CGP_F_LEARN | CGP_F_SOCKETS : 0),
                        .sockets = c.sockets,
                };
        } else
                /* Keys removed: allow everything the attached programs judge, until the unit
                 * stops (a restart gives it no programs at all). */
                v = (struct cgp_cgroup) {
                        .policy = tag,
                        .slot = slot,
                        .flags = CGP_F_OPEN(CGP_DIR_BIND) | CGP_F_OPEN(CGP_DIR_CONNECT) |
                                 (ancestor_decides_sockets(m, t->cgroup) ? 0 : CGP_F_SOCKETS),
                        .sockets = CGP_SOCK_ALL,
                };

        /* The slot's learner (its records, by unit name) before the entry says CGP_F_LEARN; a
         * slot that learned no longer points at one. */
        if (learning) {
                r = learn_enable(m, t->unit, slot);
                if (r < 0)
                        return log_error_errno(r, "Cannot give %s its learning records (at most %u units learn): %m",
                                               t->unit, CGP_MAX_LEARNERS - 1);
        } else if (had > 0 && (old.flags & CGP_F_LEARN)) {
                r = learn_disable(m, slot);
                if (r < 0)
                        return log_error_errno(r, "Cannot stop the learning of %s: %m", t->unit);
        }

        /* Steps 1 to 4 (see above). */
        r = enforce ? maps_write_policy(m, &c) : 0;
        if (r >= 0)
                r = maps_fast_remove(m, t->id);
        if (r >= 0)
                r = maps_set_cgroup(m, t->id, &v);
        if (r < 0) {
                (void) maps_delete_policy(m, tag);
                return log_error_errno(r, "Cannot write the policy of %s into the maps: %m", t->unit);
        }
        /* A learning cgroup has no fast-set words: every request goes the way that records it. */
        if (enforce && !learning) {
                r = maps_fast_add(m, t->id, slot, &c);
                if (r < 0)
                        log_warning_errno(r, "Cannot add the allows of %s to the fast set (they take the slow way): %m",
                                          t->unit);
        }
        /* Steps 5 and 6, by maps_reclaim() (the caller's, or maps_close()), one wait for all the
         * cgroups switched. Nothing to wait for when the cgroup had no entry: no program can be
         * using a tag of it. */
        if (had > 0) {
                r = maps_retire_policy(m, old.policy);
                if (r < 0)
                        return log_oom();
        }

        r = runtime_write(t->id, t->unit, t->cgroup, tag, p ?: &none);
        if (r < 0)
                log_warning_errno(r, "Cannot record the policy of %s in %s (status will not show it): %m",
                                  t->unit, runtime_dir());

        /* The unit must not run unpoliced: our programs must be effective on its cgroup. They are
         * attached here, not by systemd's BPFProgram= (systemd.cgpolicy(5), ATTACHMENT), and stay
         * attached until the cgroup is removed. A slice's cgroup we just created is realized by
         * systemd as it is. */
        if (p)
                dirs |= policy_dirs(p) | (p->seal == 1 && p->mode == POLICY_MODE_ENFORCE ? CGP_DIRS_SEALED : 0) |
                        (policy_n_names(p) > 0 ? CGP_DIRS_NAMES : 0);
        if (blocked)
                dirs |= CGP_DIRS_ALL;
        /* A learning unit's lookups are read too: "cgpolicy learn" proposes name rules. */
        if (learning)
                dirs |= CGP_DIRS_ALL | CGP_DIRS_NAMES;
        if (dirs != 0) {
                r = ensure_attached(m, t->fs_path, dirs);
                if (r < 0)
                        return log_error_errno(r, "%s: the cgpolicy programs are not attached to %s and cannot be attached; "
                                               "refusing to start the unit unpoliced.", t->unit, t->cgroup);
        }

        log_debug("%s: policy %" PRIu32 " (slot %" PRIu32 ") in force for cgroup %s (id %" PRIu64 ", %zu+%zu+%zu map entries%s).",
                  t->unit, tag, slot, t->cgroup, t->id, c.n_ports, c.n_addrs, c.n_portsets,
                  blocked ? ", blocked" : !enforce ? ", keys removed: everything allowed" : learning ? ", learning" : "");
        return 0;
}

int policy_switch_recorded(Maps *m, const Target *t) {
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        _cleanup_(policy_done) Policy p = {};
        _cleanup_free_ char *reason = NULL;
        bool have_record;
        int r;

        assert(m);
        assert(t);

        policy_init(&p);
        /* What the unit has in force: its record's policy; none (keys removed, or never
         * policed: everything allowed) without one. */
        have_record = runtime_read(t->id, &e) >= 0 && strv_length(e.args) > 0;
        if (have_record) {
                policy_done(&p);
                r = policy_from_args(e.args, strv_length(e.args), &p, &reason);
                if (r < 0)
                        return log_error_errno(r, "%s: the recorded policy does not parse (%s).", t->unit, reason ?: "?");
        }
        return policy_switch(m, t, have_record ? &p : NULL);
}
