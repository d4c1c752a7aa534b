/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf-maps.h"
#include "learn-propose.h"

/* Learning mode in the maps (cgpolicy-abi.h: the learners, their records) and "cgpolicy learn".
 * The records of a unit are kept by its name, in the pinned maps: they survive restarts of the
 * unit and "cgpolicy load", and go with "cgpolicy learn UNIT --reset" or the next boot. */

/* Under the lock: the learner of unit (allocated with an empty set of records the first time),
 * and slot pointed at it, before the cgroup's entry gets CGP_F_LEARN. */
int learn_enable(Maps *m, const char *unit, uint32_t slot);
/* Under the lock: slot records for nobody. */
int learn_disable(Maps *m, uint32_t slot);

typedef struct LearnStats {
        uint64_t records;       /* records present */
        uint64_t inserted;      /* records ever inserted (since the last reset) */
        uint64_t evicted;       /* inserted - present: dropped by the LRU bound */
} LearnStats;

/* The records of a unit, or of all the instances of a template (foo@.service). */
typedef struct LearnSet {
        LearnRecord *records;
        size_t n;
        char **units;           /* the names the records' unit fields point into */
        LearnName *names;       /* the names looked up (each name string allocated) */
        size_t n_names;
        size_t n_units;
        LearnStats stats;       /* summed over units */
} LearnSet;

void learn_set_done(LearnSet *s);

/* Does the learner name belong to pattern (the name itself, or an instance of a template)? */
bool learn_name_matches(const char *pattern, const char *name);

/* Read the records of pattern into *ret (to free with learn_set_done()); no learner: none. */
int learn_read(Maps *m, const char *pattern, LearnSet *ret);
/* The counts of one unit's learner (zeros when it has none). */
int learn_stats(Maps *m, const char *unit, LearnStats *ret);
/* Under the lock: forget the records of pattern (a learner whose unit is learning right now keeps
 * its identity, with no records). *ret_n: the learners reset. */
int learn_reset(Maps *m, const char *pattern, unsigned *ret_n);

/* "cgpolicy learn". */
typedef enum LearnAction {
        LEARN_ACTION_PROPOSE,           /* the proposed drop-in (the default) */
        LEARN_ACTION_JSON,
        LEARN_ACTION_DIFF,
        LEARN_ACTION_RECORDS,
        LEARN_ACTION_START,
        LEARN_ACTION_STOP,
        LEARN_ACTION_RESET,
} LearnAction;

typedef struct LearnArgs {
        const char *unit;
        LearnAction action;
        unsigned prefix_threshold;
        const char *cgroup;             /* --start/--stop without systemd (tests): its cgroup */
} LearnArgs;

int learn_parse_argv(int argc, char **argv, LearnArgs *a);
int learn_run(const LearnArgs *a);
