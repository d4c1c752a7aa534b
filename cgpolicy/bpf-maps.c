/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf-maps.h"
#include "dns-maps.h"
#include "cgroup-util.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "privilege.h"
#include "runtime.h"
#include "cgpolicy.skel.h"

const char *const map_names[_MAP_MAX] = {
        [MAP_META]     = "cgp_meta",
        [MAP_CGROUPS]  = "cgp_cgroups",
        [MAP_PORTS]    = "cgp_ports",
        [MAP_ADDRS]    = "cgp_addrs",
        [MAP_PORTSETS] = "cgp_portsets",
        [MAP_COUNTERS] = "cgp_counters",
        [MAP_DENIALS]  = "cgp_denials",
        [MAP_STATE]    = "cgp_state",
        [MAP_PORT_EXACT] = "cgp_port_exact",
        [MAP_SLOTS]    = "cgp_slots",
        [MAP_FAST]     = "cgp_fast",
        [MAP_EVENTS]   = "cgp_events",
        [MAP_EVENTS_LOST] = "cgp_events_lost",
        [MAP_STREAMED] = "cgp_streamed",
        [MAP_LEARN]    = "cgp_learn",
        [MAP_LEARN_SLOTS] = "cgp_learn_slots",
        [MAP_LEARN_INSERTS] = "cgp_learn_inserts",
        [MAP_LEARN_NAMES] = "cgp_learn_names",
        [MAP_LEARN_DNS]   = "cgp_learn_dns",
        [MAP_DNS_NAMES]   = "cgp_dns_names",
        [MAP_DNS_RULES]   = "cgp_dns_rules",
        [MAP_DNS_QUERIES] = "cgp_dns_queries",
        [MAP_DNS_LEARNED] = "cgp_dns_learned",
        [MAP_DNS_SCRATCH] = "cgp_dns_scratch",
};

const char *pin_dir(void) {
        const char *e = getenv("CGPOLICY_BPFFS_DIR");

        return e && *e ? e : CGPOLICY_BPFFS_DIR;
}

/* libbpf's messages, one log line per line: a verifier log is one message of many lines, whose
 * end (the reason) must not be cut off. */
_printf_(2, 0) static int libbpf_log(enum libbpf_print_level level, const char *format, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        char *save = NULL;

        if (level == LIBBPF_DEBUG && log_get_max_level() < LOG_DEBUG)
                return 0;
        if (vasprintf(&msg, format, ap) < 0)
                return 0;
        for (char *l = strtok_r(msg, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                log_full(level == LIBBPF_WARN ? LOG_WARNING : LOG_DEBUG, "%s", l);
        return 0;
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; ; s++) {
                bool end = *s == 0;

                if (*s != '/' && !end)
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                if (end)
                        return 0;
                *s = '/';
        }
}

static int open_dir_locked(const char *dir, int *ret) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX) < 0)
                return -errno;
        *ret = TAKE_FD(fd);
        return 0;
}

static int map_get_info(int fd, struct bpf_map_info *info) {
        __u32 len = sizeof(*info);

        memset(info, 0, sizeof(*info));
        if (bpf_obj_get_info_by_fd(fd, info, &len) < 0)
                return -errno;
        return 0;
}

/* Readers open the pinned maps read-only: with CAP_DAC_READ_SEARCH, which lets them through the
 * private pin directory for reading, that is all they need (a read-write open needs
 * CAP_DAC_OVERRIDE). Sets errno. */
static int map_pin_open(const char *path, bool write) {
        LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = write ? 0 : BPF_F_RDONLY);

        return bpf_obj_get_opts(path, &opts);
}

/* A pinned meta map of another layout version (or of another shape): refuse, clearly. */
static int check_pinned_layout(const char *dir) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct bpf_map_info info;
        struct cgp_meta meta = {};
        __u32 zero = 0;
        int r;

        if (asprintf(&path, "%s/maps/%s", dir, map_names[MAP_META]) < 0)
                return log_oom();
        fd = map_pin_open(path, false);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;       /* nothing pinned yet */
                return log_error_errno(errno, "Cannot open pinned map %s: %m", path);
        }
        r = map_get_info(fd, &info);
        if (r < 0)
                return log_error_errno(r, "Cannot query pinned map %s: %m", path);
        if (info.value_size != sizeof(struct cgp_meta) ||
            bpf_map_lookup_elem(fd, &zero, &meta) < 0 ||
            meta.magic != CGP_MAGIC)
                return log_error_errno(EPROTO,
                                       "%s is not a cgpolicy layout this version understands. "
                                       "Stop the policed units and remove %s, or reboot.", path, dir);
        if (meta.layout_version != CGP_LAYOUT_VERSION)
                return log_error_errno(EPROTO,
                                       "The maps pinned under %s/maps have layout version %u, this cgpolicy "
                                       "uses version %u: refusing to replace the programs of running units. "
                                       "Stop the policed units and remove %s, or reboot.",
                                       dir, meta.layout_version, CGP_LAYOUT_VERSION, dir);
        return 0;
}

/* Do sock_addr programs get bpf_get_current_pid_tgid() and bpf_get_current_comm()? (Since the
 * cgroup helper rework of Linux 6.1; probe instead of guessing.) */
static bool probe_task_helpers(void) {
        const struct bpf_insn insns[] = {
                { .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_get_current_pid_tgid },
                { .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_1, .src_reg = BPF_REG_10 },
                { .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_1, .imm = -16 },
                { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = 16 },
                { .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_get_current_comm },
                { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
                { .code = BPF_JMP | BPF_EXIT },
        };
        LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET4_CONNECT);
        int fd;

        fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgp_probe", "GPL", insns, ELEMENTSOF(insns), &opts);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

static void skel_destroy(struct cgpolicy_bpf **s) {
        cgpolicy_bpf__destroy(*s);
}

/* Is the BPF LSM active ("bpf" in the kernel's list of LSMs)? Debian's kernels have it; without
 * it the listen program cannot be loaded. */
static bool bpf_lsm_active(void) {
        _cleanup_fclose_ FILE *f = fopen("/sys/kernel/security/lsm", "re");
        char buf[512], *save = NULL;

        if (!f || !fgets(buf, sizeof buf, f))
                return false;
        for (char *t = strtok_r(buf, ",\n", &save); t; t = strtok_r(NULL, ",\n", &save))
                if (streq(t, "bpf"))
                        return true;
        return false;
}

_printf_(2, 0) static int libbpf_log_quiet(enum libbpf_print_level level, const char *format, va_list ap) {
        return libbpf_log(LIBBPF_DEBUG, format, ap);
}

/* Open and load the object, its maps pinned under maps_dir (reused where pinned already: running
 * units keep their policies; libbpf refuses a pinned map of another shape). The optional programs
 * are loaded only with optional; a failure then is logged at debug level only (the caller tries
 * again without them). */
static int skel_load(const char *maps_dir, bool task_helpers, bool optional, struct cgpolicy_bpf **ret) {
        _cleanup_(skel_destroy) struct cgpolicy_bpf *skel = NULL;
        struct bpf_map *map;
        int r;

        skel = cgpolicy_bpf__open();
        if (!skel)
                return log_error_errno(errno, "Cannot open the BPF object: %m");
        skel->rodata->cgp_have_task_helpers = task_helpers;

        FOREACH_CGP_HOOK(h) {
                struct bpf_program *prog = bpf_object__find_program_by_name(skel->obj, h->prog);

                if (!prog)
                        return log_error_errno(ENOENT, "The BPF object has no program %s for hook %s.", h->prog, h->name);
                if (h->flags & CGP_HOOK_OPTIONAL)
                        (void) bpf_program__set_autoload(prog, optional);
        }

        bpf_object__for_each_map(map, skel->obj) {
                _cleanup_free_ char *p = NULL;

                if (bpf_map__is_internal(map))
                        continue;       /* .rodata: per load, not pinned */
                if (asprintf(&p, "%s/%s", maps_dir, bpf_map__name(map)) < 0)
                        return log_oom();
                r = bpf_map__set_pin_path(map, p);
                if (r < 0)
                        return log_error_errno(r, "Cannot set pin path %s: %m", p);
        }

        if (optional)
                libbpf_set_print(libbpf_log_quiet);
        r = cgpolicy_bpf__load(skel);
        libbpf_set_print(libbpf_log);
        if (r < 0) {
                if (optional)
                        return log_debug_errno(r, "Cannot load the BPF programs with the optional ones: %m");
                return log_error_errno(r, "Cannot load the BPF programs (verifier log above, if any), "
                                       "or a map pinned under %s does not match this version: %m", maps_dir);
        }
        *ret = TAKE_PTR(skel);
        return 0;
}

int bpf_load_and_pin(void) {
        _cleanup_(skel_destroy) struct cgpolicy_bpf *skel = NULL;
        _cleanup_free_ char *maps_dir = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        const char *dir = pin_dir();
        struct cgp_meta meta = {
                .magic = CGP_MAGIC,
                .layout_version = CGP_LAYOUT_VERSION,
                .max_policies = CGP_MAX_SLOTS,
        };
        __u32 zero = 0;
        bool task_helpers, optional;
        uid_t owner;
        int r;

        libbpf_set_print(libbpf_log);

        r = private_owner(&owner);
        if (r < 0)
                return r;
        if (asprintf(&maps_dir, "%s/maps", dir) < 0)
                return log_oom();
        r = mkdir_p(dir, 0755);
        if (r >= 0)
                r = dir_make_private(dir, owner);
        if (r >= 0)
                r = dir_make_private(maps_dir, owner);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s (is a bpf file system mounted there?): %m", maps_dir);
        r = dir_make_private(runtime_dir(), owner);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", runtime_dir());

        r = open_dir_locked(dir, &dir_fd);
        if (r < 0)
                return log_error_errno(r, "Cannot lock %s: %m", dir);

        r = check_pinned_layout(dir);
        if (r < 0)
                return r;

        task_helpers = probe_task_helpers();
        if (!task_helpers)
                log_info("This kernel gives sock_addr programs no pid/comm helpers; denial records will lack them.");

        optional = bpf_lsm_active();
        if (optional && skel_load(maps_dir, task_helpers, true, &skel) < 0)
                optional = false;
        if (!optional) {
                log_info("This kernel cannot load BPF LSM programs: listen() on a port the kernel chose is not "
                         "judged (see systemd.cgpolicy(5)).");
                r = skel_load(maps_dir, task_helpers, false, &skel);
                if (r < 0)
                        return r;
        }

        r = bpf_map_update_elem(bpf_map__fd(skel->maps.cgp_meta), &zero, &meta, BPF_ANY);
        if (r < 0)
                return log_error_errno(errno, "Cannot write the layout version: %m");

        /* Pin each program under a temporary name (bpffs allows no "." in names), then rename() it
         * over the old pin: the path always names a loaded program, and units attached to the old
         * program keep it (it shares the maps, so their policies stay in force). An optional
         * program this kernel cannot load loses its pin. */
        FOREACH_CGP_HOOK(h) {
                _cleanup_free_ char *tmp = NULL, *final = NULL;
                struct bpf_program *prog = bpf_object__find_program_by_name(skel->obj, h->prog);

                if (asprintf(&tmp, "%s/%s_new", dir, h->name) < 0 ||
                    asprintf(&final, "%s/%s", dir, h->name) < 0)
                        return log_oom();
                (void) unlink(tmp);
                if ((h->flags & CGP_HOOK_OPTIONAL) && !optional) {
                        if (unlink(final) < 0 && errno != ENOENT)
                                return log_error_errno(errno, "Cannot remove %s: %m", final);
                        continue;
                }
                r = bpf_program__pin(prog, tmp);
                if (r < 0)
                        return log_error_errno(r, "Cannot pin program at %s: %m", tmp);
                r = file_make_private(tmp, owner);
                if (r < 0 || rename(tmp, final) < 0) {
                        r = r < 0 ? r : -errno;
                        (void) unlink(tmp);
                        return log_error_errno(r, "Cannot put %s in place as %s: %m", tmp, final);
                }
                log_debug("Pinned %s.", final);
        }

        /* The maps are pinned by libbpf (those pinned already were reused). */
        for (size_t i = 0; i < _MAP_MAX; i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", maps_dir, map_names[i]) < 0)
                        return log_oom();
                r = file_make_private(p, owner);
                if (r < 0)
                        return log_error_errno(r, "Cannot make %s private: %m", p);
        }

        log_info("Loaded and pinned the cgpolicy programs under %s.", dir);
        return 0;
}

void maps_close(Maps *m) {
        assert(m);

        /* Nothing is left behind: retired policies go now (a grace period first). */
        if (m->n_retired > 0)
                (void) maps_reclaim(m);
        free(m->retired);
        if (m->fast)
                (void) munmap(m->fast, sizeof(struct cgp_fast_set));
        for (size_t i = 0; i < _MAP_MAX; i++)
                closep(&m->fd[i]);
        closep(&m->dir_fd);     /* releases the flock */
        *m = (Maps) MAPS_NULL;
}

static int maps_open_full(Maps *m, bool lock, bool write) {
        const char *dir = pin_dir();
        struct bpf_map_info info;
        int r;

        assert(m);

        libbpf_set_print(libbpf_log);

        if (lock) {
                r = open_dir_locked(dir, &m->dir_fd);
                if (r < 0) {
                        if (r == -ENOENT)
                                return log_error_errno(r, "%s does not exist: the cgpolicy programs are not loaded "
                                                       "(is cgpolicy-load.service active?)", dir);
                        return log_error_errno(r, "Cannot lock %s: %m", dir);
                }
        }

        r = check_pinned_layout(dir);
        if (r < 0)
                return r;

        for (int i = 0; i < _MAP_MAX; i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/maps/%s", dir, map_names[i]) < 0)
                        return log_oom();
                m->fd[i] = map_pin_open(p, write);
                if (m->fd[i] < 0) {
                        if (errno == ENOENT)
                                return log_error_errno(ENOENT, "%s is not pinned: the cgpolicy programs are not loaded "
                                                       "(is cgpolicy-load.service active?)", p);
                        return log_error_errno(errno, "Cannot open %s: %m", p);
                }
        }

        r = map_get_info(m->fd[MAP_CGROUPS], &info);
        if (r < 0)
                return log_error_errno(r, "Cannot query the cgroups map: %m");
        m->cgroups_map_id = info.id;

        m->n_cpus = libbpf_num_possible_cpus();
        if (m->n_cpus <= 0)
                return log_error_errno(m->n_cpus < 0 ? m->n_cpus : -EIO, "Cannot get the number of CPUs: %m");
        return 0;
}

int maps_open(Maps *m, bool lock) {
        return maps_open_full(m, lock, lock);
}

int maps_open_monitor(Maps *m) {
        return maps_open_full(m, false, true);
}

int maps_get_cgroup(Maps *m, uint64_t cgroup_id, struct cgp_cgroup *ret) {
        assert(m);
        assert(ret);

        if (bpf_map_lookup_elem(m->fd[MAP_CGROUPS], &cgroup_id, ret) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}

int maps_foreach_cgroup(Maps *m, int (*cb)(uint64_t id, const struct cgp_cgroup *v, void *userdata), void *userdata) {
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0;
        uint64_t key, next;
        void *prev = NULL;
        int r;

        assert(m);
        assert(cb);

        /* Collect first: callbacks may delete. */
        ids = calloc(CGP_MAX_CGROUPS + 1, sizeof(uint64_t));
        if (!ids)
                return -ENOMEM;
        while (n < CGP_MAX_CGROUPS + 1 && bpf_map_get_next_key(m->fd[MAP_CGROUPS], prev, &next) == 0) {
                ids[n++] = next;
                key = next;
                prev = &key;
        }

        for (size_t i = 0; i < n; i++) {
                struct cgp_cgroup v;

                if (bpf_map_lookup_elem(m->fd[MAP_CGROUPS], &ids[i], &v) < 0)
                        continue;
                r = cb(ids[i], &v, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct Used {
        uint8_t slots[CGP_MAX_SLOTS];   /* 1: a cgroup uses the slot */
        uint32_t *tags;                 /* the tags cgroups refer to, sorted */
        size_t n_tags;
} Used;

static void used_free(Used **u) {
        if (*u) {
                free((*u)->tags);
                free(*u);
        }
}

static int mark_used(uint64_t id, const struct cgp_cgroup *v, void *userdata) {
        Used *u = userdata;
        uint32_t *t;

        if (v->slot < CGP_MAX_SLOTS)
                u->slots[v->slot] = 1;
        t = reallocarray(u->tags, u->n_tags + 1, sizeof(uint32_t));
        if (!t)
                return -ENOMEM;
        u->tags = t;
        u->tags[u->n_tags++] = v->policy;
        return 0;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

        return x < y ? -1 : x > y;
}

/* The slots and tags some cgroup refers to. */
static int used_collect(Maps *m, Used **ret) {
        _cleanup_(used_free) Used *u = calloc(1, sizeof(Used));
        int r;

        if (!u)
                return -ENOMEM;
        r = maps_foreach_cgroup(m, mark_used, u);
        if (r < 0)
                return r;
        if (u->n_tags > 0)
                qsort(u->tags, u->n_tags, sizeof(uint32_t), cmp_u32);
        *ret = TAKE_PTR(u);
        return 0;
}

static bool tag_used(const Used *u, uint32_t tag) {
        return u->n_tags > 0 && bsearch(&tag, u->tags, u->n_tags, sizeof(uint32_t), cmp_u32);
}

static int state_read(Maps *m, struct cgp_state *ret) {
        __u32 zero = 0;

        if (bpf_map_lookup_elem(m->fd[MAP_STATE], &zero, ret) < 0)
                return -errno;
        return 0;
}

static int state_write(Maps *m, const struct cgp_state *st) {
        __u32 zero = 0;

        if (bpf_map_update_elem(m->fd[MAP_STATE], &zero, st, BPF_ANY) < 0)
                return -errno;
        return 0;
}

int maps_new_tag(Maps *m, uint32_t *ret) {
        struct cgp_state st;
        int r;

        assert(m);
        assert(m->dir_fd >= 0);         /* only under the lock */
        assert(ret);

        r = state_read(m, &st);
        if (r < 0)
                return r;
        /* 2^32 - 1 tags per boot (per creation of the maps) before one comes round again; were
         * that to happen, leftovers are removed first, so that even then none is inherited. */
        if ((uint32_t) (st.next_tag + 1) == 0) {
                r = maps_delete_orphans(m, NULL);
                if (r < 0)
                        return r;
                st.next_tag = 0;
        }
        st.next_tag++;
        r = state_write(m, &st);
        if (r < 0)
                return r;
        *ret = (uint32_t) st.next_tag;
        return 0;
}

static int slot_reset(Maps *m, uint32_t slot) {
        _cleanup_free_ struct cgp_counter *zero = calloc((size_t) m->n_cpus, sizeof(struct cgp_counter));
        struct cgp_slot s;

        if (!zero)
                return -ENOMEM;
        for (uint32_t d = 0; d < CGP_COUNTER_DIRS; d++) {
                __u32 idx = slot * CGP_COUNTER_DIRS + d;

                if (bpf_map_update_elem(m->fd[MAP_COUNTERS], &idx, zero, BPF_ANY) < 0)
                        return -errno;
        }
        /* The sequence goes on (records of the slot's previous user may still be read); the
         * rate and what it suppressed start afresh. */
        if (bpf_map_lookup_elem(m->fd[MAP_SLOTS], &slot, &s) < 0)
                return -errno;
        s.suppressed = 0;
        s.tat_ns = 0;
        if (bpf_map_update_elem(m->fd[MAP_SLOTS], &slot, &s, BPF_ANY) < 0)
                return -errno;
        /* The stream's counts too (records of the previous user still in the ring buffer are
         * counted for the new one: the monitor names the unit from the record's cgroup). */
        if (bpf_map_update_elem(m->fd[MAP_EVENTS_LOST], &slot, zero, BPF_ANY) < 0 ||
            bpf_map_update_elem(m->fd[MAP_STREAMED], &slot, &(struct cgp_stream) {}, BPF_ANY) < 0)
                return -errno;
        return 0;
}

int maps_alloc_slot(Maps *m, uint32_t *ret) {
        _cleanup_(used_free) Used *u = NULL;
        int r;

        assert(m);
        assert(ret);

        r = used_collect(m, &u);
        if (r < 0)
                return r;
        for (uint32_t i = 1; i < CGP_MAX_SLOTS; i++)
                if (!u->slots[i]) {
                        r = slot_reset(m, i);
                        if (r < 0)
                                return r;
                        *ret = i;
                        return 0;
                }
        return -ENOSPC;
}

int maps_read_counter(Maps *m, uint32_t slot, int dir, struct cgp_counter *ret) {
        _cleanup_free_ struct cgp_counter *v = NULL;
        __u32 idx = slot * CGP_COUNTER_DIRS + (uint32_t) dir;

        assert(m);
        assert(dir >= 0 && dir < CGP_COUNTER_DIRS);
        assert(ret);

        v = calloc((size_t) m->n_cpus, sizeof(struct cgp_counter));
        if (!v)
                return -ENOMEM;
        *ret = (struct cgp_counter) {};
        if (bpf_map_lookup_elem(m->fd[MAP_COUNTERS], &idx, v) < 0)
                return -errno;
        for (int i = 0; i < m->n_cpus; i++) {
                ret->allowed += v[i].allowed;
                ret->denied += v[i].denied;
                ret->audited += v[i].audited;
        }
        return 0;
}

int maps_read_slot(Maps *m, uint32_t slot, struct cgp_slot *ret) {
        assert(m);
        assert(ret);

        if (bpf_map_lookup_elem(m->fd[MAP_SLOTS], &slot, ret) < 0)
                return -errno;
        return 0;
}

int maps_read_slots(Maps *m, struct cgp_slot *ret) {
        _cleanup_free_ __u32 *keys = calloc(CGP_MAX_SLOTS, sizeof(__u32));
        __u32 count = CGP_MAX_SLOTS, out = 0;

        assert(m);
        assert(ret);

        if (!keys)
                return -ENOMEM;
        if (bpf_map_lookup_batch(m->fd[MAP_SLOTS], NULL, &out, keys, ret, &count, NULL) < 0 && errno != ENOENT)
                return -errno;
        if (count != CGP_MAX_SLOTS)
                return -EIO;
        for (__u32 i = 0; i < count; i++)
                if (keys[i] != i)
                        return -EIO;
        return 0;
}

int maps_read_events_lost(Maps *m, uint32_t slot, uint64_t *ret) {
        _cleanup_free_ uint64_t *v = NULL;

        assert(m);
        assert(ret);

        v = calloc((size_t) m->n_cpus, sizeof(uint64_t));
        if (!v)
                return -ENOMEM;
        if (bpf_map_lookup_elem(m->fd[MAP_EVENTS_LOST], &slot, v) < 0)
                return -errno;
        *ret = 0;
        for (int i = 0; i < m->n_cpus; i++)
                *ret += v[i];
        return 0;
}

int maps_read_streamed(Maps *m, uint32_t slot, struct cgp_stream *ret) {
        assert(m);
        assert(ret);

        if (bpf_map_lookup_elem(m->fd[MAP_STREAMED], &slot, ret) < 0)
                return -errno;
        return 0;
}

int maps_write_streamed(Maps *m, uint32_t slot, const struct cgp_stream *v) {
        assert(m);
        assert(v);

        if (bpf_map_update_elem(m->fd[MAP_STREAMED], &slot, v, BPF_ANY) < 0)
                return -errno;
        return 0;
}

int maps_write_policy(Maps *m, const CompiledPolicy *c) {
        assert(m);
        assert(c);

        for (size_t i = 0; i < c->n_ports; i++) {
                if (bpf_map_update_elem(m->fd[MAP_PORTS], &c->ports[i].key, &c->ports[i].value, BPF_ANY) < 0)
                        return -errno;
                /* Single ports also into the exact map, which the programs ask first, as far as
                 * it has room: one it does not hold is found in the trie. */
                if (c->ports[i].key.prefixlen == CGP_PORT_KEY_FIXED_BITS + 16 &&
                    bpf_map_update_elem(m->fd[MAP_PORT_EXACT], &c->ports[i].key, &c->ports[i].value, BPF_ANY) < 0 &&
                    errno != E2BIG)
                        return -errno;
        }
        for (size_t i = 0; i < c->n_portsets; i++)
                if (bpf_map_update_elem(m->fd[MAP_PORTSETS], &c->portsets[i].key, &c->portsets[i].value, BPF_ANY) < 0)
                        return -errno;
        /* Address entries last: they refer to the port sets. */
        for (size_t i = 0; i < c->n_addrs; i++)
                if (bpf_map_update_elem(m->fd[MAP_ADDRS], &c->addrs[i].key, &c->addrs[i].value, BPF_ANY) < 0)
                        return -errno;
        return maps_dns_write(m, c);
}

int maps_set_cgroup(Maps *m, uint64_t cgroup_id, const struct cgp_cgroup *v) {
        assert(m);
        assert(v);

        if (bpf_map_update_elem(m->fd[MAP_CGROUPS], &cgroup_id, v, BPF_ANY) < 0)
                return -errno;
        return 0;
}

/* Waiting for the programs: they run under rcu_read_lock() (non-sleepable programs: every one of
 * ours), so an RCU grace period after a change of cgp_cgroups is the moment from which no program
 * still holds what it read before. User space cannot call synchronize_rcu() itself, but the kernel
 * does it for it: an update of an element of a map-in-map (BPF_MAP_TYPE_ARRAY_OF_MAPS or
 * HASH_OF_MAPS) from the bpf() syscall ends with maybe_wait_bpf_programs() (kernel/bpf/syscall.c,
 * map_update_elem(), in 6.1 as in 6.12: "Wait for any running BPF programs to complete so that
 * userspace, when we return to it, knows that all programs that could be running use the new map
 * value"), which calls synchronize_rcu(); in later kernels only when the update succeeded, so it
 * must succeed. The array of maps and its inner array
 * are made for the call and not pinned: nobody else uses them. Should the kernel refuse to create
 * them, a fixed sleep is the fallback: our programs run for microseconds (a bounded number of
 * lookups, no loops beyond CGP_MAX_CGROUP_DEPTH), 50 ms is many times that even when a program was
 * preempted (PREEMPT_RCU). */
#define PROGRAMS_GRACE_SLEEP_USEC (50 * 1000)

int maps_wait_programs(void) {
        LIBBPF_OPTS(bpf_map_create_opts, opts);
        _cleanup_close_ int inner = -EBADF, outer = -EBADF;
        uint32_t zero = 0;
        int fd;

        inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "cgp_wait_inner", sizeof(uint32_t), sizeof(uint32_t), 1, NULL);
        if (inner >= 0) {
                opts.inner_map_fd = inner;
                outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "cgp_wait", sizeof(uint32_t), sizeof(uint32_t), 1, &opts);
        }
        fd = inner;
        if (outer >= 0 && bpf_map_update_elem(outer, &zero, &fd, BPF_ANY) == 0)
                return 0;

        log_debug_errno(errno, "Cannot wait for the programs with a map-in-map update (%m), sleeping instead.");
        (void) usleep(PROGRAMS_GRACE_SLEEP_USEC);
        return 1;
}

int maps_retire_policy(Maps *m, uint32_t tag) {
        uint32_t *l;

        assert(m);

        l = reallocarray(m->retired, m->n_retired + 1, sizeof(uint32_t));
        if (!l)
                return -ENOMEM;
        m->retired = l;
        l[m->n_retired++] = tag;
        return 0;
}

int maps_reclaim(Maps *m) {
        int r, ret = 0;

        assert(m);

        if (m->n_retired == 0)
                return 0;
        (void) maps_wait_programs();
        for (size_t i = 0; i < m->n_retired; i++) {
                r = maps_delete_policy(m, m->retired[i]);
                if (r < 0) {
                        log_warning_errno(r, "Cannot remove a previous policy (cgpolicy gc will): %m");
                        if (ret == 0)
                                ret = r;
                }
        }
        m->n_retired = 0;
        return ret;
}

void maps_reclaim_in_background(Maps *m) {
        pid_t pid;

        assert(m);

        if (m->n_retired == 0)
                return;
        pid = fork();
        if (pid < 0) {
                (void) maps_reclaim(m);
                return;
        }
        if (pid > 0) {
                /* The child reclaims; it holds the lock (the same open file) until it is done. */
                m->n_retired = 0;
                return;
        }
        /* The child: nothing of its output reaches whoever waits for the command's. */
        {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        (void) dup2(null, STDOUT_FILENO);
                        (void) dup2(null, STDERR_FILENO);
                        if (null > STDERR_FILENO)
                                close(null);
                }
        }
        _exit(maps_reclaim(m) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

int maps_delete_cgroup(Maps *m, uint64_t cgroup_id) {
        assert(m);

        if (bpf_map_delete_elem(m->fd[MAP_CGROUPS], &cgroup_id) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int fast_map(Maps *m) {
        void *p;

        assert(m->dir_fd >= 0);         /* one writer: under the lock */
        if (m->fast)
                return 0;
        p = mmap(NULL, sizeof(struct cgp_fast_set), PROT_READ | PROT_WRITE, MAP_SHARED, m->fd[MAP_FAST], 0);
        if (p == MAP_FAILED)
                return -errno;
        m->fast = p;
        return 0;
}

static void fast_store(struct cgp_fast_set *s, uint32_t i, uint64_t w) {
        __atomic_store_n(&s->w[i], w, __ATOMIC_RELEASE);
}

int maps_fast_remove(Maps *m, uint64_t cgroup_id) {
        uint32_t cg32 = (uint32_t) cgroup_id;
        int r;

        assert(m);

        r = fast_map(m);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < CGP_FAST_WORDS; i++) {
                uint64_t w = __atomic_load_n(&m->fast->w[i], __ATOMIC_RELAXED);

                if (w > CGP_FAST_TOMB && (uint32_t) (w >> 32) == cg32)
                        fast_store(m->fast, i, CGP_FAST_TOMB);
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return 0;
}

/* Into the first free or removed place of its probe sequence, unless it is there already;
 * false when there is no room. */
static bool fast_insert(struct cgp_fast_set *s, uint64_t word) {
        uint32_t h = cgp_fast_hash(word), free_at = UINT32_MAX;

        for (uint32_t i = 0; i < CGP_FAST_PROBES; i++) {
                uint32_t at = (h + i) & (CGP_FAST_WORDS - 1);
                uint64_t w = s->w[at];

                if (w == word)
                        return true;
                if (w <= CGP_FAST_TOMB && free_at == UINT32_MAX)
                        free_at = at;
                if (w == 0)
                        break;
        }
        if (free_at == UINT32_MAX)
                return false;
        fast_store(s, free_at, word);
        return true;
}

int maps_fast_add(Maps *m, uint64_t cgroup_id, uint32_t slot, const CompiledPolicy *c) {
        unsigned added = 0, left = 0;
        int r;

        assert(m);
        assert(c);

        r = fast_map(m);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_ports; i++) {
                const struct cgp_port_key *k = &c->ports[i].key;

                if (k->prefixlen != CGP_PORT_KEY_FIXED_BITS + 16 || !(c->ports[i].value.bits & CGP_MATCH_ALLOW))
                        continue;
                if (fast_insert(m->fast, cgp_fast_word((uint32_t) cgroup_id, (uint16_t) (k->port[0] << 8 | k->port[1]),
                                                       slot, k->dir, k->family, k->proto)))
                        added++;
                else
                        left++;
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (left > 0)
                log_debug("The fast set has no room for %u of the %u single-port allows of cgroup %" PRIu64 ".",
                          left, added + left, cgroup_id);
        return 0;
}

static int mark_live(uint64_t id, const struct cgp_cgroup *v, void *userdata) {
        Used *u = userdata;
        uint32_t *t;

        t = reallocarray(u->tags, u->n_tags + 1, sizeof(uint32_t));
        if (!t)
                return -ENOMEM;
        u->tags = t;
        u->tags[u->n_tags++] = (uint32_t) id;
        return 0;
}

int maps_fast_gc(Maps *m) {
        _cleanup_(used_free) Used *live = calloc(1, sizeof(Used));
        _cleanup_free_ uint64_t *keep = NULL;
        size_t n_keep = 0, tombs = 0;
        int r;

        assert(m);

        if (!live)
                return -ENOMEM;
        r = fast_map(m);
        if (r < 0)
                return r;
        /* The low 32 bits of the ids of the cgroups that have an entry. */
        r = maps_foreach_cgroup(m, mark_live, live);
        if (r < 0)
                return r;
        if (live->n_tags > 0)
                qsort(live->tags, live->n_tags, sizeof(uint32_t), cmp_u32);

        keep = calloc(CGP_FAST_WORDS, sizeof(uint64_t));
        if (!keep)
                return -ENOMEM;
        for (uint32_t i = 0; i < CGP_FAST_WORDS; i++) {
                uint64_t w = m->fast->w[i];

                if (w == CGP_FAST_TOMB)
                        tombs++;
                if (w <= CGP_FAST_TOMB)
                        continue;
                if (!tag_used(live, (uint32_t) (w >> 32))) {
                        fast_store(m->fast, i, CGP_FAST_TOMB);
                        tombs++;
                } else
                        keep[n_keep++] = w;
        }
        if (tombs > CGP_FAST_WORDS / 4) {
                /* Compact: empty, then put back what is live. Meanwhile a program may miss a
                 * word (the slow way answers), never find a wrong one. */
                for (uint32_t i = 0; i < CGP_FAST_WORDS; i++)
                        fast_store(m->fast, i, 0);
                for (size_t i = 0; i < n_keep; i++)
                        (void) fast_insert(m->fast, keep[i]);
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return 0;
}

/* The keys of a trie whose tag (at offset 4 of every key) satisfies pred: counted into *ret_n,
 * and with delete, removed (then only those actually removed are counted). */
static int trie_foreach_if(int fd, size_t key_size, bool (*pred)(uint32_t tag, void *userdata), void *userdata,
                           bool delete, unsigned *ret_n) {
        _cleanup_free_ uint8_t *keys = NULL;
        size_t n = 0, allocated = 0;
        uint8_t key[sizeof(struct cgp_dns_name_key)], next[sizeof(struct cgp_dns_name_key)];  /* the largest */
        void *prev = NULL;
        unsigned deleted = 0;

        assert(key_size <= sizeof key);

        while (bpf_map_get_next_key(fd, prev, next) == 0) {
                uint32_t tag;

                memcpy(&tag, next + 4, sizeof tag);
                if (pred(tag, userdata)) {
                        if (n == allocated) {
                                size_t a = MAX(allocated * 2, (size_t) 256);
                                uint8_t *k = reallocarray(keys, a, key_size);

                                if (!k)
                                        return -ENOMEM;
                                keys = k;
                                allocated = a;
                        }
                        memcpy(keys + n * key_size, next, key_size);
                        n++;
                }
                memcpy(key, next, key_size);
                prev = key;
        }

        if (!delete) {
                if (ret_n)
                        *ret_n += (unsigned) n;
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                if (bpf_map_delete_elem(fd, keys + i * key_size) < 0) {
                        if (errno != ENOENT)
                                return -errno;
                } else
                        deleted++;
        }
        if (ret_n)
                *ret_n += deleted;
        return 0;
}

static bool policy_is(uint32_t tag, void *userdata) {
        return tag == *(uint32_t *) userdata;
}

/* The entries of every tag that pred selects, from all four maps: address entries first
 * (they refer to the port sets), the exact port entries before the trie's. */
static int policies_foreach_if(Maps *m, bool (*pred)(uint32_t tag, void *userdata), void *userdata,
                               bool delete, unsigned *ret_n) {
        static const struct {
                MapIndex map;
                size_t key_size;
        } order[] = {
                { MAP_ADDRS,      sizeof(struct cgp_addr_key) },
                { MAP_PORTSETS,   sizeof(struct cgp_portset_key) },
                { MAP_PORT_EXACT, sizeof(struct cgp_port_key) },
                { MAP_PORTS,      sizeof(struct cgp_port_key) },
                /* Name rules: the rules, then the names, then what they learned. */
                { MAP_DNS_RULES,   sizeof(struct cgp_dns_rules_key) },
                { MAP_DNS_NAMES,   sizeof(struct cgp_dns_name_key) },
                { MAP_DNS_LEARNED, sizeof(struct cgp_dns_learned_key) },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                r = trie_foreach_if(m->fd[order[i].map], order[i].key_size, pred, userdata, delete, ret_n);
                if (r < 0)
                        return r;
        }
        return 0;
}

int maps_delete_policy(Maps *m, uint32_t tag) {
        assert(m);

        return policies_foreach_if(m, policy_is, &tag, true, NULL);
}

static bool policy_unused(uint32_t tag, void *userdata) {
        return !tag_used(userdata, tag);
}

int maps_delete_orphans(Maps *m, unsigned *ret_deleted) {
        _cleanup_(used_free) Used *u = NULL;
        int r;

        assert(m);

        r = used_collect(m, &u);
        if (r < 0)
                return r;
        return policies_foreach_if(m, policy_unused, u, true, ret_deleted);
}

int maps_count_orphans(Maps *m, unsigned *ret) {
        _cleanup_(used_free) Used *u = NULL;
        int r;

        assert(m);
        assert(ret);

        r = used_collect(m, &u);
        if (r < 0)
                return r;
        *ret = 0;
        return policies_foreach_if(m, policy_unused, u, false, ret);
}

/* Is program prog_id one of ours (it uses our cgroups map), and, with h, the program of hook h?
 * (The lsm_cgroup programs of several hooks share one attach type; the kernel keeps the first
 * BPF_OBJ_NAME_LEN - 1 bytes of a program's name.) */
static int prog_is_ours(Maps *m, __u32 prog_id, const CgpHook *h) {
        _cleanup_close_ int fd = -EBADF;
        struct bpf_prog_info info = {};
        __u32 ids[32], len = sizeof(info);

        fd = bpf_prog_get_fd_by_id(prog_id);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        info.nr_map_ids = ELEMENTSOF(ids);
        info.map_ids = (__u64) (uintptr_t) ids;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
                return -errno;
        if (h && strncmp(info.name, h->prog, sizeof(info.name) - 1) != 0)
                return 0;
        for (__u32 i = 0; i < MIN(info.nr_map_ids, (__u32) ELEMENTSOF(ids)); i++)
                if (ids[i] == m->cgroups_map_id)
                        return 1;
        return 0;
}

int hook_is_effective(Maps *m, int cgroup_fd, const CgpHook *h) {
        __u32 ids[64], cnt = ELEMENTSOF(ids), attach_flags = 0;
        int r;

        if (bpf_prog_query(cgroup_fd, h->attach_type, BPF_F_QUERY_EFFECTIVE, &attach_flags, ids, &cnt) < 0)
                return -errno;
        for (__u32 i = 0; i < cnt; i++) {
                r = prog_is_ours(m, ids[i], h);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* Opens the pin of hook h: the fd, -ENOENT when an optional hook is not pinned (this kernel
 * cannot load it), or another negative errno (logged). */
static int hook_pin_open(const CgpHook *h) {
        _cleanup_free_ char *pin = NULL;
        int fd;

        if (asprintf(&pin, "%s/%s", pin_dir(), h->name) < 0)
                return log_oom();
        fd = bpf_obj_get(pin);
        if (fd < 0) {
                if (errno == ENOENT && (h->flags & CGP_HOOK_OPTIONAL))
                        return -ENOENT;
                return log_error_errno(errno, "Program %s is not pinned: %m", pin);
        }
        return fd;
}

int ensure_attached(Maps *m, const char *fs_path, unsigned dirs_mask) {
        _cleanup_close_ int cgfd = -EBADF;
        int attached = 0, r;

        assert(m);
        assert(fs_path);

        cgfd = open(fs_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgfd < 0)
                return log_error_errno(errno, "Cannot open cgroup %s: %m", fs_path);

        FOREACH_CGP_HOOK(h) {
                _cleanup_close_ int pfd = -EBADF;

                if (!cgp_hook_needed(h, dirs_mask))
                        continue;

                pfd = hook_pin_open(h);
                if (pfd == -ENOENT)
                        continue;       /* an optional hook this kernel lacks */
                if (pfd < 0)
                        return log_error_errno(pfd, "Cannot attach %s to %s: %m", h->name, fs_path);

                r = hook_is_effective(m, cgfd, h);
                if (r < 0)
                        return log_error_errno(r, "Cannot query the %s programs of cgroup %s: %m", h->name, fs_path);
                if (r > 0)
                        continue;

                if (bpf_prog_attach(pfd, cgfd, h->attach_type, BPF_F_ALLOW_MULTI) < 0)
                        return log_error_errno(errno, "Cannot attach %s to cgroup %s: %m", h->name, fs_path);
                log_debug("Attached %s to %s.", h->name, fs_path);
                attached++;
        }
        return attached;
}

typedef struct DetachOwn {
        Maps *m;
        unsigned detached;
} DetachOwn;

static int detach_own_one(uint64_t id, const struct cgp_cgroup *v, void *userdata) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int cgfd = -EBADF;
        DetachOwn *d = userdata;
        int r;

        r = cg_id_exists(id, &path);
        if (r <= 0)
                return r;       /* gone: so are its attachments */
        cgfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgfd < 0)
                return errno == ENOENT ? 0 : log_error_errno(errno, "Cannot open cgroup %s: %m", path);

        FOREACH_CGP_HOOK(h) {
                __u32 ids[64], prog_flags[64];
                /* A query of the programs attached here (not the effective ones) of lsm_cgroup
                 * must ask for each program's attach flags too, or the kernel says EINVAL. */
                LIBBPF_OPTS(bpf_prog_query_opts, q, .prog_ids = ids, .prog_attach_flags = prog_flags,
                            .prog_cnt = ELEMENTSOF(ids));
                __u32 cnt;

                if (bpf_prog_query_opts(cgfd, h->attach_type, &q) < 0) {
                        if (errno == EINVAL || errno == EOPNOTSUPP)
                                continue;       /* this kernel has no such hook */
                        return log_error_errno(errno, "Cannot query the %s programs of %s: %m", h->name, path);
                }
                cnt = MIN(q.prog_cnt, (__u32) ELEMENTSOF(ids));
                for (__u32 i = 0; i < cnt; i++) {
                        _cleanup_close_ int pfd = -EBADF;

                        r = prog_is_ours(d->m, ids[i], NULL);
                        if (r < 0)
                                return log_error_errno(r, "Cannot inspect program %u: %m", ids[i]);
                        if (r == 0)
                                continue;
                        pfd = bpf_prog_get_fd_by_id(ids[i]);
                        if (pfd < 0)
                                continue;       /* gone meanwhile */
                        if (bpf_prog_detach2(pfd, cgfd, h->attach_type) < 0 && errno != ENOENT)
                                return log_error_errno(errno, "Cannot detach %s from %s: %m", h->name, path);
                        d->detached++;
                }
        }
        return 0;
}

int maps_detach_own(Maps *m, unsigned *ret_detached) {
        DetachOwn d = { .m = m };
        int r;

        assert(m);

        r = maps_foreach_cgroup(m, detach_own_one, &d);
        if (r < 0)
                return r;
        if (ret_detached)
                *ret_detached = d.detached;
        return 0;
}
