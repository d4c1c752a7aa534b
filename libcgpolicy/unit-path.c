/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "strv.h"
#include "unit-path.h"

static const char *const default_path[] = {
        "/etc/systemd/system.control",
        "/run/systemd/system.control",
        "/run/systemd/transient",
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/local/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
};

typedef struct Entry {
        char *key;      /* fragments: the unit name; drop-ins: the directory name without ".d" */
        char *conf;     /* drop-ins: the file name; fragments: NULL */
        char *path;
        unsigned dir;   /* index in the search path: lower is higher precedence */
        bool is_link;
} Entry;

typedef struct EntryArray {
        Entry *e;
        size_t n, allocated;
} EntryArray;

struct UnitTree {
        EntryArray fragments;    /* sorted by key, dir */
        EntryArray dropins;      /* sorted by key, dir, conf */
        char **names;
        size_t n_names;
        unsigned n_dirs;
};

int unit_search_path(char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *e = getenv("SYSTEMD_UNIT_PATH");
        bool append_default = true;
        size_t n = 0;
        int r;

        assert(ret);

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        if (e) {
                size_t len = strlen(e);

                append_default = len > 0 && e[len - 1] == ':';
                for (const char *p = e; *p;) {
                        size_t k = strcspn(p, ":");

                        if (k > 0) {
                                _cleanup_free_ char *d = strndup(p, k);
                                if (!d)
                                        return -ENOMEM;
                                r = strv_extend(&l, &n, d);
                                if (r < 0)
                                        return r;
                        }
                        p += k;
                        if (*p == ':')
                                p++;
                }
        }

        if (append_default)
                for (size_t i = 0; i < ELEMENTSOF(default_path); i++) {
                        r = strv_extend(&l, &n, default_path[i]);
                        if (r < 0)
                                return r;
                }

        *ret = TAKE_PTR(l);
        return 0;
}

static bool valid_chars(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.\\-@", s[i]))
                        return false;
        return true;
}

static const char *unit_suffix(const char *name) {
        const char *s;

        if ((s = endswith(name, ".service")) || (s = endswith(name, ".slice")))
                return s;
        return NULL;
}

bool unit_name_valid(const char *name) {
        const char *suffix, *at;
        size_t n;

        assert(name);

        suffix = unit_suffix(name);
        if (!suffix || suffix == name)
                return false;
        n = (size_t) (suffix - name);
        if (strlen(name) > 255 || !valid_chars(name, n))
                return false;
        at = memchr(name, '@', n);
        if (at) {
                if (at == name || memchr(at + 1, '@', (size_t) (suffix - at - 1)))
                        return false;
                if (streq(suffix, ".slice"))
                        return false;   /* slices cannot be templated */
        }
        return true;
}

bool unit_name_is_valid_full(const char *name, UnitNameFlags flags) {
        static const char *const types[] = {
                "service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path",
                "slice", "scope",
        };
        const char *dot, *at = NULL;
        bool known = false;

        if (!name || !*name || strlen(name) > 255)
                return false;
        dot = strrchr(name, '.');
        if (!dot || dot == name)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (streq(dot + 1, types[i]))
                        known = true;
        if (!known)
                return false;
        for (const char *p = name; p < dot; p++) {
                if (*p == '@' && !at)
                        at = p;
                if (*p != '@' && !valid_chars(p, 1))
                        return false;
        }
        if (at == name)
                return false;

        if (!at)
                return flags & UNIT_NAME_PLAIN;
        if (at + 1 == dot)
                return flags & UNIT_NAME_TEMPLATE;
        return flags & UNIT_NAME_INSTANCE;
}

bool slice_name_is_valid(const char *name) {
        const char *suffix;
        bool dash = false;

        if (!unit_name_is_valid_full(name, UNIT_NAME_PLAIN))
                return false;
        if (streq(name, "-.slice"))
                return true;
        suffix = endswith(name, ".slice");
        if (!suffix)
                return false;
        for (const char *p = name; p < suffix; p++) {
                if (*p == '-' && (p == name || dash))
                        return false;   /* a leading dash, or two in a row */
                dash = *p == '-';
        }
        return !dash;                   /* nor a trailing one */
}

bool unit_name_is_template(const char *name) {
        const char *suffix;

        assert(name);

        suffix = unit_suffix(name);
        return suffix && suffix > name && suffix[-1] == '@' && unit_name_valid(name);
}

bool unit_name_is_instance(const char *name) {
        const char *suffix, *at;

        assert(name);

        suffix = unit_suffix(name);
        if (!suffix || !unit_name_valid(name))
                return false;
        at = memchr(name, '@', (size_t) (suffix - name));
        return at && at + 1 < suffix;
}

int unit_name_template(const char *name, char **ret) {
        const char *suffix, *at;
        char *t;

        assert(name);
        assert(ret);

        suffix = unit_suffix(name);
        if (!suffix)
                return -EINVAL;
        at = memchr(name, '@', (size_t) (suffix - name));
        if (!at)
                return -EINVAL;
        if (asprintf(&t, "%.*s%s", (int) (at - name + 1), name, suffix) < 0)
                return -ENOMEM;
        *ret = t;
        return 0;
}

/* "foo-.service": a prefix drop-in directory name, not a unit. "-.slice" is the root slice. */
static bool is_prefix_name(const char *name) {
        const char *suffix = unit_suffix(name);
        return suffix && suffix - name >= 2 && suffix[-1] == '-';
}

static int entry_add(EntryArray *a, const char *key, const char *conf, const char *path, unsigned dir, bool is_link) {
        Entry *e;

        if (a->n >= a->allocated) {
                size_t k = a->allocated ? a->allocated * 2 : 256;
                Entry *x = reallocarray(a->e, k, sizeof(Entry));
                if (!x)
                        return -ENOMEM;
                a->e = x;
                a->allocated = k;
        }
        e = &a->e[a->n];
        *e = (Entry) {
                .key = strdup(key),
                .conf = conf ? strdup(conf) : NULL,
                .path = strdup(path),
                .dir = dir,
                .is_link = is_link,
        };
        if (!e->key || !e->path || (conf && !e->conf)) {
                free(e->key);
                free(e->conf);
                free(e->path);
                return -ENOMEM;
        }
        a->n++;
        return 0;
}

static void entries_free(EntryArray *a) {
        for (size_t i = 0; i < a->n; i++) {
                free(a->e[i].key);
                free(a->e[i].conf);
                free(a->e[i].path);
        }
        free(a->e);
        *a = (EntryArray) {};
}

static int entry_cmp(const void *x, const void *y) {
        const Entry *a = x, *b = y;
        int c = strcmp(a->key, b->key);

        if (c != 0)
                return c;
        if (a->dir != b->dir)
                return a->dir < b->dir ? -1 : 1;
        if (a->conf && b->conf)
                return strcmp(a->conf, b->conf);
        return 0;
}

static bool is_dir_entry(int dfd, const struct dirent *de) {
        struct stat st;

        if (de->d_type == DT_DIR)
                return true;
        if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
                return false;
        return fstatat(dfd, de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file_entry(const struct dirent *de) {
        return de->d_type == DT_REG || de->d_type == DT_LNK || de->d_type == DT_UNKNOWN;
}

static bool is_link_entry(int dfd, const struct dirent *de) {
        struct stat st;

        if (de->d_type != DT_UNKNOWN)
                return de->d_type == DT_LNK;
        return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

static int scan_dropin_dir(UnitTree *t, const char *key, const char *path, unsigned dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        d = opendir(path);
        if (!d) {
                log_debug_errno(errno, "Cannot open %s, ignoring: %m", path);
                return 0;
        }

        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;

                if (de->d_name[0] == '.' || !endswith(de->d_name, ".conf") || !is_file_entry(de))
                        continue;
                if (asprintf(&p, "%s/%s", path, de->d_name) < 0)
                        return -ENOMEM;
                r = entry_add(&t->dropins, key, de->d_name, p, dir, is_link_entry(dirfd(d), de));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int scan_dir(UnitTree *t, const char *path, unsigned dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        d = opendir(path);
        if (!d) {
                if (errno != ENOENT)
                        log_warning_errno(errno, "Cannot open %s, ignoring: %m", path);
                return 0;
        }

        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *key = NULL;
                const char *dotd;

                if (de->d_name[0] == '.')
                        continue;

                dotd = endswith(de->d_name, ".d");
                if (dotd) {
                        key = strndup(de->d_name, (size_t) (dotd - de->d_name));
                        if (!key)
                                return -ENOMEM;
                        if (!streq(key, "service") && !streq(key, "slice") &&
                            !(unit_name_valid(key) || (is_prefix_name(key) && valid_chars(key, strlen(key)))))
                                continue;
                        if (!is_dir_entry(dirfd(d), de))
                                continue;
                        if (asprintf(&p, "%s/%s", path, de->d_name) < 0)
                                return -ENOMEM;
                        r = scan_dropin_dir(t, key, p, dir);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (!unit_name_valid(de->d_name) || !is_file_entry(de))
                        continue;
                if (asprintf(&p, "%s/%s", path, de->d_name) < 0)
                        return -ENOMEM;
                r = entry_add(&t->fragments, de->d_name, NULL, p, dir, is_link_entry(dirfd(d), de));
                if (r < 0)
                        return r;
        }
        return 0;
}

static const Entry *find_first(const EntryArray *a, const char *key) {
        size_t lo = 0, hi = a->n;

        /* The first entry whose key is >= key. */
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (strcmp(a->e[mid].key, key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < a->n && streq(a->e[lo].key, key) ? &a->e[lo] : NULL;
}

/* Is the fragment a symlink to a unit file of another name (an alias)? Or to /dev/null? */
static int link_target_name(const char *path, char **ret) {
        char buf[PATH_MAX];
        ssize_t k = readlink(path, buf, sizeof buf - 1);
        const char *b;

        if (k < 0)
                return -errno;
        buf[k] = 0;
        b = strrchr(buf, '/');
        b = b ? b + 1 : buf;
        if (streq(buf, "/dev/null"))
                b = "/dev/null";
        *ret = strdup(b);
        return *ret ? 0 : -ENOMEM;
}

int unit_tree_scan(char * const *dirs, UnitTree **ret) {
        UnitTree *t;
        struct stat seen[64];
        size_t n_seen = 0;
        unsigned dir = 0;
        int r;

        assert(dirs);
        assert(ret);

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;

        STRV_FOREACH(d, (char **) dirs) {
                struct stat st;
                bool dup = false;

                if (stat(*d, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                for (size_t i = 0; i < n_seen; i++)
                        if (seen[i].st_dev == st.st_dev && seen[i].st_ino == st.st_ino)
                                dup = true;
                if (dup)
                        continue;
                if (n_seen < ELEMENTSOF(seen))
                        seen[n_seen++] = st;

                r = scan_dir(t, *d, dir++);
                if (r < 0) {
                        unit_tree_free(t);
                        return r;
                }
        }
        t->n_dirs = dir;

        if (t->fragments.n > 0)
                qsort(t->fragments.e, t->fragments.n, sizeof(Entry), entry_cmp);
        if (t->dropins.n > 0)
                qsort(t->dropins.e, t->dropins.n, sizeof(Entry), entry_cmp);

        /* Names: every fragment that is not an alias, and every own drop-in directory. */
        size_t i = 0, j = 0;
        while (i < t->fragments.n || j < t->dropins.n) {
                const char *a = i < t->fragments.n ? t->fragments.e[i].key : NULL;
                const char *b = j < t->dropins.n ? t->dropins.e[j].key : NULL;
                const char *name = !b || (a && strcmp(a, b) <= 0) ? a : b;

                const Entry *f = find_first(&t->fragments, name);

                /* "foo-.service.d" is a prefix drop-in directory, not a unit. */
                if (unit_name_valid(name) && (f || !is_prefix_name(name))) {
                        bool skip = false;

                        if (f && f->is_link) {
                                _cleanup_free_ char *target = NULL;

                                if (link_target_name(f->path, &target) >= 0 && !streq(target, "/dev/null") &&
                                    !streq(target, name) && unit_name_valid(target)) {
                                        log_debug("%s is an alias of %s, skipping.", f->path, target);
                                        skip = true;
                                }
                        }
                        if (!skip) {
                                r = strv_extend(&t->names, &t->n_names, name);
                                if (r < 0) {
                                        unit_tree_free(t);
                                        return r;
                                }
                        }
                }

                while (i < t->fragments.n && streq(t->fragments.e[i].key, name))
                        i++;
                while (j < t->dropins.n && streq(t->dropins.e[j].key, name))
                        j++;
        }

        *ret = t;
        return 0;
}

UnitTree *unit_tree_free(UnitTree *t) {
        if (!t)
                return NULL;
        entries_free(&t->fragments);
        entries_free(&t->dropins);
        strv_free(t->names);
        free(t);
        return NULL;
}

char * const *unit_tree_names(const UnitTree *t, size_t *ret_n) {
        assert(t);
        assert(ret_n);

        *ret_n = t->n_names;
        return t->names;
}

int unit_tree_fragment(const UnitTree *t, const char *name, const char **ret_path, bool *ret_masked) {
        const Entry *f;

        assert(t);
        assert(name);
        assert(ret_path);
        assert(ret_masked);

        f = find_first(&t->fragments, name);
        if (!f && unit_name_is_instance(name)) {
                _cleanup_free_ char *tmpl = NULL;
                int r = unit_name_template(name, &tmpl);
                if (r < 0)
                        return r;
                f = find_first(&t->fragments, tmpl);
        }

        *ret_masked = false;
        *ret_path = NULL;
        if (!f)
                return 0;

        if (f->is_link) {
                _cleanup_free_ char *target = NULL;
                if (link_target_name(f->path, &target) >= 0 && streq(target, "/dev/null"))
                        *ret_masked = true;
        }
        *ret_path = f->path;
        return 0;
}

/* The drop-in directory names for one search directory, most specific first, as
 * systemd's unit_file_find_dirs() builds them. */
static int dropin_keys(const char *name, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        int r;

        r = strv_extend(&l, &n, name);
        if (r < 0)
                return r;

        if (unit_name_is_instance(name)) {
                _cleanup_free_ char *tmpl = NULL;

                r = unit_name_template(name, &tmpl);
                if (r < 0)
                        return r;
                r = strv_extend(&l, &n, tmpl);
                if (r < 0)
                        return r;
        } else if (!unit_name_is_template(name)) {
                const char *suffix = unit_suffix(name);
                size_t len = (size_t) (suffix - name);

                /* "foo-bar-baz" → "foo-bar-", "foo-". A leading dash ends the walk. */
                for (;;) {
                        _cleanup_free_ char *k = NULL;
                        const char *dash = NULL;

                        for (size_t i = len; i > 0; i--)
                                if (name[i - 1] == '-' && i - 1 < len - 1) {
                                        dash = name + i - 1;
                                        break;
                                }
                        if (!dash || dash == name)
                                break;
                        len = (size_t) (dash - name);
                        if (asprintf(&k, "%.*s-%s", (int) len, name, suffix) < 0)
                                return -ENOMEM;
                        r = strv_extend(&l, &n, k);
                        if (r < 0)
                                return r;
                }
        }

        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

static int path_basename_cmp(const void *x, const void *y) {
        const char *a = *(const char *const *) x, *b = *(const char *const *) y;
        const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');

        return strcmp(ba ? ba + 1 : a, bb ? bb + 1 : b);
}

int unit_tree_dropins(const UnitTree *t, const char *name, const char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **keys = NULL;
        _cleanup_free_ const Entry **found = NULL;
        const char **out;
        size_t n_keys = 0, n_found = 0, n_out = 0;
        const char *type;
        int r;

        assert(t);
        assert(name);
        assert(ret);
        assert(ret_n);

        type = endswith(name, ".slice") ? "slice" : "service";

        r = dropin_keys(name, &keys, &n_keys);
        if (r < 0)
                return r;

        /* Candidates in precedence order: for each directory the unit's own keys, then the
         * type-wide ones for each directory. */
        for (int pass = 0; pass < 2; pass++)
                for (unsigned dir = 0; dir < t->n_dirs; dir++)
                        for (size_t k = 0; k < (pass == 0 ? n_keys : 1); k++) {
                                const char *key = pass == 0 ? keys[k] : type;
                                const Entry *e = find_first(&t->dropins, key);

                                if (!e)
                                        continue;
                                /* Entries of one key are sorted by dir; skip to this dir. */
                                const Entry *end = t->dropins.e + t->dropins.n;
                                for (; e < end && streq(e->key, key); e++) {
                                        bool hidden = false;

                                        if (e->dir != dir)
                                                continue;
                                        for (size_t i = 0; i < n_found; i++)
                                                if (streq(found[i]->conf, e->conf))
                                                        hidden = true;
                                        if (hidden)
                                                continue;
                                        const Entry **x = reallocarray(found, n_found + 1, sizeof(Entry *));
                                        if (!x)
                                                return -ENOMEM;
                                        found = x;
                                        found[n_found++] = e;
                                }
                        }

        out = calloc(n_found + 1, sizeof(char *));
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n_found; i++)
                out[n_out++] = found[i]->path;
        if (n_out > 1)
                qsort(out, n_out, sizeof(char *), path_basename_cmp);

        *ret = out;
        *ret_n = n_out;
        return 0;
}
