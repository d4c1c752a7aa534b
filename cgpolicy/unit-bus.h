/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>

/* What systemd itself says of a unit, over D-Bus: whether it runs, its cgroup, and the helper
 * line the generator gave it ("cgpolicy apply …"), as a restart would run it. "cgpolicy reload"
 * puts that line in force; "status" compares it with the runtime record. Never a second reading
 * of the unit files: reload and restart cannot disagree. */

typedef struct UnitHelper {
        bool loaded;            /* LoadState=loaded */
        bool running;           /* ActiveState= active, reloading or activating */
        bool need_daemon_reload;        /* NeedDaemonReload=: files changed since systemd read them */
        char *cgroup;           /* ControlGroup=, NULL when it has none */
        char **argv;            /* the helper line from "apply" on, "$$" unescaped as systemd does
                                 * when it runs it; NULL: the unit has none */
} UnitHelper;

void unit_helper_done(UnitHelper *h);

/* The system bus, with a short method-call timeout (a status must not hang). -errno, not
 * logged: callers that can do without systemd (status) say nothing. */
int bus_open_system(sd_bus **ret);

/* The state, cgroup and helper line of a service (ExecStartPre=, or ExecCondition= where the
 * generator had to use it: the command whose path is cgpolicy's binary and whose argv[1] is
 * "apply") or of a slice (the ExecStart= of cgpolicy-apply@SLICE.service, when the slice
 * Requires= it: the generator's drop-in of a slice with keys). -EOPNOTSUPP for
 * another unit type; other errors logged when log_errors. */
int bus_unit_helper(sd_bus *bus, const char *unit, bool log_errors, UnitHelper *ret);

/* The cgroup (ControlGroup=) of a running service or slice; -ESRCH when it is not running.
 * Errors logged. */
int bus_unit_running_cgroup(const char *unit, char **ret);

/* The services and slices systemd has running (ActiveState= active, reloading, activating). */
int bus_list_running(sd_bus *bus, char ***ret);

/* Ask systemd for its signals (Manager.Subscribe()) and call cb at the end of every
 * daemon-reload (Reloading with false). */
int bus_watch_reloads(sd_bus *bus, sd_bus_message_handler_t cb, void *userdata, sd_bus_slot **ret_slot);
