/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "strv.h"
#include "unit-bus.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define BUS_TIMEOUT_USEC (5ULL * 1000 * 1000)

void unit_helper_done(UnitHelper *h) {
        assert(h);

        h->cgroup = mfree(h->cgroup);
        h->argv = strv_free(h->argv);
}

int bus_open_system(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        assert(ret);

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        (void) sd_bus_set_method_call_timeout(bus, BUS_TIMEOUT_USEC);
        *ret = bus;
        return 0;
}

static int unit_path(const char *unit, char **ret) {
        return sd_bus_path_encode(SD_PATH "/unit", unit, ret);
}

static int get_string(sd_bus *bus, const char *path, const char *iface, const char *name, char **ret) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_string(bus, SD_DEST, path, iface, name, &error, ret);
        if (r < 0)
                log_debug("Cannot get %s of %s: %s", name, path, error.message ?: strerror(-r));
        sd_bus_error_free(&error);
        return r;
}

/* systemd runs a command line with "$$" as "$" (and expands $VAR, which the generator never
 * writes: it escapes every "$"). */
static int unescape_dollars(char **argv) {
        STRV_FOREACH(a, argv) {
                char *d = *a;

                for (const char *s = *a; *s; s++) {
                        *d++ = *s;
                        if (s[0] == '$' && s[1] == '$')
                                s++;
                }
                *d = 0;
        }
        return 0;
}

static bool is_our_binary(const char *path) {
        const char *slash;

        if (streq(path, CGPOLICY_BINARY_PATH))
                return true;
        /* The same program installed elsewhere (a test tree): its name is enough. */
        slash = strrchr(path, '/');
        return slash && streq(slash + 1, "cgpolicy");
}

/* The argv from "apply" on of the first command of property name (type a(sasbttttuii), an
 * ExecStartPre=-like list) that runs our binary with "apply"; *ret NULL when there is none. */
static int find_helper(sd_bus *bus, const char *path, const char *iface, const char *name, char ***ret) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r;

        *ret = NULL;
        r = sd_bus_get_property(bus, SD_DEST, path, iface, name, &error, &reply, "a(sasbttttuii)");
        if (r < 0) {
                log_debug("Cannot get %s of %s: %s", name, path, error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        r = sd_bus_message_enter_container(reply, 'a', "(sasbttttuii)");
        while (r >= 0) {
                const char *binary;
                char **argv = NULL;

                r = sd_bus_message_enter_container(reply, 'r', "sasbttttuii");
                if (r <= 0)
                        break;
                r = sd_bus_message_read(reply, "s", &binary);
                if (r >= 0)
                        r = sd_bus_message_read_strv(reply, &argv);
                if (r >= 0)
                        r = sd_bus_message_skip(reply, "bttttuii");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0) {
                        strv_free(argv);
                        break;
                }
                if (!*ret && is_our_binary(binary) && strv_length(argv) >= 2 && streq(argv[1], "apply")) {
                        /* From "apply" on, as a verb's argv. */
                        free(argv[0]);
                        memmove(argv, argv + 1, strv_length(argv) * sizeof(char *));
                        unescape_dollars(argv);
                        *ret = argv;
                } else
                        strv_free(argv);
        }
        sd_bus_message_unref(reply);
        if (r < 0) {
                *ret = strv_free(*ret);
                return r;
        }
        return 0;
}

static int get_bool(sd_bus *bus, const char *path, const char *iface, const char *name, bool *ret) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int b = 0, r;

        r = sd_bus_get_property_trivial(bus, SD_DEST, path, iface, name, &error, 'b', &b);
        sd_bus_error_free(&error);
        if (r >= 0)
                *ret = b;
        return r;
}

int bus_unit_helper(sd_bus *bus, const char *unit, bool log_errors, UnitHelper *ret) {
        _cleanup_free_ char *path = NULL, *load = NULL, *active = NULL, *cg = NULL, *apply_unit = NULL,
                                *apply_path = NULL;
        _cleanup_(unit_helper_done) UnitHelper h = {};
        const char *iface;
        bool service;
        int r;

        assert(bus);
        assert(unit);
        assert(ret);

        if (endswith(unit, ".service"))
                service = true, iface = "org.freedesktop.systemd1.Service";
        else if (endswith(unit, ".slice"))
                service = false, iface = "org.freedesktop.systemd1.Slice";
        else
                return -EOPNOTSUPP;

        r = unit_path(unit, &path);
        if (r < 0)
                return log_oom();
        r = get_string(bus, path, SD_UNIT, "LoadState", &load);
        if (r < 0)
                return log_errors ? log_error_errno(r, "Cannot ask systemd about %s: %m", unit) : r;
        r = get_string(bus, path, SD_UNIT, "ActiveState", &active);
        if (r < 0)
                return log_errors ? log_error_errno(r, "Cannot ask systemd about %s: %m", unit) : r;
        h.loaded = streq(load, "loaded");
        h.running = streq(active, "active") || streq(active, "reloading") || streq(active, "activating");
        (void) get_bool(bus, path, SD_UNIT, "NeedDaemonReload", &h.need_daemon_reload);
        if (!h.loaded) {
                *ret = h;
                h = (UnitHelper) {};
                return 0;
        }

        r = get_string(bus, path, iface, "ControlGroup", &cg);
        if (r < 0)
                return log_errors ? log_error_errno(r, "Cannot get the cgroup of %s from systemd: %m", unit) : r;
        if (cg && *cg)
                h.cgroup = TAKE_PTR(cg);

        if (service) {
                r = find_helper(bus, path, iface, "ExecStartPre", &h.argv);
                /* The generator's ExecCondition= when a later drop-in resets ExecStartPre=. */
                if (r >= 0 && !h.argv)
                        r = find_helper(bus, path, iface, "ExecCondition", &h.argv);
        } else {
                _cleanup_strv_free_ char **requires = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                bool policed = false;

                if (asprintf(&apply_unit, "cgpolicy-apply@%s.service", unit) < 0)
                        return log_oom();
                /* The template's own ExecStart= is an "--error=" line for every slice: only a
                 * slice whose generated drop-in requires its apply unit has keys. */
                r = sd_bus_get_property_strv(bus, SD_DEST, path, SD_UNIT, "Requires", &error, &requires);
                sd_bus_error_free(&error);
                STRV_FOREACH(q, requires)
                        if (streq(*q, apply_unit))
                                policed = true;
                if (r >= 0 && policed) {
                        r = unit_path(apply_unit, &apply_path);
                        if (r < 0)
                                return log_oom();
                        r = find_helper(bus, apply_path, "org.freedesktop.systemd1.Service", "ExecStart", &h.argv);
                }
        }
        if (r < 0)
                return log_errors ? log_error_errno(r, "Cannot get the helper line of %s from systemd: %m", unit) : r;

        *ret = h;
        h = (UnitHelper) {};
        return 0;
}

int bus_list_running(sd_bus *bus, char ***ret) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        int r;

        assert(bus);
        assert(ret);

        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "ListUnits", &error, &reply, NULL);
        if (r < 0) {
                log_error("Cannot list the units of systemd: %s", error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        while (r >= 0) {
                const char *name, *active;

                r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, &active, NULL, NULL, NULL,
                                        NULL, NULL, NULL);
                if (r <= 0)
                        break;
                if (!(endswith(name, ".service") || endswith(name, ".slice")) ||
                    !(streq(active, "active") || streq(active, "reloading") || streq(active, "activating")))
                        continue;
                r = strv_extend(&l, &n, name);
        }
        sd_bus_message_unref(reply);
        if (r < 0)
                return log_error_errno(r, "Cannot read the units of systemd: %m");
        *ret = TAKE_PTR(l);
        if (!*ret)
                *ret = calloc(1, sizeof(char *));
        return *ret ? 0 : log_oom();
}

int bus_watch_reloads(sd_bus *bus, sd_bus_message_handler_t cb, void *userdata, sd_bus_slot **ret_slot) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_match_signal(bus, ret_slot, SD_DEST, SD_PATH, SD_MANAGER, "Reloading", cb, userdata);
        if (r < 0)
                return log_error_errno(r, "Cannot watch systemd's reloads: %m");
        /* systemd sends its signals only to clients that subscribed. */
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe", &error, NULL, NULL);
        if (r < 0) {
                log_error("Cannot subscribe to systemd's signals: %s", error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        return 0;
}

int bus_unit_running_cgroup(const char *unit, char **ret) {
        _cleanup_(unit_helper_done) UnitHelper h = {};
        sd_bus *bus = NULL;
        int r;

        assert(unit);
        assert(ret);

        r = bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the system bus (systemd): %m");
        r = bus_unit_helper(bus, unit, true, &h);
        sd_bus_flush_close_unref(bus);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "%s: only services and slices have policies.", unit);
        if (r < 0)
                return r;
        if (!h.loaded || !h.running || !h.cgroup)
                return log_error_errno(ESRCH, "%s is not running.", unit);
        *ret = TAKE_PTR(h.cgroup);
        return 0;
}
