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

/* name, control characters as '?', for TAP. */
static const char *printable(const char *name, char *buf, size_t size) {
        size_t i;

        for (i = 0; name[i] && i + 1 < size; i++)
                buf[i] = (unsigned char) name[i] < ' ' || name[i] == 0x7f ? '?' : name[i];
        buf[i] = 0;
        return buf;
}

/* Unit and slice names as systemd validates them: what --unit=, --slice= and Slice= may be. */
static void test_names(void) {
        static const struct {
                const char *name;
                UnitNameFlags flags;
                bool valid;
        } cases[] = {
                { "foo.service",                UNIT_NAME_PLAIN,    true },
                { "foo-bar_baz:1.2\\x2d.service", UNIT_NAME_PLAIN, true },
                { "foo.socket",                 UNIT_NAME_PLAIN,    true },
                { "foo.scope",                  UNIT_NAME_PLAIN,    true },
                { "-.slice",                    UNIT_NAME_PLAIN,    true },
                { "foo@bar.service",            UNIT_NAME_INSTANCE, true },
                { "foo@bar@baz.service",        UNIT_NAME_INSTANCE, true },  /* systemd takes it */
                { "foo@.service",               UNIT_NAME_TEMPLATE, true },
                { "foo@.service",               UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE, false },
                { "foo@bar.service",            UNIT_NAME_PLAIN,    false },
                { "foo.service",                UNIT_NAME_INSTANCE, false },
                { "@bar.service",               UNIT_NAME_ANY,      false },
                { ".service",                   UNIT_NAME_ANY,      false },
                { "",                           UNIT_NAME_ANY,      false },
                { "foo",                        UNIT_NAME_ANY,      false },
                { "foo.conf",                   UNIT_NAME_ANY,      false },
                { "foo.Service",                UNIT_NAME_ANY,      false },
                { "../../elsewhere.slice",      UNIT_NAME_ANY,      false },
                { "a/b.service",                UNIT_NAME_ANY,      false },
                { "a b.service",                UNIT_NAME_ANY,      false },
                { "a\nUNIT=x.service",         UNIT_NAME_ANY,      false },
                { "a\tb.service",              UNIT_NAME_ANY,      false },
                { "a\x7f.service",             UNIT_NAME_ANY,      false },
                { "a\x1b[31m.service",         UNIT_NAME_ANY,      false },
                { "a%i.service",                UNIT_NAME_ANY,      false },
                { "\xc3\xa9.service",         UNIT_NAME_ANY,      false },
        };
        char long_name[300], buf[64];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ok(unit_name_is_valid_full(cases[i].name, cases[i].flags) == cases[i].valid,
                   "unit name case %zu ('%s', flags %d): %s", i, printable(cases[i].name, buf, sizeof buf), (int) cases[i].flags,
                   cases[i].valid ? "valid" : "invalid");

        memset(long_name, 'a', sizeof long_name);
        strcpy(long_name + 255 - strlen(".service"), ".service");
        ok(strlen(long_name) == 255 && unit_name_is_valid_full(long_name, UNIT_NAME_PLAIN), "255 bytes: valid");
        memset(long_name, 'a', sizeof long_name);
        strcpy(long_name + 256 - strlen(".service"), ".service");
        ok(strlen(long_name) == 256 && !unit_name_is_valid_full(long_name, UNIT_NAME_PLAIN), "256 bytes: invalid");

        static const struct {
                const char *name;
                bool valid;
        } slices[] = {
                { "system.slice", true }, { "-.slice", true }, { "a-b-c.slice", true }, { "user-1000.slice", true },
                { "system-foo\\x2dbar.slice", true },
                { "-a.slice", false }, { "a-.slice", false }, { "a--b.slice", false }, { "a@b.slice", false },
                { "a@.slice", false }, { "foo.service", false }, { "../../elsewhere.slice", false },
                { "a/b.slice", false }, { "a\nb.slice", false }, { ".slice", false }, { "--.slice", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(slices); i++)
                ok(slice_name_is_valid(slices[i].name) == slices[i].valid, "slice name '%s': %s",
                   printable(slices[i].name, buf, sizeof buf),
                   slices[i].valid ? "valid" : "invalid");
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        if (!mkdtemp(root))
                return 1;

        test_search_path();
        test_tree();
        test_names();

        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        (void) system(cmd);
        return tap_done();
}
