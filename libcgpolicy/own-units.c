/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <string.h>

#include "config.h"
#include "macro.h"
#include "own-units.h"
#include "unit-path.h"

static const char *const own_units[] = {
        CGPOLICY_LOAD_UNIT,
        "cgpolicy-apply@.service",
        "cgpolicy-gc.service",
        "cgpolicy-gc.timer",
        "cgpolicy-metrics.service",
        "cgpolicy-metrics.timer",
        "cgpolicy-monitor.service",
        "cgpolicy-reload.service",
};

/* "foo@bar.service" of the template "foo@.service". */
static bool is_instance_of(const char *name, const char *template) {
        const char *at = strchr(template, '@');
        size_t prefix;

        if (!at || !unit_name_is_instance(name))
                return false;
        prefix = (size_t) (at + 1 - template);
        return strneq(name, template, prefix) && endswith(name + prefix, at + 1);
}

bool unit_name_is_own(const char *name) {
        assert(name);

        for (size_t i = 0; i < ELEMENTSOF(own_units); i++)
                if (streq(name, own_units[i]) || is_instance_of(name, own_units[i]))
                        return true;
        return false;
}
