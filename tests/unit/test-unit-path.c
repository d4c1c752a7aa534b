/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit discovery: the search path and $SYSTEMD_UNIT_PATH, precedence, masking, the drop-in
 * merge order (own, template, prefix and type-wide directories). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "tap.h"
#include "unit-path.h"

static char root[] = "/tmp/test-unit-path-XXXXXX";

static void put(const char *rel, const char *content) {
        char p[512], *s;

        snprintf(p, sizeof p, "%s/%s", root, rel);
        for (s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                (void) mkdir(p, 0755);
                *s = '/';
        }
        if (content) {
                FILE *f = fopen(p, "we");
                fputs(content, f);
                fclose(f);
        } else
                (void) symlink("/dev/null", p);
}

static void test_search_path(void) {
        _cleanup_strv_free_ char **l = NULL;

        unsetenv("SYSTEMD_UNIT_PATH");
        ok(unit_search_path(&l) == 0 && strv_length(l) == 8 &&
           streq(l[0], "/etc/systemd/system.control") && streq(l[1], "/run/systemd/system.control") &&
           streq(l[2], "/run/systemd/transient") && streq(l[3], "/etc/systemd/system") &&
           streq(l[4], "/run/systemd/system") && streq(l[5], "/usr/local/lib/systemd/system") &&
           streq(l[6], "/usr/lib/systemd/system") && streq(l[7], "/lib/systemd/system"),
           "default search path in systemd's order");
        l = strv_free(l);

        setenv("SYSTEMD_UNIT_PATH", "/a::/b", 1);
        ok(unit_search_path(&l) == 0 && strv_length(l) == 2 && streq(l[0], "/a") && streq(l[1], "/b"),
           "$SYSTEMD_UNIT_PATH replaces the path");
        l = strv_free(l);

        setenv("SYSTEMD_UNIT_PATH", "/a:", 1);
        ok(unit_search_path(&l) == 0 && strv_length(l) == 9 && streq(l[0], "/a") &&
           streq(l[1], "/etc/systemd/system.control"), "a trailing ':' appends the default path");
        l = strv_free(l);
        unsetenv("SYSTEMD_UNIT_PATH");
}

static const char *base(const char *p) {
        const char *b = strrchr(p, '/');
        return b ? b + 1 : p;
}

/* "dir/file" of a drop-in path, relative to root: e.g. "etc/foo.service.d/10.conf". */
static const char *rel(const char *p) {
        return p + strlen(root) + 1;
}

static void test_tree(void) {
        char etc[128], run[128], usr[128], same[128];
        UnitTree *t = NULL;
        const char *frag, **d = NULL;
        bool masked;
        size_t n;

        snprintf(etc, sizeof etc, "%s/etc", root);
        snprintf(run, sizeof run, "%s/run", root);
        snprintf(usr, sizeof usr, "%s/usr", root);
        snprintf(same, sizeof same, "%s/same", root);

        put("usr/a.service", "[Service]\n");
        put("etc/a.service", "[Service]\n");
        put("usr/m.service", "[Service]\n");
        put("etc/m.service", NULL);
        put("usr/t@.service", "[Service]\n");
        put("usr/t@.service.d/10-t.conf", "");
        put("etc/t@x.service.d/20-x.conf", "");
        put("usr/t@x.service.d/10-t.conf", "");       /* hides the template's 10-t.conf */
        put("usr/foo-bar-baz.service", "[Service]\n");
        put("usr/foo-.service.d/30-foo.conf", "");
        put("run/foo-bar-.service.d/30-foo.conf", ""); /* more specific, same name: wins */
        put("usr/foo-bar-.service.d/40-bar.conf", "");
        put("usr/foo-bar-baz.service.d/50-own.conf", "");
        put("etc/foo-bar-baz.service.d/50-own.conf", NULL); /* masks the vendor's */
        put("usr/service.d/05-all.conf", "");
        put("etc/service.d/05-all.conf", "");         /* etc wins */
        put("usr/service.d/99-all.conf", "");
        put("usr/s.slice", "[Slice]\n");
        put("usr/slice.d/10-s.conf", "");
        put("usr/only-dropin.slice.d/10.conf", "");
        put("usr/nofrag.service.d/10.conf", "");
        (void) symlink(usr, same);

        ok(unit_tree_scan((char *[]) { etc, run, usr, same, NULL }, &t) == 0, "scan");

        ok(unit_tree_fragment(t, "a.service", &frag, &masked) == 0 && frag && streq(rel(frag), "etc/a.service") && !masked,
           "the higher directory's unit file wins");
        ok(unit_tree_fragment(t, "m.service", &frag, &masked) == 0 && masked, "a /dev/null symlink masks");
        ok(unit_tree_fragment(t, "t@x.service", &frag, &masked) == 0 && frag && streq(rel(frag), "usr/t@.service"),
           "an instance uses the template's file");
        ok(unit_tree_fragment(t, "nofrag.service", &frag, &masked) == 0 && !frag, "no unit file");

        ok(unit_tree_dropins(t, "t@x.service", &d, &n) == 0 && n == 4 &&
           streq(rel(d[0]), "etc/service.d/05-all.conf") && streq(rel(d[1]), "usr/t@x.service.d/10-t.conf") &&
           streq(rel(d[2]), "etc/t@x.service.d/20-x.conf") && streq(rel(d[3]), "usr/service.d/99-all.conf"),
           "instance drop-ins: own before template for equal names, type-wide last, sorted by name");
        d = mfree(d);

        ok(unit_tree_dropins(t, "foo-bar-baz.service", &d, &n) == 0 && n == 5 &&
           streq(rel(d[0]), "etc/service.d/05-all.conf") && streq(rel(d[1]), "run/foo-bar-.service.d/30-foo.conf") &&
           streq(rel(d[2]), "usr/foo-bar-.service.d/40-bar.conf") &&
           streq(rel(d[3]), "etc/foo-bar-baz.service.d/50-own.conf") && streq(rel(d[4]), "usr/service.d/99-all.conf"),
           "prefix drop-ins; a masked drop-in keeps its place (read as empty)");
        d = mfree(d);

        ok(unit_tree_dropins(t, "s.slice", &d, &n) == 0 && n == 1 && streq(base(d[0]), "10-s.conf"),
           "type-wide slice.d/");
        d = mfree(d);

        size_t nn;
        char * const *names = unit_tree_names(t, &nn);
        _cleanup_free_ char *joined = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&joined, &len);
        for (size_t i = 0; i < nn; i++)
                fprintf(f, "%s%s", i ? " " : "", names[i]);
        fclose(f);
        ok(streq(joined, "a.service foo-bar-baz.service m.service nofrag.service only-dropin.slice s.slice "
                 "t@.service t@x.service"), "names: %s", joined);

        unit_tree_free(t);
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        if (!mkdtemp(root))
                return 1;

        test_search_path();
        test_tree();

        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        (void) system(cmd);
        return tap_done();
}
