/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "learn.h"
#include "log.h"
#include "macro.h"
#include "policy-args.h"
#include "runtime.h"
#include "status.h"

void status_done(Status *s) {
        assert(s);

        for (size_t i = 0; i < s->n; i++) {
                free(s->entries[i].unit);
                free(s->entries[i].cgroup);
                policy_done(&s->entries[i].rules);
                free(s->entries[i].learned);
        }
        s->entries = mfree(s->entries);
        s->n = 0;
}

typedef struct StatusCollect {
        Maps *m;
        Status *status;
} StatusCollect;

static int status_collect_one(uint64_t id, const struct cgp_cgroup *v, void *userdata) {
        StatusCollect *c = userdata;
        Status *s = c->status;
        _cleanup_(runtime_entry_done) RuntimeEntry e = {};
        struct cgp_slot slot;
        StatusEntry *l, *x;
        bool have_record;

        have_record = runtime_read(id, &e) >= 0;
        if (s->filter && (!e.unit || !streq(e.unit, s->filter)))
                return 0;

        l = reallocarray(s->entries, s->n + 1, sizeof(StatusEntry));
        if (!l)
                return -ENOMEM;
        s->entries = l;
        x = &l[s->n++];
        *x = (StatusEntry) {
                .cgroup_id = id,
                .unit = TAKE_PTR(e.unit),
                .cgroup = TAKE_PTR(e.cgroup),
                .audit = v->flags & CGP_F_AUDIT,
                .learning = v->flags & CGP_F_LEARN,
                /* A record without policy arguments: the allow-everything entry of a reload
                 * without keys (policy_switch()). */
                .keys_removed = have_record && strv_length(e.args) == 0,
        };
        x->blocked = x->unit && runtime_is_blocked(x->unit);
        policy_init(&x->rules);
        if (e.args) {
                _cleanup_free_ char *reason = NULL;

                policy_done(&x->rules);
                x->have_rules = policy_from_args(e.args, strv_length(e.args), &x->rules, &reason) >= 0;
        }
        for (int d = 0; d < CGP_COUNTER_DIRS; d++)
                (void) maps_read_counter(c->m, v->slot, d, &x->cnt[d]);
        if (maps_read_slot(c->m, v->slot, &slot) >= 0)
                x->suppressed = slot.suppressed;
        (void) maps_read_streamed(c->m, v->slot, &x->stream);
        (void) maps_read_events_lost(c->m, v->slot, &x->stream_lost);
        if (x->unit) {
                LearnStats st;

                if (learn_stats(c->m, x->unit, &st) >= 0) {
                        x->learn_records = st.records;
                        x->learn_evicted = st.evicted;
                }
        }
        if (v->flags & CGP_F_NAMES) {
                x->now_s = dns_now_s();
                (void) maps_dns_learned(c->m, v->policy, &x->learned, &x->n_learned);
        }
        return 0;
}

int status_collect(Maps *m, const char *filter, Status *ret) {
        _cleanup_(status_done) Status s = { .filter = filter };
        _cleanup_free_ struct cgp_slot *slots = NULL;
        int r;

        assert(m);
        assert(ret);

        r = maps_foreach_cgroup(m, status_collect_one, &(StatusCollect) { .m = m, .status = &s });
        if (r < 0)
                return log_error_errno(r, "Cannot read the policy map: %m");
        for (int d = 0; d < CGP_COUNTER_DIRS; d++) {
                r = maps_read_counter(m, 0, d, &s.no_policy[d]);
                if (r < 0)
                        return log_error_errno(r, "Cannot read the counters: %m");
        }
        slots = calloc(CGP_MAX_SLOTS, sizeof(struct cgp_slot));
        if (!slots)
                return log_oom();
        r = maps_read_slots(m, slots);
        if (r < 0)
                return log_error_errno(r, "Cannot read the denial log state: %m");
        for (uint32_t i = 0; i < CGP_MAX_SLOTS; i++) {
                struct cgp_stream st;
                uint64_t lost;

                s.denials_logged += slots[i].logged;
                s.denials_suppressed += slots[i].suppressed;
                if (slots[i].logged == 0)
                        continue;       /* nothing recorded: nothing streamed or lost */
                r = maps_read_streamed(m, i, &st);
                if (r >= 0)
                        r = maps_read_events_lost(m, i, &lost);
                if (r < 0)
                        return log_error_errno(r, "Cannot read the denial stream's counts: %m");
                s.stream.read += st.read;
                s.stream.journaled += st.journaled;
                s.stream.suppressed += st.suppressed;
                s.stream.actions += st.actions;
                s.stream_lost += lost;
        }
        r = maps_count_orphans(m, &s.orphaned_entries);
        if (r < 0)
                return log_error_errno(r, "Cannot count the orphaned map entries: %m");

        *ret = s;
        s = (Status) {};
        return 0;
}
