/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every unit shipped in units/ is one of cgpolicy's own units (never policed): adding a unit
 * there without adding it to libcgpolicy/own-units.c fails here.
 *
 *   test-own-units UNITS-SOURCE-DIR */

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "own-units.h"
#include "tap.h"

int main(int argc, char *argv[]) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        unsigned n_units = 0;

        if (argc != 2) {
                fprintf(stderr, "Usage: %s UNITS-SOURCE-DIR\n", argv[0]);
                return 2;
        }
        d = opendir(argv[1]);
        if (!d) {
                ok(false, "open %s", argv[1]);
                return tap_done();
        }

        while ((de = readdir(d))) {
                char name[256];
                const char *in;

                if (de->d_name[0] == '.' || streq(de->d_name, "meson.build"))
                        continue;
                /* "foo.service.in" is shipped as "foo.service". */
                snprintf(name, sizeof name, "%s", de->d_name);
                in = endswith(name, ".in");
                if (in)
                        name[in - name] = 0;
                n_units++;
                ok(unit_name_is_own(name), "%s (units/%s) is one of cgpolicy's own units", name, de->d_name);
        }
        ok(n_units > 0, "%s has units (%u)", argv[1], n_units);

        ok(unit_name_is_own("cgpolicy-apply@foo.slice.service"), "an instance of cgpolicy-apply@.service is own");
        ok(unit_name_is_own("cgpolicy-apply@system-foo.slice.service"), "… also of a nested slice");
        ok(!unit_name_is_own("cgpolicy-apply.service"), "cgpolicy-apply.service is not");
        ok(!unit_name_is_own("cgpolicy-load@x.service"), "cgpolicy-load@x.service is not");
        ok(!unit_name_is_own("nginx.service"), "nginx.service is not");
        ok(!unit_name_is_own("cgpolicy-gc.service.d"), "cgpolicy-gc.service.d is not");
        return tap_done();
}
