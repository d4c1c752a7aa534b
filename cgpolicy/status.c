/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include <bpf/bpf.h>

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
        StatusEntry *l, *x;

        (void) runtime_read(id, &e);
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
        };
        policy_init(&x->rules);
        if (e.args) {
                _cleanup_free_ char *reason = NULL;

                policy_done(&x->rules);
                x->have_rules = policy_from_args(e.args, strv_length(e.args), &x->rules, &reason) >= 0;
        }
        for (int d = 0; d < CGP_DIR_MAX; d++)
                (void) maps_read_counter(c->m, v->policy, d, &x->cnt[d]);
        return 0;
}

int status_collect(Maps *m, const char *filter, Status *ret) {
        _cleanup_(status_done) Status s = { .filter = filter };
        struct cgp_state st = {};
        __u32 zero = 0;
        int r;

        assert(m);
        assert(ret);

        r = maps_foreach_cgroup(m, status_collect_one, &(StatusCollect) { .m = m, .status = &s });
        if (r < 0)
                return log_error_errno(r, "Cannot read the policy map: %m");
        for (int d = 0; d < CGP_DIR_MAX; d++) {
                r = maps_read_counter(m, 0, d, &s.no_policy[d]);
                if (r < 0)
                        return log_error_errno(r, "Cannot read the counters: %m");
        }
        if (bpf_map_lookup_elem(m->fd[MAP_STATE], &zero, &st) < 0)
                return log_error_errno(errno, "Cannot read the denial log state: %m");
        s.denials_logged = st.denial_seq;

        *ret = s;
        s = (Status) {};
        return 0;
}
