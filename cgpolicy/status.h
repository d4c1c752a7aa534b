/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf-maps.h"
#include "dns-maps.h"
#include "policy.h"

/* What "cgpolicy status" shows: the policed cgroups of the maps with their runtime records
 * (unit, cgroup path, rules) and counters. status-output.h prints it. */

typedef struct StatusEntry {
        uint64_t cgroup_id;
        char *unit;             /* NULL: no runtime record */
        char *cgroup;
        bool audit;
        bool learning;          /* CGP_F_LEARN: nothing refused, every request recorded */
        uint64_t learn_records; /* the records of the unit's name (learn.h), also after learning */
        uint64_t learn_evicted; /* records dropped by the bound */
        bool have_rules;
        Policy rules;
        struct cgp_counter cnt[CGP_COUNTER_DIRS];      /* bind, connect, socket creation */
        uint64_t suppressed;    /* denials not recorded in the log: over the rate */
        struct cgp_stream stream;       /* what cgpolicy monitor did with its records */
        uint64_t stream_lost;   /* records the ring buffer had no room for */
        bool blocked;           /* "cgpolicy block": a deny-all policy in force */
        bool keys_removed;      /* reloaded without keys: everything allowed until it stops */
        bool drift;             /* systemd's helper line differs from the policy in force (only
                                 * when systemd could tell: status_mark_drift()) */
        /* Name rules: the addresses each allows now (dns-maps.h; rule = the index among the
         * name rules, in order), and the time they were read at (CLOCK_BOOTTIME seconds). */
        DnsLearned *learned;
        size_t n_learned;
        uint32_t now_s;
} StatusEntry;

typedef struct Status {
        const char *filter;     /* the unit asked for, NULL: all */
        StatusEntry *entries;
        size_t n;
        struct cgp_counter no_policy[CGP_COUNTER_DIRS];        /* slot 0: denied, no policy found */
        uint64_t denials_logged;        /* records written to the denial log, all slots */
        uint64_t denials_suppressed;    /* denials not recorded (over the rate), all slots */
        unsigned orphaned_entries;      /* map entries of tags no cgroup refers to */
        struct cgp_stream stream;       /* the denial stream, all slots */
        uint64_t stream_lost;           /* records the ring buffer had no room for, all slots */
} Status;

/* Collect the policed cgroups of m into *ret, only those of unit filter when it is not NULL,
 * and the counters of requests without a policy. Errors are logged. Free *ret with
 * status_done(). */
int status_collect(Maps *m, const char *filter, Status *ret);
void status_done(Status *s);
