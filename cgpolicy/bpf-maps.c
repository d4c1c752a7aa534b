/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf-maps.h"
#include "config.h"
#include "log.h"
#include "macro.h"
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
};

const char *pin_dir(void) {
        const char *e = getenv("CGPOLICY_BPFFS_DIR");

        return e && *e ? e : CGPOLICY_BPFFS_DIR;
}

_printf_(2, 0) static int libbpf_log(enum libbpf_print_level level, const char *format, va_list ap) {
        char buf[4096];
        size_t n;

        if (level == LIBBPF_DEBUG && log_get_max_level() < LOG_DEBUG)
                return 0;
        vsnprintf(buf, sizeof buf, format, ap);
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = 0;
        log_full(level == LIBBPF_WARN ? LOG_WARNING : LOG_DEBUG, "%s", buf);
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
        fd = bpf_obj_get(path);
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

int bpf_load_and_pin(void) {
        _cleanup_(skel_destroy) struct cgpolicy_bpf *skel = NULL;
        _cleanup_free_ char *maps_dir = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        const char *dir = pin_dir();
        struct bpf_map *map;
        struct cgp_meta meta = {
                .magic = CGP_MAGIC,
                .layout_version = CGP_LAYOUT_VERSION,
                .max_policies = CGP_MAX_POLICIES,
        };
        __u32 zero = 0;
        bool task_helpers;
        int r;

        libbpf_set_print(libbpf_log);

        if (asprintf(&maps_dir, "%s/maps", dir) < 0)
                return log_oom();
        r = mkdir_p(maps_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s (is a bpf file system mounted there?): %m", maps_dir);

        r = open_dir_locked(dir, &dir_fd);
        if (r < 0)
                return log_error_errno(r, "Cannot lock %s: %m", dir);

        r = check_pinned_layout(dir);
        if (r < 0)
                return r;

        skel = cgpolicy_bpf__open();
        if (!skel)
                return log_error_errno(errno, "Cannot open the BPF object: %m");

        task_helpers = probe_task_helpers();
        skel->rodata->cgp_have_task_helpers = task_helpers;
        if (!task_helpers)
                log_info("This kernel gives sock_addr programs no pid/comm helpers; denial records will lack them.");

        /* Reuse maps that are pinned already (running units keep their policies), pin the
         * others. libbpf refuses a pinned map of another shape. */
        bpf_object__for_each_map(map, skel->obj) {
                _cleanup_free_ char *p = NULL;
                const char *name = bpf_map__name(map);

                if (bpf_map__is_internal(map))
                        continue;       /* .rodata: per load, not pinned */
                if (asprintf(&p, "%s/%s", maps_dir, name) < 0)
                        return log_oom();
                r = bpf_map__set_pin_path(map, p);
                if (r < 0)
                        return log_error_errno(r, "Cannot set pin path %s: %m", p);
        }

        r = cgpolicy_bpf__load(skel);
        if (r < 0)
                return log_error_errno(r, "Cannot load the BPF programs (verifier log above, if any), "
                                       "or a map pinned under %s does not match this version: %m", maps_dir);

        r = bpf_map_update_elem(bpf_map__fd(skel->maps.cgp_meta), &zero, &meta, BPF_ANY);
        if (r < 0)
                return log_error_errno(errno, "Cannot write the layout version: %m");

        /* Pin each program under a temporary name (bpffs allows no "." in names), then rename() it
         * over the old pin: the path always names a loaded program, and units attached to the old
         * program keep it (it shares the maps, so their policies stay in force). */
        FOREACH_CGP_HOOK(h) {
                _cleanup_free_ char *tmp = NULL, *final = NULL;
                struct bpf_program *prog = bpf_object__find_program_by_name(skel->obj, h->prog);

                if (!prog)
                        return log_error_errno(-ENOENT, "The BPF object has no program %s for hook %s.", h->prog, h->name);
                if (asprintf(&tmp, "%s/%s_new", dir, h->name) < 0 ||
                    asprintf(&final, "%s/%s", dir, h->name) < 0)
                        return log_oom();
                (void) unlink(tmp);
                r = bpf_program__pin(prog, tmp);
                if (r < 0)
                        return log_error_errno(r, "Cannot pin program at %s: %m", tmp);
                if (rename(tmp, final) < 0) {
                        r = -errno;
                        (void) unlink(tmp);
                        return log_error_errno(r, "Cannot rename %s to %s: %m", tmp, final);
                }
                log_debug("Pinned %s.", final);
        }

        log_info("Loaded and pinned the cgpolicy programs under %s.", dir);
        return 0;
}

void maps_close(Maps *m) {
        assert(m);

        for (size_t i = 0; i < _MAP_MAX; i++)
                closep(&m->fd[i]);
        closep(&m->dir_fd);     /* releases the flock */
        *m = (Maps) MAPS_NULL;
}

int maps_open(Maps *m, bool lock) {
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
                m->fd[i] = bpf_obj_get(p);
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

static int mark_used(uint64_t id, const struct cgp_cgroup *v, void *userdata) {
        uint8_t *used = userdata;

        if (v->policy < CGP_MAX_POLICIES)
                used[v->policy] = 1;
        return 0;
}

/* The policy ids some cgroup refers to: *ret[id] is 1 for those (CGP_MAX_POLICIES bytes). */
static int used_policies(Maps *m, uint8_t **ret) {
        _cleanup_free_ uint8_t *used = calloc(CGP_MAX_POLICIES, 1);
        int r;

        if (!used)
                return -ENOMEM;
        r = maps_foreach_cgroup(m, mark_used, used);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(used);
        return 0;
}

int maps_alloc_policy(Maps *m, uint32_t avoid, uint32_t *ret) {
        _cleanup_free_ uint8_t *used = NULL;
        int r;

        assert(m);
        assert(ret);

        r = used_policies(m, &used);
        if (r < 0)
                return r;
        for (uint32_t i = 1; i < CGP_MAX_POLICIES; i++)
                if (!used[i] && i != avoid) {
                        *ret = i;
                        return 0;
                }
        return -ENOSPC;
}

static int zero_counters(Maps *m, uint32_t policy) {
        _cleanup_free_ struct cgp_counter *zero = calloc((size_t) m->n_cpus, sizeof(struct cgp_counter));

        if (!zero)
                return -ENOMEM;
        for (int d = 0; d < CGP_DIR_MAX; d++) {
                __u32 idx = policy * CGP_DIR_MAX + (uint32_t) d;

                if (bpf_map_update_elem(m->fd[MAP_COUNTERS], &idx, zero, BPF_ANY) < 0)
                        return -errno;
        }
        return 0;
}

int maps_read_counter(Maps *m, uint32_t policy, int dir, struct cgp_counter *ret) {
        _cleanup_free_ struct cgp_counter *v = NULL;
        __u32 idx = policy * CGP_DIR_MAX + (uint32_t) dir;

        assert(m);
        assert(dir >= 0 && dir < CGP_DIR_MAX);
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

int maps_write_policy(Maps *m, const CompiledPolicy *c) {
        int r;

        assert(m);
        assert(c);

        r = zero_counters(m, c->policy);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_ports; i++) {
                if (bpf_map_update_elem(m->fd[MAP_PORTS], &c->ports[i].key, &c->ports[i].value, BPF_ANY) < 0)
                        return -errno;
                /* Single ports also into the exact map, which the programs ask first. */
                if (c->ports[i].key.prefixlen == CGP_PORT_KEY_FIXED_BITS + 16 &&
                    bpf_map_update_elem(m->fd[MAP_PORT_EXACT], &c->ports[i].key, &c->ports[i].value, BPF_ANY) < 0)
                        return -errno;
        }
        for (size_t i = 0; i < c->n_portsets; i++)
                if (bpf_map_update_elem(m->fd[MAP_PORTSETS], &c->portsets[i].key, &c->portsets[i].value, BPF_ANY) < 0)
                        return -errno;
        /* Address entries last: they refer to the port sets. */
        for (size_t i = 0; i < c->n_addrs; i++)
                if (bpf_map_update_elem(m->fd[MAP_ADDRS], &c->addrs[i].key, &c->addrs[i].value, BPF_ANY) < 0)
                        return -errno;
        return 0;
}

int maps_set_cgroup(Maps *m, uint64_t cgroup_id, uint32_t policy, uint32_t flags) {
        struct cgp_cgroup v = { .policy = policy, .flags = flags };

        assert(m);

        if (bpf_map_update_elem(m->fd[MAP_CGROUPS], &cgroup_id, &v, BPF_ANY) < 0)
                return -errno;
        return 0;
}

int maps_delete_cgroup(Maps *m, uint64_t cgroup_id) {
        assert(m);

        if (bpf_map_delete_elem(m->fd[MAP_CGROUPS], &cgroup_id) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* All keys of a trie whose policy (at offset 4 of every key) satisfies pred. */
static int trie_delete_if(int fd, size_t key_size, bool (*pred)(uint32_t policy, void *userdata), void *userdata,
                          unsigned *ret_deleted) {
        _cleanup_free_ uint8_t *keys = NULL;
        size_t n = 0, allocated = 0;
        uint8_t key[64], next[64];
        void *prev = NULL;
        unsigned deleted = 0;

        while (bpf_map_get_next_key(fd, prev, next) == 0) {
                uint32_t policy;

                memcpy(&policy, next + 4, sizeof policy);
                if (pred(policy, userdata)) {
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

        for (size_t i = 0; i < n; i++) {
                if (bpf_map_delete_elem(fd, keys + i * key_size) < 0) {
                        if (errno != ENOENT)
                                return -errno;
                } else
                        deleted++;
        }
        if (ret_deleted)
                *ret_deleted += deleted;
        return 0;
}

static bool policy_is(uint32_t policy, void *userdata) {
        return policy == *(uint32_t *) userdata;
}

/* The entries of every policy that pred selects, from all four maps: address entries first
 * (they refer to the port sets), the exact port entries before the trie's. */
static int policies_delete_if(Maps *m, bool (*pred)(uint32_t policy, void *userdata), void *userdata,
                              unsigned *ret_deleted) {
        static const struct {
                MapIndex map;
                size_t key_size;
        } order[] = {
                { MAP_ADDRS,      sizeof(struct cgp_addr_key) },
                { MAP_PORTSETS,   sizeof(struct cgp_portset_key) },
                { MAP_PORT_EXACT, sizeof(struct cgp_port_key) },
                { MAP_PORTS,      sizeof(struct cgp_port_key) },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                r = trie_delete_if(m->fd[order[i].map], order[i].key_size, pred, userdata, ret_deleted);
                if (r < 0)
                        return r;
        }
        return 0;
}

int maps_delete_policy(Maps *m, uint32_t policy) {
        int r;

        assert(m);

        r = policies_delete_if(m, policy_is, &policy, NULL);
        if (r < 0)
                return r;
        return zero_counters(m, policy);
}

static bool policy_unused(uint32_t policy, void *userdata) {
        const uint8_t *used = userdata;

        return policy >= CGP_MAX_POLICIES || !used[policy];
}

int maps_delete_orphans(Maps *m, unsigned *ret_deleted) {
        _cleanup_free_ uint8_t *used = NULL;
        int r;

        assert(m);

        r = used_policies(m, &used);
        if (r < 0)
                return r;
        return policies_delete_if(m, policy_unused, used, ret_deleted);
}

static int prog_is_ours(Maps *m, __u32 prog_id) {
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
                r = prog_is_ours(m, ids[i]);
                if (r != 0)
                        return r;
        }
        return 0;
}

int check_pinned(unsigned dirs_mask) {
        FOREACH_CGP_HOOK(h) {
                _cleanup_free_ char *pin = NULL;
                _cleanup_close_ int pfd = -EBADF;

                if (!cgp_hook_needed(h, dirs_mask))
                        continue;
                if (asprintf(&pin, "%s/%s", pin_dir(), h->name) < 0)
                        return log_oom();
                pfd = bpf_obj_get(pin);
                if (pfd < 0)
                        return log_error_errno(errno, "Program %s is not pinned: %m", pin);
        }
        return 0;
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
                _cleanup_free_ char *pin = NULL;
                _cleanup_close_ int pfd = -EBADF;

                if (!cgp_hook_needed(h, dirs_mask))
                        continue;

                r = hook_is_effective(m, cgfd, h);
                if (r < 0)
                        return log_error_errno(r, "Cannot query the %s programs of cgroup %s: %m", h->name, fs_path);
                if (r > 0)
                        continue;

                if (asprintf(&pin, "%s/%s", pin_dir(), h->name) < 0)
                        return log_oom();
                pfd = bpf_obj_get(pin);
                if (pfd < 0)
                        return log_error_errno(errno, "Program %s is not pinned, cannot attach it to %s: %m", pin, fs_path);
                if (bpf_prog_attach(pfd, cgfd, h->attach_type, BPF_F_ALLOW_MULTI) < 0)
                        return log_error_errno(errno, "Cannot attach %s to cgroup %s: %m", pin, fs_path);
                log_notice("Attached %s to %s: it was not in force there (systemd 252 does not re-attach BPFProgram= after a restart, systemd#26845).",
                           h->name, fs_path);
                attached++;
        }
        return attached;
}
